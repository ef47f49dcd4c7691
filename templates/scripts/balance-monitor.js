// Balance Monitor: every node reads the account's balance and writes it to Stels.net
// under ["account","balance",<nid>] (module "balance",
// raw {equity, available, node, timestamp}). The account comes from the worker's
// accountId; errors are rethrown so they show in the worker's stats.
const exchange = new Stels.runtime.cex.bybit();
const balance = await exchange.fetchBalance();
const wallet = balance.info && balance.info.result && balance.info.result.list && balance.info.result.list[0];
const usdt = (balance.total && balance.total.USDT) || 0;
const equity = wallet ? Number(wallet.totalEquity) : usdt;
const available = wallet ? Number(wallet.totalAvailableBalance) : ((balance.free && balance.free.USDT) || 0);
await Stels.webfix({
  brain: Stels.net, method: 'set', channel: ['account', 'balance', Stels.nid], module: 'balance',
  raw: { equity, available, node: Stels.nid, timestamp: Date.now() },
});
