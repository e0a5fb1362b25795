//! Property tests: hostile input never panics, bounds always hold, links and counts stay
//! consistent, and precedence makes the order of a task's events irrelevant when it never retried.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{Value as Json, json};
use stalk_state::{Limits, Receiver, State, TaskState, decode_body, decode_event};

/// Arbitrary JSON, biased towards event-like objects.
fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Json::from),
        // Long enough to span the reader's 16-byte blocks, with multi-byte characters across
        // their edges.
        "[a-z\\-<>\"\\\\\u{e9}\u{1F600}]{0,40}".prop_map(Json::from),
        prop_oneof![
            Just("task-sent"),
            Just("task-started"),
            Just("task-received"),
            Just("worker-heartbeat"),
            Just("task-x")
        ]
        .prop_map(Json::from),
    ];
    leaf.prop_recursive(3, 40, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("type"),
                        Just("uuid"),
                        Just("hostname"),
                        Just("timestamp"),
                        Just("clock"),
                        Just("parent_id"),
                        Just("root_id"),
                        Just("name"),
                        Just("freq"),
                        Just("pid"),
                        Just("local_received"),
                        Just("children"),
                        Just("state"),
                        Just("x")
                    ]
                    .prop_map(str::to_owned)
                    .boxed()
                    .prop_union("[a-z_\u{e9}\u{1F600}\"]{0,20}".boxed()),
                    inner
                ),
                0..10
            )
            .prop_map(|kv| Json::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_body(&bytes);
        let _ = decode_event(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics_and_errors_have_reasons(values in prop::collection::vec(any_json(), 1..20)) {
        let mut state = State::new(Limits { max_tasks: 3, max_workers: 2 });
        let mut receiver = Receiver::new();
        for (i, v) in values.iter().enumerate() {
            let body = serde_json::to_vec(v).unwrap();
            match decode_body(&body) {
                Ok(items) => for item in items {
                    match item {
                        Ok(mut ev) => {
                            receiver.normalise(&mut ev, 1000.0 + i as f64);
                            let _ = state.apply(&ev);
                        }
                        Err(e) => prop_assert!(!e.reason().is_empty()),
                    }
                },
                Err(e) => prop_assert!(!e.reason().is_empty()),
            }
        }
        let _ = stalk_state::dump::dump(&state, 2000.0);
        for (_, t) in state.tasks() {
            let _ = stalk_state::views::tree(&state, &t.uuid);
        }
    }
}

/// A stream of plausible events over a small alphabet, so tasks collide, link and evict.
fn event_stream() -> impl Strategy<Value = Vec<Json>> {
    let one = (0..8u8, 0..6u8, 0..3u8, 0..9u8, 1..500i64, any::<bool>()).prop_map(|(t, kind, host, parent, clock, has_name)| {
        let ty = ["task-sent", "task-received", "task-started", "task-succeeded", "task-retried", "worker-heartbeat"][kind as usize];
        let mut ev = json!({
            "type": ty, "hostname": format!("w{host}@h"), "clock": clock,
            "timestamp": 1000.0 + clock as f64 / 7.0, "local_received": 1000.0 + clock as f64 / 5.0,
            "uuid": format!("t{t}"), "freq": 2.0,
        });
        if has_name {
            ev["name"] = json!(format!("app.n{}", t % 3));
        }
        if parent < 8 && parent != t {
            ev["parent_id"] = json!(format!("t{parent}"));
            ev["root_id"] = json!("t0");
        }
        ev
    });
    prop::collection::vec(one, 1..120)
}

fn apply_all(state: &mut State, events: &[Json]) {
    for ev in events {
        let bytes = serde_json::to_vec(ev).unwrap();
        state.apply(&decode_event(&bytes).unwrap()).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn bounds_are_never_exceeded_and_counts_match_a_recount(events in event_stream(), max_tasks in 1..6usize, max_workers in 1..3usize) {
        let mut state = State::new(Limits { max_tasks, max_workers });
        for ev in &events {
            apply_all(&mut state, std::slice::from_ref(ev));
            prop_assert!(state.task_len() <= max_tasks);
            prop_assert!(state.worker_len() <= max_workers);
            let (heap, cap) = state.heap_len();
            prop_assert!(heap <= cap && cap == 4 * max_tasks);
            prop_assert!(state.pending_parent_len() <= max_tasks);
        }
        let mut by_state: HashMap<TaskState, usize> = HashMap::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut by_worker: HashMap<String, usize> = HashMap::new();
        for (_, t) in state.tasks() {
            *by_state.entry(t.state.clone()).or_default() += 1;
            if let Some(n) = t.name() { *by_name.entry(n.to_owned()).or_default() += 1; }
            if let Some(w) = &t.worker { *by_worker.entry(w.to_string()).or_default() += 1; }
            for c in state.children(t) {
                prop_assert!(state.task_at(c).is_some(), "children are live");
            }
        }
        let counts = state.counts();
        prop_assert_eq!(&by_state, &counts.by_state.iter().collect::<HashMap<_, _>>());
        for (s, n) in &by_state {
            prop_assert_eq!(counts.by_state.get(s), *n);
        }
        prop_assert_eq!(by_name, counts.by_name.iter().map(|(k, v)| (k.to_string(), *v)).collect::<HashMap<_, _>>());
        prop_assert_eq!(by_worker, counts.by_worker.iter().map(|(k, v)| (k.to_string(), *v)).collect::<HashMap<_, _>>());
    }

    #[test]
    fn without_eviction_every_known_parent_lists_its_children(events in event_stream()) {
        let mut state = State::new(Limits { max_tasks: 100, max_workers: 10 });
        apply_all(&mut state, &events);
        for (h, t) in state.tasks() {
            if let Some(parent) = t.parent_id().and_then(|p| state.task(p)) {
                prop_assert!(state.children(parent).any(|c| c == h), "{} missing from children of {}", t.uuid, parent.uuid);
            }
        }
    }

    /// A task is in a children list once at most (Python's is a set), whatever the evictions and
    /// however often its parent changes and changes back.
    #[test]
    fn children_are_listed_once(events in event_stream(), max_tasks in 1..10usize) {
        let mut state = State::new(Limits { max_tasks, max_workers: 10 });
        apply_all(&mut state, &events);
        for (_, t) in state.tasks() {
            let mut children: Vec<_> = state.children(t).collect();
            let all = children.len();
            children.sort();
            children.dedup();
            prop_assert_eq!(children.len(), all, "children of {} repeat", t.uuid);
        }
    }

    #[test]
    fn without_retries_the_order_of_a_tasks_events_does_not_matter(
        picks in prop::sample::subsequence(vec![0usize, 1, 2, 3], 1..=4),
        last in 0..4usize,
        seed in any::<u64>(),
    ) {
        let finals = ["task-succeeded", "task-failed", "task-revoked", "task-rejected"];
        let kinds: Vec<&str> = picks.iter().map(|&i| if i == 3 { finals[last] } else { ["task-sent", "task-received", "task-started"][i] }).collect();
        let events: Vec<Json> = kinds.iter().enumerate().map(|(i, ty)| json!({
            "type": ty, "uuid": "u", "hostname": if *ty == "task-sent" { "gen1@h" } else { "w@h" },
            "timestamp": 10.0 + i as f64, "local_received": 20.0 + i as f64, "clock": 1 + i as i64,
            "name": "app.t", "args": "(1,)", "result": "2",
        })).collect();
        let mut order = events.clone();
        let mut ordered = State::default();
        apply_all(&mut ordered, &events);
        // A seeded permutation.
        let mut s = seed | 1;
        for i in (1..order.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            order.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let mut shuffled = State::default();
        apply_all(&mut shuffled, &order);
        let (a, b) = (ordered.task("u").unwrap(), shuffled.task("u").unwrap());
        prop_assert_eq!(&a.state, &b.state);
        prop_assert_eq!(&a.info.name, &b.info.name);
        prop_assert_eq!(&a.info.args, &b.info.args);
        let moments = |t: &stalk_state::Task| stalk_state::state::Moment::ALL.map(|m| t.moments.get(m));
        prop_assert_eq!(moments(a), moments(b));
    }
}

/// Mutations of valid JSON text: a byte replaced, inserted or removed somewhere.
fn near_json() -> impl Strategy<Value = Vec<u8>> {
    (
        any_json(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        0..4u8,
    )
        .prop_map(|(v, at, byte, how)| {
            let mut text = serde_json::to_vec(&v).unwrap();
            let i = at.index(text.len() + 1);
            match how {
                0 => {}
                1 if i < text.len() => text[i] = byte,
                2 => text.insert(i, byte),
                _ if i < text.len() => {
                    text.remove(i);
                }
                _ => {}
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Our JSON reader accepts exactly what serde_json accepts, and reads the same values, except
    /// for what Python's `json` reads beyond strict JSON (numbers beyond a double, lone surrogate
    /// escapes, `NaN` and the infinities; `json.rs` tests those), which ours accepts as well.
    #[test]
    fn json_reader_agrees_with_serde_json(text in near_json()) {
        let theirs = serde_json::from_slice::<Json>(&text);
        let ours = decode_body(&text);
        let ours_is_json = !matches!(ours, Err(stalk_state::DecodeError::NotJson(_)));
        let python_only = theirs.as_ref().is_err_and(|e| {
            let e = e.to_string();
            e.starts_with("number out of range") || e.contains("surrogate") || e.contains("invalid unicode code point")
        }) || [&b"NaN"[..], b"Infinity"].iter().any(|w| text.windows(w.len()).any(|x| x == *w));
        if !python_only {
            prop_assert_eq!(ours_is_json, theirs.is_ok(), "{}", String::from_utf8_lossy(&text));
        }
        if let (Ok(items), Ok(Json::Object(map))) = (&ours, &theirs) {
            // Unknown keys keep their values: compare them with serde_json's reading.
            if let [Ok(ev)] = items.as_slice() {
                for (k, v) in &ev.fields.other {
                    let expect = &map[&**k];
                    let got = match v {
                        stalk_state::JsonRef::Null => Json::Null,
                        stalk_state::JsonRef::Bool(b) => Json::from(*b),
                        stalk_state::JsonRef::Int(i) => Json::from(*i),
                        stalk_state::JsonRef::Float(f) => Json::from(*f),
                        other => match other.as_str() {
                            Some(s) => Json::from(s),
                            None => serde_json::from_str(other.as_json_text().unwrap()).unwrap(),
                        },
                    };
                    prop_assert_eq!(&got, expect);
                }
            }
        }
    }
}

/// JSON as Python's `json` writes it beyond strict JSON: non-finite numbers, and strings of
/// `\uXXXX` escapes around the surrogate range (so lone surrogates, pairs and their neighbours).
fn python_json() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        (0xD7F0u32..0xE010).prop_map(|u| format!("\\u{u:04x}")),
        (0xD800u32..0xDC00, 0xDC00u32..0xE000).prop_map(|(h, l)| format!("\\u{h:04X}\\u{l:04x}")),
        Just("\\\\u".to_owned()),
        Just("\\\"".to_owned()),
        "[a-z NI]{1,3}",
    ];
    let leaf = prop_oneof![
        Just("NaN".to_owned()),
        Just("Infinity".to_owned()),
        Just("-Infinity".to_owned()),
        Just("-1.5".to_owned()),
        prop::collection::vec(piece, 0..6).prop_map(|p| format!("\"{}\"", p.concat())),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(|v| format!("[{}]", v.join(", ")))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// What the reader takes from Python, `strict_json` makes strict JSON (what the relay forwards
    /// and what serialising a value gives) that reads the same: U+FFFD for each lone surrogate,
    /// null for each non-finite number.
    #[test]
    fn strict_json_reads_like_the_python_json_it_came_from(v in python_json()) {
        let text = format!(r#"{{"type": "x-y", "v": {v}}}"#);
        let ev = decode_event(text.as_bytes()).expect("our reader takes Python's JSON");
        let strict = stalk_state::json::strict_json(&text);
        let theirs: Json = serde_json::from_str(&strict).map_err(|e| TestCaseError::fail(format!("{e}: {strict}")))?;
        let ours = &ev.fields.other[0].1;
        match ours {
            stalk_state::JsonRef::Float(f) if !f.is_finite() => prop_assert!(theirs["v"].is_null()),
            stalk_state::JsonRef::Float(f) => prop_assert_eq!(theirs["v"].as_f64(), Some(*f)),
            other => match other.as_str() {
                Some(s) => prop_assert_eq!(theirs["v"].as_str(), Some(s)),
                None => prop_assert!(theirs["v"].is_array()),
            },
        }
    }
}
