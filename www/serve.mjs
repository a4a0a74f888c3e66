// The demo's server: 127.0.0.1 only, no dependencies. It serves the page, and an endpoint whose
// latency, failures and hangs happen here, on the server, so the page's timeouts abort real
// requests; the server counts the requests that the client aborted.
//   node www/serve.mjs [port]      (or PORT=8080)
//
//   GET /api/item/N?latency=ms&fail=pct&hang=pct&slow=pct&slowFactor=x
//       waits `latency` ms, then answers 200 with { id, name }, or 503 with probability
//       `fail` %; with probability `hang` % it never answers (until the client aborts); with
//       probability `slow` % (a slow tail) it waits `latency` × `slowFactor` ms instead
//       (`slowFactor` from 0 to 1000, by default 10; the wait is at most 600,000 ms)
//   GET /api/stats          { requests, ok, failed, hung, aborted, inFlight, slow, duplicates }:
//       `slow` counts the requests chosen to be slow, `duplicates` the requests for an item N
//       already requested since the last reset (so a job's hedges and retries show up)
//   GET /api/stats?reset=1  the same, then every count back to 0 (the hosts' counts too)
//
// A simulated outage, for circuit breakers: for `ms` milliseconds every request to /api/item
// and to the hosts answers 503 after its latency (its `fail` and `hang` ignored); counted apart:
//   GET /api/outage?ms=N    starts an outage of N ms (0 ends it), its count back to 0; answers
//       { outage }: { on, leftMs, requests }: `requests` are those received during the latest
//       outage (on both endpoints; also in the counts above). /api/stats reports `outage` too
//       (a reset sets its `requests` back to 0, and ends it).
//
// Simulated hosts, for limits per host: the same endpoint on each of the hosts a, b and c, with
// counts of its own (not in the counts above):
//   GET /api/host/H/item/N?latency=ms&fail=pct&hang=pct&slow=pct&slowFactor=x   H: a, b or c
//   GET /api/stats?window=ms   the counts above, `window`, and `hosts`: for a, b, c and `all` (the three
//       together), { inFlight, peak, starts, ok, failed, hung, aborted, slow, duplicates,
//       maxStartsInWindow }: `slow` and `duplicates` as above, per host (for `all`: an item
//       requested again on any host),
//       `peak` is the most requests in flight at once (for `all`: on the three together),
//       `starts` the requests received, `maxStartsInWindow` the most received in any window of
//       `ms` milliseconds (among at least the last 100,000 starts). At rest starts = ok + failed +
//       aborted; `hung` counts the requests chosen to hang (each ends aborted). With ?reset=1 too.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.ts': 'text/plain; charset=utf-8',
};

/** Counts of the endpoint's requests; `aborted`: the client went away before the answer. */
function newStats() {
  return { requests: 0, ok: 0, failed: 0, hung: 0, aborted: 0, inFlight: 0, slow: 0, duplicates: 0 };
}

const HOSTS = ['a', 'b', 'c'];
/** Start times kept per host, for `maxStartsInWindow`: the most recent ones only. */
const KEEP_STARTS = 100_000;

/**
 * One host's counts; `times`: when its latest requests arrived (ms, monotonic); `seen`: the items
 * requested since the last reset.
 */
function newHost(inFlight = 0) {
  return {
    inFlight, peak: inFlight, starts: 0, ok: 0, failed: 0, hung: 0, aborted: 0, slow: 0,
    duplicates: 0, times: [], seen: new Set(),
  };
}

/** The hosts' counts: `a`, `b`, `c`, and `all`, the three together. */
function newHosts(old) {
  return Object.fromEntries([...HOSTS, 'all'].map((h) => [h, newHost(old?.[h].inFlight ?? 0)]));
}

/**
 * The most of the (ascending) `times` in any window of `window` ms: two times are in one window
 * when they are less than `window` apart, so starts exactly `window` apart are not.
 */
