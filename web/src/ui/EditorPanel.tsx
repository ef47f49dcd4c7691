// The editor panel of one worker (guide: "Editor Panel Layout"): header with status,
// version and START/STOP; metadata; notes; settings; the unsaved-changes bar; the leader
// card (leader mode); the Monaco editor; per-worker stats; live logs.
// Saving sends only the changed fields with If-Match: the versionstamp the edit started
// from; a conflict opens the dialog with both versions. A script the node refuses comes
// back as a marker at the line its message names.
import type { MutableRef } from 'preact/hooks';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Api, ApiError } from '../api';
import { changedFields, changesBetween, describeConflict, draftOf, followRemote, isDirty, resolveConflict, type Conflict, type ConflictChoice, type Draft } from '../logic/conflict';
import { REFRESH } from '../logic/live';
import { parseScriptError } from '../logic/scriptErrors';
import { formatAgo, formatCount } from '../logic/stats';
import { statusView } from '../logic/status';
import { EXECUTION_MODES, PRIORITIES, SCOPES, WORKER_MODES, type Worker, type WorkerStats } from '../types';
import type { ScriptEditor } from '../editor/monaco';
import { ConflictDialog } from './ConflictDialog';
import { LeaderCard } from './LeaderCard';
import { LogsPanel } from './LogsPanel';

export interface EditorActions {
  save(): void;
  run(): void;
}

interface Props {
  api: Api;
  worker: Worker; // the list's current copy
  dark: boolean;
  exchanges: string[];
  leaderTick: number;
  actions: MutableRef<EditorActions | null>;
  onUpsert: (w: Worker) => void;
  onDelete: (sid: string) => void;
  toast: (tone: 'green' | 'red' | 'orange' | 'blue', text: string) => void;
}

