//! The pool on embassy-executor (its std platform, one thread): each worker is an embassy task,
//! and `embassy_time::Timer` is the sleeper. Embassy tasks are not generic: each takes a
//! `workcrew::Worker`, the workers' one nameable type.

use std::time::Duration;

use embassy_executor::Spawner;
use workcrew::Worker;
use workcrew_runtimes::{builder, exit, scenario};

fn sleep(d: Duration) -> embassy_time::Timer {
    embassy_time::Timer::after(embassy_time::Duration::from_micros(d.as_micros() as u64))
}

#[embassy_executor::task(pool_size = 2)]
async fn worker(work: Worker) {
    work.await
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let (pool, workers) = builder(sleep).build_workers().expect("valid options");
    for work in workers {
        spawner.spawn(worker(work).expect("a task slot per worker"));
    }
    exit("embassy", scenario(pool, sleep).await)
}
