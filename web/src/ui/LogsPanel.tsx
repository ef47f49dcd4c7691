// Live logs of the open worker: GET /api/v1/workers/{sid}/logs?follow=1 as Server-Sent
// Events read through fetch (the bearer token goes in the Authorization header). The
// node sends the recent lines first, then each new line as it is written. Follow keeps
// the newest line in view; Pause holds new lines back (counted) until Resume; lines are
// coloured by level; Download saves what is shown. A node without the stream is read
// with logs.tail and its cursor every REFRESH.logsPollMs instead.
import { useEffect, useRef, useState } from 'preact/hooks';
import { Api, ApiError } from '../api';
import { REFRESH } from '../logic/live';
import { logLevel, parseLogFrame, SseParser, type LogLevel } from '../logic/sse';

const MAX_LINES = 2000;

interface Line {
  n: number;
  text: string;
  level: LogLevel;
}

type StreamState = 'connecting' | 'live' | 'polling' | 'ended' | 'error';

export function LogsPanel(props: { api: Api; sid: string }) {
  const [lines, setLines] = useState<Line[]>([]);
  const [state, setState] = useState<StreamState>('connecting');
  const [detail, setDetail] = useState<string | null>(null);
  const [follow, setFollow] = useState(true);
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState(0);
  const [open, setOpen] = useState(true);
  const body = useRef<HTMLDivElement>(null);
  const buffer = useRef<string[]>([]); // arrived, not yet shown
  const pausedRef = useRef(false);
  const counter = useRef(0);
  const flushQueued = useRef(false);
  pausedRef.current = paused;

  const flush = () => {
    flushQueued.current = false;
    if (pausedRef.current) return setHeld(buffer.current.length);
    const incoming = buffer.current;
    buffer.current = [];
    setHeld(0);
    if (incoming.length === 0) return;
    setLines((cur) => {
      const added = incoming.map((text) => ({ n: ++counter.current, text, level: logLevel(text) }));
      const next = cur.concat(added);
      return next.length > MAX_LINES ? next.slice(next.length - MAX_LINES) : next;
    });
  };
  const push = (texts: string[]) => {
    buffer.current.push(...texts);
    if (!flushQueued.current) {
      flushQueued.current = true;
      requestAnimationFrame(flush);
    }
  };
  const reset = () => {
    buffer.current = [];
    setLines([]);
  };

  useEffect(() => {
    const abort = new AbortController();
    let retry: number | undefined;
    let attempt = 0;
    reset();

    const poll = async () => {
      setState('polling');
      let cursor: string | undefined;
      while (!abort.signal.aborted) {
        try {
          const tail = await props.api.logsTail(props.sid, 200, cursor);
          cursor = tail.cursor;
          push(tail.lines);
          if (tail.more) continue;
        } catch (e) {
          setDetail(e instanceof Error ? e.message : String(e));
        }
        await new Promise((r) => (retry = window.setTimeout(r, REFRESH.logsPollMs)));
      }
    };

    const stream = async (): Promise<void> => {
      setState('connecting');
      let completed = false;
      try {
        const res = await props.api.followLogs(props.sid, abort.signal);
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const ev of parser.push(value)) {
            const frame = parseLogFrame(ev.data);
            if (frame.type === 'connected') {
              if (attempt > 0) reset(); // the backlog comes again
              attempt = 0;
              setState('live');
              setDetail(null);
            } else if (frame.type === 'log') push(frame.lines);
            else if (frame.type === 'complete') completed = true;
            else if (frame.type === 'error') setDetail(frame.message);
          }
        }
      } catch (e) {
        if (abort.signal.aborted) return;
        // 400: this node's logs route does not know `follow` yet: read the tail instead.
        if (e instanceof ApiError && e.status === 400) return poll();
        setDetail(e instanceof Error ? e.message : String(e));
      }
      if (abort.signal.aborted) return;
      setState(completed ? 'ended' : 'error');
      if (!completed) {
        // The stream ended without its end event (node restart, network): reconnect.
        const delay = Math.min(30_000, 1000 * 2 ** attempt++);
        retry = window.setTimeout(() => void stream(), delay);
      }
    };

    void stream();
    return () => {
      abort.abort();
      window.clearTimeout(retry);
    };
  }, [props.sid]);

  // Follow: keep the newest line in view.
  useEffect(() => {
    if (follow && body.current) body.current.scrollTop = body.current.scrollHeight;
  }, [lines, follow, open]);

  useEffect(() => {
    if (!paused) flush();
  }, [paused]);

  function download() {
    const text = lines.map((l) => l.text).join('\n') + '\n';
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `${props.sid}.log`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  const stateText: Record<StreamState, string> = {
    connecting: 'connecting…',
    live: '● live',
    polling: `polling every ${REFRESH.logsPollMs / 1000}s`,
    ended: 'stream ended',
    error: 'disconnected — reconnecting',
  };
  return (
    <div class={`logs${open ? '' : ' collapsed'}`} data-testid="logs-panel" data-state={state}>
      <div class="logs-bar">
        <button class="ghost" onClick={() => setOpen(!open)} aria-expanded={open} data-testid="logs-toggle">
          {open ? '▾' : '▸'} Logs
        </button>
        <span class="muted" data-testid="logs-state">
          {stateText[state]}
        </span>
        {detail && <span class="error-text ellipsis">{detail}</span>}
        <span class="grow" />
        <label class="row" title="Keep the newest line in view">
          <input type="checkbox" data-testid="logs-follow" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> Follow
        </label>
        <button data-testid="logs-pause" aria-pressed={paused} onClick={() => setPaused(!paused)}>
          {paused ? `▶ Resume${held ? ` (${held} new)` : ''}` : '⏸ Pause'}
        </button>
        <button data-testid="logs-clear" onClick={reset}>
          Clear
        </button>
        <button data-testid="logs-download" onClick={download} disabled={lines.length === 0}>
          ⬇ Download
        </button>
      </div>
      {open && (
        <div class="logs-body" ref={body} data-testid="logs-lines" onScroll={(e) => {
          const el = e.target as HTMLDivElement;
          // Scrolling up stops following; back at the bottom follows again.
          const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
          if (atBottom !== follow) setFollow(atBottom);
        }}>
          {lines.length === 0 && <div class="muted">No log lines yet.</div>}
          {lines.map((l) => (
            <div key={l.n} class={`log-${l.level}`} data-testid="log-line" data-level={l.level}>
              {l.text}
            </div>
          ))}
        </div>
      )}
    </div>
  );
}
