// The worker list's search (sid, note, node) and filters (execution mode, priority,
// scope, status). Pure: the list view calls it on every keystroke with up to thousands of
// workers, so it does one pass and no allocation per worker beyond the result.
import type { ExecutionMode, Priority, Scope, Worker } from '../types';
import { statusClasses, type StatusClass } from './status';

export interface WorkerFilter {
  search: string;
  executionMode: ExecutionMode | '';
  priority: Priority | '';
  scope: Scope | '';
  status: StatusClass | '';
}

export const EMPTY_FILTER: WorkerFilter = { search: '', executionMode: '', priority: '', scope: '', status: '' };

// Whether `w` matches the search text: every word of it must occur (case-insensitive) in
// the sid, the note, the node that created it or the node it is assigned to.
export function matchesSearch(w: Worker, search: string): boolean {
  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const r = w.record;
  const hay = [w.sid, r?.note ?? '', r?.nid ?? '', r?.assignedNode ?? ''].join('\n').toLowerCase();
  return words.every((word) => hay.includes(word));
}

export function matchesFilter(w: Worker, f: WorkerFilter): boolean {
  const r = w.record;
  if (f.executionMode && r?.executionMode !== f.executionMode) return false;
  if (f.priority && r?.priority !== f.priority) return false;
  if (f.scope && (r?.scope ?? w.source) !== f.scope) return false;
  if (f.status && !statusClasses(w).includes(f.status)) return false;
  return matchesSearch(w, f.search);
}

export function filterWorkers(workers: readonly Worker[], f: WorkerFilter): Worker[] {
  const active = f.search.trim() || f.executionMode || f.priority || f.scope || f.status;
  return active ? workers.filter((w) => matchesFilter(w, f)) : workers.slice();
}

export function isFiltering(f: WorkerFilter): boolean {
  return Boolean(f.search.trim() || f.executionMode || f.priority || f.scope || f.status);
}
