// The Worker Statistics panel (guide: "Worker Statistics Panel", Workflow 3): running /
// total, executions, errors, error rate; errors by class (network: retried, critical:
// need attention); each worker's executions, errors, rate bar and last run, worst first.
// This node or the whole cluster; auto-refresh every REFRESH.statsMs while open.
import { useEffect, useState } from 'preact/hooks';
import { Api } from '../api';
import { REFRESH } from '../logic/live';
import { clusterTotals, formatAgo, formatCount, nodeTotals, parseRate, rateBarWidth, rateTone, sortForAttention, workerHealthTone, type Totals } from '../logic/stats';
import type { WorkerStats } from '../types';

const SHOWN = 100;

interface Loaded {
  totals: Totals;
  workers: (WorkerStats & { node?: string })[];
  at: number;
}

export function StatsPanel(props: { api: Api; names: Map<string, string>; onClose: () => void; onOpenWorker: (sid: string) => void }) {
  const [scope, setScope] = useState<'node' | 'cluster'>('node');
  const [auto, setAuto] = useState(true);
  const [data, setData] = useState<Loaded | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [all, setAll] = useState(false);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let alive = true;
    const load = async () => {
      try {
        if (scope === 'node') {
          const s = await props.api.stats();
          if (alive) setData({ totals: nodeTotals(s), workers: s.workers.map((w) => ({ ...w, node: s.node })), at: Date.now() });
        } else {
          const c = await props.api.clusterStats();
          const workers = Object.entries(c.nodes).flatMap(([node, s]) => s.workers.map((w) => ({ ...w, node })));
          if (alive) setData({ totals: clusterTotals(c), workers, at: Date.now() });
        }
        if (alive) setError(null);
      } catch (e) {
        if (alive) setError(e instanceof Error ? e.message : String(e));
      }
    };
    void load();
    const id = auto ? window.setInterval(() => document.visibilityState !== 'hidden' && void load(), REFRESH.statsMs) : undefined;
    return () => {
      alive = false;
      window.clearInterval(id);
    };
  }, [scope, auto, tick]);

  const t = data?.totals;
  const sorted = data ? sortForAttention(data.workers) : [];
  const rate = t ? parseRate(t.errorRate) : 0;
  return (
    <div class="drawer" role="dialog" aria-label="Worker Statistics" data-testid="stats-panel">
      <div class="drawer-head">
        <h2>📊 Worker Statistics</h2>
        <select data-testid="stats-scope" aria-label="Scope" value={scope} onChange={(e) => setScope((e.target as HTMLSelectElement).value as 'node' | 'cluster')}>
          <option value="node">This node</option>
          <option value="cluster">Cluster</option>
        </select>
        <label class="row" title={`Refresh every ${REFRESH.statsMs / 1000}s`}>
          <input type="checkbox" data-testid="stats-auto-refresh" checked={auto} onChange={(e) => setAuto((e.target as HTMLInputElement).checked)} /> 🔄 Auto
        </label>
        <button data-testid="stats-refresh" onClick={() => setTick(tick + 1)}>
          Refresh
        </button>
        <button class="ghost" aria-label="Close" data-testid="stats-close" onClick={props.onClose}>
          ✕
        </button>
      </div>
      <div class="drawer-body">
        {error && <div class="error-text">{error}</div>}
        {!t && !error && <div class="muted">Loading…</div>}
        {t && (
          <>
            <div class="tiles">
              <Tile label="Running" testid="stats-running" value={`${t.running}/${t.total}`} icon="▶" />
              <Tile label="Executions" testid="stats-executions" value={formatCount(t.executions)} icon="📈" />
              <Tile label="Errors" testid="stats-errors" value={formatCount(t.errors)} icon="✕" />
              <Tile label="Error rate" testid="stats-error-rate" value={t.errorRate} icon="⚠️" tone={rateTone(rate)} />
            </div>
            {scope === 'cluster' && (
              <div class="muted" data-testid="stats-cluster-nodes">
                {t.nodes} node{t.nodes === 1 ? '' : 's'} answered{t.unreachable.length ? ` · unreachable: ${t.unreachable.join(', ')}` : ''}
              </div>
            )}
            <div>
              <h3 class="muted" style={{ fontSize: '12px', margin: '0 0 6px' }}>
                Error Breakdown
              </h3>
              <div class="chips">
                <span class="chip tone-orange" data-testid="stats-network-errors" title="Network errors back off and retry; they never spend the error budget">
                  ⚠️ Network: {formatCount(t.networkErrors)}
                </span>
                <span class="chip tone-red" data-testid="stats-critical-errors" title="Critical errors are script bugs: they spend the error budget">
                  ✕ Critical: {formatCount(t.criticalErrors)}
                </span>
              </div>
            </div>
            <div>
              <h3 class="muted" style={{ fontSize: '12px', margin: '0 0 6px' }}>
                Individual Workers ({sorted.length})
              </h3>
              <div style={{ display: 'grid', gap: '6px' }}>
                {(all ? sorted : sorted.slice(0, SHOWN)).map((w) => (
                  <WorkerRow key={`${w.node}/${w.sid}`} w={w} name={props.names.get(w.sid)} onOpen={() => props.onOpenWorker(w.sid)} showNode={scope === 'cluster'} now={data!.at} />
                ))}
                {!all && sorted.length > SHOWN && (
                  <button data-testid="stats-show-all" onClick={() => setAll(true)}>
                    Show all {sorted.length}
                  </button>
                )}
              </div>
            </div>
          </>
        )}
      </div>
    </div>
  );
}

function Tile(props: { label: string; value: string; icon: string; testid: string; tone?: string }) {
  return (
    <div class={`tile${props.tone ? ` tone-${props.tone}` : ''}`}>
      <div class="label">{props.label}</div>
      <div class={`value${props.tone ? ' toned' : ''}`} data-testid={props.testid}>
        {props.value}
      </div>
      <div>{props.icon}</div>
    </div>
  );
}

function WorkerRow(props: { w: WorkerStats & { node?: string }; name?: string; showNode: boolean; now: number; onOpen: () => void }) {
  const { w } = props;
  const tone = workerHealthTone(w);
  const rate = parseRate(w.errorRate);
  return (
    <div class={`stat-row tone-${tone}`} data-testid="stats-worker" data-sid={w.sid} data-tone={tone}>
      <div class="row">
        <span class={`dot tone-${tone}`} />
        <a href="#" class="grow ellipsis" onClick={(e) => (e.preventDefault(), props.onOpen())} title={w.sid}>
          {props.name ?? w.sid}
        </a>
        {props.showNode && <span class="muted">{w.node}</span>}
        <span class={`badge tone-${w.isRunning ? 'green' : 'grey'}`}>{w.isRunning ? 'Running' : w.status === 'stopped' ? 'Stopped' : w.status}</span>
      </div>
      <div class="muted" style={{ fontSize: '12px' }}>
        Exec: <span data-testid="stats-worker-executions">{formatCount(w.executions)}</span> · Err: {formatCount(w.errors)} (network {w.networkErrors}, critical {w.criticalErrors}) · Rate:{' '}
        {w.errorRate} · Last run: {formatAgo(w.lastRunAgo)}
      </div>
      <div class={`bar tone-${rateTone(rate)}`}>
        <div style={{ width: `${rateBarWidth(rate)}%` }} />
      </div>
      {w.lastError && (
        <div class="error-text ellipsis" style={{ fontSize: '12px' }} title={w.lastError}>
          {w.lastErrorType}: {w.lastError}
        </div>
      )}
    </div>
  );
}
