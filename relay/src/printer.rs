//! The terminal event monitor (`--print-events`): one line per event with the task's merged state,
//! computed by the State crate natively, as `celery events --dump` and the classic
//! Receiver + State monitors print it, but exact and safe for terminals.
//!
//! ```text
//! [2026-11-24 06:55:13.708144] TASK-SENT example_app.tasks.visit (STATE=PENDING, UUID=912d...)
//! [2026-11-24 06:55:13.696468] WORKER-ONLINE prefork1@vm (ALIVE, active=0, processed=0)
//! ```
//!
//! Pure: it takes events with their receive time and returns text; the caller writes it. Strings from
//! events never reach the terminal raw: control characters (ANSI escape sequences included) are
//! shown escaped.

use std::fmt::Write;

use chrono::{DateTime, FixedOffset, Local, TimeZone, Utc};
use serde_json::json;
use stalk_state::{Applied, Event, Limits, Receiver, State, Task, Value, Worker, decode_event};

/// How lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One line per event.
    Line,
    /// The line, then the event's fields and every field of the task.
    Verbose,
    /// One JSON object per event: `{"seq", "received", "event", "task" | "worker" | "error"}`.
    Json,
}

/// The time zone timestamps are shown in.
#[derive(Clone, Copy, Debug)]
pub enum Zone {
    /// The machine's local time (as Python's `datetime.fromtimestamp`).
    Local,
    /// A fixed offset (tests use UTC).
    Fixed(FixedOffset),
}

/// Turns events into monitor lines, keeping its own State.
pub struct Printer {
    state: State,
    receiver: Receiver,
    format: Format,
    zone: Zone,
}

impl Printer {
    /// A printer with its own State bounded by `limits`.
    pub fn new(format: Format, zone: Zone, limits: Limits) -> Printer {
        Printer {
            state: State::new(limits),
            receiver: Receiver::new(),
            format,
            zone,
        }
    }

    /// The text for one event (one JSON object as published), received at `received`; it ends
    /// with a newline.
    pub fn event(&mut self, seq: u64, raw: &[u8], received: f64) -> String {
        let mut event = match decode_event(raw) {
            Ok(event) => event,
            Err(e) => {
                self.state.count_rejected();
                return self.invalid(seq, raw, received, &e.to_string());
            }
        };
        self.receiver.normalise(&mut event, received);
        match self.state.apply(&event) {
            Ok(Applied::Task { handle, .. }) => {
                let task = self.state.task_at(handle).expect("just applied");
                self.task_line(seq, raw, received, &event, task)
            }
            Ok(Applied::Worker { hostname, .. }) => {
                let worker = self.state.worker(&hostname);
                self.worker_line(seq, raw, received, &event, worker)
            }
            Ok(Applied::Ignored) => self.other_line(seq, raw, received, &event),
            Err(e) => self.invalid(seq, raw, received, &e.to_string()),
        }
    }

    /// A line saying events were lost (the printer fell behind the relay's history).
    pub fn gap(&self, from: u64, to: u64) -> String {
        match self.format {
            Format::Json => format!("{}\n", json!({"gap": {"from": from, "to": to}})),
            _ => format!(
                "[{}] GAP events {from}..={to} were lost (printer too slow)\n",
                "-".repeat(26)
            ),
        }
    }

    fn time(&self, t: f64) -> String {
        let secs = t.floor();
        let nanos = ((t - secs) * 1e9).round().min(999_999_999.0) as u32;
        let Some(utc) = DateTime::<Utc>::from_timestamp(secs as i64, nanos) else {
            return format!("{t}");
        };
        let fmt = "%Y-%m-%d %H:%M:%S%.6f";
        match self.zone {
            Zone::Local => utc.with_timezone(&Local).format(fmt).to_string(),
            Zone::Fixed(z) => z
                .from_utc_datetime(&utc.naive_utc())
                .format(fmt)
                .to_string(),
        }
    }

    fn task_line(
        &self,
        seq: u64,
        raw: &[u8],
        received: f64,
        event: &Event<'_>,
        task: &Task,
    ) -> String {
        let when = task.timestamp().map_or(received, |t| t.as_f64());
        if self.format == Format::Json {
            return json_line(seq, raw, received, "task", task_json(&self.state, task));
        }
        let mut out = format!(
            "[{}] {} {} (STATE={}, UUID={})\n",
            self.time(when),
            clean(&event.type_name.to_uppercase()),
            task.name().map_or_else(|| "-".to_owned(), clean),
            clean(task.state.as_str()),
            clean(&task.uuid),
        );
        if self.format == Format::Verbose {
            verbose_event(&mut out, raw);
            let _ = writeln!(out, "  task:");
            for (k, v) in task_fields(&self.state, task) {
                let _ = writeln!(out, "    {k}: {}", clean(&v));
            }
        }
        out
    }

