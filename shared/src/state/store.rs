//! An insertion-ordered map with stable generational handles: the port of kombu's `LRUCache` as
//! Celery's State really uses it (reads through `.data` do not touch the order, so it is FIFO,
//! except for explicit [`OrderedMap::move_to_back`]).
//!
//! Entries live in a slab (`Vec` of slots) linked in order by indices; a [`Handle`] names a slot
//! and its generation, so a handle to an evicted entry never resolves again, even after its slot is
//! reused. That is what gives weak-reference semantics to children lists and the time heap.
//!
//! Memory: the index holds only slot numbers (keys live once, in the slab), and the slab never
//! grows past the map's limit, so a full map of `limit` entries holds about `limit` slots rather
//! than the next power of two.

use std::hash::BuildHasher;
use std::rc::Rc;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::strings::same;

/// A stable reference to an entry; dead once the entry is removed.
///
/// Ordered by slot, then generation: of two handles of the same slot, the greater was made later
/// (a slot's generation wraps only after 2^32 reuses of that one slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle {
    slot: u32,
    generation: u32,
}

impl Handle {
    /// The slot index: dense, reused after removal (use with
    /// [`State::slot_count`](crate::State::slot_count)).
    pub fn slot(self) -> usize {
        self.slot as usize
    }

    /// A handle for unit tests of code that only orders or indexes handles.
    #[cfg(test)]
    pub(crate) fn for_test(slot: u32) -> Handle {
        Handle {
            slot,
            generation: 0,
        }
    }
}

const NIL: u32 = u32::MAX;

/// A value that carries its own key (a task its uuid, a worker its hostname), so the map stores
/// each key once.
pub(crate) trait Keyed {
    fn key(&self) -> &str;
}

impl Keyed for Rc<str> {
    fn key(&self) -> &str {
        self
    }
}

struct Slot<V> {
    generation: u32,
    prev: u32,
    next: u32,
    entry: Option<V>,
}

/// Ordered map from string keys to values, with O(1) insert at the back, pop from the front,
/// move to the back and removal.
pub(crate) struct OrderedMap<V> {
    slots: Vec<Slot<V>>,
    free: Vec<u32>,
    index: HashTable<u32>,
    head: u32,
    tail: u32,
    /// The most entries the owner will keep (it evicts before inserting past it).
    limit: usize,
}

impl<V: Keyed> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap::with_limit(usize::MAX)
    }
}

/// A hint to load the cache line at `p` (no effect where there is no such instruction).
#[inline(always)]
pub(super) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code, reason = "a prefetch never faults, whatever the address")]
    // SAFETY: prefetching reads nothing architecturally and cannot fault on any address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