export function maxInWindow(times, window) {
  let most = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while (times[j] - times[i] >= window) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

function hostReport(hosts, window) {
  return Object.fromEntries(Object.entries(hosts).map(([h, { times, seen, ...counts }]) =>
    [h, { ...counts, maxStartsInWindow: maxInWindow(times, window) }]));
}

function json(res, status, body) {
  res.writeHead(status, { 'Content-Type': types['.json'], 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** A percentage from the query: 0 to 100, anything else 0. */
function percent(params, key) {
  const n = Number(params.get(key));
  return Number.isFinite(n) ? Math.min(100, Math.max(0, n)) : 0;
}

/**
 * The request's wait: `latency` ms (0 to 60,000), or with probability `slow` % `latency` ×
 * `slowFactor` (0 to 1000, default 10), at most 600,000 ms. `slow`: whether it was chosen slow.
 */
function wait(params) {
  const latency = Math.min(60_000, Math.max(0, Number(params.get('latency')) || 0));
  const slow = Math.random() * 100 < percent(params, 'slow');
  if (!slow) return { latency, slow };
  const f = params.has('slowFactor') ? Number(params.get('slowFactor')) : 10;
  const factor = Number.isFinite(f) ? Math.min(1000, Math.max(0, f)) : 10;
  return { latency: Math.min(600_000, latency * factor), slow };
}

/** The outage, if one is on: `until` (ms, monotonic), and the requests received during it. */
function newOutage() {
  return { until: 0, requests: 0 };
}

/** Whether an outage is on now; counts the request in it if so. */
function inOutage(outage) {
  if (performance.now() >= outage.until) return false;
  outage.requests++;
  return true;
}

function outageReport(outage) {
  const leftMs = Math.max(0, Math.round(outage.until - performance.now()));
  return { on: leftMs > 0, leftMs, requests: outage.requests };
}

function item(req, res, id, params, stats, seen, outage) {
  const { latency, slow } = wait(params);
  const down = inOutage(outage);
  const roll = Math.random() * 100;
  const hang = !down && roll < percent(params, 'hang');
  const fail = down || (!hang && Math.random() * 100 < percent(params, 'fail'));
  stats.requests++;
  if (slow) stats.slow++;
  if (seen.has(id)) stats.duplicates++;
  else seen.add(id);
  stats.inFlight++;
  let timer = null;
  res.on('close', () => {
    stats.inFlight--;
    clearTimeout(timer);
    if (!res.writableFinished) stats.aborted++; // the client aborted before the answer
  });
  if (hang) {
    stats.hung++;
    return; // no answer: only the client's abort ends it
  }
  timer = setTimeout(() => {
    if (fail) {
      stats.failed++;
      json(res, 503, { error: 'injected failure', id });
    } else {
      stats.ok++;
      json(res, 200, { id, name: `item ${id}` });
    }
  }, latency);
}

/** The endpoint on host `host`, counted in `hosts.current[host]` and in `.all`; each request ends once. */
function hostItem(res, host, id, params, hosts, outage) {
  const { latency, slow } = wait(params);
  const down = inOutage(outage);
  const hang = !down && Math.random() * 100 < percent(params, 'hang');
  const fail = down || (!hang && Math.random() * 100 < percent(params, 'fail'));
  const now = performance.now();
  const started = hosts.current; // the counts this request started in
  for (const c of [started[host], started.all]) {
    c.starts++;
    c.inFlight++;
    c.peak = Math.max(c.peak, c.inFlight);
    if (hang) c.hung++;
    if (slow) c.slow++;
    if (c.seen.has(id)) c.duplicates++;
    else c.seen.add(id);
    c.times.push(now);
    if (c.times.length > 2 * KEEP_STARTS) c.times.splice(0, c.times.length - KEEP_STARTS);
  }
  let timer = null;
  res.on('close', () => {
    clearTimeout(timer);
    // After a reset the new counts carry the requests still in flight, so their end is taken off
    // those; its outcome counts only where it started, so that starts = ok + failed + aborted.
    const current = hosts.current;
    const outcome = !res.writableFinished ? 'aborted' : res.statusCode === 200 ? 'ok' : 'failed';
    for (const key of [host, 'all']) {
      current[key].inFlight--;
      if (current === started) current[key][outcome]++;
    }
  });
  if (hang) return; // no answer: only the client's abort ends it
  timer = setTimeout(() => {
    if (fail) json(res, 503, { error: 'injected failure', host, id });
    else json(res, 200, { id, host, name: `item ${id} from ${host}` });
  }, latency);
}

async function handle(req, res, root, allow, stats, hosts, seen, outage) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  let pathname;
  let params;
  try {
    const url = new URL(req.url, 'http://localhost');
    pathname = decodeURIComponent(url.pathname);
    params = url.searchParams;
  } catch {
    res.writeHead(400).end('bad request');
    return;
  }
  const api = /^\/api\/item\/(\d{1,9})$/.exec(pathname);
  if (api) {
    item(req, res, Number(api[1]), params, stats, seen, outage);
    return;
  }
  const onHost = /^\/api\/host\/([^/]+)\/item\/(\d{1,9})$/.exec(pathname);
  if (onHost) {
    if (HOSTS.includes(onHost[1])) hostItem(res, onHost[1], Number(onHost[2]), params, hosts, outage);
    else json(res, 404, { error: `no host ${onHost[1]}: a, b or c` });
    return;
  }
  if (pathname === '/api/outage') {
    const ms = Number(params.get('ms'));
    if (!(ms >= 0 && ms <= 3_600_000)) {
      json(res, 400, { error: 'ms: milliseconds, from 0 to 3600000' });
      return;
    }
    Object.assign(outage, { until: performance.now() + ms, requests: 0 });
    json(res, 200, { outage: outageReport(outage) });
    return;
  }
  if (pathname === '/api/stats') {
    if (params.has('window')) {
      const window = Number(params.get('window'));
      if (!(window > 0 && window <= 3_600_000)) {
        json(res, 400, { error: 'window: milliseconds, more than 0 and at most 3600000' });
        return;
      }
      json(res, 200, { ...stats, outage: outageReport(outage), window, hosts: hostReport(hosts.current, window) });
    } else {
      json(res, 200, { ...stats, outage: outageReport(outage) });
    }
    if (params.get('reset') === '1') {
      Object.assign(stats, newStats(), { inFlight: stats.inFlight });
      Object.assign(outage, newOutage());
      seen.clear();
      hosts.current = newHosts(hosts.current);
    }
    return;
  }
  if (pathname.endsWith('/')) pathname += 'index.html';
  const file = path.resolve(root, '.' + pathname);
  const allowed = allow
    ? allow.some((prefix) => file.startsWith(path.join(root, prefix)))
    : file.startsWith(root + path.sep) && !file.includes(`${path.sep}node_modules${path.sep}`);
  if (!allowed) {
    res.writeHead(404).end('not found');
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, {
      'Content-Type': types[path.extname(file)] ?? 'application/octet-stream',
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch {
    res.writeHead(404).end('not found');
  }
}

/**
 * Starts the server on 127.0.0.1; port 0 picks a free one. Resolves to { url, stats, outage,
 * hosts, close }: `stats`, /api/item's counts, `outage`, the latest outage's, and `hosts`, the
 * hosts' (with their start `times`).
 * `root` defaults to www/; `allow`, a list of path prefixes under `root`, limits what is served
 * (by default: everything under `root` but node_modules).
 */
export function startServer({ port = 8080, root = here, allow } = {}) {
  return new Promise((resolve, reject) => {
    const stats = newStats();
    const hosts = { current: newHosts() };
    const seen = new Set(); // the items of /api/item requested since the last reset
    const outage = newOutage();
    const server = http.createServer((req, res) => {
      handle(req, res, root, allow, stats, hosts, seen, outage).catch(() => res.writeHead(500).end());
    });
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}/`;
      resolve({
        url,
        stats,
        /** The outage now: { on, leftMs, requests }, as /api/stats reports it. */
        get outage() { return outageReport(outage); },
        /** The hosts' counts now (replaced by each reset): a, b, c and all, as /api/stats reports them. */
        get hosts() { return hosts.current; },
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
      });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
  const { url } = await startServer({ port });
  console.log(`workcrew demo: ${url}  (Ctrl-C to stop)`);
}
