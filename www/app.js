// The workcrew demo: fetch-style jobs through the npm package's WorkPool, shown live. Each job
// fetches from one of the page's server's simulated hosts (a, b, c) and is keyed by its host, so
// the pool's per-host limit holds; the scheduler panel drives priority, pause/resume, the
// concurrency, the rate limit and clear, and shows the server's own per-host counts beside them.
// The policies panel sets hedging (against the server's slow tail: p50/p99 job time beside the
// server's count of duplicate requests) and a circuit breaker (against a simulated outage: the
// breaker's state, live from its events, beside the requests that reached the failing server).
import init, { WorkPool } from './pkg/index.js';
import { drawTimeline, resetTimeline, timelineEvent } from './timeline.js';

const $ = (sel) => document.querySelector(sel);
const METRICS = [
  ['submitted', 'Submitted'], ['started', 'Started'], ['succeeded', 'Succeeded'],
  ['failed', 'Failed'], ['cancelled', 'Cancelled'], ['rejected', 'Rejected'],
  ['attempts', 'Attempts'], ['retried', 'Retried'], ['timedOut', 'Timed out'],
  ['hedgesStarted', 'Hedges'], ['circuitRefused', 'Refused (breaker)'],
  ['deadlineExceeded', 'Past deadline'], ['retriesDenied', 'Retries denied'],
];
const MAX_ROWS = 300;
const SAMPLE_MS = 500;
const SAMPLES = 60;

let pool = null;
let built = null; // the options the pool was built with
const rows = new Map(); // job id → { li, state, attempts }
const running = new Set(); // jobs with an attempt in flight
let cancelledInFlight = 0; // attempts cancelled while their request was in flight
let server = null; // the endpoint's counts, from /api/stats
const values = new Map(); // job id → what the job fetched
let samples = [];
let last = null;
let seq = 0; // the demo's own job ids (the `id` option), for setPriority
// What each submission was (host, priority, id), in submission order, until its `queued` event:
// the pool admits waiting submissions in order, so the first `queued` without a label is theirs.
let unlabelled = [];
const labels = new Map(); // pool job id → { host, priority, id }
let keyWaits = 0; // waitingOnKey events since the pool was built
const firstStart = new Map(); // job id → when its first attempt started (until it ends)
const winners = new Map(); // job id → the attempt whose answer came back first (its value wins)
let jobTimes = []; // ms from each ended job's first attempt to its end, since the pool was built
let breakerState = 'closed'; // from the breaker's events
let outage = null; // the simulated outage under way: { until, timer }

// For the end-to-end test (and the curious, in the console): every event with the time the page
// saw it, and each job's label; bounded.
const MAX_LOG = 50_000;
const demo = {
  events: [], settled: [], labels, pool: () => pool,
  jobTimes: () => jobTimes.slice(), breaker: () => breakerState, outage: () => outage !== null,
};
window.demo = demo;

function setStatus(text, state = 'ok') {
  const el = $('#status');
  el.textContent = text;
  el.dataset.state = state;
}

// --- the pool ---------------------------------------------------------------------------------

function readPoolOptions() {
  const f = new FormData($('#pool-form'));
  const num = (k) => Number(f.get(k));
  const kind = f.get('backoffKind');
  const backoff = { kind, jitter: f.get('jitter') === 'on' };
  if (kind !== 'none') backoff.delay = num('backoffDelay');
  if (f.get('backoffMax') !== '') backoff.max = num('backoffMax');
  const options = { workers: num('workers'), queue: num('queue'), retries: num('retries'), backoff };
  if (f.get('timeout') !== '') options.timeout = num('timeout');
  if (f.get('deadline') !== '') options.deadline = num('deadline');
  if (f.get('budget') !== '') options.retryBudget = { percent: num('budget') };
  // The policies panel's: hedging and the circuit breaker (the pool's, for every job).
  if ($('#hedging').checked) options.hedge = { delay: Number($('#hedge-delay').value), max: Number($('#hedge-max').value) };
  if ($('#breaker').checked) {
    options.circuitBreaker = { failures: Number($('#breaker-failures').value), cooldown: Number($('#breaker-cooldown').value) };
  }
  // The scheduler panel's settings, at build time: the concurrency (at most the workers), the
  // per-host limit (fixed once built) and the rate limit.
  options.concurrency = Math.min(options.workers, Math.max(1, Number($('#concurrency').value) || options.workers));
  if ($('#per-key').value !== '') options.perKey = Number($('#per-key').value);
  const rate = readRate();
  if (rate) Object.assign(options, rate);
  return options;
}

