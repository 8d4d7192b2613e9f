// Pauses, resumes or reads the pause of the queue through BullMQ's own Queue API.
// Usage: node pause.js pause|resume|state
// Env: REDIS_HOST, REDIS_PORT, REDIS_DB, QUEUE, PREFIX. Prints {"paused": true|false} after the action.
'use strict';
const { Queue } = require('bullmq');

const connection = {
  host: process.env.REDIS_HOST || '127.0.0.1',
  port: parseInt(process.env.REDIS_PORT || '6379', 10),
  db: parseInt(process.env.REDIS_DB || '0', 10),
};
(async () => {
  const queue = new Queue(process.env.QUEUE || 'email-queue', { connection, prefix: process.env.PREFIX || 'bull' });
  const action = process.argv[2] || 'state';
  if (action === 'pause') await queue.pause();
  else if (action === 'resume') await queue.resume();
  else if (action !== 'state') throw new Error(`unknown action ${action}`);
  console.log(JSON.stringify({ paused: await queue.isPaused() }));
  await queue.close();
})().catch(e => { console.error(e); process.exit(1); });
