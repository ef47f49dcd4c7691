// The WebSocket to the node's runtime channel, kept open: a session from
// POST /api/v1/session, then GET /ws?session=… (subprotocol "webfix"), then
// subscribe. A lost connection reports 'lost' (the app shows a banner and polls) and is
// retried with growing delays; a node without sessions reports 'unavailable' (the app
// polls at the guide's refresh intervals instead).
import { Api, ApiError } from '../api';
import { parseSocketMessage, reconnectDelay, socketUrl, SUBSCRIBE_RUNTIME, type RuntimeEvent } from '../logic/live';

export type LiveState =
  | { kind: 'connecting' }
  | { kind: 'open' }
  | { kind: 'lost'; retryAt: number; reason: string }
  | { kind: 'unavailable' }; // this node offers no WebSocket session: polling

export class LiveConnection {
  private socket: WebSocket | null = null;
  private timer: number | undefined;
  private attempt = 0;
  private stopped = false;

  constructor(
    private readonly api: Api,
    private readonly onEvent: (e: RuntimeEvent) => void,
    private readonly onState: (s: LiveState) => void,
    private readonly onUnauthorized: () => void,
  ) {}

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = null;
      s.onerror = null;
      s.onmessage = null;
      s.close(1000, 'bye');
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.onState({ kind: 'connecting' });
    let session: string | null;
    try {
      session = await this.api.openSession();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return this.onUnauthorized();
      return this.lost(e instanceof Error ? e.message : String(e));
    }
    if (this.stopped) return;
    if (session === null) return this.onState({ kind: 'unavailable' });
    let socket: WebSocket;
    try {
      socket = new WebSocket(socketUrl(window.location, session), 'webfix');
    } catch (e) {
      return this.lost(String(e));
    }
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      socket.send(SUBSCRIBE_RUNTIME);
      this.onState({ kind: 'open' });
    };
    socket.onmessage = (m) => {
      const parsed = parseSocketMessage(typeof m.data === 'string' ? m.data : '');
      if (!parsed) return;
      if ('error' in parsed) {
        socket.close(4000, 'error'); // a fresh session on reconnect
        return;
      }
      this.onEvent(parsed);
    };
    socket.onerror = () => {
      /* onclose follows */
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.lost(ev.reason || `connection closed (${ev.code})`);
    };
  }

  private lost(reason: string): void {
    if (this.stopped) return;
    const delay = reconnectDelay(this.attempt++);
    this.onState({ kind: 'lost', retryAt: Date.now() + delay, reason });
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.connect(), delay);
  }

  // "Reconnect now" from the banner.
  retryNow(): void {
    window.clearTimeout(this.timer);
    this.attempt = 0;
    void this.connect();
  }
}
