// End-to-end: the scheduler's controls on the demo page (per-host limit, rate limit, priority and
// setPriority, pause/resume, clear, the concurrency setter), driven as a user would, and checked
// against what the SERVER itself counted on its simulated hosts a, b and c (requests in flight
// per host, their peak, the most starts in any window) and against the page's own event log.
// No attempt times out here: a timed-out attempt frees its worker (and its key) before the server
// sees its connection close, so the server could count one request more in flight for a moment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxInWindow } from '../serve.mjs';
import {
  WAIT, burst, configure, env, gauge, hostStats, metric, openDemo, pageLog, schedState, setRange,
  setup, shot, sleep, unexpected, untilHosts, waitGauge, waitMetric,
} from './lib.mjs';

setup();

const status = (page) => page.locator('#status').textContent();
const waitStatus = (page, re) => page.waitForFunction(
  (src) => new RegExp(src).test(document.querySelector('#status').textContent), re.source, WAIT);
const waitSched = (page, key, value) => page.waitForFunction(
  ([k, v]) => document.querySelector('#sched-state').dataset[k] === String(v), [key, value], WAIT);

/** The first attempt's start of each job, in the order the page saw them: [{ job, t, label }]. */
function firstStarts(log) {
  const seen = new Set();
  return log.events.filter((e) => e.type === 'attemptStarted' && !seen.has(e.job) && seen.add(e.job))
    .map((e) => ({ job: e.job, t: e.t, label: log.labels[e.job] }));
}

const PLAIN = { timeout: '', retries: 0 };

test('per-host limit: the server never has more than perKey requests in flight on a host', async (t) => {
  const { page, errors } = await openDemo();
  await configure(page, { workers: 6, queue: 100, ...PLAIN }, { latency: 150, failure: 0, hang: 0, host: 'spread' }, { concurrency: 6 });
  // The limit is fixed when a pool is built: changing it builds a new pool, and the page says so.
  assert.match(await page.locator('#per-key-note').textContent(), /fixed when a pool is built/);
  await page.fill('#per-key', '2');
  await page.locator('#per-key').dispatchEvent('change');
  await waitStatus(page, /Pool ready: 6 workers, queue of 100, at most 2 per host\. Per-host limit 2: fixed when a pool is built, so this is a new pool/);

  // a, b, c in turn: each host at most 2 at once, the three together up to the 6 workers.
  await hostStats(150, true);
  await burst(page, 36);
  await waitMetric(page, 'succeeded', 36);
  let hosts = await untilHosts(150, (h) => h.all.inFlight === 0 && h.all.starts === 36);
  t.diagnostic(`spread: peaks a ${hosts.a.peak}, b ${hosts.b.peak}, c ${hosts.c.peak}, all ${hosts.all.peak}`);
  for (const h of ['a', 'b', 'c']) {
    assert.equal(hosts[h].starts, 12, `host ${h}: 12 requests`);
    assert.ok(hosts[h].peak <= 2, `host ${h}: peak ${hosts[h].peak} > perKey 2`);
  }
  assert.ok(hosts.all.peak <= 6, `all: peak ${hosts.all.peak} > 6 workers`);
  assert.ok(hosts.all.peak >= 3, `the hosts ran side by side (peak of the three ${hosts.all.peak})`);

  // Host a only: 12 jobs, 6 workers, at most 2 of them at a time; the rest wait on their key
  // (without a worker) and the page shows it live.
  await page.locator('#endpoint-form [name="host"]').selectOption('a');
  await hostStats(150, true);
  await burst(page, 12);
  await page.waitForFunction(() => Number(document.querySelector('#sched-state').dataset.waitingOnKey) > 0, null, WAIT);
  assert.match(await page.locator('[data-flag="waitingOnKey"]').textContent(), /^[1-9]\d* waiting on their host/);
  await page.locator('#scheduler').screenshot({ path: shot('scheduler-per-host.png') });
  await waitMetric(page, 'succeeded', 48);
  hosts = await untilHosts(150, (h) => h.all.inFlight === 0 && h.all.starts === 12);
  t.diagnostic(`host a only: peak ${hosts.a.peak}`);
  assert.equal(hosts.a.starts, 12);
  assert.ok(hosts.a.peak >= 1 && hosts.a.peak <= 2, `host a: peak ${hosts.a.peak} > perKey 2`);
  assert.equal(hosts.all.peak, hosts.a.peak);
  const log = await pageLog(page);
  assert.ok(log.events.some((e) => e.type === 'waitingOnKey'), 'waitingOnKey events');
  assert.ok((await schedState(page)).keyWaits > 0);
  await page.waitForFunction(() => document.querySelector('#sched-state').dataset.waitingOnKey === '0', null, WAIT);
  // The hosts table shows the server's peak, marked at the limit.
  await page.waitForFunction(() => document.querySelector('#hosts tr[data-host="a"]')?.dataset.peak === String(2) ||
    document.querySelector('#hosts tr[data-host="a"]')?.dataset.peak === String(1), null, WAIT);
  assert.equal(await metric(page, 'cancelled'), 0);
  assert.deepEqual(unexpected(errors), []);
  await page.locator('#scheduler').screenshot({ path: shot('scheduler-hosts.png') });
  await page.close();
});

