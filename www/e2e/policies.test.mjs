// End-to-end: the policies across attempts on the demo page (issue 19), driven as a user would
// and checked against what the SERVER itself counted:
// - hedging against the server's slow tail: the page's p99 job time is lower with it than
//   without, for a few duplicate requests, as the server counts them;
// - the circuit breaker during a simulated outage: far fewer requests reach the failing server
//   with it than without, as the server counts them, and the page shows the breaker's state live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WAIT, burst, configure, env, metric, openDemo, setup, shot, sleep, unexpected, waitMetric } from './lib.mjs';

setup();

/** Sets a policies-panel input by id without its `change` handler (configure builds the pool). */
const setPolicy = (page, id, value) => page.locator(`#${id}`).evaluate((el, v) => {
  if (el.type === 'checkbox') el.checked = Boolean(v);
  else el.value = String(v);
}, value);

/** The `q` quantile (nearest rank) of `xs`. */
const quantile = (xs, q) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};

/** Polls the server (in process, not timed) until nothing is in flight. */
async function serverIdle() {
  const deadline = Date.now() + WAIT.timeout;
  while (env.server.stats.inFlight > 0) {
    assert.ok(Date.now() < deadline, `the server still has ${env.server.stats.inFlight} requests in flight`);
    await sleep(20);
  }
}

