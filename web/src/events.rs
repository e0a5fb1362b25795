//! The live event log behind `#/events`: one row per event the page received, with the task's
//! state as merged *after* that event (the story a terminal monitor prints, line by line).
//!
//! The log is a ring: it keeps the newest [`EventLog::capacity`] rows and counts the ones it let
//! go, so a busy cluster costs a fixed amount of memory. Events that could not be decoded, and
//! events of groups the State does not know, get a row too: nothing disappears silently.

use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;

use stalk_state::{Applied, Event, State};

/// Rows kept by default (about 1-2 MB of strings in the page).
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Distinct event types remembered for the type filter (types come from the wire: bounded).
pub const MAX_TYPES: usize = 256;

/// Bytes of an undecodable event kept for display.
const RAW_PREVIEW: usize = 200;

/// What kind of event a row is, for filtering and styling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    /// `task-*`.
    Task,
    /// `worker-*`.
    Worker,
    /// Another group (`custom-thing`): counted by the State, shown as it came.
    Other,
    /// Not an event the State could read (broken JSON, missing `type`, wrong types).
    Invalid,
}

impl RowKind {
    /// The `data-kind` value.
    pub fn as_str(self) -> &'static str {
        match self {
            RowKind::Task => "task",
            RowKind::Worker => "worker",
            RowKind::Other => "other",
            RowKind::Invalid => "invalid",
        }
    }
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    /// The relay's sequence number.
    pub seq: u64,
    /// Task, worker, other or invalid.
    pub kind: RowKind,
    /// The event type as sent (`task-received`); `invalid` for undecodable events.
    pub type_name: Rc<str>,
    /// The task id (task events), empty otherwise.
    pub uuid: Rc<str>,
    /// The task's name as merged so far (`-` when unknown), or the worker's hostname.
    pub name: Rc<str>,
    /// The task's state after this event (`RECEIVED`); `ALIVE` / `OFFLINE` for workers; the
    /// decode error's reason for invalid rows; `-` otherwise.
    pub state: Rc<str>,
    /// The sender (`hostname` of the event).
    pub sender: Rc<str>,
    /// The event's `timestamp` (sender's clock), unix seconds.
    pub timestamp: Option<f64>,
    /// A short note: the decode error and the start of the raw text for invalid rows, `active=N`
    /// for worker events.
    pub note: String,
    /// The event as received (its JSON text) and when the relay took it, for export; `None` for
    /// invalid rows.
    pub raw: Option<(Box<str>, f64)>,
}

/// The ring of rows.
#[derive(Clone, Debug)]
pub struct EventLog {
    rows: VecDeque<EventRow>,
    capacity: usize,
    dropped: u64,
    /// Event types seen since the page loaded (at most [`MAX_TYPES`]), for the type filter.
    types: BTreeSet<Rc<str>>,
    /// Interned strings shared by many rows (type names, task names, states, senders).
    words: Words,
}

impl Default for EventLog {
    fn default() -> EventLog {
        EventLog::new(DEFAULT_CAPACITY)
    }
}

impl EventLog {
    /// An empty log keeping at most `capacity` rows (at least 1).
    pub fn new(capacity: usize) -> EventLog {
        EventLog {
            rows: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
            types: BTreeSet::new(),
            words: Words::default(),
        }
    }

    /// Rows kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Rows let go because the log was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row at `i`, oldest first.
    pub fn get(&self, i: usize) -> Option<&EventRow> {
        self.rows.get(i)
    }

    /// Records an event the State just applied (`applied` is what `State::apply` returned);
    /// `raw` is its JSON text and `received` when the relay took it, kept for export.
    pub fn applied(
        &mut self,
        seq: u64,
        event: &Event<'_>,
        applied: &Applied,
        state: &State,
        raw: &str,
        received: f64,
    ) {
        let raw = Some((Box::from(raw), received));
        let sender = self.words.get(event.hostname.as_deref().unwrap_or("-"));
        let type_name = self.words.get(&event.type_name);
        let timestamp = event.timestamp.map(|n| n.as_f64());
        let row = match applied {
            Applied::Task { handle, .. } => {
                let task = state.task_at(*handle);
                let name = task.and_then(|t| t.name()).unwrap_or("-");
                let merged = task.map_or("-", |t| t.state.as_str());
                EventRow {
                    seq,
                    kind: RowKind::Task,
                    type_name,
                    uuid: task.map_or_else(|| Rc::from(""), |t| Rc::clone(&t.uuid)),
                    name: self.words.get(name),
                    state: self.words.get(merged),
                    sender,
                    timestamp,
                    note: String::new(),
                    raw,
                }
            }
            Applied::Worker { hostname, .. } => {
                let worker = state.worker(hostname);
                let alive = worker.is_some_and(|w| w.alive(timestamp.unwrap_or(f64::MAX)));
                let note = worker.map_or_else(String::new, |w| {
                    format!("active={}", crate::format::value(&w.active))
                });
                EventRow {
                    seq,
                    kind: RowKind::Worker,
                    type_name,
                    uuid: Rc::from(""),
                    name: Rc::clone(hostname),
                    state: self.words.get(if alive { "ALIVE" } else { "OFFLINE" }),
                    sender,
                    timestamp,
                    note,
                    raw,
                }
            }
            Applied::Ignored => EventRow {
                seq,
                kind: RowKind::Other,
                type_name,
                uuid: Rc::from(event.uuid.as_deref().unwrap_or("")),
                name: self.words.get("-"),
                state: self.words.get("-"),
                sender,
                timestamp,
                note: String::new(),
                raw,
            },
        };
        self.push(row);
    }

