// The oracle of the signature parity test (tests/exchanges/ccxt_parity_test.cpp): reads a JSON
// array of request cases on stdin and prints, as one JSON array in the same order, what the
// pinned ccxt's own `exchange.sign(path, api, method, params)` returns for each:
//   {"url", "method", "body" (null when ccxt sends none), "headers" ({} when none)}
// or {"error": "..."} when ccxt refuses the case.
//
// A case (see ccxt_parity_cases.json):
//   exchange      "bybit" | "binance"
//   api, path, method, params      ccxt's sign() arguments, as the connector gets them
//   api_key, secret, timestamp     credentials and the fixed clock (ms) of private calls
//   recv_window   bybit: X-BAPI-RECV-WINDOW; binance: appended recvWindow, 0 = none
//   base_url      bybit REST origin; spot_base_url / futures_base_url for binance
//
// No network: nothing here calls loadMarkets or any fetch*; sign() is pure once the
// instance has its keys, options and URLs. The clock is frozen by overriding nonce() and
// milliseconds() on the instance. ccxt's own URL table is kept and only its origin
// (scheme://host) is swapped for the case's base URL, so the API prefixes (/api/v3,
// /fapi/v1, /v5/...) are still ccxt's.
import ccxt from 'ccxt';

const kDefaultOrigins = {
  bybit: { base_url: 'https://api.{hostname}' },
  binance: { spot_base_url: 'https://api.binance.com', futures_base_url: 'https://fapi.binance.com' },
};

function makeExchange(c) {
  const Exchange = ccxt[c.exchange];
  if (!Exchange) throw new Error(`ccxt has no exchange "${c.exchange}"`);
  const ex = new Exchange({ apiKey: c.api_key ?? '', secret: c.secret ?? '' });
  const ts = Number(c.timestamp ?? 0);
  ex.nonce = () => ts;
  ex.milliseconds = () => ts;
  ex.options.timeDifference = 0;
  if (c.recv_window) ex.options.recvWindow = Number(c.recv_window);
  else delete ex.options.recvWindow;   // binance: 0 = not sent (ccxt would send 10000)
  const origins = kDefaultOrigins[c.exchange] ?? {};
  for (const [key, ccxtOrigin] of Object.entries(origins)) {
    if (!c[key]) continue;
    for (const name of Object.keys(ex.urls.api)) {
      const url = ex.urls.api[name];
      if (typeof url === 'string' && url.startsWith(ccxtOrigin)) {
        ex.urls.api[name] = c[key] + url.slice(ccxtOrigin.length);
      }
    }
  }
  return ex;
}

function signCase(c) {
  try {
    const ex = makeExchange(c);
    // A deep copy: sign() may add to params (binance's broker id when no client id).
    const params = structuredClone(c.params ?? {});
    const r = ex.sign(c.path, c.api, c.method ?? 'GET', params);
    return { url: r.url, method: r.method, body: r.body ?? null, headers: r.headers ?? {} };
  } catch (e) {
    return { error: `${e.constructor.name}: ${e.message}` };
  }
}

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const cases = JSON.parse(input);
if (!Array.isArray(cases)) throw new Error('stdin must be a JSON array of cases');
process.stdout.write(JSON.stringify(cases.map(signCase)) + '\n');
