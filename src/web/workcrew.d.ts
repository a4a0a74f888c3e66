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
  /** Called with every job event. */
  onEvent?: (event: JobEvent) => void;
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
  /** Fires when this attempt times out, is cancelled, or the pool aborts. Pass it to `fetch`. */
  signal: AbortSignal;
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
  panicked: number;
  /** Calls of the `onEvent` listener that threw: each caught and logged; the pool goes on. */
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

/** Something that happened to a job, in order. */
export type JobEvent =
  | { type: "queued"; job: number }
  | { type: "started"; job: number; attempt: number }
  | { type: "attemptFailed"; job: number; attempt: number; error: unknown }
  | { type: "timedOut"; job: number; attempt: number }
  | { type: "panicked"; job: number; attempt: number }
  | { type: "retryScheduled"; job: number; attempt: number; delay: number }
  | { type: "succeeded"; job: number; attempts: number }
  | { type: "failed"; job: number; attempts: number }
  | { type: "cancelled"; job: number; attempts: number };

/** A failure raised by the pool itself; a job's own errors come back intact. */
export interface WorkPoolError extends Error {
  name: "TimeoutError" | "AbortError" | "PanicError" | "QueueFullError" | "PoolClosedError";
  /** Attempts made, for TimeoutError, AbortError and PanicError. */
  attempts?: number;
}

/** A worker pool: a fixed crew of workers pulling jobs from a bounded queue. */
export class WorkPool {
  /** Throws a TypeError or RangeError naming the field for bad options. */
  constructor(options?: WorkPoolOptions);
  /** Runs `job`; waits for room in the queue. Rejects with the job's own error, or a WorkPoolError. */
  submit<T>(job: JobFunction<T>, options?: JobOptions): Promise<T>;
  /** Like `submit`, but throws a QueueFullError or PoolClosedError at once instead of waiting. */
  trySubmit<T>(job: JobFunction<T>, options?: JobOptions): Promise<T>;
  /** A snapshot of the counters and gauges. */
  metrics(): Metrics;
  /** Stops accepting jobs and drains; with a `timeout` (ms), cancels what is left once it passes. */
  shutdown(options?: ShutdownOptions): Promise<ShutdownReport>;
  /** Cancels queued jobs and aborts running attempts. */
  abort(): Promise<ShutdownReport>;
  /** Replaces the event listener (`null` removes it). */
  onEvent(listener: ((event: JobEvent) => void) | null): void;
  /** The number of workers. */
  readonly workers: number;
  /** The queue's capacity. */
  readonly queue: number;
  /** Whether the pool has stopped accepting jobs. */
  readonly closed: boolean;
  /** Releases the pool's memory (jobs already submitted still settle). */
  free(): void;
}
