// The browser tests' harness (docs/editor.md "Tests"): a real amid started from the build
// tree with a temporary data dir, the template pack and the paper exchange; Debian's
// chromium driven by playwright-core (never a downloaded browser); waiting on conditions
// with deadlines; screenshots and console checks per page.
//
// Paths come from the environment (web/e2e.cmake sets them for ctest) with the default
// build tree as fallback, so `node --test e2e/*.e2e.mjs` in web/ works by hand too:
//   AMI_AMID       amid binary              (build/apps/amid)
//   AMI_PLUGINS    plugin directory         (build/plugins: paper.so, templates.so)
//   AMI_WEB_ROOT   the built editor         (build/web/dist)
//   AMI_E2E_OUT    screenshots and logs     (build/web-e2e)
//   AMI_CHROMIUM   the browser              (/usr/bin/chromium)
//
// Every amid started here is killed (SIGKILL) if the test process ends or is signalled
// before it was stopped, so a failing or timed-out run leaves no node behind.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const build = process.env.AMI_BUILD_DIR ?? join(repo, 'build');
export const paths = {
  amid: process.env.AMI_AMID ?? join(build, 'apps', 'amid'),
  plugins: process.env.AMI_PLUGINS ?? join(build, 'plugins'),
  webRoot: process.env.AMI_WEB_ROOT ?? join(build, 'web', 'dist'),
  out: process.env.AMI_E2E_OUT ?? join(build, 'web-e2e'),
  chromium: process.env.AMI_CHROMIUM ?? '/usr/bin/chromium',
};
mkdirSync(paths.out, { recursive: true });

// ---- waiting -------------------------------------------------------------------------

