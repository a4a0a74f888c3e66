// workcrew for JavaScript: the pool's core is Rust compiled to WebAssembly (`workcrew_core.js`,
// made by wasm-bindgen); this file is the JavaScript API. `WorkPool` is an `EventTarget` with
// p-queue's `size`, `pending`, `onIdle()` and `onEmpty()`, and the pool's failures are instances
// of the classes exported here.
//
// The split (see src/web/host.rs): Rust keeps the queue (the scheduler: priorities, per-key
// limits, pause, the concurrency limit, the rate limit), the workers, timeouts, retries, backoff
// and the metrics, and checks the options; this file keeps each job's function, value or error,
// promise and attempt signals, the jobs' `id`s (for `setPriority`) and the listeners. Only
// numbers cross between the two.
//
// A pool's lifetime: the core holds the host (below) in wasm-bindgen's table, a GC root, and the
// host refers to the user's `WorkPool` only while a submission is in flight (`Host.owner`), as
// timers keep p-queue's queues alive. An idle pool no one refers to is collected, and a
// `FinalizationRegistry` frees its core; a pool whose shutdown or abort has settled frees its core
// at once (`Host.finish`) and answers from what it kept.
import initCore, { PoolCore, eventTypes, checkJobOptions, checkShutdownOptions, checkRateLimit } from './workcrew_core.js';

/** A failure of the pool's making (a job's own errors come back as they were thrown). */
export class WorkPoolError extends Error {
  constructor(message, attempts) {
    super(message);
    if (attempts !== undefined) this.attempts = attempts;
  }
}
/** Every attempt of the job timed out. */
export class TimeoutError extends WorkPoolError {}
/** The job was cancelled: by `abort()`, `clear()`, or when a shutdown's `timeout` passed. */
export class AbortError extends WorkPoolError {}
/** `trySubmit` found the queue full. */
export class QueueFullError extends WorkPoolError {}
/** The pool is shut down. */
export class PoolClosedError extends WorkPoolError {}
/**
 * The job's total `deadline` passed: its running attempts were dropped (their signals abort,
 * with this error as `signal.reason`), or its backoff cut short.
 */
export class DeadlineExceededError extends WorkPoolError {}
/** An open circuit breaker refused the job's next attempt (`attempts`: those made before). */
export class CircuitOpenError extends WorkPoolError {}
for (const C of [WorkPoolError, TimeoutError, AbortError, QueueFullError, PoolClosedError,
  DeadlineExceededError, CircuitOpenError]) {
  Object.defineProperty(C.prototype, 'name', { value: C.name, writable: true, configurable: true });
}
const CLASSES = { TimeoutError, AbortError, QueueFullError, PoolClosedError, DeadlineExceededError, CircuitOpenError };
const makeError = (name, message, attempts) =>
  new (CLASSES[name] ?? WorkPoolError)(message, attempts);

let ready;
let loaded = false;
let TYPES; // the events' names by code, read from the core once
// The codes the host tells apart, by name (`EVENT_TYPES` in src/web/mod.rs). Codes from
// SUCCEEDED to CANCELLED end a job.
let QUEUED, WAITING_ON_KEY, ATTEMPT_FAILED, TIMED_OUT, RETRY, SUCCEEDED, CANCELLED, DEADLINE;
/**
 * Loads the WebAssembly module, once: from `workcrew_core_bg.wasm` next to this file, or from
 * `input` (a URL, a `Response`, bytes or a `WebAssembly.Module`). Resolves with the module's
 * `memory`, for those who measure it.
 */
export default function init(input) {
  ready ??= initCore(input === undefined ? undefined : { module_or_path: input }).then((wasm) => {
    loaded = true;
    TYPES = eventTypes();
    const code = (name) => TYPES.indexOf(name);
    [QUEUED, WAITING_ON_KEY, ATTEMPT_FAILED, TIMED_OUT, RETRY, SUCCEEDED, CANCELLED, DEADLINE] = ['queued',
      'waitingOnKey', 'attemptFailed', 'attemptTimedOut', 'retryScheduled', 'succeeded', 'cancelled',
      'deadlineExceeded'].map(code);
    return { memory: wasm.memory };
  });
  return ready;
}

/** One of the pool's events, as `addEventListener` receives it. */
export class JobEvent extends Event {
  constructor(data) {
    super(data.type);
    if (data.job !== undefined) this.job = data.job; // a circuit breaker's events have none
    if ('key' in data) this.key = data.key; // the breaker's key (null: the pool's breaker)
    if (data.attempt !== undefined) this.attempt = data.attempt;
    if (data.attempts !== undefined) this.attempts = data.attempts;
    if (data.delay !== undefined) this.delay = data.delay;
    if ('error' in data) this.error = data.error;
  }
}

const isThenable = (v) =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';

// `typeof`, with null and arrays told apart: how messages name what they got, as the core's do.
const kind = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const notAFunction = (name, v) => new TypeError(`${name} must be a function, got ${kind(v)}`);

