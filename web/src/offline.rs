//! Offline mode: a recording opened in the page (no relay), and what the page can export.
//!
//! A recording is NDJSON in either of the forms stalk uses (told apart per line, like the relay's
//! `--replay`): the raw AMQP form (`{"recv": .., "body": <event, batch or JSON text>, ...}`) or the
//! receiver form (one event per line, with `local_received`). Lines that are neither are counted
//! and skipped; the rest loads. Recordings hold events as Python's `json` wrote them, so a line is
//! read in its strict form (`NaN` as null, lone surrogates as U+FFFD, as the relay forwards them).

use serde_json::Value as Json;
use stalk_state::json::strict_json;

/// The events of a recording, in file order.
#[derive(Debug, Default, PartialEq)]
pub struct Recording {
    /// `(received, event JSON text)`: when the event was taken (the recording's `recv` or
    /// `local_received`, else its `timestamp`), and the event itself.
    pub events: Vec<(f64, String)>,
    /// Lines that are not JSON, or JSON that holds no event object.
    pub bad_lines: usize,
}

/// Reads a recording.
pub fn parse_recording(text: &str) -> Recording {
    let mut out = Recording::default();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Ok(Json::Object(obj)) = serde_json::from_str::<Json>(&strict_json(line)) else {
            out.bad_lines += 1;
            continue;
        };
        let number = |v: Option<&Json>| v.and_then(Json::as_f64);
        let (received, body) = match obj.get("body") {
            // Raw AMQP form: the body as published (a JSON text when it was not an object).
            Some(body) => {
                let body = match body {
                    Json::String(s) => serde_json::from_str(&strict_json(s)).unwrap_or(Json::Null),
                    other => other.clone(),
                };
                (number(obj.get("recv")), body)
            }
            None => (number(obj.get("local_received")), Json::Object(obj)),
        };
        let events = match body {
            Json::Array(list) => list,
            one => vec![one],
        };
        let before = out.events.len();
        for e in events.into_iter().filter(Json::is_object) {
            let at = received.or(number(e.get("timestamp"))).unwrap_or(0.0);
            out.events.push((at, e.to_string()));
        }
        if out.events.len() == before {
            out.bad_lines += 1;
        }
    }
    out
}

/// One exported event in the receiver form: the event's JSON object text with
/// `local_received` added (so the file opens again here, and in `stalk-state dump`).
pub fn receiver_line(event: &str, received: f64) -> Option<String> {
    let body = event.trim().strip_suffix('}')?;
    let sep = if body.trim_end().ends_with('{') {
        ""
    } else {
        ","
    };
    Some(format!("{body}{sep}\"local_received\":{received}}}"))
}