    /// Records an event that could not be read: `why` is the error, `raw` the event's text.
    pub fn invalid(&mut self, seq: u64, reason: &str, why: &str, raw: &str) {
        let mut end = raw.len().min(RAW_PREVIEW);
        while !raw.is_char_boundary(end) {
            end -= 1;
        }
        let ellipsis = if end < raw.len() { "…" } else { "" };
        let row = EventRow {
            seq,
            kind: RowKind::Invalid,
            type_name: self.words.get("invalid"),
            uuid: Rc::from(""),
            name: self.words.get("-"),
            state: self.words.get(reason),
            sender: self.words.get("-"),
            timestamp: None,
            note: format!("{why}: {}{ellipsis}", &raw[..end]),
            raw: None,
        };
        self.push(row);
    }

    fn push(&mut self, row: EventRow) {
        if self.types.len() < MAX_TYPES && !self.types.contains(&row.type_name) {
            self.types.insert(Rc::clone(&row.type_name));
        }
        if self.rows.len() == self.capacity {
            self.rows.pop_front();
            self.dropped += 1;
        }
        self.rows.push_back(row);
    }

    /// Indexes of the rows that pass `filter` and were received up to `until_seq` (a paused
    /// view), newest first.
    pub fn select(&self, filter: &EventFilter, until_seq: Option<u64>) -> Vec<usize> {
        let needle = filter.text.trim().to_lowercase();
        (0..self.rows.len())
            .rev()
            .filter(|&i| {
                let r = &self.rows[i];
                until_seq.is_none_or(|s| r.seq <= s) && filter.matches(r, &needle)
            })
            .collect()
    }

    /// The rows held, oldest first, as NDJSON in the receiver form (opens again in offline mode
    /// and in `stalk-state dump`). Returns the text, the events written and the invalid rows left
    /// out.
    pub fn export_ndjson(&self) -> (String, usize, usize) {
        let mut out = String::new();
        let (mut written, mut skipped) = (0, 0);
        for r in &self.rows {
            match r
                .raw
                .as_ref()
                .and_then(|(e, at)| crate::offline::receiver_line(e, *at))
            {
                Some(line) => {
                    out.push_str(&line);
                    out.push('\n');
                    written += 1;
                }
                None => skipped += 1,
            }
        }
        (out, written, skipped)
    }

    /// The event types seen since the page loaded, sorted (choices for the type filter; kept as
    /// rows arrive, so drawing the page does not scan the log).
    pub fn types(&self) -> &BTreeSet<Rc<str>> {
        &self.types
    }
}

/// What the events page filters on. Empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Exactly this event type (`task-failed`), or a group: `task-*`, `worker-*`.
    pub event_type: String,
    /// Exactly this state (`FAILURE`, `ALIVE`, or an invalid row's reason).
    pub state: String,
    /// Case-insensitive substring of the task name, uuid or sender.
    pub text: String,
}

impl EventFilter {
    fn matches(&self, r: &EventRow, needle: &str) -> bool {
        let type_ok = match self.event_type.strip_suffix('*') {
            _ if self.event_type.is_empty() => true,
            Some(prefix) => r.type_name.starts_with(prefix),
            None => *r.type_name == *self.event_type,
        };
        let state_ok = self.state.is_empty() || *r.state == *self.state;
        let text_ok = needle.is_empty()
            || [&r.name, &r.uuid, &r.sender]
                .iter()
                .any(|s| s.to_lowercase().contains(needle));
        type_ok && state_ok && text_ok
    }
}

/// A tiny interner: rows share one allocation per distinct short string. Bounded: past
/// [`Words::MAX`] distinct strings it stops remembering new ones (they are then allocated per
/// row, which is still correct). Every event looks up four strings here, so it hashes with Fx,
/// much cheaper than the default SipHash on short strings; colliding names sent on purpose could
/// only slow lookups within the bound of [`Words::MAX`] entries.
#[derive(Clone, Debug, Default)]
struct Words {
    known: rustc_hash::FxHashMap<Rc<str>, ()>,
}

impl Words {
    const MAX: usize = 4096;

