//! **workcrew-redis**: [workcrew](https://docs.rs/workcrew) pools on many machines, fed from a
//! Redis Streams consumer group, that survive a consumer killed mid-job.
//!
//! * A [`Producer`] enqueues jobs: a job id (the idempotency key), a payload of bytes (or
//!   JSON), and optional per-job timeout and retries.
//! * A [`Consumer`] reads the group's entries into a workcrew [`Pool`](workcrew::Pool), only as
//!   many as it has free places; acks (and deletes) an entry when its job succeeds; moves it to
//!   a dead-letter stream with its reason, attempts and deliveries when the job finally fails,
//!   in one atomic script; releases it, without spending a delivery, when the job is cancelled
//!   (a shutdown, for one); renews the leases of the entries it holds; recovers entries whose
//!   consumer died, after their lease; and dead-letters entries delivered more than
//!   `max_deliveries` times without running them.
//!
//! Delivery is **at least once**: a job runs again when its consumer dies (or stalls past its
//! lease) before the ack. Make its effect happen once by committing it together with the job
//! id, as in the consumer example (`docs/redis.md` has the pattern).
//!
//! The adapter uses blocking connections of the [`redis`] crate on threads of its own (three
//! per consumer), so it needs no async runtime: it works the same with workcrew's built-in
//! runtime, with smol or with tokio.
//!
//! Features: `tls` adds `rediss://` (the `redis` crate's rustls support, ring as provider;
//! `Redis::tls_root_ca` for a private authority). `docs/redis.md` in the repository has the
//! delivery semantics, sizing, deployment and the benchmark.
//!
//! ```no_run
//! use std::time::Duration;
//! use workcrew::Pool;
//! use workcrew_redis::{Consumer, Enqueue, Producer, Redis};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let redis = Redis::from_env()?; // WORKCREW_REDIS_URL, WORKCREW_REDIS_PASSWORD, ...
//!
//! let mut producer = Producer::connect(&redis, "emails")?;
//! producer.enqueue(&Enqueue::json("welcome-7", &serde_json::json!({ "user": 7 }))?.retries(2))?;
//!
//! let pool = Pool::builder().workers(8).timeout(Duration::from_secs(30)).build()?;
//! let consumer = Consumer::builder(redis, "emails")
//!     .lease(Duration::from_secs(30))
//!     .max_deliveries(5)
//!     .start(pool, |delivery, _attempt| async move {
//!         let msg: serde_json::Value = delivery.json().map_err(|e| e.to_string())?;
//!         // ... send it, keyed by delivery.job_id() so that a redelivery sends nothing ...
//!         # let _ = msg;
//!         Ok::<(), String>(())
//!     })?;
//!
//! // ... until the process is asked to stop:
//! let report = consumer.shutdown();
//! assert!(report.metrics.adds_up());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod conn;
mod consumer;
mod entry;
mod error;
mod metrics;
mod producer;
mod scripts;

pub use conn::{Redis, ENV_PASSWORD, ENV_URL, ENV_USERNAME};
pub use consumer::{Consumer, ConsumerBuilder, Outcome, Settled, ShutdownReport, PARKING_CONSUMER};
pub use entry::{Delivery, Keys, MAX_JOB_ID_LEN};
pub use error::Error;
pub use metrics::{DeadCounts, DeadReason, Metrics};
pub use producer::{Enqueue, Enqueued, Producer};
