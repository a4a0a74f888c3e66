//! `rediss://` with the `tls` feature: a `redis-server` on a TLS port with a certificate of a
//! test authority made here with `openssl`; the adapter trusts that authority.
#![cfg(feature = "tls")]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use workcrew::Pool;
use workcrew_redis::{Consumer, Enqueue, Error, Producer, Redis};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let ok = Command::new("openssl").args(args).current_dir(dir).stderr(Stdio::null()).status();
    assert!(ok.is_ok_and(|s| s.success()), "openssl {args:?}");
}

#[test]
fn rediss_with_a_private_authority() {
    let dir = std::env::temp_dir().join(format!("workcrew-redis-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=workcrew-test-ca",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ],
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _server = Kill(
        Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--tls-cert-file", "server.crt", "--tls-key-file", "server.key"])
            .args(["--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server"),
    );
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    let url = format!("rediss://localhost:{port}");
    let redis = Redis::from_url(&url).unwrap().tls_root_ca(ca);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut producer = loop {
        match Producer::connect(&redis, "tlsq") {
            Ok(p) => break p,
            Err(e) => assert!(Instant::now() < deadline, "no TLS connection: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for i in 0..5 {
        producer.enqueue(&Enqueue::new(format!("t{i}"), b"{}".to_vec())).unwrap();
    }
    let pool = Pool::builder().workers(2).build().unwrap();
    let consumer = Consumer::builder(redis, "tlsq")
        .start(pool, |_, _| async { Ok::<(), String>(()) })
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while consumer.metrics().acked < 5 {
        assert!(Instant::now() < until, "{:?}", consumer.metrics());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(consumer.shutdown().metrics.adds_up());

    // Without the authority (the system's roots), the server is not trusted: an error at connect.
    let untrusted = Redis::from_url(&url).unwrap().connect_timeout(Duration::from_secs(2));
    assert!(matches!(
        Producer::connect(&untrusted, "tlsq"),
        Err(Error::Connect(_) | Error::Redis(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