test('hedging: a lower p99 job time against the slow tail, for few duplicate requests on the server', async (t) => {
  const { page, errors } = await openDemo();
  // 5% of requests take 10 × 40 ms. Two workers: with their hedges at most 4 requests at once,
  // within the browser's 6 connections per host.
  const JOBS = 150;
  const endpoint = { latency: 40, failure: 0, hang: 0, slow: 5, slowFactor: 10, host: 'none' };
  const poolOptions = { workers: 2, queue: 200, timeout: '', retries: 0 };
  const run = async (hedging) => {
    await setPolicy(page, 'hedging', hedging);
    await setPolicy(page, 'hedge-delay', 100);
    await setPolicy(page, 'hedge-max', 1);
    await configure(page, poolOptions, endpoint); // a new pool: the server's counts reset
    assert.equal(env.server.stats.requests, 0);
    await burst(page, JOBS);
    await waitMetric(page, 'succeeded', JOBS);
    await serverIdle();
    const times = await page.evaluate(() => window.demo.jobTimes());
    const m = await page.evaluate(() => window.demo.pool().metrics());
    const s = { ...env.server.stats };
    // The page shows the figures, beside the server's count (polled every 250 ms).
    await page.waitForFunction((d) => document.querySelector('#hedge-stats').dataset.duplicates === String(d), s.duplicates, WAIT);
    const shown = await page.locator('#hedge-stats').evaluate((el) => ({ ...el.dataset }));
    return { times, m, s, shown, p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
  };

  const off = await run(false);
  await page.screenshot({ path: shot('policies-hedging-off.png'), fullPage: true });
  const on = await run(true);
  await page.locator('#policies').scrollIntoViewIfNeeded();
  await page.screenshot({ path: shot('policies-hedging-on.png'), fullPage: true });
  t.diagnostic(`without hedging: p50 ${off.p50.toFixed(0)} ms, p99 ${off.p99.toFixed(0)} ms; server: ${off.s.requests} requests, ${off.s.slow} slow, ${off.s.duplicates} duplicates`);
  t.diagnostic(`with hedging after 100 ms: p50 ${on.p50.toFixed(0)} ms, p99 ${on.p99.toFixed(0)} ms; ${on.m.hedgesStarted} hedges (${on.m.hedgesWon} won); server: ${on.s.requests} requests, ${on.s.slow} slow, ${on.s.duplicates} duplicates, ${on.s.aborted} aborted`);

  for (const r of [off, on]) {
    assert.equal(r.times.length, JOBS, 'every job timed');
    assert.equal(r.m.succeeded, JOBS);
    assert.equal(Number(r.shown.jobs), JOBS, 'the page shows the jobs it timed');
    assert.equal(Math.round(Number(r.shown.p99)), Math.round(r.p99), 'the page shows the p99 of its job times');
    assert.equal(r.s.requests, JOBS + r.s.duplicates, 'one request per job, plus the duplicates');
  }
  // Without hedging the server sees each item once; its slow tail shows in the p99.
  assert.equal(off.s.duplicates, 0, 'no duplicates without hedging (no retries either)');
  assert.equal(off.m.hedgesStarted, 0);
  assert.ok(off.s.slow > 0, 'the server made some requests slow');
  assert.ok(off.p99 >= 300, `without hedging the slow tail is the p99 (${off.p99.toFixed(0)} ms, slow requests take 400 ms)`);
  // With hedging: the duplicates are the hedges that reached the server, a few.
  assert.ok(on.m.hedgesStarted > 0 && on.m.hedgesWon > 0, `hedges started (${on.m.hedgesStarted}) and some won (${on.m.hedgesWon})`);
  assert.ok(on.s.duplicates <= on.m.hedgesStarted, `every duplicate request is a hedge (${on.s.duplicates} ≤ ${on.m.hedgesStarted})`);
  assert.ok(on.s.duplicates <= 0.2 * JOBS, `at most 20% extra requests (${on.s.duplicates} duplicates for ${JOBS} jobs)`);
  assert.ok(on.p99 <= 0.6 * off.p99, `p99 with hedging ${on.p99.toFixed(0)} ms ≤ 0.6 × ${off.p99.toFixed(0)} ms without`);
  assert.deepEqual(unexpected(errors), []);
  await page.close();
});

test('circuit breaker: during an outage far fewer requests reach the failing server, and the page shows its state live', async (t) => {
  const { page, errors } = await openDemo();
  const endpoint = { latency: 20, failure: 0, hang: 0, slow: 0, host: 'none' };
  const poolOptions = { workers: 4, queue: 2000, timeout: 800, retries: 2, backoffKind: 'constant', backoffDelay: 20 };
  const SECONDS = 2;
  const run = async (breaker) => {
    await setPolicy(page, 'breaker', breaker);
    await setPolicy(page, 'breaker-failures', 5);
    await setPolicy(page, 'breaker-cooldown', 500);
    await setPolicy(page, 'outage-seconds', SECONDS);
    await setPolicy(page, 'outage-load', 100);
    await configure(page, poolOptions, endpoint);
    await page.click('#outage');
    await page.waitForFunction(() => window.demo.outage(), null, WAIT);
    const t0 = Date.now();
    let sawOpen = false;
    if (breaker) {
      // Live: the page shows the breaker open while the server fails.
      await page.waitForFunction(() => document.querySelector('#breaker-stats').dataset.state === 'open', null, WAIT);
      sawOpen = env.server.outage.on;
      await page.locator('#policies').scrollIntoViewIfNeeded();
      await page.screenshot({ path: shot('policies-breaker-open.png'), fullPage: true });
    }
    await page.waitForFunction(() => !window.demo.outage(), null, { timeout: WAIT.timeout + SECONDS * 1000 });
    assert.ok(Date.now() - t0 >= SECONDS * 1000, 'the load ran through the outage');
    const during = env.server.outage.requests; // the server's own count of the outage's requests
    await page.evaluate(() => window.demo.pool().onIdle());
    await serverIdle();
    const m = await page.evaluate(() => window.demo.pool().metrics());
    const events = await page.evaluate(() => window.demo.events.filter((e) => e.type.startsWith('circuit')).map((e) => e.type));
    await page.waitForFunction((n) => document.querySelector('#breaker-stats').dataset.outageRequests === String(n), during, WAIT);
    const shown = await page.locator('#breaker-stats').evaluate((el) => ({ ...el.dataset }));
    return { during, m, events, shown, sawOpen };
  };

  const off = await run(false);
  const on = await run(true);
  await page.locator('#policies').scrollIntoViewIfNeeded();
  await page.screenshot({ path: shot('policies-breaker-after.png'), fullPage: true });
  t.diagnostic(`outage of ${SECONDS} s at 100 jobs/s, retries 2: without the breaker ${off.during} requests reached the server (${off.m.failed} jobs failed); with it ${on.during} (${on.m.circuitRefused} jobs refused, opened ${on.m.circuitOpened} times; events ${on.events.join(' ')})`);

  assert.ok(off.during >= 50, `without the breaker the failing server got many requests (${off.during})`);
  assert.equal(off.m.circuitRefused, 0);
  assert.equal(off.shown.state, 'off', 'the page says there is no breaker');
  assert.ok(on.during <= 0.25 * off.during, `with the breaker: ${on.during} requests during the outage ≤ 25% of ${off.during} without`);
  assert.ok(on.sawOpen, 'the page showed the breaker open while the outage was on');
  assert.ok(on.m.circuitOpened >= 1 && on.m.circuitRefused > 0, `the breaker opened (${on.m.circuitOpened}) and refused jobs (${on.m.circuitRefused})`);
  assert.equal(on.events[0], 'circuitOpened', 'its first event: opened');
  assert.ok(on.events.includes('circuitHalfOpen'), 'half-open after its cool-down');
  assert.equal(on.events.at(-1), 'circuitClosed', 'closed again once the server answers (its probe succeeded)');
  assert.equal(on.shown.state, 'closed', 'the page shows it closed');
  assert.equal(Number(on.shown.refused), on.m.circuitRefused, 'the page shows the jobs refused');
  assert.equal((await page.locator('#breaker-log li').count()) >= 3, true, 'the page logs its events');
  assert.equal(await metric(page, 'circuitRefused'), on.m.circuitRefused);
  assert.deepEqual(unexpected(errors), []);
  await page.close();
});
