// Log Cleanup: deletes this node's log entries older than 7 days from Stels.local:
// keys [<network>, "logs", ..., <time>] whose last part is a time in ms since the epoch.
// Entries whose last part is not a time are left alone. At most BATCH keys are read per
// run, so a large backlog is worked off over several runs.
const MAX_AGE_MS = 7 * 24 * 3600000;
const BATCH = 1000;

const cutoff = Date.now() - MAX_AGE_MS;
const entries = await Array.fromAsync(Stels.local.list({ prefix: [Stels.config.network, 'logs'] }, { limit: BATCH }));
const old = entries.filter((e) => {
  const last = e.key[e.key.length - 1];
  const time = typeof last === 'bigint' ? Number(last) : typeof last === 'number' ? last : parseInt(last, 10);
  return Number.isFinite(time) && time < cutoff;
});
for (let i = 0; i < old.length; i += 100) {
  const op = Stels.local.atomic();
  for (const e of old.slice(i, i + 100)) op.delete(e.key);
  await op.commit();
}
if (old.length > 0) logger.info(`log cleanup: deleted ${old.length} entries older than 7 days`);
