// The Leader Election card (guide: "Leader Info Card", "Success Indicators"): who holds
// a leader worker's lease, its term, and the countdown to its expiry. The countdown runs
// on the browser's clock from the moment the reply arrived (expiresIn is relative), so
// a clock difference between browser and node does not skew it.
import type { LeaderInfo } from '../types';
import type { Tone } from './status';

export type LeaderState = 'active' | 'expired' | 'waiting';

export interface LeaderView {
  state: LeaderState;
  statusText: string; // "✅ Leader Active", "⏳ Lease expired — new election", "⏳ Waiting for election"
  leaderNode: string | null;
  term: number | null;
  electedAt: number | null; // ms since epoch
  renewedAt: number | null;
  remainingMs: number | null; // null when there is no lease
  expiresInText: string; // "45s", "1m 05s", "expired", "—"
  tone: Tone; // green > 30 s, orange 15–30 s, red < 15 s or expired (guide: "> 30s healthy", "< 15s about to expire")
  note: string | null; // "last leader s-0002 (term 6)"
}

// "45s", "1m 05s", "1h 02m"; "expired" at or below 0.
export function formatCountdown(ms: number): string {
  if (ms <= 0) return 'expired';
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export function leaseTone(remainingMs: number): Tone {
  if (remainingMs <= 0) return 'red';
  if (remainingMs < 15_000) return 'red';
  if (remainingMs <= 30_000) return 'orange';
  return 'green';
}

// `fetchedAt`: the browser time the reply arrived; `now`: the browser time to show.
export function leaderView(info: LeaderInfo, fetchedAt: number, now: number): LeaderView {
  if (!info.hasLeader) {
    const note =
      info.lastLeader !== undefined ? `last leader ${info.lastLeader}${info.lastTerm !== undefined ? ` (term ${info.lastTerm})` : ''} resigned` : null;
    return {
      state: 'waiting',
      statusText: '⏳ Waiting for election',
      leaderNode: null,
      term: info.lastTerm ?? null,
      electedAt: null,
      renewedAt: null,
      remainingMs: null,
      expiresInText: '—',
      tone: 'grey',
      note: note ?? info.message ?? 'No leader elected yet',
    };
  }
  const remaining = Math.max(0, (info.expiresIn ?? 0) - Math.max(0, now - fetchedAt));
  const expired = info.isExpired === true || remaining <= 0;
  return {
    state: expired ? 'expired' : 'active',
    statusText: expired ? '⚠️ Lease expired — new election' : '✅ Leader Active',
    leaderNode: info.leader ?? null,
    term: info.term ?? null,
    electedAt: info.timestamp ?? null,
    renewedAt: info.renewedAt ?? null,
    remainingMs: expired ? 0 : remaining,
    expiresInText: expired ? 'expired' : formatCountdown(remaining),
    tone: expired ? 'red' : leaseTone(remaining),
    note: null,
  };
}

// "14:30:45" in the browser's time zone.
export function clockTime(ms: number | null): string {
  if (ms === null) return '—';
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}
