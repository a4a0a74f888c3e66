// Compiled with `tsc --strict --noEmit` against the package's declarations: the API's types
// must describe real use, without `any`.
import init, { JobEvent, PoolClosedError, TimeoutError, WorkPool } from '../pkg/index.js';
import type { JobEventData, Metrics, RateLimitOptions, ShutdownReport } from '../pkg/index.js';

export async function example(): Promise<number> {
  await init();
  const events: JobEventData[] = [];
  const timeline: number[] = [];
  const pool = new WorkPool({
    workers: 4,
    queue: 100,
    timeout: 2000,
    retries: 3,
    backoff: { kind: 'exponential', delay: 100, max: 2000, factor: 2, jitter: true },
    onEvent: (e) => {
      events.push(e);
      if (e.type === 'retryScheduled') {
        const delay: number = e.delay;
        void delay;
      }
      if (e.type === 'attemptFailed') {
        const error: unknown = e.error;
        void error;
      }
    },
  });
  pool.addEventListener('attemptTimedOut', (e: JobEvent) => {
    timeline.push(e.job, e.attempt ?? 0);
  });
  const off: () => void = pool.on('retryScheduled', (e) => {
    const delay: number = e.delay; // narrowed by the type: retryScheduled has a delay
    void delay;
  });
  off();
  const controller = new AbortController();
  const value: number = await pool.submit(async ({ signal, attempt, job }) => {
    const res = await fetch(`/api/item/${1 + (job % 8)}?latency=100`, { signal });
    return attempt + (res.ok ? 1 : 0);
  }, { timeout: null, retries: 1, signal: controller.signal });
  const plain: string = await pool.trySubmit(() => 'a plain value');
  const m: Metrics = pool.metrics();
  const waiting: number = pool.size + pool.pending;
  await pool.onEmpty();
  await pool.onIdle();
  const report: ShutdownReport = await pool.shutdown({ timeout: 1000 });
  try {
    await pool.submit(() => 1);
  } catch (e) {
    if (e instanceof PoolClosedError) return -1;
    if (e instanceof TimeoutError) return -(e.attempts ?? 0);
  }
  pool.onEvent(null);
  return value + plain.length + waiting + timeline.length + m.submitted + report.completed + pool.workers + pool.queue + Number(pool.closed);
}

// The scheduler, as the demo drives it: priorities, keys and ids on jobs; pause/start, the
// concurrency setter, the rate limit, clear and the new gauges and events on the pool.
export async function scheduler(): Promise<number> {
  await init();
  const pool = new WorkPool({ workers: 6, concurrency: 2, perKey: 2, intervalCap: 3, interval: 1000, queue: 100 });
  const keyWaits: number[] = [];
  const off = pool.on('waitingOnKey', (e) => { keyWaits.push(e.job); });
  pool.pause();
  const paused: boolean = pool.isPaused;
  const jobs: Promise<string>[] = ['a', 'b', 'c'].map((host, i) =>
    pool.submit(async ({ signal }) => (await fetch(`/api/host/${host}/item/${i}`, { signal })).statusText,
      { priority: i, key: host, id: `d${i}` }));
  const changed: number = pool.setPriority('d0', 10);
  pool.concurrency = 4;
  const concurrency: number = pool.concurrency;
  const rate: RateLimitOptions = { intervalCap: 5, interval: 500 };
  pool.setRateLimit(rate);
  const limited: boolean = pool.isRateLimited;
  const cap: number = pool.intervalCap + pool.interval;
  pool.setRateLimit(null);
  const cleared: number = pool.clear();
  const settled = await Promise.allSettled(jobs);
  const started: WorkPool = pool.start();
  await started.onSizeLessThan(1);
  const onKey: number = pool.metrics().waitingOnKey;
  off();
  await pool.shutdown();
  return Number(paused) + changed + concurrency + Number(limited) + cap + cleared + settled.length + onKey + keyWaits.length;
}