// An integer in min..=max, or the error the core's checks make for it (src/web/options.rs).
const integerError = (name, v, min, max) => {
  if (typeof v !== 'number') return new TypeError(`${name} must be a number, got ${kind(v)}`);
  if (Number.isNaN(v)) return new RangeError(`${name} must be a number, got NaN`);
  if (!Number.isInteger(v) || v < min || v > max) {
    return new RangeError(`${name} must be an integer from ${min} to ${max}, got ${v}`);
  }
  return null;
};
// Options with no field but an int32 `priority` and a `key`: `pushLean`'s, which the core takes
// without walking the object (what `pushWith` does, field by field, across the boundary).
const isLean = (options) => {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return false;
  for (const k of Object.keys(options)) if (k !== 'priority' && k !== 'key') return false;
  const p = options.priority;
  return p === undefined || (p | 0) === p;
};
const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

const CONTROLLER = Symbol('workcrew.controller');
const REASON = Symbol('workcrew.reason');
// An attempt's own state, on its context: RUNNING while the core awaits its promise, then OK
// or ERROR (its OUTCOME: the value, or the error), or DROPPED; TIMED_OUT_AT: it timed out.
const STATE = Symbol('workcrew.state');
const OUTCOME = Symbol('workcrew.outcome');
const TIMED = Symbol('workcrew.timedOut');
const RUNNING = 0;
const OK = 1;
const ERROR = 2;
const DROPPED = 3;
// A job's end, as the core says `how` (src/web/host.rs): the deadline passed, or a circuit
// breaker refused it; else the number of the attempt it ends with (0: its latest).
const HOW_DEADLINE = -1;
const HOW_CIRCUIT = -2;

/**
 * The class of a pool's job contexts (`{ signal, attempt, job, shutdown }`): `shutdown`, and a
 * `signal` getter that makes the attempt's `AbortController` only when a job reads it, so a job
 * that never looks at its signal costs no controller.
 */
function contextClass(host) {
  return class JobContext {
    constructor(attempt, job) {
      this.attempt = attempt;
      this.job = job;
      this[STATE] = RUNNING;
      this[OUTCOME] = undefined;
      this[TIMED] = false;
    }

    get signal() {
      let c = this[CONTROLLER];
      if (c === undefined) {
        c = this[CONTROLLER] = new AbortController();
        if (REASON in this) c.abort(this[REASON]); // read after the attempt ended
      }
      return c.signal;
    }

    /** Shuts the job's own pool down without waiting for the job itself. */
    shutdown(options) {
      return host.shutdown(options, this.job);
    }
  };
}

/** Fires a context's signal with `reason`: at once if the job has read it, else when it does. */
function abortContext(ctx, reason) {
  if (ctx[CONTROLLER] !== undefined) ctx[CONTROLLER].abort(reason);
  else ctx[REASON] = reason;
}

/**
 * The fast path's jobs by id. Ids count up, so a power-of-two table indexed by the id's low bits
 * finds them without hashing; it doubles (up to 2^17 slots) when two live jobs would share a
 * slot, and beyond that a `Map` takes the rest.
 */
class JobTable {
  constructor() {
    this.slots = new Array(64).fill(undefined); // small, for pools made per request
    this.mask = 63;
    this.overflow = new Map();
  }

  set(id, rec) {
    rec.id = id;
    for (;;) {
      const i = id & this.mask; // the id's low bits (ids stay below 2^53)
      if (this.slots[i] === undefined) {
        this.slots[i] = rec;
        return;
      }
      if (this.slots.length >= 1 << 17) {
        this.overflow.set(id, rec);
        return;
      }
      this.grow();
    }
  }

