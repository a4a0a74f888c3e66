// workcrew for JavaScript: the pool's core is Rust compiled to WebAssembly (`workcrew_core.js`,
// made by wasm-bindgen); this file is the JavaScript API. `WorkPool` is an `EventTarget` with
// p-queue's `size`, `pending`, `onIdle()` and `onEmpty()`, and the pool's failures are instances
// of the classes exported here.
//
// The split (see src/web/host.rs): Rust keeps the queue, the workers, timeouts, retries, backoff
// and the metrics, and checks the options; this file keeps each job's function, value or error,
// promise and attempt signals, and the listeners. Only numbers cross between the two.
//
// A pool's lifetime: the core holds the host (below) in wasm-bindgen's table, a GC root, and the
// host refers to the user's `WorkPool` only while a submission is in flight (`Host.owner`), as
// timers keep p-queue's queues alive. An idle pool no one refers to is collected, and a
// `FinalizationRegistry` frees its core; a pool whose shutdown or abort has settled frees its core
// at once (`Host.finish`) and answers from what it kept.
import initCore, { PoolCore, eventTypes, checkJobOptions, checkShutdownOptions } from './workcrew_core.js';

/** A failure of the pool's making (a job's own errors come back as they were thrown). */
export class WorkPoolError extends Error {
  constructor(message, attempts) {
    super(message);
    if (attempts !== undefined) this.attempts = attempts;
  }
}
/** Every attempt of the job timed out. */
export class TimeoutError extends WorkPoolError {}
/** The job was cancelled: by `abort()`, or when a shutdown's `timeout` passed. */
export class AbortError extends WorkPoolError {}
/** `trySubmit` found the queue full. */
export class QueueFullError extends WorkPoolError {}
/** The pool is shut down. */
export class PoolClosedError extends WorkPoolError {}
for (const C of [WorkPoolError, TimeoutError, AbortError, QueueFullError, PoolClosedError]) {
  Object.defineProperty(C.prototype, 'name', { value: C.name, writable: true, configurable: true });
}
const CLASSES = { TimeoutError, AbortError, QueueFullError, PoolClosedError };
const makeError = (name, message, attempts) =>
  new (CLASSES[name] ?? WorkPoolError)(message, attempts);

let ready;
let loaded = false;
let TYPES; // the events' names by code, read from the core once
/**
 * Loads the WebAssembly module, once: from `workcrew_core_bg.wasm` next to this file, or from
 * `input` (a URL, a `Response`, bytes or a `WebAssembly.Module`). Resolves with the module's
 * `memory`, for those who measure it.
 */
export default function init(input) {
  ready ??= initCore(input === undefined ? undefined : { module_or_path: input }).then((wasm) => {
    loaded = true;
    TYPES = eventTypes();
    return { memory: wasm.memory };
  });
  return ready;
}

