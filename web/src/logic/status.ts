// How a worker looks in the list (the guide's "Worker Card Indicators" and "Success
// Indicators"): the ACTIVE/INACTIVE badge says what the record wants, the coloured dot
// says what this node sees the script doing.
import type { Worker } from '../types';

export type Tone = 'green' | 'orange' | 'yellow' | 'blue' | 'red' | 'grey';

export interface StatusView {
  badge: 'ACTIVE' | 'INACTIVE' | 'INVALID';
  badgeTone: Tone; // ACTIVE green, INACTIVE red (guide: "INACTIVE (red badge)")
  tone: Tone; // the dot
  pulse: boolean; // "🟢 Green pulse (active)": the script runs here now
  label: string; // the status in words, for the tooltip and the status filter
  leader: boolean; // 👑 crown (leader mode)
}

export function statusView(w: Worker): StatusView {
  const r = w.record;
  if (!r) {
    return { badge: 'INVALID', badgeTone: 'red', tone: 'red', pulse: false, label: w.error ? `invalid: ${w.error}` : 'invalid', leader: false };
  }
  const status = w.status ?? '';
  const view: StatusView = {
    badge: r.active ? 'ACTIVE' : 'INACTIVE',
    badgeTone: r.active ? 'green' : 'red',
    tone: 'grey',
    pulse: false,
    label: status || (r.active ? 'starting' : 'stopped'),
    leader: r.executionMode === 'leader',
  };
  if (w.running || status === 'running') {
    view.tone = 'green';
    view.pulse = true;
  } else if (status === 'backing-off') {
    view.tone = 'orange';
  } else if (status === 'failed') {
    view.tone = 'red';
  } else if (status.startsWith('waiting')) {
    view.tone = 'blue'; // active, but another node runs it (lease elsewhere / exclusive)
  } else if (status === 'starting') {
    view.tone = 'yellow';
  } else if (status === 'finished') {
    view.tone = 'grey';
  } else if (r.active) {
    view.tone = 'yellow'; // active but not (yet) running here
  }
  return view;
}

// Classes of the status filter.
export type StatusClass = 'running' | 'active' | 'inactive' | 'waiting' | 'failed';

export function statusClasses(w: Worker): StatusClass[] {
  if (!w.record) return ['failed'];
  const out: StatusClass[] = [w.record.active ? 'active' : 'inactive'];
  if (w.running || w.status === 'running') out.push('running');
  if (w.status.startsWith('waiting')) out.push('waiting');
  if (w.status === 'failed' || w.status === 'backing-off') out.push('failed');
  return out;
}
