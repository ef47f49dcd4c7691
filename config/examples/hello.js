// hello.js: the smallest useful worker (declared in ../single-node.yaml).
//
// A worker script is the body of an async function. In `loop` mode the engine calls
// it again after every run (once a second at `low` priority), so nothing here loops:
// each run counts itself in this node's local store and says hello now and then.
const key = ["examples", "hello", Stels.config.nid];
const entry = await Stels.local.get(key);
const runs = (entry.value ?? 0) + 1;
await Stels.local.set(key, runs);

if (runs === 1 || runs % 60 === 0) {
  logger.info(`hello from ${Stels.config.nid}`, { runs });
}
