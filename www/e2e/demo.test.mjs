// End-to-end: the served demo in Debian's Chromium, driven by playwright-core. Asserts on what
// the page shows. Run with `npm run test:e2e` in www/ after `bash www/build.sh`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from '../serve.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const shots = path.resolve(here, '../../target/e2e');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
// Generous: this may run on a loaded 2-core machine.
const WAIT = { timeout: 30_000 };

let server;
let browser;

before(async () => {
  server = await startServer({ port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function openDemo(viewport = { width: 1440, height: 1000 }) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(server.url);
  await page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('Pool ready'), null, WAIT);
  return { page, errors };
}

/** Fills the pool and endpoint forms, then creates a new pool. */
async function configure(page, pool, endpoint) {
  for (const [name, value] of Object.entries(pool)) {
    const field = page.locator(`#pool-form [name="${name}"]`);
    if (name === 'backoffKind') await field.selectOption(value);
    else await field.fill(String(value));
  }
  for (const [name, value] of Object.entries(endpoint)) {
    await page.locator(`#endpoint-form [name="${name}"]`).fill(String(value));
  }
  await page.click('#apply');
  await page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('Pool ready'), null, WAIT);
}

/** Console errors other than the requests the demo makes fail on purpose (503s, aborts). */
const unexpected = (errors) =>
  errors.filter((e) => !/status of 503|net::ERR_ABORTED|aborted/i.test(e));

async function burst(page, n) {
  await page.fill('#burst-size', String(n));
  await page.click('#submit-burst');
}

const metric = async (page, key) => Number(await page.locator(`[data-metric="${key}"] b`).textContent());
const gauge = async (page, key) => Number(await page.locator(`[data-gauge="${key}"]`).textContent());

function waitMetric(page, key, value) {
  return page.waitForFunction(
    ([k, v]) => Number(document.querySelector(`[data-metric="${k}"] b`).textContent) >= v,
    [key, value],
    WAIT,
  );
}

test('every job succeeds', async () => {
  const { page, errors } = await openDemo();
  await configure(page,
    { workers: 4, queue: 50, timeout: 5000, retries: 0 },
    { latency: 20, failure: 0, hang: 0 });
  await burst(page, 20);
  await waitMetric(page, 'succeeded', 20);
  assert.equal(await metric(page, 'submitted'), 20);
  assert.equal(await metric(page, 'failed'), 0);
  assert.equal(await metric(page, 'timedOut'), 0);
  assert.equal(await page.locator('#jobs li.succeeded').count(), 20);
  // Each row shows what its fetch returned.
  assert.match(await page.locator('#jobs li.succeeded .state').first().textContent(), /succeeded · item \d/);
  assert.deepEqual(unexpected(errors), []);
  await page.close();
});

test('hang rate 100% with a short timeout: timeouts and retries are visible', async () => {
  const { page, errors } = await openDemo();
  await configure(page,
    { workers: 4, queue: 50, timeout: 150, retries: 2, backoffKind: 'constant', backoffDelay: 50 },
    { latency: 0, failure: 0, hang: 100 });
  await burst(page, 4);
  await waitMetric(page, 'failed', 4);
  assert.equal(await metric(page, 'timedOut'), 12, 'three attempts each, all timed out');
  assert.equal(await metric(page, 'retried'), 8);
  assert.equal(await metric(page, 'succeeded'), 0);
  assert.equal(await page.locator('#jobs .chip.timeout').count(), 12);
  assert.equal(await page.locator('#jobs .chip.retry').count(), 8);
  assert.match(await page.locator('#jobs .chip.retry').first().textContent(), /retry in 50 ms/);
  assert.equal(await page.locator('#jobs li.failed').count(), 4);
  // The timeline: 3 timed-out bars per job, 2 backoff gaps between them, in time order.
  await page.waitForFunction(() => document.querySelectorAll('#timeline .tl-bar.timeout').length === 12, null, WAIT);
  assert.equal(await page.locator('#timeline .tl-row').count(), 4);
  assert.equal(await page.locator('#timeline .tl-gap').count(), 8);
  const ordered = await page.evaluate(() => [...document.querySelectorAll('#timeline .tl-track')].every((track) => {
    const xs = [...track.children].map((el) => ({ l: el.offsetLeft, r: el.offsetLeft + el.offsetWidth, bar: el.classList.contains('tl-bar') }))
      .sort((p, q) => p.l - q.l);
    // bar, gap, bar, gap, bar: each starts where the one before ends (within 2 px)
    return xs.length === 5 && xs.every((x, i) => x.bar === (i % 2 === 0) && (i === 0 || x.l >= xs[i - 1].r - 2));
  }));
  assert.ok(ordered, 'attempts and backoff gaps follow each other on the axis');
  await page.locator('.timeline-panel').screenshot({ path: path.join(shots, 'timeline.png') });
  // Every timed-out attempt aborted its real request: the server counted each one.
  await serverAgrees(page, 12);
  assert.equal(server.stats.hung, 12);
  // The page's console shows the aborted fetches as errors; nothing else.
  assert.deepEqual(unexpected(errors), []);
  await page.screenshot({ path: path.join(shots, 'demo-timeouts.png'), fullPage: true });
  await page.close();
});

/** The server's count of aborted requests, shown by the page, equals the pool's dropped attempts. */
async function serverAgrees(page, expected) {
  await page.waitForFunction(
    (n) => {
      const d = document.querySelector('#server-stats').dataset;
      return Number(d.aborted) === n && Number(d.dropped) === n && Number(d.inFlight) === 0;
    },
    expected,
    WAIT,
  );
  assert.equal(server.stats.aborted, expected, 'the server itself counted them');
}

test('abort cancels running requests on the wire: the server counts each', async () => {
  const { page, errors } = await openDemo();
  await configure(page,
    { workers: 3, queue: 10, timeout: '', retries: 0 },
    { latency: 0, failure: 0, hang: 100 });
  await burst(page, 5);
  await page.waitForFunction(() => Number(document.querySelector('[data-gauge="running"]').textContent) === 3, null, WAIT);
  await page.waitForFunction(() => Number(document.querySelector('#server-stats').dataset.inFlight) === 3, null, WAIT);
  await page.click('#abort');
  await page.waitForFunction(() => document.querySelector('#status').dataset.state === 'done', null, WAIT);
  assert.match(await page.locator('#status').textContent(), /^Aborted: 0 completed, 5 cancelled\./);
  // Three requests were in flight and were aborted; the two queued jobs never sent one.
  await serverAgrees(page, 3);
  assert.equal(server.stats.requests, 3);
  assert.deepEqual(unexpected(errors), []);
  await page.close();
});

test('a drain shutdown with queued jobs settles every job', async () => {
  const { page, errors } = await openDemo();
  await configure(page,
    { workers: 2, queue: 8, timeout: 5000, retries: 0 },
    { latency: 1000, failure: 0, hang: 0 });
  await burst(page, 8);
  await page.waitForFunction(() => Number(document.querySelector('[data-gauge="queued"]').textContent) === 6, null, WAIT);
  assert.equal(await gauge(page, 'running'), 2, 'both workers busy');
  await page.click('#drain');
  await page.waitForFunction(() => document.querySelector('#status').dataset.state === 'done', null, WAIT);
  const status = await page.locator('#status').textContent();
  // `completed` counts the jobs that ended while the drain waited: all 8 unless a loaded machine
  // delivered the click after the first ones had finished. Every job settles either way.
  const m = /^Drained: (\d+) completed, 0 cancelled\. Every job settled: 8 submitted = 8 succeeded \+ 0 failed \+ 0 cancelled\./.exec(status);
  assert.ok(m, status);
  assert.ok(Number(m[1]) >= 1 && Number(m[1]) <= 8, `the drain waited for jobs (${m[1]} completed)`);
  assert.equal(await metric(page, 'succeeded'), 8);
  assert.equal(await gauge(page, 'queued'), 0);
  assert.equal(await gauge(page, 'running'), 0);
  assert.equal(await page.locator('#jobs li.succeeded').count(), 8);
  assert.equal(await page.locator('#submit-burst').isDisabled(), true, 'no submissions after shutdown');
  assert.deepEqual(unexpected(errors), []);
  await page.screenshot({ path: path.join(shots, 'demo.png'), fullPage: true });
  await page.close();
});

test('the page is readable on a phone', async () => {
  const { page, errors } = await openDemo({ width: 390, height: 844 });
  await configure(page, { workers: 2, queue: 10, timeout: 1000, retries: 1 }, { latency: 30, failure: 30, hang: 0 });
  await burst(page, 10);
  await page.waitForFunction(() => {
    const n = (k) => Number(document.querySelector(`[data-metric="${k}"] b`).textContent);
    return n('succeeded') + n('failed') === 10;
  }, null, WAIT);
  assert.ok(await page.locator('#timeline .tl-bar').count() >= 10, 'the timeline shows the attempts');
  await page.locator('.timeline-panel').screenshot({ path: path.join(shots, 'timeline-phone.png') });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow}px)`);
  assert.deepEqual(unexpected(errors), []);
  await page.screenshot({ path: path.join(shots, 'demo-phone.png'), fullPage: true });
  await page.close();
});
