//! Everything the browser holds, without IO: the State, the receiver's clock, where the stream
//! stands (last seq, relay instance), the broker as last reported, the relay's clock offset and the
//! task table's live query. The UI feeds it frames and reads it; it never touches the DOM or the
//! network, so it is tested natively.

use stalk_state::views::{Filter, LiveQuery, SortKey};
use stalk_state::{Applied, Event, Handle, Limits, Receiver, State, TaskState, decode_event};

use crate::events::EventLog;
use crate::protocol::{self, Broker, Frame, RelayLosses};
use crate::rates::Rates;

/// What a `hello` means for the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Same relay (or first connection): carry on.
    Continue,
    /// The relay restarted (new `instance`) while we held events: the saved `since` was void and
    /// the relay's history is a different numbering. Reset and reconnect without `since`.
    Restarted,
}

/// The WebSocket as the indicator shows it (`data-state` of `data-testid="connection"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Opening, or waiting for `hello`.
    Connecting,
    /// `hello` received: live.
    Open,
    /// Closed; a reconnect is scheduled.
    Closed,
    /// No relay: a recording opened in the page is shown.
    Offline,
}

impl ConnState {
    /// The `data-state` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::Connecting => "connecting",
            ConnState::Open => "open",
            ConnState::Closed => "closed",
            ConnState::Offline => "offline",
        }
    }
}

/// A hole announced by the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// First missing seq.
    pub from: u64,
    /// Last missing seq.
    pub to: u64,
}

/// The browser's model of the cluster and of the stream.
pub struct Model {
    /// The exact Celery State.
    pub state: State,
    receiver: Receiver,
    /// The task table: filtered, sorted, updated from each apply.
    pub query: LiveQuery,
    /// Highest seq applied (0: none).
    pub last_seq: u64,
    /// The relay process we are numbered against.
    pub instance: Option<String>,
    /// Broker as last reported.
    pub broker: Broker,
    /// Relay clock minus local clock, seconds (from `hello` / `status`).
    pub clock_offset: f64,
    /// Holes announced since the page loaded (most recent last; at most [`MAX_GAPS`]).
    pub gaps: Vec<Gap>,
    /// Frames or events that could not be read (bad JSON, undecodable events).
    pub bad_input: u64,
    /// What the relay lost before the page could see it, as its last `status` said.
    pub relay_losses: RelayLosses,
    /// The newest events, one row each, for `#/events`.
    pub events: EventLog,
    /// Failed tasks, newest first (the dashboard's recent failures).
    pub failures: LiveQuery,
    /// Events and new tasks per second, for the dashboard.
    pub rates: Rates,
}

/// Gaps remembered for display.
pub const MAX_GAPS: usize = 8;

/// What one batch of events changed.
#[derive(Default)]
struct Batch {
    /// Events read (applied or not).
    applied: usize,
    /// Tasks seen for the first time.
    created_tasks: u32,
    /// Tasks created, changed or evicted.
    changed: Vec<Handle>,
}

/// The filter of the recent-failures list.
fn failed() -> Filter {
    Filter {
        states: vec![TaskState::Failure],
        ..Filter::default()
    }
}

impl Model {
    /// An empty model with these State bounds, keeping the newest `event_rows` events for the
    /// event log.
    pub fn new(limits: Limits, event_rows: usize) -> Model {
        let state = State::new(limits);
        let query = LiveQuery::new(&state, Filter::default(), SortKey::Timestamp, true);
        let failures = LiveQuery::new(&state, failed(), SortKey::Timestamp, true);
        Model {
            failures,
            rates: Rates::default(),
            state,
            receiver: Receiver::new(),
            query,
            last_seq: 0,
            instance: None,
            broker: Broker::default(),
            clock_offset: 0.0,
            gaps: Vec::new(),
            bad_input: 0,
            relay_losses: RelayLosses::default(),
            events: EventLog::new(event_rows),
        }
    }

