// The AMI worker script API (docs/script-api.md; defined in runtime/js/prelude.js), as
// TypeScript declarations for the editor's completion and hover docs. A script is the
// body of an async function: top-level `await` and `return` are fine.
// web/test/scriptApi.test.ts checks that every name docs/script-api.md documents is here.

// ---- Logging ---------------------------------------------------------------------

/** The worker's logger. Arguments are joined with spaces; objects are written as JSON,
 * errors as `Name: message`. Each line `[time] [LEVEL] message` goes to the worker's log
 * file, its ring of recent lines (the editor's log panel) and the node log. */
interface AmiLogger {
  /** Logs at DEBUG level. */
  debug(message?: unknown, ...data: unknown[]): void;
  /** Logs at INFO level. */
  info(message?: unknown, ...data: unknown[]): void;
  /** Logs at WARN level. */
  warn(message?: unknown, ...data: unknown[]): void;
  /** Logs at ERROR level. */
  error(message?: unknown, ...data: unknown[]): void;
}
/** The worker's logger: `logger.info('Grid start')`. */
declare const logger: AmiLogger;

/** Writes to the same logger as `logger` (`log` = info). */
declare const console: {
  log(message?: unknown, ...data: unknown[]): void;
  info(message?: unknown, ...data: unknown[]): void;
  debug(message?: unknown, ...data: unknown[]): void;
  warn(message?: unknown, ...data: unknown[]): void;
  error(message?: unknown, ...data: unknown[]): void;
};

// ---- Lifecycle -------------------------------------------------------------------

interface AmiAbortSignal {
  /** True once the worker is stopped or reloaded. */
  readonly aborted: boolean;
  /** Why it aborted. */
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: (event: { type: 'abort' }) => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: (event: { type: 'abort' }) => void): void;
  /** Throws `reason` when aborted. */
  throwIfAborted(): void;
  onabort: ((event: { type: 'abort' }) => void) | null;
}
/** Aborts when the worker is stopped or reloaded. Scripts can listen to it, not abort it. */
declare const signal: AmiAbortSignal;
/** `signal.aborted`: true when the worker should stop now. */
declare function shouldStop(): boolean;

/** Calls `handler` after `ms` milliseconds. */
declare function setTimeout(handler: (...args: any[]) => void, ms?: number, ...args: any[]): number;
/** Calls `handler` every `ms` milliseconds. */
declare function setInterval(handler: (...args: any[]) => void, ms?: number, ...args: any[]): number;
declare function clearTimeout(id: number | undefined): void;
declare function clearInterval(id: number | undefined): void;

declare class AbortController {
  constructor();
  readonly signal: AbortSignal;
  abort(reason?: unknown): void;
}
declare class AbortSignal implements AmiAbortSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: (event: { type: 'abort' }) => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: (event: { type: 'abort' }) => void): void;
  throwIfAborted(): void;
  onabort: ((event: { type: 'abort' }) => void) | null;
  /** A signal that aborts after `ms` milliseconds (with a `TimeoutError`). */
  static timeout(ms: number): AbortSignal;
  static abort(reason?: unknown): AbortSignal;
}
/** `Stels.sleep` rejects with a DOMException named `AbortError` when the worker stops. */
declare class DOMException extends Error {
  constructor(message?: string, name?: string);
  /** "AbortError" when the worker stops, "TimeoutError" for AbortSignal.timeout. */
  readonly name: 'AbortError' | 'TimeoutError' | (string & {});
}

// ---- Facts -----------------------------------------------------------------------

type AmiMemberState = 'self' | 'up' | 'suspect' | 'down' | 'unknown';

/** The worker's configuration (frozen). */
interface AmiConfig {
  /** The cluster name, or "local". */
  readonly network: string;
  readonly title: string;
  /** The node that created the worker record. */
  readonly nid: string;
  /** The worker id (a UUID). */
  readonly sid: string;
  readonly accountId: string | null;
  readonly executionMode: 'parallel' | 'leader' | 'exclusive';
  readonly priority: 'critical' | 'high' | 'normal' | 'low';
  readonly mode: 'loop' | 'single';
  readonly scope: 'local' | 'network';
  readonly workers: unknown;
  /** The node this worker runs on: `config.node.id`. */
  readonly node: { readonly id: string };
  /** The configured nodes as this node saw them when the worker started. */
  readonly cluster: {
    readonly name: string | null;
    readonly members: ReadonlyArray<{ readonly id: string | null; readonly address: string | null; readonly state: AmiMemberState }>;
  };
}
/** The worker's configuration, also `Stels.config`. */
declare const config: AmiConfig;

