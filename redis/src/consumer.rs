//! The consumer: a consumer group's entries run as jobs in a workcrew [`Pool`].
//!
//! Three threads, each with its own blocking connection (a blocking read needs its own):
//!
//! * the **reader** waits for free places, recovers abandoned entries (XAUTOCLAIM, cursor
//!   carried forward), reads new ones (XREADGROUP ... BLOCK), and submits them to the pool;
//! * the **lease** thread renews the leases of held entries (XCLAIM ... JUSTID) and reports
//!   those taken by another consumer;
//! * the **settler** waits for the jobs' handles and settles every job that has ended in one
//!   script call (at most [`SETTLE_BATCH`] entries each): it acks, dead-letters or releases
//!   each entry after checking that the entry is still this consumer's.
//!
//! No lock is held across user code or across a Redis call.

use std::collections::HashMap;
use std::fmt;
use std::future::{poll_fn, Future};
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::Value;
use workcrew::{Attempt, Job, JobError, JobHandle, Pool, SubmitError};

use crate::conn::{classify, Conn, OpError};
use crate::entry::{array, bytes, decode, int, string, Keys};
use crate::metrics::{DeadCounts, DeadReason, Metrics};
use crate::{scripts, Delivery, Error, Redis};

/// The consumer that released entries are parked under until another consumer claims them.
pub const PARKING_CONSUMER: &str = "workcrew:released";

/// The idle time given to a released entry: past any lease, so the next XAUTOCLAIM takes it.
const RELEASED_IDLE_MS: u64 = 365 * 24 * 3600 * 1000;

/// Ids per renewal script call.
const RENEW_BATCH: usize = 500;

/// Entries per settlement script call (one round trip). A settler's batch is the jobs that
/// ended since its last one, at most `in_flight`; a larger batch takes several calls.
const SETTLE_BATCH: usize = 500;

/// The longest error text written into a dead entry.
const MAX_ERROR_TEXT: usize = 4096;

/// What became of an entry, as told to [`ConsumerBuilder::on_settle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The job succeeded; the entry was acked and deleted.
    Acked,
    /// The entry went to the dead-letter stream.
    DeadLettered(DeadReason),
    /// The entry was given back for another consumer, without spending a delivery.
    Released,
    /// The entry was no longer this consumer's (its lease lapsed and another consumer took
    /// it); nothing was done to it.
    Lost,
}

/// An entry that was settled, as told to [`ConsumerBuilder::on_settle`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settled {
    /// The stream entry id.
    pub entry_id: String,
    /// The job id (empty for an undecodable entry without one).
    pub job_id: String,
    /// What became of it.
    pub outcome: Outcome,
    /// Attempts the pool made (0 if the job never ran here).
    pub attempts: u32,
}

type Validate = dyn Fn(&Delivery) -> Result<(), String> + Send + Sync;
type OnSettle = dyn Fn(&Settled) + Send + Sync;

/// Configures and starts a [`Consumer`].
///
/// | option | default | meaning |
/// |---|---|---|
/// | [`group`](Self::group) | `workcrew` | the consumer group |
/// | [`lease`](Self::lease) | 30 s | how long an entry stays this consumer's without a renewal |
/// | [`max_deliveries`](Self::max_deliveries) | 5 | deliveries after which an entry is dead-lettered unrun |
/// | [`in_flight`](Self::in_flight) | 2 × the pool's workers | entries held at once (the free places) |
/// | [`claim_interval`](Self::claim_interval) | min(500 ms, lease / 4) | how often abandoned entries are looked for |
/// | [`drain_timeout`](Self::drain_timeout) | lease / 2 | how long a shutdown lets held jobs finish |
/// | [`max_retries`](Self::max_retries) | 25 | the cap on an entry's own `retries` |
/// | [`dead_max_len`](Self::dead_max_len) | 100 000 | the dead stream's approximate length cap |
#[must_use = "a builder does nothing until `start` is called"]
pub struct ConsumerBuilder {
    redis: Redis,
    queue: String,
    group: String,
    name_prefix: Option<String>,
    lease: Duration,
    max_deliveries: u64,
    in_flight: Option<usize>,
    claim_interval: Option<Duration>,
    drain_timeout: Option<Duration>,
    max_retries: u32,
    dead_max_len: u64,
    validate: Option<Arc<Validate>>,
    on_settle: Option<Arc<OnSettle>>,
}