    fn worker_line(
        &self,
        seq: u64,
        raw: &[u8],
        received: f64,
        event: &Event<'_>,
        worker: Option<&Worker>,
    ) -> String {
        let when = event.timestamp.map_or(received, |t| t.as_f64());
        if self.format == Format::Json {
            let w = worker.map_or(serde_json::Value::Null, |w| worker_json(w, received));
            return json_line(seq, raw, received, "worker", w);
        }
        let host = event.hostname.as_deref().unwrap_or("-");
        let status = match worker {
            Some(w) if w.alive(received) => "ALIVE",
            _ => "OFFLINE",
        };
        let mut detail = String::new();
        if let Some(w) = worker {
            for (k, v) in [("active", &w.active), ("processed", &w.processed)] {
                if !v.is_null() {
                    let _ = write!(detail, ", {k}={}", v.display());
                }
            }
        }
        let mut out = format!(
            "[{}] {} {} ({status}{})\n",
            self.time(when),
            clean(&event.type_name.to_uppercase()),
            clean(host),
            clean(&detail),
        );
        if self.format == Format::Verbose {
            verbose_event(&mut out, raw);
        }
        out
    }

    fn other_line(&self, seq: u64, raw: &[u8], received: f64, event: &Event<'_>) -> String {
        if self.format == Format::Json {
            return json_line(seq, raw, received, "other", serde_json::Value::Null);
        }
        let when = event.timestamp.map_or(received, |t| t.as_f64());
        let mut out = format!(
            "[{}] {} {} (not a task or worker event)\n",
            self.time(when),
            clean(&event.type_name.to_uppercase()),
            clean(event.hostname.as_deref().unwrap_or("-")),
        );
        if self.format == Format::Verbose {
            verbose_event(&mut out, raw);
        }
        out
    }

    fn invalid(&self, seq: u64, raw: &[u8], received: f64, why: &str) -> String {
        if self.format == Format::Json {
            return json_line(seq, raw, received, "error", json!(why));
        }
        let text = String::from_utf8_lossy(raw);
        let shown: String = text.chars().take(200).collect();
        format!(
            "[{}] INVALID ({}) {}\n",
            self.time(received),
            clean(why),
            clean(&shown)
        )
    }
}

