// Runs in the page: every variant once per round, in turn; medians and ratios at the end.
import init, { WorkPool } from '/www/pkg/index.js';
import PQueue from 'p-queue';
import pRetry from 'p-retry';

const params = new URLSearchParams(location.search);
const N = Number(params.get('n') ?? 100_000);
const M = Number(params.get('m') ?? 10_000);
const ROUNDS = Number(params.get('rounds') ?? 5);
const job = async () => 1;

function check(cond, what) { if (!cond) throw new Error(`check failed: ${what}`); }

/** WorkPool with the full JS API on: an AbortSignal per attempt (always), events, metrics. */
async function workcrew(n, extra = {}) {
  let events = 0;
  const pool = new WorkPool({ workers: 8, queue: n, ...extra, onEvent: () => { events++; } });
  const t0 = performance.now();
  const promises = new Array(n);
  for (let i = 0; i < n; i++) promises[i] = pool.submit(job);
  const values = await Promise.all(promises);
  const m = pool.metrics();
  const ms = performance.now() - t0;
  check(values.length === n && m.succeeded === n && events === 3 * n, 'workcrew settled every job (queued, started, succeeded each)');
  return ms;
}

async function pqueue(n) {
  const queue = new PQueue({ concurrency: 8 });
  const t0 = performance.now();
  const promises = new Array(n);
  for (let i = 0; i < n; i++) promises[i] = queue.add(job);
  await queue.onIdle();
  const values = await Promise.all(promises);
  const ms = performance.now() - t0;
  check(values.length === n, 'p-queue settled every job');
  return ms;
}

async function pqueueRetry(n) {
  const queue = new PQueue({ concurrency: 8, timeout: 1000 });
  const t0 = performance.now();
  const promises = new Array(n);
  for (let i = 0; i < n; i++) promises[i] = queue.add(() => pRetry(job, { retries: 2 }));
  await queue.onIdle();
  const values = await Promise.all(promises);
  const ms = performance.now() - t0;
  check(values.length === n, 'p-queue + p-retry settled every job');
  return ms;
}

const variants = [
  [`WorkPool (8 workers, events + signals + metrics), ${N} jobs`, () => workcrew(N)],
  [`p-queue (concurrency 8), ${N} jobs`, () => pqueue(N)],
  [`WorkPool, timeout 1000 ms + 2 retries, ${M} jobs`, () => workcrew(M, { timeout: 1000, retries: 2, backoff: { kind: 'none' } })],
  [`p-queue (timeout 1000 ms) + p-retry (2 retries), ${M} jobs`, () => pqueueRetry(M)],
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  await init();
  const times = variants.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, [, run]] of variants.entries()) {
      times[i].push(await run());
      await new Promise((res) => setTimeout(res, 50)); // let the GC breathe between variants
    }
  }
  const results = variants.map(([name], i) => ({ name, ms: median(times[i]), all: times[i] }));
  window.__bench = { n: N, m: M, rounds: ROUNDS, userAgent: navigator.userAgent, results };
  document.querySelector('#out').textContent = JSON.stringify(window.__bench, null, 2);
}

main().catch((e) => { window.__bench = { error: String(e.stack ?? e) }; });
