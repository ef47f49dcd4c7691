// Server-Sent Events read through fetch (the log stream needs the Authorization header,
// which EventSource cannot send). SseParser follows the WHATWG event-stream rules: lines
// end in \n, \r\n or \r (also split across chunks), ':' starts a comment (the server's
// keep-alives), data lines join with \n, a blank line dispatches the event.
// The log stream's frames (shared/design/webfix-gateway.md) are `data: {json}`:
// {"type":"connected","sid"}, {"type":"log","content":"<line>\n"}, {"type":"complete"},
// {"type":"error","message"}.

export interface SseEvent {
  event: string; // "message" unless an `event:` field said otherwise
  data: string;
  id: string | null;
}

export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;
  private lastWasCr = false;

  // Feeds decoded text; returns the events completed by it.
  push(chunk: string): SseEvent[] {
    const out: SseEvent[] = [];
    let text = chunk;
    // A \r\n split across two chunks: the \n belongs to the line the \r ended.
    if (this.lastWasCr && text.startsWith('\n')) text = text.slice(1);
    this.lastWasCr = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (c !== '\n' && c !== '\r') continue;
      const line = this.buffer.slice(start, i);
      if (c === '\r') {
        if (i + 1 < this.buffer.length) {
          if (this.buffer[i + 1] === '\n') i++;
        } else {
          this.lastWasCr = true;
        }
      }
      start = i + 1;
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return null;
      }
      const ev: SseEvent = { event: this.event || 'message', data: this.data.join('\n'), id: this.id };
      this.data = [];
      this.event = '';
      return ev;
    }
    if (line.startsWith(':')) return null; // comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    return null;
  }
}

export type LogFrame =
  | { type: 'connected'; sid?: string }
  | { type: 'log'; lines: string[] }
  | { type: 'complete' }
  | { type: 'error'; message: string }
  | { type: 'unknown'; raw: string };

// One event's data → a frame. A log frame's content may end in a newline and may hold
// several lines; they come back as separate lines without newlines.
export function parseLogFrame(data: string): LogFrame {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { type: 'unknown', raw: data };
  }
  if (!value || typeof value !== 'object') return { type: 'unknown', raw: data };
  const v = value as Record<string, unknown>;
  switch (v.type) {
    case 'connected':
      return { type: 'connected', sid: typeof v.sid === 'string' ? v.sid : undefined };
    case 'log': {
      const content = typeof v.content === 'string' ? v.content : typeof v.line === 'string' ? v.line : '';
      const lines = content.replace(/\r?\n$/, '').split(/\r?\n/);
      return { type: 'log', lines };
    }
    case 'complete':
      return { type: 'complete' };
    case 'error':
      return { type: 'error', message: typeof v.message === 'string' ? v.message : 'log stream error' };
    default:
      return { type: 'unknown', raw: data };
  }
}

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'other';

// The level a line was logged at, from its "[ERROR]" / "[WARN]" / "[INFO]" / "[DEBUG]"
// tag (runtime log format: "[2026-11-29T02:05:30.123Z] [INFO] message").
export function logLevel(line: string): LogLevel {
  const m = /\[(ERROR|WARN|WARNING|INFO|DEBUG|TRACE)\]/.exec(line);
  if (!m) return 'other';
  switch (m[1]) {
    case 'ERROR':
      return 'error';
    case 'WARN':
    case 'WARNING':
      return 'warn';
    case 'INFO':
      return 'info';
    default:
      return 'debug';
  }
}