impl fmt::Debug for ConsumerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerBuilder")
            .field("redis", &self.redis)
            .field("queue", &self.queue)
            .field("group", &self.group)
            .field("lease", &self.lease)
            .field("max_deliveries", &self.max_deliveries)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl ConsumerBuilder {
    /// A consumer of queue `queue` on `redis`.
    pub fn new(redis: Redis, queue: &str) -> Self {
        Self {
            redis,
            queue: queue.to_owned(),
            group: "workcrew".into(),
            name_prefix: None,
            lease: Duration::from_secs(30),
            max_deliveries: 5,
            in_flight: None,
            claim_interval: None,
            drain_timeout: None,
            max_retries: 25,
            dead_max_len: 100_000,
            validate: None,
            on_settle: None,
        }
    }

    /// The consumer group (created, from the stream's start, if missing).
    pub fn group(mut self, group: &str) -> Self {
        self.group = group.to_owned();
        self
    }

    /// The start of the consumer's name (default: the host name). The name is always made
    /// unique with the process id and a random suffix: a name reused by a restarted process
    /// would take over its predecessor's pending entries without their leases.
    pub fn name_prefix(mut self, prefix: &str) -> Self {
        self.name_prefix = Some(prefix.to_owned());
        self
    }

    /// How long an entry stays this consumer's without a renewal (at least 100 ms). Leases are
    /// renewed every third of it; after it, other consumers may claim the entry.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Deliveries after which an entry goes to the dead stream without running (at least 1).
    pub fn max_deliveries(mut self, n: u64) -> Self {
        self.max_deliveries = n;
        self
    }

    /// The entries held at once: read or claimed, and not yet settled. The consumer reads only
    /// as many as it has free places, so at most this many are buffered.
    pub fn in_flight(mut self, n: usize) -> Self {
        self.in_flight = Some(n);
        self
    }

    /// How often the consumer looks for abandoned or released entries (at most the lease).
    pub fn claim_interval(mut self, every: Duration) -> Self {
        self.claim_interval = Some(every);
        self
    }

    /// How long a shutdown lets held jobs finish before it cancels and releases them.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = Some(timeout);
        self
    }

    /// The cap on the retries an entry may ask for.
    pub fn max_retries(mut self, cap: u32) -> Self {
        self.max_retries = cap;
        self
    }

    /// The dead stream's approximate maximum length (`XADD ... MAXLEN ~`).
    pub fn dead_max_len(mut self, len: u64) -> Self {
        self.dead_max_len = len.max(1);
        self
    }

    /// A check of each delivery before it runs, such as decoding its payload: an `Err` sends
    /// the entry to the dead stream at once, as [`DeadReason::Undecodable`], with the text as
    /// its error. It runs on the reader thread, so it should be quick.
    pub fn validate(
        mut self,
        check: impl Fn(&Delivery) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.validate = Some(Arc::new(check));
        self
    }

    /// Called once for every entry settled, after Redis has been told (from the consumer's
    /// threads, with no lock held; keep it quick).
    pub fn on_settle(mut self, observer: impl Fn(&Settled) + Send + Sync + 'static) -> Self {
        self.on_settle = Some(Arc::new(observer));
        self
    }

    /// Connects (three connections), creates the group if needed, and starts the consumer's
    /// threads, which submit each entry as a job to `pool` running `handler`.
    ///
    /// A wrong password is [`Error::Auth`] here, at once; so is an ACL user that may not use the
    /// queue's keys.
    ///
    /// The job runs `handler(delivery, attempt)` for each attempt. An entry's own `timeout_ms`
    /// and `retries` override the pool's defaults for its job.
    pub fn start<S, F, Fut, E>(self, pool: Pool<S>, handler: F) -> Result<Consumer, Error>
    where
        S: Send + Sync + 'static,
        F: Fn(Delivery, Attempt) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let keys = Keys::new(&self.queue)?;
        if self.group.is_empty() || self.group.len() > 128 {
            return Err(Error::InvalidInput("a group name is 1 to 128 bytes".into()));
        }
        if self.lease < Duration::from_millis(100) {
            return Err(Error::InvalidInput("the lease must be at least 100 ms".into()));
        }
        if self.max_deliveries == 0 {
            return Err(Error::InvalidInput("max_deliveries must be at least 1".into()));
        }
        let in_flight = self.in_flight.unwrap_or(pool.workers().saturating_mul(2));
        if in_flight == 0 || in_flight > 100_000 {
            return Err(Error::InvalidInput("in_flight must be 1 to 100 000".into()));
        }
        let claim_interval = self
            .claim_interval
            .unwrap_or((self.lease / 4).min(Duration::from_millis(500)))
            .clamp(Duration::from_millis(10), self.lease);
        let drain_timeout = self.drain_timeout.unwrap_or(self.lease / 2);

        let reconnects = Arc::new(AtomicU64::new(0));
        let mut read_conn = Conn::open(&self.redis, claim_interval, Arc::clone(&reconnects))?;
        let lease_conn = Conn::open(&self.redis, Duration::ZERO, Arc::clone(&reconnects))?;
        let settle_conn = Conn::open(&self.redis, Duration::ZERO, Arc::clone(&reconnects))?;
        create_group(&mut read_conn, &keys.stream, &self.group)?;

        let name = unique_name(self.name_prefix.as_deref());
        let shared = Arc::new(Shared {
            name,
            keys,
            group: self.group,
            lease: self.lease,
            max_deliveries: self.max_deliveries,
            in_flight,
            claim_interval,
            drain_timeout,
            max_retries: self.max_retries,
            dead_max_len: self.dead_max_len,
            validate: self.validate,
            on_settle: self.on_settle,
            held: Mutex::new(HashMap::new()),
            room: Condvar::new(),
            waker: Mutex::new(None),
            stop_reading: AtomicBool::new(false),
            cancel_all: AtomicBool::new(false),
            stop_settler: AtomicBool::new(false),
            stop_lease: AtomicBool::new(false),
            deadline: OnceLock::new(),
            counters: Counters::default(),
            reconnects,
        });
        let inbox: Arc<Mutex<Vec<Running<E>>>> = Arc::new(Mutex::new(Vec::new()));

        let spawn = |name: &str, f: Box<dyn FnOnce() -> Conn + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| Error::Spawn(e.to_string()))
        };
        let sh = Arc::clone(&shared);
        let ib = Arc::clone(&inbox);
        let settler =
            spawn("workcrew-redis-settle", Box::new(move || settle(sh, settle_conn, ib)))?;
        let sh = Arc::clone(&shared);
        let lease = match spawn("workcrew-redis-lease", Box::new(move || renew(sh, lease_conn))) {
            Ok(t) => t,
            Err(e) => {
                stop_threads(&shared, None, None, Some(settler));
                return Err(e);
            }
        };
        let sh = Arc::clone(&shared);
        let handler = Arc::new(handler);
        let reader = match spawn(
            "workcrew-redis-read",
            Box::new(move || read(sh, read_conn, pool, handler, inbox)),
        ) {
            Ok(t) => t,
            Err(e) => {
                stop_threads(&shared, None, Some(lease), Some(settler));
                return Err(e);
            }
        };
        Ok(Consumer { shared, reader: Some(reader), lease: Some(lease), settler: Some(settler) })
    }
}

