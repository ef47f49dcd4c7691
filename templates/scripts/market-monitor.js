// Market Monitor: every node reads the tickers of a few markets and writes them to
// Stels.net under ["market","ticker",<symbol>,<nid>] (module "market",
// raw {price, volume, change, node}); the Price Aggregator reads them.
const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'];

const exchange = new Stels.runtime.cex.bybit();
let failures = 0;
for (const symbol of SYMBOLS) {
  try {
    const ticker = await exchange.fetchTicker(symbol);
    await Stels.webfix({
      brain: Stels.net, method: 'set', channel: ['market', 'ticker', symbol, Stels.nid], module: 'market',
      raw: { price: ticker.last, volume: ticker.baseVolume, change: ticker.percentage, node: Stels.nid },
    });
  } catch (e) {
    // One market failing must not hide the others; the last failure is rethrown below so
    // that it shows in the worker's stats (network errors only back off).
    failures++;
    logger.warn(`market monitor: ${symbol}: ${e.name}: ${e.message}`);
    if (failures === SYMBOLS.length) throw e;
  }
}
