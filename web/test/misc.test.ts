import { describe, expect, it } from 'vitest';
import { parseScriptError } from '../src/logic/scriptErrors';
import { scrollToRow, virtualWindow } from '../src/logic/virtual';
import { parseSocketMessage, reconnectDelay, socketUrl, SUBSCRIBE_RUNTIME } from '../src/logic/live';

describe('script errors from the node become markers', () => {
  it('reads the line from "script: … (line N)", with or without a field prefix', () => {
    expect(parseScriptError("script: SyntaxError: Unexpected token '}' (line 3)")).toEqual({ line: 3, column: null, message: "SyntaxError: Unexpected token '}'" });
    expect(parseScriptError('changes.script: SyntaxError: missing ) after argument list (line 12)')?.line).toBe(12);
    expect(parseScriptError('overrides.script: SyntaxError: x (line 2, column 5)')).toEqual({ line: 2, column: 5, message: 'SyntaxError: x' });
    expect(parseScriptError('script: must be at most 1MB')).toEqual({ line: 1, column: null, message: 'must be at most 1MB' });
    expect(parseScriptError('changes.priority: "urgent" is not one of …')).toBeNull();
  });
});

describe('virtual list window', () => {
  it('renders only the rows in view plus overscan', () => {
    const w = virtualWindow(1000, 100, 5000, 800, 5);
    expect(w).toEqual({ start: 45, end: 64, offsetTop: 4500, totalHeight: 100_000 });
    expect(w.end - w.start).toBeLessThan(30);
  });
  it('clamps at both ends', () => {
    expect(virtualWindow(1000, 100, 0, 800, 5)).toMatchObject({ start: 0, end: 14 });
    expect(virtualWindow(1000, 100, 99_200, 800, 5)).toMatchObject({ start: 987, end: 1000 });
    expect(virtualWindow(0, 100, 0, 800)).toEqual({ start: 0, end: 0, offsetTop: 0, totalHeight: 0 });
    expect(virtualWindow(3, 100, -50, 800)).toMatchObject({ start: 0, end: 3 });
  });
  it('scrolls a row into view only when needed', () => {
    expect(scrollToRow(0, 100, 500, 400)).toBe(0);
    expect(scrollToRow(10, 100, 0, 400)).toBe(700);
    expect(scrollToRow(6, 100, 500, 400)).toBe(500);
  });
});

describe('WebSocket runtime channel', () => {
  it('the URL follows the page scheme and carries the session', () => {
    expect(socketUrl({ protocol: 'http:', host: '127.0.0.1:8088' }, 'a b')).toBe('ws://127.0.0.1:8088/ws?session=a%20b');
    expect(socketUrl({ protocol: 'https:', host: 'node:443' }, 's')).toBe('wss://node:443/ws?session=s');
    expect(JSON.parse(SUBSCRIBE_RUNTIME)).toEqual({ webfix: '1.0', method: 'subscribe', channel: 'runtime' });
  });
  it('reads runtime events and ignores the rest', () => {
    const msg = { webfix: '1.0', method: 'publish', value: { channel: 'runtime', raw: { event: 'leader_acquired', sid: 'w1', node: 's-0002', term: 8, detail: null, timestamp: 5 } } };
    expect(parseSocketMessage(JSON.stringify(msg))).toEqual({ event: 'leader_acquired', sid: 'w1', node: 's-0002', term: 8, detail: null, timestamp: 5 });
    expect(parseSocketMessage(JSON.stringify({ ...msg, value: { channel: 'sonar', raw: {} } }))).toBeNull();
    expect(parseSocketMessage(JSON.stringify({ ...msg, value: { channel: 'runtime', raw: { event: 'exploded', sid: 'w' } } }))).toBeNull();
    expect(parseSocketMessage('{"webfix":"1.0","error":{"code":"unauthorized","message":"session expired"}}')).toEqual({ error: 'session expired' });
    expect(parseSocketMessage('garbage')).toBeNull();
  });
  it('reconnects with growing delays up to 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map(reconnectDelay)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});
