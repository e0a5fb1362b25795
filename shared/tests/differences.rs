//! One test per deliberate difference from Python's State (`docs/state.md`), showing the behaviour
//! we chose instead.

mod common;

use common::task;
use serde_json::{Value as Json, json};
use stalk_state::{
    Applied, ApplyError, DecodeError, EXTRAS_MAX, Limits, Num, Receiver, State, TASK_TYPES_MAX,
    TaskState, Value, decode_event,
};

fn event(v: Json) -> stalk_state::Event<'static> {
    decode_event(&serde_json::to_vec(&v).unwrap())
        .unwrap()
        .into_owned()
}

#[test]
fn evicted_task_leaves_every_structure_at_once() {
    let mut s = State::new(Limits {
        max_tasks: 2,
        max_workers: 5,
    });
    s.apply(&event(task(
        "task-received",
        "parent",
        1,
        json!({"name": "app.p"}),
    )))
    .unwrap();
    s.apply(&event(task(
        "task-received",
        "child",
        2,
        json!({"name": "app.c", "parent_id": "parent"}),
    )))
    .unwrap();
    let child = s.task_handle("child").unwrap();
    assert_eq!(
        s.children(s.task("parent").unwrap()).collect::<Vec<_>>(),
        [child]
    );
    // A third task evicts the oldest: "parent" was moved back by the child's parent lookup, so
    // "child" goes.
    let applied = s
        .apply(&event(task(
            "task-received",
            "other",
            3,
            json!({"name": "app.c"}),
        )))
        .unwrap();
    let Applied::Task {
        evicted: Some(evicted),
        ..
    } = applied
    else {
        panic!("expected an eviction: {applied:?}")
    };
    assert_eq!(&*evicted.uuid, "child");
    assert!(s.task("child").is_none());
    assert_eq!(
        s.children(s.task("parent").unwrap()).count(),
        0,
        "gone from children at once"
    );
    assert_eq!(
        s.tasks_by_type("app.c").count(),
        1,
        "only `other` left in tasks_by_type"
    );
    assert!(s.tasks_by_time(None).all(|h| s.task_at(h).is_some()));
    assert_eq!(s.tasks_by_time(None).count(), 2);
    assert_eq!(s.counts().by_name.get("app.c"), Some(&1));
}

#[test]
fn malformed_events_are_rejected_whole_but_counted() {
    let mut s = State::default();
    let err = decode_event(
        br#"{"type":"worker-heartbeat","hostname":"w@h","timestamp":"soon","freq":2}"#,
    )
    .unwrap_err();
    assert_eq!(
        err,
        DecodeError::WrongType {
            field: "timestamp",
            expected: "a finite number"
        }
    );
    s.count_rejected();
    let no_clock = event(
        json!({"type": "task-started", "uuid": "u", "hostname": "w@h", "timestamp": 1.0, "local_received": 1.0}),
    );
    assert_eq!(s.apply(&no_clock), Err(ApplyError::MissingField("clock")));
    assert_eq!(s.event_count(), 2);
    assert_eq!(
        (s.task_len(), s.worker_len()),
        (0, 0),
        "nothing half-applied"
    );
}

#[test]
fn structure_keys_are_not_copied_from_events() {
    let mut s = State::default();
    s.apply(&event(task(
        "task-succeeded",
        "u",
        2,
        json!({"result": "1"}),
    )))
    .unwrap();
    // A late event carrying structure keys: merged without touching state, children or moments.
    s.apply(&event(task(
        "task-started",
        "u",
        1,
        json!({"state": "PENDING", "children": ["x"], "sent": 5, "worker": "evil", "pid": 7}),
    )))
    .unwrap();
    let t = s.task("u").unwrap();
    assert_eq!(t.state, TaskState::Success);
    assert_eq!(s.children(t).count(), 0);
    assert_eq!(t.moments.sent(), None);
    assert_eq!(t.worker.as_deref(), Some("w@h"));
    assert!(t.extra("pid").is_none() && t.extra("state").is_none());
    // `id` (worker-elect gossip) makes Python's Worker raise; here the heartbeat still counts.
    s.apply(&event(
        json!({"type": "worker-elect", "hostname": "w2@h", "id": "abc", "clock": 3,
                          "timestamp": 10.0, "local_received": 10.5, "heartbeats": [1]}),
    ))
    .unwrap();
    let w = s.worker("w2@h").unwrap();
    assert_eq!(w.heartbeats, vec![Num::Float(10.5)]);
    assert_eq!(w.id(), "w2@h.None");
}

