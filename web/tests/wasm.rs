//! The State crate and the view models compiled to wasm32 and run by `wasm-bindgen-test-runner`
//! (under Node): the same recordings as the native tests, the same answers. Run with
//! `./stalk test`, or:
//!
//! ```sh
//! CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!   cargo test -p stalk-web --target wasm32-unknown-unknown --test wasm
//! ```
#![cfg(target_arch = "wasm32")]

use stalk_state::{Limits, Receiver, State, TaskState, decode_body, dump};
use stalk_web::model::Model;
use stalk_web::{offline, treeview, vm};
use wasm_bindgen_test::wasm_bindgen_test;

const HAPPY: &str = include_str!("../../shared/tests/fixtures/happy.ndjson");
const RETRY_FAIL: &str = include_str!("../../shared/tests/fixtures/retry_fail.ndjson");
const CANVAS: &str = include_str!("../../shared/tests/fixtures/canvas.ndjson");

/// The State alone: decode and apply every event of a recording, as the native tests do.
fn state_of(recording: &str) -> State {
    let mut state = State::new(Limits::default());
    let mut receiver = Receiver::new();
    for line in recording.lines().filter(|l| !l.trim().is_empty()) {
        for event in decode_body(line.as_bytes()).expect("a JSON body") {
            let mut event = event.expect("an event");
            let at = event.local_received.expect("receiver form").as_f64();
            receiver.normalise(&mut event, at);
            state.apply(&event).expect("applies");
        }
    }
    state
}

#[wasm_bindgen_test]
fn the_state_merges_a_recording_in_wasm() {
    let state = state_of(RETRY_FAIL);
    let failed: Vec<&str> = state
        .tasks()
        .filter(|(_, t)| t.state == TaskState::Failure)
        .filter_map(|(_, t)| t.name())
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    let visit = state
        .tasks()
        .map(|(_, t)| t)
        .find(|t| t.name() == Some("example_app.tasks.visit"))
        .expect("the visit task");
    assert_eq!(visit.state, TaskState::Failure);
    assert_eq!(visit.info.retries.as_num().map(|n| n.as_f64()), Some(3.0));
    // The canonical dump is the same JSON natively and here (numbers, strings, nulls).
    let d = dump::dump(&state, 0.0);
    assert_eq!(d["tasks"].as_object().map(|t| t.len()), Some(3));
    assert_eq!(d["tasks"][&*visit.uuid]["state"], "FAILURE");
}

#[wasm_bindgen_test]
fn view_models_in_wasm() {
    let mut m = Model::new(Limits::default(), 1000);
    let (events, bad) = m.load_recording(HAPPY);
    assert_eq!((events, bad), (47, 0));
    let rows = vm::task_rows(&m.state, &m.query.window(0, 100));
    assert_eq!(rows.len(), 11);
    assert!(rows.iter().all(|r| r.state == "SUCCESS"));
    let visit = rows
        .iter()
        .find(|r| r.name == "example_app.tasks.visit")
        .expect("a visit");
    let tree = vm::tree_nodes(&m.state, &visit.uuid);
    assert_eq!(tree.len(), 3);
    let lines = treeview::layout(&tree, &treeview::Folding::default());
    assert_eq!(lines.len(), 3, "a chain: one line per task");
    assert_eq!(vm::state_counts(&m.state), [("SUCCESS".to_owned(), 11)]);
    // The event log exports what it holds, and the export reads back.
    let (text, written, skipped) = m.events.export_ndjson();
    assert_eq!((written, skipped), (47, 0));
    assert_eq!(offline::parse_recording(&text).events.len(), 47);
}

#[wasm_bindgen_test]
fn groups_and_chords_link_in_wasm() {
    let state = state_of(CANVAS);
    let native_like = state
        .tasks()
        .filter(|(_, t)| state.children(t).next().is_some())
        .count();
    assert!(
        native_like > 0,
        "the canvas recording has parents with children"
    );
    let mut m = Model::new(Limits::default(), 1000);
    m.load_recording(CANVAS);
    assert_eq!(m.state.task_len(), state.task_len());
}