export function EditorPanel(p: Props) {
  const [base, setBase] = useState<Worker>(p.worker);
  const [draft, setDraft] = useState<Draft | null>(p.worker.record ? draftOf(p.worker.record) : null);
  const [busy, setBusy] = useState<null | 'save' | 'start' | 'stop'>(null);
  const [error, setError] = useState<string | null>(null);
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const [underneath, setUnderneath] = useState(false);
  const [stats, setStats] = useState<WorkerStats | null>(null);
  const [editorState, setEditorState] = useState<'loading' | 'ready' | 'failed'>('loading');
  const [problemLine, setProblemLine] = useState<number | null>(null); // the node's last verdict, for tests and the eye
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<ScriptEditor | null>(null);
  const state = useRef({ base, draft });
  state.current = { base, draft };
  const sid = p.worker.sid;

  // Another worker opened: start from its record.
  useEffect(() => {
    setBase(p.worker);
    setDraft(p.worker.record ? draftOf(p.worker.record) : null);
    setError(null);
    setProblemLine(null);
    setConflict(null);
    setUnderneath(false);
    setStats(null);
    if (editor.current && p.worker.record) editor.current.open(sid, p.worker.record.script);
  }, [sid]);

  // A newer copy of this worker arrived (list refresh, live event).
  useEffect(() => {
    const { base: b, draft: d } = state.current;
    if (p.worker.sid !== b.sid || !d || p.worker === b) return;
    const f = followRemote(b, d, p.worker);
    setBase(f.base);
    if (f.draft !== d) applyDraft(f.draft);
    if (f.changedUnderneath) setUnderneath(true);
  }, [p.worker]);

  // Monaco, loaded on first use (the list does not wait for it).
  useEffect(() => {
    let disposed = false;
    import('../editor/monaco').then(
      (m) => {
        if (disposed || !host.current) return;
        m.setExchanges(p.exchanges);
        editor.current = m.createScriptEditor(host.current, p.dark, {
          onChange: (text) => setDraft((d) => (d ? { ...d, script: text } : d)),
          // Through actions: the closures of the latest render (busy, …), not the first.
          onSave: () => p.actions.current?.save(),
          onRun: () => p.actions.current?.run(),
        });
        const { base: b, draft: d } = state.current;
        editor.current.open(b.sid, d?.script ?? b.record?.script ?? '');
        setEditorState('ready');
      },
      (e) => {
        console.warn('editor failed to load', e);
        setEditorState('failed');
      },
    );
    return () => {
      disposed = true;
      editor.current?.dispose();
      editor.current = null;
    };
  }, []);

  useEffect(() => editor.current?.setDark(p.dark), [p.dark]);

  // A draft that did not come from typing (revert, keep theirs, merge, a remote change):
  // the editor shows it at once. Typing never goes this way — pushing text back into
  // Monaco after a render would undo keys typed in between.
  function applyDraft(d: Draft) {
    setDraft(d);
    if (editor.current && editor.current.value() !== d.script) editor.current.replace(d.script);
  }

  // Per-worker stats, every REFRESH.statsMs, and at once when it starts or stops (else a
  // worker just started shows "Exec: 0, last run: never" beside its streaming logs).
  useEffect(() => {
    let alive = true;
    const load = () => p.api.workerStats(sid).then((s) => alive && setStats(s), () => undefined);
    void load();
    const id = window.setInterval(() => document.visibilityState !== 'hidden' && void load(), REFRESH.statsMs);
    return () => {
      alive = false;
      window.clearInterval(id);
    };
  }, [sid, base.running]);

  function adopt(w: Worker, nextDraft?: Draft) {
    setBase(w);
    if (nextDraft) applyDraft(nextDraft);
    setUnderneath(false);
    p.onUpsert(w);
  }

  function refused(e: unknown) {
    const message = e instanceof Error ? e.message : String(e);
    setError(message);
    const problem = e instanceof ApiError && e.status === 400 ? parseScriptError(message) : null;
    if (problem) editor.current?.setServerProblem(problem);
    setProblemLine(problem ? problem.line : null);
  }

  async function send(changes: ReturnType<typeof changesBetween>, ifMatch: string | null, then?: Draft): Promise<boolean> {
    try {
      const { data } = await p.api.updateWorker(sid, changes, ifMatch);
      adopt(data, then);
      editor.current?.setServerProblem(null);
      setProblemLine(null);
      setError(null);
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.conflict) {
        const { data: theirs } = await p.api.getWorker(sid);
        const { base: b, draft: d } = state.current;
        if (b.record && d && theirs.record) setConflict(describeConflict(b.record, then ?? d, theirs));
        return false;
      }
      refused(e);
      return false;
    }
  }

  // Save All (Ctrl/Cmd+S); `only` limits it to some fields (the notes' own Save).
  async function save(only?: (keyof Draft)[]): Promise<boolean> {
    const { base: b, draft: d } = state.current;
    if (!b.record || !d || busy) return false;
    let changes = changesBetween(b.record, d);
    if (only) changes = Object.fromEntries(Object.entries(changes).filter(([k]) => only.includes(k as keyof Draft)));
    if (Object.keys(changes).length === 0) return true;
    setBusy('save');
    try {
      const ok = await send(changes, b.versionstamp);
      if (ok) p.toast('green', 'Saved');
      return ok;
    } catch (e) {
      refused(e);
      return false;
    } finally {
      setBusy(null);
    }
  }

  async function lifecycle(action: 'start' | 'stop') {
    setBusy(action);
    try {
      const { data } = action === 'start' ? await p.api.startWorker(sid) : await p.api.stopWorker(sid);
      const { base: b, draft: d } = state.current;
      const f = d ? followRemote(b, d, data) : { base: data, draft: d, changedUnderneath: false };
      setBase(f.base);
      if (f.draft && f.draft !== d) applyDraft(f.draft);
      if (f.changedUnderneath) setUnderneath(true);
      p.onUpsert(data);
      p.toast('blue', action === 'start' ? 'Started: the node runs it shortly' : 'Stopped');
    } catch (e) {
      refused(e);
    } finally {
      setBusy(null);
    }
  }

  // Run (Ctrl/Cmd+Enter, START): save first when there are unsaved changes.
  async function run() {
    const { base: b, draft: d } = state.current;
    if (b.record && d && isDirty(b.record, d) && !(await save())) return;
    await lifecycle('start');
  }

  p.actions.current = { save: () => void save(), run: () => void run() };

  async function choose(choice: ConflictChoice) {
    if (!conflict) return;
    const r = resolveConflict(conflict, choice);
    if (r.action === 'load') {
      adopt(r.worker, r.draft);
      setConflict(null);
      editor.current?.focus();
      return;
    }
    setBusy('save');
    setConflict(null);
    try {
      applyDraft(r.draft);
      if (await send(r.changes, r.ifMatch, r.draft)) p.toast('green', choice === 'merge' ? 'Merged and saved' : 'Saved your version');
    } finally {
      setBusy(null);
      editor.current?.focus(); // back to typing where the dialog interrupted
    }
  }

  const r = base.record;
  if (!r || !draft) {
    return (
      <div class="editor-pane" data-testid="editor-panel">
        <div class="section error-text">This worker's stored record cannot be read: {p.worker.error ?? 'unknown error'}. You can still delete it.</div>
        <div class="section">
          <button class="danger" data-testid="editor-delete" onClick={() => p.onDelete(sid)}>
            🗑️ Delete
          </button>
        </div>
      </div>
    );
  }
  const v = statusView(base);
  const dirtyFields = changedFields(r, draft);
  const set = (patch: Partial<Draft>) => setDraft((d) => (d ? { ...d, ...patch } : d));
  return (
    <div class="editor-pane" data-testid="editor-panel" data-sid={sid}>
      <div class="editor-head">
        <span>💻</span>
        <code class="ellipsis" data-testid="editor-sid">
          {sid}
        </code>
        <span class={`badge tone-${v.badgeTone}`} data-testid="editor-status">
          {v.badge}
        </span>
        <span class={`dot tone-${v.tone}${v.pulse ? ' pulse' : ''}`} title={v.label} />
        <span class="muted ellipsis" data-testid="editor-run-status">
          {base.status}
        </span>
        <span class="badge tone-grey" data-testid="editor-version">
          v{r.version}
        </span>
        <span class="grow" />
        {r.active ? (
          <button class="danger" data-testid="editor-stop" disabled={busy !== null} onClick={() => void lifecycle('stop')}>
            {busy === 'stop' ? 'Stopping…' : '⏹ STOP'}
          </button>
        ) : (
          <button class="primary" data-testid="editor-start" disabled={busy !== null} onClick={() => void run()} title="Ctrl/Cmd+Enter">
            {busy === 'start' ? 'Starting…' : '▶ START'}
          </button>
        )}
        <button data-testid="editor-delete" title="Delete worker" onClick={() => p.onDelete(sid)}>
          🗑️
        </button>
      </div>
      <div class="editor-meta" data-testid="editor-meta">
        <span>Node: {r.nid}</span>
        {r.assignedNode && <span>Assigned: {r.assignedNode}</span>}
        <span>
          Channel: <code>ami.worker.{sid}</code>
        </span>
        <span>Scope: {base.source ?? r.scope}</span>
        <span title={new Date(r.timestamp).toISOString()}>Modified: {new Date(r.timestamp).toLocaleString()}</span>
        <span class="worker-stats-line" data-testid="editor-stats">
          {stats ? (
            <>
              <span>
                Exec: <span data-testid="editor-stats-executions">{formatCount(stats.executions)}</span>
              </span>
              <span>
                Err: {formatCount(stats.errors)} ({stats.networkErrors} net, {stats.criticalErrors} crit)
              </span>
              <span>Rate: {stats.errorRate}</span>
              <span>Last run: {formatAgo(stats.lastRunAgo)}</span>
            </>
          ) : (
            <span>stats…</span>
          )}
        </span>
      </div>
      <div class="section notes">
        <div class="row">
          <h3 class="grow">📝 Notes</h3>
          <button data-testid="editor-notes-reset" disabled={draft.note === r.note} onClick={() => set({ note: r.note })}>
            Reset
          </button>
          <button data-testid="editor-notes-save" disabled={draft.note === r.note || busy !== null} onClick={() => void save(['note'])}>
            Save
          </button>
        </div>
        <textarea data-testid="editor-notes" value={draft.note} onInput={(e) => set({ note: (e.target as HTMLTextAreaElement).value })} />
        <div class="settings" data-testid="editor-settings">
          <Pick label="Mode" testid="editor-execution-mode" value={draft.executionMode} options={EXECUTION_MODES} onChange={(x) => set({ executionMode: x })} />
          <Pick label="Priority" testid="editor-priority" value={draft.priority} options={PRIORITIES} onChange={(x) => set({ priority: x })} />
          <Pick label="Worker" testid="editor-worker-mode" value={draft.mode} options={WORKER_MODES} onChange={(x) => set({ mode: x })} />
          <Pick label="Scope" testid="editor-scope" value={draft.scope} options={SCOPES} onChange={(x) => set({ scope: x })} />
          <label>
            Account <input data-testid="editor-account" size={10} value={draft.accountId ?? ''} onInput={(e) => set({ accountId: (e.target as HTMLInputElement).value || null })} />
          </label>
          <label>
            Node <input data-testid="editor-assigned-node" size={8} value={draft.assignedNode ?? ''} placeholder={draft.executionMode === 'exclusive' ? 'required' : ''} onInput={(e) => set({ assignedNode: (e.target as HTMLInputElement).value || null })} />
          </label>
        </div>
      </div>
      {dirtyFields.length > 0 || underneath ? (
        <div class="unsaved" data-testid="editor-unsaved">
          <span class="grow">
            {dirtyFields.length > 0 && <>⚡ UNSAVED CHANGES ({dirtyFields.join(', ').toUpperCase()})</>}
            {underneath && <span data-testid="editor-changed-underneath"> · changed on the node meanwhile: saving will show both versions</span>}
          </span>
          <button data-testid="editor-revert" disabled={busy !== null || dirtyFields.length === 0} onClick={() => applyDraft(draftOf(r))}>
            Revert
          </button>
          <button class="primary" data-testid="editor-save" disabled={busy !== null || dirtyFields.length === 0} onClick={() => void save()} title="Ctrl/Cmd+S">
            {busy === 'save' ? 'Saving…' : 'Save All'}
          </button>
        </div>
      ) : (
        <div />
      )}
      {error ? (
        <div class="section error-text" role="alert" data-testid="editor-error">
          {error}
        </div>
      ) : (
        <div />
      )}
      <div style={{ display: 'grid', gridTemplateRows: r.executionMode === 'leader' ? 'auto 1fr' : '1fr', minHeight: 0 }}>
        {/* base.sid: right after another worker is opened, base is still the previous one's
            record for a render; a leader card for the new sid would ask a non-leader's lease. */}
        {r.executionMode === 'leader' && base.sid === sid && <LeaderCard api={p.api} sid={sid} refreshKey={p.leaderTick} />}
        <div class="monaco-host" ref={host} data-testid="editor-monaco" data-ready={editorState === 'ready'} data-problem-line={problemLine ?? undefined}>
          {editorState === 'loading' && <div class="placeholder">Loading editor…</div>}
          {editorState === 'failed' && (
            <textarea
              style={{ width: '100%', height: '100%', fontFamily: 'var(--mono)' }}
              data-testid="editor-fallback"
              value={draft.script}
              onInput={(e) => set({ script: (e.target as HTMLTextAreaElement).value })}
            />
          )}
        </div>
      </div>
      <LogsPanel api={p.api} sid={sid} />
      {conflict && <ConflictDialog conflict={conflict} dark={p.dark} busy={busy !== null} onChoose={(c) => void choose(c)} onCancel={() => setConflict(null)} />}
    </div>
  );
}

function Pick<T extends string>(props: { label: string; testid: string; value: T; options: readonly T[]; onChange: (v: T) => void }) {
  return (
    <label>
      {props.label}
      <select data-testid={props.testid} value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value as T)}>
        {props.options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
}
