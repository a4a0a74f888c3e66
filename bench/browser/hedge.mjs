// Runs in the page (bench/browser/hedge.run.mjs serves it with the demo's server, www/serve.mjs):
// jobs that each fetch one item from the server's slow tail, with and without hedging, rounds
// alternating. The server counts the requests and the duplicates (an item requested again since
// the last reset: a hedge that reached it). Results in window.__hedge.
//   ?jobs=400&rounds=5&latency=50&slow=5&workers=3
// Chromium keeps at most 6 connections per host (HTTP/1.1), so 3 workers with 1 hedge each never
// queue a request in the browser.
import init, { WorkPool } from '/www/pkg/index.js';

const params = new URLSearchParams(location.search);
const JOBS = Number(params.get('jobs') ?? 400);
const ROUNDS = Number(params.get('rounds') ?? 5);
const LATENCY = Number(params.get('latency') ?? 50);
const SLOW = Number(params.get('slow') ?? 5);
const WORKERS = Number(params.get('workers') ?? 3);

const out = document.getElementById('out');
const log = (line) => { out.textContent += `\n${line}`; };

async function stats(reset) {
  const r = await fetch(`/api/stats${reset ? '?reset=1' : ''}`);
  return r.json();
}

/** Nearest rank, `p` in 0..100, of sorted values. */
const pct = (sorted, p) => sorted[Math.min(sorted.length, Math.max(1, Math.ceil(p / 100 * sorted.length))) - 1];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * One run of JOBS jobs; `hedge`: the pool's hedge option, or null. A job's latency runs from its
 * first attempt's start to its winning attempt's end; `requests` holds every request that
 * answered (as the page saw it).
 */
async function run(hedge) {
  await stats(true);
  const pool = new WorkPool({ workers: WORKERS, queue: JOBS, ...(hedge ? { hedge } : {}) });
  const requests = [];
  const jobs = [];
  for (let i = 0; i < JOBS; i++) {
    let t0;
    jobs.push(pool.submit(async ({ signal }) => {
      t0 ??= performance.now();
      const s = performance.now();
      // `no-store`: Chromium's HTTP cache lets only one request for a URL go to the network at
      // a time (its cache lock), so without it a hedge of the same GET waits for the first
      // request's answer and never wins (measured: 20 hedges started, 0 won, p99 unchanged).
      const r = await fetch(`/api/item/${i}?latency=${LATENCY}&slow=${SLOW}`, { signal, cache: 'no-store' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      await r.json();
      const now = performance.now();
      requests.push(now - s);
      return now - t0;
    }));
  }
  const latencies = (await Promise.all(jobs)).sort((a, b) => a - b);
  const metrics = pool.metrics();
  await pool.shutdown();
  // Aborted hedges end on the server a moment later: wait until nothing is in flight.
  let server = await stats(false);
  for (let k = 0; k < 50 && server.inFlight > 0; k++) {
    await new Promise((r) => setTimeout(r, 20));
    server = await stats(false);
  }
  return { latencies, requests: requests.sort((a, b) => a - b), metrics, server };
}

try {
  await init();
  // Does this build hedge? A pool that ignored the option would make the comparison a fake.
  let supported = null;
  try {
    const probe = new WorkPool({ workers: 1, hedge: { delay: 10, max: 1 } });
    const m = probe.metrics();
    await probe.shutdown();
    if (!('hedgesStarted' in m)) supported = 'WorkPool accepted `hedge` but its metrics() has no hedgesStarted';
  } catch (e) {
    supported = `new WorkPool({ hedge: { delay, max } }) threw: ${e}`;
  }
  if (supported !== null) throw new Error(`this build has no hedging in JavaScript: ${supported}`);

  // The hedge's delay: the p95 of the requests' latency without hedging. The server draws each
  // request's slowness at random, so in a run of n requests the share of slow ones is only about
  // 5%, and the nearest-rank p95 falls in the slow tail about half the time. So the p95 is taken
  // as it is when exactly 5% are slow (as in the native benchmark): the slowest request the server
  // did not choose slow (its count `slow` says how many it chose; they are the slowest). The
  // median of three runs; the plain nearest-rank p95s are reported beside it.
  const p95s = [], rawP95s = [];
  for (let c = 0; c < 3; c++) {
    const { requests, server } = await run(null);
    p95s.push(requests[requests.length - server.slow - 1]);
    rawP95s.push(pct(requests, 95));
  }
  const delay = Math.round(median(p95s) * 10) / 10;
  const hedge = { delay, max: 1 };
  log(`hedge delay ${delay} ms (p95s ${p95s.map((p) => p.toFixed(1)).join(', ')})`);

  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    let off, on;
    if (r % 2 === 0) { off = await run(null); on = await run(hedge); } else { on = await run(hedge); off = await run(null); }
    const row = {
      round: r + 1,
      off: { p50: pct(off.latencies, 50), p99: pct(off.latencies, 99), requests: off.server.requests, duplicates: off.server.duplicates, slow: off.server.slow },
      on: { p50: pct(on.latencies, 50), p99: pct(on.latencies, 99), requests: on.server.requests, duplicates: on.server.duplicates, slow: on.server.slow,
        aborted: on.server.aborted, hedgesStarted: on.metrics.hedgesStarted, hedgesWon: on.metrics.hedgesWon },
    };
    row.ratio = row.on.p99 / row.off.p99;
    row.extra = row.on.requests / row.off.requests - 1;
    rounds.push(row);
    log(`round ${r + 1}: p99 ${row.off.p99.toFixed(1)} → ${row.on.p99.toFixed(1)} ms (${row.ratio.toFixed(3)}), duplicates ${row.on.duplicates}`);
  }
  window.__hedge = { jobs: JOBS, workers: WORKERS, latency: LATENCY, slow: SLOW, delay, p95s, rawP95s, rounds, userAgent: navigator.userAgent };
} catch (e) {
  log(`error: ${e}`);
  window.__hedge = { error: String(e?.stack ?? e) };
}
