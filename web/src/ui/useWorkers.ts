// The worker list and how it stays current: one GET /api/v1/workers at a time (never a
// request per row), refreshed when the WebSocket's runtime channel says something
// changed (coalesced: a burst of events — stop-all — is one request), or every
// REFRESH.workersMs when there is no live connection.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { Api, ApiError } from '../api';
import { REFRESH, type RuntimeEvent } from '../logic/live';
import type { Worker } from '../types';
import { LiveConnection, type LiveState } from './liveConnection';

export interface WorkersModel {
  workers: Worker[];
  loaded: boolean;
  error: string | null;
  live: LiveState;
  refresh: () => Promise<void>;
  upsert: (w: Worker) => void;
  remove: (sid: string) => void;
  retryLive: () => void;
}

const COALESCE_MS = 300;

export function useWorkers(api: Api, onEvent: (e: RuntimeEvent) => void, onUnauthorized: () => void): WorkersModel {
  const [workers, setWorkers] = useState<Worker[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState<LiveState>({ kind: 'connecting' });
  const inFlight = useRef<Promise<void> | null>(null);
  const again = useRef(false);
  const timer = useRef<number | undefined>(undefined);
  const connection = useRef<LiveConnection | null>(null);
  const eventRef = useRef(onEvent);
  eventRef.current = onEvent;

  const refresh = useCallback((): Promise<void> => {
    if (inFlight.current) {
      again.current = true; // one more after the current one, not one per caller
      return inFlight.current;
    }
    const run = (async () => {
      try {
        const list = await api.listWorkers();
        setWorkers(list);
        setError(null);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return onUnauthorized();
        setError(e instanceof Error ? e.message : String(e));
      } finally {
        setLoaded(true);
        inFlight.current = null;
        if (again.current) {
          again.current = false;
          void refresh();
        }
      }
    })();
    inFlight.current = run;
    return run;
  }, [api]);

  const scheduleRefresh = useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = window.setTimeout(() => {
      timer.current = undefined;
      void refresh();
    }, COALESCE_MS);
  }, [refresh]);

  useEffect(() => {
    void refresh();
    const c = new LiveConnection(
      api,
      (e) => {
        if (e.event === 'deleted') setWorkers((list) => list.filter((w) => w.sid !== e.sid));
        else scheduleRefresh();
        eventRef.current(e);
      },
      (s) => {
        setLive((prev) => {
          // Back after a loss: catch up on what was missed.
          if (s.kind === 'open' && prev.kind === 'lost') scheduleRefresh();
          return s;
        });
      },
      onUnauthorized,
    );
    connection.current = c;
    c.start();
    return () => {
      c.stop();
      window.clearTimeout(timer.current);
    };
  }, [api]);

  // Polling only while nothing is pushed.
  useEffect(() => {
    if (live.kind === 'open' || live.kind === 'connecting') return;
    const id = window.setInterval(() => {
      if (document.visibilityState !== 'hidden') void refresh();
    }, REFRESH.workersMs);
    return () => window.clearInterval(id);
  }, [live.kind, refresh]);

  const upsert = useCallback((w: Worker) => {
    setWorkers((list) => {
      const i = list.findIndex((x) => x.sid === w.sid);
      if (i < 0) return [...list, w].sort((a, b) => a.sid.localeCompare(b.sid));
      const copy = list.slice();
      copy[i] = w;
      return copy;
    });
  }, []);
  const remove = useCallback((sid: string) => setWorkers((list) => list.filter((w) => w.sid !== sid)), []);

  return { workers, loaded, error, live, refresh, upsert, remove, retryLive: () => connection.current?.retryNow() };
}