/** The lease of a leader-mode worker. */
interface AmiLeaderLease {
  /** The node holding the lease (this one). */
  readonly node: string;
  /** The lease's term: grows from one holder to the next (the fencing token). */
  readonly term: number;
  /** When the lease ends unless renewed (ms since the epoch). */
  readonly expiresAt: number;
}

interface AmiMemoryUsage {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
}

/** A subset of Deno's runtime facts. */
declare const Deno: {
  /** rss of the node process, heap of this worker's isolate. */
  memoryUsage(): AmiMemoryUsage;
  /** Load averages over 1, 5 and 15 minutes. */
  loadavg(): [number, number, number];
  hostname(): string;
};

// ---- Stores: Stels.net and Stels.local (Deno.Kv-shaped) ----------------------------

/** A key part: strings, numbers, bigints, booleans, Uint8Arrays. Keys whose first part is "ami" are the runtime's. */
type KvKeyPart = string | number | bigint | boolean | Uint8Array;
type KvKey = readonly KvKeyPart[];

interface KvEntryMaybe<T = any> {
  key: any[];
  /** null when absent */
  value: T | null;
  /** 20 hex digits; null when absent */
  versionstamp: string | null;
}
interface KvEntry<T = any> {
  /** The key as stored (its parts are whatever types were written). */
  key: any[];
  value: T;
  versionstamp: string;
}
interface KvCommitResult {
  ok: true;
  versionstamp: string;
}
interface KvCommitError {
  ok: false;
}
type KvListSelector = { prefix: KvKey } | { prefix: KvKey; start: KvKey } | { prefix: KvKey; end: KvKey } | { start: KvKey; end: KvKey };
interface KvListOptions {
  /** At most this many entries (the runtime returns at most 1000). */
  limit?: number;
  reverse?: boolean;
}
interface KvListIterator<T = any> extends AsyncIterableIterator<KvEntry<T>> {}

interface AtomicCheck {
  key: KvKey;
  /** null checks that the key is absent */
  versionstamp: string | null;
}
interface AtomicOperation {
  check(...checks: AtomicCheck[]): AtomicOperation;
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): AtomicOperation;
  delete(key: KvKey): AtomicOperation;
  /** `{ok: true, versionstamp}`, or `{ok: false}` when a check failed (nothing written). */
  commit(): Promise<KvCommitResult | KvCommitError>;
}

/** A Deno.Kv-shaped store. Values are anything JSON.stringify accepts, at most 64 KiB. */
interface AmiKv {
  get<T = any>(key: KvKey): Promise<KvEntryMaybe<T>>;
  getMany<T = any>(keys: readonly KvKey[]): Promise<KvEntryMaybe<T>[]>;
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): Promise<KvCommitResult>;
  delete(key: KvKey): Promise<void>;
  /** Entries in key order: `for await (const e of kv.list({prefix: ['a']}))`. */
  list<T = any>(selector: KvListSelector, options?: KvListOptions): KvListIterator<T>;
  atomic(): AtomicOperation;
  /** Not supported yet: throws. */
  watch(keys: readonly KvKey[]): never;
  /** Not supported yet: throws. */
  subscribe(...args: unknown[]): never;
  close(): void;
}

interface WebfixRequest {
  /** `Stels.net` or `Stels.local` */
  brain: AmiKv;
  method: 'get' | 'set' | 'update' | 'delete';
  /** The key; stored with `channel: parts.join('.')`. */
  channel: KvKey;
  module?: string;
  raw?: unknown;
  timestamp?: number;
  /** ms */
  expireIn?: number;
  /** for `update`: compare-and-set against this versionstamp */
  versionstamp?: string | null;
}
interface WebfixValue<T = any> {
  channel: string;
  module: string | null;
  raw: T;
  timestamp: number;
}
interface WebfixResult<T = any> {
  value: WebfixValue<T> | null;
  versionstamp: string | null;
  key: any[];
}

// ---- Exchanges: Stels.runtime.cex.<id> (CCXT-shaped) --------------------------------

type OrderType = 'limit' | 'market' | (string & {});
type OrderSide = 'buy' | 'sell';
type Params = Record<string, unknown> & { clientOrderId?: string };

