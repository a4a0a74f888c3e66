/** How long to wait before each retry. Times in milliseconds. */
export interface BackoffOptions {
  /** "none": no delay; "constant": `delay`; "linear": n × `delay`; "exponential": `delay` × factorⁿ⁻¹. */
  kind: "none" | "constant" | "linear" | "exponential";
  /** Milliseconds; required unless kind is "none". */
  delay?: number;
  /** Cap on every delay, in milliseconds. */
  max?: number;
  /** Growth factor of "exponential" (an integer, default 2). */
  factor?: number;
  /** Draw each delay uniformly between 0 and the scheduled delay ("full jitter"). */
  jitter?: boolean;
}

/** `new WorkPool(options)`. Times in milliseconds. */
export interface WorkPoolOptions {
  /** Jobs run at once, 1 to 4096 (default 4). */
  workers?: number;
  /** Jobs waiting beyond those running, 1 to 2³⁰ (default 1024). */
  queue?: number;
  /** Time limit of each attempt in ms (default: none). */
  timeout?: number;
  /** Retries after a failed attempt: 3 means up to 4 attempts (default 0). */
  retries?: number;
  /** Delay schedule between attempts (default: linear, 100 ms). */
  backoff?: BackoffOptions;
  /** Called with every job event (or use `addEventListener`). */
  onEvent?: (event: JobEventData) => void;
}

/** Per-job overrides, and a signal to cancel the job. */
export interface JobOptions {
  /** Time limit of each attempt in ms; `null` for none. */
  timeout?: number | null;
  /** Retries after a failed attempt. */
  retries?: number;
  /** Delay schedule between attempts. */
  backoff?: BackoffOptions;
  /** Cancels the job when it fires. */
  signal?: AbortSignal;
}

/** What a job function receives for each attempt. */
export interface JobContext {
  /**
   * Fires when this attempt is dropped: its `reason` is a `TimeoutError` DOMException when the
   * attempt timed out, the caller's own reason when the caller's `signal` cancelled the job, and
   * an `AbortError` DOMException otherwise (`abort()`, a shutdown's `timeout`). Pass it to
   * `fetch`. Made only when read.
   */
  readonly signal: AbortSignal;
  /** The attempt's number, from 1. */
  attempt: number;
  /** The job's id, as in its events. */
  job: number;
  /**
   * Shuts the pool down from inside this job: like `pool.shutdown`, but it does not wait for
   * this job, which is still running. It resolves once every other worker has stopped; jobs
   * still queued behind this one run after it. (`await pool.shutdown()` later in a job would
   * wait for the job itself, forever.)
   */
  shutdown(options?: ShutdownOptions): Promise<ShutdownReport>;
}

/** A job: called once per attempt; a throw or a rejection fails the attempt. */
export type JobFunction<T> = (context: JobContext) => T | PromiseLike<T>;

/** Counters (jobs or attempts, see the README) and gauges. */
export interface Metrics {
  submitted: number;
  rejected: number;
  started: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  attempts: number;
  retried: number;
  timedOut: number;
  /**
   * Calls of an `onEvent` or `on()` listener that threw: each caught and logged; the other
   * listeners still run, and the pool goes on.
   */
  listenerErrors: number;
  queued: number;
  running: number;
  /** Workers alive (a gauge). */
  workers: number;
}

/** What a shutdown did. */
export interface ShutdownReport {
  completed: number;
  cancelled: number;
  timedOut: boolean;
  metrics: Metrics;
}

/** `shutdown(options)`. */
export interface ShutdownOptions {
  /** Milliseconds to drain before cancelling what is left. */
  timeout?: number;
}

/** Something that happened to a job, in order: what `onEvent` receives. */
export type JobEventData =
  | { type: "queued"; job: number }
  | { type: "attemptStarted"; job: number; attempt: number }
  | { type: "attemptFailed"; job: number; attempt: number; error: unknown }
  | { type: "attemptTimedOut"; job: number; attempt: number }
  | { type: "retryScheduled"; job: number; attempt: number; delay: number }
  | { type: "succeeded"; job: number; attempts: number }
  | { type: "failed"; job: number; attempts: number }
  | { type: "cancelled"; job: number; attempts: number };

/** The names of the pool's events. */
export type JobEventType = JobEventData["type"];

/** One of the pool's events, as `addEventListener` receives it. */
export class JobEvent extends Event {
  readonly type: JobEventType;
  /** The job's id. */
  readonly job: number;
  /** The attempt, from 1 (attempt events and `retryScheduled`, which names the next one). */
  readonly attempt?: number;
  /** Attempts made (`succeeded`, `failed`, `cancelled`). */
  readonly attempts?: number;
  /** Milliseconds until the next attempt (`retryScheduled`). */
  readonly delay?: number;
  /** What the attempt threw or rejected with (`attemptFailed`). */
  readonly error?: unknown;
}

