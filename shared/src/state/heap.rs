//! The State's time "heap": in fact a sorted list of `(clock, timestamp, origin, task)` entries,
//! kept as Python keeps it (append when newer than the last, else `bisect.insort`; drop the first
//! entry when full), compared with `kombu.clocks.timetuple` ordering.
//!
//! That ordering is not a total order (it mixes clocks and timestamps), so the only way to end with
//! Python's exact sequence is to perform Python's exact operations, which this module does.
//!
//! One shortcut keeps the same result: while every entry in the list has a non-zero clock and was
//! placed while that held, the list is sorted by `(clock, origin)`, a strict weak order, and then
//! `bisect.insort`'s binary search over the whole list has exactly one answer, the first entry
//! greater than the new one. Events arrive nearly in order, so that answer is found by galloping
//! back from the end (a few probes in cache) instead of sixteen probes across a megabyte. An entry
//! placed while the list may be unsorted is marked, and the shortcut waits until the last marked
//! entry has left (see [`TimeHeap::unsorted`]).

use std::collections::VecDeque;
use std::rc::Rc;

use rustc_hash::FxHashMap;

use super::store::{Handle, prefetch};
use super::strings::address;
use crate::words::order_prefix;

/// One entry: an event of a task, placed in time, in 32 bytes (Python's costs about 170). Clocks
/// and timestamps are kept as `f64`: exact for every integer clock below 2^53, and Python compares
/// an int with a float numerically anyway. The origin is a number in the heap's origin table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) clock: f64,
    pub(crate) timestamp: f64,
    pub(crate) task: Handle,
    origin: u32,
    /// Placed while the list could be out of `(clock, origin)` order (it sits in padding).
    suspect: bool,
}

/// Origins (client hostnames, worker ids) of the entries, each stored once and counted, so the
/// table never holds more names than the heap holds entries.
///
/// The index is keyed by the name's allocation, not its text: one multiplication to hash instead
/// of a pass over the string at every event. The table holds a clone of each name, so an address
/// cannot be reused while it is in the index. Two allocations with the same text get two ids;
/// [`TimeHeap::lt`] compares origins by text, so the order is the same.
#[derive(Debug, Default)]
struct Origins {
    /// Each name with its reference count and [`order_prefix`].
    names: Vec<(Rc<str>, u32, u64)>,
    index: FxHashMap<usize, u32>,
    free: Vec<u32>,
}

impl Origins {
    fn acquire(&mut self, name: &Rc<str>) -> u32 {
        if let Some(&id) = self.index.get(&address(name)) {
            self.names[id as usize].1 += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.names[id as usize] = (name.clone(), 1, order_prefix(name));
                id
            }
            None => {
                self.names.push((name.clone(), 1, order_prefix(name)));
                (self.names.len() - 1) as u32
            }
        };
        self.index.insert(address(name), id);
        id
    }

    fn release(&mut self, id: u32) {
        let (name, refs, _) = &mut self.names[id as usize];
        *refs -= 1;
        if *refs == 0 {
            self.index.remove(&address(name));
            *name = Rc::from("");
            self.free.push(id);
        }
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize].0
    }

    /// `name(a) < name(b)`.
    fn name_lt(&self, a: u32, b: u32) -> bool {
        let (x, y) = (&self.names[a as usize], &self.names[b as usize]);
        if x.2 != y.2 {
            return x.2 < y.2;
        }
        x.0 < y.0
    }
}

/// How far ahead of the front [`TimeHeap::push`] asks for an entry to be loaded: 16 entries (8
/// cache lines), so 16 events before it is dropped.
const PREFETCH_AHEAD: usize = 16;

/// The bounded, sorted list of task events.
#[derive(Debug, Default)]
pub(crate) struct TimeHeap {
    entries: VecDeque<Entry>,
    origins: Origins,
    max: usize,
    /// Entries in the list that are [`Entry::suspect`]: a zero clock (compared by timestamp), or
    /// placed while another suspect entry was in the list. At zero, the list is sorted.
    unsorted: usize,
    /// Entries dropped from the front to make room.
    dropped: u64,
}

