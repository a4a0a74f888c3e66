// workcrew for JavaScript: the pool's core is Rust compiled to WebAssembly (`workcrew_core.js`,
// made by wasm-bindgen); this file is the JavaScript face of it. `WorkPool` is an `EventTarget`
// with p-queue's `size`, `pending`, `onIdle()` and `onEmpty()`, and the pool's failures are
// instances of the classes exported here.
import initCore, { PoolCore, abortContext, eventTypes, setErrorFactory } from './workcrew_core.js';

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
/**
 * Loads the WebAssembly module, once: from `workcrew_core_bg.wasm` next to this file, or from
 * `input` (a URL, a `Response`, bytes or a `WebAssembly.Module`). Resolves with the module's
 * `memory`, for those who measure it.
 */
export default function init(input) {
  ready ??= initCore(input === undefined ? undefined : { module_or_path: input }).then((wasm) => {
    setErrorFactory(makeError);
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

/**
 * The JavaScript side of the fast path (`src/web/host.rs`): jobs submitted without options keep
 * their function, value and promise here, and only numbers cross into wasm.
 */
class Host {
  constructor(core, dispatch) {
    this.core = core;
    this.dispatch = dispatch;
    this.types = eventTypes(); // an event's name by its code
    // The core's context prototype: `shutdown`, and the `signal` getter that makes the
    // attempt's AbortController only when read (src/web/job.rs).
    this.proto = core.contextPrototype;
    // job id -> { id, fn, resolve, reject, attempt, ctx, value, error, timedOut, dropping }
    this.jobs = new JobTable();
  }

  track(id, fn) {
    return new Promise((resolve, reject) => {
      this.jobs.set(id, {
        id: 0, fn, resolve, reject, attempt: 0, ctx: null, value: undefined, error: undefined,
        timedOut: false, dropping: null,
      });
    });
  }

  startAttempt(job, attempt, token) {
    const rec = this.jobs.get(job);
    const ctx = Object.create(this.proto);
    ctx.attempt = attempt;
    ctx.job = job;
    rec.attempt = attempt;
    rec.ctx = ctx;
    rec.timedOut = false;
    rec.dropping = null;
    const core = this.core;
    let v;
    try {
      v = rec.fn(ctx);
    } catch (e) {
      rec.error = e;
      core.attemptDone(token, false);
      return;
    }
    if (isThenable(v)) {
      // A late settlement of an attempt that was dropped changes nothing.
      Promise.resolve(v).then(
        (x) => { if (rec.attempt === attempt) { rec.value = x; core.attemptDone(token, true); } },
        (e) => { if (rec.attempt === attempt) { rec.error = e; core.attemptDone(token, false); } },
      );
    } else {
      rec.value = v;
      core.attemptDone(token, true);
    }
  }

  // The core dropped the attempt; why (a timeout, or not) is known right after, so its signal
  // fires in a microtask.
  dropped(job, attempt) {
    const rec = this.jobs.get(job);
    if (rec === undefined || rec.attempt !== attempt) return;
    const d = { ctx: rec.ctx, timedOut: false };
    rec.dropping = d;
    queueMicrotask(() => abortContext(d.ctx, d.timedOut
      ? new DOMException('the attempt timed out', 'TimeoutError')
      : new DOMException('the job was cancelled', 'AbortError')));
  }

  // An event in numbers (`host_event` in src/web/mod.rs), built here only when someone listens.
  event(code, job, n, delay, error) {
    const type = this.types[code];
    let e;
    if (code === 0) e = { type, job };
    else if (code >= 5) e = { type, job, attempts: n };
    else if (code === 4) e = { type, job, attempt: n, delay };
    else if (code === 2) e = { type, job, attempt: n, error: error !== undefined ? error : this.jobs.get(job)?.error };
    else e = { type, job, attempt: n };
    this.dispatch(e);
  }

  timedOut(job) {
    const rec = this.jobs.get(job);
    if (rec === undefined) return;
    rec.timedOut = true;
    if (rec.dropping !== null) rec.dropping.timedOut = true;
  }

  settle(job, outcome, attempts) {
    const rec = this.jobs.get(job);
    if (rec === undefined) return; // a job of the slow path: its promise settles in wasm
    this.jobs.delete(job);
    if (outcome === 0) rec.resolve(rec.value);
    else if (outcome === 2) rec.reject(new AbortError(`job cancelled after ${attempts} attempts`, attempts));
    else if (rec.timedOut) rec.reject(new TimeoutError(`job timed out after ${attempts} attempts`, attempts));
    else rec.reject(rec.error);
  }
}

/** A worker pool: a fixed crew of workers pulling jobs from a bounded queue. */
export class WorkPool extends EventTarget {
  #core;
  #host;
  #onEvent;
  #listeners = 0;
  #idle = [];
  #empty = [];

  constructor(options) {
    super();
    if (ready === undefined) throw new Error('call init() (the default export) and await it first');
    this.#core = new PoolCore(options); // checks every option, `onEvent` included
    this.#core.onEvent(null); // events come through the host
    this.#host = new Host(this.#core, this.#dispatch);
    this.#core.attach(this.#host);
    this.#onEvent = options?.onEvent;
    this.#listen();
  }

  /** Runs `job`, waiting for room in the queue; resolves with its value. */
  submit(job, options) {
    if (options === undefined && typeof job === 'function') {
      const id = this.#core.push();
      if (id >= 0) return this.#host.track(id, job);
    }
    // Options, a full queue, a closed pool or bad input: the general path.
    return this.#core.submit(job, options);
  }

  /** Like `submit`, but throws a `QueueFullError` or `PoolClosedError` at once. */
  trySubmit(job, options) {
    if (options === undefined && typeof job === 'function') {
      const id = this.#core.push();
      if (id >= 0) return this.#host.track(id, job);
    }
    return this.#core.trySubmit(job, options);
  }

  /** Counters and gauges. */
  metrics() {
    return this.#core.metrics();
  }

  /** Stops accepting jobs and drains; with `{ timeout }` (ms), cancels what is left then. */
  shutdown(options) {
    return this.#core.shutdown(options);
  }

  /** Cancels queued jobs and aborts running attempts. */
  abort() {
    return this.#core.abort();
  }

  /** Replaces the listener of every event (`null` removes it). */
  onEvent(listener) {
    this.#core.onEvent(listener); // checks it
    this.#core.onEvent(null); // events come through the host
    this.#onEvent = listener ?? undefined;
    this.#listen();
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
    const wanted = this.#onEvent || this.#listeners > 0 || this.#idle.length || this.#empty.length;
    this.#core.listen(Boolean(wanted));
  }

  #dispatch = (event) => {
    if (this.#listeners > 0) this.dispatchEvent(new JobEvent(event));
    if (this.#empty.length && this.size === 0) this.#wake(this.#empty);
    if (this.#idle.length && this.size === 0 && this.pending === 0) this.#wake(this.#idle);
    // Last, so that a throwing listener is counted by the core (`listenerErrors`).
    if (this.#onEvent) this.#onEvent(event);
  };

  // After the jobs' own promises have settled: a macrotask later.
  #wake(waiters) {
    const woken = waiters.splice(0);
    this.#listen();
    setTimeout(() => woken.forEach((resolve) => resolve()), 0);
  }
}
