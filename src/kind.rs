//! The two kinds of pool, one core: [`Pool`](crate::Pool), whose jobs (and observer) may move
//! between threads, and [`LocalPool`](crate::LocalPool) for single-threaded executors (the
//! browser, embedded), whose jobs may hold `!Send` values such as JavaScript objects. The core
//! is generic over the kind; only the bounds differ.

use crate::cell::RunJob;
use crate::sync::Arc;
use crate::JobEvent;

/// The kind of a [`Pool`](crate::Pool): its jobs and observer are `Send`, so they may move
/// between threads.
#[derive(Debug)]
pub(crate) enum SendKind {}

/// The kind of a [`LocalPool`](crate::LocalPool), for single-threaded executors (the browser,
/// embedded): its jobs and observer need not be `Send`.
#[derive(Debug)]
pub(crate) enum LocalKind {}

/// What differs between the two kinds of pool: the queued reference to a job's cell and the
/// observer's bounds. Everything else is one core, generic over the kind.
pub(crate) trait Kind: 'static {
    /// A job's cell, type-erased: `Send + Sync` for [`SendKind`].
    type Job: ?Sized + RunJob;
    /// A shared reference to a job's cell.
    type Ref: Clone;
    /// The observer a pool of this kind accepts.
    type Observer: ?Sized + Fn(&JobEvent<'_>);
    /// The cell behind a reference.
    fn job(r: &Self::Ref) -> &Self::Job;
}

impl Kind for SendKind {
    type Job = dyn RunJob + Send + Sync;
    type Ref = Arc<Self::Job>;
    type Observer = dyn Fn(&JobEvent<'_>) + Send + Sync;
    fn job(r: &Self::Ref) -> &Self::Job {
        &**r
    }
}

impl Kind for LocalKind {
    type Job = dyn RunJob;
    type Ref = Arc<Self::Job>;
    type Observer = dyn Fn(&JobEvent<'_>);
    fn job(r: &Self::Ref) -> &Self::Job {
        &**r
    }
}