impl TimeHeap {
    pub(crate) fn new(max: usize) -> TimeHeap {
        TimeHeap {
            entries: VecDeque::new(),
            origins: Origins::default(),
            max,
            unsorted: 0,
            dropped: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.max
    }

    /// Entries dropped because the list was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// `timetuple.__lt__`: logical clocks when both are non-zero (ties broken by origin), else
    /// timestamps.
    #[inline]
    fn lt(&self, a: &Entry, b: &Entry) -> bool {
        if a.clock != 0.0 && b.clock != 0.0 {
            if a.clock == b.clock {
                return a.origin != b.origin && self.origins.name_lt(a.origin, b.origin);
            }
            return a.clock < b.clock;
        }
        a.timestamp < b.timestamp
    }

    /// Python's insert: the length is read before the pop, as in `State._event`.
    pub(crate) fn push(&mut self, clock: f64, timestamp: f64, origin: &Rc<str>, task: Handle) {
        let heaps = self.entries.len();
        if heaps + 1 > self.max {
            if let Some(gone) = self.entries.pop_front() {
                self.origins.release(gone.origin);
                self.unsorted -= usize::from(gone.suspect);
                self.dropped += 1;
            }
            // The front is the oldest part of a list larger than the processor's L2 cache, and
            // it is read one entry per event: too slowly for the hardware to stream it in.
            if let Some(ahead) = self.entries.get(PREFETCH_AHEAD) {
                prefetch((ahead as *const Entry).cast());
            }
        } else if heaps == self.entries.capacity() {
            // Double, but never past the bound: a full heap holds `max` entries, not the next
            // power of two.
            let want = (heaps * 2).max(16).min(self.max);
            self.entries.reserve_exact(want - heaps);
        }
        let suspect = self.unsorted > 0 || clock == 0.0;
        self.unsorted += usize::from(suspect);
        let e = Entry {
            clock,
            timestamp,
            task,
            origin: self.origins.acquire(origin),
            suspect,
        };
        match self.entries.back() {
            Some(last) if heaps > 0 && self.lt(last, &e) => self.entries.push_back(e),
            _ => {
                let at = if suspect {
                    self.bisect_right(&e, 0, self.entries.len())
                } else {
                    self.gallop_right(&e)
                };
                self.entries.insert(at, e);
            }
        }
    }

    /// `bisect.insort_right`'s search with `timetuple.__lt__` over `lo..hi`: the same probes as
    /// Python's, so the same answer even when the list is not sorted.
    fn bisect_right(&self, e: &Entry, mut lo: usize, mut hi: usize) -> usize {
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.lt(e, &self.entries[mid]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// The first entry greater than `e` in a sorted list, found from the end: Python's answer
    /// whenever the list is sorted (it is the only one), in a few probes near the end.
    fn gallop_right(&self, e: &Entry) -> usize {
        let n = self.entries.len();
        if n == 0 || !self.lt(e, &self.entries[n - 1]) {
            return n;
        }
        // Invariant: `e < entries[hi]`; the answer is in `lo..=hi`.
        let (mut hi, mut step) = (n - 1, 1);
        let lo = loop {
            if hi < step {
                break 0;
            }
            let probe = hi - step;
            if self.lt(e, &self.entries[probe]) {
                hi = probe;
                step *= 2;
            } else {
                break probe + 1;
            }
        };
        self.bisect_right(e, lo, hi)
    }

    /// Entries newest first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().rev()
    }

    /// Entries oldest first.
    pub(crate) fn oldest_first(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// The origin of an entry.
    pub(crate) fn origin(&self, e: &Entry) -> &str {
        self.origins.name(e.origin)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.origins = Origins::default();
        self.unsorted = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::OrderedMap;

    #[test]
    fn clocks_first_then_origin_then_timestamps_and_bounded() {
        let mut m: OrderedMap<Rc<str>> = OrderedMap::default();
        let h = m.push_back(Rc::<str>::from("t"));
        let mut heap = TimeHeap::new(4);
        let (a, b, c, z): (Rc<str>, Rc<str>, Rc<str>, Rc<str>) =
            ("a".into(), "b".into(), "c".into(), "z".into());
        heap.push(5.0, 1.0, &b, h);
        heap.push(3.0, 9.0, &a, h);
        heap.push(5.0, 0.5, &a, h); // equal clock: origin "a" < "b"
        heap.push(0.0, 0.1, &z, h); // clock 0: timestamps compare
        let order: Vec<(i64, &str)> = heap
            .oldest_first()
            .map(|e| (e.clock as i64, heap.origin(e)))
            .collect();
        assert_eq!(order, [(0, "z"), (3, "a"), (5, "a"), (5, "b")]);
        heap.push(9.0, 2.0, &c, h); // full: the first entry goes, and its origin with it
        assert_eq!(heap.len(), 4);
        assert_eq!(heap.origin(heap.oldest_first().next().unwrap()), "a");
        assert!(
            !heap
                .origins
                .names
                .iter()
                .any(|(n, refs, _)| &**n == "z" && *refs > 0),
            "an origin no entry uses is forgotten"
        );
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }

    /// The galloping search gives Python's exact sequence: pushes of nearly ordered clocks from a
    /// few origins, with zero clocks now and then (which make the list unsorted for a while),
    /// checked after every push against a plain port of Python's operations.
    #[test]
    fn gallop_matches_python_insort_step_by_step() {
        let mut m: OrderedMap<Rc<str>> = OrderedMap::default();
        let h = m.push_back(Rc::<str>::from("t"));
        let names: Vec<Rc<str>> = [
            "w1",
            "w2",
            "client",
            "w1",
            "celery@worker-1",
            "celery@worker-2",
            "celery@w",
            "celery@w\0",
        ]
        .into_iter()
        .map(Rc::from)
        .collect();
        let mut rng = crate::testing::XorShift::new(0x2545_f491_4f6c_dd1d);
        for zero_every in [0, 7, 50, 400] {
            let mut heap = TimeHeap::new(64);
            let mut python: Vec<(f64, f64, &str)> = Vec::new();
            // kombu's timetuple.__lt__, written out on its own.
            let lt = |a: &(f64, f64, &str), b: &(f64, f64, &str)| {
                if a.0 != 0.0 && b.0 != 0.0 {
                    if a.0 == b.0 {
                        return a.2 < b.2;
                    }
                    return a.0 < b.0;
                }
                a.1 < b.1
            };
            for i in 0..5_000u64 {
                let clock = if zero_every > 0 && rng.below(zero_every) == 0 {
                    0.0
                } else {
                    (i + rng.below(40)) as f64 / 2.0
                };
                let timestamp = (i + rng.below(30)) as f64;
                let name = &names[rng.below(names.len() as u64) as usize];
                heap.push(clock, timestamp, name, h);
                // Python: length read before the pop; append when newer than the last; else insort.
                let e = (clock, timestamp, &**name);
                let len = python.len();
                if len + 1 > 64 {
                    python.remove(0);
                }
                if len > 0 && lt(python.last().unwrap(), &e) {
                    python.push(e);
                } else {
                    let (mut lo, mut hi) = (0, python.len());
                    while lo < hi {
                        let mid = (lo + hi) / 2;
                        if lt(&e, &python[mid]) {
                            hi = mid
                        } else {
                            lo = mid + 1
                        }
                    }
                    python.insert(lo, e);
                }
                let ours: Vec<(f64, f64, &str)> = heap
                    .oldest_first()
                    .map(|e| (e.clock, e.timestamp, heap.origin(e)))
                    .collect();
                let theirs = python.clone();
                assert_eq!(ours, theirs, "push {i}, zero clock every ~{zero_every}");
            }
        }
    }
}
