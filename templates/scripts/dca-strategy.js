// DCA Strategy: buys BTC/USDT for a fixed amount of USDT every INTERVAL_MS (100 USD a
// day in 24 buys) and records each buy in Stels.net under
// ["strategy","dca",<symbol>,<time>] (module "dca", raw {orderId, amount, price, cost, node}).
//
// Runs in single mode with its own loop: it ends when the worker is stopped
// (shouldStop(), and Stels.sleep rejects with AbortError). After a restart or a leader
// failover it waits for the rest of the interval since the last recorded buy instead of
// buying again at once. The exchange comes from the worker's account (accountId).
const INTERVAL_MS = 3600000;             // one buy an hour
const SYMBOL = 'BTC/USDT';
const BUY_USD = 100 / 24;                 // 100 USD a day
const NO_FUNDS_SLEEP_MS = 24 * 3600000;   // after InsufficientFunds
const ERROR_SLEEP_MS = 60000;             // after any other error

const exchange = new Stels.runtime.cex.binance();
const isAbort = (e) => e && e.name === 'AbortError';

// Waits, but returns false instead of throwing when the worker stops.
async function pause(ms) {
  try { await Stels.sleep(ms); return !shouldStop(); }
  catch (e) { if (isAbort(e)) return false; throw e; }
}

async function lastBuyTime() {
  const [last] = await Array.fromAsync(Stels.net.list({ prefix: ['strategy', 'dca', SYMBOL] }, { limit: 1, reverse: true }));
  return last ? Number(last.key[last.key.length - 1]) : 0;
}

async function buy() {
  const markets = await exchange.loadMarkets();
  const market = markets[SYMBOL] || {};
  const limits = market.limits || {};
  const ticker = await exchange.fetchTicker(SYMBOL);
  const price = ticker.ask || ticker.last;
  let amount = BUY_USD / price;
  // The exchange's minimums win over the budget (with a warning), so the buy is accepted.
  const minAmount = Math.max((limits.amount && limits.amount.min) || 0,
                             ((limits.cost && limits.cost.min) || 0) / price * 1.01);
  if (amount < minAmount) {
    logger.warn(`DCA: ${BUY_USD.toFixed(2)} USD is below the ${SYMBOL} minimum; buying ${minAmount} instead`);
    amount = minAmount;
  }
  const step = market.precision && market.precision.amount;
  if (step > 0) amount = Math.ceil(amount / step) * step;
  const order = await exchange.createOrder(SYMBOL, 'market', 'buy', amount);
  const filledPrice = order.average || order.price || price;
  const filled = order.filled || amount;
  const now = Date.now();
  await Stels.webfix({
    brain: Stels.net, method: 'set', channel: ['strategy', 'dca', SYMBOL, now], module: 'dca',
    raw: { orderId: order.id, amount: filled, price: filledPrice, cost: order.cost || filled * filledPrice, node: Stels.nid },
  });
  logger.info(`DCA: bought ${filled} ${SYMBOL} at ${filledPrice} (order ${order.id})`);
}

logger.info(`DCA started on ${Stels.nid}: ${BUY_USD.toFixed(2)} USD of ${SYMBOL} every ${INTERVAL_MS} ms`);
while (!shouldStop()) {
  const wait = (await lastBuyTime()) + INTERVAL_MS - Date.now();
  if (wait > 0) { if (!(await pause(wait))) break; continue; }
  try {
    await buy();
  } catch (e) {
    if (isAbort(e)) break;
    if (e instanceof ccxt.InsufficientFunds) {
      logger.warn(`DCA: insufficient funds (${e.message}); next try in 24 h`);
      if (!(await pause(NO_FUNDS_SLEEP_MS))) break;
    } else {
      logger.error(`DCA: buy failed: ${e.name}: ${e.message}`);
      if (!(await pause(ERROR_SLEEP_MS))) break;
    }
  }
}
logger.info('DCA stopped');
