//! The relay's bounded history: every event it took off the broker, numbered, oldest evicted first.
//!
//! Sans-IO: no clock, no locks, no tasks. The server wraps one [`History`] in a mutex; each client
//! keeps only a cursor into it (see [`crate::client`]), so memory depends on the history bounds and
//! not on the number or speed of clients.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Default bound on the number of events kept: about an hour of a busy small cluster, and enough
/// for a browser that reconnects after a laptop sleep of a few minutes at 100 events/s.
pub const DEFAULT_MAX_EVENTS: usize = 200_000;

/// Default bound on the bytes kept (raw JSON plus [`ENTRY_OVERHEAD`] per event): 256 MiB.
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024 * 1024;

/// What one entry costs beyond its JSON text: the `Arc` header, the `Entry` fields, the box and the
/// deque slot. An estimate, deliberately on the high side, so the byte bound is an upper bound.
pub const ENTRY_OVERHEAD: usize = 64;

/// One event as the relay keeps and forwards it (`{"seq", "received", "event"}` on the wire).
#[derive(Debug, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the relay's stream: increases by exactly 1 per event across the relay's life.
    pub seq: u64,
    /// When the relay took the message off the broker (unix seconds), Celery's `local_received`.
    pub received: f64,
    /// The event exactly as published (one element of a `task.multi` batch, or the whole body).
    pub event: Box<RawValue>,
}

impl Entry {
    /// Bytes this entry counts against [`Limits::max_bytes`].
    pub fn cost(&self) -> usize {
        self.event.get().len() + ENTRY_OVERHEAD
    }
}

/// The history's bounds; whichever is reached first evicts the oldest events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most events kept (at least 1).
    pub max_events: usize,
    /// Most bytes kept, counted by [`Entry::cost`]. One event larger than this is still kept alone
    /// (bodies are already bounded by the decoder's `max_body_bytes`).
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_events: DEFAULT_MAX_EVENTS,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// What a reader gets after its cursor: possibly a gap (events it will never see), then entries.
#[derive(Debug, Default)]
pub struct Read {
    /// `Some((from, to))`: events `from..=to` are gone from history.
    pub gap: Option<(u64, u64)>,
    /// Entries with `seq > since`, oldest first, at most what was asked.
    pub entries: Vec<Arc<Entry>>,
}

/// A FIFO of the latest events, bounded by count and bytes. Sequence numbers start at 1.
#[derive(Debug)]
pub struct History {
    entries: VecDeque<Arc<Entry>>,
    bytes: usize,
    limits: Limits,
    /// The seq the next pushed event gets.
    next_seq: u64,
    evicted: u64,
}

impl History {
    /// An empty history with these bounds.
    pub fn new(limits: Limits) -> History {
        let limits = Limits {
            max_events: limits.max_events.max(1),
            ..limits
        };
        History {
            entries: VecDeque::new(),
            bytes: 0,
            limits,
            next_seq: 1,
            evicted: 0,
        }
    }

