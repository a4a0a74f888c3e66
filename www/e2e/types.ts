// Compiled with `tsc --strict --noEmit` against the generated declarations: the API's types
// must describe real use, without `any`.
import init, { WorkPool } from '../pkg/workcrew.js';
import type { JobEvent, Metrics, ShutdownReport, WorkPoolError } from '../pkg/workcrew.js';

export async function example(): Promise<number> {
  await init();
  const events: JobEvent[] = [];
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
  const controller = new AbortController();
  const value: number = await pool.submit(async ({ signal, attempt, job }) => {
    const res = await fetch(`/data/item-${1 + (job % 8)}.json`, { signal });
    return attempt + (res.ok ? 1 : 0);
  }, { timeout: null, retries: 1, signal: controller.signal });
  const plain: string = await pool.trySubmit(() => 'a plain value');
  const m: Metrics = pool.metrics();
  const report: ShutdownReport = await pool.shutdown({ timeout: 1000 });
  try {
    await pool.submit(() => 1);
  } catch (e) {
    const err = e as WorkPoolError;
    if (err.name === 'PoolClosedError') return -1;
  }
  pool.onEvent(null);
  return value + plain.length + m.submitted + report.completed + pool.workers + pool.queue + Number(pool.closed);
}