/** The rate limit's fields: { intervalCap, interval }, or null when the cap is empty (no limit). */
function readRate() {
  if ($('#interval-cap').value === '') return null;
  return { intervalCap: Number($('#interval-cap').value), interval: Number($('#interval').value) };
}

// --- the scheduler's live controls (p-queue's names) ----------------------------------------------

/** Whether `name` can be set on the pool (an accessor with a setter, on the pool or its class). */
function settable(obj, name) {
  for (let o = obj; o; o = Object.getPrototypeOf(o)) {
    const d = Object.getOwnPropertyDescriptor(o, name);
    if (d) return typeof d.set === 'function' || d.writable === true;
  }
  return false;
}

/** Runs `f`, showing a thrown TypeError/RangeError (which names the field) in the status line. */
function attempt(f) {
  try {
    return f();
  } catch (e) {
    setStatus(`${e.name}: ${e.message}`, 'error');
    return undefined;
  }
}

function setConcurrency(n) {
  if (!pool || pool.closed) return;
  if (attempt(() => { pool.concurrency = n; return true; })) {
    setStatus(`Concurrency set to ${pool.concurrency} (of ${pool.workers} workers), at once: running attempts are never interrupted.`);
  }
  render();
}

/** Applies the rate limit to the running pool, or takes it off (`rate` null). */
function setRate(rate) {
  if (!pool || pool.closed) return;
  const ok = attempt(() => {
    if (typeof pool.setRateLimit === 'function') pool.setRateLimit(rate);
    else if (rate === null) pool.intervalCap = Infinity;
    else { pool.interval = rate.interval; pool.intervalCap = rate.intervalCap; }
    return true;
  });
  if (ok) {
    setStatus(rate === null
      ? 'Rate limit off.'
      : `Rate limit: at most ${rate.intervalCap} starts in any ${rate.interval} ms (retries count too).`);
  }
  render();
}

function togglePause() {
  if (!pool || pool.closed) return;
  if (pool.isPaused) {
    pool.start();
    setStatus('Resumed: queued jobs start again.');
  } else {
    pool.pause();
    setStatus('Paused: running attempts finish; queued jobs wait; submissions still queue.', 'warn');
  }
  render();
}

function clearQueue() {
  if (!pool || pool.closed) return;
  // Submissions still waiting for room are not queued yet: they take the freed places (and
  // keep their labels in `unlabelled`).
  const n = pool.clear();
  setStatus(`Cleared ${n} queued job${n === 1 ? '' : 's'}: each was cancelled and its promise rejected at once; running ones go on.`);
  render();
}

/** Per-host limit changed: live if the pool has a setter, else a new pool (it is fixed when built). */
function perKeyChanged() {
  if (!pool) return;
  const v = $('#per-key').value;
  if (settable(pool, 'perKey') && !pool.closed) {
    attempt(() => { pool.perKey = v === '' ? Infinity : Number(v); });
    return;
  }
  newPool(v === ''
    ? 'No per-host limit (fixed when a pool is built, so this is a new pool).'
    : `Per-host limit ${v}: fixed when a pool is built, so this is a new pool (the old one was aborted).`);
}

async function newPool(note) {
  if (pool && !pool.closed) await pool.abort();
  let created;
  try {
    built = readPoolOptions();
    created = new WorkPool({ ...built, onEvent });
  } catch (e) {
    // Bad settings: the pool names the field (TypeError / RangeError).
    setStatus(`${e.name}: ${e.message}`, 'error');
    return;
  }
  pool = created;
  rows.clear();
  running.clear();
  cancelledInFlight = 0;
  resetTimeline();
  server = await fetch('api/stats?reset=1', { cache: 'no-store' }).then((r) => r.json()).catch(() => null);
  values.clear();
  labels.clear();
  unlabelled = [];
  keyWaits = 0;
  firstStart.clear();
  winners.clear();
  jobTimes = [];
  breakerState = 'closed';
  $('#breaker-log').replaceChildren();
  demo.events.length = 0;
  demo.settled.length = 0;
  $('#jobs').replaceChildren();
  samples = [];
  last = null;
  $('#queued-meter').max = pool.queue;
  $('#running-meter').max = pool.workers;
  const slider = $('#concurrency');
  slider.max = pool.workers;
  slider.value = pool.concurrency ?? pool.workers;
  $('#concurrency-out').value = slider.value;
  $('#concurrency-note').textContent = settable(pool, 'concurrency')
    ? `live, 1 to ${pool.workers} (the workers)`
    : `fixed at build (${pool.workers})`;
  setJobButtons(true);
  const extras = [
    built.perKey !== undefined ? `at most ${built.perKey} per host` : '',
    built.intervalCap !== undefined ? `at most ${built.intervalCap} starts per ${built.interval} ms` : '',
    built.hedge ? `hedging after ${built.hedge.delay} ms (at most ${built.hedge.max} extra)` : '',
    built.circuitBreaker ? `a breaker that opens after ${built.circuitBreaker.failures} failures in a row, for ${built.circuitBreaker.cooldown} ms` : '',
    built.deadline !== undefined ? `a deadline of ${built.deadline} ms per job` : '',
    built.retryBudget ? `a retry budget of ${built.retryBudget.percent}% + 10` : '',
  ].filter(Boolean);
  setStatus(`Pool ready: ${pool.workers} workers, queue of ${pool.queue}${extras.length ? `, ${extras.join(', ')}` : ''}.${note ? ` ${note}` : ''}`);
  render();
}

