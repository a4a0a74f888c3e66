// The wasm soak: a million mixed jobs through WorkPool in the page. Memory must stay flat (the
// wasm linear memory and the JS heap), every promise must settle and the metrics must balance.
// Per 1,000 jobs: 1 hangs (three 1 ms timeouts), 8 throw twice then succeed, 5 are cancelled
// through their AbortSignal, 1 returns a plain value, the rest resolve.
import init, { WorkPool } from '/www/pkg/index.js';

const N = Number(new URLSearchParams(location.search).get('n') ?? 1_000_000);
const WINDOW = 4096;

async function main() {
  const wasm = await init();
  const heap = () => performance.memory?.usedJSHeapSize ?? 0;
  const linear = () => wasm.memory.buffer.byteLength;
  const pool = new WorkPool({ workers: 8, queue: 1024, retries: 2, backoff: { kind: 'none' }, timeout: 10_000 });
  const start = { heap: heap(), linear: linear() };
  const samples = [];
  const counts = { ok: 0, failed: 0, cancelled: 0 };
  const inflight = [];
  const t0 = performance.now();
  const settle = (p) => p.then(() => { counts.ok++; }, (e) => { e?.name === 'AbortError' ? counts.cancelled++ : counts.failed++; });
  for (let i = 0; i < N; i++) {
    const kind = i % 1000;
    let promise;
    if (kind === 0) {
      promise = pool.submit(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))), { timeout: 1 });
    } else if (kind < 10) {
      promise = pool.submit(({ attempt }) => { if (attempt < 3) throw new Error('transient'); return Promise.resolve(i); });
    } else if (kind < 15) {
      const c = new AbortController();
      promise = pool.submit(({ signal }) => new Promise((resolve, reject) => {
        const t = setTimeout(resolve, 5, i);
        signal.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); });
      }), { signal: c.signal });
      c.abort();
    } else if (kind === 15) {
      promise = pool.submit(() => i);
    } else {
      promise = pool.submit(async () => i);
    }
    inflight.push(settle(promise));
    if (inflight.length === WINDOW) await inflight.shift();
    if ((i + 1) % (N / 10) === 0) {
      if (globalThis.gc) globalThis.gc();
      samples.push({ jobs: i + 1, heap: heap(), linear: linear() });
    }
  }
  await Promise.all(inflight);
  const report = await pool.shutdown();
  const ms = performance.now() - t0;
  const m = report.metrics;
  const settled = counts.ok + counts.failed + counts.cancelled;
  // A submission whose signal fires while it waits for room leaves the line without being
  // accepted: it rejects (an AbortError) but is never `submitted`. Here nothing is refused, so
  // every submission that was not accepted was such a one.
  const withdrawn = N - m.submitted;
  window.__soak = {
    n: N, ms, start, samples, counts, metrics: m, withdrawn,
    balanced: settled === N && m.submitted === m.succeeded + m.failed + m.cancelled
      && m.rejected === 0 && m.succeeded === counts.ok && m.failed === counts.failed
      && m.cancelled + withdrawn === counts.cancelled,
  };
  document.querySelector('#out').textContent = JSON.stringify(window.__soak, null, 2);
}

main().catch((e) => { window.__soak = { error: String(e.stack ?? e) }; });
