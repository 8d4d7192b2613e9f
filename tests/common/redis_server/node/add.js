// Adds jobs through BullMQ's own Queue.add, as the Node app does (a producer for the interop tests).
// Usage: node add.js '[{"name": "...", "data": {...}, "opts": {...}}, ...]'
// Env: REDIS_HOST, REDIS_PORT, REDIS_DB, QUEUE, PREFIX. Prints one JSON line per add: {id, name}.
'use strict';
const { Queue } = require('bullmq');

const connection = {
  host: process.env.REDIS_HOST || '127.0.0.1',
  port: parseInt(process.env.REDIS_PORT || '6379', 10),
  db: parseInt(process.env.REDIS_DB || '0', 10),
};
(async () => {
  const jobs = JSON.parse(process.argv[2] || '[]');
  const queue = new Queue(process.env.QUEUE || 'email-queue', { connection, prefix: process.env.PREFIX || 'bull' });
  for (const { name, data, opts } of jobs) {
    const job = await queue.add(name, data, opts || {});
    console.log(JSON.stringify({ id: job.id, name: job.name }));
  }
  await queue.close();
})().catch(e => { console.error(e); process.exit(1); });
