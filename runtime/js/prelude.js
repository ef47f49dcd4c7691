// The script API a worker sees, built in JavaScript on top of a few native functions.
//
// The engine compiles this file as a function and calls it once per context with
// `host`, the native capability object (never reachable from user code), and the CCXT
// error hierarchy it expects most workers to have; that builds everything that does not
// depend on the worker and returns `install`. install(facts) is called once with the
// worker's facts (config, leader, sid, nid, startTime, exchanges, error classes): it
// builds the rest, defines the globals, and returns the control hooks the engine needs
// (abort, classify, describe, checkBody, setLeader). Everything a script may touch is
// defined here, in one place: logger, console, config, signal, shouldStop, timers,
// Stels.{config, net, local, sleep, webfix, hybridTimestamp, startTime, sid, nid, leader,
// runtime.cex, runtime.ccxt}, ccxt (error classes), Deno.{memoryUsage, loadavg,
// hostname}. There is no file, process, environment or raw network access.
//
// Snapshot-safe: the engine may run the first step once, in the isolate of V8's
// SnapshotCreator, and start every worker's context from that snapshot (engine.cpp,
// "startup snapshot"); then only install(facts) runs per worker. So the first step must
// leave nothing a snapshot cannot hold: no pending promises or timers, no call into
// `host` (its natives run only once a worker's engine owns the isolate), no value that
// differs per worker or per process. Both ways run the same two steps in the same order,
// so a context from the snapshot and one built afresh are the same.
(function (host, expectedErrorClasses) {
  'use strict';
  const global = globalThis;
  const define = (obj, name, value) =>
    Object.defineProperty(obj, name, { value, writable: false, enumerable: true, configurable: false });
  // Own properties and appends defined without Set semantics, so a script's setters on
  // Object.prototype or Array.prototype indexes cannot break the API (defineProperty is
  // captured here, before any user code runs).
  const defineProperty = Object.defineProperty;
  const own = (obj, name, value) => {
    defineProperty(obj, name, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
  };
  const append = (array, value) => own(array, array.length, value);
  const deepFreeze = (o) => {
    if (o && typeof o === 'object' && !Object.isFrozen(o)) {
      Object.freeze(o);
      for (const v of Object.values(o)) deepFreeze(v);
    }
    return o;
  };

  // ---- errors -------------------------------------------------------------------
  class DOMException extends Error {
    constructor(message = '', name = 'Error') {
      super(message);
      Object.defineProperty(this, 'name', { __proto__: null, value: name, configurable: true, writable: true });
    }
  }
  const abortError = () => new DOMException('The worker is stopping', 'AbortError');

  // Error names that mean "the network or the exchange is unwell, try later" (CCXT's
  // NetworkError family and friends, stels-compat.md §4). Anything else is critical.
  const NETWORK_NAMES = new Set([
    'NetworkError', 'RequestTimeout', 'ExchangeNotAvailable', 'RateLimitExceeded',
    'DDoSProtection', 'OnMaintenance', 'InvalidNonce', 'InvalidAccessError', 'AbortError',
    'TimeoutError',
  ]);
  const NETWORK_MESSAGE = /\b(WebSocket|CloudFront|HTTP 403|HTTP 451|ECONNRESET|ETIMEDOUT|ECONNREFUSED)\b/;
  function classify(error) {
    try {
      if (error && (typeof error === 'object' || typeof error === 'function')) {
        for (let p = error, depth = 0; p && depth < 32; p = Object.getPrototypeOf(p), depth++) {
          const ctorName = Object.prototype.hasOwnProperty.call(p, 'constructor') && p.constructor && p.constructor.name;
          if (NETWORK_NAMES.has(ctorName)) return 'network';
        }
        if (NETWORK_NAMES.has(String(error.name))) return 'network';
        // A script using something AMI does not give it ("WebSocket is not defined",
        // "Deno.serve is not a function") is a programming error: retrying cannot help,
        // whatever words its message holds.
        if (error instanceof ReferenceError || error instanceof TypeError || error instanceof SyntaxError) return 'critical';
        if (NETWORK_MESSAGE.test(String(error.message))) return 'network';
      }
    } catch (_) { /* a hostile getter: treat as critical */ }
    return 'critical';
  }
  // {name, message, stack} of anything thrown, without trusting it to behave.
  function describe(error) {
    const safe = (f, fallback) => { try { const v = f(); return v === undefined ? fallback : String(v); } catch (_) { return fallback; } };
    if (error instanceof Error || (error && typeof error === 'object' && 'message' in error)) {
      return {
        name: safe(() => error.name, 'Error'),
        message: safe(() => error.message, ''),
        stack: safe(() => error.stack, ''),
      };
    }
    return { name: 'Error', message: 'Uncaught ' + safe(() => String(error), 'value'), stack: '' };
  }

  // ---- logging ------------------------------------------------------------------
  function format(args) {
    return args.map((a) => {
      if (typeof a === 'string') return a;
      if (a instanceof Error) return `${a.name}: ${a.message}`;
      if (a === undefined) return 'undefined';
      if (typeof a === 'bigint') return a.toString() + 'n';
      try {
        const text = JSON.stringify(a, (k, v) => (typeof v === 'bigint' ? v.toString() : v));
        return text === undefined ? String(a) : text;
      } catch (_) { return String(a); }
    }).join(' ');
  }
  const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 };
  const logger = Object.freeze({
    debug: (...args) => host.log(LEVELS.debug, format(args)),
    info: (...args) => host.log(LEVELS.info, format(args)),
    warn: (...args) => host.log(LEVELS.warn, format(args)),
    error: (...args) => host.log(LEVELS.error, format(args)),
  });
  const console = Object.freeze({
    log: logger.info, info: logger.info, debug: logger.debug, trace: logger.debug,
    warn: logger.warn, error: logger.error,
  });

  // ---- abort signal -------------------------------------------------------------
  class AbortSignal {
    #listeners = [];
    #aborted = false;
    #reason = undefined;
    get aborted() { return this.#aborted; }
    get reason() { return this.#reason; }
    onabort = null;
    addEventListener(type, fn, options) {
      if (type !== 'abort' || typeof fn !== 'function') return;
      if (this.#aborted) { queueMicrotask(() => fn.call(this, { type: 'abort' })); return; }
      append(this.#listeners, { fn, once: !!(options && options.once) });
    }
    removeEventListener(type, fn) {
      this.#listeners = this.#listeners.filter((l) => l.fn !== fn);
    }
    throwIfAborted() { if (this.#aborted) throw this.#reason; }
    // Called through AbortController or by the engine; not reachable from user code
    // for the worker's own signal (see below).
    _abort(reason) {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#reason = reason === undefined ? abortError() : reason;
      const listeners = this.#listeners;
      this.#listeners = [];
      const event = { type: 'abort', target: this };
      if (typeof this.onabort === 'function') { try { this.onabort(event); } catch (e) { logger.error('abort listener failed:', e); } }
      for (const l of listeners) { try { l.fn.call(this, event); } catch (e) { logger.error('abort listener failed:', e); } }
    }
    static timeout(ms) {
      const s = new AbortSignal();
      host.timer(Number(ms) || 0).then(() => s._abort(new DOMException('The operation timed out', 'TimeoutError')));
      return s;
    }
  }
  class AbortController {
    #signal = new AbortSignal();
    get signal() { return this.#signal; }
    abort(reason) { this.#signal._abort(reason); }
  }
  const workerSignal = new AbortSignal();
  const abortWorker = () => workerSignal._abort(abortError());
  // User code holds the signal but must not be able to abort the worker through it.
  const publicSignal = Object.freeze({
    get aborted() { return workerSignal.aborted; },
    get reason() { return workerSignal.reason; },
    addEventListener: (t, f, o) => workerSignal.addEventListener(t, f, o),
    removeEventListener: (t, f) => workerSignal.removeEventListener(t, f),
    throwIfAborted: () => workerSignal.throwIfAborted(),
  });
  const shouldStop = () => workerSignal.aborted;

  // ---- timers -------------------------------------------------------------------
  function sleep(ms) {
    if (workerSignal.aborted) return Promise.reject(abortError());
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(abortError());
      workerSignal.addEventListener('abort', onAbort);
      host.timer(Math.max(0, Number(ms) || 0)).then(() => {
        workerSignal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }
  let nextTimer = 1;
  const liveTimers = new Map();
  function setTimer(fn, ms, args, repeat) {
    if (typeof fn !== 'function') throw new TypeError('setTimeout/setInterval needs a function');
    const id = nextTimer++;
    const delay = Math.max(repeat ? 1 : 0, Number(ms) || 0);
    // host.timer throws (a RangeError) past the delay bound or the timer cap; then the
    // timer is not registered. An interval that cannot re-arm stops, with a log line.
    const arm = () => host.timer(delay).then(() => {
      if (!liveTimers.has(id) || workerSignal.aborted) return;
      if (!repeat) liveTimers.delete(id);
      try { fn(...args); } catch (e) { logger.error('timer callback failed:', e); }
      if (repeat && liveTimers.has(id)) {
        try { arm(); } catch (e) { liveTimers.delete(id); logger.error('setInterval stopped:', e); }
      }
    });
    arm();
    liveTimers.set(id, true);
    return id;
  }
  const setTimeout = (fn, ms, ...args) => setTimer(fn, ms, args, false);
  const setInterval = (fn, ms, ...args) => setTimer(fn, ms, args, true);
  const clearTimeout = (id) => { liveTimers.delete(id); };

  // ---- Deno.Kv-shaped stores ----------------------------------------------------
  const toJson = (value, what) => {
    let text;
    try { text = JSON.stringify(value, (k, v) => { if (typeof v === 'bigint') throw new TypeError('BigInt values cannot be stored'); return v; }); }
    catch (e) { throw new TypeError(`${what}: value cannot be stored: ${e.message}`); }
    if (text === undefined) throw new TypeError(`${what}: value cannot be stored (undefined or a function)`);
    return text;
  };
  const toEntry = (raw) => (raw === null ? null : {
    key: raw.key,
    value: raw.value === null ? null : JSON.parse(raw.value),
    versionstamp: raw.versionstamp,
  });
  function checkKey(key, what) {
    if (!Array.isArray(key)) throw new TypeError(`${what}: a key is an array, e.g. ["prices", "BTC"]`);
  }
  class AtomicOperation {
    #space; #checks = []; #mutations = [];
    constructor(space) { this.#space = space; }
    check(...checks) {
      for (const c of checks) {
        checkKey(c && c.key, 'atomic().check');
        append(this.#checks, [c.key, c.versionstamp === undefined ? null : c.versionstamp]);
      }
      return this;
    }
    set(key, value, options) {
      checkKey(key, 'atomic().set');
      const expireIn = options && options.expireIn !== undefined ? Number(options.expireIn) : null;
      append(this.#mutations, ['set', key, toJson(value, 'atomic().set'), expireIn]);
      return this;
    }
    delete(key) {
      checkKey(key, 'atomic().delete');
      append(this.#mutations, ['delete', key, null, null]);
      return this;
    }
    async commit() {
      const r = await host.kvCommit(this.#space, this.#checks, this.#mutations);
      return r.ok ? { ok: true, versionstamp: r.versionstamp } : { ok: false };
    }
  }
  class Kv {
    #space;
    constructor(space) { this.#space = space; }
    async get(key) {
      checkKey(key, 'get');
      const e = await host.kvGet(this.#space, key);
      return e === null ? { key, value: null, versionstamp: null } : toEntry(e);
    }
    async getMany(keys) { return Promise.all(keys.map((k) => this.get(k))); }
    async set(key, value, options) {
      return new AtomicOperation(this.#space).set(key, value, options).commit();
    }
    async delete(key) {
      await new AtomicOperation(this.#space).delete(key).commit();
    }
    atomic() { return new AtomicOperation(this.#space); }
    list(selector = {}, options = {}) {
      const space = this.#space;
      if (!selector || typeof selector !== 'object') throw new TypeError('list: selector is {prefix} or {start, end}');
      const prefix = selector.prefix === undefined ? null : selector.prefix;
      if (prefix !== null) checkKey(prefix, 'list prefix');
      if (prefix === null && (selector.start === undefined || selector.end === undefined)) {
        throw new TypeError('list: give {prefix}, {prefix, start}, {prefix, end} or {start, end}');
      }
      const start = selector.start === undefined ? null : selector.start;
      const end = selector.end === undefined ? null : selector.end;
      const limit = options.limit === undefined ? 0 : Number(options.limit);
      const reverse = !!options.reverse;
      let batch = null;
      let index = 0;
      const next = async () => {
        if (batch === null) batch = await host.kvList(space, prefix, start, end, limit, reverse);
        if (index >= batch.length) return { done: true, value: undefined };
        return { done: false, value: toEntry(batch[index++]) };
      };
      return { next, [Symbol.asyncIterator]() { return this; } };
    }
    // STELS scripts call net.subscribe(); Deno calls it watch(). Not supported yet.
    watch() { throw new Error('Kv.watch() is not supported yet'); }
    close() {}
  }
  const net = new Kv(1);
  const local = new Kv(0);

  // Stels.webfix: the envelope STELS scripts use around the stores (stels-compat.md §3).
  async function webfix(request) {
    const { brain, method, channel, module, raw, timestamp, expireIn, versionstamp } = request || {};
    if (brain !== net && brain !== local) throw new TypeError('webfix: brain must be Stels.net or Stels.local');
    checkKey(channel, 'webfix channel');
    switch (method) {
      case 'get': {
        const e = await brain.get(channel);
        return { value: e.value, versionstamp: e.versionstamp, key: channel };
      }
      case 'set':
      case 'update': {
        const value = { channel: channel.join('.'), module: module === undefined ? null : module, raw, timestamp: timestamp === undefined ? Date.now() : timestamp };
        const op = brain.atomic();
        if (method === 'update' || versionstamp !== undefined) {
          op.check({ key: channel, versionstamp: versionstamp === undefined ? null : versionstamp });
        }
        const r = await op.set(channel, value, expireIn === undefined ? undefined : { expireIn }).commit();
        return { value: r.ok ? value : null, versionstamp: r.ok ? r.versionstamp : null, key: channel };
      }
      case 'delete':
        await brain.delete(channel);
        return { value: null, versionstamp: null, key: channel };
      default:
        throw new TypeError(`webfix: method must be get, set, update or delete, not ${method}`);
    }
  }

  // Array.fromAsync arrived in V8 12; templates use it to drain Kv.list().
  if (typeof Array.fromAsync !== 'function') {
    Object.defineProperty(Array, 'fromAsync', {
      value: async function fromAsync(iterable, mapFn) {
        const out = [];
        if (iterable && typeof iterable[Symbol.asyncIterator] === 'function') {
          for await (const v of iterable) append(out, mapFn ? await mapFn(v, out.length) : v);
        } else {
          for (const v of iterable) append(out, mapFn ? await mapFn(await v, out.length) : await v);
        }
        return out;
      },
      writable: true, configurable: true,
    });
  }

  // ---- exchanges: Stels.runtime.cex.<id> ------------------------------------------
  // CCXT's error classes, built from the hierarchy the node passes in (parents first),
  // so `instanceof` works and the class names drive network/critical classification.
  // The expected hierarchy is built once here (into the snapshot); a worker given
  // another one gets its own in install().
  const buildCcxt = (text) => {
    const ccxt = {};
    for (const [name, parent] of JSON.parse(text)) {
      const Base = parent ? ccxt[parent] : Error;
      ccxt[name] = ({
        [name]: class extends Base {
          constructor(message) {
            super(message);
            Object.defineProperty(this, 'name', { __proto__: null, value: name, configurable: true, writable: true });
          }
        },
      })[name];
    }
    return Object.freeze(ccxt);
  };
  const expectedCcxt = buildCcxt(expectedErrorClasses);

  // Options a script gives the constructor (credentials when the worker has no account)
  // are kept here, out of the object, so JSON.stringify(exchange) never shows them.
  const exchangeOptions = new WeakMap();
  function makeExchange(id, info, ccxt) {
    const Exchange = function (options) {
      if (!new.target) return new Exchange(options);
      let text = '{}';
      if (options !== undefined && options !== null) {
        if (typeof options !== 'object') throw new ccxt.BadRequest(`${id}: options must be an object`);
        try { text = JSON.stringify(options); } catch (e) { throw new ccxt.BadRequest(`${id}: options cannot be used: ${e.message}`); }
      }
      exchangeOptions.set(this, text);
      own(this, 'id', id);
      own(this, 'name', info.name || id);
      own(this, 'countries', info.countries || []);
      own(this, 'has', info.has || {});
      own(this, 'markets', undefined);
    };
    Object.defineProperty(Exchange, 'name', { value: id });
    for (const method of Array.isArray(info.methods) ? info.methods : []) {
      const name = method.name;
      Exchange.prototype[name] = async function (...args) {
        let argsJson;
        try { argsJson = JSON.stringify(args.map((a) => (a === undefined ? null : a))); }
        catch (e) { throw new ccxt.BadRequest(`${id}.${name}: arguments cannot be sent: ${e.message}`); }
        const r = await host.cexCall(id, name, argsJson, exchangeOptions.get(this) || '{}');
        if (!r.ok) {
          const ErrorClass = ccxt[r.errorClass] || ccxt.ExchangeError || Error;
          throw new ErrorClass(r.message);
        }
        const value = JSON.parse(r.json);
        if (name === 'loadMarkets') own(this, 'markets', value);
        return value;
      };
    }
    return Object.freeze(Exchange);
  }

  // ---- Deno subset --------------------------------------------------------------
  const Deno = Object.freeze({
    memoryUsage: () => host.memoryUsage(),
    loadavg: () => host.loadavg(),
    hostname: () => host.hostname(),
  });

  // Parses `body` as a standalone async function body, which rejects a script that
  // closes braces it did not open (and so would escape the engine's wrapper).
  const AsyncFunction = (async function () {}).constructor;
  const checkBody = (body) => { AsyncFunction(body); };

  // ---- per worker: the facts, Stels, the globals ----------------------------------
  let installed = false;
  return function install(facts) {
    if (installed) throw new Error('internal: the script API is installed once');
    installed = true;
    const ccxt = facts.errorClasses === expectedErrorClasses ? expectedCcxt : buildCcxt(facts.errorClasses);
    const cex = {};
    for (const { id, describe } of JSON.parse(facts.exchanges)) cex[id] = makeExchange(id, describe || {}, ccxt);
    Object.freeze(cex);

    const config = deepFreeze(JSON.parse(facts.config));
    // Stels.leader follows the lease: the engine replaces it (setLeader) when a renewal or
    // a new term arrives, so it is a getter over a frozen snapshot.
    let leader = deepFreeze(JSON.parse(facts.leader));
    const setLeader = (text) => { leader = deepFreeze(JSON.parse(text)); };
    const Stels = Object.freeze({
      config,
      net,
      local,
      sleep,
      webfix,
      hybridTimestamp: () => host.hybridTimestamp(),
      startTime: facts.startTime,
      sid: facts.sid,
      nid: facts.nid,
      get leader() { return leader; },
      runtime: Object.freeze({ cex, ccxt }),
      engine: Deno,
    });

    for (const [name, value] of Object.entries({
      logger, console, config, signal: publicSignal, shouldStop, Stels, Deno, ccxt,
      DOMException, AbortController, AbortSignal,
      setTimeout, setInterval, clearTimeout, clearInterval: clearTimeout,
    })) define(global, name, value);

    return { abort: abortWorker, classify, describe, checkBody, setLeader };
  };
})
