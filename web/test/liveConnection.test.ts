// The WebSocket client (src/ui/liveConnection.ts) against a scripted socket: session
// first, subscribe on open, events passed on, a lost connection retried with a delay,
// no session route → polling, a refused token → sign-in.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Api } from '../src/api';
import { LiveConnection, type LiveState } from '../src/ui/liveConnection';

class FakeSocket {
  static all: FakeSocket[] = [];
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((m: { data: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  closed = false;
  constructor(
    readonly url: string,
    readonly protocol: string,
  ) {
    FakeSocket.all.push(this);
  }
  send(text: string) {
    this.sent.push(text);
  }
  close() {
    this.closed = true;
  }
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
  const g = globalThis as Record<string, unknown>;
  g.window = globalThis;
  g.location = { protocol: 'http:', host: '127.0.0.1:8088' };
  g.WebSocket = FakeSocket;
});
afterEach(() => vi.useRealTimers());

function rig(sessionReply: () => Response) {
  const states: LiveState[] = [];
  const events: unknown[] = [];
  let unauthorized = 0;
  const api = new Api('tok', '', async () => sessionReply());
  const c = new LiveConnection(api, (e) => events.push(e), (s) => states.push(s), () => unauthorized++);
  return { c, states, events, unauthorized: () => unauthorized };
}

describe('LiveConnection', () => {
  it('opens the socket with the session, subscribes to runtime, passes events on', async () => {
    const r = rig(() => json(200, { session: 's1' }));
    r.c.start();
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1));
    const s = FakeSocket.all[0];
    expect(s.url).toBe('ws://127.0.0.1:8088/ws?session=s1');
    expect(s.protocol).toBe('webfix');
    s.onopen!();
    expect(JSON.parse(s.sent[0])).toEqual({ webfix: '1.0', method: 'subscribe', channel: 'runtime' });
    expect(r.states.at(-1)).toEqual({ kind: 'open' });
    s.onmessage!({ data: JSON.stringify({ webfix: '1.0', method: 'publish', value: { channel: 'runtime', raw: { event: 'stopped', sid: 'w1', node: 's-0001' } } }) });
    s.onmessage!({ data: JSON.stringify({ webfix: '1.0', method: 'publish', value: { channel: 'sonar', raw: {} } }) });
    expect(r.events).toEqual([{ event: 'stopped', sid: 'w1', node: 's-0001', term: null, detail: null, timestamp: null }]);
    r.c.stop();
  });

  it('a lost connection is reported with its retry time and reconnects after the delay', async () => {
    const r = rig(() => json(200, { session: 's1' }));
    r.c.start();
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1));
    FakeSocket.all[0].onopen!();
    FakeSocket.all[0].onclose!({ code: 1006, reason: '' });
    const lost = r.states.at(-1)!;
    expect(lost.kind).toBe('lost');
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(FakeSocket.all).toHaveLength(1); // not before the delay
    await vi.advanceTimersByTimeAsync(2);
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(2));
    r.c.stop();
  });

  it('a session error message closes the socket for a fresh session', async () => {
    const r = rig(() => json(200, { session: 's1' }));
    r.c.start();
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1));
    FakeSocket.all[0].onmessage!({ data: '{"webfix":"1.0","error":{"code":"unauthorized","message":"session expired"}}' });
    expect(FakeSocket.all[0].closed).toBe(true);
    r.c.stop();
  });

  it('no session route: polling ("unavailable"), no socket', async () => {
    const r = rig(() => json(404, { error: { code: 'not_found', message: 'no route for POST /api/v1/session' } }));
    r.c.start();
    await vi.waitFor(() => expect(r.states.at(-1)).toEqual({ kind: 'unavailable' }));
    expect(FakeSocket.all).toHaveLength(0);
  });

  it('a refused token signs out', async () => {
    const r = rig(() => json(401, { error: { code: 'unauthorized', message: 'no' } }));
    r.c.start();
    await vi.waitFor(() => expect(r.unauthorized()).toBe(1));
    expect(FakeSocket.all).toHaveLength(0);
  });
});
