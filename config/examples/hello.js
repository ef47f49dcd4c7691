// hello.js: a small health-check worker (declared in ../single-node.yaml).
//
// A worker script is the body of an async function. In `loop` mode the engine calls
// it again after every run (once a second at `low` priority), so nothing here loops:
// each run counts itself in this node's local store, publishes the node's health to the
// network store, and says hello every ten runs.
const key = ["examples", "hello", Stels.config.nid];
const entry = await Stels.local.get(key);
const runs = (entry.value ?? 0) + 1;
await Stels.local.set(key, runs);

const memory = Deno.memoryUsage();
await Stels.webfix({
  brain: Stels.net,
  method: "set",
  channel: ["health", Stels.config.nid],
  module: "monitoring",
  raw: { node: Stels.config.nid, memory, cpu: Deno.loadavg(), uptime: Date.now() - Stels.startTime, timestamp: Date.now() },
});

if (runs === 1 || runs % 10 === 0) {
  logger.info(`hello from ${Stels.config.nid}`, { runs, heapUsedMB: Math.round(memory.heapUsed / 1048576) });
}
