//! Where Redis is and who we are to it ([`Redis`]), and a blocking connection that reconnects
//! with backoff ([`Conn`]), used by the adapter's own threads.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::{ConnectionAddr, ErrorKind, IntoConnectionInfo, RedisError};

use crate::Error;

/// Where Redis is and how to log in: a URL (`redis://[user:password@]host:port[/db]`, or
/// `rediss://` for TLS with the `tls` feature), optionally with the credentials overridden.
///
/// Its `Debug` output shows the address and the user, never the password, and no error of
/// this crate repeats the URL.
///
/// # Examples
///
/// ```
/// use workcrew_redis::Redis;
///
/// let redis = Redis::from_url("redis://worker:s3cret@127.0.0.1:6379/0")?;
/// let shown = format!("{redis:?}");
/// assert!(shown.contains("127.0.0.1") && !shown.contains("s3cret"));
/// # Ok::<_, workcrew_redis::Error>(())
/// ```
#[derive(Clone)]
pub struct Redis {
    info: redis::ConnectionInfo,
    connect_timeout: Duration,
    io_timeout: Duration,
    root_ca: Option<Vec<u8>>,
}

/// The variables [`Redis::from_env`] reads.
pub const ENV_URL: &str = "WORKCREW_REDIS_URL";
/// Overrides the URL's user name (see [`Redis::from_env`]).
pub const ENV_USERNAME: &str = "WORKCREW_REDIS_USERNAME";
/// Overrides the URL's password (see [`Redis::from_env`]).
pub const ENV_PASSWORD: &str = "WORKCREW_REDIS_PASSWORD";

impl Redis {
    /// Redis at `url`. Nothing connects yet.
    ///
    /// Fails with [`Error::InvalidUrl`] for a URL that is not `redis://`, `rediss://` or
    /// `redis+unix://`, or for `rediss://` without the `tls` feature.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let info = url
            .into_connection_info()
            .map_err(|_| Error::InvalidUrl("not a redis://, rediss:// or redis+unix:// URL"))?;
        if !info.addr().is_supported() {
            return Err(Error::InvalidUrl("rediss:// needs the crate's `tls` feature"));
        }
        Ok(Self {
            info,
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(10),
            root_ca: None,
        })
    }

    /// Redis from the environment: the URL in `WORKCREW_REDIS_URL` (default
    /// `redis://127.0.0.1:6379`), with the user and password replaced by
    /// `WORKCREW_REDIS_USERNAME` and `WORKCREW_REDIS_PASSWORD` when set, so that a secret need not
    /// be part of a URL that ends up in a process list.
    pub fn from_env() -> Result<Self, Error> {
        let url = std::env::var(ENV_URL).unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let mut redis = Self::from_url(&url)?;
        if let Ok(user) = std::env::var(ENV_USERNAME) {
            redis = redis.username(&user);
        }
        if let Ok(password) = std::env::var(ENV_PASSWORD) {
            redis = redis.password(&password);
        }
        Ok(redis)
    }

    /// Logs in as `user` (an ACL user) instead of the URL's.
    pub fn username(mut self, user: &str) -> Self {
        let settings = self.info.redis_settings().clone().set_username(user);
        self.info = self.info.set_redis_settings(settings);
        self
    }

    /// Logs in with `password` instead of the URL's.
    pub fn password(mut self, password: &str) -> Self {
        let settings = self.info.redis_settings().clone().set_password(password);
        self.info = self.info.set_redis_settings(settings);
        self
    }

    /// Trusts the certificate authority in `pem` (PEM bytes) for `rediss://` servers, instead
    /// of the system's roots (`tls` feature).
    #[cfg(feature = "tls")]
    pub fn tls_root_ca(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_ca = Some(pem.into());
        self
    }

    /// How long a connection attempt may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a command's reply may take before the connection is dropped and made again
    /// (default 10 s; a blocking read adds its own wait to it).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// A new connection, or the reason there is none, with an authentication failure told
    /// apart from everything else.
    pub(crate) fn connect(&self, extra_read_wait: Duration) -> Result<redis::Connection, Error> {
        let client =
            self.client().map_err(|_| Error::InvalidUrl("the connection settings were refused"))?;
        let mut conn =
            client.get_connection_with_timeout(self.connect_timeout).map_err(classify)?;
        let io = Some(self.io_timeout + extra_read_wait);
        conn.set_read_timeout(io).map_err(classify)?;
        conn.set_write_timeout(Some(self.io_timeout)).map_err(classify)?;
        // A server that wants a password and got none answers NOAUTH only to a command.
        redis::cmd("PING").query::<()>(&mut conn).map_err(classify)?;
        Ok(conn)
    }
}