#[test]
fn only_strings_link_and_index() {
    let mut s = State::default();
    s.apply(&event(task(
        "task-received",
        "u",
        1,
        json!({"name": 5, "parent_id": 7, "root_id": ["r"]}),
    )))
    .unwrap();
    assert!(s.task_types().is_empty());
    assert_eq!(s.pending_parent_len(), 0);
    assert_eq!(
        s.task("u").unwrap().info.name,
        Value::Int(5),
        "stored as it came"
    );
}

/// Python's set of seen task types grows without end; ours keeps the first `TASK_TYPES_MAX`
/// names and counts the events whose new name it could not keep. The tasks keep their names.
#[test]
fn task_types_are_bounded() {
    let mut s = State::new(Limits {
        max_tasks: 100,
        ..Limits::default()
    });
    let named = |n: usize| {
        let name = format!("proj.tasks.t{n}");
        event(task(
            "task-received",
            &format!("u{n}"),
            n as i64,
            json!({ "name": name }),
        ))
    };
    for n in 0..TASK_TYPES_MAX {
        s.apply(&named(n)).unwrap();
    }
    assert_eq!(s.task_types().len(), TASK_TYPES_MAX);
    assert_eq!(s.task_types_refused(), 0);
    for n in TASK_TYPES_MAX..TASK_TYPES_MAX + 5 {
        s.apply(&named(n)).unwrap();
    }
    assert_eq!(s.task_types().len(), TASK_TYPES_MAX);
    assert_eq!(s.task_types_refused(), 5);
    let last = format!("u{}", TASK_TYPES_MAX + 4);
    assert_eq!(
        s.task(&last).unwrap().info.name,
        Value::Str(format!("proj.tasks.t{}", TASK_TYPES_MAX + 4).into()),
        "the task keeps its name"
    );
    // A name already kept is no refusal.
    s.apply(&named(0)).unwrap();
    assert_eq!(s.task_types_refused(), 5);
}

/// Python sets every key of every event on its task or worker; ours keeps `EXTRAS_MAX` extra keys
/// on each and counts the new keys it could not keep. Keys already kept still take new values.
#[test]
fn extra_fields_are_bounded_per_task_and_worker() {
    let mut s = State::default();
    let extra = |n: usize, value: usize| json!({ format!("k{n}"): value });
    for n in 0..EXTRAS_MAX + 6 {
        s.apply(&event(task(
            "task-progress",
            "u",
            n as i64 + 1,
            extra(n, n),
        )))
        .unwrap();
    }
    let t = s.task("u").unwrap();
    assert_eq!(t.extras().len(), EXTRAS_MAX);
    assert_eq!(t.extra(&format!("k{}", EXTRAS_MAX)), None);
    assert_eq!(s.extras_refused(), 6);
    s.apply(&event(task("task-progress", "u", 100, extra(0, 7))))
        .unwrap();
    assert_eq!(s.task("u").unwrap().extra("k0"), Some(&Value::Int(7)));
    assert_eq!(s.extras_refused(), 6);

    let heartbeat = |n: usize| {
        let mut e = json!({"type": "worker-heartbeat", "hostname": "w@h", "timestamp": 100.0,
                           "local_received": 100.5, "clock": n, "freq": 2.0});
        e[format!("x{n}")] = json!(n);
        event(e)
    };
    for n in 0..EXTRAS_MAX + 3 {
        s.apply(&heartbeat(n)).unwrap();
    }
    let w = s.worker("w@h").unwrap();
    assert_eq!(w.extra.len(), EXTRAS_MAX);
    assert!(w.extra.iter().all(|(k, _)| k.starts_with('x')));
    assert_eq!(s.extras_refused(), 9);

    // One event with 300 unknown keys: the decoder keeps 256 (OTHER_KEYS_MAX), the task 64.
    let mut wide = task("task-progress", "v", 200, json!({}));
    for n in 0..300 {
        wide[format!("w{n}")] = json!(n);
    }
    s.apply(&event(wide)).unwrap();
    assert_eq!(s.task("v").unwrap().extras().len(), EXTRAS_MAX);
    assert_eq!(s.extras_refused(), 9 + 300 - EXTRAS_MAX as u64);
}

#[test]
fn non_numeric_freq_means_no_expiry_and_not_alive() {
    let mut s = State::default();
    s.apply(&event(
        json!({"type": "worker-online", "hostname": "w@h", "freq": "2", "clock": 1,
                          "timestamp": 10.0, "local_received": 10.0}),
    ))
    .unwrap();
    let w = s.worker("w@h").unwrap();
    assert_eq!((w.heartbeat_expires(), w.alive(10.0)), (None, false));
}