  get(id) {
    const r = this.slots[id & this.mask];
    if (r !== undefined && r.id === id) return r;
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  delete(id) {
    const i = id & this.mask;
    const r = this.slots[i];
    if (r !== undefined && r.id === id) this.slots[i] = undefined;
    else this.overflow.delete(id);
  }

  // Entries apart in the low k bits stay apart in the low k + 1 bits: no collisions on the way.
  grow() {
    const old = this.slots;
    this.slots = new Array(old.length * 2).fill(undefined);
    this.mask = this.slots.length - 1;
    for (const r of old) if (r !== undefined) this.slots[r.id & this.mask] = r;
  }
}

// `push`'s answers besides a job's id (src/web/mod.rs).
const FULL = -1;
const CLOSED = -2;
const ABORTED = -3; // `pushWith`'s: the submission's signal had fired (its reason: `takeReason`)
const WITHDRAWN = -4; // `admitted`'s: a waiting submission whose signal fired left the line
const closedError = () => new PoolClosedError('the pool is shut down');

/** What the host keeps of a submission until it settles. */
class Submission {
  constructor(fn, resolve, reject) {
    this.id = FULL; // until admitted (JobTable.set)
    this.fn = fn;
    this.resolve = resolve;
    this.reject = reject;
    this.attempt = 0; // the latest attempt's number and its context (its state and outcome)
    this.ctx = null;
    this.round = null; // with hedged attempts: the contexts of the round's attempts, else null
    this.shouldRetry = undefined; // the `shouldRetry` option
    this.thrown = null; // { error }: what `shouldRetry` threw, which the job rejects with
    this.end = -1; // once settled: its end's code (and `endError`, for the deadline's)
    this.endError = undefined;
    this.caller = null; // the caller's signal: { signal, reason, onAbort }
    this.uid = undefined; // the caller's `id` option (for `setPriority`)
    this.priority = 0; // its priority now, and when it was submitted (with an `id` only)
    this.submitted = 0;
  }
}

// Why the caller's signal cancelled the job: its reason, or `undefined` if it has not fired.
const callerReason = (rec) => (rec.caller === null ? undefined : rec.caller.reason);


// Frees the core of a pool that was collected (idle, since a pool in flight is held: `Host.owner`).
const FINALIZER = typeof FinalizationRegistry === 'undefined'
  ? { register() {}, unregister() {} }
  : new FinalizationRegistry((host) => host.free());

/**
 * The JavaScript side of a pool (`Host` in src/web/host.rs): the jobs' records, by id, and the
 * calls the core makes. The core holds it for as long as the core lives; it holds the user's
 * `WorkPool` only while a submission is in flight.
 */
class Host {
  constructor() {
    this.core = null; // null once freed: then `final` answers
    this.final = null; // { metrics, workers, queue }: what a freed core last said
    this.Context = contextClass(this);
    this.owner = null; // the WorkPool's dispatch (and so the pool), while `busy` > 0
    this.busy = 0; // submissions not yet settled (admitted, or waiting for room)
    this.ended = false; // a shutdown or abort has settled: free the core once nothing is left
    this.listening = false; // whether the WorkPool wants every event
    this.dispatchRef = null; // a WeakRef to the WorkPool's dispatch, for a breaker's events
    this.jobs = new JobTable();
    this.waiting = new Map(); // waiter -> record: submissions waiting for room in the queue
    this.nextWaiter = 0;
    this.ids = new Map(); // the caller's id -> its submissions not yet settled, in order
    this.clearing = false; // inside `clear()`: the cancelled jobs were cleared
    this.listenerErrors = 0; // calls of `onEvent` or `on()` listeners that threw
  }

  // A submission is on its way: the pool stays alive until it settles (`release`).
  hold(dispatch) {
    if (this.busy++ === 0) this.owner = dispatch;
  }

  release() {
    if (--this.busy === 0) {
      this.owner = null;
      // A shutdown settled while this was in flight (a job's own `ctx.shutdown`, or a submission
      // refused once the pool closed): the worker stops at the end of the current task.
      if (this.ended) queueMicrotask(() => this.finish());
    }
  }

  // A submission: its record, kept until the job settles, and its promise. `id` is FULL for a
  // submission that waits for room: the core calls `admitted(waiter, id)` once there is some.
  // `options` were checked by the core.
  track(id, fn, options) {
    let rec;
    const promise = new Promise((resolve, reject) => { rec = new Submission(fn, resolve, reject); });
    if (id === FULL) {
      rec.waiter = this.nextWaiter++;
      this.waiting.set(rec.waiter, rec);
    }
    else this.jobs.set(id, rec);
    if (options !== undefined && options !== null) {
      const { signal, id: uid, shouldRetry } = options;
      if (shouldRetry !== undefined) rec.shouldRetry = shouldRetry; // checked by the core
      if (uid !== undefined) {
        rec.uid = uid;
        rec.priority = rec.submitted = options.priority ?? 0;
        const same = this.ids.get(uid);
        if (same === undefined) this.ids.set(uid, [rec]);
        else same.push(rec);
      }
      if (signal !== undefined && signal !== null) this.watch(rec, signal);
    }
    return promise;
  }

  // The record has settled: its `id` no longer names it.
  forget(rec) {
    if (rec.uid === undefined) return;
    const same = this.ids.get(rec.uid);
    const at = same.indexOf(rec);
    if (at >= 0) same.splice(at, 1);
    if (same.length === 0) this.ids.delete(rec.uid);
    rec.uid = undefined;
  }

  // `setPriority(id, priority)`, checked: every submission with this id not yet started.
  setPriority(uid, priority) {
    const same = this.ids.get(uid);
    if (same === undefined) return 0;
    let changed = 0;
    for (const rec of same.slice()) {
      if (rec.attempt !== 0) continue; // started: nothing to change
      // Still waiting for room (it takes the priority once admitted), unchanged (it keeps its
      // place, as in p-queue), or moved to the back of its new priority's line.
      if (rec.id < 0 || rec.priority === priority || this.core.setPriority(rec.id, priority)) {
        rec.priority = priority;
        changed++;
      }
    }
    return changed;
  }

  // The caller's signal (checked by the core) cancels the job.
  watch(rec, signal) {
    // `reason`: the signal's, once it fired (never `undefined` then).
    const caller = {
      signal,
      reason: undefined,
      onAbort: () => {
        caller.reason = signal.reason;
        if (rec.id >= 0) this.core.cancel(rec.id); // it settles as cancelled, with this reason
        else {
          // Still waiting for room: it leaves the line now (its turn passes to the next).
          rec.reject(caller.reason);
          this.core.withdraw(rec.waiter);
        }
      },
    };
    rec.caller = caller;
    signal.addEventListener('abort', caller.onAbort, { once: true });
  }

