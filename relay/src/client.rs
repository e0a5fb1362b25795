//! Per-client delivery logic, sans-IO: a cursor into the shared history and the frame batching rule.
//!
//! A client has no queue of its own: its pending events are the history entries after its cursor,
//! so they are bounded by the history bounds whatever the number or speed of clients. A client that
//! falls behind the oldest kept event gets a `gap` frame for what it lost and continues from there;
//! the consumer never waits for any client. In flight per client: at most one frame of at most
//! [`Batch::max_events`] events (about [`Batch::max_bytes`]).

use std::time::{Duration, Instant};

use crate::history::History;
use crate::protocol::ServerFrame;

/// Default most events in one `events` frame.
pub const DEFAULT_FRAME_MAX_EVENTS: usize = 500;

/// Default most bytes (event JSON plus overhead) in one `events` frame: 1 MiB.
pub const DEFAULT_FRAME_MAX_BYTES: usize = 1024 * 1024;

/// Default shortest time between two `events` frames to one client: 25 ms, i.e. at most 40
/// frames per second, while a lone event after a quiet period still goes out at once.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(25);

/// How events are batched into frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Most events per frame.
    pub max_events: usize,
    /// Most bytes per frame (a single larger event still goes out alone).
    pub max_bytes: usize,
    /// Shortest time between two frames, unless a full frame is waiting.
    pub flush_interval: Duration,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch {
            max_events: DEFAULT_FRAME_MAX_EVENTS,
            max_bytes: DEFAULT_FRAME_MAX_BYTES,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
        }
    }
}

/// One client's position in the event stream.
#[derive(Debug)]
pub struct Cursor {
    /// The last seq this client was sent, or told about with a `gap`.
    last: u64,
    /// When the last `events` frame went out.
    last_flush: Option<Instant>,
}

impl Cursor {
    /// A cursor for a client that asked for `since` (`None`: the whole history). A `since` beyond
    /// the newest event (the relay restarted, numbering from 1 again) is clamped to the newest:
    /// the client sees that in `hello` (`newest_seq < since`, new `instance`) and gets live events.
    pub fn new(since: Option<u64>, newest_seq: u64) -> Cursor {
        Cursor {
            last: since.unwrap_or(0).min(newest_seq),
            last_flush: None,
        }
    }

    /// The last seq delivered or announced.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Whether events are waiting for this client.
    pub fn behind(&self, newest_seq: u64) -> bool {
        self.last < newest_seq
    }

    /// When the next frame may go out: now if a full frame is waiting or the flush interval has
    /// passed since the last frame, else at the end of the interval.
    pub fn next_flush(&self, newest_seq: u64, batch: &Batch, now: Instant) -> Instant {
        let full = newest_seq - self.last.min(newest_seq) >= batch.max_events as u64;
        match self.last_flush {
            Some(at) if !full => (at + batch.flush_interval).max(now),
            _ => now,
        }
    }