    /// Appends one event, evicting the oldest ones if a bound is exceeded; returns its seq.
    pub fn push(&mut self, event: Box<RawValue>, received: f64) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Arc::new(Entry {
            seq,
            received,
            event,
        });
        self.bytes += entry.cost();
        self.entries.push_back(entry);
        while self.entries.len() > self.limits.max_events
            || (self.bytes > self.limits.max_bytes && self.entries.len() > 1)
        {
            let old = self.entries.pop_front().expect("len > 1");
            self.bytes -= old.cost();
            self.evicted += 1;
        }
        seq
    }

    /// Seq of the oldest event kept, or `newest_seq() + 1` when empty (nothing is older).
    pub fn oldest_seq(&self) -> u64 {
        self.entries.front().map_or(self.next_seq, |e| e.seq)
    }

    /// Seq of the newest event ever pushed (0 before the first).
    pub fn newest_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Number of events kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes kept, as counted against the bound.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The bounds.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Events evicted since start (they may still have reached connected clients).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Entries with `seq > since`, at most `max_events` of them and about `max_bytes` (always at
    /// least one when any is available), plus the gap if `since + 1` is already evicted. A `since`
    /// beyond the newest event (e.g. from a previous relay life) reads as "nothing yet".
    pub fn read_after(&self, since: u64, max_events: usize, max_bytes: usize) -> Read {
        let oldest = self.oldest_seq();
        let mut read = Read::default();
        let mut from = since + 1;
        if from < oldest {
            read.gap = Some((from, oldest - 1));
            from = oldest;
        }
        let start = (from - oldest) as usize;
        let mut bytes = 0;
        for entry in self.entries.iter().skip(start).take(max_events.max(1)) {
            bytes += entry.cost();
            if bytes > max_bytes && !read.entries.is_empty() {
                break;
            }
            read.entries.push(entry.clone());
        }
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn seqs(read: &Read) -> Vec<u64> {
        read.entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn numbers_from_one_and_bounds_by_count() {
        let mut h = History::new(Limits {
            max_events: 3,
            max_bytes: usize::MAX,
        });
        assert_eq!((h.oldest_seq(), h.newest_seq(), h.len()), (1, 0, 0));
        for i in 1..=5 {
            assert_eq!(h.push(raw("{}"), 0.0), i);
        }
        assert_eq!(
            (h.oldest_seq(), h.newest_seq(), h.len(), h.evicted()),
            (3, 5, 3, 2)
        );
        assert_eq!(h.bytes(), 3 * (2 + ENTRY_OVERHEAD));
    }

    #[test]
    fn bounds_by_bytes_but_keeps_one_oversized_event() {
        let ten = r#"{"a":"12"}"#; // 10 bytes
        let mut h = History::new(Limits {
            max_events: 100,
            max_bytes: 2 * (10 + ENTRY_OVERHEAD),
        });
        for _ in 0..4 {
            h.push(raw(ten), 0.0);
        }
        assert_eq!((h.len(), h.oldest_seq()), (2, 3));
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(500));
        h.push(raw(&big), 0.0);
        assert_eq!((h.len(), h.oldest_seq(), h.newest_seq()), (1, 5, 5));
    }

    #[test]
    fn read_after_resumes_and_reports_gaps() {
        let mut h = History::new(Limits {
            max_events: 4,
            max_bytes: usize::MAX,
        });
        for _ in 0..6 {
            h.push(raw("{}"), 1.5);
        }
        // history holds 3..=6
        type Case = (u64, Option<(u64, u64)>, &'static [u64]);
        let cases: &[Case] = &[
            (0, Some((1, 2)), &[3, 4, 5, 6]),
            (1, Some((2, 2)), &[3, 4, 5, 6]),
            (2, None, &[3, 4, 5, 6]),
            (4, None, &[5, 6]),
            (6, None, &[]),
            (99, None, &[]),
        ];
        for (since, gap, want) in cases {
            let read = h.read_after(*since, 100, usize::MAX);
            assert_eq!(read.gap, *gap, "since={since}");
            assert_eq!(seqs(&read), *want, "since={since}");
        }
    }

    #[test]
    fn read_after_respects_batch_bounds() {
        let mut h = History::new(Limits::default());
        for _ in 0..10 {
            h.push(raw("{}"), 0.0);
        }
        assert_eq!(seqs(&h.read_after(0, 3, usize::MAX)), [1, 2, 3]);
        let per = 2 + ENTRY_OVERHEAD;
        assert_eq!(seqs(&h.read_after(0, 100, 2 * per)), [1, 2]);
        // a single entry above the byte bound still goes out
        assert_eq!(seqs(&h.read_after(4, 100, 1)), [5]);
    }

    #[test]
    fn entry_serialises_with_raw_event_verbatim() {
        let mut h = History::new(Limits::default());
        h.push(raw(r#"{"type":"task-sent","x":"\u00e9"}"#), 12.25);
        let read = h.read_after(0, 1, usize::MAX);
        let text = serde_json::to_string(&read.entries[0]).unwrap();
        assert_eq!(
            text,
            r#"{"seq":1,"received":12.25,"event":{"type":"task-sent","x":"\u00e9"}}"#
        );
    }
}