interface Ticker {
  symbol: string;
  timestamp?: number;
  datetime?: string;
  high?: number;
  low?: number;
  bid?: number;
  ask?: number;
  last: number;
  close?: number;
  open?: number;
  baseVolume?: number;
  quoteVolume?: number;
  percentage?: number;
  info?: any;
  [field: string]: any;
}
interface OrderBook {
  symbol?: string;
  bids: [number, number][];
  asks: [number, number][];
  timestamp?: number;
  nonce?: number;
}
interface Trade {
  id: string;
  symbol: string;
  side: OrderSide;
  price: number;
  amount: number;
  cost?: number;
  timestamp: number;
  order?: string;
  info?: any;
  [field: string]: any;
}
/** [timestamp, open, high, low, close, volume] */
type OHLCV = [number, number, number, number, number, number];
interface Order {
  id: string;
  clientOrderId?: string;
  symbol: string;
  type: OrderType;
  side: OrderSide;
  price?: number;
  amount: number;
  filled?: number;
  remaining?: number;
  status: 'open' | 'closed' | 'canceled' | (string & {});
  timestamp?: number;
  cost?: number;
  average?: number;
  fee?: any;
  info?: any;
  [field: string]: any;
}
interface BalanceEntry {
  free: number;
  used: number;
  total: number;
}
interface Balances {
  free: Record<string, number>;
  used: Record<string, number>;
  total: Record<string, number>;
  /** The exchange's own reply. */
  info?: any;
  [currency: string]: BalanceEntry | Record<string, number> | any;
}
interface Market {
  id: string;
  symbol: string;
  base: string;
  quote: string;
  limits?: any;
  precision?: any;
  [field: string]: any;
}

/** A CCXT-style exchange. Every call runs on the node's connector threads and carries
 * the worker's sid and lease term; credentials come from the worker's accountId. */
interface Exchange {
  readonly id: string;
  readonly name: string;
  readonly countries: string[];
  /** Which methods this connector supports. */
  readonly has: Record<string, boolean | 'emulated'>;
  /** Filled by loadMarkets(). */
  readonly markets: Record<string, Market & Record<string, any>> | undefined;
  loadMarkets(reload?: boolean, params?: Params): Promise<Record<string, any>>;
  fetchTicker(symbol: string, params?: Params): Promise<Ticker>;
  fetchTickers(symbols?: string[], params?: Params): Promise<Record<string, Ticker>>;
  fetchOrderBook(symbol: string, limit?: number, params?: Params): Promise<OrderBook>;
  fetchTrades(symbol: string, since?: number, limit?: number, params?: Params): Promise<Trade[]>;
  fetchOHLCV(symbol: string, timeframe?: string, since?: number, limit?: number, params?: Params): Promise<OHLCV[]>;
  fetchBalance(params?: Params): Promise<Balances>;
  /** Every order carries params.clientOrderId (given, or made by the runtime); a timeout is retried with the same id. */
  createOrder(symbol: string, type: OrderType, side: OrderSide, amount: number, price?: number, params?: Params): Promise<Order>;
  createLimitOrder(symbol: string, side: OrderSide, amount: number, price: number, params?: Params): Promise<Order>;
  createMarketOrder(symbol: string, side: OrderSide, amount: number, price?: number, params?: Params): Promise<Order>;
  createLimitBuyOrder(symbol: string, amount: number, price: number, params?: Params): Promise<Order>;
  createLimitSellOrder(symbol: string, amount: number, price: number, params?: Params): Promise<Order>;
  createMarketBuyOrder(symbol: string, amount: number, params?: Params): Promise<Order>;
  createMarketSellOrder(symbol: string, amount: number, params?: Params): Promise<Order>;
  cancelOrder(id: string, symbol?: string, params?: Params): Promise<Order>;
  cancelAllOrders(symbol?: string, params?: Params): Promise<Order[]>;
  fetchOrder(id: string, symbol?: string, params?: Params): Promise<Order>;
  fetchOrders(symbol?: string, since?: number, limit?: number, params?: Params): Promise<Order[]>;
  fetchOpenOrders(symbol?: string, since?: number, limit?: number, params?: Params): Promise<Order[]>;
  fetchClosedOrders(symbol?: string, since?: number, limit?: number, params?: Params): Promise<Order[]>;
  fetchMyTrades(symbol?: string, since?: number, limit?: number, params?: Params): Promise<Trade[]>;
}

