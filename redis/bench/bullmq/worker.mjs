// A BullMQ worker process for the benchmark: `node worker.mjs <port> <queue> <concurrency> <job ms>`.
// Prints `ready`, then on SIGTERM: `done <completed>`, `latency <ms>:<count>,...` (job.timestamp
// to its `completed` event) and `rss_kb <first> <max> <last>`.
import { Worker } from 'bullmq';

const [port, queue, concurrency, jobMs] = process.argv.slice(2).map((v, i) => (i === 1 ? v : Number(v)));
const connection = { host: '127.0.0.1', port };
const hist = new Map();
let done = 0;
const rss = () => Math.round(process.memoryUsage().rss / 1024);
const mem = { first: rss(), max: rss(), last: rss() };
setInterval(() => {
  mem.last = rss();
  mem.max = Math.max(mem.max, mem.last);
}, 500).unref();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const worker = new Worker(queue, async () => { if (jobMs > 0) await sleep(jobMs); }, { connection, concurrency });
worker.on('completed', (job) => {
  done++;
  const ms = Date.now() - job.timestamp;
  hist.set(ms, (hist.get(ms) || 0) + 1);
});
await worker.waitUntilReady();
console.log('ready');
process.on('SIGTERM', async () => {
  await worker.close();
  mem.last = rss();
  mem.max = Math.max(mem.max, mem.last);
  console.log(`done ${done}`);
  console.log(`latency ${[...hist].map(([ms, n]) => `${ms}:${n}`).join(',')}`);
  console.log(`rss_kb ${mem.first} ${mem.max} ${mem.last}`);
  process.exit(0);
});