/// Escapes control characters so event strings cannot move the cursor, recolour or clear the
/// terminal (`\x1b[2J`), and keeps each event on its own line.
pub fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| match c {
            '\n' => "\\n".to_owned(),
            '\t' => "\\t".to_owned(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn verbose_event(out: &mut String, raw: &[u8]) {
    let _ = writeln!(out, "  event: {}", clean(&String::from_utf8_lossy(raw)));
}

fn json_line(seq: u64, raw: &[u8], received: f64, what: &str, value: serde_json::Value) -> String {
    let event: serde_json::Value =
        serde_json::from_slice(raw).unwrap_or_else(|_| json!(String::from_utf8_lossy(raw)));
    let mut line = json!({"seq": seq, "received": received, "event": event});
    if !value.is_null() {
        line[what] = value;
    }
    format!("{line}\n")
}

/// Every field of a task, in the order the classic monitor prints them (Python's names).
fn task_fields(state: &State, t: &Task) -> Vec<(&'static str, String)> {
    let i = &t.info;
    let m = &t.moments;
    let num =
        |n: Option<stalk_state::Num>| n.map_or("None".to_owned(), |n| Value::from(n).display());
    let val = |v: &Value| {
        if v.is_null() {
            "None".to_owned()
        } else {
            v.display()
        }
    };
    let children: Vec<String> = state
        .children(t)
        .filter_map(|h| state.task_at(h))
        .map(|c| c.uuid.to_string())
        .collect();
    let root = t
        .root_id()
        .and_then(|r| state.task(r))
        .map_or("None".to_owned(), |r| r.uuid.to_string());
    let parent = t
        .parent_id()
        .and_then(|p| state.task(p))
        .map_or("None".to_owned(), |p| p.uuid.to_string());
    vec![
        ("uuid", t.uuid.to_string()),
        ("name", val(&i.name)),
        ("state", t.state.to_string()),
        ("received", num(m.received())),
        ("sent", num(m.sent())),
        ("started", num(m.started())),
        ("rejected", num(m.rejected())),
        ("succeeded", num(m.succeeded())),
        ("failed", num(m.failed())),
        ("retried", num(m.retried())),
        ("revoked", num(m.revoked())),
        ("args", val(&i.args)),
        ("kwargs", val(&i.kwargs)),
        ("eta", val(i.eta())),
        ("expires", val(i.expires())),
        ("retries", val(&i.retries)),
        ("worker", t.worker.as_deref().unwrap_or("None").to_owned()),
        ("result", val(&i.result)),
        ("exception", val(i.exception())),
        ("timestamp", num(t.timestamp())),
        ("runtime", val(&i.runtime)),
        ("traceback", val(i.traceback())),
        ("exchange", val(&i.exchange)),
        ("routing_key", val(&i.routing_key)),
        ("clock", Value::from(t.clock()).display()),
        ("client", t.client.as_deref().unwrap_or("None").to_owned()),
        ("root", root),
        ("root_id", val(&i.root_id)),
        ("parent", parent),
        ("parent_id", val(&i.parent_id)),
        ("children", format!("[{}]", children.join(", "))),
    ]
}

fn task_json(state: &State, t: &Task) -> serde_json::Value {
    let mut v = stalk_state::dump::task(state, t);
    for (k, x) in t.extras() {
        v[&**k] = serde_json::to_value(x).unwrap_or_default();
    }
    v
}

fn worker_json(w: &Worker, now: f64) -> serde_json::Value {
    stalk_state::dump::worker(w, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printer(format: Format) -> Printer {
        Printer::new(
            format,
            Zone::Fixed(FixedOffset::east_opt(0).unwrap()),
            Limits::default(),
        )
    }

    #[test]
    fn lines_follow_the_classic_format_with_the_merged_state() {
        let mut p = printer(Format::Line);
        let sent = br#"{"hostname": "gen1@h", "clock": 3, "uuid": "u1", "name": "app.add", "args": "(1,)", "kwargs": "{}", "timestamp": 1795503313.7081442, "type": "task-sent"}"#;
        let done = br#"{"hostname": "w@h", "clock": 9, "uuid": "u1", "result": "2", "timestamp": 1795503314.5, "type": "task-succeeded"}"#;
        let late = br#"{"hostname": "w@h", "clock": 5, "uuid": "u1", "name": "app.add", "timestamp": 1795503314.25, "type": "task-received"}"#;
        assert_eq!(
            p.event(1, sent, 1795503313.71),
            "[2026-11-24 06:55:13.708144] TASK-SENT app.add (STATE=PENDING, UUID=u1)\n"
        );
        assert_eq!(
            p.event(2, done, 1795503314.6),
            "[2026-11-24 06:55:14.500000] TASK-SUCCEEDED app.add (STATE=SUCCESS, UUID=u1)\n"
        );
        // A late task-received: the merged state stays SUCCESS, as Python's State says.
        assert_eq!(
            p.event(3, late, 1795503314.7),
            "[2026-11-24 06:55:14.500000] TASK-RECEIVED app.add (STATE=SUCCESS, UUID=u1)\n"
        );
    }

    #[test]
    fn hostile_strings_cannot_drive_the_terminal() {
        let mut p = printer(Format::Verbose);
        let evil = br#"{"hostname": "w@h", "clock": 1, "uuid": "u\u001b[2J", "name": "x\u001b[31mred\nnext", "args": "<script>", "timestamp": 1.0, "local_received": 1.0, "type": "task-received"}"#;
        let out = p.event(1, evil, 2.0);
        assert!(!out.contains('\u{1b}'), "{out}");
        assert!(out.contains("x\\u{1b}[31mred\\nnext"), "{out}");
        assert!(out.contains("args: <script>"), "{out}");
        assert_eq!(
            out.lines().next().unwrap().matches('[').count(),
            3,
            "one line per event: {out}"
        );
    }

    #[test]
    fn invalid_unknown_and_worker_events_are_shown_as_such() {
        let mut p = printer(Format::Line);
        assert!(
            p.event(1, b"{\"type\": \"task-started\", \"hostname\": \"w\"}", 5.0)
                .contains("INVALID (event has no `uuid`)")
        );
        assert!(
            p.event(2, b"not json", 5.0)
                .starts_with("[1970-01-01 00:00:05.000000] INVALID (not JSON")
        );
        let other = p.event(
            3,
            br#"{"type": "beat-tick", "hostname": "b@h", "timestamp": 6.0}"#,
            6.0,
        );
        assert!(
            other.contains("BEAT-TICK b@h (not a task or worker event)"),
            "{other}"
        );
        let hb = br#"{"type": "worker-heartbeat", "hostname": "w@h", "freq": 2.0, "active": 2, "processed": 7, "timestamp": 7.0, "clock": 4}"#;
        assert_eq!(
            p.event(4, hb, 7.0),
            "[1970-01-01 00:00:07.000000] WORKER-HEARTBEAT w@h (ALIVE, active=2, processed=7)\n"
        );
        let json = printer(Format::Json).event(5, hb, 7.0);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            (v["seq"].as_u64(), v["worker"]["alive"].as_bool()),
            (Some(5), Some(true))
        );
    }
}