test('rate limit: the server never sees more than intervalCap starts in any window of interval', async (t) => {
  const { page, errors } = await openDemo();
  await configure(page, { workers: 4, queue: 100, ...PLAIN }, { latency: 20, failure: 0, hang: 0, host: 'spread' }, { concurrency: 4 });
  const CAP = 3;
  const INTERVAL = 1000;
  // Set on the running pool.
  await page.fill('#interval-cap', String(CAP));
  await page.fill('#interval', String(INTERVAL));
  await page.click('#rate-apply');
  await waitStatus(page, /^Rate limit: at most 3 starts in any 1000 ms/);
  await hostStats(INTERVAL, true);
  await burst(page, 12);
  await waitSched(page, 'rateLimited', true);
  assert.equal(await page.locator('[data-flag="rateLimited"]').textContent(), 'rate-limited');
  await page.locator('#scheduler').screenshot({ path: shot('scheduler-rate-limit.png') });
  await waitMetric(page, 'succeeded', 12);
  const hosts = await untilHosts(INTERVAL, (h) => h.all.inFlight === 0 && h.all.starts === 12);
  // Two starts are in one window when they are less than INTERVAL apart on the server's clock.
  // Each start holds a token for INTERVAL on the page's; a request reaches the server a few ms
  // after its attempt starts, by a delay that varies on a loaded machine, so the check allows
  // 20% of the interval for that delivery jitter, and the strict count is reported beside it.
  // (A free token is taken at once, so start k + CAP follows start k by INTERVAL plus the timer's
  // lateness on the page: on the server's clock, by about INTERVAL, a little more or less.)
  const SLACK = INTERVAL / 5;
  const tolerant = (await hostStats(INTERVAL - SLACK)).all.maxStartsInWindow;
  const closest = (times) => Math.min(...times.slice(CAP).map((x, i) => x - times[i]));
  const pageTimes = firstStarts(await pageLog(page)).map((s) => s.t);
  t.diagnostic(`server: most starts in any ${INTERVAL} ms ${hosts.all.maxStartsInWindow}, in any ${INTERVAL - SLACK} ms ${tolerant} (cap ${CAP}); ` +
    `closest start k to start k + ${CAP}: ${closest(env.server.hosts.all.times).toFixed(1)} ms on the server, ${closest(pageTimes).toFixed(1)} ms on the page`);
  assert.ok(tolerant <= CAP, `${tolerant} starts within ${INTERVAL - SLACK} ms on the server > cap ${CAP}`);
  assert.ok(hosts.all.maxStartsInWindow >= CAP, 'the jobs ran at the cap, so the check means something');
  // The page's view: 12 starts at 3 per second take at least 3 intervals.
  const starts = firstStarts(await pageLog(page));
  assert.equal(starts.length, 12);
  const span = starts.at(-1).t - starts[0].t;
  t.diagnostic(`page: first to last start ${Math.round(span)} ms; most in ${INTERVAL} ms ${maxInWindow(starts.map((s) => s.t), INTERVAL)}`);
  assert.ok(span >= 3 * INTERVAL - SLACK, `12 starts at ${CAP} per ${INTERVAL} ms in ${Math.round(span)} ms`);
  // The timeline shows the wait: the last jobs queued about 3 intervals before they started.
  const waited = await page.locator('#timeline .tl-row').evaluateAll((rows) => rows.map((r) => Number(r.dataset.waited)));
  assert.ok(Math.max(...waited) >= 3 * INTERVAL - 2 * SLACK, `longest wait ${Math.max(...waited)} ms`);
  await page.locator('.timeline-panel').screenshot({ path: shot('timeline-rate-limit.png') });
  await waitSched(page, 'rateLimited', false);

  // Off: the same burst now starts as fast as the 4 workers take it.
  await page.click('#rate-off');
  await waitStatus(page, /^Rate limit off\./);
  assert.equal(await page.locator('#interval-cap').inputValue(), '');
  await hostStats(INTERVAL, true);
  await burst(page, 12);
  await waitMetric(page, 'succeeded', 24);
  const free = await untilHosts(INTERVAL, (h) => h.all.inFlight === 0 && h.all.starts === 12);
  t.diagnostic(`without the limit: most starts in ${INTERVAL} ms ${free.all.maxStartsInWindow}`);
  assert.ok(free.all.maxStartsInWindow > CAP, 'the limit is off');
  assert.equal((await schedState(page)).rateLimited, false);
  assert.deepEqual(unexpected(errors), []);
  await page.close();
});