/** A failure of the pool's making; a job's own errors come back as they were thrown. */
export class WorkPoolError extends Error {
  /** Attempts made, for `TimeoutError` and `AbortError`. */
  readonly attempts?: number;
}
/** Every attempt of the job timed out. `name` is "TimeoutError". */
export class TimeoutError extends WorkPoolError {}
/**
 * The job was cancelled by `abort()` or when a shutdown's `timeout` passed. `name` is
 * "AbortError". (A job cancelled by the caller's `signal` rejects with `signal.reason`.)
 */
export class AbortError extends WorkPoolError {}
/** `trySubmit` found the queue full. */
export class QueueFullError extends WorkPoolError {}
/** The pool is shut down. */
export class PoolClosedError extends WorkPoolError {}

/**
 * Loads the WebAssembly module, once; await it before `new WorkPool`. In a browser it fetches
 * `workcrew_core_bg.wasm` next to the package's `index.js` (with a bundler, copy that file next
 * to your bundle, or pass its URL); in Node it reads it from disk. Resolves with the module's
 * linear memory, for those who measure it.
 */
export default function init(
  input?: string | URL | Request | Response | BufferSource | WebAssembly.Module,
): Promise<{ memory: WebAssembly.Memory }>;

declare global {
  // As @types/node and TypeScript 5.2's lib declare it, for `[Symbol.asyncDispose]` below.
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol;
  }
}

/**
 * A worker pool: a fixed crew of workers pulling jobs from a bounded queue.
 *
 * A pool needs no freeing: once its `shutdown()` or `abort()` has settled, its WebAssembly side
 * is freed and nothing global refers to it (it still answers `metrics()`, its getters and
 * further calls, as a closed pool); an idle pool that no one refers to is collected too. A job in
 * flight keeps its pool, and the pool's listeners, alive until it settles.
 */
export class WorkPool extends EventTarget {
  /** Throws a TypeError or RangeError naming the field for bad options. */
  constructor(options?: WorkPoolOptions);
  /**
   * Runs `job`, waiting for room in the queue (submissions that wait are admitted in order; one
   * whose `signal` fires while it waits rejects at once). Rejects with the job's own error, a
   * `WorkPoolError`, or the caller's `signal.reason`. It never throws: a `job` that is not a
   * function, or bad options, reject with a TypeError or RangeError naming the field.
   */
  submit<T>(job: JobFunction<T>, options?: JobOptions): Promise<T>;
  /**
   * Like `submit`, but never waits for room: a full queue rejects the promise at once with a
   * QueueFullError (counted in `metrics().rejected`), a shut-down pool with a PoolClosedError,
   * and a `signal` that has already fired with its reason. It never throws: a `job` that is not
   * a function, or bad options, reject with a TypeError or RangeError naming the field, as
   * `fetch` rejects a bad request.
   */
  trySubmit<T>(job: JobFunction<T>, options?: JobOptions): Promise<T>;
  /** A snapshot of the counters and gauges. */
  metrics(): Metrics;
  /** Stops accepting jobs and drains; with a `timeout` (ms), cancels what is left once it passes. */
  shutdown(options?: ShutdownOptions): Promise<ShutdownReport>;
  /** Cancels queued jobs and aborts running attempts. */
  abort(): Promise<ShutdownReport>;
  /**
   * `await using pool = new WorkPool()`: a graceful `shutdown()` when the scope ends. Keyed by
   * `Symbol.asyncDispose` where the runtime has it (Node 20 does, as
   * `Symbol.for('nodejs.asyncDispose')`; so do current Chromium and Firefox), else by
   * `Symbol.for('nodejs.asyncDispose')`.
   */
  [Symbol.asyncDispose](): Promise<void>;
  /** Replaces the listener of every event (`null` removes it). */
  onEvent(listener: ((event: JobEventData) => void) | null): void;
  /**
   * Calls `listener` with each event of `type`, as a plain object (what `onEvent` receives),
   * until the returned function is called. Cheaper than `addEventListener`, which makes an
   * `Event` per event. A `type` that is not an event's name is a RangeError.
   */
  on<K extends JobEventType>(
    type: K,
    listener: (event: Extract<JobEventData, { type: K }>) => void,
  ): () => void;
  /** Jobs waiting in the queue. */
  readonly size: number;
  /** Jobs running now. */
  readonly pending: number;
  /** Resolves once nothing is queued or running. */
  onIdle(): Promise<void>;
  /** Resolves once nothing is queued (jobs may still be running). */
  onEmpty(): Promise<void>;
  /** The number of workers. */
  readonly workers: number;
  /** The queue's capacity. */
  readonly queue: number;
  /** Whether the pool has stopped accepting jobs. */
  readonly closed: boolean;
  addEventListener(
    type: JobEventType,
    listener: ((event: JobEvent) => void) | { handleEvent(event: JobEvent): void } | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener(
    type: JobEventType,
    listener: ((event: JobEvent) => void) | { handleEvent(event: JobEvent): void } | null,
    options?: boolean | EventListenerOptions,
  ): void;
}
