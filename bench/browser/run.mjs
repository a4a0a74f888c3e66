// Serves the benchmark (or soak) page and runs it in Debian's Chromium; prints the results.
//   node bench/browser/run.mjs          the benchmark     (after `bash www/build.sh`; see run.sh)
//   node bench/browser/run.mjs soak     the wasm soak     (N=1000000 by default)
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
  console.log(`promises: ${s.counts.ok} ok, ${s.counts.failed} failed, ${s.counts.cancelled} cancelled`);
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
  const q = new URLSearchParams({ n: process.env.N ?? '100000', m: process.env.M ?? '10000', rounds: process.env.ROUNDS ?? '5' });
  await page.goto(`${base}/bench/browser/bench.html?${q}`);
  await page.waitForFunction(() => window.__bench, null, { timeout: 15 * 60_000 });
  const bench = await page.evaluate(() => window.__bench);
  if (bench.error) throw new Error(bench.error);
  const [wc, pq, wcr, pqr] = bench.results;
  console.log(`\n### Browser (${bench.userAgent.match(/HeadlessChrome\/[\d.]+/)?.[0] ?? 'Chromium'}, median of ${bench.rounds} rounds)\n`);
  console.log('| variant | ms | jobs/s |');
  console.log('|---|---:|---:|');
  for (const r of bench.results) {
    const n = r.name.includes(`${bench.n} jobs`) ? bench.n : bench.m;
    console.log(`| ${r.name} | ${r.ms.toFixed(0)} | ${(n / r.ms * 1000 / 1e3).toFixed(0)} k |`);
  }
  const x1 = pq.ms / wc.ms, x2 = pqr.ms / wcr.ms;
  console.log('\n| target | measured | |');
  console.log('|---|---:|---|');
  console.log(`| ≥ 2× p-queue, full JS API | ${x1.toFixed(2)}× | ${x1 >= 2 ? 'met' : '**missed**'} |`);
  console.log(`| ≥ 1.5× p-queue + p-retry, timeouts and retries set | ${x2.toFixed(2)}× | ${x2 >= 1.5 ? 'met' : '**missed**'} |`);
}
