//! Enqueueing jobs.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use redis::Value;
use serde::Serialize;

use crate::conn::{classify, Conn, OpError};
use crate::entry::{array, check_job_id, int, string, Keys};
use crate::{scripts, Error, Redis};

/// One job to enqueue: a job id (the idempotency key), a payload, and optional per-job
/// options that the consumer applies on top of its pool's defaults.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use workcrew_redis::Enqueue;
///
/// let job = Enqueue::new("order-42", b"payload".to_vec())
///     .timeout(Duration::from_secs(30))
///     .retries(2);
/// assert_eq!(job.job_id(), "order-42");
/// let json = Enqueue::json("order-43", &serde_json::json!({ "sku": 7 }))?;
/// assert_eq!(json.payload(), br#"{"sku":7}"#);
/// # Ok::<_, workcrew_redis::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Enqueue {
    job_id: String,
    payload: Vec<u8>,
    timeout: Option<Duration>,
    retries: Option<u32>,
}

impl Enqueue {
    /// A job with this id and payload.
    pub fn new(job_id: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self { job_id: job_id.into(), payload: payload.into(), timeout: None, retries: None }
    }

    /// A job whose payload is `value` as JSON.
    pub fn json<T: Serialize + ?Sized>(
        job_id: impl Into<String>,
        value: &T,
    ) -> Result<Self, Error> {
        Ok(Self::new(job_id, serde_json::to_vec(value)?))
    }

    /// The per-attempt timeout (whole milliseconds, 1 ms to 7 days).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The retries after a failed attempt (`retries + 1` attempts at most; the consumer may
    /// cap it, see [`ConsumerBuilder::max_retries`](crate::ConsumerBuilder::max_retries)).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// The job id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// What became of an enqueued job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// A new entry was added, with this stream entry id.
    Added(String),
    /// A job with this id was enqueued before (within the idempotency window): nothing was
    /// added; this is the first entry's id.
    Duplicate(String),
}

impl Enqueued {
    /// The stream entry id, new or first.
    pub fn entry_id(&self) -> &str {
        match self {
            Self::Added(id) | Self::Duplicate(id) => id,
        }
    }

    /// Whether this was a duplicate.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Self::Duplicate(_))
    }
}

/// Enqueues jobs into one queue. Blocking; one connection, made again after a failure.
///
/// Each job id is recorded under `{queue}:id:<job id>` in the same script that adds the
/// entry, for [`idempotency_window`](Self::idempotency_window) (default 24 hours): enqueueing
/// the same id again in that window adds nothing and returns [`Enqueued::Duplicate`], so a
/// producer may retry an enqueue whose reply it did not get.
///
/// # Examples
///
/// ```no_run
/// use workcrew_redis::{Enqueue, Producer, Redis};
///
/// let mut producer = Producer::connect(&Redis::from_env()?, "emails")?;
/// let sent = producer.enqueue(&Enqueue::json("welcome-user-7", &serde_json::json!({"to": 7}))?)?;
/// assert!(!sent.is_duplicate());
/// # Ok::<_, workcrew_redis::Error>(())
/// ```
pub struct Producer {
    conn: Conn,
    keys: Keys,
    window: Duration,
    attempts: u32,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("stream", &self.keys.stream).finish_non_exhaustive()
    }
}

/// Jobs per script call in [`Producer::enqueue_many`].
const BATCH: usize = 256;

impl Producer {
    /// Connects to `redis` for queue `queue`. A wrong password or an unreachable server is an
    /// error here, at once.
    pub fn connect(redis: &Redis, queue: &str) -> Result<Self, Error> {
        let keys = Keys::new(queue)?;
        let conn = Conn::open(redis, Duration::ZERO, Arc::new(AtomicU64::new(0)))?;
        Ok(Self { conn, keys, window: Duration::from_secs(24 * 3600), attempts: 5 })
    }

    /// How long a job id is remembered for deduplication (default 24 hours, at least 1 ms).
    pub fn idempotency_window(mut self, window: Duration) -> Self {
        self.window = window.max(Duration::from_millis(1));
        self
    }

    /// The queue's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Enqueues one job.
    pub fn enqueue(&mut self, job: &Enqueue) -> Result<Enqueued, Error> {
        let mut out = self.enqueue_many(std::slice::from_ref(job))?;
        out.pop().ok_or_else(|| Error::Redis("empty reply to an enqueue".into()))
    }

    /// Enqueues jobs in order, 256 per round trip. On an error, the jobs before the failed
    /// batch are enqueued; enqueueing them all again is safe (the duplicates are skipped).
    pub fn enqueue_many(&mut self, jobs: &[Enqueue]) -> Result<Vec<Enqueued>, Error> {
        for job in jobs {
            check_job_id(&job.job_id)?;
            if job
                .timeout
                .is_some_and(|t| t.as_millis() == 0 || t.as_millis() > 7 * 24 * 3600 * 1000)
            {
                return Err(Error::InvalidInput("a job's timeout is 1 ms to 7 days".into()));
            }
        }
        let mut out = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(BATCH) {
            let window = self.window.as_millis().min(u64::MAX as u128) as u64;
            let keys = &self.keys;
            let tries = std::cell::Cell::new(0u32);
            let give_up = || {
                tries.set(tries.get() + 1);
                tries.get() >= self.attempts
            };
            let reply: Value = self
                .conn
                .run(&give_up, |c| {
                    let mut call = scripts::ENQUEUE.key(&keys.stream);
                    call.arg(&keys.ids).arg(window);
                    for job in chunk {
                        call.arg(&job.job_id).arg(&job.payload);
                        match job.timeout {
                            Some(t) => call.arg(t.as_millis() as u64),
                            None => call.arg(""),
                        };
                        match job.retries {
                            Some(r) => call.arg(r),
                            None => call.arg(""),
                        };
                    }
                    call.invoke(c)
                })
                .map_err(|e| match e {
                    OpError::Reply(e) => classify(e),
                    OpError::GaveUp => {
                        Error::Connect("Redis unreachable; gave up after 5 tries".into())
                    }
                })?;
            for item in array(&reply) {
                let pair = array(item);
                let (Some(added), Some(id)) =
                    (pair.first().and_then(int), pair.get(1).and_then(string))
                else {
                    return Err(Error::Redis("unexpected reply to an enqueue".into()));
                };
                out.push(if added == 1 { Enqueued::Added(id) } else { Enqueued::Duplicate(id) });
            }
        }
        if out.len() != jobs.len() {
            return Err(Error::Redis("unexpected reply to an enqueue".into()));
        }
        Ok(out)
    }
}