/// What the State holds, as NDJSON: one `{"task": ...}` line per task, then one
/// `{"worker": ...}` line per worker, in the canonical dump form (`stalk-state dump`); worker
/// liveness judged at `now` (the relay's clock).
pub fn state_ndjson(state: &stalk_state::State, now: f64) -> String {
    use stalk_state::dump;
    let tasks = state
        .tasks()
        .map(|(_, t)| serde_json::json!({ "task": dump::task(state, t) }));
    let workers = state
        .workers()
        .map(|w| serde_json::json!({ "worker": dump::worker(w, now) }));
    tasks
        .chain(workers)
        .map(|line| line.to_string() + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_batches_and_bad_lines() {
        let text = [
            r#"{"recv": 5.5, "body": {"type": "worker-online", "hostname": "w", "timestamp": 5.0}}"#,
            r#"{"recv": 6.5, "body": [{"type": "task-sent", "uuid": "a", "timestamp": 6.0}, 3, {"type": "task-sent", "uuid": "b", "timestamp": 6.1}]}"#,
            r#"{"recv": 7.0, "body": "{\"type\": \"task-received\", \"uuid\": \"a\", \"timestamp\": 6.9}"}"#,
            r#"{"type": "task-started", "uuid": "a", "timestamp": 7.1, "local_received": 7.2}"#,
            "",
            "not json",
            r#"{"recv": 8.0, "body": "\u0080pickle"}"#,
            r#"{"type": "task-succeeded", "uuid": "a", "timestamp": 9.0}"#,
        ]
        .join("\n");
        let r = parse_recording(&text);
        let got: Vec<(f64, Json)> = r
            .events
            .iter()
            .map(|(at, e)| (*at, serde_json::from_str(e).unwrap()))
            .collect();
        let types: Vec<(f64, &str)> = got
            .iter()
            .map(|(at, e)| (*at, e["type"].as_str().unwrap()))
            .collect();
        assert_eq!(
            types,
            [
                (5.5, "worker-online"),
                (6.5, "task-sent"),
                (6.5, "task-sent"),
                (7.0, "task-received"),
                (7.2, "task-started"),
                (9.0, "task-succeeded"),
            ]
        );
        assert_eq!(r.bad_lines, 2);
    }

    #[test]
    fn the_state_exports_a_line_per_task_and_worker() {
        let mut m = crate::model::Model::new(stalk_state::Limits::default(), 10);
        let text = [
            r#"{"type": "task-received", "uuid": "a", "name": "app.add", "hostname": "w@h", "timestamp": 5.0, "clock": 1, "local_received": 5.1}"#,
            r#"{"type": "task-received", "uuid": "b", "name": "app.add", "hostname": "w@h", "timestamp": 6.0, "clock": 2, "local_received": 6.1}"#,
        ]
        .join("\n");
        m.load_recording(&text);
        let out = state_ndjson(&m.state, 7.0);
        let lines: Vec<Json> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["task"]["uuid"], "a");
        assert_eq!(lines[1]["task"]["state"], "RECEIVED");
        assert_eq!(lines[2]["worker"]["hostname"], "w@h");
    }

    /// What Python's `json` writes beyond strict JSON loads, in both forms: nothing is lost.
    #[test]
    fn python_nan_and_lone_surrogates_load() {
        let text = [
            r#"{"type": "task-progress", "uuid": "a", "ratio": NaN, "hostname": "w@h", "timestamp": 5.0, "clock": 1, "local_received": 5.1}"#,
            r#"{"recv": 6.5, "body": "{\"type\": \"task-failed\", \"uuid\": \"a\", \"traceback\": \"report-\\udcff.csv\", \"hostname\": \"w@h\", \"timestamp\": 6.0, \"clock\": 2, \"x\": -Infinity}"}"#,
        ]
        .join("\n");
        let r = parse_recording(&text);
        assert_eq!(r.bad_lines, 0);
        assert_eq!(r.events.len(), 2);
        assert!(
            r.events[0].1.contains(r#""ratio":null"#),
            "{}",
            r.events[0].1
        );
        assert!(
            r.events[1].1.contains("report-\u{FFFD}.csv"),
            "{}",
            r.events[1].1
        );
        let mut m = crate::model::Model::new(stalk_state::Limits::default(), 10);
        m.load_recording(&text);
        let t = m.state.task("a").unwrap();
        assert_eq!(t.state, stalk_state::TaskState::Failure);
        assert_eq!(t.info.traceback().as_str(), Some("report-\u{FFFD}.csv"));
    }

    #[test]
    fn receiver_lines_reopen() {
        let line = receiver_line(r#"{"type":"task-sent","uuid":"a"}"#, 1.5).unwrap();
        assert_eq!(
            line,
            r#"{"type":"task-sent","uuid":"a","local_received":1.5}"#
        );
        assert_eq!(receiver_line("{}", 2.0).unwrap(), r#"{"local_received":2}"#);
        assert_eq!(receiver_line("[1]", 2.0), None);
        let again = parse_recording(&line);
        assert_eq!(again.events.len(), 1);
        assert_eq!(again.events[0].0, 1.5);
    }
}