  admitted(waiter, id) {
    const rec = this.waiting.get(waiter);
    this.waiting.delete(waiter);
    if (id === WITHDRAWN) {
      this.unwatch(rec);
      this.forget(rec);
      this.release();
      return;
    }
    if (id === CLOSED) {
      this.unwatch(rec);
      this.forget(rec);
      rec.reject(closedError());
      this.release();
      return;
    }
    this.jobs.set(id, rec);
    if (callerReason(rec) !== undefined) this.core.cancel(id);
    else if (rec.priority !== rec.submitted) this.core.setPriority(id, rec.priority); // changed while it waited
  }

  unwatch(rec) {
    if (rec.caller !== null) rec.caller.signal.removeEventListener('abort', rec.caller.onAbort);
  }

  // `hedge`: the attempt runs beside the round's earlier ones, which go on.
  startAttempt(job, attempt, token, hedge) {
    const rec = this.jobs.get(job);
    const ctx = new this.Context(attempt, job);
    if (hedge) (rec.round ??= [rec.ctx]).push(ctx);
    else rec.round = null;
    rec.attempt = attempt;
    rec.ctx = ctx;
    const core = this.core;
    let v;
    let promise = null;
    try {
      v = rec.fn(ctx);
      // Inside the try: a hostile `then` getter throws here, and must not throw into the core.
      if (isThenable(v)) promise = Promise.resolve(v);
    } catch (e) {
      ctx[STATE] = ERROR;
      ctx[OUTCOME] = e;
      core.attemptDone(token, job, attempt, false);
      return;
    }
    if (promise === null) {
      ctx[STATE] = OK;
      ctx[OUTCOME] = v;
      core.attemptDone(token, job, attempt, true);
      return;
    }
    // Only while this attempt is running: a late settlement of an attempt that was dropped
    // changes nothing (and the core, told which attempt, ignores a stale call too).
    promise.then(
      (x) => { if (ctx[STATE] === RUNNING) { ctx[STATE] = OK; ctx[OUTCOME] = x; core.attemptDone(token, job, attempt, true); } },
      (e) => { if (ctx[STATE] === RUNNING) { ctx[STATE] = ERROR; ctx[OUTCOME] = e; core.attemptDone(token, job, attempt, false); } },
    );
  }

  // The context of attempt `attempt` of `rec`, if it is the latest or one of its round's.
  static context(rec, attempt) {
    const ctx = rec.ctx;
    if (ctx !== null && ctx.attempt === attempt) return ctx;
    return rec.round === null ? undefined : rec.round.find((c) => c.attempt === attempt);
  }

  // The core dropped the attempt; why (a timeout, the caller's signal, an abort, the deadline,
  // another attempt's success) is known by the end of this task, so its signal fires in a
  // microtask.
  dropped(job, attempt) {
    const rec = this.jobs.get(job);
    const ctx = rec === undefined ? undefined : Host.context(rec, attempt);
    if (ctx === undefined) return;
    if (ctx[STATE] === RUNNING) ctx[STATE] = DROPPED;
    queueMicrotask(() => abortContext(ctx, Host.dropReason(rec, ctx)));
  }

  static dropReason(rec, ctx) {
    if (ctx[TIMED]) return new DOMException('the attempt timed out', 'TimeoutError');
    if (rec.end === DEADLINE) return rec.endError;
    if (rec.end === SUCCEEDED) return new DOMException('another attempt of the job succeeded', 'AbortError');
    const reason = callerReason(rec);
    if (reason !== undefined) return reason;
    if (rec.end !== CANCELLED && rec.end >= 0) return new DOMException('the job failed: another attempt ended it', 'AbortError');
    return new DOMException('the job was cancelled', 'AbortError');
  }

  // The pool's retry predicate, for a job with `shouldRetry`: attempt `attempt` failed (it
  // threw or rejected, or it timed out). Never throws into the core: a `shouldRetry` that throws
  // (or returns a promise) ends the job, which rejects with that error.
  shouldRetry(job, attempt, timedOut) {
    try {
      const rec = this.jobs.get(job);
      if (rec === undefined || rec.shouldRetry === undefined) return true;
      const ctx = Host.context(rec, attempt);
      const failure = timedOut
        ? { kind: 'timeout', error: new DOMException('the attempt timed out', 'TimeoutError'), attempt }
        : { kind: 'error', error: ctx?.[OUTCOME], attempt };
      let verdict;
      try {
        verdict = rec.shouldRetry(failure);
        if (isThenable(verdict)) {
          rec.thrown = { error: new TypeError('shouldRetry must return a boolean, not a promise') };
          return false;
        }
      } catch (e) {
        rec.thrown = { error: e };
        return false;
      }
      return Boolean(verdict);
    } catch {
      return false;
    }
  }

