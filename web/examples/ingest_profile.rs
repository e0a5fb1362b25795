//! The browser benchmark's ingest and table queries, natively: for profiling the page's hot path
//! with callgrind without a browser (`docs/benchmarks.md`, "Browser app").
//!
//! ```sh
//! cargo build --release -p stalk-web --example ingest_profile
//! TASKS=20000 valgrind --tool=callgrind target/release/examples/ingest_profile
//! ```

use std::time::Instant;

use stalk_web::bench::{frames_of, fresh_model, ingest, queries, workload};

fn main() {
    let tasks: usize = std::env::var("TASKS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(100_000);
    let frames = frames_of(&workload(tasks, tasks, 1.0, 1.8e9), 500);
    let mut model = fresh_model(tasks);
    let started = Instant::now();
    let events = ingest(&mut model, &frames, 0.0);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "ingest: {events} events, {:.0} events/s, {} tasks in memory",
        events as f64 / secs,
        model.state.task_len()
    );
    for (label, filter, key, descending) in queries() {
        let started = Instant::now();
        model.set_query(filter, key, descending);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        println!("{label}: {ms:.1} ms, {} matches", model.query.len());
    }
}
