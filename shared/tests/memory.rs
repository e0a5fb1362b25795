//! Memory features that must not change what a reader sees: long strings are compressed once a
//! task is final (not at every retry), an equal one stored recently is shared, and both read back
//! identical.

use serde_json::json;
use stalk_state::{State, Value, decode_event};

fn apply(s: &mut State, v: serde_json::Value) {
    let bytes = serde_json::to_vec(&v).unwrap();
    s.apply(&decode_event(&bytes).unwrap()).unwrap();
}

#[test]
fn long_strings_are_packed_when_the_task_is_final_and_read_back_identical() {
    let traceback =
        "Traceback (most recent call last):\n  File \"/srv/app.py\", line 7, in visit\n".repeat(20);
    let args = format!("('{}',)", "x".repeat(5000));
    let mut s = State::default();
    let ev = |ty: &str, clock: i64, extra: serde_json::Value| {
        let mut e = json!({"type": ty, "uuid": "u", "hostname": "w@h", "clock": clock,
                           "timestamp": 100.0 + clock as f64, "local_received": 100.0 + clock as f64});
        e.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        e
    };
    apply(
        &mut s,
        ev(
            "task-received",
            1,
            json!({"name": "app.visit", "args": args}),
        ),
    );
    apply(
        &mut s,
        ev(
            "task-retried",
            2,
            json!({"exception": "HTTPError()", "traceback": traceback}),
        ),
    );
    let t = s.task("u").unwrap();
    assert!(
        matches!(t.info.traceback(), Value::Str(_)),
        "not final yet: kept plain"
    );
    assert!(matches!(t.info.args, Value::Str(_)));
    apply(
        &mut s,
        ev(
            "task-failed",
            3,
            json!({"exception": "HTTPError()", "traceback": traceback}),
        ),
    );
    let t = s.task("u").unwrap();
    assert!(
        matches!(t.info.traceback(), Value::Packed(_)),
        "final: packed"
    );
    assert!(matches!(t.info.args, Value::Packed(_)));
    assert_eq!(
        t.info.traceback().text().as_deref(),
        Some(traceback.as_str())
    );
    assert_eq!(t.info.args.text().as_deref(), Some(args.as_str()));
    let dumped = stalk_state::dump::task(&s, t);
    assert_eq!(dumped["traceback"], json!(traceback));
    assert_eq!(dumped["args"], json!(args));
}

#[test]
fn tasks_that_fail_the_same_way_share_one_stored_traceback() {
    let line = "Traceback (most recent call last):\n  File \"/srv/app.py\", line 7, in visit\n";
    let same = format!("{}HTTPError: 404", line.repeat(20));
    let other = format!("{}HTTPError: 500", line.repeat(20));
    let mut s = State::default();
    for (i, traceback) in [&same, &same, &other, &same].into_iter().enumerate() {
        let t = 100.0 + i as f64;
        apply(
            &mut s,
            json!({"type": "task-failed", "uuid": format!("u{i}"), "hostname": "w@h",
                   "clock": i + 1, "timestamp": t, "local_received": t,
                   "exception": "HTTPError()", "traceback": traceback}),
        );
    }
    let packed = |id: &str| match s.task(id).unwrap().info.traceback() {
        Value::Packed(p) => p.clone(),
        other => panic!("{id}: a final task's long traceback is packed, not {other:?}"),
    };
    assert!(std::rc::Rc::ptr_eq(&packed("u0"), &packed("u1")));
    assert!(std::rc::Rc::ptr_eq(&packed("u0"), &packed("u3")));
    assert!(!std::rc::Rc::ptr_eq(&packed("u0"), &packed("u2")));
    for (id, want) in [("u0", &same), ("u1", &same), ("u2", &other), ("u3", &same)] {
        let t = s.task(id).unwrap();
        assert_eq!(t.info.traceback().text().as_deref(), Some(want.as_str()));
        assert_eq!(stalk_state::dump::task(&s, t)["traceback"], json!(want));
    }
}
