import { describe, expect, it } from 'vitest';
import { SseParser, logLevel, parseLogFrame } from '../src/logic/sse';

describe('SseParser', () => {
  it('parses data frames, skipping keep-alive comments', () => {
    const p = new SseParser();
    const events = p.push(': keep-alive\n\ndata: {"type":"connected","sid":"s"}\n\ndata: {"type":"log","content":"a\\n"}\n\n');
    expect(events.map((e) => e.data)).toEqual(['{"type":"connected","sid":"s"}', '{"type":"log","content":"a\\n"}']);
  });
  it('joins a frame split across chunks at any byte, with \\r\\n line ends split too', () => {
    const text = 'data: {"type":"log",\r\ndata: "content":"x"}\r\n\r\nevent: end\r\ndata: {"type":"complete"}\r\n\r\n';
    for (let cut = 1; cut < text.length; cut++) {
      const p = new SseParser();
      const events = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect(events.map((e) => e.data)).toEqual(['{"type":"log",\n"content":"x"}', '{"type":"complete"}']);
      expect(events[1].event).toBe('end');
    }
  });
  it('handles bare \\r line ends, an id and a field without a value', () => {
    const p = new SseParser();
    const events = p.push('id: 7\rdata\rdata: x\r\r');
    expect(events).toEqual([{ event: 'message', data: '\nx', id: '7' }]);
  });
  it('does not dispatch an event before its blank line', () => {
    const p = new SseParser();
    expect(p.push('data: {"type":"complete"}\n')).toEqual([]);
    expect(p.push('\n')).toHaveLength(1);
  });
});

describe('log frames', () => {
  it('connected, log (one or several lines), complete, error', () => {
    expect(parseLogFrame('{"type":"connected","sid":"abc"}')).toEqual({ type: 'connected', sid: 'abc' });
    expect(parseLogFrame('{"type":"log","content":"[2026-11-29T02:05:30.123Z] [INFO] hi\\n"}')).toEqual({
      type: 'log',
      lines: ['[2026-11-29T02:05:30.123Z] [INFO] hi'],
    });
    expect(parseLogFrame('{"type":"log","content":"a\\nb\\n"}')).toEqual({ type: 'log', lines: ['a', 'b'] });
    expect(parseLogFrame('{"type":"complete"}')).toEqual({ type: 'complete' });
    expect(parseLogFrame('{"type":"error","message":"node stopping"}')).toEqual({ type: 'error', message: 'node stopping' });
  });
  it('anything else is unknown, never a throw', () => {
    expect(parseLogFrame('not json').type).toBe('unknown');
    expect(parseLogFrame('42').type).toBe('unknown');
    expect(parseLogFrame('{"type":"other"}').type).toBe('unknown');
  });
  it('levels from the [LEVEL] tag', () => {
    expect(logLevel('[2026-11-29T02:05:30.123Z] [ERROR] boom')).toBe('error');
    expect(logLevel('[t] [WARN] careful')).toBe('warn');
    expect(logLevel('[t] [INFO] ok')).toBe('info');
    expect(logLevel('[t] [DEBUG] detail')).toBe('debug');
    expect(logLevel('plain line')).toBe('other');
  });
});
