// The signed-in editor: header (create, stats, nodes, stop all, theme, sign out), the
// live-connection banner, the worker list and the open worker's editor panel, and the
// dialogs. Keyboard: `/` or Ctrl/Cmd+K search, Ctrl/Cmd+S save, Ctrl/Cmd+Enter run.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, ApiError } from '../api';
import { EMPTY_FILTER, type WorkerFilter } from '../logic/filters';
import type { RuntimeEvent } from '../logic/live';
import { REFRESH } from '../logic/live';
import type { NodeInfo, Worker } from '../types';
import { DeleteDialog, StopAllDialog, Toasts, type Toast } from './dialogs';
import { EditorPanel, type EditorActions } from './EditorPanel';
import { NodesPanel } from './NodesPanel';
import { StatsPanel } from './StatsPanel';
import { initialTheme, saveTheme, type Theme } from './theme';
import { useWorkers } from './useWorkers';
import { Wizard } from './Wizard';
import { WorkerList } from './WorkerList';

const NEW_BADGE_MS = 3000; // guide: "🆕 Badge (3s after creation)"

export function Shell(props: { api: Api; node: NodeInfo; onSignOut: (why?: string) => void }) {
  const { api } = props;
  const [theme, setTheme] = useState<Theme>(initialTheme());
  const [filter, setFilter] = useState<WorkerFilter>(EMPTY_FILTER);
  const [selected, setSelected] = useState<string | null>(null);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [panel, setPanel] = useState<null | 'stats' | 'nodes'>(null);
  const [wizard, setWizard] = useState(false);
  const [deleting, setDeleting] = useState<string | null>(null);
  const [stopAll, setStopAll] = useState(false);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [leaderTick, setLeaderTick] = useState(0);
  const [exchanges, setExchanges] = useState<string[]>([]);
  const [accounts, setAccounts] = useState<string[]>([]);
  const [members, setMembers] = useState<string[]>([props.node.node]);
  const [now, setNow] = useState(Date.now());
  const searchRef = useRef<HTMLInputElement>(null);
  const actions = useRef<EditorActions | null>(null);
  const selectedRef = useRef(selected);
  selectedRef.current = selected;
  const toastId = useRef(0);

  const toast = useCallback((tone: Toast['tone'], text: string) => {
    const id = ++toastId.current;
    setToasts((t) => [...t.slice(-3), { id, tone, text }]);
    window.setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), tone === 'red' ? 8000 : 3500);
  }, []);

  const unauthorized = useCallback(() => props.onSignOut('The node refused the admin token. Sign in again.'), []);
  const onEvent = useCallback((e: RuntimeEvent) => {
    if (e.sid !== selectedRef.current) return;
    if (e.event === 'leader_acquired' || e.event === 'leader_lost' || e.event === 'started' || e.event === 'stopped') setLeaderTick((n) => n + 1);
    if (e.event === 'budget_exhausted') toast('red', `Worker stopped: error budget exhausted${e.detail ? ` (${e.detail})` : ''}`);
    if (e.event === 'deleted') toast('orange', 'This worker was deleted on the node');
  }, []);
  const model = useWorkers(api, onEvent, unauthorized);
  const byId = useMemo(() => new Map(model.workers.map((w) => [w.sid, w])), [model.workers]);
  const names = useMemo(() => new Map(model.workers.map((w) => [w.sid, w.record?.note || w.sid])), [model.workers]);
  const current = selected ? byId.get(selected) ?? null : null;

  // Facts for completion and the wizard: exchanges and accounts, the cluster's node ids.
  useEffect(() => {
    api.plugins().then(
      (pl) => {
        setExchanges(pl.exchanges.map((x) => x.id));
        setAccounts(pl.accounts.map((a) => a.id));
      },
      () => undefined,
    );
    api.nodes().then((m) => setMembers(m.nodes.map((n) => n.id).filter((id): id is string => Boolean(id))), () => undefined);
  }, [api]);

  // The live banner's countdown to the next reconnect attempt.
  useEffect(() => {
    if (model.live.kind !== 'lost') return;
    const id = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(id);
  }, [model.live.kind]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      const inMonaco = (e.target as HTMLElement | null)?.closest?.('.monaco-editor');
      const typing = (e.target as HTMLElement | null)?.matches?.('input, textarea, select, [contenteditable]');
      if (mod && e.key.toLowerCase() === 's') {
        e.preventDefault(); // never the browser's "Save page"
        if (!inMonaco) actions.current?.save();
      } else if (mod && e.key === 'Enter' && !inMonaco) {
        e.preventDefault();
        actions.current?.run();
      } else if ((mod && e.key.toLowerCase() === 'k') || (e.key === '/' && !typing && !inMonaco)) {
        e.preventDefault();
        searchRef.current?.focus();
        searchRef.current?.select();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  function toggleTheme() {
    const next = theme === 'dark' ? 'light' : 'dark';
    saveTheme(next);
    setTheme(next);
  }

  function created(w: Worker) {
    model.upsert(w);
    setWizard(false);
    setFilter(EMPTY_FILTER); // so the new worker is in view
    setSelected(w.sid);
    setFresh((s) => new Set(s).add(w.sid));
    window.setTimeout(() => setFresh((s) => {
      const next = new Set(s);
      next.delete(w.sid);
      return next;
    }), NEW_BADGE_MS);
    toast('green', `Worker created: ${w.record?.note ?? w.sid}`);
  }

  async function confirmDelete(sid: string) {
    try {
      await api.deleteWorker(sid);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
    model.remove(sid);
    if (selected === sid) setSelected(null);
    setDeleting(null);
    toast('green', 'Worker deleted');
  }

  const running = model.workers.filter((w) => w.running).length;
  const live = model.live;
  return (
    <div class="shell">
      <header class="header">
        <h1>⚡ AMI Editor</h1>
        <span class="muted" data-testid="header-node" title={`cluster ${props.node.cluster ?? 'local'} · version ${props.node.version}`}>
          🌐 {props.node.node}
        </span>
        <span class="grow" />
        <button class="primary" data-testid="header-create" onClick={() => setWizard(true)}>
          + AI PROTOCOL
        </button>
        <button data-testid="header-stats" aria-pressed={panel === 'stats'} onClick={() => setPanel(panel === 'stats' ? null : 'stats')}>
          📊 STATS
        </button>
        <button data-testid="header-nodes" aria-pressed={panel === 'nodes'} onClick={() => setPanel(panel === 'nodes' ? null : 'nodes')}>
          🌐 NODES
        </button>
        <button class="danger" data-testid="header-stop-all" onClick={() => setStopAll(true)}>
          ⏹ STOP ALL
        </button>
        <button data-testid="theme-toggle" title="Dark / light theme" aria-label="Toggle theme" onClick={toggleTheme}>
          {theme === 'dark' ? '☀️' : '🌙'}
        </button>
        <button data-testid="signout" onClick={() => props.onSignOut()}>
          Sign out
        </button>
      </header>
      <div>
        {live.kind === 'lost' && (
          <div class="banner warn" role="status" data-testid="banner-live-lost">
            <span class="grow">
              ⚠️ Live updates lost ({live.reason}). Reconnecting in {Math.max(0, Math.ceil((live.retryAt - now) / 1000))}s; the list refreshes every {REFRESH.workersMs / 1000}s meanwhile.
            </span>
            <button data-testid="banner-reconnect" onClick={model.retryLive}>
              Reconnect now
            </button>
          </div>
        )}
        {live.kind === 'unavailable' && (
          <div class="banner info" data-testid="banner-polling">
            This node offers no live channel: the list refreshes every {REFRESH.workersMs / 1000}s.
          </div>
        )}
        {model.error && (
          <div class="banner warn" role="alert" data-testid="banner-error">
            <span class="grow">Cannot load workers: {model.error}</span>
            <button onClick={() => void model.refresh()}>Retry</button>
          </div>
        )}
      </div>
      <main class="main" data-testid="main" data-live={live.kind}>
        <WorkerList
          workers={model.workers}
          loaded={model.loaded}
          filter={filter}
          onFilter={setFilter}
          selected={selected}
          onSelect={setSelected}
          onDelete={setDeleting}
          fresh={fresh}
          searchRef={searchRef}
        />
        {current ? (
          <EditorPanel
            api={api}
            worker={current}
            dark={theme === 'dark'}
            exchanges={exchanges}
            leaderTick={leaderTick}
            actions={actions}
            onUpsert={model.upsert}
            onDelete={setDeleting}
            toast={toast}
          />
        ) : (
          <div class="empty" data-testid="editor-empty">
            {model.loaded ? 'Select a worker, or create one with “+ AI PROTOCOL”.' : ''}
          </div>
        )}
      </main>
      {wizard && <Wizard api={api} accounts={accounts} nodes={members} onClose={() => setWizard(false)} onCreated={created} />}
      {deleting && (
        <DeleteDialog sid={deleting} note={byId.get(deleting)?.record?.note ?? null} onCancel={() => setDeleting(null)} onConfirm={() => confirmDelete(deleting)} />
      )}
      {stopAll && (
        <StopAllDialog
          running={running}
          total={model.workers.length}
          onClose={() => setStopAll(false)}
          onConfirm={async () => {
            const r = await api.stopAll();
            void model.refresh();
            return r;
          }}
        />
      )}
      {panel === 'stats' && <StatsPanel api={api} names={names} onClose={() => setPanel(null)} onOpenWorker={(sid) => setSelected(sid)} />}
      {panel === 'nodes' && <NodesPanel api={api} onClose={() => setPanel(null)} />}
      <Toasts toasts={toasts} onDismiss={(id) => setToasts((t) => t.filter((x) => x.id !== id))} />
    </div>
  );
}
