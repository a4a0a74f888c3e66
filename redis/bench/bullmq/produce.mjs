// Enqueues N no-payload jobs with BullMQ's addBulk, 1,000 at a time, removed when complete:
// `node produce.mjs <port> <queue> <n>`. Prints `ready` once connected, waits for a line on
// stdin (the benchmark's start), then enqueues and prints `enqueued <n> <seconds>`.
import { Queue } from 'bullmq';
import { createInterface } from 'node:readline';

const [port, queue, n] = process.argv.slice(2).map((v, i) => (i === 1 ? v : Number(v)));
const q = new Queue(queue, { connection: { host: '127.0.0.1', port } });
await q.waitUntilReady();
console.log('ready');
const rl = createInterface({ input: process.stdin });
await new Promise((r) => rl.once('line', r));
rl.close();
const started = Date.now();
for (let i = 0; i < n; i += 1000) {
  const jobs = [];
  for (let j = i; j < Math.min(n, i + 1000); j++) {
    jobs.push({ name: 'job', data: { i: j }, opts: { jobId: `job-${j}`, removeOnComplete: true } });
  }
  await q.addBulk(jobs);
}
console.log(`enqueued ${n} ${(Date.now() - started) / 1000}`);
await q.close();
