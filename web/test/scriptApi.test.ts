// The editor's declarations of the script API (src/script-api.d.ts) against its
// documentation (docs/script-api.md) and against real scripts (the template pack):
//  1. every name in the doc's headings and bullets is declared;
//  2. every template compiles with TypeScript (the version Monaco bundles) and the
//     declarations, type-checked, with only the diagnostics the editor ignores because a
//     script is an async function body (top-level await / return).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { IGNORED_DIAGNOSTICS, SCRIPT_COMPILER_OPTIONS } from '../src/editor/scriptOptions';

const root = join(__dirname, '..', '..');
const doc = readFileSync(join(root, 'docs', 'script-api.md'), 'utf8');
const dts = readFileSync(join(__dirname, '..', 'src', 'script-api.d.ts'), 'utf8');

// The d.ts without comments: a name only in a comment does not count.
const code = dts.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
const declared = new Set(code.match(/[A-Za-z_$][\w$]*/g));
// JavaScript's own globals (JSON, Date, Array.fromAsync, TypeError, …) come from
// TypeScript's ES library, which the editor loads beside the script API.
const tsLib = join(__dirname, '..', 'node_modules', 'typescript', 'lib');
const builtins = new Set(
  readdirSync(tsLib)
    .filter((f) => /^lib\.es[\w.]*\.d\.ts$/.test(f))
    .flatMap((f) => readFileSync(join(tsLib, f), 'utf8').match(/[A-Za-z_$][\w$]*/g) ?? []),
);
// Words the doc uses for things a script makes itself, not API names: `kv` (Stels.net
// or Stels.local), `exchange` (new Stels.runtime.cex.<id>()), the parts of generated
// clientOrderIds (`seq`) and of an example id (`level`).
const PLACEHOLDERS = new Set(['kv', 'exchange', 'seq', 'level']);

