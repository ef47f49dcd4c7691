// Editing with a version check. The editor keeps the record as loaded (`base`, with its
// versionstamp) and the user's draft. Saving sends only the fields that differ from
// base, with If-Match: base's versionstamp. When the record changed meanwhile the node
// answers 412 (409 without If-Match) and the conflict dialog shows both versions; the
// user keeps theirs, keeps mine (overwrite), or — when the two changed different
// fields — merges (my changed fields applied onto theirs).
import type { Worker, WorkerChanges, WorkerRecord } from '../types';

export const EDITABLE_FIELDS = ['script', 'note', 'executionMode', 'priority', 'mode', 'scope', 'accountId', 'assignedNode'] as const;
export type EditableField = (typeof EDITABLE_FIELDS)[number];
export type Draft = Pick<WorkerRecord, EditableField>;

export function draftOf(r: WorkerRecord): Draft {
  return {
    script: r.script,
    note: r.note,
    executionMode: r.executionMode,
    priority: r.priority,
    mode: r.mode,
    scope: r.scope,
    accountId: r.accountId ?? null,
    assignedNode: r.assignedNode ?? null,
  };
}

function same(a: unknown, b: unknown): boolean {
  // "" and null both mean "unset" for accountId / assignedNode.
  const norm = (v: unknown) => (v === '' || v === undefined ? null : v);
  return norm(a) === norm(b);
}

// The fields of `draft` that differ from `record`.
export function changedFields(record: WorkerRecord, draft: Draft): EditableField[] {
  return EDITABLE_FIELDS.filter((f) => !same(record[f], draft[f]));
}

export function changesBetween(record: WorkerRecord, draft: Draft): WorkerChanges {
  const out: WorkerChanges = {};
  for (const f of changedFields(record, draft)) (out as Record<string, unknown>)[f] = draft[f] === '' ? null : draft[f];
  return out;
}

export function isDirty(record: WorkerRecord, draft: Draft): boolean {
  return changedFields(record, draft).length > 0;
}

export interface ConflictRow {
  field: EditableField | 'active' | 'version';
  mine: unknown;
  theirs: unknown;
  changedByMe: boolean;
  changedByThem: boolean;
}

export interface Conflict {
  base: WorkerRecord; // what I loaded
  mine: Draft; // what I want
  theirs: Worker; // what the node holds now
  rows: ConflictRow[]; // fields whose values differ between mine and theirs
  overlapping: EditableField[]; // fields both changed (differently)
  mergeable: boolean; // no overlap: my changes can be applied onto theirs
}

export function describeConflict(base: WorkerRecord, mine: Draft, theirs: Worker): Conflict {
  const t = theirs.record!;
  const rows: ConflictRow[] = [];
  const overlapping: EditableField[] = [];
  for (const f of EDITABLE_FIELDS) {
    const byMe = !same(base[f], mine[f]);
    const byThem = !same(base[f], t[f]);
    if (!same(mine[f], t[f])) rows.push({ field: f, mine: mine[f], theirs: t[f], changedByMe: byMe, changedByThem: byThem });
    if (byMe && byThem && !same(mine[f], t[f])) overlapping.push(f);
  }
  if (base.active !== t.active) rows.push({ field: 'active', mine: base.active, theirs: t.active, changedByMe: false, changedByThem: true });
  return { base, mine, theirs, rows, overlapping, mergeable: overlapping.length === 0 };
}

export type ConflictChoice = 'mine' | 'theirs' | 'merge';

export type Resolution =
  // PATCH these changes with If-Match: ifMatch (theirs' versionstamp)
  | { action: 'save'; changes: WorkerChanges; ifMatch: string | null; draft: Draft }
  // show theirs: the editor's base and draft become this record
  | { action: 'load'; worker: Worker; draft: Draft };

export function resolveConflict(c: Conflict, choice: ConflictChoice): Resolution {
  const t = c.theirs.record!;
  if (choice === 'theirs') return { action: 'load', worker: c.theirs, draft: draftOf(t) };
  let draft: Draft;
  if (choice === 'mine') {
    draft = { ...c.mine };
  } else {
    if (!c.mergeable) throw new Error(`cannot merge: both changed ${c.overlapping.join(', ')}`);
    draft = draftOf(t);
    for (const f of changedFields(c.base, c.mine)) (draft as Record<string, unknown>)[f] = c.mine[f];
  }
  const changes = changesBetween(t, draft);
  if (Object.keys(changes).length === 0) return { action: 'load', worker: c.theirs, draft };
  return { action: 'save', changes, ifMatch: c.theirs.versionstamp, draft };
}

export interface Followed {
  base: Worker; // the record the next save is checked against
  draft: Draft;
  changedUnderneath: boolean; // someone else changed what the user is editing
}

// A newer copy of the open worker arrived (a start/stop reply, a list refresh, a live
// event). Its versionstamp is adopted only when it cannot hide someone else's edit:
//   - same editable fields as base (only `active`/status moved): adopt, keep the draft;
//   - other fields, and the user has no unsaved edits: adopt it and show it;
//   - other fields under unsaved edits: keep base, so saving hits the version check and
//     the conflict dialog shows both versions.
export function followRemote(base: Worker, draft: Draft, incoming: Worker): Followed {
  if (!incoming.record || !base.record) return { base: incoming, draft, changedUnderneath: false };
  if (incoming.versionstamp === base.versionstamp) return { base: incoming, draft, changedUnderneath: false };
  const sameEditable = changedFields(base.record, draftOf(incoming.record)).length === 0;
  if (sameEditable) return { base: incoming, draft, changedUnderneath: false };
  if (!isDirty(base.record, draft)) return { base: incoming, draft: draftOf(incoming.record), changedUnderneath: false };
  const shown: Worker = { ...base, running: incoming.running, status: incoming.status, record: { ...base.record, active: incoming.record.active } };
  return { base: shown, draft, changedUnderneath: true };
}
