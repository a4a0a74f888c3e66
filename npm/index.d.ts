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

/**
 * Hedged attempts (gRPC's hedging, tower's `hedge`): after `delay` ms, if the job's attempt has
 * not ended, another attempt of the same job starts beside it, up to `max` extra, each `delay`
 * after the one before. The first to succeed wins; the others are dropped and their signals
 * abort (`reason`: an `AbortError` DOMException). An attempt that fails leaves the others
 * running; when all of a round's attempts have failed, the job retries as a whole (`retries: n`
 * allows n + 1 rounds). A failure that `shouldRetry` declines ends the job at once. Hedges run
 * on the job's worker: they take no worker, no place in `concurrency` or `perKey`, so at most
 * `concurrency × (1 + max)` attempts are in flight. Each hedge is an attempt: its own `timeout`,
 * a rate token, counted by the circuit breaker (it starts only while the breaker is closed), and
 * in `metrics().attempts`; not a retry, so the retry budget does not count it.
 */
export interface HedgeOptions {
  /** Milliseconds to wait before each extra attempt (the service's p95, say). Required. */
  delay: number;
  /** The most extra attempts in one round: an integer from 1 to 16 (default 1). */
  max?: number;
}

/**
 * A retry budget shared by the pool's jobs (tower's `retry::budget`): over the last `window`
 * first attempts, retries are allowed while `retries ≤ percent / 100 × first attempts +
 * minRetries`. A failed attempt that finds the budget spent ends its job with that attempt's
 * failure, without a retry (`retryDenied` event, `metrics().retriesDenied`).
 */
export interface RetryBudgetOptions {
  /** Retries allowed per 100 first attempts: an integer from 0 (default 20). */
  percent?: number;
  /** Retries allowed in any window whatever the ratio: an integer from 0 (default 10). */
  minRetries?: number;
  /** How many of the latest first attempts the budget remembers: an integer from 1 (default 1000). */
  window?: number;
}

/**
 * A circuit breaker: open after `failures` failed attempts in a row, or when at least `percent`%
 * of the last `ofLast` attempts failed (one kind or the other); while open, jobs fail at once
 * with a `CircuitOpenError`, without calling the job's function; after `cooldown` ms it is
 * half-open and lets one probe attempt through: its success closes it, its failure opens it
 * again. Errors, timeouts, panics and attempts the job's deadline cut short count as failures;
 * cancelled attempts (and hedges dropped because another attempt won) count for nothing. Events: `circuitOpened`, `circuitHalfOpen`,
 * `circuitClosed` (with the breaker's `key`, no job).
 */
export type CircuitBreakerOptions =
  | {
    /** Failed attempts in a row that open the breaker: an integer from 1. */
    failures: number;
    /** Milliseconds the breaker stays open, more than 0. */
    cooldown: number;
    /** One breaker per job `key` (jobs without a key share the pool's). Default false. */
    perKey?: boolean;
  }
  | {
    /** The failure ratio that opens the breaker, in percent: an integer from 1 to 100. */
    percent: number;
    /** Over the last `ofLast` attempts (1 to 1024), once that many have ended. */
    ofLast: number;
    /** Milliseconds the breaker stays open, more than 0. */
    cooldown: number;
    /** One breaker per job `key` (jobs without a key share the pool's). Default false. */
    perKey?: boolean;
  };

/** What a job's `shouldRetry` receives: the failed attempt's whole outcome. */
export interface AttemptFailure {
  /**
   * "error": the attempt threw or rejected (`error`: what it threw); "timeout": it ran past its
   * `timeout` and was dropped (`error`: a `TimeoutError` DOMException, as its signal's reason).
   */
  kind: "error" | "timeout";
  error: unknown;
  /** The attempt's number, from 1. */
  attempt: number;
}

