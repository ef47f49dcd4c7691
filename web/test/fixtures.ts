// Workers and replies shaped like the node's (docs/admin-api.md), for the unit tests.
import type { Worker, WorkerRecord } from '../src/types';

let n = 0;
export function record(over: Partial<WorkerRecord> = {}): WorkerRecord {
  n += 1;
  const sid = over.sid ?? `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  return {
    sid,
    nid: 's-0001',
    active: false,
    mode: 'loop',
    note: `worker ${n}`,
    script: "logger.info('hi');",
    dependencies: ['gliesereum'],
    version: '1.19.2',
    timestamp: 1_700_000_000_000,
    scope: 'local',
    executionMode: 'parallel',
    priority: 'normal',
    accountId: null,
    assignedNode: null,
    ...over,
  };
}

export function worker(over: Partial<WorkerRecord> = {}, status = 'stopped', running = false): Worker {
  const r = record(over);
  return { sid: r.sid, versionstamp: '00000000000000010000', source: r.scope, running, status, record: r };
}
