//! The pool on tokio's multi-threaded runtime: `tokio::spawn` runs the workers,
//! `tokio::time::sleep` is the sleeper.

use workcrew_runtimes::{builder, exit, scenario};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (pool, workers) = builder(tokio::time::sleep).build_workers().expect("valid options");
    for worker in workers {
        tokio::spawn(worker);
    }
    exit("tokio", scenario(pool, tokio::time::sleep).await)
}
