// The policies across attempts (issue 19), checked as checks.mjs checks the rest, in Node and
// in Chromium: `runPolicies(workcrew, check, notes)`. Real times, short, with generous bounds:
// the package has no manual clock (its sleeper is setTimeout).
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hang = ({ signal }) =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
const rejection = (p) => p.then((v) => ({ value: v }), (e) => ({ error: e }));
const thrown = (f) => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
};

export async function runPolicies(wc, check, notes) {
  const { WorkPool, WorkPoolError, TimeoutError, DeadlineExceededError, CircuitOpenError } = wc;

  // The classes: distinct names, WorkPoolErrors.
  check(typeof DeadlineExceededError === 'function' && typeof CircuitOpenError === 'function'
    && new DeadlineExceededError('x', 1) instanceof WorkPoolError && new CircuitOpenError('x', 0) instanceof WorkPoolError
    && new DeadlineExceededError('x').name === 'DeadlineExceededError' && new CircuitOpenError('x').name === 'CircuitOpenError',
  'DeadlineExceededError and CircuitOpenError: WorkPoolErrors with their own names');

  // Bad options: a TypeError or RangeError naming the field, never a panic.
  {
    const bad = [
      [{ deadline: -1 }, RangeError, /^deadline must be a number of milliseconds/],
      [{ deadline: 'soon' }, TypeError, /^deadline must be a number, got string/],
      [{ hedge: 5 }, TypeError, /^hedge must be an object, got number/],
      [{ hedge: {} }, TypeError, /^hedge\.delay is required/],
      [{ hedge: { delay: 10, max: 0 } }, RangeError, /^hedge\.max must be an integer from 1 to 16, got 0/],
      [{ hedge: { delay: 10, max: 17 } }, RangeError, /^hedge\.max must be an integer from 1 to 16, got 17/],
      [{ hedge: { delay: 10, count: 1 } }, TypeError, /^hedge has an unknown field "count"/],
      [{ retryBudget: { percent: -1 } }, RangeError, /^retryBudget\.percent must be an integer from 0/],
      [{ retryBudget: { window: 0 } }, RangeError, /^retryBudget\.window must be an integer from 1/],
      [{ retryBudget: { minRetries: 1.5 } }, RangeError, /^retryBudget\.minRetries must be an integer/],
      [{ retryBudget: true }, TypeError, /^retryBudget must be an object, got boolean/],
      [{ circuitBreaker: { failures: 3 } }, TypeError, /^circuitBreaker\.cooldown is required/],
      [{ circuitBreaker: { failures: 3, cooldown: 0 } }, RangeError, /^circuitBreaker\.cooldown must be more than 0/],
      [{ circuitBreaker: { failures: 0, cooldown: 10 } }, RangeError, /^circuitBreaker\.failures must be an integer from 1/],
      [{ circuitBreaker: { cooldown: 10 } }, TypeError, /^circuitBreaker\.failures \(or percent and ofLast\) is required/],
      [{ circuitBreaker: { percent: 50, cooldown: 10 } }, TypeError, /^circuitBreaker\.ofLast is required with percent/],
      [{ circuitBreaker: { ofLast: 10, cooldown: 10 } }, TypeError, /^circuitBreaker\.percent is required with ofLast/],
      [{ circuitBreaker: { percent: 101, ofLast: 10, cooldown: 10 } }, RangeError, /^circuitBreaker\.percent must be an integer from 1 to 100/],
      [{ circuitBreaker: { percent: 50, ofLast: 1025, cooldown: 10 } }, RangeError, /^circuitBreaker\.ofLast must be an integer from 1 to 1024/],
      [{ circuitBreaker: { failures: 2, percent: 50, ofLast: 10, cooldown: 10 } }, TypeError, /^circuitBreaker\.failures cannot be given with percent or ofLast/],
      [{ circuitBreaker: { failures: 2, cooldown: 10, perKey: 1 } }, TypeError, /^circuitBreaker\.perKey must be a boolean/],
    ];
    const wrong = bad.filter(([o, C, re]) => {
      const e = thrown(() => new WorkPool(o));
      return !(e instanceof C && re.test(e.message));
    }).map(([o]) => JSON.stringify(o));
    check(wrong.length === 0, `bad pool policy options throw a TypeError or RangeError naming the field (wrong: ${wrong.join(' ')})`);

    const pool = new WorkPool({ workers: 1 });
    const jobBad = [
      [{ deadline: -5 }, RangeError, /^deadline must be a number of milliseconds/],
      [{ hedge: true }, TypeError, /^hedge must be an object, got boolean/],
      [{ hedge: { delay: -1 } }, RangeError, /^hedge\.delay must be a number of milliseconds/],
      [{ shouldRetry: 'yes' }, TypeError, /^shouldRetry must be a function, got string/],
    ];
    const jobWrong = [];
    for (const [o, C, re] of jobBad) {
      const r = await rejection(pool.submit(async () => 1, o));
      if (!(r.error instanceof C && re.test(r.error.message))) jobWrong.push(JSON.stringify(o) ?? String(o));
    }
    check(jobWrong.length === 0, `bad job policy options reject with a TypeError or RangeError naming the field (wrong: ${jobWrong.join(' ')})`);
    // Every good form is accepted.
    const good = [
      new WorkPool({ deadline: 0, hedge: { delay: 0 }, retryBudget: {}, circuitBreaker: { failures: 1, cooldown: 1 } }),
      new WorkPool({ circuitBreaker: { percent: 100, ofLast: 1024, cooldown: 5, perKey: true }, retryBudget: { percent: 0, minRetries: 0, window: 1 } }),
    ];
    const ok = await Promise.all([
      pool.submit(async () => 1, { deadline: null, hedge: null, shouldRetry: () => true }),
      pool.submit(async () => 2, { deadline: 1000, hedge: false }),
      pool.submit(async () => 3, { hedge: { delay: 1000, max: 16 } }),
    ]);
    check(ok.join() === '1,2,3', 'good job policy options are accepted (deadline null or ms, hedge null, false or { delay, max }, shouldRetry)');
    // `null` at the pool turns a policy off, as leaving it out does: no retry budget here, so
    // all 20 retries run (`retryBudget: {}` would deny the 11th).
    const off = new WorkPool({ workers: 1, retries: 20, timeout: null, deadline: null, hedge: null, retryBudget: null, circuitBreaker: null });
    let tries = 0;
    const offErr = await rejection(off.submit(async () => { tries++; throw new Error('down'); }));
    const om = off.metrics();
    check(offErr.error?.message === 'down' && tries === 21 && om.retriesDenied === 0,
      `null pool policies are off: the job's own error after 21 attempts, none denied (${offErr.error?.message}, ${tries}, ${om.retriesDenied})`);
    await Promise.all([pool.shutdown(), off.shutdown(), ...good.map((p) => p.shutdown())]);
  }

  // The deadline: a job that outlives it rejects with a DeadlineExceededError; its running
  // attempt's signal aborts with that error; counted, and emitted before `failed`.
  {
    const pool = new WorkPool({ workers: 1, deadline: 60, retries: 100, backoff: { kind: 'constant', delay: 5 } });
    const events = [];
    pool.onEvent((e) => { if (e.type === 'deadlineExceeded' || e.type === 'failed') events.push(e); });
    let reason;
    let attempts = 0;
    const t0 = performance.now();
    const r = await rejection(pool.submit((ctx) => {
      attempts++;
      if (ctx.attempt < 3) throw new Error('not yet');
      ctx.signal.addEventListener('abort', () => { reason = ctx.signal.reason; });
      return hang(ctx);
    }));
    const took = performance.now() - t0;
    await sleep(1);
    check(r.error instanceof DeadlineExceededError && r.error.name === 'DeadlineExceededError' && r.error.attempts === 3,
      `a job past its deadline rejects with a DeadlineExceededError, attempts 3 (${r.error?.name}, ${r.error?.attempts})`);
    check(reason === r.error, "the running attempt's signal aborts, with the job's DeadlineExceededError as reason");
    check(took >= 55 && took < 1000, `it ends at its deadline (60 ms; took ${took.toFixed(0)} ms)`);
    check(events.length === 2 && events[0].type === 'deadlineExceeded' && events[0].attempts === 3 && events[1].type === 'failed',
      `deadlineExceeded (attempts 3) then failed: ${JSON.stringify(events)}`);
    const m = pool.metrics();
    check(m.deadlineExceeded === 1 && m.failed === 1, `metrics().deadlineExceeded counts it (${m.deadlineExceeded}), in failed too (${m.failed})`);
    // A job's own deadline overrides the pool's; `null` opts out.
    const own = await rejection(pool.submit(hang, { deadline: 10 }));
    const none = await pool.submit(async () => { await sleep(100); return 'late'; }, { deadline: null });
    check(own.error instanceof DeadlineExceededError && none === 'late', "a job's deadline overrides the pool's; deadline: null opts out");
    // A backoff never sleeps past the deadline.
    const t1 = performance.now();
    const cut = await rejection(pool.submit(() => { throw new Error('x'); }, { deadline: 40, backoff: { kind: 'constant', delay: 5000 } }));
    const cutTook = performance.now() - t1;
    check(cut.error instanceof DeadlineExceededError && cut.error.attempts === 1 && cutTook < 1000,
      `a backoff longer than the deadline is cut at the deadline (${cut.error?.name}, attempts ${cut.error?.attempts}, ${cutTook.toFixed(0)} ms)`);
    await pool.shutdown();
  }

  // The retry budget: under 100% failure, retries ≤ percent/100 × first attempts + minRetries;
  // each denied retry counted and emitted; the job rejects with its attempt's own error.
  {
    const pool = new WorkPool({ workers: 4, retries: 5, backoff: { kind: 'none' }, retryBudget: { percent: 10, minRetries: 3, window: 1000 } });
    let denied = 0;
    pool.on('retryDenied', () => denied++);
    const N = 50;
    const mine = new Error('down');
    const results = await Promise.all(Array.from({ length: N }, () => rejection(pool.submit(() => { throw mine; }))));
    const m = pool.metrics();
    const bound = Math.floor(0.1 * N) + 3;
    check(results.every((r) => r.error === mine), 'a job whose retry is denied rejects with its own error');
    check(m.retried <= bound && m.retried >= 3, `retries stay within the budget: ${m.retried} ≤ 10% × ${N} + 3 = ${bound}`);
    check(m.retriesDenied > 0 && m.retriesDenied === denied, `metrics().retriesDenied (${m.retriesDenied}) counts the retryDenied events (${denied})`);
    notes.push(`retry budget: ${N} jobs failing always, retries: 5, budget 10% + 3: ${m.retried} retries, ${m.retriesDenied} denied`);
    await pool.shutdown();
  }

  // The circuit breaker: opens after 3 failures in a row; while open, jobs reject at once with a
  // CircuitOpenError without calling the function; after the cool-down one probe goes through,
  // and its success closes it. Events carry the key (null: the pool's breaker), no job.
  {
    const pool = new WorkPool({ workers: 1, circuitBreaker: { failures: 3, cooldown: 80 } });
    const states = [];
    pool.onEvent((e) => { if (e.type.startsWith('circuit')) states.push(e); });
    let calls = 0;
    const failing = () => { calls++; throw new Error('down'); };
    for (let i = 0; i < 3; i++) await rejection(pool.submit(failing));
    check(calls === 3 && states.length === 1 && states[0].type === 'circuitOpened', `3 failures in a row open the breaker (${JSON.stringify(states)})`);
    check(states[0].key === null && !('job' in states[0]), "the breaker's event has key null (the pool's breaker) and no job");
    const refused = await rejection(pool.submit(failing));
    check(refused.error instanceof CircuitOpenError && refused.error.name === 'CircuitOpenError' && refused.error.attempts === 0 && calls === 3,
      `while open, a job rejects with a CircuitOpenError (attempts 0) without being called (${refused.error?.name}, calls ${calls})`);
    await sleep(160); // the cool-down, with room
    check(states.length === 2 && states[1].type === 'circuitHalfOpen', `after the cool-down: half-open (${states.map((s) => s.type)})`);
    const probe = await pool.submit(async () => { calls++; return 'up'; });
    check(probe === 'up' && states.length === 3 && states[2].type === 'circuitClosed', `the probe succeeds: closed (${states.map((s) => s.type)})`);
    check((await pool.submit(async () => 'again')) === 'again', 'closed again: jobs run');
    const m = pool.metrics();
    check(m.circuitRefused === 1 && m.circuitOpened === 1, `metrics(): circuitRefused ${m.circuitRefused}, circuitOpened ${m.circuitOpened}`);
    // A retry that finds the breaker open: refused after its backoff, with the attempts made.
    await rejection(pool.submit(failing));
    await rejection(pool.submit(failing));
    const later = await rejection(pool.submit(failing, { retries: 3, backoff: { kind: 'constant', delay: 5 } }));
    check(later.error instanceof CircuitOpenError && later.error.attempts === 1, `a retry refused by the breaker: CircuitOpenError with attempts 1 (${later.error?.name} ${later.error?.attempts})`);
    await pool.shutdown();

    // Per key: each key's breaker, its events with the key; timeouts count as failures.
    const keyed = new WorkPool({ workers: 2, timeout: 10, circuitBreaker: { failures: 2, cooldown: 5000, perKey: true } });
    const opened = [];
    keyed.on('circuitOpened', (e) => opened.push(e.key));
    await rejection(keyed.submit(hang, { key: 'a' }));
    await rejection(keyed.submit(hang, { key: 'a' }));
    await rejection(keyed.submit(hang, { key: 7 }));
    const a = await rejection(keyed.submit(async () => 1, { key: 'a' }));
    const seven = await keyed.submit(async () => 7, { key: 7 });
    check(opened.length === 1 && opened[0] === 'a' && a.error instanceof CircuitOpenError && seven === 7,
      `per key: two timeouts open key "a"'s breaker only (opened: ${JSON.stringify(opened)})`);
    await keyed.abort();
  }

  // Hedging: a slow first attempt, a fast hedge: the hedge wins, the loser's signal aborts.
  {
    const pool = new WorkPool({ workers: 2, hedge: { delay: 20, max: 1 } });
    const events = [];
    pool.onEvent((e) => { if (e.type === 'hedgeStarted' || e.type === 'succeeded') events.push(e); });
    let loserReason;
    const t0 = performance.now();
    const value = await pool.submit((ctx) => {
      if (ctx.attempt === 1) {
        ctx.signal.addEventListener('abort', () => { loserReason = ctx.signal.reason; });
        return new Promise((resolve) => setTimeout(() => resolve('slow'), 2000));
      }
      return sleep(5).then(() => 'hedge');
    });
    const took = performance.now() - t0;
    await sleep(1);
    check(value === 'hedge' && took < 1000, `the hedge's value wins (${value}, ${took.toFixed(0)} ms)`);
    check(loserReason instanceof DOMException && loserReason.name === 'AbortError', `the losing attempt's signal aborts (reason: ${loserReason?.name})`);
    check(events.length === 2 && events[0].type === 'hedgeStarted' && events[0].attempt === 2 && events[1].attempts === 2, `hedgeStarted (attempt 2), then succeeded: ${JSON.stringify(events)}`);
    const m = pool.metrics();
    check(m.hedgesStarted === 1 && m.hedgesWon === 1 && m.attempts === 2, `metrics(): hedgesStarted ${m.hedgesStarted}, hedgesWon ${m.hedgesWon}, attempts ${m.attempts}`);
    // The first attempt wins: the hedge's signal aborts; a job that opts out runs once.
    let hedgeReason;
    const first = await pool.submit((ctx) => {
      if (ctx.attempt === 1) return sleep(40).then(() => 'first');
      ctx.signal.addEventListener('abort', () => { hedgeReason = ctx.signal.reason; });
      return hang(ctx);
    });
    await sleep(1);
    check(first === 'first' && hedgeReason?.name === 'AbortError', `the first attempt wins: the hedge's signal aborts (${first}, ${hedgeReason?.name})`);
    let calls = 0;
    await pool.submit(async () => { calls++; await sleep(50); }, { hedge: false });
    check(calls === 1, `hedge: false opts out: one attempt (${calls})`);
    // Every attempt of a round fails: one retry of the round, and the job rejects with the last
    // failure (here the hedge's own error).
    const errs = [new Error('first'), new Error('second'), new Error('third'), new Error('fourth')];
    const all = await rejection(pool.submit(async ({ attempt }) => { await sleep(attempt % 2 ? 40 : 30); throw errs[attempt - 1]; }, { retries: 1, backoff: { kind: 'none' } }));
    check(all.error === errs[0] || all.error === errs[1] || all.error === errs[2] || all.error === errs[3], 'a round that fails rejects with one of its own errors');
    check(all.error === errs[3], `... with the last round's last failure (got ${all.error?.message}, expected fourth)`);
    await pool.shutdown();
  }

  // shouldRetry sees the whole outcome: 'error' (with the error) and 'timeout'; false ends the
  // job; a throw ends it with what it threw, without a panic.
  {
    const pool = new WorkPool({ workers: 1, timeout: 15, retries: 3, backoff: { kind: 'none' } });
    const seen = [];
    const mine = new Error('mine');
    const r = await rejection(pool.submit((ctx) => (ctx.attempt === 1 ? Promise.reject(mine) : hang(ctx)), {
      shouldRetry: (f) => { seen.push(f); return f.kind === 'error'; },
    }));
    check(seen.length === 2 && seen[0].kind === 'error' && seen[0].error === mine && seen[0].attempt === 1
      && seen[1].kind === 'timeout' && seen[1].attempt === 2 && seen[1].error?.name === 'TimeoutError',
    `shouldRetry sees { kind: 'error', error, attempt: 1 } then { kind: 'timeout', attempt: 2 } (${JSON.stringify(seen.map((f) => [f.kind, f.attempt, f.error?.message]))})`);
    check(r.error instanceof TimeoutError && r.error.attempts === 2, `declining a timeout ends the job: a TimeoutError, attempts 2 (${r.error?.name} ${r.error?.attempts})`);
    const boom = new Error('predicate');
    let calls = 0;
    const t = await rejection(pool.submit(() => { calls++; throw new Error('job'); }, { shouldRetry: () => { throw boom; } }));
    check(t.error === boom && calls === 1, `a shouldRetry that throws ends the job with what it threw (${t.error?.message}, calls ${calls})`);
    const p = await rejection(pool.submit(() => { throw new Error('job'); }, { shouldRetry: async () => true }));
    check(p.error instanceof TypeError && /shouldRetry must return a boolean/.test(p.error.message), 'a shouldRetry that returns a promise ends the job with a TypeError');
    check((await pool.submit(async () => 'still here')) === 'still here', 'the pool goes on after a throwing shouldRetry');
    const all = await rejection(pool.submit(({ attempt }) => { throw new Error(`a${attempt}`); }, { shouldRetry: ({ attempt }) => attempt < 2 }));
    check(all.error?.message === 'a2', `shouldRetry false after attempt 2: its error (${all.error?.message})`);
    await pool.shutdown();
  }
}
