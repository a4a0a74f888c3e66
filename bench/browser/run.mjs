// Serves the benchmark page and runs it in Debian's Chromium; prints a Markdown table.
//   node bench/browser/run.mjs     (after `bash www/build.sh`; see run.sh)
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const allowed = ['/www/pkg/', '/bench/browser/'];
const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const file = path.resolve(root, '.' + decodeURIComponent(url.pathname));
  if (!allowed.some((p) => file.startsWith(path.join(root, p)))) return res.writeHead(404).end();
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
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
} finally {
  await browser.close();
  server.close();
}