    /// Empties everything (keeps the bounds and the table's filter and order): for a full reload
    /// from the relay's history.
    pub fn reset(&mut self) {
        let (key, descending) = self.query.sort();
        let filter = self.query.filter().clone();
        let mut fresh = Model::new(self.state.limits(), self.events.capacity());
        fresh.set_query(filter, key, descending);
        *self = fresh;
    }

    /// Changes the task table's filter and order (one pass over the tasks in memory).
    pub fn set_query(&mut self, filter: Filter, key: SortKey, descending: bool) {
        self.query = LiveQuery::new(&self.state, filter, key, descending);
    }

    /// The `since` to resume with, if any event was applied.
    pub fn since(&self) -> Option<u64> {
        (self.last_seq > 0).then_some(self.last_seq)
    }

    /// The relay's clock now, from our clock `local_now` (unix seconds) and the measured offset:
    /// worker liveness is judged against it, so a skewed local clock does not mark workers offline.
    pub fn relay_now(&self, local_now: f64) -> f64 {
        local_now + self.clock_offset
    }

    /// Reads a `hello` (the first frame of every connection). `local_now` is our clock.
    pub fn hello(
        &mut self,
        instance: Option<&str>,
        now: f64,
        broker: Broker,
        local_now: f64,
    ) -> Resume {
        self.clock_offset = now - local_now;
        self.broker = broker;
        let restarted =
            self.last_seq > 0 && instance.is_some() && self.instance.as_deref() != instance;
        self.instance = instance.map(str::to_owned);
        if restarted {
            Resume::Restarted
        } else {
            Resume::Continue
        }
    }

    /// Applies the entries `(seq, received, event text)` of an `events` frame.
    fn events_frame<'t>(
        &mut self,
        entries: impl Iterator<Item = (u64, f64, &'t str)>,
        local_now: f64,
    ) -> usize {
        let mut batch = Batch::default();
        for (seq, received, raw) in entries {
            self.event_entry(seq, received, raw, None, &mut batch);
        }
        self.finish(batch, Some(local_now))
    }

    /// One entry of an `events` frame: applied unless already held (a resume overlapping what we
    /// hold).
    fn event_entry(
        &mut self,
        seq: u64,
        received: f64,
        raw: &str,
        decoded: Option<Event<'_>>,
        batch: &mut Batch,
    ) {
        if seq <= self.last_seq {
            return;
        }
        self.last_seq = seq;
        self.entry(seq, received, raw, decoded, batch);
    }

    /// Applies one event (`raw`: its JSON text; `decoded`: the event, when the frame's fast path
    /// already decoded it) and notes what changed in `batch`.
    fn entry(
        &mut self,
        seq: u64,
        received: f64,
        raw: &str,
        decoded: Option<Event<'_>>,
        batch: &mut Batch,
    ) {
        batch.applied += 1;
        let decoded = match decoded {
            Some(event) => Ok(event),
            None => decode_event(raw.as_bytes()),
        };
        let mut event = match decoded {
            Ok(event) => event,
            Err(e) => {
                self.bad_input += 1;
                self.state.count_rejected();
                self.events.invalid(seq, e.reason(), &e.to_string(), raw);
                return;
            }
        };
        self.receiver.normalise(&mut event, received);
        match self.state.apply(&event) {
            Ok(applied) => {
                if let Applied::Task {
                    handle,
                    evicted,
                    created,
                    ..
                } = &applied
                {
                    batch.created_tasks += u32::from(*created);
                    batch.changed.push(*handle);
                    batch.changed.extend(evicted.as_ref().map(|e| e.handle));
                }
                self.events
                    .applied(seq, &event, &applied, &self.state, raw, received);
            }
            Err(e) => {
                self.bad_input += 1;
                self.events
                    .invalid(seq, "missing_field", &e.to_string(), raw);
            }
        }
    }

    /// Brings the views up to date after a batch; `local_now` (our clock) counts it in the rates
    /// (`None` for a recording opened offline, whose events did not just happen).
    fn finish(&mut self, mut batch: Batch, local_now: Option<f64>) -> usize {
        // A task usually gets several events per batch: re-place it once.
        batch.changed.sort_unstable();
        batch.changed.dedup();
        self.query
            .update(&self.state, batch.changed.iter().copied());
        self.failures.update(&self.state, batch.changed);
        if let Some(now) = local_now {
            self.rates
                .record(now, batch.applied as u32, batch.created_tasks);
        }
        batch.applied
    }