    /// Takes the next frames for this client out of `history`: a `gap` if it fell behind the
    /// oldest kept event, then one `events` frame (if any are waiting). Advances the cursor.
    pub fn pull(&mut self, history: &History, batch: &Batch, now: Instant) -> Vec<ServerFrame> {
        let read = history.read_after(self.last, batch.max_events, batch.max_bytes);
        let mut frames = Vec::with_capacity(2);
        if let Some((from, to)) = read.gap {
            frames.push(ServerFrame::Gap { from, to });
            self.last = to;
        }
        if let Some(last) = read.entries.last() {
            self.last = last.seq;
            self.last_flush = Some(now);
            frames.push(ServerFrame::Events {
                events: read.entries,
            });
        }
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Limits;
    use serde_json::value::RawValue;

    fn history(n: usize, max_events: usize) -> History {
        let mut h = History::new(Limits {
            max_events,
            max_bytes: usize::MAX,
        });
        for _ in 0..n {
            h.push(RawValue::from_string("{}".into()).unwrap(), 0.0);
        }
        h
    }

    /// Frames as compact strings: `gap a-b` or `events a..b`.
    fn show(frames: &[ServerFrame]) -> Vec<String> {
        frames
            .iter()
            .map(|f| match f {
                ServerFrame::Gap { from, to } => format!("gap {from}-{to}"),
                ServerFrame::Events { events } => {
                    format!("events {}..{}", events[0].seq, events.last().unwrap().seq)
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn replays_history_then_follows_live() {
        let batch = Batch {
            max_events: 4,
            ..Batch::default()
        };
        let now = Instant::now();
        let mut h = history(6, 100);
        let mut c = Cursor::new(None, h.newest_seq());
        assert_eq!(show(&c.pull(&h, &batch, now)), ["events 1..4"]);
        assert_eq!(show(&c.pull(&h, &batch, now)), ["events 5..6"]);
        assert!(c.pull(&h, &batch, now).is_empty());
        h.push(RawValue::from_string("{}".into()).unwrap(), 0.0);
        assert!(c.behind(h.newest_seq()));
        assert_eq!(show(&c.pull(&h, &batch, now)), ["events 7..7"]);
        assert!(!c.behind(h.newest_seq()));
    }

    #[test]
    fn resumes_with_since_and_gaps_beyond_history() {
        let batch = Batch::default();
        let now = Instant::now();
        let h = history(10, 5); // keeps 6..=10
        let cases: &[(Option<u64>, &[&str])] = &[
            (None, &["gap 1-5", "events 6..10"]),
            (Some(0), &["gap 1-5", "events 6..10"]),
            (Some(3), &["gap 4-5", "events 6..10"]),
            (Some(5), &["events 6..10"]),
            (Some(8), &["events 9..10"]),
            (Some(10), &[]),
            (Some(500), &[]),
        ];
        for (since, want) in cases {
            let mut c = Cursor::new(*since, h.newest_seq());
            assert_eq!(show(&c.pull(&h, &batch, now)), *want, "since {since:?}");
            assert_eq!(c.last(), 10);
        }
    }

    #[test]
    fn slow_client_gets_a_gap_and_continues() {
        let batch = Batch {
            max_events: 2,
            ..Batch::default()
        };
        let now = Instant::now();
        let mut h = history(3, 4);
        let mut c = Cursor::new(None, h.newest_seq());
        assert_eq!(show(&c.pull(&h, &batch, now)), ["events 1..2"]);
        // the client stalls while 6 more events arrive; history keeps only the last 4
        for _ in 0..6 {
            h.push(RawValue::from_string("{}".into()).unwrap(), 0.0);
        }
        assert_eq!(show(&c.pull(&h, &batch, now)), ["gap 3-5", "events 6..7"]);
        assert_eq!(show(&c.pull(&h, &batch, now)), ["events 8..9"]);
    }

    #[test]
    fn flush_timing() {
        let batch = Batch {
            max_events: 3,
            flush_interval: Duration::from_millis(25),
            ..Batch::default()
        };
        let t0 = Instant::now();
        let mut h = history(1, 100);
        let mut c = Cursor::new(None, h.newest_seq());
        // first frame: immediately
        assert_eq!(c.next_flush(h.newest_seq(), &batch, t0), t0);
        c.pull(&h, &batch, t0);
        h.push(RawValue::from_string("{}".into()).unwrap(), 0.0);
        // one event waiting, just flushed: wait for the interval
        let t1 = t0 + Duration::from_millis(5);
        assert_eq!(
            c.next_flush(h.newest_seq(), &batch, t1),
            t0 + Duration::from_millis(25)
        );
        // interval passed: now
        let t2 = t0 + Duration::from_millis(40);
        assert_eq!(c.next_flush(h.newest_seq(), &batch, t2), t2);
        // a full frame waiting: now, even within the interval
        for _ in 0..3 {
            h.push(RawValue::from_string("{}".into()).unwrap(), 0.0);
        }
        assert_eq!(c.next_flush(h.newest_seq(), &batch, t1), t1);
    }
}