// Headings, and bullets with their continuation lines.
function documentedSpans(markdown: string): string[] {
  const text = markdown.replace(/```[\s\S]*?```/g, '');
  const blocks: string[] = [];
  let current: string | null = null;
  for (const line of text.split('\n')) {
    if (/^#{1,6} /.test(line)) {
      if (current !== null) blocks.push(current);
      blocks.push(line);
      current = null;
    } else if (/^\s*- /.test(line)) {
      if (current !== null) blocks.push(current);
      current = line;
    } else if (current !== null && /^\s+\S/.test(line)) {
      current += ' ' + line.trim();
    } else {
      if (current !== null) blocks.push(current);
      current = null;
    }
  }
  if (current !== null) blocks.push(current);
  return blocks.flatMap((b) => [...b.matchAll(/`([^`]+)`/g)].map((m) => m[1]));
}

// Spans that are not script API: config keys, file names, values, message texts.
const NOT_API = [/^limits\./, /^lease\./, /^accounts:/, /^exchanges:/, /\.log/, /^</, /^\\/, /^"/, /^'/, /^ami-/, /^\d/, /^\[/, /^(true|false|null|self|up|suspect|down|unknown|local)$/];

// "logger.debug|info" → logger.debug, logger.info; "fetchTicker(s)" → fetchTicker,
// fetchTickers; "fetchOpen/ClosedOrders" → fetchOpenOrders, fetchClosedOrders;
// "createLimit/MarketBuy/SellOrder" → the four; args and "new"/"await" dropped.
export function expandNames(span: string): string[] {
  let s = span.replace(/^(await|new)\s+/, '').replace(/\.<id>$/, '');
  if (/^[\w$.]+\(s\)$/.test(s)) return [s.slice(0, -3), s.slice(0, -3) + 's'];
  s = s.replace(/\(.*$/, '');
  if (s.includes('|')) {
    const [first, ...rest] = s.split('|');
    const dot = first.lastIndexOf('.');
    const prefix = dot >= 0 ? first.slice(0, dot + 1) : '';
    return [first, ...rest.map((r) => prefix + r)];
  }
  if (/^[\w]+(\/[\w]+)+$/.test(s)) {
    const words = s.replace(/\//g, ' / ').split(/(?=[A-Z])| /).filter(Boolean);
    let groups: string[][] = [];
    for (let i = 0; i < words.length; i++) {
      if (words[i] === '/') {
        groups[groups.length - 1].push(words[++i]);
      } else groups.push([words[i]]);
    }
    return groups.reduce<string[]>((acc, g) => acc.flatMap((a) => g.map((w) => a + w)), ['']);
  }
  return [s];
}

function documentedNames(): string[] {
  const names = new Set<string>();
  for (const span of documentedSpans(doc)) {
    if (NOT_API.some((re) => re.test(span))) continue;
    for (const name of expandNames(span)) {
      for (const part of name.split('.')) if (/^[A-Za-z_$][\w$]*$/.test(part)) names.add(part);
    }
    // Property names of documented objects: {rss, heapTotal, …}, {prefix}, {limit, reverse}
    for (const obj of span.matchAll(/\{([^{}]*)\}/g))
      for (const m of obj[1].matchAll(/(?:^|,)\s*([A-Za-z_$][\w$]*)/g)) names.add(m[1]);
  }
  return [...names];
}

describe('script-api.d.ts covers docs/script-api.md', () => {
  it('the expander reads the doc shorthand', () => {
    expect(expandNames('createLimit/MarketBuy/SellOrder')).toEqual(['createLimitBuyOrder', 'createLimitSellOrder', 'createMarketBuyOrder', 'createMarketSellOrder']);
    expect(expandNames('fetchOpen/ClosedOrders')).toEqual(['fetchOpenOrders', 'fetchClosedOrders']);
    expect(expandNames('fetchOrder(s)')).toEqual(['fetchOrder', 'fetchOrders']);
    expect(expandNames('logger.debug|info|warn|error(message, ...data)')).toEqual(['logger.debug', 'logger.info', 'logger.warn', 'logger.error']);
    expect(expandNames('Stels.runtime.cex.<id>')).toEqual(['Stels.runtime.cex']);
  });

  it('declares every documented name', () => {
    const names = documentedNames();
    // Sanity: the doc really was read (these are in its bullets and headings).
    for (const must of ['logger', 'shouldStop', 'signal', 'Stels', 'webfix', 'getMany', 'atomic', 'createMarketSellOrder', 'fetchClosedOrders', 'hybridTimestamp', 'memoryUsage', 'timeout', 'PermissionDenied'])
      expect(names).toContain(must);
    const missing = names.filter((n) => !declared.has(n) && !builtins.has(n) && !PLACEHOLDERS.has(n));
    expect(missing).toEqual([]);
  });
});

describe('the templates type-check against script-api.d.ts', () => {
  const templatesDir = join(root, 'templates', 'scripts');
  const templates = readdirSync(templatesDir).filter((f) => f.endsWith('.js'));

  function diagnostics(fileName: string, source: string): ts.Diagnostic[] {
    const files = new Map([
      ['/script-api.d.ts', dts],
      [fileName, source],
    ]);
    const options: ts.CompilerOptions = { ...SCRIPT_COMPILER_OPTIONS, checkJs: true, noEmit: true } as ts.CompilerOptions;
    const host = ts.createCompilerHost(options);
    const readFile = host.readFile.bind(host);
    host.readFile = (f) => files.get(f) ?? readFile(f);
    host.fileExists = (f) => files.has(f) || ts.sys.fileExists(f);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (f, lang) => (files.has(f) ? ts.createSourceFile(f, files.get(f)!, lang) : getSourceFile(f, lang));
    const program = ts.createProgram(['/script-api.d.ts', fileName], options, host);
    return [...program.getSyntacticDiagnostics(), ...program.getSemanticDiagnostics(), ...program.getGlobalDiagnostics()].filter(
      (d) => !IGNORED_DIAGNOSTICS.includes(d.code),
    );
  }
  const text = (ds: ts.Diagnostic[]) =>
    ds.map((d) => `${d.file?.fileName ?? ''}:${d.start ?? ''} TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);

  it('finds the eight templates', () => expect(templates.length).toBe(8));
  for (const t of templates) {
    it(t, () => {
      expect(text(diagnostics(`/${t}`, readFileSync(join(templatesDir, t), 'utf8')))).toEqual([]);
    });
  }
  it('and catches a misuse, so the check can fail', () => {
    const d = text(diagnostics('/bad.js', "await Stels.slep(10);\nconst x = Stels.runtime.cex.bybit();\nx.fetchTiker('BTC/USDT');\nreturn;"));
    expect(d.join('\n')).toMatch(/slep/);
    expect(d.join('\n')).toMatch(/fetchTiker/);
    expect(d.some((l) => /TS1108/.test(l))).toBe(false); // top-level return is fine
  });
  it('a real syntax error is still reported', () => {
    expect(text(diagnostics('/broken.js', 'logger.info("x"\n}')).length).toBeGreaterThan(0);
  });
});