    fn get(&mut self, s: &str) -> Rc<str> {
        if let Some((k, _)) = self.known.get_key_value(s) {
            return Rc::clone(k);
        }
        let k: Rc<str> = Rc::from(s);
        if self.known.len() < Self::MAX {
            self.known.insert(Rc::clone(&k), ());
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stalk_state::{Limits, Receiver, decode_event};

    fn apply(log: &mut EventLog, state: &mut State, seq: u64, text: &str) {
        match decode_event(text.as_bytes()) {
            Ok(mut ev) => {
                Receiver::new().normalise(&mut ev, 20.0);
                let applied = state.apply(&ev).expect("apply");
                log.applied(seq, &ev, &applied, state, text, 20.0);
            }
            Err(e) => log.invalid(seq, e.reason(), &e.to_string(), text),
        }
    }

    const EVENTS: [&str; 6] = [
        r#"{"type":"task-received","uuid":"t1","name":"app.visit","hostname":"w@h","timestamp":10.0,"clock":1,"args":"['<script>']"}"#,
        r#"{"type":"task-started","uuid":"t1","hostname":"w@h","timestamp":11.0,"clock":2}"#,
        r#"{"type":"worker-heartbeat","hostname":"w@h","timestamp":11.5,"clock":3,"freq":2.0,"active":1,"processed":0}"#,
        r#"{"type":"custom-thing","hostname":"x@h","timestamp":12.0}"#,
        r#"{"no_type":1}"#,
        r#"{"type":"task-failed","uuid":"t1","hostname":"w@h","timestamp":13.0,"clock":4,"exception":"E()"}"#,
    ];

    fn story() -> EventLog {
        let mut state = State::new(Limits::default());
        let mut log = EventLog::new(100);
        for (i, e) in EVENTS.iter().enumerate() {
            apply(&mut log, &mut state, i as u64 + 1, e);
        }
        log
    }

    #[test]
    fn each_row_carries_the_state_merged_after_its_event() {
        let log = story();
        let rows: Vec<(&str, &str, &str, &str)> = (0..log.len())
            .map(|i| {
                let r = log.get(i).unwrap();
                (&*r.type_name, r.kind.as_str(), &*r.name, &*r.state)
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("task-received", "task", "app.visit", "RECEIVED"),
                ("task-started", "task", "app.visit", "STARTED"),
                ("worker-heartbeat", "worker", "w@h", "ALIVE"),
                ("custom-thing", "other", "-", "-"),
                ("invalid", "invalid", "-", "missing_type"),
                ("task-failed", "task", "app.visit", "FAILURE"),
            ]
        );
        let invalid = log.get(4).unwrap();
        assert!(invalid.note.contains("no_type"), "{}", invalid.note);
        assert_eq!(log.get(2).unwrap().note, "active=1");
    }

    #[test]
    fn filters_select_newest_first() {
        let log = story();
        let all = log.select(&EventFilter::default(), None);
        assert_eq!(all, [5, 4, 3, 2, 1, 0]);
        let f = |event_type: &str, state: &str, text: &str| EventFilter {
            event_type: event_type.into(),
            state: state.into(),
            text: text.into(),
        };
        assert_eq!(log.select(&f("task-*", "", ""), None), [5, 1, 0]);
        assert_eq!(log.select(&f("task-started", "", ""), None), [1]);
        assert_eq!(log.select(&f("", "FAILURE", ""), None), [5]);
        assert_eq!(log.select(&f("", "", "VISIT"), None), [5, 1, 0]);
        assert_eq!(log.select(&f("", "", "x@h"), None), [3]);
        // Paused at seq 2: later rows are held back.
        assert_eq!(log.select(&EventFilter::default(), Some(2)), [1, 0]);
        assert_eq!(
            log.types().iter().map(|t| &**t).collect::<Vec<_>>(),
            [
                "custom-thing",
                "invalid",
                "task-failed",
                "task-received",
                "task-started",
                "worker-heartbeat"
            ]
        );
    }

    #[test]
    fn the_ring_keeps_the_newest_rows_and_counts_the_rest() {
        let mut state = State::new(Limits::default());
        let mut log = EventLog::new(2);
        for (i, e) in EVENTS.iter().enumerate() {
            apply(&mut log, &mut state, i as u64 + 1, e);
        }
        assert_eq!((log.len(), log.dropped(), log.capacity()), (2, 4, 2));
        assert_eq!(log.get(0).unwrap().seq, 5);
        assert_eq!(log.get(1).unwrap().seq, 6);
    }

    #[test]
    fn the_export_reopens_as_the_same_events() {
        let log = story();
        let (text, written, skipped) = log.export_ndjson();
        assert_eq!((written, skipped), (5, 1), "the invalid row is left out");
        let again = crate::offline::parse_recording(&text);
        assert_eq!(again.bad_lines, 0);
        let types: Vec<String> = again
            .events
            .iter()
            .map(|(at, e)| {
                assert_eq!(*at, 20.0);
                serde_json::from_str::<serde_json::Value>(e).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            types,
            [
                "task-received",
                "task-started",
                "worker-heartbeat",
                "custom-thing",
                "task-failed"
            ]
        );
    }

    #[test]
    fn invalid_previews_are_cut_on_a_char_boundary() {
        let mut log = EventLog::new(4);
        let raw = "é".repeat(300);
        log.invalid(1, "not_json", "not JSON", &raw);
        let note = &log.get(0).unwrap().note;
        assert!(note.ends_with('…') && note.len() < 220, "{note}");
    }
}
