//! The queue's keys and the format of an entry.
//!
//! A stream entry holds the fields `v` (format, `1`), `id` (the job id), `p` (the payload's
//! bytes), and optionally `timeout_ms` and `retries`. Consumers ignore fields they do not know,
//! so later versions can add some (`priority`, once workcrew's scheduler has priorities)
//! without breaking older consumers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::Value;
use serde::de::DeserializeOwned;

use crate::Error;

/// The longest job id accepted, in bytes.
pub const MAX_JOB_ID_LEN: usize = 512;

/// The keys of one queue. All share the hash tag `{name}`, so on a Redis Cluster a queue lives
/// in one slot and its scripts may touch all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// The stream of jobs: `{name}:stream`.
    pub stream: String,
    /// The dead-letter stream: `{name}:dead`.
    pub dead: String,
    /// The prefix of the producer's idempotency keys: `{name}:id:`.
    pub ids: String,
}

impl Keys {
    /// The keys of queue `name`: 1 to 128 bytes, without braces or whitespace.
    pub fn new(name: &str) -> Result<Self, Error> {
        let bad = |c: char| c == '{' || c == '}' || c.is_whitespace() || c.is_control();
        if name.is_empty() || name.len() > 128 || name.chars().any(bad) {
            return Err(Error::InvalidInput(
                "a queue name is 1 to 128 bytes without braces or whitespace".into(),
            ));
        }
        Ok(Self {
            stream: format!("{{{name}}}:stream"),
            dead: format!("{{{name}}}:dead"),
            ids: format!("{{{name}}}:id:"),
        })
    }
}

pub(crate) fn check_job_id(id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > MAX_JOB_ID_LEN {
        return Err(Error::InvalidInput(format!(
            "a job id is 1 to {MAX_JOB_ID_LEN} bytes, got {}",
            id.len()
        )));
    }
    Ok(())
}

/// One job as it is delivered to the consumer's handler: a cheap handle (clone it freely).
///
/// Its `Debug` output shows the ids and the payload's length, not the payload.
#[derive(Clone)]
pub struct Delivery(Arc<Inner>);

struct Inner {
    entry_id: String,
    job_id: String,
    payload: Vec<u8>,
    deliveries: u64,
    timeout: Option<Duration>,
    retries: Option<u32>,
}

impl Delivery {
    /// The stream entry's id (`<ms>-<seq>`, given by Redis when it was enqueued).
    pub fn entry_id(&self) -> &str {
        &self.0.entry_id
    }

    /// The job id given by the producer: the idempotency key of the job's effect.
    pub fn job_id(&self) -> &str {
        &self.0.job_id
    }

    /// The payload's bytes.
    pub fn payload(&self) -> &[u8] {
        &self.0.payload
    }

    /// The payload decoded from JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.0.payload)?)
    }

    /// How many times Redis has delivered this entry, this delivery included (1 the first
    /// time). Releases do not count.
    pub fn deliveries(&self) -> u64 {
        self.0.deliveries
    }

    /// The per-attempt timeout the producer asked for, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.0.timeout
    }

    /// The retries the producer asked for, if any.
    pub fn retries(&self) -> Option<u32> {
        self.0.retries
    }

    /// The time the entry was enqueued, in milliseconds since the Unix epoch (from its id).
    pub fn enqueued_at_ms(&self) -> Option<u64> {
        entry_ms(&self.0.entry_id)
    }
}

/// The milliseconds part of a stream entry id.
pub(crate) fn entry_ms(entry_id: &str) -> Option<u64> {
    entry_id.split('-').next()?.parse().ok()
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("entry_id", &self.0.entry_id)
            .field("job_id", &self.0.job_id)
            .field("payload_len", &self.0.payload.len())
            .field("deliveries", &self.0.deliveries)
            .finish()
    }
}

/// The longest per-job timeout an entry may ask for.
const MAX_TIMEOUT_MS: u64 = 7 * 24 * 3600 * 1000;

/// Decodes an entry's fields (`[name, value, name, value, ...]`), or says why it cannot be run.
pub(crate) fn decode(entry_id: &str, fields: &Value, deliveries: u64) -> Result<Delivery, String> {
    let Value::Array(items) = fields else {
        return Err("the entry has no fields".into());
    };
    if items.len() % 2 != 0 {
        return Err("the entry's fields are not pairs".into());
    }
    let (mut job_id, mut payload, mut timeout, mut retries, mut version) =
        (None, None, None, None, None);
    for pair in items.chunks(2) {
        let (Some(name), Some(value)) = (bytes(&pair[0]), bytes(&pair[1])) else {
            return Err("a field is not a string".into());
        };
        match name {
            b"v" => version = Some(value),
            b"id" => job_id = Some(value),
            b"p" => payload = Some(value),
            b"timeout_ms" => timeout = Some(value),
            b"retries" => retries = Some(value),
            _ => {} // room for later fields
        }
    }
    if version.is_some_and(|v| v != b"1") {
        return Err("unknown entry format version".into());
    }
    let job_id = match job_id.map(std::str::from_utf8) {
        Some(Ok(id)) if check_job_id(id).is_ok() => id.to_owned(),
        Some(_) => return Err("the job id is not 1 to 512 bytes of UTF-8".into()),
        None => return Err("the entry has no job id (field `id`)".into()),
    };
    let payload = payload.ok_or("the entry has no payload (field `p`)")?.to_vec();
    let timeout = match timeout {
        None => None,
        Some(t) => match parse_u64(t) {
            Some(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Some(Duration::from_millis(ms)),
            _ => return Err("timeout_ms is not a number of ms from 1 to 7 days".into()),
        },
    };
    let retries = match retries {
        None => None,
        Some(r) => match parse_u64(r).and_then(|r| u32::try_from(r).ok()) {
            Some(r) => Some(r),
            None => return Err("retries is not a u32".into()),
        },
    };
    Ok(Delivery(Arc::new(Inner {
        entry_id: entry_id.to_owned(),
        job_id,
        payload,
        deliveries,
        timeout,
        retries,
    })))
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

pub(crate) fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

pub(crate) fn string(v: &Value) -> Option<String> {
    bytes(v).and_then(|b| std::str::from_utf8(b).ok()).map(str::to_owned)
}

pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => bytes(other).and_then(|b| std::str::from_utf8(b).ok()?.parse().ok()),
    }
}

pub(crate) fn array(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a,
        _ => &[],
    }
}
