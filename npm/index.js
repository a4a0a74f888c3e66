// workcrew for JavaScript: the pool's core is Rust compiled to WebAssembly (`workcrew_core.js`,
// made by wasm-bindgen); this file is the JavaScript API. `WorkPool` is an `EventTarget` with
// p-queue's `size`, `pending`, `onIdle()` and `onEmpty()`, and the pool's failures are instances
// of the classes exported here.
//
// The split (see src/web/host.rs): Rust keeps the queue, the workers, timeouts, retries, backoff
// and the metrics, and checks the options; this file keeps each job's function, value or error,
// promise and attempt signals, and the listeners. Only numbers cross between the two.
import initCore, { PoolCore, eventTypes } from './workcrew_core.js';

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
/**
 * Loads the WebAssembly module, once: from `workcrew_core_bg.wasm` next to this file, or from
 * `input` (a URL, a `Response`, bytes or a `WebAssembly.Module`). Resolves with the module's
 * `memory`, for those who measure it.
 */
export default function init(input) {
  ready ??= initCore(input === undefined ? undefined : { module_or_path: input }).then((wasm) => {
    loaded = true;
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
function contextClass(core) {
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
      return core.shutdown(options, this.job);
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
    this.slots = new Array(1024).fill(undefined);
    this.mask = 1023;
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
    this.caller = null; // the caller's signal: { signal, reason, onAbort }
  }
}

// Why the caller's signal cancelled the job: its reason, or `undefined` if it has not fired.
const callerReason = (rec) => (rec.caller === null ? undefined : rec.caller.reason);


/**
 * The JavaScript side of a pool (`Host` in src/web/host.rs): the jobs' records, by id, and the
 * calls the core makes.
 */
class Host {
  constructor(dispatch) {
    this.core = null;
    this.Context = null;
    this.dispatch = dispatch;
    this.listening = false; // whether `dispatch` wants every event
    this.types = eventTypes(); // an event's name by its code
    this.jobs = new JobTable();
    this.waiting = new Map(); // waiter -> record: submissions waiting for room in the queue
    this.nextWaiter = 0;
    this.listenerErrors = 0; // calls of `onEvent` or `on()` listeners that threw
  }

  attach(core) {
    this.core = core;
    this.Context = contextClass(core);
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
      rec.reject(new PoolClosedError('the pool is shut down'));
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
      core.attemptDone(token, false);
      return;
    }
    if (promise === null) {
      rec.value = v;
      core.attemptDone(token, true);
      return;
    }
    // A late settlement of an attempt that was dropped changes nothing.
    promise.then(
      (x) => { if (rec.attempt === attempt) { rec.value = x; core.attemptDone(token, true); } },
      (e) => { if (rec.attempt === attempt) { rec.error = e; core.attemptDone(token, false); } },
    );
  }

  // The core dropped the attempt; why (a timeout, the caller's signal, or an abort) is known by
  // the end of this task, so its signal fires in a microtask.
  dropped(job, attempt) {
    const rec = this.jobs.get(job);
    if (rec === undefined || rec.attempt !== attempt) return;
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
    if (code >= 5) this.settle(job, code, n);
    else if (code === 3) this.timedOut(job);
    if (!this.listening) return;
    const type = this.types[code];
    let e;
    if (code === 0) e = { type, job };
    else if (code >= 5) e = { type, job, attempts: n };
    else if (code === 4) e = { type, job, attempt: n, delay };
    else if (code === 2) e = { type, job, attempt: n, error: this.jobs.get(job)?.error };
    else e = { type, job, attempt: n };
    this.dispatch(e, code);
  }

  timedOut(job) {
    const rec = this.jobs.get(job);
    if (rec === undefined) return;
    rec.timedOut = true;
    if (rec.dropping !== null) rec.dropping.timedOut = true;
  }

  // 5 succeeded, 6 failed, 7 cancelled.
  settle(job, code, attempts) {
    const rec = this.jobs.get(job);
    if (rec === undefined) return;
    this.jobs.delete(job);
    this.unwatch(rec);
    if (code === 5) rec.resolve(rec.value);
    else if (code === 7) {
      const reason = callerReason(rec);
      rec.reject(reason !== undefined
        ? reason // the caller's signal, as fetch rejects
        : new AbortError(`job cancelled after ${attempts} attempts`, attempts));
    } else if (rec.timedOut) rec.reject(new TimeoutError(`job timed out after ${attempts} attempts`, attempts));
    else rec.reject(rec.error);
  }
}

/** A worker pool: a fixed crew of workers pulling jobs from a bounded queue. */
export class WorkPool extends EventTarget {
  #core;
  #host;
  #onEvent;
  #listeners = 0;
  #on = []; // by event code: the listeners added with on(), copied on write
  #onCount = 0;
  #idle = [];
  #empty = [];

  constructor(options) {
    super();
    if (!loaded) throw new Error('call init() (the default export) and await it first');
    this.#host = new Host(this.#dispatch);
    this.#core = new PoolCore(options, this.#host); // checks every option, `onEvent` included
    this.#host.attach(this.#core);
    this.#onEvent = options?.onEvent;
    this.#listen();
  }

  /** Runs `job`, waiting for room in the queue; resolves with its value. */
  submit(job, options) {
    if (typeof job !== 'function') return Promise.reject(notAFunction('job', job));
    const host = this.#host;
    let id;
    if (options === undefined) id = this.#core.push(host.nextWaiter);
    else {
      try {
        id = this.#core.pushWith(options, host.nextWaiter); // checks the options
      } catch (e) {
        return Promise.reject(e); // bad options, or the signal's reason
      }
    }
    if (id === CLOSED) return Promise.reject(new PoolClosedError('the pool is shut down'));
    return host.track(id, job, options?.signal); // an id, or FULL: it waits for room
  }

  /** Like `submit`, but throws a `QueueFullError` or `PoolClosedError` at once. */
  trySubmit(job, options) {
    if (typeof job !== 'function') throw notAFunction('job', job);
    // pushWith throws for bad options, or the signal's reason.
    const id = options === undefined ? this.#core.push(-1) : this.#core.pushWith(options, -1);
    if (id >= 0) return this.#host.track(id, job, options?.signal);
    throw id === FULL ? new QueueFullError('the queue is full') : new PoolClosedError('the pool is shut down');
  }

  /** Counters and gauges. */
  metrics() {
    return this.#withListenerErrors(this.#core.metrics());
  }

  /** Stops accepting jobs and drains; with `{ timeout }` (ms), cancels what is left then. */
  shutdown(options) {
    return this.#core.shutdown(options, -1).then(this.#report);
  }

  /** Cancels queued jobs and aborts running attempts. */
  abort() {
    return this.#core.abort().then(this.#report);
  }

  // The core counts jobs and attempts; listeners are JavaScript's, and counted here.
  #withListenerErrors(m) {
    m.listenerErrors = this.#host.listenerErrors;
    return m;
  }

  #report = (r) => {
    this.#withListenerErrors(r.metrics);
    return r;
  };

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
    const code = this.#host.types.indexOf(type);
    if (code < 0) throw new RangeError(`type must be one of ${this.#host.types.join(', ')}, got "${type}"`);
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
    return this.#core.size;
  }

  /** Jobs running now. */
  get pending() {
    return this.#core.pending;
  }

  get workers() {
    return this.#core.workers;
  }

  get queue() {
    return this.#core.queue;
  }

  get closed() {
    return this.#core.closed;
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
    super.addEventListener(type, listener, options);
    if (listener) this.#listeners++;
    this.#listen();
  }

  removeEventListener(type, listener, options) {
    super.removeEventListener(type, listener, options);
    if (listener && this.#listeners > 0) this.#listeners--;
    this.#listen();
  }

  // Events cross from wasm only while someone listens.
  #listen() {
    const wanted = Boolean(this.#onEvent || this.#listeners > 0 || this.#onCount > 0 || this.#idle.length || this.#empty.length);
    this.#host.listening = wanted;
    this.#core.listen(wanted);
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
