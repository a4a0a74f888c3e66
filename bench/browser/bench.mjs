// Runs in the page: every variant once per round, in turn (each round starting at the next
// variant); medians and ratios at the end.
//   (a) no listener on either side; (b) a listener for every event on both;
//   (c) a timeout and 2 retries against p-queue + p-retry; (d) memory per queued job;
//   (e) every job at a random priority (0 to 7, the same sequence on both sides).
import init, { WorkPool } from '/www/pkg/index.js';
import PQueue from 'p-queue';
import pRetry from 'p-retry';

const params = new URLSearchParams(location.search);
const N = Number(params.get('n') ?? 100_000);
const M = Number(params.get('m') ?? 10_000);
const Q = Number(params.get('q') ?? 100_000);
const ROUNDS = Number(params.get('rounds') ?? 5);
const job = async () => 1;
const EVENTS = ['queued', 'attemptStarted', 'attemptFailed', 'attemptTimedOut', 'retryScheduled',
  'succeeded', 'failed', 'cancelled'];

// (e)'s priorities: xorshift32 from a fixed seed, the same sequence for both sides and every round.
const PRIORITIES = (() => {
  const out = new Array(N);
  let x = 0x9e3779b9;
  for (let i = 0; i < N; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = (x >>> 0) & 7;
  }
  return out;
})();

function check(cond, what) { if (!cond) throw new Error(`check failed: ${what}`); }

/** WorkPool: an AbortSignal available to every attempt (made when read), metrics counted. */
async function workcrew(n, { listen = 'none', priorities = null, ...extra } = {}) {
  let events = 0;
  const pool = new WorkPool({ workers: 8, queue: n, ...extra });
  if (listen === 'onEvent') pool.onEvent(() => { events++; });
  if (listen === 'on') for (const t of EVENTS) pool.on(t, () => { events++; });
  if (listen === 'addEventListener') for (const t of EVENTS) pool.addEventListener(t, () => { events++; });
  const t0 = performance.now();
  const promises = new Array(n);
  if (priorities) {
    for (let i = 0; i < n; i++) promises[i] = pool.submit(job, { priority: priorities[i] });
  } else {
    for (let i = 0; i < n; i++) promises[i] = pool.submit(job);
  }
  const values = await Promise.all(promises);
  const m = pool.metrics();
  const ms = performance.now() - t0;
  check(values.length === n && m.succeeded === n, 'workcrew settled every job');
  check(listen === 'none' || events === 3 * n, 'queued, attemptStarted, succeeded each');
  await pool.shutdown();
  return ms;
}

/**
 * p-queue; with `listen`, a listener on each of its per-job events. p-queue 10 is an EventTarget
 * (9.x was an EventEmitter with `on()`): it dispatches a CustomEvent for each, listened to or not.
 */
async function pqueue(n, listen = false, priorities = null) {
  let events = 0;
  const queue = new PQueue({ concurrency: 8 });
  if (listen) for (const t of ['active', 'completed', 'error', 'next']) queue.addEventListener(t, () => { events++; });
  const t0 = performance.now();
  const promises = new Array(n);
  if (priorities) {
    for (let i = 0; i < n; i++) promises[i] = queue.add(job, { priority: priorities[i] });
  } else {
    for (let i = 0; i < n; i++) promises[i] = queue.add(job);
  }
  await queue.onIdle();
  const values = await Promise.all(promises);
  const ms = performance.now() - t0;
  check(values.length === n, 'p-queue settled every job');
  check(!listen || events >= 3 * n, 'p-queue: active, completed and next each');
  return ms;
}

/**
 * p-queue 10's `timeout` makes an AbortController and a timer for every task, aborts the task's
 * `signal` when it runs out and rejects `add()` with a TimeoutError (a DOMException).
 */
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

// --- (d) memory per queued job ------------------------------------------------------------------

let wasmMemory;
const heap = () => performance.memory.usedJSHeapSize;
async function settleGc() {
  for (let i = 0; i < 3; i++) { globalThis.gc?.(); await new Promise((r) => setTimeout(r, 20)); }
}

