// The AMI Editor's workflows (the user guide, docs/editor.md) in headless Chromium against
// a real amid with the template pack and the paper exchange. One node and one page for
// the whole file: the steps build on each other as a user's session does (sign in,
// create, edit, run, watch, stop, delete), and each checks the node's records through
// the REST API, not only what the page shows. After every step the browser console must
// be free of errors, except the resource errors of the deliberate 401 and 412 replies.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { clearShots, launchBrowser, monacoText, openPage, screenshot, startAmid, step, textOf, waitUntil } from './harness.mjs';

const seconds = (text) => {
  const m = /^(?:(\d+)m )?(\d+)s$/.exec(text);
  return m ? Number(m[1] ?? 0) * 60 + Number(m[2]) : NaN;
};
const count = (text) => Number(String(text).replace(/,/g, ''));

describe('AMI Editor in Chromium against amid', () => {
  let node;
  let browser;
  let page;
  let failed = false;
  const sids = {};
  const frames = []; // runtime events the page's WebSocket received

  // A step of the session: skipped once an earlier one failed (they build on each other),
  // screenshot on the way out, console checked.
  let steps = 0;
  const it = (name, fn, timeout = 45_000) => {
    const shot = `editor-${String(++steps).padStart(2, '0')}-${name.split(':')[0].replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
    return test(name, { timeout }, async (t) => {
      if (failed) return t.skip('an earlier step failed');
      try {
        await step(page, shot, fn);
        page.assertCleanConsole();
      } catch (e) {
        failed = true;
        throw e;
      }
    });
  };

  const card = (sid) => page.locator(`[data-testid=worker-card][data-sid="${sid}"]`);
  async function open(sid) {
    await card(sid).waitFor({ timeout: 10_000 });
    await card(sid).click();
    await page.locator(`[data-testid=editor-panel][data-sid="${sid}"]`).waitFor();
    await page.locator('[data-testid=editor-monaco][data-ready=true]').waitFor({ timeout: 30_000 });
  }
  async function typeAtEnd(text) {
    await page.locator('[data-testid=editor-monaco] .view-lines').click();
    await page.keyboard.press('Control+End');
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    await page.keyboard.type(text);
  }
  const toast = (re) => page.getByTestId('toast').filter({ hasText: re }).first().waitFor();

  before(async () => {
    clearShots(['editor-', 'docs-']);
    node = await startAmid({ name: 'editor' });
    browser = await launchBrowser();
    page = await openPage(browser);
    page.on('websocket', (ws) =>
      ws.on('framereceived', (f) => {
        try {
          const m = JSON.parse(String(f.payload));
          if (m.value?.channel === 'runtime') frames.push(m.value.raw);
        } catch {
          /* not JSON */
        }
      }),
    );
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await node?.stop({ keep: failed });
  });

  it('sign in: a wrong token says so, the right one opens the list with live updates', async () => {
    await page.goto(node.url);
    await page.allowing([/status of 401/], async () => {
      await page.getByTestId('signin-token').fill('not-the-admin-token');
      await page.getByTestId('signin-submit').click();
      const error = page.getByTestId('signin-error');
      await error.waitFor();
      assert.match(await error.textContent(), /Wrong admin token/);
    });
    assert.equal(await page.getByTestId('worker-count').count(), 0, 'the list stays closed');
    await page.getByTestId('signin-token').fill(node.token);
    await page.getByTestId('signin-submit').click();
    await waitUntil(async () => /^0 workers$/.test(await textOf(page, 'worker-count')), { what: 'the empty list' });
    // The WebSocket (POST /api/v1/session, /ws?session=…, runtime channel) is up.
    await page.locator('[data-testid=main][data-live=open]').waitFor({ timeout: 10_000 });
    assert.equal(await page.getByTestId('banner-live-lost').count(), 0);
  });

  it('wizard: create from the grid-trading template', async () => {
    await page.getByTestId('header-create').click();
    await page.getByTestId('wizard-template-grid-trading').click();
    await page.getByTestId('wizard-next').click();
    // Step 2 starts from the template's defaults.
    for (const id of ['wizard-mode-leader', 'wizard-priority-critical', 'wizard-worker-mode-loop', 'wizard-scope-network'])
      assert.ok(await page.getByTestId(id).isChecked(), `${id} is the default`);
    await page.getByTestId('wizard-account').fill('g-bhts');
    await page.getByTestId('wizard-note').fill('e2e grid trading');
    await page.getByTestId('wizard-next').click();
    const summary = await page.getByTestId('wizard-summary').textContent();
    for (const line of ['Mode: leader on auto-elected node', 'Priority: critical (50 errors, 1ms delay)', 'Worker Mode: loop (engine managed)', 'Account: g-bhts'])
      assert.ok(summary.includes(line), `summary has "${line}": ${summary}`);
    await page.getByTestId('wizard-create').click();
    await page.getByTestId('wizard').waitFor({ state: 'detached' });
    const sid = await page.locator('[data-testid=editor-panel][data-sid]').getAttribute('data-sid');
    sids.grid = sid;
    await card(sid).waitFor();

    const w = await node.worker(sid);
    const template = await node.must('GET', '/templates/grid-trading');
    assert.deepEqual(
      { executionMode: w.record.executionMode, priority: w.record.priority, mode: w.record.mode, scope: w.record.scope, accountId: w.record.accountId, note: w.record.note, active: w.record.active },
      { executionMode: 'leader', priority: 'critical', mode: 'loop', scope: 'network', accountId: 'g-bhts', note: 'e2e grid trading', active: false },
    );
    assert.equal(w.record.script, template.script);
  });

  it('wizard: create from the health-check template with a changed priority', async () => {
    await page.getByTestId('header-create').click();
    await page.getByTestId('wizard-template-health-check').click();
    await page.getByTestId('wizard-next').click();
    assert.ok(await page.getByTestId('wizard-mode-parallel').isChecked());
    assert.ok(await page.getByTestId('wizard-priority-low').isChecked());
    await page.getByTestId('wizard-priority-high').check();
    await page.getByTestId('wizard-note').fill('e2e health');
    await page.getByTestId('wizard-next').click();
    assert.match(await page.getByTestId('wizard-summary').textContent(), /Priority: high \(20 errors, 10ms delay\)/);
    await page.getByTestId('wizard-create').click();
    await page.getByTestId('wizard').waitFor({ state: 'detached' });
    const sid = await page.locator('[data-testid=editor-panel][data-sid]').getAttribute('data-sid');
    assert.notEqual(sid, sids.grid);
    sids.health = sid;
    await card(sid).waitFor();
    await waitUntil(async () => /^2 workers$/.test(await textOf(page, 'worker-count')), { what: '2 workers listed' });

    const w = await node.worker(sid);
    assert.equal(w.record.executionMode, 'parallel');
    assert.equal(w.record.priority, 'high');
    assert.equal(w.record.mode, 'loop');
    assert.equal(w.record.note, 'e2e health');
    assert.match(w.record.script, /health/i);
  });

  it('Monaco: type, save with Ctrl+S, and the saved version is what the node holds', async () => {
    const original = "logger.info('edit me');\nawait Stels.sleep(100);";
    const w = await node.createWorker({ note: 'e2e edit', script: original });
    sids.edit = w.sid;
    await open(w.sid); // in the list through the WebSocket: no reload
    await waitUntil(async () => (await monacoText(page)).includes("logger.info('edit me');"), { what: 'the script in Monaco' });
    await typeAtEnd('// typed in the browser');
    await waitUntil(async () => /UNSAVED CHANGES \(SCRIPT\)/.test(await textOf(page, 'editor-unsaved')), { what: 'the unsaved bar' });
    await page.keyboard.press('Control+s');
    await toast(/^Saved/);
    await page.getByTestId('editor-unsaved').waitFor({ state: 'detached' });

    const saved = await node.worker(w.sid);
    assert.equal(saved.record.script, original + '\n// typed in the browser');
    assert.notEqual(saved.versionstamp, w.versionstamp);
    // A reload shows the saved script (the token survives it in sessionStorage).
    await page.reload();
    await open(w.sid);
    await waitUntil(async () => (await monacoText(page)).endsWith('// typed in the browser'), { what: 'the saved script after reload' });
  });

  it('conflict: the record changed meanwhile, the dialog shows both versions, keep mine', async () => {
    const sid = sids.edit;
    await typeAtEnd('// mine');
    const current = await node.worker(sid);
    // Someone else saves the same field first, through the REST API.
    await node.must('PATCH', `/workers/${sid}`, {
      body: { script: current.record.script + '\n// theirs' },
      headers: { 'If-Match': `"${current.versionstamp}"` },
    });
    await page.getByTestId('editor-changed-underneath').waitFor({ timeout: 10_000 }); // told live
    await page.allowing([/status of 412/], async () => {
      await page.keyboard.press('Control+s');
      await page.getByTestId('conflict-dialog').waitFor();
      assert.match(await page.getByTestId('conflict-dialog').textContent(), /Both changed: script/);
      const diff = page.getByTestId('conflict-diff');
      await waitUntil(async () => {
        const text = ((await diff.textContent()) ?? '').replace(/\u00a0/g, ' ');
        return text.includes('// theirs') && text.includes('// mine');
      }, { what: 'both versions in the diff' });
      await screenshot(page, 'editor-05-conflict-dialog');
      await page.getByTestId('conflict-keep-mine').click();
      await page.getByTestId('conflict-dialog').waitFor({ state: 'detached' });
      await toast(/Saved your version/);
    });
    const after = await node.worker(sid);
    assert.ok(after.record.script.endsWith('// typed in the browser\n// mine'), after.record.script);
    assert.ok(!after.record.script.includes('// theirs'));
    await page.getByTestId('editor-unsaved').waitFor({ state: 'detached' });
  });

  it('start: the worker runs and its logs stream new lines', async () => {
    const w = await node.createWorker({ note: 'e2e logger', script: "logger.info('e2e tick ' + Date.now());\nawait Stels.sleep(400);" });
    sids.logger = w.sid;
    await open(w.sid);
    await page.getByTestId('editor-start').click();
    await waitUntil(async () => (await textOf(page, 'editor-status')) === 'ACTIVE' && (await textOf(page, 'editor-run-status')) === 'running', { what: 'ACTIVE and running' });
    await page.locator(`[data-testid=worker-card][data-sid="${w.sid}"][data-status=running]`).waitFor({ timeout: 10_000 });
    assert.equal((await node.worker(w.sid)).record.active, true);

    await page.locator('[data-testid=logs-panel][data-state=live]').waitFor({ timeout: 10_000 });
    const ticks = page.getByTestId('log-line').filter({ hasText: 'e2e tick' });
    await ticks.first().waitFor({ timeout: 10_000 });
    const seen = await ticks.count();
    const last = await ticks.last().textContent();
    // A new line arrives on the open stream (no reload, no polling).
    await waitUntil(async () => (await ticks.count()) > seen && (await ticks.last().textContent()) !== last, { what: 'a new log line' });
    assert.equal(await ticks.last().getAttribute('data-level'), 'info');
      });

  it('leader card: a leader-mode worker shows its node and term, and counts down', async () => {
    const w = await node.createWorker({ note: 'e2e leader', executionMode: 'leader', script: "logger.info('leading');\nawait Stels.sleep(500);" });
    sids.leader = w.sid;
    await open(w.sid);
    assert.equal(await card(w.sid).getByTestId('worker-card-crown').count(), 1, 'the 👑 on its card');
    await page.getByTestId('editor-start').click();
    await page.locator('[data-testid=leader-card][data-state=active]').waitFor({ timeout: 15_000 });
    assert.equal(await textOf(page, 'leader-node'), 's-0001');
    const term = Number(await textOf(page, 'leader-term'));
    assert.ok(Number.isInteger(term) && term >= 1, `term ${term}`);
    assert.match(await textOf(page, 'leader-status'), /Leader Active/);
    const first = seconds(await textOf(page, 'leader-expires'));
    assert.ok(first > 0, `expires in ${first}s`);
    await waitUntil(async () => seconds(await textOf(page, 'leader-expires')) < first, { what: 'the countdown to tick' });
    await page.getByTestId('log-line').filter({ hasText: 'leading' }).nth(2).waitFor({ timeout: 10_000 });
    // The panel's per-worker stats follow (re-read when it starts, then every 5 s).
    await waitUntil(async () => count(await textOf(page, 'editor-stats-executions')) > 0, { what: 'the panel to count executions' });
    await screenshot(page, 'docs-editor-worker'); // docs/img/editor-worker.png
    const leader = await node.must('GET', `/workers/${w.sid}/leader`);
    assert.equal(leader.leader, 's-0001');
    assert.equal(leader.term, term);
  });

  it('stats panel: the numbers move while workers run', async () => {
    await page.getByTestId('header-stats').click();
    await page.getByTestId('stats-panel').waitFor();
    await waitUntil(async () => /^2\/\d+$/.test(await textOf(page, 'stats-running')), { what: 'two running workers' });
    const before = count(await textOf(page, 'stats-executions'));
    assert.ok(before > 0);
    // Auto-refresh (every 5 s) brings higher totals without a click.
    await waitUntil(async () => count(await textOf(page, 'stats-executions')) > before, { timeout: 15_000, what: 'executions to grow' });
    const row = page.locator(`[data-testid=stats-worker][data-sid="${sids.logger}"]`);
    assert.ok(count(await row.getByTestId('stats-worker-executions').textContent()) > 0);
    await screenshot(page, 'editor-08-stats-panel');
    await page.getByTestId('stats-close').click();
  });

  it('stop: the worker stops and the node says so', async () => {
    await open(sids.logger);
    await page.getByTestId('editor-stop').click();
    await waitUntil(async () => (await textOf(page, 'editor-status')) === 'INACTIVE', { what: 'INACTIVE' });
    await waitUntil(async () => (await node.worker(sids.logger)).running === false, { what: 'the node to stop it' });
    await waitUntil(async () => (await textOf(page, 'editor-run-status')) !== 'running', { what: 'the panel to show it stopped' });
    assert.equal((await node.worker(sids.logger)).record.active, false);
  });

  it('stop all: confirmation, then its summary; every record is inactive', async () => {
    await node.must('POST', `/workers/${sids.edit}/start`);
    const all = await node.must('GET', '/workers');
    const active = all.filter((w) => w.record?.active).length;
    assert.ok(active >= 2, `${active} active workers`);
    await page.getByTestId('header-stop-all').click();
    await page.getByTestId('stop-all-dialog').waitFor();
    await page.getByTestId('stop-all-confirm').click();
    await page.getByTestId('stop-all-summary').waitFor();
    // total: every record; stopped: those now inactive, including the already stopped.
    assert.equal(count(await textOf(page, 'stop-all-total')), all.length);
    assert.equal(count(await textOf(page, 'stop-all-stopped')), all.length);
    assert.equal(count(await textOf(page, 'stop-all-failed')), 0);
    assert.equal(await textOf(page, 'stop-all-message'), 'All workers stopped');
    await screenshot(page, 'editor-10-stop-all-summary');
    await page.getByTestId('stop-all-close').click();
    const workers = await node.must('GET', '/workers');
    assert.deepEqual(workers.filter((w) => w.record?.active).map((w) => w.sid), []);
    await waitUntil(async () => (await page.locator('[data-testid=worker-card][data-active=true]').count()) === 0, { what: 'no ACTIVE card' });
  });

  it('delete: asks first (Cancel keeps it), then the worker is gone from the page and the node', async () => {
    const sid = sids.health;
    await card(sid).hover();
    await card(sid).getByTestId('worker-card-delete').click();
    await page.getByTestId('delete-dialog').waitFor();
    assert.equal(await textOf(page, 'delete-sid'), sid);
    await page.getByTestId('delete-cancel').click();
    await page.getByTestId('delete-dialog').waitFor({ state: 'detached' });
    assert.equal((await node.rest('GET', `/workers/${sid}`)).status, 200, 'Cancel deletes nothing');

    await card(sid).hover();
    await card(sid).getByTestId('worker-card-delete').click();
    await page.getByTestId('delete-confirm').click();
    await page.getByTestId('delete-dialog').waitFor({ state: 'detached' });
    await card(sid).waitFor({ state: 'detached' });
    assert.equal((await node.rest('GET', `/workers/${sid}`)).status, 404);
  });

  it('live update: a worker started through the REST API changes its card without a reload', async () => {
    await page.evaluate(() => (window.__sameDocument = true));
    const w = await node.createWorker({ note: 'e2e live', script: "logger.info('live');\nawait Stels.sleep(300);" });
    await card(w.sid).waitFor({ timeout: 8_000 });
    assert.equal(await card(w.sid).getAttribute('data-active'), 'false');
    await node.must('POST', `/workers/${w.sid}/start`);
    // Well inside the 10 s list poll (which runs only without the WebSocket anyway).
    await page.locator(`[data-testid=worker-card][data-sid="${w.sid}"][data-active=true][data-status=running]`).waitFor({ timeout: 8_000 });
    assert.ok(frames.some((f) => f.event === 'started' && f.sid === w.sid), 'the runtime channel said "started"');
    assert.equal(await page.locator('[data-testid=main]').getAttribute('data-live'), 'open');
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload');
    await screenshot(page, 'docs-editor-list'); // docs/img/editor-list.png
    await node.must('POST', `/workers/${w.sid}/stop`);
    await page.locator(`[data-testid=worker-card][data-sid="${w.sid}"][data-active=false]`).waitFor({ timeout: 8_000 });
  });
});