  // An event in numbers (`event_parts` in src/web/mod.rs): the core sends every event while
  // someone listens, else only a timeout and a job's end (with `how` it ended: `delay`'s place).
  // It must not throw into the core: the listeners' errors are caught where they are called
  // (`WorkPool.#call`).
  event(code, job, n, delay) {
    let ended = false;
    const ends = code >= SUCCEEDED && code <= CANCELLED;
    if (ends) ended = this.settle(job, code, n, delay);
    else if (code === TIMED_OUT) this.timedOut(job, n);
    const dispatch = this.owner; // null when nothing is in flight: no one to tell
    if (this.listening && dispatch !== null) {
      const type = TYPES[code];
      let e;
      if (code === QUEUED || code === WAITING_ON_KEY) e = { type, job };
      else if (ends || code === DEADLINE) e = { type, job, attempts: n };
      else if (code === RETRY) e = { type, job, attempt: n, delay };
      else if (code === ATTEMPT_FAILED) {
        const rec = this.jobs.get(job);
        e = { type, job, attempt: n, error: rec === undefined ? undefined : Host.context(rec, n)?.[OUTCOME] };
      } else e = { type, job, attempt: n };
      dispatch(e, code);
    }
    if (ended) this.release(); // after the listeners, which need the pool
  }

  // A circuit breaker's event: no job, its `key` (null for the pool's breaker). The breaker's
  // cool-down may end while no job is in flight: the pool is then reached through a WeakRef.
  circuit(code, key) {
    const dispatch = this.owner ?? this.dispatchRef?.deref() ?? null;
    if (this.listening && dispatch !== null) dispatch({ type: TYPES[code], key }, code);
  }

  timedOut(job, attempt) {
    const rec = this.jobs.get(job);
    const ctx = rec === undefined ? undefined : Host.context(rec, attempt);
    if (ctx !== undefined) ctx[TIMED] = true;
  }

  // SUCCEEDED, failed or CANCELLED; `how`: the attempt it ends with, or HOW_DEADLINE or
  // HOW_CIRCUIT. Returns whether it was a job of this host's.
  settle(job, code, attempts, how) {
    const rec = this.jobs.get(job);
    if (rec === undefined) return false;
    this.jobs.delete(job);
    this.unwatch(rec);
    this.forget(rec);
    // No attempt of it is awaited any more (a late settlement must not reach a freed core). Those
    // still running (a hedged round's others, once one succeeded or the job failed) are dropped
    // by the core after this: their signals fire from here, since the record is gone then.
    let running = null;
    for (const c of rec.round ?? [rec.ctx]) {
      if (c === null || c[STATE] !== RUNNING) continue;
      c[STATE] = DROPPED;
      (running ??= []).push(c);
    }
    if (running !== null) queueMicrotask(() => { for (const c of running) abortContext(c, Host.dropReason(rec, c)); });
    const ctx = (how > 0 ? Host.context(rec, how) : undefined) ?? rec.ctx;
    if (code === SUCCEEDED) {
      rec.end = SUCCEEDED;
      rec.resolve(ctx?.[OUTCOME]);
    } else if (code === CANCELLED) {
      rec.end = CANCELLED;
      const reason = callerReason(rec);
      rec.reject(reason !== undefined
        ? reason // the caller's signal, as fetch rejects
        : this.clearing
          ? new AbortError('job cleared from the queue by clear()', attempts)
          : new AbortError(`job cancelled after ${attempts} attempts`, attempts));
    } else if (how === HOW_DEADLINE) {
      rec.end = DEADLINE;
      rec.endError = new DeadlineExceededError(`job's deadline passed after ${attempts} attempts`, attempts);
      rec.reject(rec.endError);
    } else {
      rec.end = code;
      if (how === HOW_CIRCUIT) rec.reject(new CircuitOpenError(`circuit open: job refused after ${attempts} attempts`, attempts));
      else if (rec.thrown !== null) rec.reject(rec.thrown.error);
      else if (ctx?.[TIMED]) rec.reject(new TimeoutError(`job timed out after ${attempts} attempts`, attempts));
      else rec.reject(ctx?.[OUTCOME]);
    }
    return true;
  }

  metrics() {
    const m = this.core === null ? { ...this.final.metrics } : this.core.metrics();
    m.listenerErrors = this.listenerErrors;
    return m;
  }

