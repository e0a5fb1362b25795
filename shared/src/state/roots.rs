//! The tasks of each workflow root, for [`super::State::tasks_with_root`].
//!
//! Most roots have one task (a task sent on its own is its own root), a chain a few, a group
//! thousands. A root with one task keeps its handle inline; a set is built at the second, so most
//! tasks cost no allocation here, and a big group still finds and removes a task in constant time.

use std::rc::Rc;

use rustc_hash::{FxHashMap, FxHashSet};

use super::store::Handle;

/// The tasks under one root.
#[derive(Debug)]
enum Members {
    One(Handle),
    Many(FxHashSet<Handle>),
}

/// Root id -> the tasks in memory under it. Bounded by the tasks: a root leaves with its last task.
#[derive(Debug, Default)]
pub(crate) struct Roots(FxHashMap<Rc<str>, Members>);

impl Roots {
    /// Lists `h` under `root`.
    pub(crate) fn insert(&mut self, root: Rc<str>, h: Handle) {
        match self.0.entry(root) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Members::One(h));
            }
            std::collections::hash_map::Entry::Occupied(mut o) => match o.get_mut() {
                Members::One(first) if *first == h => {}
                Members::One(first) => {
                    let first = *first;
                    o.insert(Members::Many(FxHashSet::from_iter([first, h])));
                }
                Members::Many(set) => {
                    set.insert(h);
                }
            },
        }
    }

    /// Takes `h` off `root`'s list; the root goes with its last task.
    pub(crate) fn remove(&mut self, root: &str, h: Handle) {
        let empty = match self.0.get_mut(root) {
            Some(Members::One(only)) => *only == h,
            Some(Members::Many(set)) => {
                set.remove(&h);
                set.is_empty()
            }
            None => false,
        };
        if empty {
            self.0.remove(root);
        }
    }

    /// The tasks under `root`, in no particular order.
    pub(crate) fn get(&self, root: &str) -> impl Iterator<Item = Handle> + '_ {
        let (one, many) = match self.0.get(root) {
            Some(Members::One(h)) => (Some(*h), None),
            Some(Members::Many(set)) => (None, Some(set)),
            None => (None, None),
        };
        one.into_iter().chain(many.into_iter().flatten().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::OrderedMap;

    /// Against a plain map of sets, through growing, shrinking and emptied roots.
    #[test]
    fn behaves_as_a_map_of_sets() {
        let mut store: OrderedMap<Rc<str>> = OrderedMap::default();
        let handles: Vec<Handle> = (0..8)
            .map(|i| store.push_back(Rc::from(format!("t{i}"))))
            .collect();
        let mut roots = Roots::default();
        let mut model: std::collections::HashMap<String, std::collections::BTreeSet<Handle>> =
            Default::default();
        let mut rng = crate::testing::XorShift::new(0x9e37_79b9_7f4a_7c15);
        for step in 0..5_000 {
            let root = format!("r{}", rng.below(3));
            let h = handles[rng.below(handles.len() as u64) as usize];
            if rng.below(2) == 0 {
                roots.insert(Rc::from(root.as_str()), h);
                model.entry(root.clone()).or_default().insert(h);
            } else {
                roots.remove(&root, h);
                if let Some(set) = model.get_mut(&root) {
                    set.remove(&h);
                    if set.is_empty() {
                        model.remove(&root);
                    }
                }
            }
            for r in ["r0", "r1", "r2"] {
                let ours: std::collections::BTreeSet<Handle> = roots.get(r).collect();
                let want = model.get(r).cloned().unwrap_or_default();
                assert_eq!(ours, want, "step {step}, {r}");
            }
            assert_eq!(roots.0.len(), model.len(), "an emptied root leaves");
        }
    }
}
