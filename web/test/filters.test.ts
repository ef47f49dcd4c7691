import { describe, expect, it } from 'vitest';
import { EMPTY_FILTER, filterWorkers, isFiltering, matchesSearch } from '../src/logic/filters';
import { worker } from './fixtures';

const grid = worker({ note: 'Grid trading strategy for BTC', executionMode: 'leader', priority: 'critical', scope: 'network', active: true }, 'running', true);
const monitor = worker({ note: 'Market Monitor', nid: 's-0002', executionMode: 'parallel', priority: 'normal', scope: 'local' });
const cleanup = worker({ note: 'Log Cleanup', executionMode: 'exclusive', assignedNode: 's-0003', priority: 'low', active: true }, 'waiting: exclusive to s-0003');
const all = [grid, monitor, cleanup];

describe('search by sid, note, node', () => {
  it('matches the note case-insensitively, every word', () => {
    expect(matchesSearch(grid, 'grid btc')).toBe(true);
    expect(matchesSearch(grid, 'GRID eth')).toBe(false);
  });
  it('matches a part of the sid', () => {
    expect(matchesSearch(monitor, monitor.sid.slice(-6))).toBe(true);
    expect(matchesSearch(grid, monitor.sid.slice(-6))).toBe(false);
  });
  it('matches the node that made it and the assigned node', () => {
    expect(filterWorkers(all, { ...EMPTY_FILTER, search: 's-0002' })).toEqual([monitor]);
    expect(filterWorkers(all, { ...EMPTY_FILTER, search: 's-0003' })).toEqual([cleanup]);
  });
  it('an empty search keeps everything, in order', () => {
    expect(filterWorkers(all, { ...EMPTY_FILTER, search: '   ' })).toEqual(all);
    expect(isFiltering({ ...EMPTY_FILTER, search: '  ' })).toBe(false);
  });
});

describe('filters', () => {
  it('by execution mode, priority, scope and status', () => {
    expect(filterWorkers(all, { ...EMPTY_FILTER, executionMode: 'leader' })).toEqual([grid]);
    expect(filterWorkers(all, { ...EMPTY_FILTER, priority: 'low' })).toEqual([cleanup]);
    expect(filterWorkers(all, { ...EMPTY_FILTER, scope: 'local' })).toEqual([monitor, cleanup]);
    expect(filterWorkers(all, { ...EMPTY_FILTER, status: 'running' })).toEqual([grid]);
    expect(filterWorkers(all, { ...EMPTY_FILTER, status: 'inactive' })).toEqual([monitor]);
    expect(filterWorkers(all, { ...EMPTY_FILTER, status: 'waiting' })).toEqual([cleanup]);
  });
  it('combine with AND', () => {
    expect(filterWorkers(all, { ...EMPTY_FILTER, scope: 'local', status: 'active' })).toEqual([cleanup]);
    expect(filterWorkers(all, { ...EMPTY_FILTER, priority: 'critical', search: 'monitor' })).toEqual([]);
  });
  it('stay fast at 10,000 workers', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => worker({ note: `bot-${i}`, priority: i % 2 ? 'high' : 'low' }));
    const t0 = performance.now();
    const found = filterWorkers(many, { ...EMPTY_FILTER, search: 'bot-99', priority: 'high' });
    expect(performance.now() - t0).toBeLessThan(200);
    expect(found.every((w) => w.record!.note.startsWith('bot-99') && w.record!.priority === 'high')).toBe(true);
    expect(found.length).toBe(56); // 99, 9901, 9903, …: odd ones of "bot-99*"
  });
});
