// Health Check: every node writes its health to Stels.net under ["health",<nid>]
// (module "monitoring", raw {node, memory, cpu, uptime, timestamp}); memory is
// Deno.memoryUsage(), cpu the 1/5/15-minute load averages, uptime ms since the node started.
const now = Date.now();
await Stels.webfix({
  brain: Stels.net, method: 'set', channel: ['health', Stels.nid], module: 'monitoring',
  raw: {
    node: Stels.nid,
    memory: Deno.memoryUsage(),
    cpu: Deno.loadavg(),
    uptime: now - (Stels.startTime || now),
    timestamp: now,
  },
});
