// Grid Trading: 10 limit orders of 0.001 BTC around the price, 100 USDT apart, from
// 5 steps below the last price (rounded): buys below the price, sells at or above it.
//
// Each level is placed once, ever: the grid (prices, sides, clientOrderIds
// "grid-<sid>-<level>") is saved in Stels.net under ["strategy","grid",<sid>] the first
// time, a level is marked placed as soon as the exchange accepted it, and the
// clientOrderId makes a repeated createOrder (after a crash, restart or leader
// failover) return the order made the first time instead of a new one.
// The exchange comes from the worker's account (accountId); no keys in the script.
const SYMBOL = 'BTC/USDT';
const LEVELS = 10;
const STEP = 100;           // USDT between levels
const AMOUNT = 0.001;       // BTC per order
const PLACE_DELAY_MS = 200; // between two orders
const PLAN_KEY = ['strategy', 'grid', Stels.sid];

const exchange = new Stels.runtime.cex.bybit();

// The saved grid, or a new one (written only if no other run saved one meanwhile).
let plan = await Stels.webfix({ brain: Stels.net, method: 'get', channel: PLAN_KEY });
let grid = plan.value && plan.value.raw;
if (!grid) {
  const ticker = await exchange.fetchTicker(SYMBOL);
  const last = ticker.last;
  const base = Math.round(last) - Math.floor(LEVELS / 2) * STEP;
  const levels = [];
  for (let i = 0; i < LEVELS; i++) {
    const price = base + i * STEP;
    levels.push({ level: i, price, side: price < last ? 'buy' : 'sell', clientOrderId: `grid-${Stels.sid}-${i}`, placed: false });
  }
  grid = { symbol: SYMBOL, amount: AMOUNT, last, createdAt: Date.now(), node: Stels.nid, levels };
  const saved = await Stels.webfix({ brain: Stels.net, method: 'update', channel: PLAN_KEY, module: 'grid', raw: grid, versionstamp: null });
  if (saved.versionstamp === null) return;   // another run made the grid first; use it next time
  plan = saved;
  logger.info(`grid for ${SYMBOL} around ${last}: ${levels.map((l) => l.side + '@' + l.price).join(' ')}`);
}

const todo = grid.levels.filter((l) => !l.placed);
if (todo.length === 0) return;   // every level placed once; nothing more to do

// Levels already on the book (e.g. placed before a crash that lost the "placed" mark).
const open = await exchange.fetchOpenOrders(SYMBOL);
const onBook = new Set(open.map((o) => o.clientOrderId).filter(Boolean));

for (const level of todo) {
  if (shouldStop()) break;
  if (!onBook.has(level.clientOrderId)) {
    const order = await exchange.createOrder(SYMBOL, 'limit', level.side, grid.amount, level.price,
                                             { clientOrderId: level.clientOrderId });
    logger.info(`level ${level.level}: ${level.side} ${grid.amount} @ ${level.price} -> ${order.id} (${order.status})`);
  }
  level.placed = true;
  const saved = await Stels.webfix({ brain: Stels.net, method: 'update', channel: PLAN_KEY, module: 'grid', raw: grid,
                                     versionstamp: plan.versionstamp });
  if (saved.versionstamp === null) return;   // the grid changed under us; start over next time
  plan = saved;
  await Stels.sleep(PLACE_DELAY_MS);
}