fn stop_threads(
    sh: &Shared,
    reader: Option<JoinHandle<Conn>>,
    lease: Option<JoinHandle<Conn>>,
    settler: Option<JoinHandle<Conn>>,
) -> Option<Conn> {
    sh.stop_reading.store(true, Ordering::SeqCst);
    sh.room.notify_all();
    if let Some(r) = reader {
        let _ = r.join();
    }
    let _ = sh.deadline.set(Instant::now());
    sh.stop_settler.store(true, Ordering::SeqCst);
    sh.wake_settler();
    let conn = settler.and_then(|s| s.join().ok());
    sh.stop_lease.store(true, Ordering::SeqCst);
    if let Some(l) = lease {
        l.thread().unpark();
        let _ = l.join();
    }
    conn
}

/// A consumer running: entries of a consumer group feeding a workcrew pool. Build one with
/// [`Consumer::builder`]; stop it with [`shutdown`](Self::shutdown) (dropping it shuts it
/// down too).
pub struct Consumer {
    shared: Arc<Shared>,
    reader: Option<JoinHandle<Conn>>,
    lease: Option<JoinHandle<Conn>>,
    settler: Option<JoinHandle<Conn>>,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.shared.name)
            .field("stream", &self.shared.keys.stream)
            .field("group", &self.shared.group)
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// What a consumer's shutdown did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Whether every held job ended within the drain timeout (nothing had to be cancelled).
    pub drained: bool,
    /// Entries still held when the shutdown gave up (their jobs ignored the cancellation, or
    /// Redis stayed unreachable): they stay pending and another consumer recovers them after
    /// the lease.
    pub abandoned: u64,
    /// Whether the consumer left the group (it does when nothing is pending for it).
    pub left_group: bool,
    /// The final counters.
    pub metrics: Metrics,
}

impl Consumer {
    /// A builder for a consumer of `queue` on `redis`.
    pub fn builder(redis: Redis, queue: &str) -> ConsumerBuilder {
        ConsumerBuilder::new(redis, queue)
    }