const JOB_BUTTONS = ['#submit-one', '#submit-burst', '#drain', '#abort', '#pause', '#clear', '#concurrency', '#rate-apply', '#rate-off', '#outage'];
function setJobButtons(enabled) {
  for (const id of JOB_BUTTONS) $(id).disabled = !enabled;
}

// --- the job: a real request; latency, failures (503) and hangs happen on the server -----------

function readEndpoint() {
  const f = new FormData($('#endpoint-form'));
  const pct = (k) => Math.min(100, Math.max(0, Number(f.get(k)) || 0));
  const q = new URLSearchParams({
    latency: String(Math.max(0, Number(f.get('latency')) || 0)),
    fail: String(pct('failure')),
    hang: String(pct('hang')),
    slow: String(pct('slow')),
    slowFactor: String(Math.min(1000, Math.max(0, Number(f.get('slowFactor')) || 0))),
  });
  return { query: q.toString(), host: f.get('host') ?? 'none' };
}

const HOSTS = ['a', 'b', 'c'];
let spread = 0; // "a, b, c in turn": the next host

/** The host of the next job: a, b or c, or null for the plain endpoint (no key). */
function nextHost(choice) {
  if (choice === 'spread') return HOSTS[spread++ % HOSTS.length];
  return HOSTS.includes(choice) ? choice : null;
}

