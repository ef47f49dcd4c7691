// The Worker Statistics panel's numbers: totals, error rate, error classes, and the
// colour per worker (guide: "Green = running well, Orange = some errors, Red = high
// error rate"; "Error Rate < 5% (green progress bar)", "> 15% (red progress bar)").
import type { ClusterStats, Summary, WorkerStats } from '../types';
import type { Tone } from './status';

// The same text the node writes (runtime/stats ErrorRate): "0%" with no executions,
// otherwise two decimals: "0.08%".
export function formatErrorRate(errors: number, executions: number): string {
  if (!executions) return '0%';
  return `${((errors * 100) / executions).toFixed(2)}%`;
}

// "0.08%" → 0.08; anything unreadable → 0.
export function parseRate(text: string | undefined | null): number {
  const n = parseFloat(String(text ?? '').replace('%', ''));
  return Number.isFinite(n) ? n : 0;
}

export function rateTone(ratePercent: number): Tone {
  if (ratePercent > 15) return 'red';
  if (ratePercent >= 5) return 'orange';
  return 'green';
}

// A worker's colour in the stats list: red for a high rate, orange for some errors,
// green when running well, grey when stopped without errors.
export function workerHealthTone(s: WorkerStats): Tone {
  const rate = parseRate(s.errorRate) || (s.executions ? (s.errors * 100) / s.executions : 0);
  if (rate > 15) return 'red';
  if (s.errors > 0 || rate >= 5) return 'orange';
  return s.isRunning ? 'green' : 'grey';
}

// The progress bar's width in percent for a rate (full bar at 20 %, so small rates show).
export function rateBarWidth(ratePercent: number): number {
  return Math.max(0, Math.min(100, (ratePercent / 20) * 100));
}

export interface Totals {
  running: number;
  total: number;
  executions: number;
  errors: number;
  networkErrors: number;
  criticalErrors: number;
  errorRate: string;
  nodes: number;
  unreachable: string[];
}

export function nodeTotals(s: Summary): Totals {
  return {
    running: s.runningWorkers,
    total: s.totalWorkers,
    executions: s.totalExecutions,
    errors: s.totalErrors,
    networkErrors: s.totalNetworkErrors,
    criticalErrors: s.totalCriticalErrors,
    errorRate: formatErrorRate(s.totalErrors, s.totalExecutions),
    nodes: 1,
    unreachable: [],
  };
}

export function clusterTotals(c: ClusterStats): Totals {
  const t = c.totals;
  return {
    running: t.runningWorkers,
    total: t.totalWorkers,
    executions: t.totalExecutions,
    errors: t.totalErrors,
    networkErrors: t.totalNetworkErrors,
    criticalErrors: t.totalCriticalErrors,
    errorRate: t.errorRate ?? formatErrorRate(t.totalErrors, t.totalExecutions),
    nodes: t.nodes,
    unreachable: c.unreachable ?? [],
  };
}

// Worst first: most critical errors, then highest rate, then most executions.
export function sortForAttention(list: readonly WorkerStats[]): WorkerStats[] {
  return list.slice().sort(
    (a, b) =>
      b.criticalErrors - a.criticalErrors ||
      parseRate(b.errorRate) - parseRate(a.errorRate) ||
      b.executions - a.executions ||
      a.sid.localeCompare(b.sid),
  );
}

// "1,234"
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

// "just now", "12s ago", "5m ago", "3h ago", "2d ago"; "never" for null.
export function formatAgo(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return 'never';
  if (ms < 1000) return 'just now';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ago`;
  return `${Math.floor(h / 24)}d ago`;
}

// "5m", "3h", "2d": an age without "ago" (the card's ⏰ field).
export function formatAge(ms: number): string {
  const text = formatAgo(Math.max(0, ms));
  return text === 'just now' ? '0s' : text.replace(' ago', '');
}