  // `fromJob`: the id of the job whose `ctx.shutdown` this is, or -1.
  shutdown(options, fromJob) {
    if (this.core === null) {
      try {
        checkShutdownOptions(options);
      } catch (e) {
        return Promise.reject(e);
      }
      return Promise.resolve(this.endedReport());
    }
    return this.core.shutdown(options, fromJob).then(this.#settled);
  }

  abort() {
    if (this.core === null) return Promise.resolve(this.endedReport());
    return this.core.abort().then(this.#settled);
  }

  #settled = (report) => {
    report.metrics.listenerErrors = this.listenerErrors;
    this.ended = true;
    this.finish();
    return report;
  };

  // What a shutdown of a pool that has ended reports: nothing more done.
  endedReport() {
    return { completed: 0, cancelled: 0, timedOut: false, metrics: this.metrics() };
  }

  // A submission to a pool whose core is freed: what the core would do, a closed pool's refusal,
  // after the same checks of the options (a bad one throws, with `sync`, else rejects).
  refuse(options) {
    let reason;
    try {
      reason = options === undefined ? undefined : checkJobOptions(options);
    } catch (e) {
      return Promise.reject(e);
    }
    if (reason !== undefined) return Promise.reject(reason);
    this.final.metrics.rejected++; // counted, as the core counts a closed pool's refusals
    return Promise.reject(closedError());
  }

  // Once a shutdown or abort has settled and nothing is left: free the core, keeping what its
  // getters and `metrics()` still answer. No call of the core's can come after this.
  finish() {
    const core = this.core;
    if (core === null || this.busy > 0 || !core.closed) return;
    const m = core.metrics();
    if (m.workers > 0 || m.running > 0 || m.queued > 0) return;
    this.final = Host.last(core, m);
    FINALIZER.unregister(this);
    this.free();
  }

  // What a core last said, for its getters once it is freed (the settings still change).
  static last(core, metrics) {
    return {
      metrics, workers: core.workers, queue: core.queue, concurrency: core.concurrency,
      paused: core.isPaused, intervalCap: core.intervalCap, interval: core.interval,
    };
  }

  // Frees the core (idle, or ended): its workers stop, and its memory is released.
  free() {
    const core = this.core;
    if (core === null) return;
    this.final ??= Host.last(core, core.metrics());
    this.core = null;
    this.jobs = null;
    this.waiting = null;
    this.ids = null;
    core.free();
  }
}

// `await using pool = new WorkPool()` shuts the pool down gracefully. Node 20 defines
// `Symbol.asyncDispose` (as `Symbol.for('nodejs.asyncDispose')`); elsewhere it may be missing.
const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');

// `addEventListener`'s options, as EventTarget reads them (a boolean is `capture`).
const captureOf = (options) =>
  (typeof options === 'object' && options !== null ? Boolean(options.capture) : Boolean(options));
const isListener = (l) => typeof l === 'function' || (typeof l === 'object' && l !== null);

/**
 * A worker pool: a fixed crew of workers pulling jobs from a bounded queue, in order of priority,
 * within the pool's limits (concurrency, per key, rate).
 */
export class WorkPool extends EventTarget {
  #host;
  #onEvent;
  // The listeners added with addEventListener, as EventTarget keeps them: one per (type,
  // listener, capture), removed by removeEventListener, after a `once` listener's call, or when
  // its `signal` fires. `key(type, capture)` -> Map(listener -> registration).
  #added = new Map();
  #listeners = 0;
  #self = null; // a WeakRef to this pool, for the signals of listeners (they must not keep it)
  #on = []; // by event code: the listeners added with on(), copied on write
  #onCount = 0;
  #idle = [];
  #empty = [];
  #below = []; // onSizeLessThan's waiters: { limit, resolve }

  constructor(options) {
    super();
    if (!loaded) throw new Error('call init() (the default export) and await it first');
    const host = new Host();
    host.core = new PoolCore(options, host); // checks every option, `onEvent` included
    host.dispatchRef = new WeakRef(this.#dispatch); // for a circuit breaker's events
    this.#host = host;
    this.#onEvent = options?.onEvent;
    FINALIZER.register(this, host, host);
    this.#listen();
  }

  /** Runs `job`, waiting for room in the queue; resolves with its value. */
  submit(job, options) {
    return this.#push(job, options, true);
  }

  /**
   * Like `submit`, but a full queue rejects its promise with a `QueueFullError` at once. Like
   * `submit`, it never throws: bad arguments (not a function, a bad option) reject with a
   * TypeError or RangeError naming the field, as `fetch` rejects a bad request.
   */
  trySubmit(job, options) {
    return this.#push(job, options, false);
  }

  // `submit` (`wait`: a full queue keeps the job waiting for room, admitted in order) and
  // `trySubmit` (a full queue refuses it). Every refusal rejects; nothing throws.
  #push(job, options, wait) {
    if (typeof job !== 'function') return Promise.reject(notAFunction('job', job));
    const host = this.#host;
    const core = host.core;
    if (core === null) return host.refuse(options);
    host.hold(this.#dispatch);
    const waiter = wait ? host.nextWaiter : -1;
    let id;
    try {
      id = options === undefined ? core.push(waiter)
        : isLean(options) ? core.pushLean(options.priority ?? 0, options.key, waiter) // checks the key
          : core.pushWith(options, waiter); // checks the options
    } catch (e) {
      host.release();
      return Promise.reject(e); // bad options
    }
    if (id >= 0 || (wait && id === FULL)) return host.track(id, job, options);
    return this.#refused(core, id);
  }

  // A submission the core refused: the pool is closed, the queue full, or the signal had fired.
  #refused(core, id) {
    const error = id === CLOSED ? closedError() : id === FULL ? new QueueFullError('the queue is full') : core.takeReason();
    this.#host.release();
    return Promise.reject(error);
  }

  /** Counters and gauges. */
  metrics() {
    return this.#host.metrics();
  }

  /**
   * Changes the priority of the jobs submitted with this `id` that have not started: each goes
   * to the back of its new priority's line (one whose priority is already `priority` keeps its
   * place), and a submission still waiting for room takes it once queued. Returns how many it
   * changed: 0 once they have all started or ended (p-queue throws a ReferenceError then; a job
   * may start at any moment, so this does not). Throws a TypeError or RangeError naming `id` or
   * `priority` for a bad argument.
   */
  setPriority(id, priority) {
    if (typeof id !== 'string') throw new TypeError(`id must be a string, got ${kind(id)}`);
    const e = integerError('priority', priority, I32_MIN, I32_MAX);
    if (e !== null) throw e;
    const host = this.#host;
    return host.core === null ? 0 : host.setPriority(id, priority);
  }

