// What the end-to-end tests share: the server and browser for one test file, opening the demo,
// filling its forms, reading what the page shows, and asking the server for its own counts.
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from '../serve.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Where the screenshots go: target/e2e at the repository's root. */
export const shots = path.resolve(here, '../../target/e2e');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
/** Generous: this may run on a loaded 2-core machine. */
export const WAIT = { timeout: 30_000 };

/** The server and browser of this test file: `env.server`, `env.browser` once `before` ran. */
export const env = { server: null, browser: null };

/** Starts a server and a browser before the file's tests, and stops both after them. */
export function setup() {
  before(async () => {
    env.server = await startServer({ port: 0 });
    env.browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    mkdirSync(shots, { recursive: true });
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.close();
  });
}

/** The screenshot file `name` (under target/e2e). */
export const shot = (name) => path.join(shots, name);

const ready = () => document.querySelector('#status').textContent.startsWith('Pool ready');

/** A new page with the demo, once its first pool is ready; `errors`: its console's errors. */
export async function openDemo(viewport = { width: 1440, height: 1000 }) {
  const page = await env.browser.newPage({ viewport });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(env.server.url);
  await page.waitForFunction(ready, null, WAIT);
  return { page, errors };
}

/** Sets a form field: a select's option, a checkbox, or a value (a range input's too). */
async function setField(field, value) {
  const kind = await field.evaluate((el) => (el.tagName === 'SELECT' ? 'select' : el.type));
  if (kind === 'select') await field.selectOption(String(value));
  else if (kind === 'checkbox') await field.setChecked(Boolean(value));
  else if (kind === 'range') await setRange(field, value);
  else await field.fill(String(value));
}

/** Moves a range input as a user's drag ends: `input`, then `change`. */
export async function setRange(field, value) {
  await field.evaluate((el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
  }, value);
}

/**
 * Fills the pool and endpoint forms and the scheduler's build-time fields (`sched`: ids of the
 * scheduler panel's inputs, e.g. { 'per-key': 2, concurrency: 3 }), then creates a new pool.
 */
export async function configure(page, pool, endpoint, sched = {}) {
  for (const [name, value] of Object.entries(pool)) await setField(page.locator(`#pool-form [name="${name}"]`), value);
  for (const [name, value] of Object.entries(endpoint)) await setField(page.locator(`#endpoint-form [name="${name}"]`), value);
  for (const [id, value] of Object.entries(sched)) {
    const field = page.locator(`#${id}`);
    // Only the values: their `change` handlers act on the old pool, the new one is built below
    // (a range's maximum is the old pool's workers until then).
    await field.evaluate((el, v) => { if (el.type === 'range') el.max = '4096'; el.value = String(v); }, value);
  }
  await page.click('#apply');
  await page.waitForFunction(ready, null, WAIT);
}

/** Console errors other than the requests the demo makes fail on purpose (503s, aborts). */
export const unexpected = (errors) =>
  errors.filter((e) => !/status of 503|net::ERR_ABORTED|aborted/i.test(e));

/** Submits `n` jobs with the Burst button (at `priority`, when given). */
export async function burst(page, n, priority) {
  if (priority !== undefined) await page.fill('#priority', String(priority));
  await page.fill('#burst-size', String(n));
  await page.click('#submit-burst');
}

export const metric = async (page, key) => Number(await page.locator(`[data-metric="${key}"] b`).textContent());
export const gauge = async (page, key) => Number(await page.locator(`[data-gauge="${key}"]`).textContent());

export function waitMetric(page, key, value) {
  return page.waitForFunction(
    ([k, v]) => Number(document.querySelector(`[data-metric="${k}"] b`).textContent) >= v,
    [key, value],
    WAIT,
  );
}

export function waitGauge(page, key, test, value) {
  return page.waitForFunction(
    ([k, t, v]) => {
      const n = Number(document.querySelector(`[data-gauge="${k}"]`).textContent);
      return t === '==' ? n === v : t === '>=' ? n >= v : n <= v;
    },
    [key, test, value],
    WAIT,
  );
}

/** The scheduler panel's live state: { paused, rateLimited, waitingOnKey, keyWaits, concurrency }. */
export async function schedState(page) {
  const d = await page.locator('#sched-state').evaluate((el) => ({ ...el.dataset }));
  return {
    paused: d.paused === 'true',
    rateLimited: d.rateLimited === 'true',
    waitingOnKey: Number(d.waitingOnKey),
    keyWaits: Number(d.keyWaits),
    concurrency: Number(d.concurrency),
  };
}

/** The page's log of events (each with the time the page saw it, `t`) and each job's label. */
export function pageLog(page) {
  return page.evaluate(() => ({
    events: window.demo.events,
    settled: window.demo.settled,
    labels: Object.fromEntries([...window.demo.labels].map(([job, l]) => [job, { ...l }])),
  }));
}

/** The server's counts with its hosts' (`window` ms for maxStartsInWindow), asked over HTTP. */
export async function hostStats(window, reset = false) {
  const res = await fetch(`${env.server.url}api/stats?window=${window}${reset ? '&reset=1' : ''}`);
  assert.equal(res.status, 200);
  return (await res.json()).hosts;
}

/** Polls the server (not timed: up to WAIT) until `ok(hosts)`; returns those counts. */
export async function untilHosts(window, ok) {
  const deadline = Date.now() + WAIT.timeout;
  for (;;) {
    const hosts = await hostStats(window);
    if (ok(hosts)) return hosts;
    assert.ok(Date.now() < deadline, `the server's counts never got there: ${JSON.stringify(hosts)}`);
    await sleep(20);
  }
}

/** The server's counts over both endpoints (/api/item's and the hosts' together), read in process. */
export function serverTotals() {
  const s = env.server.stats;
  const all = env.server.hosts.all;
  return {
    requests: s.requests + all.starts, ok: s.ok + all.ok, failed: s.failed + all.failed,
    hung: s.hung + all.hung, aborted: s.aborted + all.aborted, inFlight: s.inFlight + all.inFlight,
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