function makeJob(query, host) {
  return async ({ signal, attempt, job }) => {
    // The attempt's signal aborts the request itself on a timeout, a cancel, an abort, the
    // deadline, or when another attempt of the job (a hedge) has won. Each job asks for an item
    // of its own (its id): a second request for it (a hedge, a retry) is a duplicate for the
    // server.
    const url = host ? `api/host/${host}/item/${job}?${query}` : `api/item/${job}?${query}`;
    const res = await fetch(url, { signal, cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status} on attempt ${attempt}`);
    const body = await res.json();
    if (!winners.has(job)) winners.set(job, attempt);
    values.set(job, body.name);
    return body;
  };
}

/** `count` jobs at the priority field's priority, each keyed by its host. */
function submit(count) {
  if (!pool || pool.closed) return;
  const { query, host: choice } = readEndpoint();
  const priority = Math.trunc(Number($('#priority').value) || 0);
  for (let i = 0; i < count; i++) {
    const host = nextHost(choice);
    const label = { host, priority, id: `d${++seq}` };
    const options = { priority, id: label.id };
    if (host) options.key = host;
    unlabelled.push(label);
    // Every promise is handled: the UI follows the events, this only shows refusals, and notes
    // how (and when) each promise settled, for the end-to-end test.
    pool.submit(makeJob(query, host), options).then(
      () => { demo.settled.push({ id: label.id, status: 'fulfilled', t: performance.now() }); },
      (e) => {
        demo.settled.push({ id: label.id, status: 'rejected', name: e?.name, t: performance.now() });
        if (e?.name === 'PoolClosedError') setStatus('Refused: the pool is shut down. Create a new pool.', 'warn');
        else if (e instanceof TypeError || e instanceof RangeError) setStatus(`${e.name}: ${e.message}`, 'error');
      });
  }
}

/** Raises a queued job's priority by 10 (p-queue's setPriority, by the job's `id` option). */
function raise(job) {
  const label = labels.get(job);
  if (!pool || !label || typeof pool.setPriority !== 'function') return;
  const p = label.priority + 10;
  const changed = attempt(() => pool.setPriority(label.id, p));
  if (changed === 0) {
    setStatus(`Job #${job} has started already: its priority no longer matters.`, 'warn');
  } else if (changed !== undefined) {
    label.priority = p; // the timeline's label too: the same object
    const row = rows.get(job);
    if (row) { row.meta.textContent = metaText(label); row.li.dataset.priority = p; }
    setStatus(`Job #${job} now has priority ${p}: it goes before every queued job of a lower one.`);
  }
}

const metaText = (l) => [l.host ? `host ${l.host}` : '', `p${l.priority}`].filter(Boolean).join(' · ');

// --- events → job rows --------------------------------------------------------------------------

function chip(row, text, cls) {
  const c = document.createElement('span');
  c.className = `chip ${cls}`;
  c.textContent = text;
  row.attempts.append(c);
  return c;
}

/** Attempt `n`'s chip (its number and how it ended), once it ends. */
function finishRunningChip(row, n, text, cls) {
  const c = row.running.get(n);
  if (!c) return null;
  c.textContent = text;
  c.className = `chip ${cls}${c.dataset.hedge ? ' hedge' : ''}`;
  row.running.delete(n);
  return c;
}

/** The job ended: its attempts still running were dropped (a hedge that lost, the deadline). */
function dropRunningChips(row, word = 'dropped') {
  for (const n of [...row.running.keys()]) finishRunningChip(row, n, `${n} ${word}`, 'cancel');
}

function setState(row, state, text = state) {
  row.li.className = `job ${state}`;
  row.state.textContent = text;
}

function trackInFlight(e) {
  if (e.type === 'attemptStarted') running.add(e.job);
  else if (e.type === 'cancelled') { if (running.delete(e.job)) cancelledInFlight++; }
  else if (e.type !== 'queued' && e.type !== 'retryScheduled') running.delete(e.job);
}

/** The breaker's events (they have no job): its state, and a line in its log. */
const BREAKER = { circuitOpened: 'open', circuitHalfOpen: 'halfOpen', circuitClosed: 'closed' };
const BREAKER_TEXT = { open: 'open', halfOpen: 'half-open', closed: 'closed' };

function breakerEvent(e) {
  breakerState = BREAKER[e.type];
  const log = $('#breaker-log');
  const li = document.createElement('li');
  li.dataset.type = e.type;
  const during = outage !== null ? ' (during the outage)' : '';
  li.textContent = `${(performance.now() / 1000).toFixed(2)} s: ${BREAKER_TEXT[breakerState]}${during}`;
  log.prepend(li);
  while (log.children.length > 40) log.lastElementChild.remove();
  renderBreaker();
}

/** Each ended job's time, from its first attempt's start to its end (not its wait in the queue). */
function timeJob(e, t) {
  if (e.type === 'attemptStarted') {
    if (!firstStart.has(e.job)) firstStart.set(e.job, t);
  } else if (e.type === 'succeeded' || e.type === 'failed' || e.type === 'cancelled') {
    const start = firstStart.get(e.job);
    firstStart.delete(e.job);
    if (start !== undefined && e.type !== 'cancelled') jobTimes.push(t - start);
  }
}

function onEvent(e) {
  const t = performance.now();
  if (demo.events.length < MAX_LOG) demo.events.push({ ...e, t });
  if (e.type in BREAKER) { breakerEvent(e); return; }
  timeJob(e, t);
  trackInFlight(e);
  if (e.type === 'waitingOnKey') { keyWaits++; return; }
  let label = null;
  if (e.type === 'queued') {
    label = unlabelled.shift() ?? null;
    if (label) labels.set(e.job, label);
  }
  const winner = e.type === 'succeeded' ? winners.get(e.job) ?? null : null;
  if (e.type === 'succeeded' || e.type === 'failed' || e.type === 'cancelled') winners.delete(e.job);
  timelineEvent(e, e.type === 'queued' ? label : winner);
  let row = rows.get(e.job);
  if (e.type === 'queued') {
    const li = document.createElement('li');
    li.dataset.job = e.job;
    li.innerHTML = '<span class="id"></span><span class="state"></span><span class="attempts"></span>';
    li.querySelector('.id').textContent = `#${e.job}`;
    row = { li, state: li.querySelector('.state'), attempts: li.querySelector('.attempts'), running: new Map(), meta: null, raise: null };
    if (label) {
      li.dataset.priority = label.priority;
      if (label.host) li.dataset.host = label.host;
      row.meta = Object.assign(document.createElement('span'), { className: 'meta', textContent: metaText(label) });
      row.attempts.append(row.meta);
      if (typeof pool?.setPriority === 'function') {
        row.raise = Object.assign(document.createElement('button'), {
          className: 'raise', textContent: '+10', title: 'Raise this queued job\'s priority by 10 (setPriority)',
        });
        row.raise.addEventListener('click', () => raise(e.job));
        row.attempts.append(row.raise);
      }
    }
    rows.set(e.job, row);
    setState(row, 'queued');
    const list = $('#jobs');
    list.prepend(li);
    while (list.children.length > MAX_ROWS) {
      const old = list.lastElementChild;
      rows.delete(Number(old.dataset.job));
      old.remove();
    }
    $('#jobs-note').textContent = rows.size >= MAX_ROWS ? `(latest ${MAX_ROWS})` : '';
    return;
  }
  if (!row) return; // scrolled out of the list
  if (row.raise && e.type !== 'queued') { row.raise.remove(); row.raise = null; } // no longer queued
  switch (e.type) {
    case 'attemptStarted':
      setState(row, 'running');
      row.running.set(e.attempt, chip(row, `${e.attempt} running`, 'running'));
      break;
    case 'hedgeStarted': {
      const c = row.running.get(e.attempt);
      if (c) { c.dataset.hedge = 'true'; c.classList.add('hedge'); c.textContent = `${e.attempt} hedge`; }
      break;
    }
    case 'attemptFailed': {
      const c = finishRunningChip(row, e.attempt, `${e.attempt} failed`, 'failed');
      if (c) c.title = String(e.error?.message ?? e.error);
      break;
    }
    case 'attemptTimedOut':
      finishRunningChip(row, e.attempt, `${e.attempt} timed out`, 'timeout');
      break;
    case 'retryScheduled':
      setState(row, 'retrying');
      chip(row, `retry in ${Math.round(e.delay)} ms`, 'retry');
      break;
    case 'retryDenied':
      chip(row, 'retry denied (budget)', 'failed');
      break;
    case 'deadlineExceeded':
      dropRunningChips(row);
      chip(row, 'past its deadline', 'timeout');
      break;
    case 'succeeded': {
      const n = winner ?? (row.running.size === 1 ? [...row.running.keys()][0] : null);
      if (n !== null) finishRunningChip(row, n, `${n} ok`, 'ok');
      dropRunningChips(row);
      const v = values.get(e.job);
      values.delete(e.job);
      setState(row, 'succeeded', v ? `succeeded · ${v}` : 'succeeded');
      break;
    }
    case 'failed':
      dropRunningChips(row);
      setState(row, 'failed', e.attempts ? `failed after ${e.attempts}` : 'failed: refused by the breaker');
      break;
    case 'cancelled':
      dropRunningChips(row, 'cancelled');
      setState(row, 'cancelled', e.attempts ? `cancelled after ${e.attempts}` : 'cancelled (never ran)');
      break;
  }
}

// --- metrics, gauges and chart ------------------------------------------------------------------

function buildMetrics() {
  $('#metrics').replaceChildren(...METRICS.map(([key, label]) => {
    const d = document.createElement('div');
    d.className = 'metric';
    d.dataset.metric = key;
    d.innerHTML = '<span></span><b>0</b>';
    d.querySelector('span').textContent = label;
    return d;
  }));
}

function render() {
  if (!pool) return;
  const m = pool.metrics();
  for (const [key] of METRICS) $(`[data-metric="${key}"] b`).textContent = m[key];
  $('[data-gauge="queued"]').textContent = m.queued;
  $('[data-gauge="running"]').textContent = m.running;
  $('#queued-meter').value = m.queued;
  $('#running-meter').value = m.running;
  renderScheduler(m);
  renderServer(m);
  renderHosts();
  renderPolicies(m);
}

/** The `q` quantile of `xs` (nearest rank), or NaN for none. */
function quantile(xs, q) {
  if (xs.length === 0) return NaN;
  const sorted = xs.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const ms = (x) => (Number.isNaN(x) ? '–' : `${Math.round(x)} ms`);

/** Hedging's figures: the page's job times, beside the server's duplicate requests. */
function renderPolicies(m) {
  const el = $('#hedge-stats');
  const fig = (root, name, v) => { root.querySelector(`[data-figure="${name}"]`).textContent = v; };
  const p50 = quantile(jobTimes, 0.5);
  const p99 = quantile(jobTimes, 0.99);
  const s = server ? serverTotals(server) : null;
  fig(el, 'p50', ms(p50));
  fig(el, 'p99', ms(p99));
  fig(el, 'jobs', jobTimes.length);
  fig(el, 'hedges', m.hedgesStarted ?? 0);
  fig(el, 'won', m.hedgesWon ?? 0);
  fig(el, 'duplicates', s ? s.duplicates : '–');
  fig(el, 'requests', s ? s.requests : '–');
  Object.assign(el.dataset, {
    p50: Number.isNaN(p50) ? '' : p50, p99: Number.isNaN(p99) ? '' : p99, jobs: jobTimes.length,
    hedges: m.hedgesStarted ?? 0, won: m.hedgesWon ?? 0, duplicates: s?.duplicates ?? '', requests: s?.requests ?? '',
  });
  renderBreaker(m);
}

/** The breaker's figures: its state (from its events), beside the server's requests during the outage. */
function renderBreaker(m = pool?.metrics()) {
  if (!m) return;
  const el = $('#breaker-stats');
  const fig = (name, v) => { el.querySelector(`[data-figure="${name}"]`).textContent = v; };
  const state = el.querySelector('[data-figure="state"]');
  state.textContent = built?.circuitBreaker ? BREAKER_TEXT[breakerState] : 'off';
  state.dataset.state = built?.circuitBreaker ? breakerState : 'off';
  const o = server?.outage;
  fig('opened', m.circuitOpened ?? 0);
  fig('refused', m.circuitRefused ?? 0);
  fig('outageRequests', o ? o.requests : '–');
  fig('outage', o?.on ? `on, ${(o.leftMs / 1000).toFixed(1)} s left` : 'off');
  Object.assign(el.dataset, {
    state: built?.circuitBreaker ? breakerState : 'off', opened: m.circuitOpened ?? 0, refused: m.circuitRefused ?? 0,
    outageRequests: o?.requests ?? '', outage: Boolean(o?.on),
  });
}

/**
 * The simulated outage: the server fails every request for `seconds`, while the page submits
 * `load` jobs a second, until a second after it (so that the breaker's probe finds the server
 * back, and closes it).
 */
async function simulateOutage() {
  if (!pool || pool.closed || outage !== null) return;
  const seconds = Math.min(60, Math.max(0.1, Number($('#outage-seconds').value) || 2));
  const load = Math.min(1000, Math.max(1, Number($('#outage-load').value) || 100));
  const res = await fetch(`api/outage?ms=${Math.round(seconds * 1000)}`, { cache: 'no-store' });
  if (!res.ok) { setStatus(`The server refused the outage: HTTP ${res.status}`, 'error'); return; }
  const until = performance.now() + seconds * 1000 + 1000;
  const TICK = 50;
  let owed = 0;
  outage = { until, timer: null };
  $('#outage').disabled = true;
  setStatus(`Outage: the server fails every request for ${seconds} s; the page submits ${load} jobs a second meanwhile${built.circuitBreaker ? ', and the breaker stops most of them reaching it' : ' (no breaker: every one reaches it)'}.`, 'warn');
  outage.timer = setInterval(() => {
    if (performance.now() >= until || !pool || pool.closed) {
      clearInterval(outage.timer);
      outage = null;
      $('#outage').disabled = !pool || pool.closed;
      const o = server?.outage;
      setStatus(`Outage over: ${o ? o.requests : '?'} requests reached the failing server${built.circuitBreaker ? `; the breaker refused ${pool.metrics().circuitRefused} jobs` : ''}.`);
      return;
    }
    owed += load * TICK / 1000;
    const n = Math.floor(owed);
    owed -= n;
    if (n > 0) submit(n);
  }, TICK);
}

/** The live state: paused, rate-limited, jobs waiting on their host's limit, the concurrency. */
function renderScheduler(m) {
  const el = $('#sched-state');
  const paused = Boolean(pool.isPaused);
  const limited = Boolean(pool.isRateLimited);
  const onKey = m.waitingOnKey ?? 0;
  const flag = (name, on, text) => {
    const f = el.querySelector(`[data-flag="${name}"]`);
    f.classList.toggle('on', on);
    f.textContent = text;
  };
  flag('paused', paused, paused ? 'paused' : 'running');
  flag('rateLimited', limited, limited ? 'rate-limited' : 'not rate-limited');
  flag('waitingOnKey', onKey > 0, `${onKey} waiting on their host${keyWaits ? ` (${keyWaits} waits)` : ''}`);
  flag('concurrency', false, `concurrency ${pool.concurrency ?? pool.workers} of ${pool.workers}`);
  Object.assign(el.dataset, {
    paused, rateLimited: limited, waitingOnKey: onKey, keyWaits, concurrency: pool.concurrency ?? pool.workers,
  });
  const pause = $('#pause');
  pause.textContent = paused ? 'Resume' : 'Pause';
  pause.setAttribute('aria-pressed', String(paused));
}

/**
 * The window of the server's "most starts in a window": 90% of the rate limit's interval (else
 * of 1 s). A freed token is taken at once, so start k + cap follows start k by the interval on
 * the page's clock, and reaches the server a few ms later by a delay that varies: a window of
 * exactly the interval on the server's clock can hold one start more than the cap.
 */
function statsWindow() {
  const ms = Number($('#interval').value);
  return Math.max(1, Math.round((ms > 0 && ms <= 3_600_000 ? ms : 1000) * 0.9));
}

async function pollServer() {
  try {
    server = await (await fetch(`api/stats?window=${statsWindow()}`, { cache: 'no-store' })).json();
  } catch {
    server = null;
  }
}

/** The server's own per-host counts; a host's peak is marked at and over the per-host limit. */
function renderHosts() {
  const body = $('#hosts tbody');
  const hosts = server?.hosts;
  $('#hosts-window').textContent = `${server?.window ?? statsWindow()} ms`;
  if (!hosts) { body.replaceChildren(); return; }
  const limit = built?.perKey ?? Infinity;
  const cap = readRate()?.intervalCap ?? Infinity;
  body.replaceChildren(...[...HOSTS, 'all'].map((h) => {
    const c = hosts[h];
    const tr = document.createElement('tr');
    tr.dataset.host = h;
    if (h === 'all') tr.className = 'all';
    for (const [k, v] of Object.entries(c)) tr.dataset[k] = v;
    const cells = [h === 'all' ? 'all' : h, c.inFlight, c.peak, c.starts, c.maxStartsInWindow];
    cells.forEach((v, i) => {
      const td = document.createElement('td');
      td.textContent = String(v);
      if (i === 2 && h !== 'all' && Number.isFinite(limit)) {
        td.className = v > limit ? 'over-limit' : v === limit ? 'at-limit' : '';
        td.title = `limit ${limit}`;
      }
      if (i === 4 && h === 'all' && Number.isFinite(cap)) {
        td.className = v > cap ? 'over-limit' : v === cap ? 'at-limit' : '';
        td.title = `cap ${cap}`;
      }
      tr.append(td);
    });
    return tr;
  }));
}

/** The server's counts over both endpoints: /api/item's, and the hosts' together. */
function serverTotals(s) {
  const all = s.hosts?.all;
  if (!all) return s;
  return {
    requests: s.requests + all.starts, ok: s.ok + all.ok, failed: s.failed + all.failed,
    hung: s.hung + all.hung, aborted: s.aborted + all.aborted, inFlight: s.inFlight + all.inFlight,
    duplicates: s.duplicates + all.duplicates,
  };
}

// The server's count of requests the client aborted, beside the pool's dropped attempts: every
// timed-out attempt and every attempt cancelled in flight aborted its request.
function renderServer(m) {
  const el = $('#server-stats');
  if (!server) { el.textContent = 'Server: no counts yet.'; return; }
  const s = serverTotals(server);
  const dropped = m.timedOut + cancelledInFlight;
  el.dataset.aborted = s.aborted;
  el.dataset.dropped = dropped;
  el.dataset.inFlight = s.inFlight;
  el.innerHTML = '';
  const line = (text) => { const d = document.createElement('div'); d.textContent = text; el.append(d); };
  line(`Server: ${s.requests} requests · ${s.ok} answered · ${s.failed} 503s · ${s.hung} hung · ${s.inFlight} in flight`);
  line(`Aborted by the client, counted by the server: ${s.aborted}`);
  line(`Attempts the pool dropped: ${m.timedOut} timed out + ${cancelledInFlight} cancelled in flight = ${dropped}`);
}

function sample() {
  if (!pool) return;
  const m = pool.metrics();
  if (last) {
    const d = (k) => m[k] - last[k];
    samples.push({ ok: d('succeeded'), bad: d('failed'), cancel: d('cancelled') });
    if (samples.length > SAMPLES) samples.shift();
  }
  last = m;
  drawChart();
}

function drawChart() {
  const canvas = $('#chart');
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const style = getComputedStyle(document.documentElement);
  const color = (v) => style.getPropertyValue(v).trim();
  const perSec = 1000 / SAMPLE_MS;
  const peak = Math.max(4, ...samples.map((s) => (s.ok + s.bad + s.cancel) * perSec));
  const bw = w / SAMPLES;
  ctx.fillStyle = color('--grid');
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillText(`${Math.round(peak)}/s`, 4, 12);
  samples.forEach((s, i) => {
    let y = h;
    const x = w - (samples.length - i) * bw;
    for (const [k, c] of [['ok', '--ok'], ['bad', '--bad'], ['cancel', '--cancel']]) {
      const bh = (s[k] * perSec / peak) * (h - 16);
      ctx.fillStyle = color(c);
      ctx.fillRect(x + 1, y - bh, bw - 2, bh);
      y -= bh;
    }
  });
  ctx.strokeStyle = color('--line');
  ctx.lineWidth = 2;
  ctx.beginPath();
  samples.forEach((s, i) => {
    const x = w - (samples.length - i) * bw + bw / 2;
    const y = h - ((s.ok + s.bad + s.cancel) * perSec / peak) * (h - 16);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

// --- stopping -----------------------------------------------------------------------------------

async function stop(kind) {
  if (!pool) return;
  setJobButtons(false);
  const timeout = $('#shutdown-timeout').value;
  setStatus(kind === 'abort' ? 'Aborting…' : 'Draining: finishing every queued and running job…', 'busy');
  const report = kind === 'abort'
    ? await pool.abort()
    : await pool.shutdown(timeout === '' ? undefined : { timeout: Number(timeout) });
  render();
  const m = report.metrics;
  const settled = m.succeeded + m.failed + m.cancelled;
  const balanced = settled === m.submitted;
  const what = kind === 'abort' ? 'Aborted' : report.timedOut ? 'Timed out' : 'Drained';
  setStatus(
    `${what}: ${report.completed} completed, ${report.cancelled} cancelled. ` +
    (balanced
      ? `Every job settled: ${m.submitted} submitted = ${m.succeeded} succeeded + ${m.failed} failed + ${m.cancelled} cancelled.`
      : `UNBALANCED: ${m.submitted} submitted, ${settled} settled.`),
    balanced ? 'done' : 'error');
}

// --- wiring -------------------------------------------------------------------------------------

async function main() {
  await init();
  buildMetrics();
  $('#pool-form').addEventListener('submit', (e) => { e.preventDefault(); newPool(); });
  $('#submit-one').addEventListener('click', () => submit(1));
  $('#submit-burst').addEventListener('click', () => submit(Math.max(1, Math.min(10000, Number($('#burst-size').value) || 1))));
  $('#drain').addEventListener('click', () => stop('drain'));
  $('#abort').addEventListener('click', () => stop('abort'));
  $('#pause').addEventListener('click', togglePause);
  $('#clear').addEventListener('click', clearQueue);
  const slider = $('#concurrency');
  slider.addEventListener('input', () => { $('#concurrency-out').value = slider.value; });
  slider.addEventListener('change', () => setConcurrency(Number(slider.value)));
  $('#per-key').addEventListener('change', perKeyChanged);
  $('#rate-apply').addEventListener('click', () => {
    const rate = readRate();
    if (rate === null) setStatus('Rate limit: give a cap (starts per interval), or press Off.', 'warn');
    else setRate(rate);
  });
  $('#rate-off').addEventListener('click', () => { $('#interval-cap').value = ''; setRate(null); });
  // Hedging and the breaker are the pool's: changing them builds a new pool (the counts reset).
  const policy = (what) => () => newPool(`${what} changed: a new pool (the old one was aborted), and the counts start again.`);
  for (const id of ['#hedging', '#hedge-delay', '#hedge-max']) $(id).addEventListener('change', policy('Hedging'));
  for (const id of ['#breaker', '#breaker-failures', '#breaker-cooldown']) $(id).addEventListener('change', policy('The breaker'));
  $('#outage').addEventListener('click', simulateOutage);
  setInterval(render, 100);
  setInterval(pollServer, 250);
  setInterval(() => drawTimeline($('#timeline')), 200);
  setInterval(sample, SAMPLE_MS);
  window.addEventListener('resize', drawChart);
  await newPool();
}

main().catch((e) => setStatus(`Could not start: ${e}`, 'error'));