    /// The consumer's name in the group: unique per process start.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The queue's keys.
    pub fn keys(&self) -> &Keys {
        &self.shared.keys
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// Stops reading and claiming, without waiting; held jobs go on. [`shutdown`](Self::shutdown)
    /// then drains and releases.
    pub fn stop_reading(&self) {
        self.shared.stop_reading.store(true, Ordering::SeqCst);
        self.shared.room.notify_all();
    }

    /// Graceful shutdown: stops reading and claiming, lets held jobs finish within the drain
    /// timeout (their leases still renewed), then cancels the rest, releases their entries
    /// without spending a delivery, leaves the group if nothing is pending for it, and stops
    /// the threads. Blocks until done: at most the drain timeout plus half a lease, plus one
    /// read's wait.
    pub fn shutdown(mut self) -> ShutdownReport {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> ShutdownReport {
        let sh = &*self.shared;
        sh.stop_reading.store(true, Ordering::SeqCst);
        sh.room.notify_all();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let drain_until = Instant::now() + sh.drain_timeout;
        let drained = sh.wait_empty(drain_until);
        let _ = sh
            .deadline
            .set(Instant::now().max(drain_until) + (sh.lease / 2).max(Duration::from_millis(500)));
        sh.cancel_all.store(true, Ordering::SeqCst);
        sh.wake_settler();
        sh.wait_empty(*sh.deadline.get().expect("set above"));
        let conn = stop_threads(sh, None, self.lease.take(), self.settler.take());
        let mut left_group = false;
        if let Some(mut conn) = conn {
            let quick = std::cell::Cell::new(0);
            let give_up = || {
                quick.set(quick.get() + 1);
                quick.get() > 2
            };
            left_group = conn
                .run(&give_up, |c| {
                    scripts::LEAVE
                        .key(&sh.keys.stream)
                        .arg(&sh.group)
                        .arg(&sh.name)
                        .invoke::<i64>(c)
                })
                .is_ok_and(|n| n == 1);
        }
        let metrics = sh.metrics();
        ShutdownReport { drained, abandoned: metrics.held, left_group, metrics }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if self.settler.is_some() {
            self.shutdown_inner();
        }
    }
}

// --- shared state -------------------------------------------------------------------------------

const RUNNING: u8 = 0;
const SETTLING: u8 = 1;
const LOST: u8 = 2;

/// An entry this consumer holds. Its state moves once, from `RUNNING` to `SETTLING` (the
/// settler or the reader settles it) or to `LOST` (the lease thread found it taken): whoever
/// moves it counts it, so each entry is counted once.
struct Held {
    entry_id: String,
    job_id: String,
    state: AtomicU8,
}

impl Held {
    fn settle(&self) -> bool {
        self.state.compare_exchange(RUNNING, SETTLING, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }
    fn lose(&self) -> bool {
        self.state.compare_exchange(RUNNING, LOST, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }
    fn is_lost(&self) -> bool {
        self.state.load(Ordering::SeqCst) == LOST
    }
}

#[derive(Default)]
struct Counters {
    read: AtomicU64,
    claimed: AtomicU64,
    acked: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    panicked: AtomicU64,
    deadline_exceeded: AtomicU64,
    deliveries: AtomicU64,
    undecodable: AtomicU64,
    released: AtomicU64,
    leases_lost: AtomicU64,
    acks_refused: AtomicU64,
    errors: AtomicU64,
    max_renewal_gap_ms: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::SeqCst);
}

struct Shared {
    name: String,
    keys: Keys,
    group: String,
    lease: Duration,
    max_deliveries: u64,
    in_flight: usize,
    claim_interval: Duration,
    drain_timeout: Duration,
    max_retries: u32,
    dead_max_len: u64,
    validate: Option<Arc<Validate>>,
    on_settle: Option<Arc<OnSettle>>,
    held: Mutex<HashMap<String, Arc<Held>>>,
    /// Notified whenever an entry stops being held.
    room: Condvar,
    /// The settler's waker, to make it look at lost entries or a shutdown.
    waker: Mutex<Option<Waker>>,
    stop_reading: AtomicBool,
    cancel_all: AtomicBool,
    stop_settler: AtomicBool,
    stop_lease: AtomicBool,
    /// Set by a shutdown: after it, nothing waits for Redis any more.
    deadline: OnceLock<Instant>,
    counters: Counters,
    reconnects: Arc<AtomicU64>,
}

/// A lock that survives a panic elsewhere (nothing in these maps is left half-updated).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn metrics(&self) -> Metrics {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::SeqCst);
        let held = lock(&self.held).len() as u64;
        Metrics {
            read: g(&c.read),
            claimed: g(&c.claimed),
            acked: g(&c.acked),
            dead_lettered: DeadCounts {
                failed: g(&c.failed),
                timed_out: g(&c.timed_out),
                panicked: g(&c.panicked),
                deadline_exceeded: g(&c.deadline_exceeded),
                deliveries: g(&c.deliveries),
                undecodable: g(&c.undecodable),
            },
            released: g(&c.released),
            leases_lost: g(&c.leases_lost),
            acks_refused: g(&c.acks_refused),
            held,
            reconnects: self.reconnects.load(Ordering::SeqCst),
            errors: g(&c.errors),
            max_renewal_gap_ms: g(&c.max_renewal_gap_ms),
        }
    }

    fn dead_counter(&self, reason: DeadReason) -> &AtomicU64 {
        let c = &self.counters;
        match reason {
            DeadReason::Failed => &c.failed,
            DeadReason::TimedOut => &c.timed_out,
            DeadReason::Panicked => &c.panicked,
            DeadReason::DeadlineExceeded => &c.deadline_exceeded,
            DeadReason::Deliveries => &c.deliveries,
            DeadReason::Undecodable => &c.undecodable,
        }
    }

    fn past_deadline(&self) -> bool {
        self.deadline.get().is_some_and(|d| Instant::now() >= *d)
    }

    fn wake_settler(&self) {
        let waker = lock(&self.waker).clone();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Waits until nothing is held or `until` passes; whether nothing is held.
    fn wait_empty(&self, until: Instant) -> bool {
        let mut held = lock(&self.held);
        while !held.is_empty() {
            let now = Instant::now();
            if now >= until {
                return false;
            }
            held = self.room.wait_timeout(held, until - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// Forgets settled entries and tells the reader there is room.
    fn unhold(&self, ids: impl IntoIterator<Item = String>) {
        let mut held = lock(&self.held);
        for id in ids {
            held.remove(&id);
        }
        let wanted = held.len() <= self.in_flight / 2 || self.stop_reading.load(Ordering::SeqCst);
        drop(held);
        // The reader waits for half the places to be free, a shutdown for none held.
        if wanted {
            self.room.notify_all();
        }
    }

    fn tell(&self, entry_id: &str, job_id: &str, outcome: Outcome, attempts: u32) {
        if let Some(observer) = &self.on_settle {
            let settled = Settled {
                entry_id: entry_id.to_owned(),
                job_id: job_id.to_owned(),
                outcome,
                attempts,
            };
            observer(&settled);
        }
    }

    /// Settles entries in one script call (at most [`SETTLE_BATCH`]); whether each was still
    /// ours (and so acked, dead-lettered or released) or refused.
    fn settle_steps(&self, conn: &mut Conn, steps: &[(&str, &Step)]) -> Result<Vec<bool>, OpError> {
        debug_assert!(steps.len() <= SETTLE_BATCH);
        let reply: Vec<i64> = conn.run(&|| self.past_deadline(), |c| {
            let mut call = scripts::SETTLE.key(&self.keys.stream);
            call.key(&self.keys.dead)
                .arg(&self.group)
                .arg(&self.name)
                .arg(PARKING_CONSUMER)
                .arg(RELEASED_IDLE_MS)
                .arg(self.dead_max_len);
            for (id, step) in steps {
                match step {
                    Step::Ack => call.arg("a").arg(*id).arg("").arg("").arg(""),
                    Step::Dead { reason, attempts, text } => {
                        call.arg("d").arg(*id).arg(reason.as_str()).arg(*attempts).arg(text)
                    }
                    Step::Release => call.arg("r").arg(*id).arg("").arg("").arg(""),
                };
            }
            call.invoke(c)
        })?;
        Ok(per_id(reply, steps.len()))
    }

    /// Releases one entry; whether it was still ours.
    fn release(&self, conn: &mut Conn, id: &str) -> Result<bool, OpError> {
        Ok(self.settle_steps(conn, &[(id, &Step::Release)])?[0])
    }

    /// Dead-letters one entry; whether it was still ours.
    fn dead(
        &self,
        conn: &mut Conn,
        id: &str,
        reason: DeadReason,
        attempts: u32,
        error: &str,
    ) -> Result<bool, OpError> {
        let step = Step::dead(reason, attempts, error);
        Ok(self.settle_steps(conn, &[(id, &step)])?[0])
    }

    /// The end of a settlement that Redis refused with an error, or could not be reached for
    /// before the deadline: the entry is no longer renewed, so another consumer recovers it
    /// after the lease. Counted as lost.
    fn give_up(&self, e: &OpError) {
        if matches!(e, OpError::Reply(_)) {
            add(&self.counters.errors, 1);
        }
    }
}

/// What to do with an entry this consumer still owns.
enum Step {
    /// XACK and XDEL: its job succeeded.
    Ack,
    /// To the dead stream, with why, then XACK and XDEL.
    Dead { reason: DeadReason, attempts: u32, text: String },
    /// Given back without spending a delivery.
    Release,
}

impl Step {
    fn dead(reason: DeadReason, attempts: u32, error: &str) -> Self {
        let mut text = error.to_owned();
        if text.len() > MAX_ERROR_TEXT {
            let mut end = MAX_ERROR_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        Step::Dead { reason, attempts, text }
    }

    /// The outcome once done, and the counter it goes to.
    fn done<'a>(&self, sh: &'a Shared) -> (Outcome, &'a AtomicU64) {
        match self {
            Step::Ack => (Outcome::Acked, &sh.counters.acked),
            Step::Dead { reason, .. } => (Outcome::DeadLettered(*reason), sh.dead_counter(*reason)),
            Step::Release => (Outcome::Released, &sh.counters.released),
        }
    }
}

fn per_id(reply: Vec<i64>, n: usize) -> Vec<bool> {
    let mut out: Vec<bool> = reply.into_iter().map(|r| r == 1).collect();
    out.resize(n, false);
    out
}

/// A name unique per process start: prefix (the host name by default), process id, and 48
/// random bits.
fn unique_name(prefix: Option<&str>) -> String {
    let prefix = match prefix {
        Some(p) => p.to_owned(),
        None => std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "host".into()),
    };
    format!("{prefix}-{}-{:012x}", std::process::id(), random() & 0xffff_ffff_ffff)
}

/// Random bits from std's per-process random hash keys and the clock.
pub(crate) fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

fn create_group(conn: &mut Conn, stream: &str, group: &str) -> Result<(), Error> {
    let r: Result<Value, OpError> = conn.run(&|| true, |c| {
        redis::cmd("XGROUP").arg("CREATE").arg(stream).arg(group).arg("0").arg("MKSTREAM").query(c)
    });
    match r {
        Ok(_) => Ok(()),
        Err(OpError::Reply(e)) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(OpError::Reply(e)) => Err(classify(e)),
        Err(OpError::GaveUp) => {
            Err(Error::Connect("the connection broke while creating the group".into()))
        }
    }
}

// --- the reader ---------------------------------------------------------------------------------

/// A job submitted to the pool, waiting for the settler.
struct Running<E> {
    held: Arc<Held>,
    handle: JobHandle<u32, E>,
    cancel_sent: bool,
}

/// An entry as read or claimed: id, fields, deliveries.
struct Taken {
    id: String,
    fields: Value,
    deliveries: u64,
}

fn read<S, F, Fut, E>(
    sh: Arc<Shared>,
    mut conn: Conn,
    pool: Pool<S>,
    handler: Arc<F>,
    inbox: Arc<Mutex<Vec<Running<E>>>>,
) -> Conn
where
    S: Send + Sync + 'static,
    F: Fn(Delivery, Attempt) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    let mut cursor = String::from("0-0");
    let mut next_claim = Instant::now();
    let mut pause = Duration::from_millis(50);
    while !sh.stop_reading.load(Ordering::SeqCst) {
        let free = {
            // Read in batches: wait until half the places are free (or, for long jobs, until
            // the claim interval has passed with at least one free), not one entry per ack.
            let mut held = lock(&sh.held);
            let until = Instant::now() + sh.claim_interval;
            while held.len() > sh.in_flight - sh.in_flight.div_ceil(2)
                && !sh.stop_reading.load(Ordering::SeqCst)
            {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                held = sh.room.wait_timeout(held, until - now).unwrap_or_else(|e| e.into_inner()).0;
            }
            sh.in_flight.saturating_sub(held.len())
        };
        if free == 0 || sh.stop_reading.load(Ordering::SeqCst) {
            continue;
        }
        let stop = || sh.stop_reading.load(Ordering::SeqCst);
        let result = if Instant::now() >= next_claim {
            next_claim = Instant::now() + sh.claim_interval;
            claim(&sh, &mut conn, &stop, &mut cursor, free).map(|(taken, more)| {
                if more {
                    next_claim = Instant::now();
                }
                (taken, true)
            })
        } else {
            let started = Instant::now();
            match read_new(&sh, &mut conn, &stop, free) {
                // A read that took longer than half a lease (a stopped process, a slow
                // network) may hold entries already claimed by others: check them first.
                Ok(taken) if started.elapsed() > sh.lease / 2 && !taken.is_empty() => {
                    Ok((keep_owned(&sh, &mut conn, taken), false))
                }
                other => other.map(|taken| (taken, false)),
            }
        };
        match result {
            Ok((taken, claimed)) => {
                pause = Duration::from_millis(50);
                take(&sh, &mut conn, &pool, &handler, &inbox, taken, claimed);
            }
            Err(OpError::GaveUp) => break,
            Err(OpError::Reply(e)) => {
                add(&sh.counters.errors, 1);
                if e.code() == Some("NOGROUP") {
                    let _ = create_group(&mut conn, &sh.keys.stream, &sh.group);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
    conn
}

/// Of entries read late, those still ours (their leases renewed); the others counted lost.
fn keep_owned(sh: &Shared, conn: &mut Conn, taken: Vec<Taken>) -> Vec<Taken> {
    let ids: Vec<&str> = taken.iter().map(|t| t.id.as_str()).collect();
    let lost = match renew_ids(sh, conn, &ids) {
        Ok(lost) => lost,
        Err(_) => return taken, // the lease thread will tell
    };
    let (kept, gone): (Vec<Taken>, Vec<Taken>) =
        taken.into_iter().partition(|t| !lost.contains(&t.id));
    add(&sh.counters.read, gone.len() as u64);
    add(&sh.counters.leases_lost, gone.len() as u64);
    kept
}

fn read_new(
    sh: &Shared,
    conn: &mut Conn,
    stop: &dyn Fn() -> bool,
    count: usize,
) -> Result<Vec<Taken>, OpError> {
    let block = sh.claim_interval.as_millis() as u64;
    let reply: Value = conn.run(stop, |c| {
        redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&sh.group)
            .arg(&sh.name)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block)
            .arg("STREAMS")
            .arg(&sh.keys.stream)
            .arg(">")
            .query(c)
    })?;
    let mut out = Vec::new();
    for stream in array(&reply) {
        let Some(entries) = array(stream).get(1) else { continue };
        for e in array(entries) {
            let parts = array(e);
            if let Some(id) = parts.first().and_then(string) {
                let fields = parts.get(1).cloned().unwrap_or(Value::Nil);
                out.push(Taken { id, fields, deliveries: 1 });
            }
        }
    }
    Ok(out)
}

/// One XAUTOCLAIM step (in the claim script); the entries to run, and whether to go on now.
fn claim(
    sh: &Shared,
    conn: &mut Conn,
    stop: &dyn Fn() -> bool,
    cursor: &mut String,
    count: usize,
) -> Result<(Vec<Taken>, bool), OpError> {
    let lease = sh.lease.as_millis() as u64;
    let reply: Value = conn.run(stop, |c| {
        scripts::CLAIM
            .key(&sh.keys.stream)
            .key(&sh.keys.dead)
            .arg(&sh.group)
            .arg(&sh.name)
            .arg(lease)
            .arg(cursor.as_str())
            .arg(count)
            .arg(sh.max_deliveries)
            .arg(sh.dead_max_len)
            .invoke(c)
    })?;
    let parts = array(&reply);
    let next = parts.first().and_then(string).unwrap_or_else(|| "0-0".into());
    let mut out = Vec::new();
    for e in parts.get(1).map(array).unwrap_or(&[]) {
        let f = array(e);
        let (Some(id), Some(n)) = (f.first().and_then(string), f.get(2).and_then(int)) else {
            continue;
        };
        out.push(Taken {
            id,
            fields: f.get(1).cloned().unwrap_or(Value::Nil),
            deliveries: n.max(1) as u64,
        });
    }
    let dead = parts.get(2).map(array).unwrap_or(&[]);
    add(&sh.counters.claimed, dead.len() as u64);
    add(&sh.counters.deliveries, dead.len() as u64);
    for id in dead.iter().filter_map(string) {
        sh.tell(&id, "", Outcome::DeadLettered(DeadReason::Deliveries), 0);
    }
    let more = next != "0-0" && !out.is_empty();
    *cursor = next;
    Ok((out, more))
}

fn take<S, F, Fut, E>(
    sh: &Shared,
    conn: &mut Conn,
    pool: &Pool<S>,
    handler: &Arc<F>,
    inbox: &Mutex<Vec<Running<E>>>,
    taken: Vec<Taken>,
    claimed: bool,
) where
    S: Send + Sync + 'static,
    F: Fn(Delivery, Attempt) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    // Hold the whole batch first, so that its leases are renewed while the entries wait their
    // turn here (a slow validator, a pool without room).
    let mut batch = Vec::with_capacity(taken.len());
    {
        let mut held = lock(&sh.held);
        for t in taken {
            // Our own entry, recovered by our own XAUTOCLAIM after its renewals failed for a
            // lease (Redis was unreachable): it is already held and running here.
            if held.contains_key(&t.id) {
                continue;
            }
            let job_id = array(&t.fields)
                .chunks(2)
                .find(|p| bytes(&p[0]) == Some(b"id"))
                .and_then(|p| p.get(1).and_then(string))
                .unwrap_or_default();
            let h =
                Arc::new(Held { entry_id: t.id.clone(), job_id, state: AtomicU8::new(RUNNING) });
            held.insert(t.id.clone(), Arc::clone(&h));
            batch.push((t, h));
        }
    }
    add(if claimed { &sh.counters.claimed } else { &sh.counters.read }, batch.len() as u64);
    for (t, held) in batch {
        if sh.stop_reading.load(Ordering::SeqCst) {
            if held.settle() {
                release_now(sh, conn, &held);
            }
            sh.unhold([t.id]);
            continue;
        }
        let delivery = decode(&t.id, &t.fields, t.deliveries).and_then(|d| match &sh.validate {
            Some(check) => check(&d).map(|()| d),
            None => Ok(d),
        });
        let delivery = match delivery {
            Ok(d) => d,
            Err(why) => {
                // (If the lease thread found it lost meanwhile, it counted it.)
                if held.settle() {
                    let done = sh.dead(conn, &t.id, DeadReason::Undecodable, 0, &why);
                    let dead = Outcome::DeadLettered(DeadReason::Undecodable);
                    report_one(sh, &held, done, &sh.counters.undecodable, dead);
                }
                sh.unhold([t.id]);
                continue;
            }
        };
        if held.is_lost() {
            // Lost (and counted) while it waited in this batch: another consumer runs it.
            sh.tell(&held.entry_id, &held.job_id, Outcome::Lost, 0);
            sh.unhold([t.id]);
            continue;
        }
        let h = Arc::clone(handler);
        let d = delivery.clone();
        let mut job = Job::new(move |attempt: Attempt| {
            let run = h(d.clone(), attempt);
            async move { run.await.map(|()| attempt.number()) }
        });
        if let Some(timeout) = delivery.timeout() {
            job = job.timeout(timeout);
        }
        if let Some(retries) = delivery.retries() {
            job = job.retries(retries.min(sh.max_retries));
        }
        let submitted = match pool.try_submit(job) {
            Ok(handle) => Ok(handle),
            Err(SubmitError::Full(job)) => {
                sh.wake_settler();
                workcrew::native::block_on(pool.submit(job))
            }
            Err(closed) => Err(closed),
        };
        match submitted {
            Ok(handle) => {
                lock(inbox).push(Running { held, handle, cancel_sent: false });
            }
            Err(_) => {
                // The pool is closed: nothing more can run here.
                sh.stop_reading.store(true, Ordering::SeqCst);
                if held.settle() {
                    release_now(sh, conn, &held);
                }
                sh.unhold([t.id]);
            }
        }
    }
    sh.wake_settler();
}

/// Releases one entry from the reader (shutdown began, or the pool closed), and counts it.
fn release_now(sh: &Shared, conn: &mut Conn, held: &Held) {
    let done = sh.release(conn, &held.entry_id);
    report_one(sh, held, done, &sh.counters.released, Outcome::Released);
}

/// Counts and reports a settlement the reader made itself: `outcome`, counted in `counter`, if
/// the script did it; otherwise the entry was no longer ours (or Redis could not be reached),
/// and it is counted as a lost lease.
fn report_one(
    sh: &Shared,
    held: &Held,
    done: Result<bool, OpError>,
    counter: &AtomicU64,
    outcome: Outcome,
) {
    let outcome = match done {
        Ok(true) => {
            add(counter, 1);
            outcome
        }
        Ok(false) => {
            add(&sh.counters.leases_lost, 1);
            Outcome::Lost
        }
        Err(e) => {
            sh.give_up(&e);
            add(&sh.counters.leases_lost, 1);
            Outcome::Lost
        }
    };
    sh.tell(&held.entry_id, &held.job_id, outcome, 0);
}

// --- the lease thread ---------------------------------------------------------------------------

fn renew_ids(sh: &Shared, conn: &mut Conn, ids: &[&str]) -> Result<Vec<String>, OpError> {
    let mut lost = Vec::new();
    for chunk in ids.chunks(RENEW_BATCH) {
        let reply: Vec<String> = conn.run(&|| sh.stop_lease.load(Ordering::SeqCst), |c| {
            let mut call = scripts::RENEW.key(&sh.keys.stream);
            call.arg(&sh.group).arg(&sh.name);
            for id in chunk {
                call.arg(*id);
            }
            call.invoke(c)
        })?;
        lost.extend(reply);
    }
    Ok(lost)
}

fn renew(sh: Arc<Shared>, mut conn: Conn) -> Conn {
    let every = sh.lease / 3;
    // The end of the last pass that renewed something.
    let mut last: Option<Instant> = None;
    while !sh.stop_lease.load(Ordering::SeqCst) {
        let started = Instant::now();
        let held: Vec<Arc<Held>> =
            lock(&sh.held).values().filter(|h| !h.is_lost()).cloned().collect();
        if held.is_empty() {
            last = None;
        } else {
            let ids: Vec<&str> = held.iter().map(|h| h.entry_id.as_str()).collect();
            let renewed = renew_ids(&sh, &mut conn, &ids);
            let now = Instant::now();
            if let Some(before) = last {
                let gap = now.duration_since(before).as_millis() as u64;
                sh.counters.max_renewal_gap_ms.fetch_max(gap, Ordering::SeqCst);
            }
            last = Some(now);
            match renewed {
                Ok(lost) if !lost.is_empty() => {
                    let mut any = false;
                    for h in held.iter().filter(|h| lost.contains(&h.entry_id)) {
                        // An entry being settled is the settler's to count.
                        if h.lose() {
                            add(&sh.counters.leases_lost, 1);
                            any = true;
                        }
                    }
                    if any {
                        sh.wake_settler();
                    }
                }
                Ok(_) => {}
                Err(OpError::Reply(_)) => add(&sh.counters.errors, 1),
                Err(OpError::GaveUp) => break,
            }
        }
        let next = started + every;
        while !sh.stop_lease.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= next {
                break;
            }
            std::thread::park_timeout(next - now);
        }
    }
    conn
}

/// A job that ended: its entry and its result (the attempts it took, or why it failed).
type Finished<E> = (Arc<Held>, Result<u32, JobError<E>>);

// --- the settler --------------------------------------------------------------------------------

/// One pass over the running jobs: new ones from the inbox, cancellations asked for, and the
/// handles that have resolved.
fn poll_round<E: 'static>(
    sh: &Shared,
    cx: &mut std::task::Context<'_>,
    running: &mut Vec<Running<E>>,
    inbox: &Mutex<Vec<Running<E>>>,
) -> Vec<Finished<E>> {
    *lock(&sh.waker) = Some(cx.waker().clone());
    running.append(&mut lock(inbox));
    let cancel_all = sh.cancel_all.load(Ordering::SeqCst);
    let mut done = Vec::new();
    let mut i = 0;
    while i < running.len() {
        let r = &mut running[i];
        if !r.cancel_sent && (cancel_all || r.held.is_lost()) {
            r.handle.cancel();
            r.cancel_sent = true;
        }
        match Pin::new(&mut r.handle).poll(cx) {
            Poll::Ready(out) => {
                let r = running.swap_remove(i);
                done.push((r.held, out));
            }
            Poll::Pending => i += 1,
        }
    }
    done
}

fn settle<E: fmt::Display + Send + 'static>(
    sh: Arc<Shared>,
    mut conn: Conn,
    inbox: Arc<Mutex<Vec<Running<E>>>>,
) -> Conn {
    let mut running: Vec<Running<E>> = Vec::new();
    loop {
        let finished = workcrew::native::block_on(poll_fn(|cx| {
            let done = poll_round(&sh, cx, &mut running, &inbox);
            if !done.is_empty() {
                return Poll::Ready(Some(done));
            }
            if sh.past_deadline() || (sh.stop_settler.load(Ordering::SeqCst) && running.is_empty())
            {
                return Poll::Ready(None);
            }
            Poll::Pending
        }));
        match finished {
            Some(done) => settle_done(&sh, &mut conn, done),
            None => break,
        }
    }
    // Jobs still running past the deadline are detached; their entries stay pending and are
    // recovered by another consumer after the lease.
    drop(running);
    conn
}

/// Settles the jobs that ended: those lost meanwhile are refused here; all the others go to
/// Redis together, in one script call per [`SETTLE_BATCH`] entries, which acks, dead-letters
/// or releases each one still ours and refuses each one that is not.
fn settle_done<E: fmt::Display>(sh: &Shared, conn: &mut Conn, done: Vec<Finished<E>>) {
    let mut settled_ids = Vec::with_capacity(done.len());
    let mut batch: Vec<(Arc<Held>, u32, Step)> = Vec::with_capacity(done.len());
    for (held, out) in done {
        let attempts = match &out {
            Ok(n) => *n,
            Err(e) => e.attempts(),
        };
        if !held.settle() {
            // Lost (and counted) while it ran or waited: its settlement is refused, whether the
            // job ended anyway or was cancelled because of the loss.
            add(&sh.counters.acks_refused, 1);
            sh.tell(&held.entry_id, &held.job_id, Outcome::Lost, attempts);
            settled_ids.push(held.entry_id.clone());
            continue;
        }
        let step = match &out {
            Ok(_) => Step::Ack,
            // Not run (or not to its end) for a reason of this process, or not run because the
            // service is failing: given back, for this consumer or another, later.
            Err(JobError::Cancelled { .. } | JobError::CircuitOpen { .. }) => Step::Release,
            Err(JobError::Failed { error, .. }) => {
                Step::dead(DeadReason::Failed, attempts, &error.to_string())
            }
            Err(JobError::TimedOut { .. }) => {
                Step::dead(DeadReason::TimedOut, attempts, "timed out")
            }
            Err(JobError::Panicked { message, .. }) => {
                Step::dead(DeadReason::Panicked, attempts, message.as_deref().unwrap_or("panicked"))
            }
            Err(JobError::DeadlineExceeded { .. }) => {
                Step::dead(DeadReason::DeadlineExceeded, attempts, "deadline exceeded")
            }
            // An end a later workcrew adds: a final failure, with its text.
            Err(e) => Step::dead(DeadReason::Failed, attempts, &e.to_string()),
        };
        batch.push((held, attempts, step));
    }
    for chunk in batch.chunks(SETTLE_BATCH) {
        let steps: Vec<(&str, &Step)> =
            chunk.iter().map(|(h, _, step)| (h.entry_id.as_str(), step)).collect();
        let result = sh.settle_steps(conn, &steps);
        for (i, (held, attempts, step)) in chunk.iter().enumerate() {
            let outcome = match &result {
                Ok(ok) if ok[i] => {
                    let (outcome, counter) = step.done(sh);
                    add(counter, 1);
                    outcome
                }
                Ok(_) => {
                    // Claimed by another consumer before the lease thread saw it: refused.
                    add(&sh.counters.leases_lost, 1);
                    add(&sh.counters.acks_refused, 1);
                    Outcome::Lost
                }
                Err(e) => {
                    if i == 0 {
                        sh.give_up(e);
                    }
                    add(&sh.counters.leases_lost, 1);
                    Outcome::Lost
                }
            };
            sh.tell(&held.entry_id, &held.job_id, outcome, *attempts);
            settled_ids.push(held.entry_id.clone());
        }
    }
    sh.unhold(settled_ids);
}
