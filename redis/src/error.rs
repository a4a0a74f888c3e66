//! Everything that can go wrong, as typed values. No message here ever holds a password: the
//! adapter never formats a URL or a connection's settings into an error.

use std::fmt;

/// An error of the adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The Redis URL could not be used (the URL itself is not repeated: it may hold a password).
    InvalidUrl(&'static str),
    /// Redis refused the credentials at connect (`WRONGPASS`, `NOAUTH`, or an ACL user that may
    /// not run a command the adapter needs). Reported at once, never retried.
    Auth(String),
    /// No connection could be made when one was first needed.
    Connect(String),
    /// Redis answered a command with an error, or with a reply the adapter does not understand.
    Redis(String),
    /// A value given to the adapter was invalid (an empty job id, a queue name with a brace, a
    /// zero lease, ...).
    InvalidInput(String),
    /// A payload could not be encoded or decoded as JSON.
    Json(String),
    /// The consumer could not start one of its threads.
    Spawn(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(why) => write!(f, "invalid Redis URL: {why}"),
            Self::Auth(e) => write!(f, "Redis refused the credentials: {e}"),
            Self::Connect(e) => write!(f, "could not connect to Redis: {e}"),
            Self::Redis(e) => write!(f, "Redis error: {e}"),
            Self::InvalidInput(e) => write!(f, "invalid input: {e}"),
            Self::Json(e) => write!(f, "JSON error: {e}"),
            Self::Spawn(e) => write!(f, "could not start a thread: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e.to_string())
    }
}