/** Options are used only when the worker has no accountId; they never show in the object. */
interface ExchangeOptions {
  apiKey?: string;
  secret?: string;
  password?: string;
  uid?: string;
  [option: string]: unknown;
}
/** Callable with or without `new`. */
interface ExchangeConstructor {
  new (options?: ExchangeOptions): Exchange;
  (options?: ExchangeOptions): Exchange;
}
/** The exchanges of the node's config (`exchanges:`), by id. */
interface AmiCexRegistry {
  [id: string]: ExchangeConstructor;
}

declare class CcxtBaseError extends Error {
  constructor(message?: string);
}
/** CCXT's error classes: `err instanceof ccxt.InsufficientFunds`. The NetworkError family
 * counts as network errors (back-off, no error budget spent). */
declare namespace ccxt {
  class BaseError extends CcxtBaseError {}
  class ExchangeError extends BaseError {}
  class AuthenticationError extends ExchangeError {}
  /** An old leader's call after a newer term started ("fenced: term 3 < 5 …"): stop, do not retry. */
  class PermissionDenied extends AuthenticationError {}
  class AccountNotEnabled extends PermissionDenied {}
  class AccountSuspended extends AuthenticationError {}
  class ArgumentsRequired extends ExchangeError {}
  class BadRequest extends ExchangeError {}
  class BadSymbol extends BadRequest {}
  class OperationRejected extends ExchangeError {}
  class NoChange extends OperationRejected {}
  class MarginModeAlreadySet extends NoChange {}
  class MarketClosed extends OperationRejected {}
  class InsufficientFunds extends ExchangeError {}
  class InvalidAddress extends ExchangeError {}
  class AddressPending extends InvalidAddress {}
  class InvalidOrder extends ExchangeError {}
  class OrderNotFound extends InvalidOrder {}
  class OrderNotCached extends InvalidOrder {}
  class OrderImmediatelyFillable extends InvalidOrder {}
  class OrderNotFillable extends InvalidOrder {}
  class DuplicateOrderId extends InvalidOrder {}
  class ContractUnavailable extends InvalidOrder {}
  class NotSupported extends ExchangeError {}
  class InvalidProxySettings extends ExchangeError {}
  class ExchangeClosedByUser extends ExchangeError {}
  class OperationFailed extends BaseError {}
  class NetworkError extends OperationFailed {}
  class DDoSProtection extends NetworkError {}
  class RateLimitExceeded extends NetworkError {}
  class ExchangeNotAvailable extends NetworkError {}
  class OnMaintenance extends ExchangeNotAvailable {}
  class InvalidNonce extends NetworkError {}
  class ChecksumError extends InvalidNonce {}
  class RequestTimeout extends NetworkError {}
  class BadResponse extends OperationFailed {}
  class NullResponse extends BadResponse {}
  class CancelPending extends OperationFailed {}
}

// ---- Stels -----------------------------------------------------------------------

/** The STELS runtime object. */
declare const Stels: {
  /** The worker's configuration (frozen); also the global `config`. */
  readonly config: AmiConfig;
  /** The network store: replicated to every node of the cluster. */
  readonly net: AmiKv;
  /** This node's own store. */
  readonly local: AmiKv;
  /** Resolves after `ms`; rejects with a DOMException named AbortError when the worker stops. */
  sleep(ms: number): Promise<void>;
  /** The STELS envelope around the stores: `{brain: Stels.net, method: 'set', channel: [...], raw}`. */
  webfix<T = any>(request: WebfixRequest): Promise<WebfixResult<T>>;
  /** ms since the epoch from the node's hybrid logical clock: never goes backwards. */
  hybridTimestamp(): number;
  /** When the node started (ms since the epoch). */
  readonly startTime: number;
  /** This worker's id. */
  readonly sid: string;
  /** The node that created the worker record. */
  readonly nid: string;
  /** In leader mode the lease `{node, term, expiresAt}`, re-read at every entry into the script; otherwise null. */
  readonly leader: AmiLeaderLease | null;
  readonly runtime: {
    /** The node's exchanges: `new Stels.runtime.cex.bybit()`. */
    readonly cex: AmiCexRegistry;
    /** CCXT's error classes (also the global `ccxt`). */
    readonly ccxt: typeof ccxt;
  };
  /** `Deno` */
  readonly engine: typeof Deno;
};
