//! The State's time "heap": in fact a sorted list of `(clock, timestamp, origin, task)` entries,
//! kept as Python keeps it (append when newer than the last, else `bisect.insort`; drop the first
//! entry when full), compared with `kombu.clocks.timetuple` ordering.
//!
//! That ordering is not a total order (it mixes clocks and timestamps), so the only way to end with
//! Python's exact sequence is to perform Python's exact operations, which this module does.

use std::collections::VecDeque;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::store::Handle;

/// One entry: an event of a task, placed in time, in 32 bytes (Python's costs about 170). Clocks
/// and timestamps are kept as `f64`: exact for every integer clock below 2^53, and Python compares
/// an int with a float numerically anyway. The origin is a number in the heap's origin table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) clock: f64,
    pub(crate) timestamp: f64,
    pub(crate) task: Handle,
    origin: u32,
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
    names: Vec<(Arc<str>, u32)>,
    index: FxHashMap<usize, u32>,
    free: Vec<u32>,
}

/// The address of a name's allocation, as its key in [`Origins::index`].
fn address(name: &Arc<str>) -> usize {
    Arc::as_ptr(name).cast::<u8>() as usize
}

impl Origins {
    fn acquire(&mut self, name: &Arc<str>) -> u32 {
        if let Some(&id) = self.index.get(&address(name)) {
            self.names[id as usize].1 += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.names[id as usize] = (name.clone(), 1);
                id
            }
            None => {
                self.names.push((name.clone(), 1));
                (self.names.len() - 1) as u32
            }
        };
        self.index.insert(address(name), id);
        id
    }

    fn release(&mut self, id: u32) {
        let (name, refs) = &mut self.names[id as usize];
        *refs -= 1;
        if *refs == 0 {
            self.index.remove(&address(name));
            *name = Arc::from("");
            self.free.push(id);
        }
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize].0
    }
}

/// The bounded, sorted list of task events.
#[derive(Debug, Default)]
pub(crate) struct TimeHeap {
    entries: VecDeque<Entry>,
    origins: Origins,
    max: usize,
}

impl TimeHeap {
    pub(crate) fn new(max: usize) -> TimeHeap {
        TimeHeap {
            entries: VecDeque::new(),
            origins: Origins::default(),
            max,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.max
    }

    /// `timetuple.__lt__`: logical clocks when both are non-zero (ties broken by origin), else
    /// timestamps.
    fn lt(&self, a: &Entry, b: &Entry) -> bool {
        if a.clock != 0.0 && b.clock != 0.0 {
            if a.clock == b.clock {
                return a.origin != b.origin
                    && self.origins.name(a.origin) < self.origins.name(b.origin);
            }
            return a.clock < b.clock;
        }
        a.timestamp < b.timestamp
    }

    /// Python's insert: the length is read before the pop, as in `State._event`.
    pub(crate) fn push(&mut self, clock: f64, timestamp: f64, origin: &Arc<str>, task: Handle) {
        let heaps = self.entries.len();
        if heaps + 1 > self.max {
            if let Some(gone) = self.entries.pop_front() {
                self.origins.release(gone.origin);
            }
        } else if heaps == self.entries.capacity() {
            // Double, but never past the bound: a full heap holds `max` entries, not the next
            // power of two.
            let want = (heaps * 2).max(16).min(self.max);
            self.entries.reserve_exact(want - heaps);
        }
        let e = Entry {
            clock,
            timestamp,
            task,
            origin: self.origins.acquire(origin),
        };
        match self.entries.back() {
            Some(last) if heaps > 0 && self.lt(last, &e) => self.entries.push_back(e),
            _ => {
                // bisect.insort_right with timetuple.__lt__.
                let (mut lo, mut hi) = (0, self.entries.len());
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if self.lt(&e, &self.entries[mid]) {
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

    /// The origin of an entry.
    #[cfg(test)]
    fn origin(&self, e: &Entry) -> &str {
        self.origins.name(e.origin)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.origins = Origins::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::OrderedMap;

    #[test]
    fn clocks_first_then_origin_then_timestamps_and_bounded() {
        let mut m: OrderedMap<Arc<str>> = OrderedMap::default();
        let h = m.push_back(Arc::<str>::from("t"));
        let mut heap = TimeHeap::new(4);
        let (a, b, c, z): (Arc<str>, Arc<str>, Arc<str>, Arc<str>) =
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
                .any(|(n, refs)| &**n == "z" && *refs > 0),
            "an origin no entry uses is forgotten"
        );
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }
}
