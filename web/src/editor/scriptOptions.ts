// How the editor's TypeScript service reads a worker script. A script is the body of an
// async function (docs/script-api.md), which TypeScript sees as a plain script file:
// its top-level `await` and `return` would be errors there, so those diagnostics are
// ignored; every other syntax error is shown. No DOM library: scripts have no
// `document` or `fetch`, and script-api.d.ts declares the timers, console and
// AbortController they do have. Kept free of Monaco imports so unit tests can use it.

export const IGNORED_DIAGNOSTICS = [
  1108, // A 'return' statement can only be used within a function body.
  1308, // 'await' expressions are only allowed within async functions and at the top levels of modules.
  1375, // 'await' expressions are only allowed at the top level of a file when that file is a module …
  1378, // Top-level 'await' expressions are only allowed when the 'module' option is set to …
  1431, // 'for await' loops are only allowed at the top level of a file when that file is a module …
  1432, // Top-level 'for await' loops are only allowed when the 'module' option is set to …
];

// Numeric values of TypeScript's enums (the same in Monaco's bundled TypeScript).
export const SCRIPT_COMPILER_OPTIONS = {
  target: 99, // ESNext
  module: 99, // ESNext
  moduleDetection: 1, // Legacy: a file without import/export is a script (globals are shared)
  lib: ['lib.esnext.d.ts'],
  allowJs: true,
  allowNonTsExtensions: true,
  checkJs: false,
  strict: false,
  noLib: false,
  types: [] as string[], // no @types packages: only the script API
};
