// Price Aggregator: for each market, reads the tickers the nodes wrote (Market Monitor,
// ["market","ticker",<symbol>,<nid>]) and writes the simple mean, min, max, spread and
// the number of nodes that reported to ["market","aggregated",<symbol>]
// (module "aggregator"). Only the nodes that actually reported count, and a ticker older
// than MAX_AGE_MS is ignored (a node that went away does not pin the price).
const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'];
const MAX_AGE_MS = 5 * 60000;

const now = Date.now();
for (const symbol of SYMBOLS) {
  const entries = await Array.fromAsync(Stels.net.list({ prefix: ['market', 'ticker', symbol] }));
  const reports = entries
    .map((e) => ({ node: e.key[e.key.length - 1], price: e.value && e.value.raw && e.value.raw.price, at: e.value && e.value.timestamp }))
    .filter((r) => typeof r.price === 'number' && Number.isFinite(r.price) && r.price > 0 &&
                   (typeof r.at !== 'number' || now - r.at <= MAX_AGE_MS));
  if (reports.length === 0) continue;
  const prices = reports.map((r) => r.price);
  const min = Math.min(...prices);
  const max = Math.max(...prices);
  const mean = prices.reduce((a, b) => a + b, 0) / prices.length;
  await Stels.webfix({
    brain: Stels.net, method: 'set', channel: ['market', 'aggregated', symbol], module: 'aggregator',
    raw: { mean, min, max, spread: max - min, nodeCount: reports.length, nodes: reports.map((r) => r.node), timestamp: now },
  });
}
