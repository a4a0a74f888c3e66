// The demo's server: 127.0.0.1 only, no dependencies. It serves the page, and an endpoint whose
// latency, failures and hangs happen here, on the server, so the page's timeouts abort real
// requests; the server counts the requests that the client aborted.
//   node www/serve.mjs [port]      (or PORT=8080)
//
//   GET /api/item/N?latency=ms&fail=pct&hang=pct
//       waits `latency` ms, then answers 200 with { id, name }, or 503 with probability
//       `fail` %; with probability `hang` % it never answers (until the client aborts)
//   GET /api/stats          { requests, ok, failed, hung, aborted, inFlight }
//   GET /api/stats?reset=1  the same, then every count back to 0
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
  return { requests: 0, ok: 0, failed: 0, hung: 0, aborted: 0, inFlight: 0 };
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

function item(req, res, id, params, stats) {
  const latency = Math.min(60_000, Math.max(0, Number(params.get('latency')) || 0));
  const roll = Math.random() * 100;
  const hang = roll < percent(params, 'hang');
  const fail = !hang && Math.random() * 100 < percent(params, 'fail');
  stats.requests++;
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

async function handle(req, res, root, allow, stats) {
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
    item(req, res, Number(api[1]), params, stats);
    return;
  }
  if (pathname === '/api/stats') {
    json(res, 200, { ...stats });
    if (params.get('reset') === '1') Object.assign(stats, newStats(), { inFlight: stats.inFlight });
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
 * Starts the server on 127.0.0.1; port 0 picks a free one. Resolves to { url, stats, close }.
 * `root` defaults to www/; `allow`, a list of path prefixes under `root`, limits what is served
 * (by default: everything under `root` but node_modules).
 */
export function startServer({ port = 8080, root = here, allow } = {}) {
  return new Promise((resolve, reject) => {
    const stats = newStats();
    const server = http.createServer((req, res) => {
      handle(req, res, root, allow, stats).catch(() => res.writeHead(500).end());
    });
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}/`;
      resolve({
        url,
        stats,
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