fn hash(key: &str) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl<V: Keyed> OrderedMap<V> {
    /// A map whose owner keeps at most `limit` entries (used to cap the slab's growth).
    pub(crate) fn with_limit(limit: usize) -> Self {
        OrderedMap {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            head: NIL,
            tail: NIL,
            limit,
        }
    }

    fn key_at(&self, slot: u32) -> &str {
        self.slots[slot as usize]
            .entry
            .as_ref()
            .map_or("", Keyed::key)
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Upper bound of [`Handle::slot`] values, for side tables indexed by slot.
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The handle of `key`, without touching the order.
    pub(crate) fn find(&self, key: &str) -> Option<Handle> {
        let slot = *self.index.find(hash(key), |&s| same(self.key_at(s), key))?;
        Some(Handle {
            slot,
            generation: self.slots[slot as usize].generation,
        })
    }

    /// `true` while `h` names a live entry.
    pub(crate) fn is_live(&self, h: Handle) -> bool {
        self.slots
            .get(h.slot())
            .is_some_and(|s| s.generation == h.generation && s.entry.is_some())
    }

    /// The value behind a live handle.
    pub(crate) fn get(&self, h: Handle) -> Option<&V> {
        let s = self.slots.get(h.slot())?;
        if s.generation != h.generation {
            return None;
        }
        s.entry.as_ref()
    }

    /// The value behind a live handle, mutably.
    pub(crate) fn get_mut(&mut self, h: Handle) -> Option<&mut V> {
        let s = self.slots.get_mut(h.slot())?;
        if s.generation != h.generation {
            return None;
        }
        s.entry.as_mut()
    }

    /// The live handle currently in `slot`, if any.
    pub(crate) fn handle_at(&self, slot: usize) -> Option<Handle> {
        let s = self.slots.get(slot)?;
        s.entry.as_ref().map(|_| Handle {
            slot: slot as u32,
            generation: s.generation,
        })
    }

    /// Live entries in slot order (not map order): one sequential pass over the slab, for callers
    /// that sort or count anyway. Following the map's links visits the slots in a scattered
    /// order, one cache miss per entry at 100,000 entries.
    pub(crate) fn in_slot_order(&self) -> impl Iterator<Item = (Handle, &V)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.entry.as_ref().map(|v| {
                (
                    Handle {
                        slot: i as u32,
                        generation: s.generation,
                    },
                    v,
                )
            })
        })
    }

    /// Inserts a value whose key is not present, at the back. The caller checks absence and
    /// capacity.
    pub(crate) fn push_back(&mut self, value: V) -> Handle {
        debug_assert!(self.find(value.key()).is_none());
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                if self.slots.len() == self.slots.capacity() {
                    // Double, but never past the limit: a full map holds `limit` slots.
                    let want = (self.slots.len() * 2)
                        .max(8)
                        .min(self.limit.max(self.slots.len() + 1));
                    self.slots.reserve_exact(want - self.slots.len());
                }
                self.slots.push(Slot {
                    generation: 0,
                    prev: NIL,
                    next: NIL,
                    entry: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.index.insert_unique(hash(value.key()), slot, |&s| {
            hash(slots[s as usize].entry.as_ref().map_or("", Keyed::key))
        });
        let s = &mut self.slots[slot as usize];
        s.entry = Some(value);
        let generation = s.generation;
        self.link_back(slot);
        Handle { slot, generation }
    }

    /// Removes and returns the oldest entry.
    pub(crate) fn pop_front(&mut self) -> Option<(Handle, V)> {
        let slot = self.head;
        if slot == NIL {
            return None;
        }
        let h = Handle {
            slot,
            generation: self.slots[slot as usize].generation,
        };
        self.remove(h).map(|v| (h, v))
    }

    /// Asks the processor to load what the next [`OrderedMap::pop_front`]s will read, while other
    /// work goes on: the front entry's key (hashed to leave the index) and the whole slot of the
    /// one after it (whose own key is fetched at the next call, once its slot is in cache).
    pub(crate) fn prefetch_front(&self) {
        let Some(front) = self.slots.get(self.head as usize) else {
            return;
        };
        if let Some(v) = &front.entry {
            prefetch(v.key().as_ptr());
        }
        if let Some(after) = self.slots.get(front.next as usize) {
            let start = (after as *const Slot<V>).cast::<u8>();
            for line in (0..size_of::<Slot<V>>()).step_by(64) {
                prefetch(start.wrapping_add(line));
            }
        }
    }

    /// Removes a live entry.
    pub(crate) fn remove(&mut self, h: Handle) -> Option<V> {
        if !self.is_live(h) {
            return None;
        }
        self.unlink(h.slot);
        if let Ok(found) = self
            .index
            .find_entry(hash(self.key_at(h.slot)), |&s| s == h.slot)
        {
            found.remove();
        }
        let s = &mut self.slots[h.slot()];
        let value = s.entry.take()?;
        s.generation = s.generation.wrapping_add(1);
        self.free.push(h.slot);
        Some(value)
    }

    /// Moves a live entry to the back (most recently used), as `LRUCache.__getitem__` does.
    pub(crate) fn move_to_back(&mut self, h: Handle) {
        if self.is_live(h) && self.tail != h.slot {
            self.unlink(h.slot);
            self.link_back(h.slot);
        }
    }

    /// Live handles from oldest to newest.
    pub(crate) fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        let mut cur = self.head;
        std::iter::from_fn(move || {
            if cur == NIL {
                return None;
            }
            let s = &self.slots[cur as usize];
            let h = Handle {
                slot: cur,
                generation: s.generation,
            };
            cur = s.next;
            Some(h)
        })
    }

    /// Removes every entry; every existing handle dies.
    pub(crate) fn clear(&mut self) {
        let live: Vec<Handle> = self.handles().collect();
        for h in live {
            self.remove(h);
        }
    }

    fn link_back(&mut self, slot: u32) {
        let tail = self.tail;
        {
            let s = &mut self.slots[slot as usize];
            s.prev = tail;
            s.next = NIL;
        }
        if tail == NIL {
            self.head = slot;
        } else {
            self.slots[tail as usize].next = slot;
        }
        self.tail = slot;
    }

    fn unlink(&mut self, slot: u32) {
        let (prev, next) = {
            let s = &self.slots[slot as usize];
            (s.prev, s.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &OrderedMap<Rc<str>>) -> Vec<String> {
        m.handles().map(|h| m.get(h).unwrap().to_string()).collect()
    }

    #[test]
    fn fifo_with_move_to_back_and_dead_handles() {
        let mut m = OrderedMap::default();
        let a = m.push_back(Rc::from("a"));
        let b = m.push_back(Rc::from("b"));
        m.push_back(Rc::from("c"));
        m.move_to_back(a);
        assert_eq!(keys(&m), ["b", "c", "a"]);
        let (h, k) = m.pop_front().unwrap();
        assert_eq!((h, &*k), (b, "b"));
        assert!(!m.is_live(b));
        // the freed slot is reused with a new generation: the old handle stays dead.
        let d = m.push_back(Rc::from("d"));
        assert_eq!(d.slot(), b.slot());
        assert!(m.get(b).is_none());
        assert_eq!(m.get(d).map(|v| &**v), Some("d"));
        assert_eq!(m.find("b"), None);
        assert_eq!(m.find("d"), Some(d));
        m.clear();
        assert!(m.len() == 0 && !m.is_live(a) && !m.is_live(d));
    }

    #[test]
    fn slab_never_grows_past_the_limit() {
        let mut m = OrderedMap::with_limit(10);
        for i in 0..10 {
            m.push_back(Rc::<str>::from(i.to_string()));
        }
        assert_eq!(m.slots.capacity(), 10);
    }
}