  /** Stops starting queued jobs; running ones go on, and submissions still queue. */
  pause() {
    const host = this.#host;
    if (host.core === null) host.final.paused = true;
    else host.core.pause();
  }

  /** Starts queued jobs again after `pause()`. Returns the pool, as p-queue's does. */
  start() {
    const host = this.#host;
    if (host.core === null) host.final.paused = false;
    else host.core.resume();
    return this;
  }

  /** Whether the pool is paused. */
  get isPaused() {
    const host = this.#host;
    return host.core === null ? host.final.paused : host.core.isPaused;
  }

  /** How many jobs may run at once, 1 to `workers`. */
  get concurrency() {
    const host = this.#host;
    return host.core === null ? host.final.concurrency : host.core.concurrency;
  }

  set concurrency(n) {
    const host = this.#host;
    const e = integerError('concurrency', n, 1, this.workers); // the core's message for it
    if (e !== null) throw e;
    if (host.core !== null) host.core.setConcurrency(n);
    else host.final.concurrency = n;
  }

  /**
   * Sets, changes or (with `null`) lifts the rate limit: at most `intervalCap` attempt starts in
   * any window of `interval` ms. Throws a TypeError or RangeError naming the field.
   */
  setRateLimit(options) {
    const host = this.#host;
    if (host.core !== null) {
      host.core.setRateLimit(options);
      return;
    }
    const limit = checkRateLimit(options); // throws, as the core's does
    host.final.intervalCap = limit === undefined ? Infinity : limit[0];
    host.final.interval = limit === undefined ? 0 : limit[1];
  }

  /** The rate limit's count of attempt starts per `interval` (`Infinity`: no rate limit). */
  get intervalCap() {
    const host = this.#host;
    return host.core === null ? host.final.intervalCap : host.core.intervalCap;
  }

  /** The rate limit's window in ms (0: no rate limit). */
  get interval() {
    const host = this.#host;
    return host.core === null ? host.final.interval : host.core.interval;
  }

  /** Whether a job (or a retry) that could otherwise start now waits for the rate limit. */
  get isRateLimited() {
    const core = this.#host.core;
    return core !== null && core.isRateLimited;
  }

  /**
   * Cancels every queued job (not the running ones) and returns how many. Each one's promise
   * rejects at once with an AbortError (attempts 0); each is counted in `metrics().cancelled`
   * and emits `cancelled`. Submissions still waiting for room are not queued yet: they take the
   * places freed.
   */
  clear() {
    const host = this.#host;
    if (host.core === null) return 0;
    host.clearing = true;
    try {
      return host.core.clear();
    } finally {
      host.clearing = false;
    }
  }

  /**
   * Resolves once fewer than `limit` jobs are queued (`size < limit`). A `limit` that is not an
   * integer from 1 to 2^53 - 1 rejects with a TypeError or RangeError naming `limit`.
   */
  onSizeLessThan(limit) {
    const e = integerError('limit', limit, 1, Number.MAX_SAFE_INTEGER);
    if (e !== null) return Promise.reject(e);
    // `size` drops only as a job starts or is cancelled, and each emits an event: the waiters
    // are looked at after every event (as onEmpty's are) while any wait.
    if (this.size < limit) return Promise.resolve();
    return new Promise((resolve) => {
      this.#below.push({ limit, resolve });
      this.#listen();
    });
  }

  /** Stops accepting jobs and drains; with `{ timeout }` (ms), cancels what is left then. */
  shutdown(options) {
    return this.#host.shutdown(options, -1);
  }

  /** Cancels queued jobs and aborts running attempts. */
  abort() {
    return this.#host.abort();
  }

  /** `await using pool = new WorkPool()`: a graceful `shutdown()` at the end of the scope. */
  async [asyncDispose]() {
    await this.shutdown();
  }

  /** Replaces the listener of every event (`null` removes it). */
  onEvent(listener) {
    if (listener !== null && listener !== undefined && typeof listener !== 'function') {
      throw notAFunction('listener', listener);
    }
    this.#onEvent = listener ?? undefined;
    this.#listen();
  }

  /**
   * Calls `listener` with each event of `type`, as a plain object (what `onEvent` receives),
   * until the returned function is called. Cheaper than `addEventListener`, which makes an
   * `Event` per event.
   */
  on(type, listener) {
    if (typeof type !== 'string') throw new TypeError(`type must be a string, got ${kind(type)}`);
    const code = TYPES.indexOf(type);
    if (code < 0) throw new RangeError(`type must be one of ${TYPES.join(', ')}, got "${type}"`);
    if (typeof listener !== 'function') throw notAFunction('listener', listener);
    this.#on[code] = [...(this.#on[code] ?? []), listener];
    this.#onCount++;
    this.#listen();
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      const rest = this.#on[code].filter((f, i, all) => f !== listener || all.indexOf(listener) !== i);
      this.#on[code] = rest.length ? rest : undefined;
      this.#onCount--;
      this.#listen();
    };
  }

