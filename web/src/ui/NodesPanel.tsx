// Node & cluster view: this node (GET /api/v1/node) and the cluster's members with their
// state as this node sees them (GET /api/v1/nodes), refreshed every REFRESH.nodesMs.
import { useEffect, useState } from 'preact/hooks';
import { Api } from '../api';
import { REFRESH } from '../logic/live';
import { formatAgo } from '../logic/stats';
import type { Members, NodeInfo } from '../types';

const STATE_TONE: Record<string, string> = { self: 'blue', up: 'green', suspect: 'orange', down: 'red', unknown: 'grey' };

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}

export function NodesPanel(props: { api: Api; onClose: () => void }) {
  const [node, setNode] = useState<NodeInfo | null>(null);
  const [members, setMembers] = useState<Members | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let alive = true;
    const load = () =>
      Promise.all([props.api.node(), props.api.nodes()]).then(
        ([n, m]) => alive && (setNode(n), setMembers(m), setError(null)),
        (e) => alive && setError(e instanceof Error ? e.message : String(e)),
      );
    void load();
    const id = window.setInterval(() => document.visibilityState !== 'hidden' && void load(), REFRESH.nodesMs);
    return () => {
      alive = false;
      window.clearInterval(id);
    };
  }, []);

  return (
    <div class="drawer" role="dialog" aria-label="Nodes and cluster" data-testid="nodes-panel">
      <div class="drawer-head">
        <h2>🌐 Node & Cluster</h2>
        <button class="ghost" aria-label="Close" data-testid="nodes-close" onClick={props.onClose}>
          ✕
        </button>
      </div>
      <div class="drawer-body">
        {error && <div class="error-text">{error}</div>}
        {node && (
          <table class="nodes" data-testid="node-info">
            <tbody>
              <tr><th>Node</th><td data-testid="node-info-id">{node.node}</td></tr>
              <tr><th>Cluster</th><td>{node.cluster ?? '(single node)'} · network <code>{node.network}</code></td></tr>
              <tr><th>Version</th><td>{node.version}</td></tr>
              <tr><th>Up for</th><td>{duration(node.uptime)} (since {new Date(node.startedAt).toLocaleString()})</td></tr>
              <tr><th>Run slots</th><td>{node.runSlots}</td></tr>
              <tr><th>Workers running here</th><td data-testid="node-info-running">{node.workersRunning}</td></tr>
            </tbody>
          </table>
        )}
        {members && (
          <>
            <div class="muted" data-testid="cluster-summary">
              Cluster <strong>{members.cluster ?? 'local'}</strong>: {members.size} member{members.size === 1 ? '' : 's'}, majority {members.majority}
            </div>
            <table class="nodes">
              <thead>
                <tr><th>Node</th><th>Address</th><th>State</th><th>Last seen</th></tr>
              </thead>
              <tbody>
                {members.nodes.map((m, i) => (
                  <tr key={m.id ?? `unknown-${i}`} data-testid="node-row" data-node-id={m.id ?? ''} data-state={m.state}>
                    <td>{m.id ?? <span class="muted">(not reached yet)</span>}{m.id === members.self ? ' (this node)' : ''}</td>
                    <td><code>{m.address ?? '—'}</code></td>
                    <td><span class={`badge tone-${STATE_TONE[m.state] ?? 'grey'}`}>{m.state}</span></td>
                    <td class="muted">{m.state === 'self' ? '—' : formatAgo(m.lastSeenMsAgo)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </div>
    </div>
  );
}
