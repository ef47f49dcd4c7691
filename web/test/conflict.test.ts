import { describe, expect, it } from 'vitest';
import { changesBetween, describeConflict, draftOf, followRemote, isDirty, resolveConflict } from '../src/logic/conflict';
import type { Worker } from '../src/types';
import { record } from './fixtures';

const base = record({ script: 'v1', note: 'n1', priority: 'normal' });
const theirs = (over: Parameters<typeof record>[0]): Worker => {
  const r = { ...base, ...over };
  return { sid: r.sid, versionstamp: '00000000000000090000', source: 'local', running: false, status: 'stopped', record: r };
};

describe('saving sends only what changed', () => {
  it('changed fields only; an empty account clears it', () => {
    const draft = { ...draftOf(base), script: 'v2', accountId: '' };
    expect(changesBetween(base, draft)).toEqual({ script: 'v2' }); // '' and null are both "unset"
    const withAccount = record({ accountId: 'g-bhts' });
    expect(changesBetween(withAccount, { ...draftOf(withAccount), accountId: '' })).toEqual({ accountId: null });
    expect(isDirty(base, draftOf(base))).toBe(false);
    expect(isDirty(base, { ...draftOf(base), note: 'x' })).toBe(true);
  });
});

describe('conflict: both versions, the user picks', () => {
  const mine = { ...draftOf(base), script: 'mine' };

  it('lists the fields that differ and who changed them', () => {
    const c = describeConflict(base, mine, theirs({ script: 'theirs', active: true }));
    expect(c.rows.map((r) => [r.field, r.mine, r.theirs, r.changedByMe, r.changedByThem])).toEqual([
      ['script', 'mine', 'theirs', true, true],
      ['active', false, true, false, true],
    ]);
    expect(c.overlapping).toEqual(['script']);
    expect(c.mergeable).toBe(false);
  });
  it('"keep mine" saves my version against their versionstamp', () => {
    const c = describeConflict(base, mine, theirs({ script: 'theirs', note: 'their note' }));
    const r = resolveConflict(c, 'mine');
    expect(r).toEqual({ action: 'save', changes: { script: 'mine', note: 'n1' }, ifMatch: '00000000000000090000', draft: mine });
  });
  it('"keep theirs" loads their record and drops my edits', () => {
    const t = theirs({ script: 'theirs' });
    const r = resolveConflict(describeConflict(base, mine, t), 'theirs');
    expect(r.action).toBe('load');
    expect(r.draft.script).toBe('theirs');
    if (r.action === 'load') expect(r.worker).toBe(t);
  });
  it('"merge" applies my changed fields onto theirs when they changed other fields', () => {
    const c = describeConflict(base, mine, theirs({ note: 'their note', priority: 'high' }));
    expect(c.mergeable).toBe(true);
    const r = resolveConflict(c, 'merge');
    expect(r).toMatchObject({ action: 'save', changes: { script: 'mine' }, ifMatch: '00000000000000090000' });
    expect(r.draft).toMatchObject({ script: 'mine', note: 'their note', priority: 'high' });
  });
  it('merge is refused when both changed the same field', () => {
    const c = describeConflict(base, mine, theirs({ script: 'theirs' }));
    expect(() => resolveConflict(c, 'merge')).toThrow(/script/);
  });
  it('when theirs already equals mine there is nothing to save', () => {
    const c = describeConflict(base, mine, theirs({ script: 'mine' }));
    expect(c.mergeable).toBe(true);
    expect(resolveConflict(c, 'mine').action).toBe('load');
  });
});

describe('followRemote: newer copies of the open worker', () => {
  const b: Worker = { sid: base.sid, versionstamp: '00000000000000010000', source: 'local', running: false, status: 'stopped', record: base };
  const started: Worker = { ...b, versionstamp: '00000000000000020000', running: true, status: 'running', record: { ...base, active: true } };
  const edited: Worker = { ...b, versionstamp: '00000000000000030000', record: { ...base, script: 'someone else' } };

  it('a start only moves active: its versionstamp is adopted, the draft kept', () => {
    const draft = { ...draftOf(base), script: 'my edit' };
    const f = followRemote(b, draft, started);
    expect(f.base.versionstamp).toBe('00000000000000020000');
    expect(f.draft.script).toBe('my edit');
    expect(f.changedUnderneath).toBe(false);
  });
  it('an edit elsewhere with no unsaved edits here: shown', () => {
    const f = followRemote(b, draftOf(base), edited);
    expect(f.base).toBe(edited);
    expect(f.draft.script).toBe('someone else');
  });
  it('an edit elsewhere under unsaved edits: the old versionstamp stays, so saving conflicts', () => {
    const f = followRemote(b, { ...draftOf(base), script: 'my edit' }, { ...edited, record: { ...edited.record!, active: true } });
    expect(f.changedUnderneath).toBe(true);
    expect(f.base.versionstamp).toBe('00000000000000010000');
    expect(f.base.record!.active).toBe(true); // the status is still current
    expect(f.draft.script).toBe('my edit');
  });
});