/** `new WorkPool(options)`. Times in milliseconds. */
export interface WorkPoolOptions {
  /**
   * The crew's size: how many jobs can run at once, 1 to 4096 (default 4, or `concurrency` if
   * larger). Without `concurrency`, as many run at once as there are workers.
   */
  workers?: number;
  /**
   * How many jobs run at once to begin with, 1 to `workers` (default `workers`). It can change
   * later, within the crew: the `concurrency` setter.
   */
  concurrency?: number;
  /** Jobs waiting beyond those running, 1 to 2³⁰ (default 1024). */
  queue?: number;
  /**
   * At most `perKey` jobs with an equal `key` run at once (an integer from 1). A job whose key
   * is busy waits, in order, without holding a worker, while jobs of other keys (and jobs
   * without a key) pass it; it counts as queued (`size`), and in `metrics().waitingOnKey`. A
   * job holds its key through its retries and their backoff. Without `perKey`, keys limit
   * nothing.
   */
  perKey?: number;
  /**
   * With `interval`: at most `intervalCap` attempt starts in any window of `interval` ms (a
   * sliding window): each start takes a token that the pool gives back `interval` ms later.
   * Retries are attempts, so they count (they are requests to the limited service), and they
   * take a token before any new job does; a job cancelled before it starts takes none. Jobs
   * that wait for a token hold no worker. An integer from 1; both or neither. Changeable later:
   * `setRateLimit`.
   */
  intervalCap?: number;
  /** The rate limit's window in ms, more than 0 (with `intervalCap`: both or neither). */
  interval?: number;
  /** Time limit of each attempt in ms (default: none; `null`: none). */
  timeout?: number | null;
  /** Retries after a failed attempt: 3 means up to 4 attempts (default 0). */
  retries?: number;
  /** Delay schedule between attempts (default: linear, 100 ms). */
  backoff?: BackoffOptions;
  /**
   * Each job's total time limit in ms, across all its attempts and backoffs, counted from its
   * first attempt's start (default: none). When it passes, the running attempts are dropped
   * (their signals abort, with the job's `DeadlineExceededError` as `reason`), no backoff sleeps
   * past it and no attempt starts after it: the job rejects with a `DeadlineExceededError`
   * (`deadlineExceeded` event, `metrics().deadlineExceeded`). A job may override it.
   */
  deadline?: number | null;
  /** Hedged attempts for every job that does not opt out (default: none; `null`: none). */
  hedge?: HedgeOptions | null;
  /** A retry budget shared by the pool's jobs (default: none; `null`: none). */
  retryBudget?: RetryBudgetOptions | null;
  /** A circuit breaker for the pool, or for each job key (default: none; `null`: none). */
  circuitBreaker?: CircuitBreakerOptions | null;
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
  /** The job's total time limit in ms (see `WorkPoolOptions.deadline`); `null` for none. */
  deadline?: number | null;
  /** Hedged attempts for this job; `null` or `false` for none, whatever the pool's. */
  hedge?: HedgeOptions | null | false;
  /**
   * Whether a failed attempt is worth a retry (while retries remain), seeing its whole
   * outcome: an error, or a timeout (so a job that must not run twice, a POST, can refuse a
   * retry after a timeout). Without it every failure is retried. It must return a boolean at
   * once; if it throws (or returns a promise), the job ends at once and rejects with what it
   * threw (a TypeError for a promise).
   */
  shouldRetry?: (failure: AttemptFailure) => boolean;
  /**
   * Cancels the job when it fires: a queued job at once (its promise rejects with
   * `signal.reason` then, its place is free, it is counted in `metrics().cancelled`); a
   * running one's attempt signal fires with the same reason.
   */
  signal?: AbortSignal;
  /**
   * The job's priority, an integer from -2³¹ to 2³¹ − 1 (default 0): a queued job of higher
   * priority starts first; jobs of one priority start in the order they were submitted.
   * Changeable while queued: `setPriority`. A job keeps its worker through its retries, so its
   * retries need no priority of their own.
   */
  priority?: number;
  /**
   * What the pool's `perKey` limit counts the job under (a host, a tenant, an account): a string,
   * or an integer (`Number.isSafeInteger`). `7` and `"7"` are different keys. At most `perKey`
   * jobs with an equal key run at once.
   */
  key?: string | number;
  /**
   * p-queue's `id`: a name for `setPriority`. Several jobs may share one; `setPriority` then
   * changes every one of them that has not started.
   */
  id?: string;
}