/** Bytes per queued job: JS heap and wasm memory growth with `q` jobs behind a blocked worker. */
async function memoryWorkcrew(q) {
  const pool = new WorkPool({ workers: 1, queue: q + 1 });
  let release;
  const blocker = pool.submit(() => new Promise((r) => { release = r; }));
  await settleGc();
  const before = { js: heap(), wasm: wasmMemory.buffer.byteLength };
  const promises = new Array(q);
  for (let i = 0; i < q; i++) promises[i] = pool.submit(job);
  await settleGc();
  const after = { js: heap(), wasm: wasmMemory.buffer.byteLength };
  check(pool.size === q, 'every job queued');
  release(0);
  await Promise.all([blocker, ...promises]);
  await pool.shutdown();
  return { js: (after.js - before.js) / q, wasm: (after.wasm - before.wasm) / q };
}

async function memoryPqueue(q) {
  const queue = new PQueue({ concurrency: 1 });
  let release;
  const blocker = queue.add(() => new Promise((r) => { release = r; }));
  await settleGc();
  const before = heap();
  const promises = new Array(q);
  for (let i = 0; i < q; i++) promises[i] = queue.add(job);
  await settleGc();
  const after = heap();
  check(queue.size === q, 'every job queued');
  release(0);
  await Promise.all([blocker, ...promises]);
  return { js: (after - before) / q, wasm: 0 };
}

const variants = [
  [`(a) WorkPool, no listener, ${N} jobs`, () => workcrew(N)],
  [`(a) p-queue, no listener, ${N} jobs`, () => pqueue(N)],
  [`(b) WorkPool, onEvent (every event), ${N} jobs`, () => workcrew(N, { listen: 'onEvent' })],
  [`(b) WorkPool, on() (all 8 types), ${N} jobs`, () => workcrew(N, { listen: 'on' })],
  [`(b) WorkPool, addEventListener (all 8 types), ${N} jobs`, () => workcrew(N, { listen: 'addEventListener' })],
  [`(b) p-queue, listeners on active, completed, error, next, ${N} jobs`, () => pqueue(N, true)],
  [`(c) WorkPool, timeout 1000 ms + 2 retries, ${M} jobs`, () => workcrew(M, { timeout: 1000, retries: 2, backoff: { kind: 'none' } })],
  [`(c) p-queue (timeout 1000 ms) + p-retry (2 retries), ${M} jobs`, () => pqueueRetry(M)],
  [`(e) WorkPool, random priorities 0–7, ${N} jobs`, () => workcrew(N, { priorities: PRIORITIES })],
  [`(e) p-queue, random priorities 0–7, ${N} jobs`, () => pqueue(N, false, PRIORITIES)],
];

// `only=a,e`: just the variants of those groups (the scheduler's targets are (a) and (e)).
const ONLY = params.get('only')?.split(',').filter(Boolean);
if (ONLY) variants.splice(0, variants.length, ...variants.filter(([name]) => ONLY.includes(name[1])));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  ({ memory: wasmMemory } = await init());
  if (params.get('mode') === 'memory') {
    // A fresh page per measurement (run.mjs): wasm memory only grows, so it is measured in an
    // instance that has run nothing before.
    window.__bench = { memory: { q: Q, workcrew: await memoryWorkcrew(Q), pqueue: await memoryPqueue(Q) } };
    return;
  }
  const times = variants.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    // Each round starts at the next variant, so none always runs first, or after the same one.
    for (let k = 0; k < variants.length; k++) {
      const i = (k + r) % variants.length;
      // Each variant starts on a collected heap, so none pays for the garbage of the one before.
      await settleGc();
      times[i].push(await variants[i][1]());
    }
  }
  const results = variants.map(([name], i) => ({ name, ms: median(times[i]), all: times[i] }));
  window.__bench = { n: N, m: M, rounds: ROUNDS, userAgent: navigator.userAgent, results };
  document.querySelector('#out').textContent = JSON.stringify(window.__bench, null, 2);
}

main().catch((e) => { window.__bench = { error: String(e.stack ?? e) }; });
