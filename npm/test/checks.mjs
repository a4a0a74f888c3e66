// The package's behaviour, checked the same way in Node and in a bundled page: `run(workcrew)`
// takes the package's exports and resolves with { passed, failures }.
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hang = ({ signal }) =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));

export async function run(wc) {
  const { default: init, WorkPool, WorkPoolError, TimeoutError, AbortError, QueueFullError,
    PoolClosedError, JobEvent } = wc;
  const failures = [];
  let passed = 0;
  const check = (ok, what) => (ok ? passed++ : failures.push(what));
  const rejection = (p) => p.then((v) => ({ value: v }), (e) => ({ error: e }));

  await init();

  // A value, and a job's own error, intact.
  {
    const pool = new WorkPool({ workers: 2 });
    check((await pool.submit(async () => 42)) === 42, 'a value comes back');
    const mine = new Error('mine');
    check((await rejection(pool.submit(() => { throw mine; }))).error === mine, "a job's own error comes back intact");
    await pool.shutdown();
  }

  // The error classes: instanceof, names, attempts.
  {
    const pool = new WorkPool({ workers: 1, queue: 1, timeout: 20, retries: 1, backoff: { kind: 'none' } });
    const reasons = [];
    const timedOut = rejection(pool.submit((ctx) => { const p = hang(ctx); ctx.signal.addEventListener('abort', () => reasons.push(ctx.signal.reason)); return p; }));
    await sleep(1); // the worker takes it
    const queued = rejection(pool.trySubmit(async () => 1));
    const full = (() => { try { pool.trySubmit(async () => 1); } catch (e) { return e; } })();
    check(full instanceof QueueFullError && full instanceof WorkPoolError && full.name === 'QueueFullError', 'a full queue throws a QueueFullError');
    const t = (await timedOut).error;
    check(t instanceof TimeoutError && t.name === 'TimeoutError' && t.attempts === 2, 'every attempt timed out: a TimeoutError with attempts 2');
    check(reasons.length === 2 && reasons.every((r) => r instanceof DOMException && r.name === 'TimeoutError'), "each timed-out attempt's signal.reason is a TimeoutError DOMException");
    check((await queued).value === 1, 'the queued job ran');
    await pool.shutdown();
    const closed = await rejection(pool.submit(async () => 1));
    check(closed.error instanceof PoolClosedError && closed.error.name === 'PoolClosedError', 'a closed pool rejects with a PoolClosedError');
  }

  // The caller's signal: the promise rejects with signal.reason, and so does the attempt's.
  {
    const pool = new WorkPool();
    const c = new AbortController();
    let attemptReason;
    const p = rejection(pool.submit((ctx) => { ctx.signal.addEventListener('abort', () => { attemptReason = ctx.signal.reason; }); return hang(ctx); }, { signal: c.signal }));
    await sleep(5);
    const why = new Error('the user left');
    c.abort(why);
    check((await p).error === why, "a job cancelled by the caller's signal rejects with signal.reason");
    await sleep(5);
    check(attemptReason === why, "the running attempt's signal fires with the same reason");
    const already = await rejection(pool.submit(async () => 1, { signal: AbortSignal.abort('gone') }));
    check(already.error === 'gone', 'an already-aborted signal refuses the job with its reason');
    await pool.shutdown();
  }

  // abort(): AbortError for the job, an AbortError DOMException for its attempt.
  {
    const pool = new WorkPool({ workers: 1 });
    let reason;
    const p = rejection(pool.submit((ctx) => { ctx.signal.addEventListener('abort', () => { reason = ctx.signal.reason; }); return hang(ctx); }));
    await sleep(5);
    const report = await pool.abort();
    const e = (await p).error;
    check(e instanceof AbortError && e.attempts === 1, 'abort() rejects a running job with an AbortError');
    await sleep(5);
    check(reason instanceof DOMException && reason.name === 'AbortError', "the aborted attempt's signal.reason is an AbortError DOMException");
    check(report.cancelled === 1 && pool.closed, 'the report counts it and the pool is closed');
  }

  // Events: an EventTarget with JobEvent objects, and onEvent, in order.
  {
    const seen = [];
    const pool = new WorkPool({ retries: 1, backoff: { kind: 'none' }, onEvent: (e) => seen.push(e.type) });
    const started = [];
    pool.addEventListener('attemptStarted', (e) => started.push(e));
    await pool.submit(({ attempt }) => { if (attempt === 1) throw new Error('first'); return 'ok'; });
    check(seen.join() === 'queued,attemptStarted,attemptFailed,retryScheduled,attemptStarted,succeeded', `events in order (${seen.join()})`);
    check(started.length === 2 && started[0] instanceof JobEvent && started[1].attempt === 2 && started[0].job === 0, 'addEventListener receives JobEvents');
    await pool.shutdown();
  }

  // size, pending, onEmpty(), onIdle().
  {
    const pool = new WorkPool({ workers: 1 });
    let done = 0;
    const jobs = [1, 2, 3].map(() => pool.submit(() => sleep(10).then(() => done++)));
    await sleep(2);
    check(pool.size === 2 && pool.pending === 1, `size 2 and pending 1 (got ${pool.size}, ${pool.pending})`);
    await pool.onEmpty();
    check(pool.size === 0, 'onEmpty(): nothing queued');
    await pool.onIdle();
    check(pool.pending === 0 && done === 3, 'onIdle(): nothing running, every job done');
    await Promise.all(jobs);
    const m = (await pool.shutdown()).metrics;
    check(m.submitted === m.succeeded + m.failed + m.cancelled && !('panicked' in m), 'metrics balance, and nothing that cannot happen');
  }

  // A job stops its own pool: ctx.shutdown() waits for every other job, not for itself.
  {
    const pool = new WorkPool({ workers: 2 });
    const other = pool.submit(() => sleep(20).then(() => 'other'));
    const seen = await pool.submit(async (ctx) => (await ctx.shutdown()).metrics.succeeded);
    check(seen === 1 && (await other) === 'other' && pool.closed, 'a job shuts its own pool down with ctx.shutdown()');
  }

  // Bad input: errors that name the field.
  {
    let e;
    try { new WorkPool({ workers: 0 }); } catch (err) { e = err; }
    check(e instanceof RangeError && /workers/.test(e.message), 'workers: 0 is a RangeError naming workers');
    const pool = new WorkPool();
    const bad = await rejection(pool.submit(async () => 1, { timeout: 'soon' }));
    check(bad.error instanceof TypeError && /timeout/.test(bad.error.message), 'a bad timeout is a TypeError naming timeout');
    await pool.shutdown();
  }

  return { passed, failures };
}
