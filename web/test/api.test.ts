import { describe, expect, it } from 'vitest';
import { Api, ApiError, etagToVersionstamp, signInMessage } from '../src/api';

type Call = { url: string; init?: RequestInit };

function fakeFetch(reply: (call: Call) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const f = async (url: string, init?: RequestInit) => {
    calls.push({ url, init });
    return reply({ url, init });
  };
  return { calls, f };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

describe('Api', () => {
  it('sends the bearer token and reads the ETag as a versionstamp', async () => {
    const { calls, f } = fakeFetch(() => json(200, { sid: 'w' }, { ETag: '"00000000000000070000"' }));
    const api = new Api('tok', '', f);
    const r = await api.getWorker('w');
    expect(r.etag).toBe('00000000000000070000');
    expect((calls[0].init!.headers as Record<string, string>).Authorization).toBe('Bearer tok');
  });
  it('PATCH carries If-Match with the quoted versionstamp and a JSON body', async () => {
    const { calls, f } = fakeFetch(() => json(200, {}));
    await new Api('t', '', f).updateWorker('w', { script: 'x' }, '00000000000000070000');
    const headers = calls[0].init!.headers as Record<string, string>;
    expect(calls[0].init!.method).toBe('PATCH');
    expect(headers['If-Match']).toBe('"00000000000000070000"');
    expect(headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(String(calls[0].init!.body))).toEqual({ script: 'x' });
  });
  it('errors carry status, code and the admin message; 412 and 409 are conflicts', async () => {
    const { f } = fakeFetch(() => json(412, { error: { code: 'conflict', message: 'versionstamp: the record changed' } }));
    const err = await new Api('t', '', f).updateWorker('w', {}, 'v').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 412, code: 'conflict', message: 'versionstamp: the record changed', conflict: true });
  });
  it('a network failure is status 0', async () => {
    const err = await new Api('t', '', async () => { throw new TypeError('Failed to fetch'); }).listWorkers().catch((e) => e);
    expect(err).toMatchObject({ status: 0, code: 'network' });
  });
  it('sign-in messages: wrong token, unreachable node', () => {
    expect(signInMessage(new ApiError(401, 'unauthorized', 'x'))).toMatch(/^Wrong admin token/);
    expect(signInMessage(new ApiError(0, 'network', 'x'))).toMatch(/Cannot reach/);
  });
  it('openSession: the session, or null when the node has no such route', async () => {
    expect(await new Api('t', '', async () => json(200, { session: 'abc' })).openSession()).toBe('abc');
    expect(await new Api('t', '', async () => json(404, { error: { code: 'not_found', message: 'no route' } })).openSession()).toBeNull();
    await expect(new Api('t', '', async () => json(401, { error: { code: 'unauthorized', message: 'no' } })).openSession()).rejects.toMatchObject({ status: 401 });
  });
  it('etag parsing', () => {
    expect(etagToVersionstamp('W/"abc"')).toBe('abc');
    expect(etagToVersionstamp(null)).toBeNull();
  });
});
