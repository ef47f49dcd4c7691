import { describe, expect, it } from 'vitest';
import { clockTime, formatCountdown, leaderView, leaseTone } from '../src/logic/leader';

describe('formatCountdown', () => {
  it('seconds, minutes, hours; expired at zero', () => {
    expect(formatCountdown(45_000)).toBe('45s');
    expect(formatCountdown(44_001)).toBe('45s'); // rounds up: never shows 0s while alive
    expect(formatCountdown(65_000)).toBe('1m 05s');
    expect(formatCountdown(3_725_000)).toBe('1h 02m');
    expect(formatCountdown(0)).toBe('expired');
    expect(formatCountdown(-5)).toBe('expired');
  });
});

describe('leaderView (guide: Leader Info Card)', () => {
  const info = { workerId: 'w', hasLeader: true, leader: 's-0001', term: 7, timestamp: 1000, renewedAt: 2000, expiresAt: 60_000, expiresIn: 45_000, isExpired: false };

  it('an active lease counts down on the browser clock from when the reply came', () => {
    const v0 = leaderView(info, 10_000, 10_000);
    expect(v0).toMatchObject({ state: 'active', statusText: '✅ Leader Active', leaderNode: 's-0001', term: 7, expiresInText: '45s', tone: 'green' });
    const v1 = leaderView(info, 10_000, 30_000);
    expect(v1.expiresInText).toBe('25s');
    expect(v1.tone).toBe('orange');
    expect(leaderView(info, 10_000, 45_000).tone).toBe('red'); // < 15 s: about to expire
  });
  it('expires when the countdown reaches zero or the node says so', () => {
    const v = leaderView(info, 10_000, 60_000);
    expect(v).toMatchObject({ state: 'expired', expiresInText: 'expired', tone: 'red', remainingMs: 0 });
    expect(leaderView({ ...info, isExpired: true, expiresIn: 0 }, 0, 0).state).toBe('expired');
  });
  it('no leader yet: waiting, with the last leader when one resigned', () => {
    const waiting = leaderView({ workerId: 'w', hasLeader: false, message: 'No leader elected yet' }, 0, 0);
    expect(waiting).toMatchObject({ state: 'waiting', statusText: '⏳ Waiting for election', leaderNode: null, note: 'No leader elected yet' });
    const resigned = leaderView({ workerId: 'w', hasLeader: false, message: 'No leader elected yet', lastLeader: 's-0002', lastTerm: 6 }, 0, 0);
    expect(resigned.note).toBe('last leader s-0002 (term 6) resigned');
  });
  it('tones follow the guide: > 30 s healthy, < 15 s about to expire', () => {
    expect(leaseTone(31_000)).toBe('green');
    expect(leaseTone(30_000)).toBe('orange');
    expect(leaseTone(14_999)).toBe('red');
  });
  it('clockTime', () => {
    expect(clockTime(null)).toBe('—');
    expect(clockTime(new Date(2026, 0, 1, 14, 30, 45).getTime())).toBe('14:30:45');
  });
});
