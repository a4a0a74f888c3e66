// Serves the benchmark (or soak) page and runs it in Debian's Chromium; prints the results.
//   node bench/browser/run.mjs          the benchmark     (after `bash www/build.sh`; see run.sh)
//   node bench/browser/run.mjs soak     the wasm soak     (N=1000000 by default)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from '../../www/serve.mjs';

// The wasm package and this folder (with the peers in its node_modules), nothing else.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const server = await startServer({ port: 0, root, allow: ['/www/pkg/', '/bench/browser/'] });
const base = server.url.replace(/\/$/, '');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--enable-precise-memory-info', '--js-flags=--expose-gc'],
});
try {
  if (process.argv[2] === 'soak') {
    await soak();
  } else {
    await bench();
  }
} finally {
  await browser.close();
  await server.close();
}

async function soak() {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  const n = process.env.N ?? '1000000';
  await page.goto(`${base}/bench/browser/soak.html?n=${n}`);
  await page.waitForFunction(() => window.__soak, null, { timeout: 30 * 60_000 });
  const s = await page.evaluate(() => window.__soak);
  if (s.error) throw new Error(s.error);
  const mib = (b) => (b / 1048576).toFixed(1);
  console.log(`\nwasm soak: ${s.n} jobs in ${(s.ms / 1000).toFixed(1)} s (${Math.round(s.n / s.ms * 1000)} jobs/s)`);
  console.log(`start: JS heap ${mib(s.start.heap)} MiB, wasm memory ${mib(s.start.linear)} MiB`);
  for (const x of s.samples) console.log(`after ${String(x.jobs).padStart(8)} jobs: JS heap ${mib(x.heap)} MiB, wasm memory ${mib(x.linear)} MiB`);
  console.log(`promises: ${s.counts.ok} ok, ${s.counts.failed} failed, ${s.counts.cancelled} cancelled (${s.withdrawn} of them withdrawn while they waited for room, never submitted)`);
  const m = s.metrics;
  console.log(`metrics: submitted ${m.submitted} = succeeded ${m.succeeded} + failed ${m.failed} + cancelled ${m.cancelled}; timed out ${m.timedOut}, retried ${m.retried}`);
  const first = s.samples[0], last = s.samples.at(-1);
  const growth = { heap: last.heap - first.heap, linear: last.linear - first.linear };
  console.log(`growth after warm-up: JS heap ${mib(growth.heap)} MiB, wasm memory ${mib(growth.linear)} MiB`);
  if (!s.balanced) throw new Error('not balanced: a promise or a metric is off');
  if (growth.linear > 8 << 20 || growth.heap > 32 << 20) throw new Error('memory is not flat');
  console.log('nothing lost');
}

