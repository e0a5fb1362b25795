//! The `(name, hostname)` pairs tasks are listed under by Python's creation-time indexes
//! (`tasks_by_type`, `tasks_by_worker`), each stored once and counted.
//!
//! A task holds a 4-byte [`PairId`] instead of two `Rc<str>` (32 bytes): with thousands of tasks
//! and a handful of task names and workers, that is 28 bytes less per task. The table is bounded by
//! the tasks in memory: a pair leaves it when its last task does.

use std::rc::Rc;

use rustc_hash::FxHashMap;

use super::strings::address;

/// A task name and a hostname.
type Pair = (Rc<str>, Rc<str>);

/// A task's pair, or [`PairId::NONE`] when the creating event did not name the task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PairId(u32);

impl PairId {
    /// Not listed.
    pub(crate) const NONE: PairId = PairId(u32::MAX);
}

/// The pairs in use, with how many tasks use each.
///
/// The index is keyed by the two strings' allocations (the State shares names and hostnames, so
/// equal texts are nearly always one allocation): hashing two addresses instead of two strings.
/// Two allocations with the same texts get two ids, which readers compare by text, so nothing
/// observable changes.
#[derive(Debug, Default)]
pub(crate) struct Pairs {
    /// Each pair, with how many tasks use it (0: free, listed in `free`).
    pairs: Vec<(Pair, u32)>,
    index: FxHashMap<(usize, usize), u32>,
    free: Vec<u32>,
}

impl Pairs {
    /// The id of `(name, hostname)`, counting one more task under it.
    pub(crate) fn acquire(&mut self, name: Rc<str>, hostname: Rc<str>) -> PairId {
        let key = (address(&name), address(&hostname));
        if let Some(&id) = self.index.get(&key) {
            self.pairs[id as usize].1 += 1;
            return PairId(id);
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.pairs[id as usize] = ((name, hostname), 1);
                id
            }
            None => {
                self.pairs.push(((name, hostname), 1));
                u32::try_from(self.pairs.len() - 1).expect("fewer pairs than tasks")
            }
        };
        self.index.insert(key, id);
        PairId(id)
    }

    /// One task less under `id` (nothing for [`PairId::NONE`]).
    pub(crate) fn release(&mut self, id: PairId) {
        let Some(((name, hostname), refs)) = self.pairs.get_mut(id.0 as usize) else {
            return;
        };
        *refs -= 1;
        if *refs == 0 {
            self.index.remove(&(address(name), address(hostname)));
            let empty: Rc<str> = Rc::from("");
            (*name, *hostname) = (empty.clone(), empty);
            self.free.push(id.0);
        }
    }

    /// The pair behind `id`.
    pub(crate) fn get(&self, id: PairId) -> Option<(&str, &str)> {
        self.pairs
            .get(id.0 as usize)
            .map(|((name, hostname), _)| (&**name, &**hostname))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_while_used_then_forgotten() {
        let mut p = Pairs::default();
        let (name, host): (Rc<str>, Rc<str>) = ("app.add".into(), "w1".into());
        let a = p.acquire(name.clone(), host.clone());
        let b = p.acquire(name.clone(), host.clone());
        assert_eq!(a, b);
        assert_eq!(p.get(a), Some(("app.add", "w1")));
        p.release(a);
        assert_eq!(p.get(b), Some(("app.add", "w1")));
        p.release(b);
        assert!(p.index.is_empty());
        let c = p.acquire("app.mul".into(), host);
        assert_eq!(c, a, "a freed id is reused");
        assert_eq!(p.get(c), Some(("app.mul", "w1")));
        p.release(PairId::NONE);
    }
}
