// The package's behaviour (the JavaScript API), checked the same way in Node and in a bundled
// page: `run(workcrew)` takes the package's exports and resolves with { passed, failures, notes }
// (notes: figures measured on the way, and checks skipped).
import { runPolicies } from './policies.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hang = ({ signal }) =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
const flaky = (failures) => ({ attempt }) => {
  if (attempt <= failures) throw new Error(`fail ${attempt}`);
  return Promise.resolve(`ok@${attempt}`);
};
const balanced = (m) => m.submitted === m.succeeded + m.failed + m.cancelled;

export async function run(wc) {
  const { default: init, WorkPool, WorkPoolError, TimeoutError, AbortError, QueueFullError,
    PoolClosedError, JobEvent } = wc;
  const failures = [];
  const notes = [];
  let passed = 0;
  const check = (ok, what) => (ok ? passed++ : failures.push(what));
  const rejection = (p) => p.then((v) => ({ value: v }), (e) => ({ error: e }));
  // What a call returns, as `rejection`'s, or `{ threw: true, error }` if it throws at once.
  const settled = (f) => {
    let p;
    try { p = f(); } catch (e) { return Promise.resolve({ threw: true, error: e }); }
    return rejection(p);
  };

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
    const full = await settled(() => pool.trySubmit(async () => 1));
    check(full.error instanceof QueueFullError && full.error instanceof WorkPoolError && full.error.name === 'QueueFullError', 'a full queue rejects with a QueueFullError');
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

  // Issue 18's bug: aborting a queued job's signal rejects its promise at once with
  // signal.reason, while the job ahead of it still runs; its place is free at once (trySubmit
  // gets it), `size` drops and `metrics().cancelled` counts it. (Before, the promise rejected
  // only once a worker reached the job: after the running one ended.)
  {
    const pool = new WorkPool({ workers: 1, queue: 2 });
    let releaseLong;
    const long = pool.submit(() => new Promise((r) => { releaseLong = r; }));
    await sleep(2); // the worker runs it
    const c = new AbortController();
    let ran = false;
    const cancelledEvents = [];
    pool.on('cancelled', (e) => cancelledEvents.push(e));
    const queued = rejection(pool.submit(() => { ran = true; }, { signal: c.signal }));
    const behind = pool.submit(() => 'behind');
    const fullBefore = (await settled(() => pool.trySubmit(() => 1))).error instanceof QueueFullError;
    const sizeBefore = pool.size;
    const why = new Error('the user left');
    c.abort(why);
    const sizeAfter = pool.size;
    const m = pool.metrics();
    const took = rejection(pool.trySubmit(() => 'took the freed place'));
    const rejectedAfter = pool.metrics().rejected;
    const early = await Promise.race([queued, sleep(0).then(() => 'not yet')]);
    const stillRunning = pool.pending === 1 && releaseLong !== undefined;
    check(early !== 'not yet' && early.error === why && stillRunning, `a queued job's signal rejects its promise at once, with signal.reason, while the job ahead still runs (got ${early === 'not yet' ? 'no settlement within a macrotask' : String(early.error)})`);
    check(fullBefore && sizeBefore === 2 && sizeAfter === 1 && m.cancelled === 1 && m.queued === 1 && rejectedAfter === m.rejected, `its place is free at once: size ${sizeBefore} -> ${sizeAfter}, cancelled ${m.cancelled}, trySubmit accepted (rejected ${m.rejected} -> ${rejectedAfter})`);
    check(cancelledEvents.length === 1 && cancelledEvents[0].attempts === 0, `the cancelled job emits "cancelled" with 0 attempts (got ${JSON.stringify(cancelledEvents)})`);
    releaseLong('long');
    check((await long) === 'long' && (await behind) === 'behind' && (await took).value === 'took the freed place' && !ran, 'the others run; the cancelled one never does');
    await pool.shutdown();
  }

  // A submission still waiting for room whose signal fires leaves the line at once: the next
  // place goes to the one behind it. (Before: it kept its turn, was admitted, then cancelled,
  // and the one behind waited for another place.)
  {
    const pool = new WorkPool({ workers: 1, queue: 1 });
    let releaseLong;
    const long = pool.submit(() => new Promise((r) => { releaseLong = r; }));
    await sleep(2); // the worker runs it
    const queued = pool.submit(() => new Promise((r) => setTimeout(() => r('queued'), 50)));
    const c = new AbortController();
    const first = rejection(pool.submit(() => 'first', { signal: c.signal })); // waits for room
    const second = pool.submit(() => 'second'); // waits behind it
    c.abort('changed my mind');
    const gone = await first;
    releaseLong('long'); // `queued` starts: one place frees, and `second` takes it
    await long;
    await sleep(5);
    const sizeThen = pool.size;
    const m = pool.metrics();
    check(gone.error === 'changed my mind', `a waiting submission's signal rejects it with its reason (got ${String(gone.error)})`);
    check(sizeThen === 1 && m.submitted === 3 && m.cancelled === 0, `the place went to the one behind it: size ${sizeThen}, submitted ${m.submitted} (3), cancelled ${m.cancelled} (0)`);
    check((await queued) === 'queued' && (await second) === 'second', 'the others run');
    await pool.shutdown();
    check(balanced(pool.metrics()), 'the metrics balance');
  }

  // The scheduler's controls (issue 18), under p-queue's names.
  const gate = () => { let open; const p = new Promise((r) => { open = r; }); return { p, open }; };

  // Priority: higher first, FIFO within one priority.
  {
    const pool = new WorkPool({ workers: 1 });
    pool.pause();
    const order = [];
    const jobs = [[0, 'a'], [1, 'b'], [-1, 'c'], [1, 'd'], [0, 'e'], [5, 'f'], [-1, 'g'], [-(2 ** 31), 'h'], [2 ** 31 - 1, 'i']]
      .map(([priority, name]) => pool.submit(() => { order.push(name); }, { priority }));
    pool.start();
    await Promise.all(jobs);
    check(order.join('') === 'ifbdaecgh', `priority: higher first, in submission order within one priority (got ${order.join('')})`);
    await pool.shutdown();
  }

  // setPriority(id, priority): p-queue's; duplicates share; a waiting submission takes it.
  {
    const pool = new WorkPool({ workers: 1 });
    pool.pause();
    const order = [];
    const job = (name) => () => { order.push(name); };
    const jobs = [
      pool.submit(job('a'), { id: 'a' }), pool.submit(job('b')), pool.submit(job('c'), { id: 'c' }),
      pool.submit(job('d'), { priority: 1 }), pool.submit(job('x1'), { id: 'x' }), pool.submit(job('y')),
      pool.submit(job('x2'), { id: 'x' }),
    ];
    const changed = [pool.setPriority('c', 2), pool.setPriority('a', 0), pool.setPriority('nope', 3), pool.setPriority('x', 1)];
    pool.start();
    await Promise.all(jobs);
    check(order.join() === 'c,d,x1,x2,a,b,y' && changed.join() === '1,1,0,2', `setPriority: moves a queued job (ids shared by two move both; the same priority keeps its place) (order ${order.join()}, changed ${changed.join()})`);
    check(pool.setPriority('c', 5) === 0 && pool.setPriority('x', 5) === 0, 'setPriority: 0 once the jobs have run (no throw)');
    const bad = [() => pool.setPriority(1, 0), () => pool.setPriority('a', 1.5), () => pool.setPriority('a', '1'), () => pool.setPriority('a', 2 ** 31), () => pool.setPriority('a')];
    const errors = bad.map((f) => { try { f(); return null; } catch (e) { return e; } });
    const [eId, eFrac, eStr, eBig, eNone] = errors;
    check(eId instanceof TypeError && /\bid\b/.test(eId.message) && eFrac instanceof RangeError && /priority/.test(eFrac.message) && eStr instanceof TypeError && /priority/.test(eStr.message) && eBig instanceof RangeError && eNone instanceof TypeError, `setPriority: a bad id or priority is a TypeError or RangeError naming it (${errors.map(String).join('; ')})`);
    await pool.shutdown();

    // A submission waiting for room (queue full) takes its new priority once admitted.
    const p2 = new WorkPool({ workers: 1, queue: 2 });
    const seen = [];
    p2.pause();
    const q1 = p2.submit(() => { seen.push('q1'); return sleep(5); });
    const q2 = p2.submit(() => { seen.push('q2'); });
    const w = p2.submit(() => { seen.push('w'); }, { id: 'w' });
    await sleep(1);
    const size = p2.size;
    const n = p2.setPriority('w', 9);
    p2.start();
    await Promise.all([q1, q2, w]);
    check(size === 2 && n === 1 && seen.join() === 'q1,w,q2', `setPriority reaches a submission still waiting for room (changed ${n}, order ${seen.join()})`);
    await p2.shutdown();
  }

  // perKey: at most n of one key at once; other keys pass a busy key's waiting jobs, which hold
  // no worker; metrics().waitingOnKey and the waitingOnKey event.
  {
    const pool = new WorkPool({ workers: 4, perKey: 2 });
    const running = new Map();
    const peak = new Map();
    const starts = [];
    const waitingEvents = [];
    pool.on('waitingOnKey', (e) => waitingEvents.push(e.job));
    const job = (key, ms) => async () => {
      starts.push(key);
      const n = (running.get(key) ?? 0) + 1;
      running.set(key, n);
      peak.set(key, Math.max(peak.get(key) ?? 0, n));
      await sleep(ms);
      running.set(key, running.get(key) - 1);
      return key;
    };
    const jobs = [];
    for (let i = 0; i < 6; i++) jobs.push(pool.submit(job('a', 15), { key: 'a' }));
    jobs.push(pool.submit(job('b', 1), { key: 'b' }), pool.submit(job('b', 1), { key: 'b' }), pool.submit(job('none', 1)));
    await sleep(5);
    const m = pool.metrics();
    await Promise.all(jobs);
    const aBeforeFirstB = starts.indexOf('b') >= 0 ? starts.slice(0, starts.indexOf('b')).filter((k) => k === 'a').length : -1;
    check(peak.get('a') === 2 && peak.get('b') <= 2, `perKey 2: at most 2 jobs of a key at once (peak a ${peak.get('a')}, b ${peak.get('b')})`);
    check(aBeforeFirstB === 2 && starts.indexOf('none') < 6, `other keys (and jobs without a key) pass a busy key's waiting jobs (starts: ${starts.join()})`);
    check(m.waitingOnKey >= 1 && m.waitingOnKey <= 4 && m.queued >= m.waitingOnKey && waitingEvents.length >= 1, `metrics().waitingOnKey (${m.waitingOnKey} of ${m.queued} queued) and waitingOnKey events (${waitingEvents.length})`);
    check(pool.metrics().waitingOnKey === 0, 'waitingOnKey is 0 once they have run');
    await pool.shutdown();

    // Number keys: 7 and "7" are different keys; negative integers are keys.
    const p2 = new WorkPool({ workers: 3, perKey: 1 });
    let now = 0;
    let most = 0;
    const k = (key) => p2.submit(async () => { most = Math.max(most, ++now); await sleep(5); now--; }, { key });
    await Promise.all([k(7), k('7'), k(-7)]);
    check(most === 3, `keys 7, "7" and -7 are three keys (${most} ran at once)`);
    await Promise.all([k(-7), k(-7)]);
    check(most === 3 && now === 0, 'one key, perKey 1: one at a time');
    await p2.shutdown();
  }

  // pause(), start(), isPaused: running attempts go on, queued jobs wait, submissions queue.
  {
    const pool = new WorkPool({ workers: 2 });
    const g = gate();
    let started = 0;
    const running = pool.submit(() => { started++; return g.p; });
    await sleep(2);
    const paused0 = pool.isPaused;
    pool.pause();
    const queued = [1, 2, 3].map((i) => pool.submit(() => { started++; return i; }));
    await sleep(10);
    const whilePaused = { started, size: pool.size, pending: pool.pending, isPaused: pool.isPaused };
    g.open('ran on');
    const ranOn = await running;
    await sleep(5);
    const afterRunning = started;
    const returned = pool.start();
    const values = await Promise.all(queued);
    check(!paused0 && whilePaused.isPaused && whilePaused.started === 1 && whilePaused.size === 3 && whilePaused.pending === 1 && afterRunning === 1, `pause(): the running job goes on, submissions still queue and none starts (${JSON.stringify(whilePaused)}, started after ${afterRunning})`);
    check(ranOn === 'ran on' && returned === pool && !pool.isPaused && values.join() === '1,2,3', 'start() returns the pool and runs what was queued');
    await pool.shutdown();
    // A graceful shutdown resumes a paused pool; it finishes what is queued.
    const p2 = new WorkPool({ workers: 1 });
    p2.pause();
    const left = p2.submit(() => 'finished');
    const report = await p2.shutdown();
    check((await left) === 'finished' && report.completed === 1, 'shutdown() resumes a paused pool and drains it');
  }

  // concurrency: the getter, and the setter (grow starts queued jobs at once; shrink interrupts
  // nothing); bad values are a RangeError (or a TypeError) naming concurrency.
  {
    const pool = new WorkPool({ workers: 4, concurrency: 1 });
    const d = new WorkPool({ concurrency: 8 });
    const defaults = [pool.workers, pool.concurrency, d.workers, d.concurrency, new WorkPool({ workers: 2 }).concurrency];
    check(defaults.join() === '4,1,8,8,2', `concurrency: initial limit within the crew; workers defaults to 4, or to concurrency if larger (${defaults.join()})`);
    await d.shutdown();
    const gates = [gate(), gate(), gate(), gate()];
    let now = 0;
    let peak = 0;
    let aborted = 0;
    const jobs = gates.map((g, i) => pool.submit(async ({ signal }) => {
      signal.addEventListener('abort', () => aborted++);
      peak = Math.max(peak, ++now);
      await g.p;
      now--;
      return i;
    }));
    await sleep(5);
    const before = [pool.pending, pool.size];
    pool.concurrency = 3;
    await sleep(0);
    const grown = [pool.pending, pool.size, pool.concurrency];
    pool.concurrency = 1;
    await sleep(5);
    const shrunk = [pool.pending, pool.size, pool.concurrency];
    peak = now; // from here: at most 1 more at once
    gates[0].open(); gates[1].open();
    await sleep(5);
    const afterTwo = [pool.pending, pool.size];
    gates[2].open();
    await sleep(5);
    const afterThree = [pool.pending, pool.size];
    gates[3].open();
    const values = await Promise.all(jobs);
    check(before.join() === '1,3' && grown.join() === '3,1,3', `growing concurrency starts queued jobs within a macrotask (pending, size: ${before} -> ${grown})`);
    check(shrunk.join() === '3,1,1' && afterTwo.join() === '1,1' && afterThree.join() === '1,0' && aborted === 0 && values.join() === '0,1,2,3', `shrinking interrupts no running job; no new one starts until fewer run than the limit (${shrunk} / ${afterTwo} / ${afterThree}, ${aborted} aborted)`);
    const bad = [0, 5, 1.5, NaN, '2', undefined].map((n) => { try { pool.concurrency = n; return null; } catch (e) { return e; } });
    check(bad.every((e, i) => e instanceof (i < 4 ? RangeError : TypeError) && /concurrency/.test(e.message)) && pool.concurrency === 1, `concurrency = 0, 5 (above the 4 workers), 1.5, NaN: RangeError; "2", undefined: TypeError; each naming concurrency (${bad.map(String).join('; ')})`);
    await pool.shutdown();
  }

  // The rate limit: no more than intervalCap attempt starts within any interval window
  // (checked on the starts' own times, with 5 ms of slack for timers), retries counted, a job
  // cancelled before it starts not counted; setRateLimit changes it at run time.
  {
    const within = (starts, cap, interval) => {
      const gaps = [];
      for (let i = cap; i < starts.length; i++) gaps.push(starts[i] - starts[i - cap]);
      return { ok: gaps.every((g) => g >= interval - 5), min: Math.min(...gaps) }; // timers may fire a ms early
    };
    const pool = new WorkPool({ workers: 4, intervalCap: 2, interval: 50 });
    const starts = [];
    const jobs = Array.from({ length: 8 }, () => pool.submit(() => { starts.push(performance.now()); }));
    await sleep(10);
    const limited = [pool.isRateLimited, pool.size, pool.intervalCap, pool.interval];
    await Promise.all(jobs);
    const w = within(starts, 2, 50);
    check(w.ok && starts.length === 8, `intervalCap 2 per 50 ms: no 3 starts within any 50 ms (the closest 3: ${w.min.toFixed(1)} ms apart)`);
    check(limited.join() === 'true,6,2,50' && !pool.isRateLimited, `isRateLimited while jobs wait for the rate limit, not after (${limited.join()})`);
    await pool.shutdown();

    // Retries are attempts: they count.
    const p2 = new WorkPool({ intervalCap: 1, interval: 40, retries: 2, backoff: { kind: 'none' } });
    const attempts = [];
    await p2.submit(({ attempt }) => { attempts.push(performance.now()); if (attempt < 3) throw new Error('again'); return 'ok'; });
    const wr = within(attempts, 1, 40);
    check(wr.ok && attempts.length === 3, `retries count against the rate limit (attempts ${wr.min.toFixed(1)} ms apart at the closest)`);
    await p2.shutdown();

    // A job cancelled before it starts takes no token.
    const p3 = new WorkPool({ workers: 1, intervalCap: 1, interval: 100 });
    const t = [];
    const c = new AbortController();
    const j1 = p3.submit(() => { t.push(performance.now()); });
    const j2 = rejection(p3.submit(() => { t.push(-1); }, { signal: c.signal }));
    const j3 = p3.submit(() => { t.push(performance.now()); });
    await sleep(5);
    c.abort('never mind');
    await Promise.all([j1, j3]);
    const gap = t[1] - t[0];
    check((await j2).error === 'never mind' && t.length === 2 && gap >= 98 && gap < 190, `a job cancelled before it starts takes no token: the next starts one interval later (${gap.toFixed(1)} ms, not two)`);
    await p3.shutdown();

    // setRateLimit: set, change, lift, at run time; bad values name the field.
    const p4 = new WorkPool({ workers: 2 });
    const none = [p4.intervalCap, p4.interval, p4.isRateLimited];
    p4.setRateLimit({ intervalCap: 1, interval: 30 });
    const set = [p4.intervalCap, p4.interval];
    const s4 = [];
    await Promise.all(Array.from({ length: 3 }, () => p4.submit(() => { s4.push(performance.now()); })));
    const w4 = within(s4, 1, 30);
    p4.setRateLimit({ intervalCap: 3, interval: 0.5 });
    const changed = [p4.intervalCap, p4.interval];
    // One start a second: after one job, the next would wait a second, unless the limit is lifted.
    p4.setRateLimit({ intervalCap: 1, interval: 1000 });
    await p4.submit(() => 1);
    const t0 = performance.now();
    const more = Promise.all(Array.from({ length: 5 }, () => p4.submit(() => 1)));
    await sleep(5);
    const limitedNow = p4.isRateLimited;
    p4.setRateLimit(null);
    const lifted = [p4.intervalCap, p4.interval];
    await more;
    const unlimited = performance.now() - t0;
    check(none.join() === 'Infinity,0,false' && set.join() === '1,30' && w4.ok && changed.join() === '3,0.5' && limitedNow && lifted.join() === 'Infinity,0' && unlimited < 500, `setRateLimit sets (${set}), limits (${w4.min.toFixed(1)} ms apart), changes (${changed}) and lifts (${lifted}: the 5 jobs waiting for a token ran within ${unlimited.toFixed(0)} ms, not 5 s) the rate limit at run time`);
    const badLimits = [
      [{ intervalCap: 0, interval: 5 }, RangeError, 'intervalCap'], [{ intervalCap: 1 }, TypeError, 'interval'],
      [{ interval: 5 }, TypeError, 'intervalCap'], [{ intervalCap: 1, interval: 0 }, RangeError, 'interval'],
      [{ intervalCap: 1, interval: -1 }, RangeError, 'interval'], [{}, TypeError, 'intervalCap'],
      [{ intervalCap: 1, interval: 5, strict: true }, TypeError, 'strict'], ['1/s', TypeError, 'options'],
    ];
    const wrong = [];
    for (const [options, C, field] of badLimits) {
      let e;
      try { p4.setRateLimit(options); } catch (err) { e = err; }
      if (!(e instanceof C) || !e.message.includes(field)) wrong.push(`${JSON.stringify(options)}: ${e}`);
    }
    check(wrong.length === 0 && p4.intervalCap === Infinity, `setRateLimit: each bad value is a TypeError or RangeError naming its field, and changes nothing (${wrong.join('; ')})`);
    await p4.shutdown();
  }

  // clear(): cancels every queued job (not the running one), rejects each promise at once, and
  // returns how many (p-queue's leaves them pending).
  {
    const pool = new WorkPool({ workers: 1, queue: 3 });
    const g = gate();
    const running = pool.submit(() => g.p);
    await sleep(2);
    const cancelled = [];
    pool.on('cancelled', (e) => cancelled.push(e.attempts));
    const queued = [pool.submit(() => 1), pool.submit(() => 2, { id: 'two', priority: 3 }), pool.submit(() => 3, { signal: new AbortController().signal })].map(rejection);
    const waiting = pool.submit(() => 'waited for room');
    const n = pool.clear();
    const size = pool.size;
    const outcomes = await Promise.race([Promise.all(queued), sleep(0).then(() => 'not yet')]);
    const m = pool.metrics();
    check(n === 3 && outcomes !== 'not yet' && outcomes.every((o) => o.error instanceof AbortError && o.error.attempts === 0), `clear() returns 3 and rejects each queued promise with an AbortError within a macrotask (got ${n}, ${outcomes === 'not yet' ? 'not settled' : outcomes.map((o) => String(o.error)).join('; ')})`);
    check(pool.pending === 1 && m.cancelled === 3 && cancelled.join() === '0,0,0' && size <= 1 && pool.setPriority('two', 1) === 0, `clear(): the running job goes on; cancelled 3, 3 cancelled events (${m.cancelled}, ${cancelled.join()})`);
    g.open('ran');
    check((await running) === 'ran' && (await waiting) === 'waited for room' && pool.clear() === 0, 'the running job ends, the waiting submission takes a freed place and runs; clear() of an empty queue is 0');
    await pool.shutdown();
  }

  // onSizeLessThan(n): resolves once size < n; bad n rejects (never throws).
  {
    const pool = new WorkPool({ workers: 1 });
    pool.pause();
    const jobs = Array.from({ length: 5 }, () => pool.submit(() => sleep(5)));
    let sizeThen = -1;
    const below = pool.onSizeLessThan(3).then(() => { sizeThen = pool.size; });
    await sleep(10);
    const early = sizeThen;
    pool.start();
    await below;
    check(early === -1 && sizeThen >= 1 && sizeThen < 3, `onSizeLessThan(3) waits while 5 are queued and resolves once fewer than 3 are (size then ${sizeThen})`);
    let atOnce = false;
    pool.onSizeLessThan(100).then(() => { atOnce = true; });
    await sleep(0);
    const bad = await Promise.all([0, -1, 1.5, NaN, '3', undefined].map((n) => settled(() => pool.onSizeLessThan(n))));
    check(atOnce && bad.every((r, i) => !r.threw && r.error instanceof (i < 4 ? RangeError : TypeError) && /limit/.test(r.error.message)), `onSizeLessThan: resolves at once when already below; a bad limit rejects naming it, never throws (${bad.map((r) => String(r.error)).join('; ')})`);
    await Promise.all(jobs);
    // Cancellations lower the size too: clear() wakes a waiter at once.
    pool.pause();
    const cleared = Array.from({ length: 3 }, () => rejection(pool.submit(() => 1)));
    let emptied = false;
    const empty = pool.onSizeLessThan(1).then(() => { emptied = true; });
    await sleep(5);
    const before = emptied;
    pool.clear();
    await Promise.race([empty, sleep(0)]);
    check(!before && emptied && (await Promise.all(cleared)).every((o) => o.error instanceof AbortError), `onSizeLessThan(1) resolves as clear() empties the queue (before: ${before}, after: ${emptied})`);
    await pool.shutdown();
  }

  // A pool that has ended still answers the scheduler's getters and calls.
  {
    const pool = new WorkPool({ workers: 3, concurrency: 2, intervalCap: 5, interval: 1000 });
    await pool.shutdown();
    await sleep(0);
    const got = [pool.concurrency, pool.isPaused, pool.intervalCap, pool.interval, pool.isRateLimited, pool.clear(), pool.setPriority('x', 1)];
    pool.pause();
    const paused = pool.isPaused;
    pool.concurrency = 3;
    let e;
    try { pool.concurrency = 4; } catch (err) { e = err; }
    pool.setRateLimit(null);
    const onSize = await settled(() => pool.onSizeLessThan(1));
    const badSize = await settled(() => pool.onSizeLessThan(0));
    check(got.join() === '2,false,5,1000,false,0,0' && paused && pool.concurrency === 3 && e instanceof RangeError && /concurrency/.test(e.message) && pool.intervalCap === Infinity && !onSize.threw && !('error' in onSize) && badSize.error instanceof RangeError, `after the end: the scheduler's getters and calls still answer (${got.join()})`);
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

  // on(type, listener): plain objects, per type, until unsubscribed; a throwing one is counted.
  {
    const pool = new WorkPool({ retries: 1, backoff: { kind: 'none' } });
    const seen = [];
    const offStarted = pool.on('attemptStarted', (e) => seen.push(`${e.type}:${e.attempt}`));
    pool.on('succeeded', (e) => seen.push(`${e.type}:${e.attempts}`));
    pool.on('succeeded', () => { throw new Error('a bug in this listener'); });
    pool.on('succeeded', () => seen.push('after the throwing one'));
    const log = console.error;
    console.error = () => {};
    try {
      await pool.submit(flaky(1));
      offStarted();
      offStarted(); // twice: nothing more
      await pool.submit(() => 'again');
    } finally {
      console.error = log;
    }
    check(seen.join() === 'attemptStarted:1,attemptStarted:2,succeeded:2,after the throwing one,succeeded:1,after the throwing one', `on(): each type's listeners, in order, until unsubscribed (${seen.join()})`);
    check(pool.metrics().listenerErrors === 2, 'on(): a throwing listener is counted, and the others still run');
    let e1, e2, e3;
    try { pool.on('started', () => {}); } catch (e) { e1 = e; }
    try { pool.on(3, () => {}); } catch (e) { e2 = e; }
    try { pool.on('queued', 'no'); } catch (e) { e3 = e; }
    check(e1 instanceof RangeError && /attemptStarted/.test(e1.message) && e2 instanceof TypeError && /type/.test(e2.message) && e3 instanceof TypeError && /listener/.test(e3.message), 'on(): an unknown type is a RangeError, a non-string or a non-function a TypeError');
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

  // Retries until it succeeds; values come back as returned, plain or promised.
  {
    const pool = new WorkPool({ workers: 2, retries: 3, backoff: { kind: 'none' } });
    check((await pool.submit(flaky(2))) === 'ok@3', 'a job is retried until it succeeds');
    let m = pool.metrics();
    check(m.succeeded === 1 && m.retried === 2 && m.attempts === 3, `succeeded 1, retried 2, attempts 3 (got ${m.succeeded}, ${m.retried}, ${m.attempts})`);
    check((await pool.submit(() => 42)) === 42 && (await pool.submit(() => null)) === null, 'a plain return value is the value');
    check((await pool.submit(() => ({ then(ok) { ok('thenable'); } }))) === 'thenable', 'a thenable is adopted');
    const hostile = new Error('a then getter that throws');
    const odd = await rejection(pool.submit(() => ({ get then() { throw hostile; } })));
    check(odd.error === hostile && (await pool.submit(() => 'still here')) === 'still here', "a value whose then getter throws fails the attempt with that error, and the pool goes on");
    const mine = new Error('mine');
    const rejected = await rejection(pool.submit(async () => { throw mine; }));
    const thrown = await rejection(pool.submit(() => { throw 'a string'; }));
    check(rejected.error === mine && thrown.error === 'a string', 'a rejection, or a thrown non-Error, comes back as it was');
    m = (await pool.shutdown()).metrics;
    check(m.failed === 3 && balanced(m), `metrics: 3 failed, and they balance (got ${m.failed})`);
  }

  // abort(): every promise settles; the running attempts' signals fire.
  {
    const pool = new WorkPool({ workers: 2, queue: 10 });
    let fired = 0;
    const jobs = [0, 1, 2, 3, 4].map(() => rejection(pool.submit((ctx) => { ctx.signal.addEventListener('abort', () => fired++); return hang(ctx); })));
    await sleep(10);
    const report = await pool.abort();
    const outcomes = await Promise.all(jobs);
    check(report.cancelled === 5 && outcomes.every((o) => o.error instanceof AbortError), 'abort() settles every job with an AbortError');
    await sleep(1);
    check(fired === 2, `the two running attempts saw their signals fire (got ${fired})`);
  }

  // shutdown({ timeout }): drains what it can, cancels the rest at the timeout.
  {
    const pool = new WorkPool({ workers: 1 });
    const quick = rejection(pool.submit(() => sleep(5).then(() => 'quick')));
    const slow = rejection(pool.submit(() => sleep(10_000).then(() => 'slow')));
    const report = await pool.shutdown({ timeout: 50 });
    check(report.timedOut === true && report.completed === 1 && report.cancelled === 1, 'shutdown({ timeout }) completes one job and cancels the other');
    check((await quick).value === 'quick' && (await slow).error instanceof AbortError, 'the drained job resolves; the cancelled one rejects with an AbortError');
    check(balanced(report.metrics), 'the report\'s metrics balance');
  }

  // trySubmit: refused at once when full, and counted.
  {
    const pool = new WorkPool({ workers: 1, queue: 1 });
    const running = rejection(pool.trySubmit(hang));
    await sleep(5); // the worker takes it
    const queued = rejection(pool.trySubmit(hang));
    const full = await settled(() => pool.trySubmit(() => 1));
    check(!full.threw && full.error instanceof QueueFullError && pool.metrics().rejected === 1, 'trySubmit on a full queue rejects its promise at once (no throw), and the refusal is counted');
    await pool.abort();
    check((await running).error instanceof AbortError && (await queued).error instanceof AbortError, 'abort() rejects the running and the queued job');
    const closed = await settled(() => pool.trySubmit(() => 1));
    check(!closed.threw && closed.error instanceof PoolClosedError, 'trySubmit on a closed pool rejects its promise with a PoolClosedError (no throw)');
  }

  // submit on a full queue waits for room, in order; a signal cancels a waiting submission.
  {
    const pool = new WorkPool({ workers: 1, queue: 1 });
    const order = [];
    const jobs = [1, 2, 3, 4].map((i) => pool.submit(() => sleep(2).then(() => order.push(i))));
    const c = new AbortController();
    const waiting = rejection(pool.submit(() => order.push('never'), { signal: c.signal }));
    c.abort('changed my mind');
    const outcome = await waiting;
    check(outcome.error === 'changed my mind' && order.length === 0, `a submission waiting for room rejects at once with signal.reason (after ${order.length} jobs)`);
    await Promise.all(jobs);
    await sleep(5);
    check(order.join() === '1,2,3,4', `waiting submissions run in order (got ${order.join()})`);
    const m = (await pool.shutdown()).metrics;
    check(m.submitted === 4 && m.cancelled === 0 && m.rejected === 0 && balanced(m), `the waiting one left the line: never accepted, so neither submitted nor cancelled, and nothing was refused (submitted ${m.submitted}, cancelled ${m.cancelled}, rejected ${m.rejected})`);
  }

  // A shutdown while submissions wait for room: they are refused, the others cancelled.
  {
    const pool = new WorkPool({ workers: 1, queue: 1 });
    const running = rejection(pool.submit(hang));
    const queued = rejection(pool.submit(hang));
    const waiting = rejection(pool.submit(() => 'never'));
    await sleep(5);
    const report = await pool.shutdown({ timeout: 10 });
    const m = report.metrics;
    check((await waiting).error instanceof PoolClosedError && (await running).error instanceof AbortError && (await queued).error instanceof AbortError, 'a shutdown refuses the waiting submission (PoolClosedError) and cancels the rest');
    check(m.submitted === 2 && m.rejected === 1 && m.cancelled === 2 && balanced(m), `counted: 2 submitted and cancelled, 1 refused (got ${m.submitted}, ${m.rejected}, ${m.cancelled})`);
  }

  // A throwing listener is counted and logged; the pool goes on.
  {
    let calls = 0;
    const pool = new WorkPool({ workers: 1, retries: 1, backoff: { kind: 'none' }, onEvent: () => { calls++; throw new Error('a bug in the listener'); } });
    const log = console.error;
    let logged = 0;
    console.error = () => { logged++; };
    let values;
    try {
      values = await Promise.all([0, 1, 2].map(() => pool.submit(flaky(1))));
    } finally {
      console.error = log;
    }
    const m = pool.metrics();
    check(values.every((v) => v === 'ok@2') && calls === 18 && logged === 18 && m.listenerErrors === 18, `six events a job, each thrown from, logged and counted (calls ${calls}, logged ${logged}, counted ${m.listenerErrors})`);
    await pool.shutdown();
  }

  // pool.shutdown() or pool.abort() from inside a job.
  {
    let pool = new WorkPool({ workers: 1 });
    const own = await pool.submit(async () => (await pool.shutdown()).metrics.succeeded);
    check(own === 0 && (await pool.shutdown()).metrics.workers === 0, 'pool.shutdown() called as a job starts does not wait for that job');
    pool = new WorkPool({ workers: 2 });
    const other = rejection(pool.submit(hang));
    const aborter = rejection(pool.submit(async () => { await sleep(1); await pool.abort(); return 'after'; }));
    check((await aborter).error instanceof AbortError && (await other).error instanceof AbortError, 'abort() from inside a job cancels it and the others');
    check((await pool.shutdown()).metrics.cancelled === 2, 'both counted as cancelled');
  }

  // Many mixed jobs: every promise settles, every timed-out attempt is aborted, metrics balance.
  {
    const pool = new WorkPool({ workers: 8, queue: 16, timeout: 30, retries: 1, backoff: { kind: 'none' } });
    let aborted = 0;
    const kinds = [
      (i) => () => i,
      () => () => { throw 'no'; },
      (i) => () => sleep(1).then(() => i),
      () => (ctx) => { ctx.signal.addEventListener('abort', () => aborted++); return hang(ctx); },
    ];
    const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => rejection(pool.submit(kinds[i % 4](i)))));
    const ok = outcomes.filter((o) => 'value' in o).length;
    const m = pool.metrics();
    check(ok === 100 && m.submitted === 200 && balanced(m) && m.queued === 0 && m.running === 0, `200 mixed jobs: 100 resolve, 100 reject, metrics balance (got ${ok})`);
    await sleep(1);
    check(aborted === 100, `every timed-out attempt's signal fired (got ${aborted})`);
    await pool.shutdown();
  }

  // Bad input: every option with its invalid values throws the documented error, naming the
  // field, and touches nothing.
  {
    const cases = [
      [5, 'TypeError', 'options must be an object'], [[], 'TypeError', 'options must be an object'],
      [{ workers: 0 }, 'RangeError', 'workers'], [{ workers: 4097 }, 'RangeError', 'workers'],
      [{ workers: 1.5 }, 'RangeError', 'workers'], [{ workers: '4' }, 'TypeError', 'workers'],
      [{ workers: null }, 'TypeError', 'workers'], [{ queue: 0 }, 'RangeError', 'queue'],
      [{ queue: -1 }, 'RangeError', 'queue'], [{ queue: 1e12 }, 'RangeError', 'queue'],
      [{ timeout: -1 }, 'RangeError', 'timeout'], [{ timeout: 1e300 }, 'RangeError', 'timeout'],
      [{ timeout: NaN }, 'RangeError', 'timeout'], [{ timeout: '1s' }, 'TypeError', 'timeout'],
      [{ retries: -1 }, 'RangeError', 'retries'], [{ retries: 2 ** 32 }, 'RangeError', 'retries'],
      [{ retries: true }, 'TypeError', 'retries'], [{ backoff: 'linear' }, 'TypeError', 'backoff'],
      [{ backoff: {} }, 'TypeError', 'backoff.kind'],
      [{ backoff: { kind: 'fibonacci', delay: 1 } }, 'RangeError', 'backoff.kind'],
      [{ backoff: { kind: 'linear' } }, 'TypeError', 'backoff.delay'],
      [{ backoff: { kind: 'linear', delay: -5 } }, 'RangeError', 'backoff.delay'],
      [{ backoff: { kind: 'exponential', delay: 1, factor: 1.5 } }, 'RangeError', 'backoff.factor'],
      [{ backoff: { kind: 'constant', delay: 1, max: -1 } }, 'RangeError', 'backoff.max'],
      [{ backoff: { kind: 'constant', delay: 1, jitter: 1 } }, 'TypeError', 'backoff.jitter'],
      [{ backoff: { kind: 'none', delay: 1, dealy: 2 } }, 'TypeError', 'dealy'],
      [{ onEvent: 1 }, 'TypeError', 'onEvent'], [{ worker: 1 }, 'TypeError', 'worker'],
      [{ concurrency: 0 }, 'RangeError', 'concurrency'], [{ concurrency: 4097 }, 'RangeError', 'concurrency'],
      [{ workers: 2, concurrency: 3 }, 'RangeError', 'concurrency'], [{ concurrency: 1.5 }, 'RangeError', 'concurrency'],
      [{ concurrency: '2' }, 'TypeError', 'concurrency'], [{ perKey: 0 }, 'RangeError', 'perKey'],
      [{ perKey: 2.5 }, 'RangeError', 'perKey'], [{ perKey: 2 ** 32 }, 'RangeError', 'perKey'], [{ perKey: '2' }, 'TypeError', 'perKey'],
      [{ intervalCap: 2 }, 'TypeError', 'interval'], [{ interval: 100 }, 'TypeError', 'intervalCap'],
      [{ intervalCap: 0, interval: 10 }, 'RangeError', 'intervalCap'], [{ intervalCap: 1.5, interval: 10 }, 'RangeError', 'intervalCap'],
      [{ intervalCap: Infinity, interval: 10 }, 'RangeError', 'intervalCap'], [{ intervalCap: 1, interval: 0 }, 'RangeError', 'interval'],
      [{ intervalCap: 1, interval: -1 }, 'RangeError', 'interval'], [{ intervalCap: 1, interval: NaN }, 'RangeError', 'interval'],
      [{ intervalCap: 1, interval: '1s' }, 'TypeError', 'interval'],
    ];
    const wrong = [];
    for (const [options, name, field] of cases) {
      let e;
      try { new WorkPool(options); } catch (err) { e = err; }
      if (!(e instanceof globalThis[name]) || !e.message.includes(field)) wrong.push(`${JSON.stringify(options)}: ${e}`);
    }
    check(wrong.length === 0, `each bad pool option is a TypeError or RangeError naming its field (${wrong.join('; ')})`);
    const pool = new WorkPool();
    const notFn = (await rejection(pool.submit(42))).error;
    check(notFn instanceof TypeError && notFn.message === 'job must be a function, got number', 'submit(42): "job must be a function, got number"');
    const jobCases = [[{ timeout: -1 }, RangeError, 'timeout'], [{ timeout: 'soon' }, TypeError, 'timeout'], [{ retries: 0.5 }, RangeError, 'retries'], [{ signal: {} }, TypeError, 'signal'], [{ priorty: 1 }, TypeError, 'priorty'],
      [{ priority: 1.5 }, RangeError, 'priority'], [{ priority: 2 ** 31 }, RangeError, 'priority'], [{ priority: -(2 ** 31) - 1 }, RangeError, 'priority'],
      [{ priority: '1' }, TypeError, 'priority'], [{ priority: NaN }, RangeError, 'priority'], [{ key: 1.5 }, RangeError, 'key'],
      [{ key: 2 ** 53 }, RangeError, 'key'], [{ key: NaN }, RangeError, 'key'], [{ key: {} }, TypeError, 'key'], [{ key: null }, TypeError, 'key'],
      [{ key: true }, TypeError, 'key'], [{ id: 3 }, TypeError, 'id'], [{ id: null }, TypeError, 'id']];
    const badJobs = [];
    for (const [options, C, field] of jobCases) {
      const e = (await rejection(pool.submit(() => 1, options))).error;
      if (!(e instanceof C) || !e.message.includes(field)) badJobs.push(`${JSON.stringify(options)}: ${e}`);
    }
    check(badJobs.length === 0, `each bad job option rejects with a TypeError or RangeError naming its field (${badJobs.join('; ')})`);
    let e1, e2;
    e1 = (await rejection(pool.trySubmit(null))).error; // rejects, as submit(null) does
    try { pool.onEvent(3); } catch (e) { e2 = e; }
    const e3 = (await rejection(pool.shutdown({ timeout: -3 }))).error;
    check(e1 instanceof TypeError && e2 instanceof TypeError && /listener/.test(e2.message) && e3 instanceof RangeError, 'trySubmit(null), onEvent(3) and shutdown({ timeout: -3 }) are refused');
    check(pool.metrics().submitted === 0 && (await pool.submit(() => 7)) === 7, 'none of it touched the pool, which still works');
    await pool.shutdown();
  }

  // trySubmit rejects its promise for a full queue, a closed pool or an already-fired signal;
  // only bad arguments throw at once (a TypeError or RangeError, as fetch throws).
  {
    const pool = new WorkPool({ workers: 1, queue: 1 });
    const running = rejection(pool.trySubmit(hang));
    await sleep(5);
    const queued = rejection(pool.trySubmit(hang));
    const full = await settled(() => pool.trySubmit(() => 1));
    const caught = await settled(() => pool.trySubmit(() => 1).catch((e) => e));
    check(!full.threw && full.error instanceof QueueFullError && caught.value instanceof QueueFullError, 'trySubmit(f).catch(…) sees a full queue');
    const gone = await settled(() => pool.trySubmit(() => 1, { signal: AbortSignal.abort('gone') }));
    check(!gone.threw && gone.error === 'gone', 'trySubmit with a fired signal rejects with its reason');
    const notFn = await settled(() => pool.trySubmit(42));
    const badOption = await settled(() => pool.trySubmit(() => 1, { timeout: -1 }));
    const unknown = await settled(() => pool.trySubmit(() => 1, { priorty: 1 }));
    check(!notFn.threw && notFn.error instanceof TypeError && !badOption.threw && badOption.error instanceof RangeError && !unknown.threw && unknown.error instanceof TypeError, 'trySubmit rejects (never throws) for a bad argument: not a function (TypeError), a bad option (RangeError, TypeError)');
    await pool.abort();
    await running; await queued;
    const closed = await settled(() => pool.trySubmit(() => 1));
    check(!closed.threw && closed.error instanceof PoolClosedError, 'trySubmit on a shut-down pool rejects with a PoolClosedError');
    const m = pool.metrics();
    check(m.rejected === 3 && balanced(m), `the refusals of a full and of a closed pool are counted (rejected ${m.rejected})`);
  }

  // A dropped attempt that settles late completes nothing: not the attempt that took its token.
  // (The token kept 12 generation bits: after exactly 4,095 or 8,191 jobs, B took A's.)
  for (const between of [0, 4095, 4096, 8191]) {
    const pool = new WorkPool({ workers: 1 });
    let resolveA, resolveB, startedB;
    const a = await rejection(pool.submit(() => new Promise((r) => { resolveA = r; }), { timeout: 5 }));
    const plain = [];
    for (let i = 0; i < between; i++) plain.push(pool.submit(() => i));
    await Promise.all(plain);
    const bStarted = new Promise((r) => { startedB = r; });
    const b = rejection(pool.submit(() => { startedB(); return new Promise((r) => { resolveB = r; }); }));
    await bStarted;
    resolveA('A');
    await sleep(2);
    resolveB('B');
    const got = await b;
    check(a.error instanceof TimeoutError && got.value === 'B', `after ${between} jobs, a timed-out attempt that resolves late does not complete the next one (B got ${JSON.stringify(got.value ?? String(got.error))})`);
    const m = (await pool.shutdown()).metrics;
    check(m.succeeded === between + 1 && m.failed === 1 && balanced(m), `… and the metrics say so (succeeded ${m.succeeded})`);
  }

  // addEventListener's bookkeeping is EventTarget's: once no listener is left, events stop
  // crossing (seen here as dispatchEvent calls), and a removal of what is not there removes
  // nothing.
  {
    const pool = new WorkPool({ workers: 1 });
    let dispatched = 0;
    pool.dispatchEvent = function (e) { dispatched++; return EventTarget.prototype.dispatchEvent.call(this, e); };
    const crossed = async () => { dispatched = 0; await pool.submit(() => 1); return dispatched; };
    let calls = 0;
    const L = () => { calls++; };
    pool.addEventListener('succeeded', L, { once: true });
    await pool.submit(() => 1);
    const afterOnce = await crossed();
    check(calls === 1 && afterOnce === 0, `a { once: true } listener, once called, is gone: no events cross (${afterOnce} dispatched)`);
    const c = new AbortController();
    pool.addEventListener('succeeded', L, { signal: c.signal });
    c.abort();
    const afterSignal = await crossed();
    check(afterSignal === 0 && calls === 1, `a listener removed by its signal is gone: no events cross (${afterSignal} dispatched)`);
    pool.addEventListener('succeeded', L);
    pool.addEventListener('succeeded', L);
    pool.addEventListener('succeeded', L, false);
    pool.removeEventListener('succeeded', L);
    const afterTwice = await crossed();
    check(afterTwice === 0 && calls === 1, `the same listener added twice is one listener: one removal removes it (${afterTwice} dispatched)`);
    pool.addEventListener('succeeded', L, { signal: AbortSignal.abort() });
    const afterAborted = await crossed();
    check(afterAborted === 0 && calls === 1, `a listener added with a fired signal is not added (${afterAborted} dispatched)`);
    const seen = [];
    const M = (e) => seen.push(e.type);
    const H = { handleEvent(e) { seen.push(`handleEvent:${e.type}`); } };
    pool.addEventListener('succeeded', M);
    pool.addEventListener('queued', H, { once: true });
    pool.removeEventListener('succeeded', L); // never added (any more)
    pool.removeEventListener('queued', M); // another type
    pool.removeEventListener('succeeded', M, { capture: true }); // another capture
    pool.removeEventListener('succeeded', M, true);
    await pool.submit(() => 1);
    await pool.submit(() => 1);
    check(seen.join() === 'handleEvent:queued,succeeded,succeeded', `a removal of what is not there removes nothing; handleEvent objects and once work (${seen.join()})`);
    pool.removeEventListener('succeeded', M);
    const afterAll = await crossed();
    check(afterAll === 0, `once every listener is removed, no events cross (${afterAll} dispatched)`);
    const d = new AbortController();
    pool.addEventListener('succeeded', L, { signal: d.signal });
    pool.removeEventListener('succeeded', L);
    pool.addEventListener('succeeded', L); // a new registration: the old signal is not its own
    d.abort();
    await pool.submit(() => 1);
    check(calls === 2, `a signal removes only the registration it came with (called ${calls - 1} time(s))`);
    await pool.shutdown();
  }

  // A job that calls ctx.shutdown() without awaiting it, and returns: a shutdown from outside,
  // started before or after that call, still waits for the job that runs next on that worker.
  for (const outsideFirst of [false, true]) {
    const pool = new WorkPool({ workers: 2 });
    let releaseC, releaseB, openA;
    const gate = new Promise((r) => { openA = r; });
    const c = pool.submit(() => new Promise((r) => { releaseC = r; }));
    const a = pool.submit(async (ctx) => { await gate; ctx.shutdown(); return 'a'; });
    const b = pool.submit(() => new Promise((r) => { releaseB = r; }));
    await sleep(5); // C on one worker, A on the other; B queued
    let outsideDone = false;
    let outside;
    const shutdownFromOutside = () => { outside = pool.shutdown().then((r) => { outsideDone = true; return r; }); };
    if (outsideFirst) shutdownFromOutside();
    openA();
    await sleep(5); // A called ctx.shutdown() and returned; its worker took B
    if (!outsideFirst) shutdownFromOutside();
    releaseC('c');
    await sleep(30);
    const early = outsideDone;
    releaseB('b');
    const report = await outside;
    check(!early && (await a) === 'a' && (await b) === 'b' && (await c) === 'c' && report.metrics.workers === 0 && report.metrics.succeeded === 3, `after a job's unawaited ctx.shutdown(), pool.shutdown() (called ${outsideFirst ? 'before' : 'after'} it) waits for the job running on that job's worker (resolved early: ${early})`);
  }

  // `await using pool = new WorkPool()`: [Symbol.asyncDispose]() shuts it down gracefully; a
  // pool that has ended still answers as a closed pool does.
  {
    const dispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');
    const pool = new WorkPool({ workers: 1, queue: 4 });
    check(typeof pool[dispose] === 'function', 'WorkPool has [Symbol.asyncDispose]()');
    const job = pool.submit(() => sleep(5).then(() => 'done'));
    const queued = pool.submit(() => 'queued');
    const disposed = typeof pool[dispose] === 'function' ? await pool[dispose]() : 'missing';
    check(disposed === undefined && pool.closed && (await job) === 'done' && (await queued) === 'queued', 'asyncDispose drains the pool (every job done) and resolves with nothing');
    const m0 = pool.metrics();
    const refused = await rejection(pool.submit(() => 1));
    const tried = await settled(() => pool.trySubmit(() => 1));
    const badShutdown = await rejection(pool.shutdown({ timeout: -3 }));
    const again = await pool.shutdown();
    const aborted = await pool.abort();
    const badJob = await rejection(pool.submit(() => 1, { timeout: 'soon' }));
    const badTry = await settled(() => pool.trySubmit(() => 1, { retries: -1 }));
    const fired = await rejection(pool.submit(() => 1, { signal: AbortSignal.abort('late') }));
    const m = pool.metrics();
    check(refused.error instanceof PoolClosedError && !tried.threw && tried.error instanceof PoolClosedError && m.rejected === m0.rejected + 2, 'after the end: submit and trySubmit reject with PoolClosedError, counted');
    check(badShutdown.error instanceof RangeError && again.completed === 0 && again.cancelled === 0 && !again.timedOut && aborted.cancelled === 0 && again.metrics.succeeded === 2, 'after the end: shutdown() and abort() report nothing more done; bad options are still refused');
    check(badJob.error instanceof TypeError && !badTry.threw && badTry.error instanceof RangeError && fired.error === 'late', 'after the end: bad job options still reject as before, and a fired signal rejects with its reason');
    check(pool.size === 0 && pool.pending === 0 && pool.workers === 1 && pool.queue === 4 && m.workers === 0 && balanced(m), 'after the end: size, pending, workers, queue and the metrics still answer');
    pool.addEventListener('succeeded', () => {});
    pool.onEvent(() => {});
    const off = pool.on('queued', () => {});
    off();
    await pool.onIdle();
    check(true, 'after the end: listeners can still be added and removed, onIdle() resolves');
  }

  // Fuzzing: random options and random job behaviours. Every constructor builds a pool or throws
  // a TypeError or RangeError; every submission settles; the metrics balance; nothing traps.
  {
    const rng = (seed) => {
      let a = seed >>> 0; // mulberry32, so a failing case replays from its seed
      return () => { a = (a + 0x6D2B79F5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
    };
    const pick = (r, xs) => xs[Math.floor(r() * xs.length)];
    const KEYS = ['workers', 'queue', 'timeout', 'retries', 'backoff', 'onEvent', 'signal', 'kind', 'delay', 'max', 'factor', 'jitter', 'bogus',
      'concurrency', 'perKey', 'intervalCap', 'interval', 'priority', 'key', 'id'];
    const value = (r, depth) => pick(r, [
      () => undefined, () => null, () => NaN, () => Infinity, () => -Infinity, () => -1, () => 0, () => 1,
      () => 0.5, () => 2 ** 31, () => 2 ** 53, () => 1e300, () => Math.floor(r() * 100), () => '',
      () => '5', () => 'linear', () => true, () => false, () => [], () => [1, 2], () => () => {},
      () => Symbol('s'), () => 10n, () => (depth < 2 ? options(r, depth + 1) : {}),
      () => AbortSignal.abort('fuzzed'), () => new AbortController().signal,
    ])();
    const options = (r, depth = 0) => {
      if (r() < 0.1) return value(r, depth + 1);
      const o = {};
      for (let i = Math.floor(r() * 4); i > 0; i--) {
        const key = pick(r, KEYS);
        o[key] = key === 'backoff' && r() < 0.5
          ? { kind: pick(r, ['none', 'constant', 'linear', 'exponential', 'x', 3]), delay: value(r, 2), jitter: value(r, 2) }
          : value(r, depth + 1);
      }
      return o;
    };
    const randomJob = (r) => {
      const k = Math.floor(r() * 9);
      return ({ signal, attempt }) => {
        switch (k) {
          case 0: return Promise.resolve(attempt);
          case 1: return Promise.reject(new Error('rejected'));
          case 2: throw new TypeError('thrown');
          case 3: return 42;
          case 4: return undefined;
          case 5: return { then(ok) { ok('thenable'); } };
          case 6: return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
          case 7: return new Promise((ok) => setTimeout(ok, 2, 'slow'));
          default: throw null;
        }
      };
    };
    const watchdog = (p, ms) => Promise.race([p.then(() => 'settled', () => 'settled'), sleep(ms).then(() => 'HANG')]);
    let built = 0, refused = 0, submitted = 0;
    const wrong = [];
    for (let seed = 0; seed < 300; seed++) {
      const r = rng(seed);
      let pool;
      try {
        pool = new WorkPool(options(r));
        built++;
      } catch (e) {
        if (!(e instanceof TypeError || e instanceof RangeError)) wrong.push(`seed ${seed}: ${e}`);
        refused++;
        pool = new WorkPool({ workers: 2, timeout: 20, retries: 1 });
      }
      const pending = [];
      for (let i = 0; i < 8; i++) {
        const job = r() < 0.1 ? options(r) : randomJob(r);
        // Jobs that wait for their signal hang by design without a timeout: most get one.
        const opts = r() < 0.5 ? options(r) : { timeout: 30 };
        let p;
        // Refused at once (a bad argument throws; a full queue rejects): the waiting path too.
        try { p = pool.trySubmit(job, opts).catch((e) => (e instanceof QueueFullError ? pool.submit(job, opts) : Promise.reject(e))); } catch { p = pool.submit(job, opts); }
        submitted++;
        pending.push(watchdog(p, 2000));
      }
      await sleep(20);
      const report = await pool.abort(); // ends what waits for its signal with no timeout
      if ((await Promise.all(pending)).includes('HANG')) wrong.push(`seed ${seed}: a submission never settled`);
      if (!balanced(report.metrics)) wrong.push(`seed ${seed}: metrics ${JSON.stringify(report.metrics)}`);
    }
    check(wrong.length === 0 && built > 20 && refused > 100, `fuzz: ${built + refused} option objects (${built} valid, ${refused} refused), ${submitted} submissions (${wrong.slice(0, 3).join('; ')})`);
  }

  // Pools are collected: once shut down, and when never used and no longer referenced; a pool
  // with a job in flight is kept until the job settles. Where gc() is exposed (node
  // --expose-gc, Chromium's --js-flags=--expose-gc).
  if (typeof globalThis.gc === 'function') {
    const { memory } = await init();
    const heapUsed = globalThis.process?.memoryUsage
      ? () => globalThis.process.memoryUsage().heapUsed
      : () => performance.memory.usedJSHeapSize;
    const collect = async () => { for (let i = 0; i < 4; i++) { globalThis.gc(); await sleep(0); } };
    const lifetime = async (refs) => {
      const pool = new WorkPool({ workers: 2 });
      if (refs !== undefined) refs.push(new WeakRef(pool));
      await Promise.all([pool.submit(() => 1), pool.submit(async () => 2), pool.trySubmit(() => sleep(0))]);
      await pool.shutdown();
    };
    for (let i = 0; i < 500; i++) await lifetime(); // warm-up
    await collect();
    const heap0 = heapUsed();
    const wasm0 = memory.buffer.byteLength;
    const N = 8000;
    const refs = [];
    for (let i = 0; i < N; i++) await lifetime(i % 80 === 0 ? refs : undefined);
    await collect();
    const heapPer = (heapUsed() - heap0) / N;
    const wasmPer = (memory.buffer.byteLength - wasm0) / N;
    const kept = refs.filter((r) => r.deref() !== undefined).length;
    notes.push(`memory: ${N} pools made, given 3 jobs and shut down: ${heapPer.toFixed(1)} B of JS heap and ${wasmPer.toFixed(1)} B of wasm memory each; ${kept} of ${refs.length} kept`);
    check(heapPer < 200 && wasmPer < 64, `${N} pools made, given 3 jobs and shut down leave < 200 B of JS heap and < 64 B of wasm memory each (got ${heapPer.toFixed(0)} B and ${wasmPer.toFixed(0)} B)`);
    check(kept === 0, `shut-down pools are collected (${kept} of ${refs.length} kept)`);

    const idle = [];
    const wasm1 = memory.buffer.byteLength;
    const unused = (i) => {
      const pool = new WorkPool({ workers: 2 });
      if (i % 10 === 0) idle.push(new WeakRef(pool));
    };
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 100; i++) unused(i);
      await collect();
    }
    const idleKept = idle.filter((r) => r.deref() !== undefined).length;
    const idleWasm = (memory.buffer.byteLength - wasm1) / 2000;
    notes.push(`memory: 2000 pools never used: ${idleWasm.toFixed(1)} B of wasm memory each; ${idleKept} of ${idle.length} kept`);
    check(idleKept === 0 && idleWasm < 64, `pools never used and no longer referenced are collected, and their wasm memory freed (${idleKept} of ${idle.length} kept, ${idleWasm.toFixed(0)} B of wasm memory each)`);

    // Ended by abort() or by a shutdown's timeout, with jobs hanging: collected as well.
    const ended = [];
    const ending = async (i) => {
      const pool = new WorkPool({ workers: 1 });
      ended.push(new WeakRef(pool));
      const jobs = [rejection(pool.submit(hang)), rejection(pool.submit(hang))];
      await sleep(0);
      await (i % 2 ? pool.abort() : pool.shutdown({ timeout: 1 }));
      return Promise.all(jobs);
    };
    for (let i = 0; i < 40; i++) await ending(i);
    await collect();
    const endedKept = ended.filter((r) => r.deref() !== undefined).length;
    check(endedKept === 0, `pools ended by abort() or shutdown({ timeout }) are collected (${endedKept} of ${ended.length} kept)`);

    // Shut down by one of their own jobs (ctx.shutdown()): freed once that job ends, without
    // waiting for gc().
    const wasm2 = memory.buffer.byteLength;
    const own = async () => {
      const pool = new WorkPool({ workers: 2 });
      await pool.submit(async (ctx) => { await ctx.shutdown(); return 1; });
      await sleep(0);
    };
    for (let i = 0; i < 1000; i++) await own();
    const ownWasm = (memory.buffer.byteLength - wasm2) / 1000;
    notes.push(`memory: 1000 pools shut down by their own job, before gc(): ${ownWasm.toFixed(1)} B of wasm memory each`);
    check(ownWasm < 64, `pools shut down by their own job free their wasm memory once it ends (${ownWasm.toFixed(0)} B each)`);

    const lasting = new AbortController(); // outlives the pools its signal was given to
    const withSignal = [];
    // Made in a function: a suspended async function may keep its locals' last values.
    const listened = (options) => {
      const pool = new WorkPool({ workers: 1 });
      pool.addEventListener('succeeded', () => {}, options);
      withSignal.push(new WeakRef(pool));
    };
    listened({ signal: lasting.signal });
    listened({ signal: lasting.signal, once: true });
    await collect();
    const signalKept = withSignal.filter((r) => r.deref() !== undefined).length;
    check(signalKept === 0, `a listener's signal that outlives its pool does not keep it (${signalKept} of 2 kept)`);

    let release;
    let seen = 0;
    const inFlight = [];
    const result = (() => {
      const pool = new WorkPool({ workers: 1 });
      inFlight.push(new WeakRef(pool));
      pool.on('succeeded', () => seen++);
      return pool.submit(() => new Promise((r) => { release = r; }));
    })();
    await sleep(5);
    await collect();
    const keptInFlight = inFlight[0].deref() !== undefined;
    release('late');
    const value = await result;
    await collect();
    check(keptInFlight && value === 'late' && seen === 1 && inFlight[0].deref() === undefined, `a pool no one refers to is kept while a job is in flight, its listeners called, then collected (kept: ${keptInFlight}, value ${value}, listener calls ${seen})`);
  } else {
    notes.push('memory checks skipped: gc() is not exposed (node --expose-gc, or --js-flags=--expose-gc)');
  }

  // The policies across attempts (issue 19): policies.mjs.
  await runPolicies(wc, check, notes);

  return { passed, failures, notes };
}
