//! Fuzz target: any bytes through the decoder, the receiver, the State, the views and the dump.
//! Nothing may panic, and what the decoder reads `strict_json` makes strict JSON.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run decode -- -dict=decode.dict -max_total_time=60`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stalk_state::{Limits, Receiver, State, decode_body};

fuzz_target!(|data: &[u8]| {
    let mut state = State::new(Limits { max_tasks: 4, max_workers: 2 });
    let mut receiver = Receiver::new();
    // Feed the input as one body, then line by line (NDJSON), so batches and sequences both occur.
    for (i, body) in std::iter::once(data).chain(data.split(|&b| b == b'\n')).enumerate() {
        if let Ok(items) = decode_body(body) {
            // What the reader takes, `strict_json` turns into JSON that serde_json takes (the
            // relay forwards that form).
            let text = std::str::from_utf8(body).expect("the reader took it, so it is UTF-8");
            let strict = stalk_state::json::strict_json(text);
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&strict) {
                panic!("{e}: {strict}");
            }
            for mut event in items.into_iter().flatten() {
                receiver.normalise(&mut event, 1000.0 + i as f64);
                let _ = state.apply(&event);
            }
        }
    }
    for (_, task) in state.tasks() {
        let _ = stalk_state::views::tree(&state, &task.uuid);
    }
    let _ = stalk_state::dump::dump(&state, 1500.0);
});