impl Redis {
    #[cfg(not(feature = "tls"))]
    fn client(&self) -> redis::RedisResult<redis::Client> {
        let _ = &self.root_ca;
        redis::Client::open(self.info.clone())
    }

    #[cfg(feature = "tls")]
    fn client(&self) -> redis::RedisResult<redis::Client> {
        // ring, unless the program installed a provider of its own.
        let _ = rustls::crypto::ring::default_provider().install_default();
        match &self.root_ca {
            Some(pem) => redis::Client::build_with_tls(
                self.info.clone(),
                redis::TlsCertificates { client_tls: None, root_cert: Some(pem.clone()) },
            ),
            None => redis::Client::open(self.info.clone()),
        }
    }
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addr = match self.info.addr() {
            ConnectionAddr::Tcp(host, port) => format!("redis://{host}:{port}"),
            ConnectionAddr::TcpTls { host, port, .. } => format!("rediss://{host}:{port}"),
            ConnectionAddr::Unix(path) => format!("redis+unix://{}", path.display()),
            _ => "redis://?".into(),
        };
        let settings = self.info.redis_settings();
        f.debug_struct("Redis")
            .field("addr", &addr)
            .field("db", &settings.db())
            .field("username", &settings.username())
            .field("password", &settings.password().map(|_| "<redacted>"))
            .finish()
    }
}

/// Whether an error means the connection is gone (or in an unknown state) and should be made
/// again, rather than a reply to report.
pub(crate) fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(e.code(), Some("LOADING" | "MASTERDOWN" | "TRYAGAIN" | "BUSY"))
}

fn is_auth_error(e: &RedisError) -> bool {
    e.kind() == ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
}

/// An error of a connection, as this crate's: authentication apart, never a URL.
pub(crate) fn classify(e: RedisError) -> Error {
    if is_auth_error(&e) {
        Error::Auth(e.to_string())
    } else if is_connection_error(&e) {
        Error::Connect(e.to_string())
    } else {
        Error::Redis(e.to_string())
    }
}

/// Why a [`Conn`] operation gave up.
#[derive(Debug)]
pub(crate) enum OpError {
    /// Redis answered with an error that reconnecting would not cure.
    Reply(RedisError),
    /// The caller's deadline passed while Redis was unreachable.
    GaveUp,
}

/// A blocking connection that is made again, with capped exponential backoff and jitter, each
/// time it breaks. An operation is retried until it gets a reply or `give_up` says to stop.
pub(crate) struct Conn {
    redis: Redis,
    extra_read_wait: Duration,
    conn: Option<redis::Connection>,
    reconnects: Arc<AtomicU64>,
    seed: u64,
}

impl Conn {
    /// Connects now: a failure here is the caller's error (a wrong password is not retried).
    pub(crate) fn open(
        redis: &Redis,
        extra_read_wait: Duration,
        reconnects: Arc<AtomicU64>,
    ) -> Result<Self, Error> {
        let conn = redis.connect(extra_read_wait)?;
        let seed = crate::consumer::random() | 1;
        Ok(Self { redis: redis.clone(), extra_read_wait, conn: Some(conn), reconnects, seed })
    }

    /// Runs `op` until it gets a reply. A connection error drops the connection, waits
    /// (50 ms doubling to 2 s, with jitter), reconnects and runs `op` again, as long as
    /// `give_up()` is false.
    pub(crate) fn run<T>(
        &mut self,
        give_up: &dyn Fn() -> bool,
        mut op: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, OpError> {
        let mut delay = Duration::from_millis(50);
        loop {
            if let Some(conn) = self.conn.as_mut() {
                match op(conn) {
                    Ok(v) => return Ok(v),
                    Err(e) if is_connection_error(&e) => self.conn = None,
                    Err(e) => return Err(OpError::Reply(e)),
                }
            }
            if give_up() {
                return Err(OpError::GaveUp);
            }
            std::thread::sleep(self.jitter(delay));
            delay = (delay * 2).min(Duration::from_secs(2));
            if let Ok(conn) = self.redis.connect(self.extra_read_wait) {
                self.reconnects.fetch_add(1, Ordering::Relaxed);
                self.conn = Some(conn);
            }
        }
    }

    /// `d` scaled by a factor in [0.5, 1.0), from a xorshift of this connection.
    fn jitter(&mut self, d: Duration) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let frac = 0.5 + (self.seed % 1000) as f64 / 2000.0;
        d.mul_f64(frac)
    }
}
