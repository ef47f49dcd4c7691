import { describe, expect, it } from 'vitest';
import { clusterTotals, formatAge, formatAgo, formatCount, formatErrorRate, nodeTotals, parseRate, rateBarWidth, rateTone, sortForAttention, workerHealthTone } from '../src/logic/stats';
import type { WorkerStats } from '../src/types';

function stats(over: Partial<WorkerStats>): WorkerStats {
  return {
    sid: 'a', started: 0, uptime: 0, executions: 0, errors: 0, networkErrors: 0, criticalErrors: 0, consecutiveErrors: 0,
    errorRate: '0%', lastError: null, lastErrorType: null, lastRun: null, lastRunAgo: null, scriptHash: '', isRunning: false, status: 'stopped', ...over,
  };
}

describe('error rate', () => {
  it('is formatted as the node does: two decimals, 0% without executions', () => {
    expect(formatErrorRate(12, 15_234)).toBe('0.08%');
    expect(formatErrorRate(5, 1234)).toBe('0.41%');
    expect(formatErrorRate(0, 0)).toBe('0%');
    expect(formatErrorRate(3, 3)).toBe('100.00%');
  });
  it('parses the node text back', () => {
    expect(parseRate('0.08%')).toBe(0.08);
    expect(parseRate('junk')).toBe(0);
    expect(parseRate(undefined)).toBe(0);
  });
  it('colours: < 5% green, 5–15% orange, > 15% red (guide: Success Indicators)', () => {
    expect(rateTone(4.99)).toBe('green');
    expect(rateTone(5)).toBe('orange');
    expect(rateTone(15)).toBe('orange');
    expect(rateTone(15.01)).toBe('red');
    expect(rateBarWidth(0.4)).toBeCloseTo(2);
    expect(rateBarWidth(50)).toBe(100);
  });
  it('per worker: green running well, orange some errors, red high rate, grey stopped', () => {
    expect(workerHealthTone(stats({ isRunning: true, executions: 100 }))).toBe('green');
    expect(workerHealthTone(stats({ isRunning: true, executions: 1234, errors: 5, errorRate: '0.41%' }))).toBe('orange');
    expect(workerHealthTone(stats({ executions: 10, errors: 5, errorRate: '50.00%' }))).toBe('red');
    expect(workerHealthTone(stats({}))).toBe('grey');
  });
});

describe('totals', () => {
  it('of one node', () => {
    const t = nodeTotals({ totalWorkers: 10, runningWorkers: 3, stoppedWorkers: 7, totalExecutions: 15_234, totalErrors: 12, totalNetworkErrors: 10, totalCriticalErrors: 2, timestamp: 0, workers: [] });
    expect(t).toMatchObject({ running: 3, total: 10, executions: 15_234, errors: 12, networkErrors: 10, criticalErrors: 2, errorRate: '0.08%', nodes: 1 });
  });
  it('of the cluster, with the unreachable nodes', () => {
    const t = clusterTotals({
      nodes: {},
      unreachable: ['s-0003'],
      totals: { nodes: 2, totalWorkers: 4, runningWorkers: 2, stoppedWorkers: 2, totalExecutions: 100, totalErrors: 1, totalNetworkErrors: 1, totalCriticalErrors: 0, errorRate: '1.00%' },
    });
    expect(t).toMatchObject({ nodes: 2, running: 2, errorRate: '1.00%', unreachable: ['s-0003'] });
  });
  it('workers needing attention come first', () => {
    const sorted = sortForAttention([
      stats({ sid: 'ok', executions: 1000 }),
      stats({ sid: 'rate', executions: 10, errors: 3, errorRate: '30.00%' }),
      stats({ sid: 'crit', executions: 10, errors: 1, criticalErrors: 1, errorRate: '10.00%' }),
    ]);
    expect(sorted.map((s) => s.sid)).toEqual(['crit', 'rate', 'ok']);
  });
  it('counts and ages', () => {
    expect(formatCount(15234)).toBe('15,234');
    expect(formatAgo(null)).toBe('never');
    expect(formatAgo(500)).toBe('just now');
    expect(formatAgo(12_000)).toBe('12s ago');
    expect(formatAgo(5 * 60_000)).toBe('5m ago');
    expect(formatAgo(3 * 3_600_000)).toBe('3h ago');
    expect(formatAgo(3 * 86_400_000)).toBe('3d ago');
    expect(formatAge(5 * 60_000)).toBe('5m');
  });
});