    /// Replaces everything with the events of a recording (offline mode: no relay). Returns the
    /// events applied and the lines that could not be read.
    pub fn load_recording(&mut self, text: &str) -> (usize, usize) {
        let recording = crate::offline::parse_recording(text);
        self.reset();
        let mut batch = Batch::default();
        for (i, (received, event)) in recording.events.iter().enumerate() {
            self.entry(i as u64 + 1, *received, event, None, &mut batch);
        }
        self.last_seq = recording.events.len() as u64;
        (self.finish(batch, None), recording.bad_lines)
    }

    /// Applies one text frame (any kind but `hello`, which the connection handles through
    /// [`Model::hello`]; a `hello` here only updates the clock and broker). Returns the number of
    /// events applied.
    pub fn frame(&mut self, text: &str, local_now: f64) -> usize {
        // The relay's own events frames: each event decoded once, applied as it is read.
        let mut batch = Batch::default();
        let whole = protocol::events_fast(text, |e| {
            self.event_entry(e.seq, e.received, e.raw, Some(e.event), &mut batch)
        });
        if whole {
            return self.finish(batch, Some(local_now));
        }
        // Anything else is read the general way; events the fast path took are skipped by seq.
        let taken = if batch.applied > 0 {
            self.finish(batch, Some(local_now))
        } else {
            0
        };
        let Ok(frame) = protocol::parse(text) else {
            self.bad_input += 1;
            return taken;
        };
        match frame {
            Frame::Events { events } => {
                let entries = events.iter().map(|e| (e.seq, e.received, e.event.get()));
                taken + self.events_frame(entries, local_now)
            }
            Frame::Gap { from, to } => {
                if self.gaps.len() == MAX_GAPS {
                    self.gaps.remove(0);
                }
                self.gaps.push(Gap { from, to });
                self.last_seq = self.last_seq.max(to);
                0
            }
            Frame::Status {
                now,
                broker,
                losses,
            } => {
                self.clock_offset = now - local_now;
                self.broker = broker;
                self.relay_losses = losses;
                0
            }
            Frame::Hello { now, broker, .. } => {
                self.clock_offset = now - local_now;
                self.broker = broker;
                0
            }
            Frame::Other => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stalk_state::TaskState;

    fn events_frame(entries: &[(u64, &str)]) -> String {
        let list: Vec<String> = entries
            .iter()
            .map(|(seq, ev)| format!(r#"{{"seq":{seq},"received":100.0,"event":{ev}}}"#))
            .collect();
        format!(r#"{{"kind":"events","events":[{}]}}"#, list.join(","))
    }

    const SENT: &str = r#"{"type":"task-sent","uuid":"t1","name":"app.add","hostname":"c","timestamp":99.0,"clock":1,"root_id":"t1"}"#;
    const DONE: &str = r#"{"type":"task-succeeded","uuid":"t1","hostname":"w","timestamp":99.5,"clock":2,"result":"3","runtime":0.5}"#;

    #[test]
    fn events_are_applied_once_in_seq_order() {
        let mut m = Model::new(Limits::default(), 100);
        assert_eq!(m.frame(&events_frame(&[(1, SENT)]), 0.0), 1);
        // A resume that overlaps: seq 1 again is skipped, seq 2 applied.
        assert_eq!(m.frame(&events_frame(&[(1, SENT), (2, DONE)]), 0.0), 1);
        assert_eq!(
            (m.last_seq, m.since(), m.state.event_count()),
            (2, Some(2), 2)
        );
        assert_eq!(m.state.task("t1").unwrap().state, TaskState::Success);
        assert_eq!(m.query.len(), 1);
    }

    #[test]
    fn bad_input_is_counted_not_fatal() {
        let mut m = Model::new(Limits::default(), 100);
        assert_eq!(m.frame("{nope", 0.0), 0);
        let n = m.frame(&events_frame(&[(1, r#"{"no_type":1}"#), (2, SENT)]), 0.0);
        assert_eq!((n, m.bad_input, m.state.task_len()), (2, 2, 1));
    }

    #[test]
    fn a_bad_event_midway_costs_only_itself() {
        let mut m = Model::new(Limits::default(), 100);
        let other = SENT.replace("t1", "t2");
        // The fast path takes seq 1, stops at seq 2, and the general path does the rest.
        let frame = events_frame(&[(1, SENT), (2, r#"{"type":"task-sent"}"#), (3, &other)]);
        assert_eq!(m.frame(&frame, 0.0), 3);
        assert_eq!((m.bad_input, m.state.task_len(), m.last_seq), (1, 2, 3));
        assert_eq!(m.events.len(), 3);
    }

    #[test]
    fn evicted_tasks_leave_the_table() {
        let mut m = Model::new(
            Limits {
                max_tasks: 1,
                max_workers: 1,
            },
            100,
        );
        m.frame(&events_frame(&[(1, SENT)]), 0.0);
        let other = SENT.replace("t1", "t2");
        m.frame(&events_frame(&[(2, &other)]), 0.0);
        assert_eq!(m.query.len(), 1);
        let h = m.query.window(0, 10)[0];
        assert_eq!(&*m.state.task_at(h).unwrap().uuid, "t2");
    }

    #[test]
    fn a_recording_replaces_what_is_held() {
        let mut m = Model::new(Limits::default(), 100);
        m.frame(&events_frame(&[(1, SENT)]), 0.0);
        let other = SENT.replace("t1", "t9");
        let done = DONE.replace("t1", "t9");
        let text = format!("{other}\nnot json\n{{\"recv\": 3.0, \"body\": {done}}}\n");
        assert_eq!(m.load_recording(&text), (2, 1));
        assert!(m.state.task("t1").is_none(), "the live state was replaced");
        assert_eq!(m.state.task("t9").unwrap().state, TaskState::Success);
        assert_eq!((m.query.len(), m.events.len(), m.last_seq), (1, 2, 2));
    }

    #[test]
    fn hello_sets_clock_and_detects_a_restarted_relay() {
        let mut m = Model::new(Limits::default(), 100);
        let b = Broker::default();
        assert_eq!(
            m.hello(Some("a"), 1000.0, b.clone(), 990.0),
            Resume::Continue
        );
        assert_eq!(m.relay_now(995.0), 1005.0);
        m.frame(&events_frame(&[(1, SENT)]), 0.0);
        assert_eq!(
            m.hello(Some("a"), 1000.0, b.clone(), 1000.0),
            Resume::Continue
        );
        assert_eq!(m.hello(Some("b"), 1000.0, b, 1000.0), Resume::Restarted);
        m.reset();
        assert_eq!((m.since(), m.state.task_len(), m.query.len()), (None, 0, 0));
    }

    #[test]
    fn gaps_are_remembered_and_skipped() {
        let mut m = Model::new(Limits::default(), 100);
        m.frame(r#"{"kind":"gap","from":1,"to":5}"#, 0.0);
        assert_eq!(
            (m.gaps.clone(), m.last_seq),
            (vec![Gap { from: 1, to: 5 }], 5)
        );
        let status = r#"{"kind":"status","now":50.0,"broker":{"state":"down","url":"u"}}"#;
        m.frame(status, 40.0);
        assert_eq!((m.clock_offset, m.broker.state.as_str()), (10.0, "down"));
        assert_eq!(m.relay_losses, RelayLosses::default());
        let status = r#"{"kind":"status","now":51.0,"broker":{"state":"connected","url":"u"},"decode_errors":3,"broker_dropped":7,"clients":2}"#;
        m.frame(status, 41.0);
        assert_eq!(
            m.relay_losses,
            RelayLosses {
                decode_errors: 3,
                broker_dropped: 7
            }
        );
    }
}
