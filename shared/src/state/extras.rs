//! A task's extra fields (keys the State does not know by name) are kept as shared lists: most
//! tasks carry the same ones (`queue` alone, or a revoke's three fields), so tasks with equal
//! lists hold one allocation. This module makes those lists and counts the fields refused past
//! [`EXTRAS_MAX`](super::EXTRAS_MAX), for tasks and workers alike.

use std::rc::Rc;

use super::Bound;
use super::strings::same;
use super::task::{Extras, identical};
use crate::value::Value;

/// Entries of the cache of shared lists (two per set).
const LISTS: usize = 16;
/// Entries of [`ExtrasLists::steps`].
const STEPS: usize = 8;

#[derive(Default)]
pub(crate) struct ExtrasLists {
    /// Recently made lists, two per set, the set chosen by their keys (see
    /// [`ExtrasLists::with`]); a new list takes the place of its set's least recently used one
    /// (tasks keep theirs).
    lists: [Option<Extras>; LISTS],
    /// The list being built, reused.
    scratch: Vec<(Rc<str>, Value)>,
    /// The last lists made from a list and one more field, direct-mapped by the list they
    /// extend: tasks gain their extras in the same steps (`queue` on `task-sent`, then a revoke's
    /// three fields one by one), and a step taken before is found without building a list.
    steps: [Option<Step>; STEPS],
    /// New extra fields refused because their task or worker had `EXTRAS_MAX` (see
    /// [`ExtrasLists::refuse`]).
    refused: u64,
    /// The most extra fields one task or worker has held.
    most: usize,
}

/// One step of [`ExtrasLists::steps`]: `to` is `from` with one field added at the end. `from` is
/// held so that its address, the step's key, cannot be reused while the step is remembered.
struct Step {
    from: Option<Extras>,
    to: Extras,
}

/// The address of an extras list, or 0 for none.
fn list_address(list: Option<&Extras>) -> usize {
    list.map_or(0, |l| Rc::as_ptr(l).cast::<u8>() as usize)
}

impl ExtrasLists {
    /// The list `from` (none: empty) with `key` (not in it) added at the end with `value`, as a
    /// shared list: the same list as a recent one is that one, with no allocation. Most tasks carry
    /// the same extras (`queue` alone, or a revoke's three fields), and a boxed list per task cost
    /// an allocation and about 56 bytes each. A step remembered in [`ExtrasLists::steps`] is taken
    /// without building the list at all. `share` gives the shared copy of a key.
    pub(crate) fn with(
        &mut self,
        from: Option<&Extras>,
        key: &str,
        value: Value,
        share: impl FnOnce(&str) -> Rc<str>,
    ) -> Extras {
        let address = list_address(from);
        let step = (address >> 4) % STEPS;
        if let Some(seen) = &self.steps[step]
            && list_address(seen.from.as_ref()) == address
            && let Some((k, v)) = seen.to.last()
            && same(k, key)
            && identical(v, &value)
        {
            return seen.to.clone();
        }
        let old = from.map_or(&[][..], |l| &l[..]);
        self.held(old.len() + 1);
        let mut list = std::mem::take(&mut self.scratch);
        list.clear();
        list.extend_from_slice(old);
        list.push((share(key), value));
        // Two ways per set, the set chosen by the keys only (their shared allocations), the
        // most recently used first: a task's lists as its fields arrive (`queue`, then `queue`
        // and another) can share a set without pushing each other out.
        let set = 2
            * (list.iter().fold(list.len(), |h, (k, _)| {
                h.wrapping_mul(31) ^ (Rc::as_ptr(k).cast::<u8>() as usize >> 4)
            }) % (LISTS / 2));
        let same_list = |hit: &Option<Extras>| {
            hit.as_ref().is_some_and(|hit| {
                hit.len() == list.len()
                    && hit
                        .iter()
                        .zip(&list)
                        .all(|((a, x), (b, y))| Rc::ptr_eq(a, b) && identical(x, y))
            })
        };
        let ways = &mut self.lists[set..set + 2];
        let shared = if same_list(&ways[0]) {
            ways[0].clone()
        } else if same_list(&ways[1]) {
            ways.swap(0, 1);
            ways[0].clone()
        } else {
            ways.swap(0, 1);
            ways[0] = Some(Rc::from(&list[..]));
            ways[0].clone()
        }
        .expect("the first way holds the list");
        self.scratch = list;
        self.steps[step] = Some(Step {
            from: from.cloned(),
            to: shared.clone(),
        });
        shared
    }

    /// Counts a new extra field that its task or worker could not keep (it had `EXTRAS_MAX`):
    /// counted here, where both kinds of object store their fields.
    pub(crate) fn refuse(&mut self) {
        self.refuse_many(1);
    }

    /// Counts `n` refused extra fields (see [`ExtrasLists::refuse`]).
    pub(crate) fn refuse_many(&mut self, n: u64) {
        self.refused = self.refused.saturating_add(n);
    }

    /// See [`ExtrasLists::refuse`].
    pub(crate) fn refused(&self) -> u64 {
        self.refused
    }

    /// Notes that a task or worker now holds `n` extra fields.
    pub(crate) fn held(&mut self, n: usize) {
        self.most = self.most.max(n);
    }

    /// The most extra fields one task or worker has held.
    pub(crate) fn most(&self) -> usize {
        self.most
    }

    /// How full the two caches are, for [`crate::State::bounds`].
    pub(crate) fn bounds(&self) -> [Bound; 2] {
        [
            Bound::cache(
                "recent extras lists",
                &self.lists[..],
                "a new list takes the place of the less recently used of the two in its set",
            ),
            Bound::cache("extras steps", &self.steps[..], Bound::SLOT_TAKEN),
        ]
    }
}