test('priority: higher-priority jobs start before lower ones queued earlier; setPriority moves a queued job', async () => {
  const { page, errors } = await openDemo();
  await configure(page, { workers: 1, queue: 50, ...PLAIN }, { latency: 30, failure: 0, hang: 0, host: 'spread' }, { concurrency: 1 });
  // Paused, so that every job is queued before any starts: the order is the scheduler's alone.
  await page.click('#pause');
  await waitSched(page, 'paused', true);
  await burst(page, 4, 0);
  await burst(page, 4, 5);
  await burst(page, 4, 10);
  await waitGauge(page, 'queued', '==', 12);
  // The last job of priority 0, raised twice by its row's "+10" button (setPriority): 20.
  const raised = Number(await page.locator('#jobs li[data-priority="0"]').first().getAttribute('data-job')); // newest first
  const raise = page.locator(`#jobs li[data-job="${raised}"] button.raise`);
  await raise.click();
  await waitStatus(page, new RegExp(`^Job #${raised} now has priority 10`));
  await raise.click();
  await waitStatus(page, new RegExp(`^Job #${raised} now has priority 20`));
  await page.click('#pause'); // resume
  await waitSched(page, 'paused', false);
  await waitMetric(page, 'succeeded', 12);

  const log = await pageLog(page);
  const starts = firstStarts(log);
  const queuedOrder = log.events.filter((e) => e.type === 'queued').map((e) => e.job);
  assert.equal(starts.length, 12);
  // Higher first; FIFO within one priority (by the order they were queued).
  const expected = [...queuedOrder].sort((a, b) =>
    log.labels[b].priority - log.labels[a].priority || queuedOrder.indexOf(a) - queuedOrder.indexOf(b));
  assert.deepEqual(starts.map((s) => s.job), expected,
    `start order ${starts.map((s) => `#${s.job}:p${s.label.priority}`).join(' ')}`);
  assert.equal(starts[0].job, raised, 'the raised job went first');
  assert.deepEqual(starts.map((s) => s.label.priority), [20, 10, 10, 10, 10, 5, 5, 5, 5, 0, 0, 0]);
  // Every higher-priority job started before every lower-priority job queued before it.
  for (const hi of starts) {
    for (const lo of starts) {
      if (hi.label.priority > lo.label.priority && queuedOrder.indexOf(lo.job) < queuedOrder.indexOf(hi.job)) {
        assert.ok(hi.t <= lo.t, `#${hi.job} (p${hi.label.priority}) started after #${lo.job} (p${lo.label.priority})`);
      }
    }
  }
  // The timeline shows it: each priority-10 job waited less than each priority-0 job.
  await page.waitForTimeout(300); // a redraw (every 200 ms) after the last event
  const waits = await page.locator('#timeline .tl-row').evaluateAll((rs) =>
    rs.map((r) => ({ p: Number(r.dataset.priority), waited: Number(r.dataset.waited) })));
  const w10 = waits.filter((w) => w.p === 10).map((w) => w.waited);
  const w0 = waits.filter((w) => w.p === 0).map((w) => w.waited);
  assert.equal(w10.length, 4);
  assert.equal(w0.length, 3);
  assert.ok(Math.max(...w10) < Math.min(...w0), `waits p10 ${w10}, p0 ${w0}`);
  assert.equal(await page.locator('#timeline .tl-wait').count(), 12);
  await page.locator('.timeline-panel').screenshot({ path: shot('timeline-priority.png') });
  assert.deepEqual(unexpected(errors), []);
  await page.close();
});

test('pause stops starts (running attempts finish, submissions still queue); resume restarts them', async (t) => {
  const { page, errors } = await openDemo();
  await configure(page, { workers: 2, queue: 50, ...PLAIN }, { latency: 200, failure: 0, hang: 0, host: 'spread' }, { concurrency: 2 });
  await burst(page, 10);
  await waitMetric(page, 'started', 2);
  await page.click('#pause');
  await waitSched(page, 'paused', true);
  assert.equal(await page.locator('#pause').textContent(), 'Resume');
  assert.equal(await page.locator('[data-flag="paused"]').textContent(), 'paused');
  await waitStatus(page, /^Paused/);
  // The attempts running when it paused finish; nothing starts after them.
  await waitGauge(page, 'running', '==', 0);
  const base = await untilHosts(1000, (h) => h.all.inFlight === 0);
  const started = await metric(page, 'started');
  const queued = await gauge(page, 'queued');
  assert.ok(queued > 0, 'jobs still queued');
  assert.equal(base.all.starts, started, 'the server saw each started job');
  await burst(page, 3);
  await waitGauge(page, 'queued', '==', queued + 3);
  await page.locator('#scheduler').screenshot({ path: shot('scheduler-paused.png') });
  await sleep(1500); // jobs of 200 ms on 2 workers: 15 would have started by now
  const still = await hostStats(1000);
  t.diagnostic(`paused with ${queued + 3} queued; the server's starts ${base.all.starts} -> ${still.all.starts} over 1.5 s`);
  assert.equal(still.all.starts, base.all.starts, 'no request reached the server while paused');
  assert.equal(await metric(page, 'started'), started);
  assert.equal(await gauge(page, 'running'), 0);
  assert.equal(await gauge(page, 'queued'), queued + 3);
  const pausedAt = (await pageLog(page)).events.length;

  await page.click('#pause');
  await waitSched(page, 'paused', false);
  assert.equal(await page.locator('#pause').textContent(), 'Pause');
  await waitMetric(page, 'succeeded', 13);
  const end = await untilHosts(1000, (h) => h.all.inFlight === 0 && h.all.starts === 13);
  assert.ok(end.all.peak <= 2);
  const after = (await pageLog(page)).events.slice(pausedAt);
  assert.equal(after.filter((e) => e.type === 'attemptStarted').length, queued + 3, 'every queued job started after the resume');
  assert.deepEqual(unexpected(errors), []);
  await page.close();
});

test('clear empties the queue and rejects every cleared job at once; running ones go on', async () => {
  const { page, errors } = await openDemo();
  await configure(page, { workers: 2, queue: 50, ...PLAIN }, { latency: 1500, failure: 0, hang: 0, host: 'spread' }, { concurrency: 2 });
  await burst(page, 10);
  await waitGauge(page, 'running', '==', 2);
  await untilHosts(1000, (h) => h.all.inFlight === 2);
  await waitGauge(page, 'queued', '==', 8);
  await page.click('#clear');
  await waitStatus(page, /^Cleared 8 queued jobs: each was cancelled and its promise rejected at once/);
  await waitGauge(page, 'queued', '==', 0);
  await waitMetric(page, 'cancelled', 8);
  assert.equal(await gauge(page, 'running'), 2, 'the running ones go on');
  await page.locator('#scheduler').screenshot({ path: shot('scheduler-cleared.png') });
  assert.equal(await page.locator('#jobs li.cancelled').count(), 8);
  assert.equal(await page.locator('#jobs li.cancelled .state').first().textContent(), 'cancelled (never ran)');
  await waitMetric(page, 'succeeded', 2);
  const log = await pageLog(page);
  const rejected = log.settled.filter((s) => s.status === 'rejected');
  assert.equal(rejected.length, 8, 'each cleared promise rejected');
  assert.deepEqual([...new Set(rejected.map((s) => s.name))], ['AbortError']);
  // At once: before the running jobs (1.5 s on the server) ended.
  const firstSuccess = Math.min(...log.events.filter((e) => e.type === 'succeeded').map((e) => e.t));
  assert.ok(rejected.every((s) => s.t < firstSuccess), 'rejected before the running jobs ended');
  const cancelled = log.events.filter((e) => e.type === 'cancelled');
  assert.equal(cancelled.length, 8);
  assert.ok(cancelled.every((e) => e.attempts === 0));
  // The server: the cleared jobs never sent a request.
  const hosts = await untilHosts(1000, (h) => h.all.inFlight === 0);
  assert.equal(hosts.all.starts, 2);
  assert.equal(await metric(page, 'submitted'), 10);
  // The pool goes on.
  await page.fill('#endpoint-form [name="latency"]', '20');
  await burst(page, 2);
  await waitMetric(page, 'succeeded', 4);
  assert.deepEqual(unexpected(errors), []);
  await page.close();
});

test('the concurrency setter changes the number running, at once and without interrupting any', async (t) => {
  const { page, errors } = await openDemo();
  await configure(page, { workers: 6, queue: 100, ...PLAIN }, { latency: 400, failure: 0, hang: 0, host: 'spread' }, { concurrency: 2 });
  assert.equal((await schedState(page)).concurrency, 2);
  assert.equal(await page.locator('#concurrency').getAttribute('max'), '6');
  await burst(page, 40);
  await waitGauge(page, 'running', '==', 2);
  await sleep(1000);
  let hosts = await hostStats(1000);
  assert.ok(hosts.all.peak <= 2, `peak ${hosts.all.peak} with concurrency 2`);
  assert.ok((await gauge(page, 'running')) <= 2);

  // Grow: queued jobs start at once.
  await setRange(page.locator('#concurrency'), 5);
  await waitStatus(page, /^Concurrency set to 5 \(of 6 workers\)/);
  await waitSched(page, 'concurrency', 5);
  await waitGauge(page, 'running', '==', 5);
  hosts = await untilHosts(1000, (h) => h.all.inFlight === 5);
  await page.locator('#scheduler').screenshot({ path: shot('scheduler-concurrency.png') });
  assert.ok(hosts.all.peak <= 5);

  // Shrink: running attempts finish; then one at a time.
  await setRange(page.locator('#concurrency'), 1);
  await waitStatus(page, /^Concurrency set to 1 \(of 6 workers\)/);
  await waitGauge(page, 'running', '==', 1);
  await untilHosts(1000, (h) => h.all.inFlight <= 1);
  await hostStats(1000, true); // the peak from here on
  await sleep(1200);
  hosts = await hostStats(1000);
  t.diagnostic(`after shrinking to 1: peak ${hosts.all.peak}, ${hosts.all.starts} started`);
  assert.ok(hosts.all.peak <= 1, `peak ${hosts.all.peak} with concurrency 1`);
  assert.ok(hosts.all.starts >= 1, 'jobs still start, one at a time');
  // Back up, to finish; nothing was interrupted.
  await setRange(page.locator('#concurrency'), 6);
  await waitMetric(page, 'succeeded', 40);
  assert.equal(await metric(page, 'cancelled'), 0);
  assert.equal(await metric(page, 'attempts'), 40);
  assert.deepEqual(unexpected(errors), []);
  await page.screenshot({ path: shot('demo-scheduler.png'), fullPage: true });
  await page.close();
});
