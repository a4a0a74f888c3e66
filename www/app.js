// The workcrew demo: fetch-style jobs through the npm package's WorkPool, shown live.
import init, { WorkPool } from './pkg/index.js';
import { drawTimeline, resetTimeline, timelineEvent } from './timeline.js';

const $ = (sel) => document.querySelector(sel);
const METRICS = [
  ['submitted', 'Submitted'], ['started', 'Started'], ['succeeded', 'Succeeded'],
  ['failed', 'Failed'], ['cancelled', 'Cancelled'], ['rejected', 'Rejected'],
  ['attempts', 'Attempts'], ['retried', 'Retried'], ['timedOut', 'Timed out'],
];
const MAX_ROWS = 300;
const SAMPLE_MS = 500;
const SAMPLES = 60;

let pool = null;
const rows = new Map(); // job id → { li, state, attempts }
const running = new Set(); // jobs with an attempt in flight
let cancelledInFlight = 0; // attempts cancelled while their request was in flight
let server = null; // the endpoint's counts, from /api/stats
const values = new Map(); // job id → what the job fetched
let samples = [];
let last = null;

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
  return options;
}

async function newPool() {
  if (pool && !pool.closed) await pool.abort();
  let created;
  try {
    created = new WorkPool({ ...readPoolOptions(), onEvent });
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
  $('#jobs').replaceChildren();
  samples = [];
  last = null;
  $('#queued-meter').max = pool.queue;
  $('#running-meter').max = pool.workers;
  setJobButtons(true);
  setStatus(`Pool ready: ${pool.workers} workers, queue of ${pool.queue}.`);
  render();
}

function setJobButtons(enabled) {
  for (const id of ['#submit-one', '#submit-burst', '#drain', '#abort']) $(id).disabled = !enabled;
}

// --- the job: a real request; latency, failures (503) and hangs happen on the server -----------

function readEndpoint() {
  const f = new FormData($('#endpoint-form'));
  const pct = (k) => Math.min(100, Math.max(0, Number(f.get(k)) || 0));
  const q = new URLSearchParams({
    latency: String(Math.max(0, Number(f.get('latency')) || 0)),
    fail: String(pct('failure')),
    hang: String(pct('hang')),
  });
  return q.toString();
}

function makeJob(query) {
  return async ({ signal, attempt, job }) => {
    // The attempt's signal aborts the request itself on a timeout, a cancel or an abort.
    const url = `api/item/${1 + (job % 8)}?${query}`;
    const res = await fetch(url, { signal, cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status} on attempt ${attempt}`);
    const body = await res.json();
    values.set(job, body.name);
    return body;
  };
}

function submit(count) {
  if (!pool) return;
  const query = readEndpoint();
  for (let i = 0; i < count; i++) {
    // Every promise is handled: the UI follows the events, this only catches refusals.
    pool.submit(makeJob(query)).catch((e) => {
      if (e?.name === 'PoolClosedError') setStatus('Refused: the pool is shut down. Create a new pool.', 'warn');
    });
  }
}

// --- events → job rows --------------------------------------------------------------------------

function chip(row, text, cls) {
  const c = document.createElement('span');
  c.className = `chip ${cls}`;
  c.textContent = text;
  row.attempts.append(c);
  return c;
}

function finishRunningChip(row, text, cls) {
  const c = row.running;
  if (c) { c.textContent = text; c.className = `chip ${cls}`; row.running = null; }
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

function onEvent(e) {
  trackInFlight(e);
  timelineEvent(e);
  let row = rows.get(e.job);
  if (e.type === 'queued') {
    const li = document.createElement('li');
    li.dataset.job = e.job;
    li.innerHTML = '<span class="id"></span><span class="state"></span><span class="attempts"></span>';
    li.querySelector('.id').textContent = `#${e.job}`;
    row = { li, state: li.querySelector('.state'), attempts: li.querySelector('.attempts'), running: null };
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
  switch (e.type) {
    case 'attemptStarted':
      setState(row, 'running');
      row.running = chip(row, `${e.attempt} running`, 'running');
      break;
    case 'attemptFailed': {
      const c = row.running;
      finishRunningChip(row, `${e.attempt} failed`, 'failed');
      if (c) c.title = String(e.error?.message ?? e.error);
      break;
    }
    case 'attemptTimedOut':
      finishRunningChip(row, `${e.attempt} timed out`, 'timeout');
      break;
    case 'retryScheduled':
      setState(row, 'retrying');
      chip(row, `retry in ${Math.round(e.delay)} ms`, 'retry');
      break;
    case 'succeeded': {
      finishRunningChip(row, `${e.attempts} ok`, 'ok');
      const v = values.get(e.job);
      values.delete(e.job);
      setState(row, 'succeeded', v ? `succeeded · ${v}` : 'succeeded');
      break;
    }
    case 'failed':
      setState(row, 'failed', `failed after ${e.attempts}`);
      break;
    case 'cancelled':
      finishRunningChip(row, 'cancelled', 'cancel');
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
  renderServer(m);
}

async function pollServer() {
  try {
    server = await (await fetch('api/stats', { cache: 'no-store' })).json();
  } catch {
    server = null;
  }
}

// The server's count of requests the client aborted, beside the pool's dropped attempts: every
// timed-out attempt and every attempt cancelled in flight aborted its request.
function renderServer(m) {
  const el = $('#server-stats');
  if (!server) { el.textContent = 'Server: no counts yet.'; return; }
  const dropped = m.timedOut + cancelledInFlight;
  el.dataset.aborted = server.aborted;
  el.dataset.dropped = dropped;
  el.dataset.inFlight = server.inFlight;
  el.innerHTML = '';
  const line = (text) => { const d = document.createElement('div'); d.textContent = text; el.append(d); };
  line(`Server: ${server.requests} requests · ${server.ok} answered · ${server.failed} 503s · ${server.hung} hung · ${server.inFlight} in flight`);
  line(`Aborted by the client, counted by the server: ${server.aborted}`);
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
  setInterval(render, 100);
  setInterval(pollServer, 250);
  setInterval(() => drawTimeline($('#timeline')), 200);
  setInterval(sample, SAMPLE_MS);
  window.addEventListener('resize', drawChart);
  await newPool();
}

main().catch((e) => setStatus(`Could not start: ${e}`, 'error'));
