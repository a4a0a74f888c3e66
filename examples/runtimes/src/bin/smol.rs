//! The pool on smol: `smol::spawn` runs the workers on smol's global executor, and
//! `smol::Timer` is the sleeper.

use std::time::Duration;

use workcrew_runtimes::{builder, exit, scenario};

async fn sleep(d: Duration) {
    smol::Timer::after(d).await;
}

fn main() {
    let (pool, workers) = builder(sleep).build_workers().expect("valid options");
    for worker in workers {
        smol::spawn(worker).detach();
    }
    exit("smol", smol::block_on(scenario(pool, sleep)))
}