/** What a job function receives for each attempt. */
export interface JobContext {
  /**
   * Fires when this attempt is dropped: its `reason` is a `TimeoutError` DOMException when the
   * attempt timed out, the job's `DeadlineExceededError` when its deadline passed, the caller's
   * own reason when the caller's `signal` cancelled the job, and an `AbortError` DOMException
   * otherwise (`abort()`, a shutdown's `timeout`, a hedged attempt that lost to another).
   * Pass it to `fetch`. Made only when read.
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
  /** Jobs ended by their total `deadline` (also in `failed`). */
  deadlineExceeded: number;
  /** Retries the retry budget refused (each ended its job). */
  retriesDenied: number;
  /** Jobs an open circuit breaker ended with a `CircuitOpenError` (also in `failed`). */
  circuitRefused: number;
  /** Times a circuit breaker opened. */
  circuitOpened: number;
  /** Hedged attempts started (also in `attempts`). */
  hedgesStarted: number;
  /** Jobs whose winning attempt was a hedge. */
  hedgesWon: number;
  /**
   * Calls of an `onEvent` or `on()` listener that threw: each caught and logged; the other
   * listeners still run, and the pool goes on.
   */
  listenerErrors: number;
  /** Jobs waiting in the queue (a gauge), those waiting on their key included: `size`. */
  queued: number;
  /** Queued jobs waiting because their key is at its `perKey` limit (a gauge). */
  waitingOnKey: number;
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
  /**
   * The job was next in line, but its key had `perKey` jobs running: it waits for its key,
   * without a worker, and starts once one of them ends.
   */
  | { type: "waitingOnKey"; job: number }
  | { type: "attemptStarted"; job: number; attempt: number }
  | { type: "attemptFailed"; job: number; attempt: number; error: unknown }
  | { type: "attemptTimedOut"; job: number; attempt: number }
  | { type: "retryScheduled"; job: number; attempt: number; delay: number }
  | { type: "succeeded"; job: number; attempts: number }
  | { type: "failed"; job: number; attempts: number }
  | { type: "cancelled"; job: number; attempts: number }
  /** A hedged attempt began beside one still running; its `attemptStarted` came just before. */
  | { type: "hedgeStarted"; job: number; attempt: number }
  /** The retry budget was spent: the job ends with its last failure (its `failed` follows). */
  | { type: "retryDenied"; job: number; attempt: number }
  /** The job's total deadline passed; its `failed` follows. */
  | { type: "deadlineExceeded"; job: number; attempts: number }
  /** A circuit breaker opened (`key`: the breaker's, `null` for the pool's). No job. */
  | { type: "circuitOpened"; key: string | number | null }
  /** A circuit breaker's cool-down ended: its next attempt is the probe. */
  | { type: "circuitHalfOpen"; key: string | number | null }
  /** A circuit breaker's probe succeeded: it is closed again. */
  | { type: "circuitClosed"; key: string | number | null };

/** The names of the pool's events. */
export type JobEventType = JobEventData["type"];

/** One of the pool's events, as `addEventListener` receives it. */
export class JobEvent extends Event {
  readonly type: JobEventType;
  /** The job's id (every event but a circuit breaker's). */
  readonly job?: number;
  /** The circuit breaker's key, `null` for the pool's (the breaker's events only). */
  readonly key?: string | number | null;
  /** The attempt, from 1 (attempt events and `retryScheduled`, which names the next one). */
  readonly attempt?: number;
  /** Attempts made (`succeeded`, `failed`, `cancelled`, `deadlineExceeded`). */
  readonly attempts?: number;
  /** Milliseconds until the next attempt (`retryScheduled`). */
  readonly delay?: number;
  /** What the attempt threw or rejected with (`attemptFailed`). */
  readonly error?: unknown;
}

/** A failure of the pool's making; a job's own errors come back as they were thrown. */
export class WorkPoolError extends Error {
  /** Attempts made, for `TimeoutError`, `AbortError`, `DeadlineExceededError` and `CircuitOpenError`. */
  readonly attempts?: number;
}
/** Every attempt of the job timed out. `name` is "TimeoutError". */
export class TimeoutError extends WorkPoolError {}
/**
 * The job was cancelled by `abort()`, by `clear()` (attempts 0) or when a shutdown's `timeout`
 * passed. `name` is "AbortError". (A job cancelled by the caller's `signal` rejects with
 * `signal.reason`.)
 */
export class AbortError extends WorkPoolError {}
/** `trySubmit` found the queue full. */
export class QueueFullError extends WorkPoolError {}
/** The pool is shut down. */
export class PoolClosedError extends WorkPoolError {}
/**
 * The job's total `deadline` passed (its running attempts were dropped, its backoff cut short).
 * `name` is "DeadlineExceededError"; it is also the dropped attempts' `signal.reason`.
 */
export class DeadlineExceededError extends WorkPoolError {}
/**
 * An open circuit breaker refused the job's next attempt: the job's function was not called
 * (again). `name` is "CircuitOpenError"; `attempts`: those made before (0 if refused at once).
 */
export class CircuitOpenError extends WorkPoolError {}

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

/** `setRateLimit(options)`: both fields. */
export interface RateLimitOptions {
  /** Attempt starts allowed in any window of `interval`: an integer from 1. */
  intervalCap: number;
  /** The window in ms, more than 0. */
  interval: number;
}

/**
 * A worker pool: a fixed crew of workers pulling jobs from a bounded queue: the next job that
 * may start now, highest priority first, within the pool's limits (`concurrency`, `perKey`,
 * `intervalCap` per `interval`, `pause()`).
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
   * whose `signal` fires while it waits rejects at once and leaves the line, its turn passing to
   * the next; it was never accepted, so the metrics do not count it). Rejects with the job's own error, a
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
  /**
   * Changes the priority of the jobs submitted with this `id` that have not started: each goes
   * to the back of its new priority's line (one whose priority is already `priority` keeps its
   * place, as in p-queue), and a submission still waiting for room takes it once queued.
   * Returns how many it changed: 0 once they have all started or ended (where p-queue throws a
   * ReferenceError: a job may start at any moment, so this does not). Throws a TypeError or
   * RangeError naming `id` (a string) or `priority` (an integer from -2³¹ to 2³¹ − 1).
   */
  setPriority(id: string, priority: number): number;
  /**
   * Pauses the pool: running attempts go on to their end (and a running job's retries still
   * run: its worker keeps it), but no queued job starts until `start()`. Submissions are still
   * accepted and queue up. A graceful `shutdown()` (with or without a `timeout`) resumes a
   * paused pool, so that it can finish what is queued; `abort()` cancels the queued jobs whether
   * paused or not.
   */
  pause(): void;
  /** Lets queued jobs start again after `pause()` (p-queue's name). Returns the pool. */
  start(): this;
  /** Whether the pool is paused. */
  readonly isPaused: boolean;
  /**
   * How many jobs may run at once now, from 1 up to the crew's size (`workers`, fixed when the
   * pool was built: build it with more `workers` than `concurrency` to have room to grow).
   * Setting it higher starts queued jobs at once; lower never interrupts a running attempt: the
   * jobs beyond the new limit finish, and no new one starts until fewer run than the limit. A
   * value out of 1 to `workers` throws a RangeError naming `concurrency` (a non-number, a
   * TypeError).
   */
  concurrency: number;
  /**
   * Sets, changes or (with `null`) lifts the rate limit: at most `intervalCap` attempt starts in
   * any window of `interval` ms (see `WorkPoolOptions.intervalCap`). Starts made under the old
   * limit still count until their own interval has passed. Throws a TypeError or RangeError
   * naming the field.
   */
  setRateLimit(options: RateLimitOptions | null): void;
  /** The rate limit's count per `interval` (`Infinity` without one, as p-queue's default). */
  readonly intervalCap: number;
  /** The rate limit's window in ms (0 without one, as p-queue's default). */
  readonly interval: number;
  /** Whether a job (or a retry) that could otherwise start now waits for the rate limit. */
  readonly isRateLimited: boolean;
  /**
   * Cancels every queued job (not the running ones) and returns how many. Each is settled at
   * once: its place is free, it is counted in `metrics().cancelled`, its `cancelled` event is
   * emitted and its promise rejects with an AbortError (attempts 0). (p-queue's `clear()` leaves
   * them pending.) Submissions still waiting for room are not queued yet: they take the places
   * freed.
   */
  clear(): number;
  /**
   * Resolves once fewer than `limit` jobs are queued (`size < limit`): a producer awaits it to
   * keep the queue short without holding jobs of its own in line. A `limit` that is not an
   * integer from 1 to 2⁵³ − 1 rejects with a TypeError or RangeError naming `limit` (it never
   * throws).
   */
  onSizeLessThan(limit: number): Promise<void>;
  /** Jobs waiting in the queue (those waiting on their key included). */
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
