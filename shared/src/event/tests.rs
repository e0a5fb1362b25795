use super::keys::{CELERY_KEY_ORDER, FIRST_KEY, NEXT_KEY};
use super::*;
use crate::json::key_word;

#[test]
fn a_prefix_decodes_like_the_whole_text() {
    let ev = r#"{"type":"task-sent","uuid":"u","hostname":"h","timestamp":1.5,"clock":2,"args":"(\"}\",)"}"#;
    let text = format!("{ev}}},{{\"seq\":2");
    let (prefix, len) = decode_event_prefix(&text).unwrap();
    assert_eq!(len, ev.len());
    assert_eq!(prefix, decode_event(ev.as_bytes()).unwrap());
    assert!(matches!(
        decode_event_prefix("[1]"),
        Err(DecodeError::NotAnObject("array"))
    ));
    assert!(matches!(
        decode_event_prefix(r#"{"type":"task-sent","#),
        Err(DecodeError::NotJson(_))
    ));
    assert!(matches!(
        decode_event_prefix(r#"{"type":"task-sent"}"#),
        Err(DecodeError::MissingField(_))
    ));
}

#[test]
fn decodes_a_real_batch_in_order() {
    let body = br#"[{"hostname":"w1@h","utcoffset":0.0,"pid":18653,"clock":2,"uuid":"u1","timestamp":1795503353.48,"type":"task-started"},
 {"hostname":"w1@h","utcoffset":0.0,"pid":18653,"clock":3,"uuid":"u1","result":"3","runtime":0.01,"timestamp":1795503353.49,"type":"task-succeeded"}]"#;
    let events: Vec<Event> = decode_body(body)
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, EventKind::Task(TaskSubject::Started));
    assert_eq!(events[1].kind, EventKind::Task(TaskSubject::Succeeded));
    assert_eq!(events[1].fields.result, Some(JsonRef::Str("3")));
    assert_eq!(events[1].fields.runtime, Some(JsonRef::Float(0.01)));
    assert_eq!(events[1].clock, Some(Num::Int(3)));
    assert_eq!(events[0].fields.pid, Some(JsonRef::Int(18653)));
}

#[test]
fn one_bad_element_never_loses_the_others() {
    let body = br#"[{"type":"task-started","uuid":"a","hostname":"h","timestamp":1.0},
        5, {"uuid":"b"}, {"type":"task-started","hostname":"h","timestamp":1.0},
        {"type":"task-started","uuid":"c","hostname":"h","timestamp":"soon"},
        [1,2], {"type":"worker-heartbeat","hostname":"h","timestamp":2}]"#;
    let reasons: Vec<&str> = decode_body(body)
        .unwrap()
        .iter()
        .map(|r| r.as_ref().map_or_else(|e| e.reason(), |_| "ok"))
        .collect();
    assert_eq!(
        reasons,
        [
            "ok",
            "not_object",
            "missing_type",
            "missing_uuid",
            "wrong_type",
            "not_object",
            "ok"
        ]
    );
}

#[test]
fn bodies_that_are_not_events_are_errors_with_reasons() {
    for (body, reason) in [
        (&b"\x80\x04\x95pickle"[..], "not_json"),
        (b"{\"type\": \"task-sent\"", "not_json"),
        (b"\"just a string\"", "not_object"),
        (b"42", "not_object"),
        (b"null", "not_object"),
        (b"{} trailing", "not_json"),
        (b"\xff\xfe", "not_json"),
    ] {
        assert_eq!(decode_body(body).unwrap_err().reason(), reason, "{body:?}");
    }
}

#[test]
fn kinds_follow_python_partition() {
    for (ty, kind) in [
        (
            "task-progress",
            EventKind::Task(TaskSubject::Custom("progress".into())),
        ),
        (
            "task-foo-bar",
            EventKind::Task(TaskSubject::Custom("foo-bar".into())),
        ),
        ("task", EventKind::Task(TaskSubject::Custom("".into()))),
        (
            "worker-elect",
            EventKind::Worker(WorkerSubject::Other("elect".into())),
        ),
        ("worker-offline", EventKind::Worker(WorkerSubject::Offline)),
        ("custom-thing", EventKind::Other),
        ("", EventKind::Other),
    ] {
        assert_eq!(EventKind::parse(ty), kind, "{ty}");
    }
}