/** One of the pool's events, as `addEventListener` receives it. */
export class JobEvent extends Event {
  constructor(data) {
    super(data.type);
    this.job = data.job;
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

const CONTROLLER = Symbol('workcrew.controller');
const REASON = Symbol('workcrew.reason');

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
const closedError = () => new PoolClosedError('the pool is shut down');

/** What the host keeps of a submission until it settles. */
class Submission {
  constructor(fn, resolve, reject) {
    this.id = FULL; // until admitted (JobTable.set)
    this.fn = fn;
    this.resolve = resolve;
    this.reject = reject;
    this.attempt = 0; // the latest attempt's number, its context, its value or error
    this.ctx = null;
    this.value = undefined;
    this.error = undefined;
    this.timedOut = false;
    this.dropping = null; // the latest dropped attempt, until its signal fires
    this.live = null; // the context of the attempt whose promise the core awaits, or null
    this.caller = null; // the caller's signal: { signal, reason, onAbort }
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
    this.jobs = new JobTable();
    this.waiting = new Map(); // waiter -> record: submissions waiting for room in the queue
    this.nextWaiter = 0;
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
  track(id, fn, signal) {
    let rec;
    const promise = new Promise((resolve, reject) => { rec = new Submission(fn, resolve, reject); });
    if (id === FULL) this.waiting.set(this.nextWaiter++, rec);
    else this.jobs.set(id, rec);
    if (signal !== undefined && signal !== null) this.watch(rec, signal);
    return promise;
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
        else rec.reject(caller.reason); // still waiting for room: it is cancelled once admitted
      },
    };
    rec.caller = caller;
    signal.addEventListener('abort', caller.onAbort, { once: true });
  }

  admitted(waiter, id) {
    const rec = this.waiting.get(waiter);
    this.waiting.delete(waiter);
    if (id === CLOSED) {
      this.unwatch(rec);
      rec.reject(closedError());
      this.release();
      return;
    }
    this.jobs.set(id, rec);
    if (callerReason(rec) !== undefined) this.core.cancel(id);
  }

  unwatch(rec) {
    if (rec.caller !== null) rec.caller.signal.removeEventListener('abort', rec.caller.onAbort);
  }

  startAttempt(job, attempt, token) {
    const rec = this.jobs.get(job);
    const ctx = new this.Context(attempt, job);
    rec.attempt = attempt;
    rec.ctx = ctx;
    rec.timedOut = false;
    rec.dropping = null;
    const core = this.core;
    let v;
    let promise = null;
    try {
      v = rec.fn(ctx);
      // Inside the try: a hostile `then` getter throws here, and must not throw into the core.
      if (isThenable(v)) promise = Promise.resolve(v);
    } catch (e) {
      rec.error = e;
      core.attemptDone(token, job, attempt, false);
      return;
    }
    if (promise === null) {
      rec.value = v;
      core.attemptDone(token, job, attempt, true);
      return;
    }
    // Only while this attempt is the live one: a late settlement of an attempt that was dropped
    // changes nothing (and the core, told which attempt, ignores a stale call too).
    rec.live = ctx;
    promise.then(
      (x) => { if (rec.live === ctx) { rec.live = null; rec.value = x; core.attemptDone(token, job, attempt, true); } },
      (e) => { if (rec.live === ctx) { rec.live = null; rec.error = e; core.attemptDone(token, job, attempt, false); } },
    );
  }

  // The core dropped the attempt; why (a timeout, the caller's signal, or an abort) is known by
  // the end of this task, so its signal fires in a microtask.
  dropped(job, attempt) {
    const rec = this.jobs.get(job);
    if (rec === undefined || rec.attempt !== attempt) return;
    rec.live = null;
    const d = { ctx: rec.ctx, timedOut: false };
    rec.dropping = d;
    queueMicrotask(() => abortContext(d.ctx, d.timedOut
      ? new DOMException('the attempt timed out', 'TimeoutError')
      : callerReason(rec) ?? new DOMException('the job was cancelled', 'AbortError')));
  }

  // An event in numbers (`event_parts` in src/web/mod.rs): the core sends every event while
  // someone listens, else only a timeout and a job's end. It must not throw into the core:
  // the listeners' errors are caught where they are called (`WorkPool.#call`).
  event(code, job, n, delay) {
    let ended = false;
    if (code >= 5) ended = this.settle(job, code, n);
    else if (code === 3) this.timedOut(job);
    const dispatch = this.owner; // null when nothing is in flight: no one to tell
    if (this.listening && dispatch !== null) {
      const type = TYPES[code];
      let e;
      if (code === 0) e = { type, job };
      else if (code >= 5) e = { type, job, attempts: n };
      else if (code === 4) e = { type, job, attempt: n, delay };
      else if (code === 2) e = { type, job, attempt: n, error: this.jobs.get(job)?.error };
      else e = { type, job, attempt: n };
      dispatch(e, code);
    }
    if (ended) this.release(); // after the listeners, which need the pool
  }

  timedOut(job) {
    const rec = this.jobs.get(job);
    if (rec === undefined) return;
    rec.timedOut = true;
    if (rec.dropping !== null) rec.dropping.timedOut = true;
  }

  // 5 succeeded, 6 failed, 7 cancelled. Returns whether it was a job of this host's.
  settle(job, code, attempts) {
    const rec = this.jobs.get(job);
    if (rec === undefined) return false;
    this.jobs.delete(job);
    this.unwatch(rec);
    rec.live = null;
    if (code === 5) rec.resolve(rec.value);
    else if (code === 7) {
      const reason = callerReason(rec);
      rec.reject(reason !== undefined
        ? reason // the caller's signal, as fetch rejects
        : new AbortError(`job cancelled after ${attempts} attempts`, attempts));
    } else if (rec.timedOut) rec.reject(new TimeoutError(`job timed out after ${attempts} attempts`, attempts));
    else rec.reject(rec.error);
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
    this.final = { metrics: m, workers: core.workers, queue: core.queue };
    FINALIZER.unregister(this);
    this.free();
  }

  // Frees the core (idle, or ended): its workers stop, and its memory is released.
  free() {
    const core = this.core;
    if (core === null) return;
    this.final ??= { metrics: core.metrics(), workers: core.workers, queue: core.queue };
    this.core = null;
    this.jobs = null;
    this.waiting = null;
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

/** A worker pool: a fixed crew of workers pulling jobs from a bounded queue. */
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

  constructor(options) {
    super();
    if (!loaded) throw new Error('call init() (the default export) and await it first');
    const host = new Host();
    host.core = new PoolCore(options, host); // checks every option, `onEvent` included
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
      id = options === undefined ? core.push(waiter) : core.pushWith(options, waiter); // checks the options
    } catch (e) {
      host.release();
      return Promise.reject(e); // bad options
    }
    if (id >= 0 || (wait && id === FULL)) return host.track(id, job, options?.signal);
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
    const wanted = Boolean(this.#onEvent || this.#listeners > 0 || this.#onCount > 0 || this.#idle.length || this.#empty.length);
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

  // After the jobs' own promises have settled: a macrotask later.
  #wake(waiters) {
    const woken = waiters.splice(0);
    this.#listen();
    setTimeout(() => woken.forEach((resolve) => resolve()), 0);
  }
}