// Polls `probe` (sync or async) every `every` ms until it returns something truthy, and
// returns that; past `timeout` ms it throws, naming `what` and the last value or error.
export async function waitUntil(probe, { timeout = 15_000, every = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const seen = last instanceof Error ? `error: ${last.message}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (${seen})`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

// ---- amid ------------------------------------------------------------------------------

const running = new Set();
function killAll() {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  running.clear();
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}

export class AmidNode {
  constructor(child, dir, logPath, port, token) {
    this.child = child;
    this.dir = dir;
    this.logPath = logPath;
    this.port = port;
    this.token = token;
    this.url = `http://127.0.0.1:${port}/`;
  }

  log() {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }

  // One REST call with the admin token: {status, body (parsed JSON or text), headers}.
  async rest(method, path, { body, headers = {}, token = this.token } = {}) {
    const init = { method, headers: { Authorization: `Bearer ${token}`, ...headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    const res = await fetch(`http://127.0.0.1:${this.port}/api/v1${path}`, { ...init, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  // Like rest(), but a status other than `expect` throws with the reply in the message.
  async must(method, path, opts = {}, expect = [200, 201]) {
    const r = await this.rest(method, path, opts);
    if (!expect.includes(r.status)) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  worker = (sid) => this.must('GET', `/workers/${sid}`);

  // A worker made through the REST API (not the UI), inactive unless `start`.
  async createWorker(fields, { start = false } = {}) {
    const w = await this.must('POST', '/workers', { body: fields });
    if (start) await this.must('POST', `/workers/${w.sid}/start`);
    return w;
  }

  // SIGTERM, then SIGKILL if it has not exited within `grace` ms. Removes the data dir
  // unless `keep` (a failed run keeps it for a look: its path is in the log).
  async stop({ grace = 10_000, keep = false } = {}) {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), grace);
      await exited;
      clearTimeout(timer);
    }
    running.delete(child);
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

// Starts amid with its own temporary data dir on a free port (the kernel's, read from
// the startup line "http gateway listening on port N"); waits for the port and the
// generated admin token, at most `timeout` ms. `yaml` adds config sections.
export async function startAmid({ name = 'e2e', yaml = '', timeout = 30_000 } = {}) {
  for (const [what, p] of [['amid', paths.amid], ['plugins', join(paths.plugins, 'paper.so')], ['web editor', join(paths.webRoot, 'index.html')]])
    if (!existsSync(p)) throw new Error(`${what} is not built: ${p} is missing (build the amid, paper, templates and web targets)`);
  const dir = mkdtempSync(join(tmpdir(), `ami-${name}-`));
  const config = join(dir, 'node.yaml');
  writeFileSync(
    config,
    [
      'node: { id: s-0001, data_dir: ./data }',
      'http: { listen: "127.0.0.1:0", web_root: ' + JSON.stringify(paths.webRoot) + ' }',
      'limits: { stop_grace: 500ms }',
      'plugins: { dirs: [' + JSON.stringify(paths.plugins) + '] }',
      'exchanges:',
      '  bybit: { connector: paper }',
      'accounts:',
      '  g-bhts: { exchange: bybit }',
      yaml,
      '',
    ].join('\n'),
  );
  const logPath = join(paths.out, `${name}.amid.log`);
  const fd = openSync(logPath, 'w');
  const child = spawn(paths.amid, ['--config', config], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  running.add(child);
  const read = () => readFileSync(logPath, 'utf8');
  try {
    const port = await waitUntil(
      () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`amid exited (${child.exitCode ?? child.signalCode}):\n${read()}`);
        const m = /http gateway listening on port (\d+)/.exec(read());
        return m && Number(m[1]);
      },
      { timeout, what: 'amid to listen (its log: ' + logPath + ')' },
    );
    const tokenFile = join(dir, 'data', 'admin.token');
    const token = await waitUntil(() => existsSync(tokenFile) && readFileSync(tokenFile, 'utf8').trim(), { timeout, what: tokenFile });
    return new AmidNode(child, dir, logPath, port, token);
  } catch (e) {
    child.kill('SIGKILL');
    running.delete(child);
    throw e;
  }
}

// ---- chromium --------------------------------------------------------------------------

// The flags the machine needs (docs/editor.md "Tests"): no sandbox as root, no GPU, and no
// background connections to Google, which a closed network refuses. playwright gives each
// launch a fresh, empty profile directory.
export async function launchBrowser() {
  if (!existsSync(paths.chromium)) throw new Error(`${paths.chromium} is missing: scripts/bootstrap installs Debian's chromium`);
  return chromium.launch({
    executablePath: paths.chromium,
    headless: true,
    timeout: 60_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

// A page with a console watch: every console error and uncaught exception is recorded;
// `allowing(patterns, fn)` runs a step in which errors matching one of `patterns` are
// expected (the deliberate 401 and 412 replies), and `assertCleanConsole()` fails on
// any other error since the last check.
export async function openPage(browser, { width = 1440, height = 900, token } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1, colorScheme: 'dark' });
  if (token) await context.addInitScript((t) => sessionStorage.setItem('ami.adminToken', t), token);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const state = { allowed: [], unexpected: [], expected: [], replies: [] };
  const record = (text) => (state.allowed.some((re) => re.test(text)) ? state.expected : state.unexpected).push(text);
  page.on('console', (m) => {
    if (m.type() === 'error') record(`console.error: ${m.text()} (${m.location().url ?? ''})`);
  });
  page.on('pageerror', (e) => record(`uncaught: ${e.stack ?? e.message}`));
  page.on('crash', () => record('page crashed'));
  // The replies behind "Failed to load resource" lines, so a failure says what the node said.
  page.on('response', async (res) => {
    if (res.status() < 400) return;
    const body = await res.text().catch(() => '');
    state.replies.push(`${res.status()} ${res.request().method()} ${res.url()} ${body.slice(0, 300)}`);
  });
  page.allowing = async (patterns, fn) => {
    state.allowed = patterns;
    try {
      return await fn();
    } finally {
      state.allowed = [];
    }
  };
  page.consoleState = state;
  page.assertCleanConsole = () => {
    const bad = state.unexpected.splice(0);
    const replies = state.replies.splice(0);
    if (bad.length) throw new Error(`unexpected browser console errors:\n  ${bad.join('\n  ')}\nfailed replies:\n  ${replies.join('\n  ')}`);
  };
  return page;
}

// Removes the screenshots of an earlier run whose names start with one of `prefixes`
// (and their FAILED- copies), so the folder shows this run only.
export function clearShots(prefixes) {
  for (const f of readdirSync(paths.out))
    if (f.endsWith('.png') && prefixes.some((p) => f.startsWith(p) || f.startsWith(`FAILED-${p}`))) rmSync(join(paths.out, f));
}

export async function screenshot(page, name) {
  const path = join(paths.out, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

// Runs one test step; on failure saves `FAILED-<name>.png` beside the others first.
export async function step(page, name, fn) {
  try {
    await fn();
    await screenshot(page, name);
  } catch (e) {
    await screenshot(page, `FAILED-${name}`).catch(() => undefined);
    throw e;
  }
}

// Text of an element by data-testid, trimmed ('' when absent).
export async function textOf(page, testid) {
  const el = page.getByTestId(testid).first();
  return (await el.count()) ? ((await el.textContent()) ?? '').trim() : '';
}

// The script text Monaco shows (its view lines; Monaco renders spaces as U+00A0).
export async function monacoText(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('[data-testid=editor-monaco] .view-lines .view-line')]
      .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
      .map((l) => l.textContent.replace(/\u00a0/g, ' '))
      .join('\n'),
  );
}
