//! The in-browser benchmark's entry points, exported to JavaScript (`tools/bench-browser` calls
//! them through WebDriver). They run on a model of their own, never on the page's.

use wasm_bindgen::prelude::wasm_bindgen;

use crate::bench::{frames_of, fresh_model, ingest, queries, workload};

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Feeds the synthetic workload of `tasks` tasks ([`workload`], made before the clock starts) to
/// a fresh model in frames of `batch` events, keeping at most `max_tasks` tasks, then rebuilds
/// the task table with each benchmark filter. Returns JSON: events, ingest milliseconds, tasks in
/// memory, and each query's milliseconds.
#[wasm_bindgen]
pub fn bench_ingest(tasks: usize, batch: usize, max_tasks: usize) -> String {
    let frames = frames_of(&workload(tasks, tasks, 1.0, 1.8e9), batch);
    let mut model = fresh_model(max_tasks);
    let start = now_ms();
    let events = ingest(&mut model, &frames, start / 1000.0);
    let ingest_ms = now_ms() - start;
    let mut timed = Vec::new();
    for (label, filter, key, descending) in queries() {
        let t = now_ms();
        model.set_query(filter, key, descending);
        // What the table then draws: its first screenful of rows.
        let rows = crate::vm::task_rows(&model.state, &model.query.window(0, 40));
        let ms = now_ms() - t;
        timed.push(serde_json::json!({ "query": label, "ms": ms, "matches": model.query.len(), "drawn": rows.len() }));
    }
    serde_json::json!({
        "events": events,
        "ingest_ms": ingest_ms,
        "tasks": model.state.task_len(),
        "bad_input": model.bad_input,
        "queries": timed,
        "wasm_memory_bytes": wasm_memory_bytes(),
    })
    .to_string()
}

/// Bytes of the wasm instance's linear memory (it only grows).
#[wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    use wasm_bindgen::JsCast;
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .map_or(0.0, |m| {
            m.buffer()
                .dyn_into::<js_sys::ArrayBuffer>()
                .map_or(0.0, |b| f64::from(b.byte_length()))
        })
}