#[test]
fn every_known_key_and_no_other_is_recognised() {
    for (i, k) in ENVELOPE.iter().chain(FIELD_NAMES).enumerate() {
        assert_eq!(known_id(key_word(k.as_bytes())), i as u8, "{k}");
    }
    for k in [
        "",
        "typ",
        "types",
        "pid\0",
        "x",
        "local_received_",
        "a_very_long_key_name",
    ] {
        assert_eq!(known_id(key_word(k.as_bytes())), u8::MAX, "{k}");
    }
}

/// Keys that the order table guesses wrong, or nearly right, read as what they are: a
/// prefix or an extension of the guessed key, another case, the guessed key escaped. Each
/// stands where its guess applies: first (`hostname` is guessed) and after `pid` (`clock`).
#[test]
fn guessed_keys_never_change_what_is_read() {
    for (key, known) in [
        ("hostnam", false),
        ("hostnames", false),
        ("Hostname", false),
        ("host\\u006eame", true),
        ("hostname", true),
    ] {
        let text = format!(r#"{{"{key}": "h", "type": "x"}}"#);
        let ev = decode_event(text.as_bytes()).unwrap();
        assert_eq!(ev.hostname.is_some(), known, "{key}");
        assert_eq!(ev.fields.other.len(), usize::from(!known), "{key}");
    }
    for (key, known) in [
        ("cloc", false),
        ("clock_", false),
        ("clocks", false),
        ("c\\u006cock", true),
        ("clock", true),
    ] {
        let text =
            format!(r#"{{"hostname": "h", "utcoffset": 0, "pid": 9, "{key}": 7, "type": "x"}}"#);
        let ev = decode_event(text.as_bytes()).unwrap();
        assert_eq!(ev.clock.is_some(), known, "{key}");
        assert_eq!(ev.fields.pid, Some(JsonRef::Int(9)), "{key}");
        assert_eq!(ev.fields.other.len(), usize::from(!known), "{key}");
    }
    // The empty key, which the "no guess" guess matches, after an unknown key.
    let ev = decode_event(br#"{"zz": 1, "": 2, "type": "x"}"#).unwrap();
    let other: Vec<&str> = ev.fields.other.iter().map(|(k, _)| &**k).collect();
    assert_eq!(other, ["zz", ""]);
    // A guessed key too near the end for a 16-byte load.
    let ev = decode_event(br#"{"type":"x","hostname":"h","utcoffset":0,"pid":1}"#).unwrap();
    assert_eq!(ev.fields.pid, Some(JsonRef::Int(1)));
    // A right guess is taken by the id it carries: each must be its own key's.
    for g in NEXT_KEY.iter().chain([&FIRST_KEY]) {
        assert_eq!(g.id, known_id(g.key.word), "{:#x}", g.key.word);
    }
    assert_eq!(
        NEXT_KEY.iter().filter(|g| g.key.word != 0).count(),
        CELERY_KEY_ORDER.len()
    );
}

/// Envelope keys are typed as they are read, but judged once the object is read: a repeated
/// key's last value counts, and of several problems the same one is told whatever the order
/// of the keys.
#[test]
fn envelope_problems_are_told_in_a_fixed_order() {
    let verdict = |text: &str| match decode_event(text.as_bytes()) {
        Ok(_) => "ok".to_owned(),
        Err(DecodeError::WrongType { field, .. }) => format!("wrong {field}"),
        Err(e) => e.reason().to_owned(),
    };
    let task = r#""uuid": "u", "hostname": "h", "timestamp": 1"#;
    for (text, expected) in [
        (
            format!(r#"{{"type": 5, "type": "task-sent", {task}}}"#),
            "ok",
        ),
        (
            format!(r#"{{"type": "task-sent", "type": null, {task}}}"#),
            "wrong type",
        ),
        (
            r#"{"clock": "x", "timestamp": "y", "hostname": 1, "type": "task-sent"}"#.to_owned(),
            "wrong hostname",
        ),
        (
            r#"{"uuid": 1, "timestamp": "y", "type": "task-sent"}"#.to_owned(),
            "wrong timestamp",
        ),
        (
            r#"{"clock": "x", "uuid": 1, "type": "task-sent"}"#.to_owned(),
            "wrong uuid",
        ),
        (
            r#"{"clock": "x", "hostname": "h", "timestamp": 1, "type": "task-sent"}"#.to_owned(),
            "missing_uuid",
        ),
        (
            r#"{"clock": "x", "local_received": "z", "type": "worker-heartbeat"}"#.to_owned(),
            "missing_hostname",
        ),
        (
            format!(r#"{{"clock": "x", "local_received": "z", "type": "task-sent", {task}}}"#),
            "wrong local_received",
        ),
        (
            format!(r#"{{"clock": "x", "type": "task-sent", {task}}}"#),
            "wrong clock",
        ),
        (
            format!(r#"{{"clock": 1e999, "type": "task-sent", {task}}}"#),
            "wrong clock",
        ),
        (
            format!(r#"{{"clock": "x", "clock": 3, "type": "task-sent", {task}}}"#),
            "ok",
        ),
        (
            r#"{"clock": 3, "hostname": "h", "timestamp": 2.5, "type": "worker-online"}"#
                .to_owned(),
            "ok",
        ),
        (
            r#"{"hostname": 5, "type": "custom-thing"}"#.to_owned(),
            "wrong hostname",
        ),
        (r#"{"type": "custom-thing"}"#.to_owned(), "ok"),
        (r#"{"uuid": "u"}"#.to_owned(), "missing_type"),
    ] {
        assert_eq!(verdict(&text), expected, "{text}");
    }
    let text = format!(r#"{{"clock": 7, "type": "task-sent", {task}}}"#);
    let ev = decode_event(text.as_bytes()).unwrap();
    assert_eq!(ev.kind, EventKind::Task(TaskSubject::Sent));
    assert_eq!(
        (ev.clock, ev.timestamp),
        (Some(Num::Int(7)), Some(Num::Int(1)))
    );
    assert_eq!(
        (ev.uuid.as_deref(), ev.hostname.as_deref()),
        (Some("u"), Some("h"))
    );
}

/// An event keeps its first `OTHER_KEYS_MAX` unknown keys and counts the rest; a kept key
/// repeated later still takes its last value.
#[test]
fn unknown_keys_are_bounded_per_event() {
    let mut text =
        String::from(r#"{"type": "task-progress", "uuid": "u", "hostname": "h", "timestamp": 1"#);
    for n in 0..OTHER_KEYS_MAX + 44 {
        text.push_str(&format!(r#", "k{n}": {n}"#));
    }
    text.push_str(r#", "k0": "last"}"#);
    let ev = decode_event(text.as_bytes()).unwrap();
    assert_eq!(ev.fields.other.len(), OTHER_KEYS_MAX);
    assert_eq!(ev.fields.dropped, 44);
    assert_eq!(
        ev.fields.other[0],
        (Cow::Borrowed("k0"), JsonRef::Str("last"))
    );
    let last = format!("k{}", OTHER_KEYS_MAX - 1);
    assert_eq!(ev.fields.other.last().unwrap().0, last);
    assert_eq!(ev.clone().into_owned().fields.dropped, 44);
}

#[test]
fn unknown_and_escaped_keys_are_kept() {
    let ev = decode_event(br#"{"type":"task-progress","uuid":"u","hostname":"h","timestamp":1,"pct\u0021":0.5,"pct!":0.75,"step":"x"}"#).unwrap();
    assert_eq!(ev.fields.other.len(), 2);
    assert_eq!(&*ev.fields.other[0].0, "pct!");
    assert_eq!(ev.fields.other[0].1, JsonRef::Float(0.75));
    assert_eq!(ev.timestamp, Some(Num::Int(1)));
}
