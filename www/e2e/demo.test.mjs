// End-to-end: the served demo in Debian's Chromium, driven by playwright-core. Asserts on what
// the page shows, and on what the server counted. Run with `npm run test:e2e` in www/ after
// `bash www/build.sh`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxInWindow } from '../serve.mjs';
import {
  WAIT, burst, configure, env, gauge, hostStats, metric, openDemo, serverTotals, setup, shot,
  unexpected, untilHosts, waitMetric,
} from './lib.mjs';

setup();

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
    const box = (el) => ({ l: el.offsetLeft, r: el.offsetLeft + el.offsetWidth, bar: el.classList.contains('tl-bar') });
    const waits = track.querySelectorAll('.tl-wait');
    const xs = [...track.children].filter((el) => !el.classList.contains('tl-wait')).map(box).sort((p, q) => p.l - q.l);
    // The wait in the queue, then bar, gap, bar, gap, bar: each starts where the one before
    // ends (within 2 px).
    const wait = waits.length === 1 ? box(waits[0]) : null;
    // (A short wait is drawn at the minimum width, 0.4% of the track.)
    return wait !== null && wait.l <= xs[0].l && wait.r <= Math.max(xs[0].l, wait.l + 0.004 * track.offsetWidth) + 2 &&
      xs.length === 5 && xs.every((x, i) => x.bar === (i % 2 === 0) && (i === 0 || x.l >= xs[i - 1].r - 2));
  }));
  assert.ok(ordered, 'the wait, then attempts and backoff gaps follow each other on the axis');
  await page.locator('.timeline-panel').screenshot({ path: shot('timeline.png') });
  // Every timed-out attempt aborted its real request: the server counted each one.
  await serverAgrees(page, 12);
  assert.equal(serverTotals().hung, 12);
  // The page's console shows the aborted fetches as errors; nothing else.
  assert.deepEqual(unexpected(errors), []);
  await page.screenshot({ path: shot('demo-timeouts.png'), fullPage: true });
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
  assert.equal(serverTotals().aborted, expected, 'the server itself counted them');
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
  assert.equal(serverTotals().requests, 3);
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
  await page.screenshot({ path: shot('demo.png'), fullPage: true });
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
  await page.locator('.timeline-panel').screenshot({ path: shot('timeline-phone.png') });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow}px)`);
  assert.deepEqual(unexpected(errors), []);
  await page.screenshot({ path: shot('demo-phone.png'), fullPage: true });
  await page.close();
});

// --- the simulated hosts a, b and c -------------------------------------------------------------



test('the server counts each host: in flight, peak, starts, starts in a window, reset', async () => {
  // The window: two starts are in one window when they are less than `window` apart.
  assert.equal(maxInWindow([], 100), 0);
  assert.equal(maxInWindow([0, 100, 200, 300], 100), 1, 'exactly a window apart: never together');
  assert.equal(maxInWindow([0, 99.9, 100, 150, 199, 400], 100), 4, '99.9 to 199');
  assert.equal(maxInWindow([0, 1, 2, 500, 501, 502, 503], 10), 4);
  assert.equal(maxInWindow([0, 1, 2, 500, 501, 502, 503], 1000), 7);

  assert.equal((await fetch(`${env.server.url}api/host/d/item/1`)).status, 404, 'only a, b and c');
  assert.equal((await fetch(`${env.server.url}api/stats?window=0`)).status, 400);
  const plain = await (await fetch(`${env.server.url}api/stats`)).json();
  assert.deepEqual(Object.keys(plain), ['requests', 'ok', 'failed', 'hung', 'aborted', 'inFlight', 'slow', 'duplicates', 'outage'],
    'without ?window, /api/stats answers as before, with the slow tail, the duplicates and the outage');

  await hostStats(1000, true);
  // Five requests that hang on host c, sent at once from here; the server counts them in flight.
  const abort = new AbortController();
  const hung = Array.from({ length: 5 }, (_, i) =>
    fetch(`${env.server.url}api/host/c/item/${i}?hang=100`, { signal: abort.signal }).catch((e) => e.name));
  let hosts = await untilHosts(3_600_000, (h) => h.c.inFlight === 5);
  for (const h of ['c', 'all']) {
    assert.deepEqual(hosts[h], { inFlight: 5, peak: 5, starts: 5, ok: 0, failed: 0, hung: 5, aborted: 0, slow: 0, duplicates: 0, maxStartsInWindow: 5 }, h);
  }
  assert.deepEqual(hosts.a, { inFlight: 0, peak: 0, starts: 0, ok: 0, failed: 0, hung: 0, aborted: 0, slow: 0, duplicates: 0, maxStartsInWindow: 0 });
  // A reset keeps what is in flight (and so the peak); the rest starts again from 0.
  hosts = await hostStats(3_600_000, true);
  assert.equal(hosts.c.starts, 5);
  hosts = await hostStats(3_600_000);
  assert.deepEqual(hosts.c, { inFlight: 5, peak: 5, starts: 0, ok: 0, failed: 0, hung: 0, aborted: 0, slow: 0, duplicates: 0, maxStartsInWindow: 0 });
  abort.abort();
  assert.deepEqual(await Promise.all(hung), Array(5).fill('AbortError'));
  hosts = await untilHosts(3_600_000, (h) => h.all.inFlight === 0);
  // Their ends come off the new counts' inFlight; their outcome counted where they started.
  assert.deepEqual(hosts.c, { inFlight: 0, peak: 5, starts: 0, ok: 0, failed: 0, hung: 0, aborted: 0, slow: 0, duplicates: 0, maxStartsInWindow: 0 });
  // One answered, one failed: starts = ok + failed + aborted.
  assert.equal((await fetch(`${env.server.url}api/host/b/item/7`)).status, 200);
  assert.deepEqual(await (await fetch(`${env.server.url}api/host/b/item/7?fail=100`)).json(), { error: 'injected failure', host: 'b', id: 7 });
  hosts = await untilHosts(3_600_000, (h) => h.all.inFlight === 0 && h.all.starts === 2);
  assert.deepEqual(hosts.b, { inFlight: 0, peak: 1, starts: 2, ok: 1, failed: 1, hung: 0, aborted: 0, slow: 0, duplicates: 1, maxStartsInWindow: 2 });
  assert.equal(env.server.stats.requests, 0, 'the hosts are not counted in /api/item\'s counts');
});

// A pool without the scheduler's limits against the hosts: its only limit is `workers`, so the
// server's peak on each host (and on the three together) is checked against that. The limits
// (`perKey`, keyed by host; `intervalCap` per `interval`) and the page's controls for them are
// checked in scheduler.test.mjs.
// No hangs or timeouts here: a timed-out attempt frees its worker before the server sees its
// connection close, so the server may count one request more in flight for a moment.
test('simulated hosts: no host ever has more requests in flight than the pool has workers', async (t) => {
  const { page, errors } = await openDemo();
  const setup = { workers: 3, jobs: 48, latency: 100, fail: 25, retries: 2 };
  const WINDOW = 500;
  await hostStats(WINDOW, true);
  const seen = await page.evaluate(async ({ workers, jobs, latency, fail, retries }) => {
    // The module the page loaded (and initialised): the same URL, the same instance.
    const { WorkPool } = await import(new URL('pkg/index.js', location.href).href);
    const pool = new WorkPool({ workers, queue: jobs, retries, backoff: { kind: 'none' }, timeout: 20_000 });
    const host = (i) => (i % 6 < 3 ? 'a' : i % 6 < 5 ? 'b' : 'c'); // a half, b a third, c a sixth
    const attempts = { a: 0, b: 0, c: 0 };
    const ok = { a: 0, b: 0, c: 0 };
    const jobsOn = { a: 0, b: 0, c: 0 };
    const settled = await Promise.allSettled(Array.from({ length: jobs }, (_, i) => {
      jobsOn[host(i)]++;
      return pool.submit(async ({ signal }) => {
        attempts[host(i)]++;
        const res = await fetch(`api/host/${host(i)}/item/${i}?latency=${latency}&fail=${fail}`, { signal, cache: 'no-store' });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const body = await res.json();
        ok[body.host]++;
        return body;
      });
    }));
    const { metrics } = await pool.shutdown();
    return { metrics, attempts, ok, jobsOn, fulfilled: settled.filter((s) => s.status === 'fulfilled').length };
  }, setup);
  const hosts = await untilHosts(WINDOW, (h) => h.all.inFlight === 0);
  const m = seen.metrics;
  t.diagnostic(`workers ${setup.workers}; attempts ${m.attempts}; per host (peak, starts, most starts in ${WINDOW} ms): ${
    Object.entries(hosts).map(([h, c]) => `${h} ${c.peak}, ${c.starts}, ${c.maxStartsInWindow}`).join('; ')}`);
  // The pool: every job settled, no timeouts.
  assert.equal(m.submitted, setup.jobs);
  assert.equal(m.succeeded + m.failed + m.cancelled, m.submitted);
  assert.equal(m.succeeded, seen.fulfilled);
  assert.equal(m.timedOut, 0);
  // The server saw every attempt, each on its host, and answered each once.
  for (const h of ['a', 'b', 'c']) {
    assert.equal(hosts[h].starts, seen.attempts[h], `host ${h}: one request per attempt`);
    assert.equal(hosts[h].ok, seen.ok[h], `host ${h}: the answers the jobs got`);
    assert.ok(hosts[h].starts >= seen.jobsOn[h], `host ${h}: at least one attempt per job`);
  }
  for (const key of ['starts', 'ok', 'failed', 'hung', 'aborted']) {
    assert.equal(hosts.all[key], hosts.a[key] + hosts.b[key] + hosts.c[key], `all.${key} adds up`);
  }
  for (const [h, c] of Object.entries(hosts)) {
    assert.equal(c.starts, c.ok + c.failed + c.aborted, `${h}: every request ended once`);
    assert.equal(c.aborted, 0, h);
  }
  assert.equal(hosts.all.starts, m.attempts);
  assert.equal(hosts.all.ok, m.succeeded);
  assert.equal(hosts.all.failed, m.attempts - m.succeeded, 'every failed attempt was a 503');
  // The limit: never more requests in flight on a host, or on all three, than workers.
  for (const [h, c] of Object.entries(hosts)) {
    assert.ok(c.peak <= setup.workers, `${h}: peak ${c.peak} > ${setup.workers} workers`);
  }
  assert.ok(hosts.all.peak >= 2, 'the requests overlapped, so the check above means something');
  // Starts in a window: with at most `workers` in flight and every request held at least
  // `latency` on the server (half of it here, for timer slop), no window of WINDOW ms can hold
  // more than workers × ⌈WINDOW / (latency / 2)⌉ starts. The scheduler's test puts intervalCap here.
  const cap = setup.workers * Math.ceil(WINDOW / (setup.latency / 2));
  assert.ok(hosts.all.maxStartsInWindow >= 1 && hosts.all.maxStartsInWindow <= cap,
    `${hosts.all.maxStartsInWindow} starts in ${WINDOW} ms (at most ${cap})`);
  for (const h of ['a', 'b', 'c']) assert.ok(hosts[h].maxStartsInWindow <= hosts.all.maxStartsInWindow, h);
  const whole = await hostStats(3_600_000);
  assert.equal(whole.all.maxStartsInWindow, hosts.all.starts, 'all the starts in an hour-long window');
  assert.deepEqual(unexpected(errors), []);
  await page.close();
});
