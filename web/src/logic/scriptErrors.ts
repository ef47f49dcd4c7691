// The node checks a script's syntax on every write and refuses it with a message naming
// the field and the line (runtime/js/engine.cpp CheckScriptSyntax):
//   "script: SyntaxError: Unexpected token '}' (line 3)"
// (also as "changes.script: …" / "overrides.script: …"). The editor turns it into a
// marker at that line.

export interface ScriptProblem {
  line: number; // 1-based; 1 when the message names none
  column: number | null;
  message: string; // "SyntaxError: Unexpected token '}'"
}

export function parseScriptError(message: string): ScriptProblem | null {
  const m = /(?:^|[.\s])script: (.*)$/s.exec(message);
  if (!m) return null;
  let text = m[1].trim();
  let line = 1;
  let column: number | null = null;
  const where = /\s*\(line (\d+)(?:, column (\d+))?\)\s*$/.exec(text);
  if (where) {
    line = Math.max(1, parseInt(where[1], 10));
    if (where[2]) column = parseInt(where[2], 10);
    text = text.slice(0, where.index);
  }
  return { line, column, message: text };
}
