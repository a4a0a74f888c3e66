// Compiled with `tsc --strict --noEmit` against the package's declarations: the API's types
// must describe real use, without `any`.
import init, { CircuitOpenError, DeadlineExceededError, JobEvent, PoolClosedError, TimeoutError, WorkPool } from '../pkg/index.js';
import type { AttemptFailure, CircuitBreakerOptions, JobEventData, Metrics, RateLimitOptions, ShutdownReport } from '../pkg/index.js';

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
    timeline.push(e.job ?? -1, e.attempt ?? 0);
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

// The policies across attempts (issue 19): a deadline, hedging, a retry budget, a breaker, and a
// retry predicate that sees timeouts; the new errors, events and metrics.
export async function policies(): Promise<number> {
  await init();
  const breaker: CircuitBreakerOptions = { failures: 5, cooldown: 1000, perKey: true };
  const ratio: CircuitBreakerOptions = { percent: 50, ofLast: 20, cooldown: 1000 };
  const pool = new WorkPool({
    workers: 4, timeout: 500, retries: 2, deadline: 2000, hedge: { delay: 50, max: 1 },
    retryBudget: { percent: 10, minRetries: 5, window: 500 }, circuitBreaker: breaker,
  });
  const states: (string | number | null)[] = [];
  pool.on('circuitOpened', (e) => { states.push(e.key); });
  pool.on('hedgeStarted', (e) => { states.push(e.attempt); });
  pool.on('deadlineExceeded', (e) => { states.push(e.attempts); });
  const seen: AttemptFailure[] = [];
  let outcome = 0;
  try {
    await pool.submit(async ({ signal }) => (await fetch('/api/item/1', { signal, method: 'POST' })).status, {
      deadline: null,
      hedge: false,
      key: 'a',
      shouldRetry: (f) => { seen.push(f); return f.kind === 'error'; },
    });
    await pool.submit(() => 1, { deadline: 100, hedge: { delay: 10 } });
  } catch (e) {
    if (e instanceof DeadlineExceededError) outcome = e.attempts ?? 0;
    if (e instanceof CircuitOpenError) outcome = -(e.attempts ?? 0);
  }
  const m: Metrics = pool.metrics();
  const counts: number = m.deadlineExceeded + m.retriesDenied + m.circuitRefused + m.circuitOpened + m.hedgesStarted + m.hedgesWon;
  await pool.shutdown();
  void ratio;
  return outcome + counts + states.length + seen.length;
}