  /** Jobs waiting in the queue. */
  get size() {
    const core = this.#host.core;
    return core === null ? 0 : core.size;
  }

  /** Jobs running now. */
  get pending() {
    const core = this.#host.core;
    return core === null ? 0 : core.pending;
  }

  get workers() {
    const core = this.#host.core;
    return core === null ? this.#host.final.workers : core.workers;
  }

  get queue() {
    const core = this.#host.core;
    return core === null ? this.#host.final.queue : core.queue;
  }

  get closed() {
    const core = this.#host.core;
    return core === null || core.closed;
  }

  /** Resolves once nothing is queued or running. */
  onIdle() {
    if (this.size === 0 && this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idle.push(resolve);
      this.#listen();
    });
  }

  /** Resolves once nothing is queued (jobs may still be running). */
  onEmpty() {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#empty.push(resolve);
      this.#listen();
    });
  }

  addEventListener(type, listener, options) {
    // Nothing to add (null), or not a listener (EventTarget's own error).
    if (!isListener(listener)) return super.addEventListener(type, listener, options);
    type = `${type}`;
    const capture = captureOf(options);
    let once = false;
    let passive;
    let signal;
    if (typeof options === 'object' && options !== null) {
      once = Boolean(options.once);
      passive = options.passive;
      signal = options.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        throw new TypeError(`options.signal must be an AbortSignal, got ${kind(signal)}`);
      }
      if (signal?.aborted) return;
    }
    const key = capture ? `1${type}` : `0${type}`;
    let byListener = this.#added.get(key);
    if (byListener?.has(listener)) return; // added already: EventTarget keeps the first
    const reg = { key, type, capture, listener, fn: listener, signal: null, onAbort: null };
    // Neither the signal nor a wrapper the signal reaches may keep the pool alive.
    const self = once || signal !== undefined ? (this.#self ??= new WeakRef(this)) : null;
    if (once) {
      // Removed as it is called, so that it is counted out.
      reg.fn = function (event) {
        self.deref()?.#remove(reg);
        return typeof listener === 'function' ? listener.call(this, event) : listener.handleEvent(event);
      };
    }
    super.addEventListener(type, reg.fn, passive === undefined ? { capture } : { capture, passive });
    if (byListener === undefined) this.#added.set(key, (byListener = new Map()));
    byListener.set(listener, reg);
    this.#listeners++;
    if (signal !== undefined) {
      reg.signal = signal;
      reg.onAbort = () => self.deref()?.#remove(reg);
      signal.addEventListener('abort', reg.onAbort, { once: true });
    }
    this.#listen();
  }

  removeEventListener(type, listener, options) {
    if (!isListener(listener)) return super.removeEventListener(type, listener, options);
    type = `${type}`;
    const reg = this.#added.get(captureOf(options) ? `1${type}` : `0${type}`)?.get(listener);
    if (reg !== undefined) this.#remove(reg);
  }

  #remove(reg) {
    const byListener = this.#added.get(reg.key);
    if (byListener?.get(reg.listener) !== reg) return; // removed already
    byListener.delete(reg.listener);
    if (byListener.size === 0) this.#added.delete(reg.key);
    super.removeEventListener(reg.type, reg.fn, { capture: reg.capture });
    if (reg.signal !== null) reg.signal.removeEventListener('abort', reg.onAbort);
    this.#listeners--;
    this.#listen();
  }

  // Events cross from wasm only while someone listens.
  #listen() {
    const wanted = Boolean(this.#onEvent || this.#listeners > 0 || this.#onCount > 0 || this.#idle.length || this.#empty.length || this.#below.length);
    const host = this.#host;
    if (wanted === host.listening) return;
    host.listening = wanted;
    host.core?.listen(wanted);
  }

  #dispatch = (event, code) => {
    if (this.#listeners > 0) this.dispatchEvent(new JobEvent(event));
    const fns = this.#on[code];
    if (fns !== undefined) for (const f of fns) this.#call(f, event);
    if (this.#onEvent) this.#call(this.#onEvent, event);
    if (this.#empty.length && this.size === 0) this.#wake(this.#empty);
    if (this.#below.length) this.#wakeBelow();
    if (this.#idle.length && this.size === 0 && this.pending === 0) this.#wake(this.#idle);
  };

  // A listener that throws is logged and counted (`listenerErrors`); the others still run.
  #call(f, event) {
    try {
      f(event);
    } catch (e) {
      this.#host.listenerErrors++;
      console.error(e);
    }
  }

  // onSizeLessThan's waiters whose limit `size` is now below, at once (no job settles as `size`
  // drops).
  #wakeBelow() {
    const size = this.size;
    const woken = this.#below.filter((w) => size < w.limit);
    if (woken.length === 0) return;
    this.#below = this.#below.filter((w) => size >= w.limit);
    this.#listen();
    for (const w of woken) w.resolve();
  }

  // After the jobs' own promises have settled: a macrotask later.
  #wake(waiters) {
    const woken = waiters.splice(0);
    this.#listen();
    setTimeout(() => woken.forEach((resolve) => resolve()), 0);
  }
}
