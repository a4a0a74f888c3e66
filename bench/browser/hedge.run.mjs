// Hedging in the browser against the demo's server (issue 19's target): serves bench/browser/
// hedge.html with www/serve.mjs, runs it in Debian's Chromium, prints the table and the summary
// lines `#T<TAB>target<TAB>measured<TAB>limit<TAB>PASS|MISS` (gathered by bench/policies.sh).
//   bash www/build.sh && node bench/browser/hedge.run.mjs     JOBS=400 ROUNDS=5 LATENCY=50 SLOW=5 WORKERS=3
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from '../../www/serve.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const server = await startServer({ port: 0, root, allow: ['/www/pkg/', '/bench/browser/'] });
const base = server.url.replace(/\/$/, '');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  const q = new URLSearchParams({ jobs: process.env.JOBS ?? '400', rounds: process.env.ROUNDS ?? '5',
    latency: process.env.LATENCY ?? '50', slow: process.env.SLOW ?? '5', workers: process.env.WORKERS ?? '3' });
  await page.goto(`${base}/bench/browser/hedge.html?${q}`);
  await page.waitForFunction(() => window.__hedge, null, { timeout: 30 * 60_000 });
  const h = await page.evaluate(() => window.__hedge);
  console.log('\n### Hedging in the browser, against the demo\'s server\n');
  if (h.error) {
    console.log(`Not measured: ${h.error.split('\n')[0]}`);
    process.exitCode = 2;
  } else {
    const f = (x) => x.toFixed(1);
    console.log(`${h.userAgent.match(/HeadlessChrome\/[\d.]+/)?.[0] ?? 'Chromium'}; ${h.jobs} jobs per run on ${h.workers} workers, each a fetch of ` +
      `\`/api/item/N?latency=${h.latency}&slow=${h.slow}\` (slowFactor 10: ${h.slow}% take ${h.latency * 10} ms); ` +
      `\`hedge: { delay: ${h.delay}, max: 1 }\`, the delay the median p95 of the requests in three runs without hedging (${h.p95s.map(f).join(', ')} ms: ` +
      `each the slowest request the server did not choose slow, the p95 when exactly 5% are; the plain nearest-rank p95s were ${h.rawP95s.map(f).join(', ')} ms). ` +
      'Requests and duplicates are the server\'s counts (/api/stats, reset before each run).\n');
    console.log('| round | p50 off | p99 off | p50 on | p99 on | p99 on/off | server requests off | on | duplicates off | on | extra | hedges started / won |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const r of h.rounds) {
      console.log(`| ${r.round} | ${f(r.off.p50)} | ${f(r.off.p99)} | ${f(r.on.p50)} | ${f(r.on.p99)} | ${r.ratio.toFixed(3)} | ${r.off.requests} | ${r.on.requests} | ` +
        `${r.off.duplicates} | ${r.on.duplicates} | ${(r.extra * 100).toFixed(1)}% | ${r.on.hedgesStarted} / ${r.on.hedgesWon} |`);
    }
    const ratios = h.rounds.map((r) => r.ratio);
    const extras = h.rounds.map((r) => r.extra);
    const m = median(ratios), me = median(extras);
    const range = (xs, k = 1, d = 3) => `${(Math.min(...xs) * k).toFixed(d)}–${(Math.max(...xs) * k).toFixed(d)}`;
    console.log(`\nMedian over ${ratios.length} rounds: p99 with/without ${m.toFixed(3)}× (range ${range(ratios)}); extra requests ${(me * 100).toFixed(1)}% (range ${range(extras, 100, 1)}%), ` +
      `duplicates at the server (median) ${median(h.rounds.map((r) => r.on.duplicates))} with hedging, ${median(h.rounds.map((r) => r.off.duplicates))} without.`);
    console.log(`#T\thedging in the browser: p99 with / without, hedge { delay: ${h.delay}, max: 1 }\t${m.toFixed(3)}× (range ${range(ratios)}; p99 ${f(median(h.rounds.map((r) => r.on.p99)))} vs ${f(median(h.rounds.map((r) => r.off.p99)))} ms)\t≤ 0.3×\t${m <= 0.3 ? 'PASS' : 'MISS'}`);
    console.log(`#T\thedging in the browser: extra requests (server's duplicates ${median(h.rounds.map((r) => r.on.duplicates))} of ${h.jobs})\t${(me * 100).toFixed(1)}% (range ${range(extras, 100, 1)}%)\t≤ 10%\t${me <= 0.10 ? 'PASS' : 'MISS'}`);
  }
} finally {
  await browser.close();
  await server.close();
}
