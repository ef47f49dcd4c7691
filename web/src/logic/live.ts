// Live updates through the gateway's WebSocket (GET /ws, subprotocol "webfix", session
// in ?session=; shared/design/webfix-gateway.md). The client subscribes to the
// "runtime" channel; the node pushes
//   {"webfix":"1.0","method":"publish","value":{"channel":"runtime",
//    "raw":{"event","sid","node","term","detail","timestamp"}}}
// for started, stopped, budget_exhausted, leader_acquired, leader_lost, updated, deleted.

export const RUNTIME_EVENTS = ['started', 'stopped', 'budget_exhausted', 'leader_acquired', 'leader_lost', 'updated', 'deleted'] as const;
export type RuntimeEventName = (typeof RUNTIME_EVENTS)[number];

export interface RuntimeEvent {
  event: RuntimeEventName;
  sid: string;
  node: string | null;
  term: number | null;
  detail: string | null;
  timestamp: number | null;
}

export const SUBSCRIBE_RUNTIME = JSON.stringify({ webfix: '1.0', method: 'subscribe', channel: 'runtime' });

// The WebSocket URL for a page at `location` (http → ws, https → wss).
export function socketUrl(location: { protocol: string; host: string }, session: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws?session=${encodeURIComponent(session)}`;
}

// One message → a runtime event, or null for anything else (other channels, acks,
// heartbeats). An error message (session expired, …) comes back as {error}.
export function parseSocketMessage(text: string): RuntimeEvent | { error: string } | null {
  let m: any;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  if (!m || typeof m !== 'object') return null;
  if (m.error) return { error: typeof m.error === 'string' ? m.error : String(m.error.message ?? 'error') };
  const value = m.value;
  if (m.method !== 'publish' || !value || value.channel !== 'runtime') return null;
  const raw = value.raw;
  if (!raw || typeof raw.sid !== 'string' || !(RUNTIME_EVENTS as readonly string[]).includes(raw.event)) return null;
  return {
    event: raw.event,
    sid: raw.sid,
    node: typeof raw.node === 'string' ? raw.node : null,
    term: typeof raw.term === 'number' ? raw.term : null,
    detail: typeof raw.detail === 'string' ? raw.detail : null,
    timestamp: typeof raw.timestamp === 'number' ? raw.timestamp : null,
  };
}

// Reconnect delays after a lost connection: 1 s, 2 s, 4 s, … capped at 30 s.
export function reconnectDelay(attempt: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, attempt));
}

// How often the app asks again when nothing is pushed (no WebSocket on this node, or
// while it reconnects). The guide's panels "auto-refresh"; these are the pace.
export const REFRESH = {
  workersMs: 10_000, // the worker list, without live updates
  statsMs: 5_000, // the stats panel with auto-refresh on
  leaderMs: 5_000, // the leader card (its countdown ticks every second locally)
  nodesMs: 10_000, // the node & cluster view
  logsPollMs: 2_000, // logs, only when the node has no live log stream
} as const;
