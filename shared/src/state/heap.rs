//! The State's time "heap": in fact a sorted list of `(clock, timestamp, origin, task)` entries,
//! kept as Python keeps it (append when newer than the last, else `bisect.insort`; drop the first
//! entry when full), compared with `kombu.clocks.timetuple` ordering.
//!
//! That ordering is not a total order (it mixes clocks and timestamps), so the only way to end with
//! Python's exact sequence is to perform Python's exact operations, which this module does.

use std::collections::VecDeque;
use std::sync::Arc;

use super::store::Handle;

/// One entry: an event of a task, placed in time. Clocks and timestamps are kept as `f64` (40-byte
/// entries instead of 56): exact for every integer clock below 2^53, and Python compares an int
/// with a float numerically anyway.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) clock: f64,
    pub(crate) timestamp: f64,
    pub(crate) origin: Arc<str>,
    pub(crate) task: Handle,
}

/// `timetuple.__lt__`: logical clocks when both are non-zero (ties broken by origin), else
/// timestamps.
fn lt(a: &Entry, b: &Entry) -> bool {
    if a.clock != 0.0 && b.clock != 0.0 {
        if a.clock == b.clock {
            return a.origin < b.origin;
        }
        return a.clock < b.clock;
    }
    a.timestamp < b.timestamp
}

/// The bounded, sorted list of task events.
#[derive(Debug, Default)]
pub(crate) struct TimeHeap {
    entries: VecDeque<Entry>,
    max: usize,
}

impl TimeHeap {
    pub(crate) fn new(max: usize) -> TimeHeap {
        TimeHeap {
            entries: VecDeque::new(),
            max,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.max
    }

    /// Python's insert: the length is read before the pop, as in `State._event`.
    pub(crate) fn push(&mut self, e: Entry) {
        let heaps = self.entries.len();
        if heaps + 1 > self.max {
            self.entries.pop_front();
        } else if heaps == self.entries.capacity() {
            // Double, but never past the bound: a full heap holds `max` entries, not the next
            // power of two.
            let want = (heaps * 2).max(16).min(self.max);
            self.entries.reserve_exact(want - heaps);
        }
        match self.entries.back() {
            Some(last) if heaps > 0 && lt(last, &e) => self.entries.push_back(e),
            _ => {
                // bisect.insort_right with timetuple.__lt__.
                let (mut lo, mut hi) = (0, self.entries.len());
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if lt(&e, &self.entries[mid]) {
                        hi = mid;
                    } else {
                        lo = mid + 1;
                    }
                }
                self.entries.insert(lo, e);
            }
        }
    }

    /// Entries newest first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().rev()
    }

    /// Entries oldest first.
    #[cfg(test)]
    pub(crate) fn oldest_first(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::OrderedMap;

    fn entry(clock: i64, ts: f64, origin: &str, task: Handle) -> Entry {
        Entry {
            clock: clock as f64,
            timestamp: ts,
            origin: origin.into(),
            task,
        }
    }

    #[test]
    fn clocks_first_then_origin_then_timestamps_and_bounded() {
        let mut m = OrderedMap::default();
        let h = m.push_back("t".into(), ());
        let mut heap = TimeHeap::new(4);
        heap.push(entry(5, 1.0, "b", h));
        heap.push(entry(3, 9.0, "a", h));
        heap.push(entry(5, 0.5, "a", h)); // equal clock: origin "a" < "b"
        heap.push(entry(0, 0.1, "z", h)); // clock 0: timestamps compare
        let order: Vec<(i64, &str)> = heap
            .oldest_first()
            .map(|e| (e.clock as i64, &*e.origin))
            .collect();
        assert_eq!(order, [(0, "z"), (3, "a"), (5, "a"), (5, "b")]);
        heap.push(entry(9, 2.0, "c", h)); // full: the first entry goes
        assert_eq!(heap.len(), 4);
        assert_eq!(&*heap.oldest_first().next().unwrap().origin, "a");
    }
}
