// The Node side of benches/queue_redis.rs: a BullMQ Worker whose processor does nothing, timed
// from the moment it is ready until JOBS jobs have completed.
// Env: REDIS_HOST, REDIS_PORT, QUEUE (email-queue), PREFIX (bull), CONCURRENCY (1), JOBS (required),
//      KEEP (completed jobs kept, as svc's worker keeps them; default 1000).
// Needs the peer's packages: NODE_PATH=target/bullmq-peer/node_modules.
// Prints one JSON line: {"jobs": N, "seconds": S, "rate": N/S}.
'use strict';
const { Worker } = require('bullmq');

const jobs = parseInt(process.env.JOBS || '0', 10);
const connection = {
  host: process.env.REDIS_HOST || '127.0.0.1',
  port: parseInt(process.env.REDIS_PORT || '6379', 10),
  maxRetriesPerRequest: null,
};
let done = 0;
let started = 0;
const worker = new Worker(process.env.QUEUE || 'email-queue', async () => null, {
  connection,
  prefix: process.env.PREFIX || 'bull',
  concurrency: parseInt(process.env.CONCURRENCY || '1', 10),
  removeOnComplete: { count: parseInt(process.env.KEEP || '1000', 10) },
  autorun: false,
});
worker.on('completed', () => {
  done += 1;
  if (done === jobs) {
    const seconds = (Date.now() - started) / 1000;
    console.log(JSON.stringify({ jobs, seconds, rate: jobs / seconds }));
    worker.close().then(() => process.exit(0));
  }
});
worker.on('error', e => console.error('error', e.message));
worker.waitUntilReady().then(() => {
  started = Date.now();
  worker.run();
});