async function bench() {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  const q = new URLSearchParams({ n: process.env.N ?? '100000', m: process.env.M ?? '10000',
    q: process.env.Q ?? '100000', rounds: process.env.ROUNDS ?? '5' });
  // ONLY=a,e runs those groups alone (and skips the memory pages unless d is among them).
  if (process.env.ONLY) q.set('only', process.env.ONLY);
  const only = process.env.ONLY?.split(',');
  const want = (g) => !only || only.includes(g);
  await page.goto(`${base}/bench/browser/bench.html?${q}`);
  await page.waitForFunction(() => window.__bench, null, { timeout: 30 * 60_000 });
  const bench = await page.evaluate(() => window.__bench);
  if (bench.error) throw new Error(bench.error);
  const ms = (prefix) => bench.results.find((r) => r.name.startsWith(prefix))?.ms ?? NaN;
  const version = (name) => JSON.parse(readFileSync(path.join(root, 'bench/browser/node_modules', name, 'package.json'), 'utf8')).version;
  console.log(`\n### Browser (${bench.userAgent.match(/HeadlessChrome\/[\d.]+/)?.[0] ?? 'Chromium'}, median of ${bench.rounds} rounds; p-queue ${version('p-queue')}, p-retry ${version('p-retry')})\n`);
  console.log('| variant | ms | jobs/s |');
  console.log('|---|---:|---:|');
  for (const r of bench.results) {
    const n = r.name.includes(`${bench.n} jobs`) ? bench.n : bench.m;
    console.log(`| ${r.name} | ${r.ms.toFixed(0)} | ${(n / r.ms * 1000 / 1e3).toFixed(0)} k |`);
  }
  // (d): one fresh page per round.
  let wcBytes = NaN;
  let mem = null;
  if (want('d')) {
    const rounds = [];
    for (let r = 0; r < Number(process.env.ROUNDS ?? '5'); r++) {
      const p = await browser.newPage();
      await p.goto(`${base}/bench/browser/bench.html?${q}&mode=memory`);
      await p.waitForFunction(() => window.__bench, null, { timeout: 10 * 60_000 });
      const m = await p.evaluate(() => window.__bench);
      if (m.error) throw new Error(m.error);
      rounds.push(m.memory);
      await p.close();
    }
    const mid = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    mem = {
      q: rounds[0].q,
      workcrew: { js: mid(rounds.map((m) => m.workcrew.js)), wasm: mid(rounds.map((m) => m.workcrew.wasm)) },
      pqueue: { js: mid(rounds.map((m) => m.pqueue.js)) },
    };
    wcBytes = mem.workcrew.js + mem.workcrew.wasm;
    console.log(`\n(d) memory with ${mem.q} jobs queued behind a blocked worker (median of ${rounds.length} fresh pages):\n`);
    console.log('| variant | JS heap B/job | wasm memory B/job | total B/job |');
    console.log('|---|---:|---:|---:|');
    console.log(`| WorkPool | ${mem.workcrew.js.toFixed(0)} | ${mem.workcrew.wasm.toFixed(0)} | ${wcBytes.toFixed(0)} |`);
    console.log(`| p-queue | ${mem.pqueue.js.toFixed(0)} | – | ${mem.pqueue.js.toFixed(0)} |`);
  }
  const a = ms('(a) p-queue') / ms('(a) WorkPool');
  const b = ms('(b) p-queue') / ms('(b) WorkPool, onEvent');
  const bOn = ms('(b) p-queue') / ms('(b) WorkPool, on()');
  const b2 = ms('(b) p-queue') / ms('(b) WorkPool, addEventListener');
  const c = ms('(c) p-queue') / ms('(c) WorkPool');
  const d = mem ? wcBytes / mem.pqueue.js : NaN;
  const e = ms('(e) p-queue') / ms('(e) WorkPool');
  const verdict = (ok) => (ok ? 'met' : '**missed**');
  const log = console.log;
  console.log = (line) => { if (!line.includes('NaN')) log(line); }; // groups not run
  console.log('\n| target | measured | |');
  console.log('|---|---:|---|');
  console.log(`| (a) ≥ 2× p-queue's throughput, no listeners | ${a.toFixed(2)}× | ${verdict(a >= 2)} |`);
  console.log(`| (b) ≥ 1.5× p-queue's, a listener for every event (onEvent) | ${b.toFixed(2)}× | ${verdict(b >= 1.5)} |`);
  console.log(`| (b) the same with on() for all 8 types | ${bOn.toFixed(2)}× | ${verdict(bOn >= 1.5)} |`);
  console.log(`| (b) the same with addEventListener for all 8 types | ${b2.toFixed(2)}× | ${verdict(b2 >= 1.5)} |`);
  console.log(`| (c) ≥ 2× p-queue + p-retry, timeout and retries | ${c.toFixed(2)}× | ${verdict(c >= 2)} |`);
  console.log(`| (d) memory per queued job ≤ p-queue's | ${d.toFixed(2)}× | ${verdict(d <= 1)} |`);
  console.log(`| (a) ≥ 3× p-queue's throughput, no listeners (the scheduler's target) | ${a.toFixed(2)}× | ${verdict(a >= 3)} |`);
  console.log(`| (e) ≥ 3× p-queue's throughput, random priorities on both sides | ${e.toFixed(2)}× | ${verdict(e >= 3)} |`);
  console.log = log;
}
