// Empty Script: a starting point. Runs again after each run (loop mode).
logger.info('Worker script initialized!');
logger.info(`Running on ${Stels.nid} as ${Stels.sid}`);