#[test]
fn timestamp_localisation_is_off_unless_asked() {
    let raw = json!({"type": "task-started", "uuid": "u", "hostname": "w@h", "timestamp": 1000.0, "utcoffset": -5.5, "clock": 1});
    let mut ours = event(raw.clone());
    Receiver::new().normalise(&mut ours, 1000.0);
    assert_eq!(ours.timestamp, Some(Num::Float(1000.0)));
    let mut pythonic = event(raw);
    Receiver::new()
        .with_localisation(0.0)
        .normalise(&mut pythonic, 1000.0);
    assert_eq!(pythonic.timestamp, Some(Num::Float(1000.0 + 19_800.0)));
}

#[test]
fn python_json_extensions_and_64_bit_numbers() {
    // Python's `json` writes `NaN` and lone surrogates; the event is kept. The surrogate becomes
    // U+FFFD (a Rust string cannot hold it), the NaN stays a NaN.
    let ev = decode_event(
        br#"{"type":"task-failed","uuid":"u","hostname":"h","timestamp":1.0,"clock":1,"local_received":1.0,"traceback":"OSError: '\udcff.txt'","ratio":NaN}"#,
    )
    .unwrap();
    assert_eq!(
        ev.fields.traceback,
        Some(stalk_state::JsonRef::Escaped(
            "OSError: '\u{FFFD}.txt'".into()
        ))
    );
    assert!(matches!(ev.fields.other[0].1, stalk_state::JsonRef::Float(f) if f.is_nan()));
    let mut s = State::default();
    s.apply(&ev).unwrap();
    assert_eq!(s.task("u").unwrap().state, TaskState::Failure);
    // Non-finite worker fields are kept; JSON output (the dump) writes them as null.
    let hb = decode_event(
        br#"{"type":"worker-heartbeat","hostname":"w","timestamp":1.0,"local_received":1.0,"freq":NaN,"loadavg":[NaN, 0.5, -Infinity]}"#,
    )
    .unwrap();
    s.apply(&hb).unwrap();
    let dumped = stalk_state::dump::dump(&s, 2.0);
    let w = &dumped["workers"]["w"];
    assert_eq!(w["loadavg"], json!([null, 0.5, null]));
    assert_eq!(w["freq"], Json::Null);
    assert_eq!(w["heartbeat_expires"], Json::Null);
    assert_eq!(w["alive"], json!(false));
    assert_eq!(
        dumped["tasks"]["u"]["traceback"],
        json!("OSError: '\u{FFFD}.txt'")
    );
    // Envelope numbers order events: a non-finite one is refused, with its reason.
    for (text, field) in [
        (
            r#"{"type":"task-started","uuid":"u","hostname":"h","timestamp":NaN}"#,
            "timestamp",
        ),
        (
            r#"{"type":"worker-heartbeat","hostname":"h","timestamp":1,"clock":-Infinity}"#,
            "clock",
        ),
        (
            r#"{"type":"worker-heartbeat","hostname":"h","timestamp":1e999}"#,
            "timestamp",
        ),
    ] {
        assert_eq!(
            decode_event(text.as_bytes()),
            Err(DecodeError::WrongType {
                field,
                expected: "a finite number"
            }),
            "{text}"
        );
    }
    let ev = decode_event(br#"{"type":"x-y","big":123456789012345678901234567890}"#).unwrap();
    assert_eq!(
        ev.fields.other[0].1,
        stalk_state::JsonRef::Float(1.2345678901234568e29)
    );
    // Clocks beyond 2^53 are rounded when stored (the event keeps its exact value).
    let mut s = State::default();
    s.apply(&event(task(
        "task-started",
        "u",
        9_007_199_254_740_993,
        json!({}),
    )))
    .unwrap();
    assert_eq!(
        s.task("u").unwrap().clock(),
        Num::Int(9_007_199_254_740_992)
    );
}

/// A worker's drift (receive time minus its timestamp, whole seconds) is computed in 64 bits and
/// saturates where Python's integers would grow: absurd times from a hostile or broken sender
/// never overflow (found by the property test: `-9e18` against `9e18`).
#[test]
fn drift_between_absurd_times_saturates() {
    let mut s = State::default();
    let hb = |ts: f64, lr: f64| {
        json!({"type": "worker-heartbeat", "hostname": "w@h", "timestamp": ts,
               "local_received": lr, "freq": 2.0, "clock": 1})
    };
    s.apply(&event(hb(-9e18, 9e18))).unwrap();
    assert_eq!(s.worker("w@h").unwrap().drift, Some(i64::MAX));
    s.apply(&event(hb(9.3e18, -9.3e18))).unwrap();
    assert_eq!(s.worker("w@h").unwrap().drift, Some(i64::MAX));
    assert_eq!(s.worker("w@h").unwrap().heartbeats.len(), 2);
}
