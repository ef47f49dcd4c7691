// The Monaco code editor for worker scripts, loaded on demand (the worker list must not
// wait for it). Everything comes from the monaco-editor npm package, bundled by Vite:
// the editor, its JavaScript tokenizer and TypeScript language service, and its two web
// workers (built by Vite from `?worker` imports, served from /assets; no CDN).
//
// The script API's declarations (../script-api.d.ts) are an extra library of the
// JavaScript service, so `Stels.`, `logger.`, `exchange.` complete and hover with their
// docs. The service's own syntax errors appear as the user types; the node's check of a
// saved script comes back as a marker at its line (setServerProblem).
import * as monaco from 'monaco-editor/esm/vs/editor/editor.api.js';
import { javascriptDefaults } from 'monaco-editor/esm/vs/languages/features/typescript/register.js';
import 'monaco-editor/esm/vs/languages/definitions/javascript/register.js';
import EditorWorker from 'monaco-editor/esm/vs/editor/editor.worker.js?worker';
import TsWorker from 'monaco-editor/esm/vs/language/typescript/ts.worker.js?worker';
import './monacoFeatures';
import scriptApi from '../script-api.d.ts?raw';
import type { ScriptProblem } from '../logic/scriptErrors';
import { IGNORED_DIAGNOSTICS, SCRIPT_COMPILER_OPTIONS } from './scriptOptions';

(self as unknown as { MonacoEnvironment: monaco.Environment }).MonacoEnvironment = {
  getWorker(_workerId: string, label: string) {
    return label === 'typescript' || label === 'javascript' ? new TsWorker() : new EditorWorker();
  },
};

javascriptDefaults.setCompilerOptions(SCRIPT_COMPILER_OPTIONS as never);
javascriptDefaults.setDiagnosticsOptions({ noSemanticValidation: false, noSyntaxValidation: false, diagnosticCodesToIgnore: IGNORED_DIAGNOSTICS });
javascriptDefaults.setEagerModelSync(true);
javascriptDefaults.addExtraLib(scriptApi, 'file:///ami/script-api.d.ts');
let exchangesLib: monaco.IDisposable | null = null;

// The node's exchanges (GET /api/v1/plugins), so `Stels.runtime.cex.` completes them.
export function setExchanges(ids: string[]): void {
  exchangesLib?.dispose();
  const members = ids.filter((id) => /^[A-Za-z_$][\w$]*$/.test(id)).map((id) => `  /** Exchange "${id}" of this node's config. */\n  ${id}: ExchangeConstructor;`);
  exchangesLib = javascriptDefaults.addExtraLib(`interface AmiCexRegistry {\n${members.join('\n')}\n}\n`, 'file:///ami/exchanges.d.ts');
}

const SERVER_OWNER = 'ami-node';
const models = new Map<string, monaco.editor.ITextModel>();

function modelFor(sid: string, text: string): monaco.editor.ITextModel {
  let model = models.get(sid);
  if (!model || model.isDisposed()) {
    model = monaco.editor.createModel(text, 'javascript', monaco.Uri.parse(`file:///workers/${sid}.js`));
    models.set(sid, model);
  } else if (model.getValue() !== text) {
    model.setValue(text);
  }
  return model;
}

export function theme(dark: boolean): string {
  return dark ? 'vs-dark' : 'vs';
}

export interface ScriptEditor {
  // Shows worker `sid`'s script (one model per worker keeps its undo history).
  open(sid: string, text: string): void;
  // Replaces the text of the open script (Revert, conflict "keep theirs"), undoably.
  replace(text: string): void;
  value(): string;
  focus(): void;
  setDark(dark: boolean): void;
  // The node refused the script: a marker at the line it names (null clears it).
  setServerProblem(problem: ScriptProblem | null): void;
  forget(sid: string): void;
  dispose(): void;
}

export interface EditorCallbacks {
  onChange(text: string): void;
  onSave(): void; // Ctrl/Cmd+S
  onRun(): void; // Ctrl/Cmd+Enter
}

export function createScriptEditor(container: HTMLElement, dark: boolean, cb: EditorCallbacks): ScriptEditor {
  const editor = monaco.editor.create(container, {
    model: null,
    theme: theme(dark),
    automaticLayout: true,
    minimap: { enabled: false },
    fontSize: 13,
    scrollBeyondLastLine: false,
    tabSize: 2,
    fixedOverflowWidgets: true,
  });
  editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyS, () => cb.onSave());
  editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.Enter, () => cb.onRun());
  let muted = false;
  editor.onDidChangeModelContent(() => {
    const model = editor.getModel();
    if (!model) return;
    monaco.editor.setModelMarkers(model, SERVER_OWNER, []); // the node's verdict was about older text
    if (!muted) cb.onChange(model.getValue());
  });
  const api: ScriptEditor = {
    open(sid, text) {
      muted = true;
      try {
        editor.setModel(modelFor(sid, text));
      } finally {
        muted = false;
      }
    },
    replace(text) {
      const model = editor.getModel();
      if (!model || model.getValue() === text) return;
      muted = true;
      try {
        editor.pushUndoStop();
        editor.executeEdits('ami', [{ range: model.getFullModelRange(), text }]);
        editor.pushUndoStop();
      } finally {
        muted = false;
      }
    },
    value: () => editor.getModel()?.getValue() ?? '',
    focus: () => editor.focus(),
    setDark: (d) => monaco.editor.setTheme(theme(d)),
    setServerProblem(problem) {
      const model = editor.getModel();
      if (!model) return;
      if (!problem) return monaco.editor.setModelMarkers(model, SERVER_OWNER, []);
      const line = Math.min(Math.max(1, problem.line), model.getLineCount());
      const startColumn = problem.column ? Math.min(problem.column, model.getLineMaxColumn(line)) : model.getLineFirstNonWhitespaceColumn(line) || 1;
      monaco.editor.setModelMarkers(model, SERVER_OWNER, [
        {
          severity: monaco.MarkerSeverity.Error,
          message: `Node: ${problem.message}`,
          source: 'amid',
          startLineNumber: line,
          endLineNumber: line,
          startColumn,
          endColumn: model.getLineMaxColumn(line),
        },
      ]);
      // After the panel has laid out the error line it shows with it (the editor shrinks).
      window.setTimeout(() => editor.revealLineInCenterIfOutsideViewport(line), 50);
    },
    forget(sid) {
      const model = models.get(sid);
      if (model && editor.getModel() !== model) model.dispose();
      if (editor.getModel() !== model) models.delete(sid);
    },
    dispose() {
      editor.dispose();
    },
  };
  return api;
}

// Both versions side by side for the conflict dialog (read-only).
export function createDiffView(container: HTMLElement, dark: boolean, theirs: string, mine: string): monaco.IDisposable {
  const original = monaco.editor.createModel(theirs, 'javascript');
  const modified = monaco.editor.createModel(mine, 'javascript');
  const diff = monaco.editor.createDiffEditor(container, {
    theme: theme(dark),
    readOnly: true,
    automaticLayout: true,
    renderSideBySide: true,
    minimap: { enabled: false },
    originalEditable: false,
  });
  diff.setModel({ original, modified });
  return {
    dispose() {
      diff.dispose();
      original.dispose();
      modified.dispose();
    },
  };
}
