import { describe, expect, it } from 'vitest';
import { statusClasses, statusView } from '../src/logic/status';
import { worker } from './fixtures';

describe('statusView (guide: Worker Card Indicators)', () => {
  it('an active worker running here: green pulse, ACTIVE badge', () => {
    const v = statusView(worker({ active: true }, 'running', true));
    expect(v).toMatchObject({ badge: 'ACTIVE', badgeTone: 'green', tone: 'green', pulse: true });
  });
  it('an inactive worker: INACTIVE red badge, grey dot, no pulse', () => {
    const v = statusView(worker({ active: false }, 'stopped'));
    expect(v).toMatchObject({ badge: 'INACTIVE', badgeTone: 'red', tone: 'grey', pulse: false });
  });
  it('backing off is orange, failed red, waiting blue, starting yellow, finished grey', () => {
    expect(statusView(worker({ active: true }, 'backing-off')).tone).toBe('orange');
    expect(statusView(worker({ active: false }, 'failed')).tone).toBe('red');
    expect(statusView(worker({ active: true }, 'waiting: another node holds the lease')).tone).toBe('blue');
    expect(statusView(worker({ active: true }, 'starting')).tone).toBe('yellow');
    expect(statusView(worker({ active: false, mode: 'single' }, 'finished')).tone).toBe('grey');
  });
  it('the crown marks leader mode', () => {
    expect(statusView(worker({ executionMode: 'leader' })).leader).toBe(true);
    expect(statusView(worker({ executionMode: 'parallel' })).leader).toBe(false);
  });
  it('an unreadable record is INVALID and red, with its reason', () => {
    const v = statusView({ sid: 'x', versionstamp: null, source: null, running: false, status: 'invalid', error: 'bad JSON', record: null });
    expect(v).toMatchObject({ badge: 'INVALID', tone: 'red', label: 'invalid: bad JSON' });
  });
  it('status classes for the filter', () => {
    expect(statusClasses(worker({ active: true }, 'running', true))).toEqual(['active', 'running']);
    expect(statusClasses(worker({ active: true }, 'waiting: lease elsewhere'))).toEqual(['active', 'waiting']);
    expect(statusClasses(worker({ active: false }, 'failed'))).toEqual(['inactive', 'failed']);
  });
});
