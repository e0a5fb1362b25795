//! Counts of the tasks in memory by state, by name and by worker, kept on every change (a
//! dashboard reads them without a scan), and the task keys they are kept by.

use std::rc::Rc;

use rustc_hash::FxHashMap;

use super::shared_str;
use super::task::{Task, TaskState};
use crate::event::Event;

/// Counts kept on every change, for dashboards (no scans).
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Tasks in memory by state.
    pub by_state: StateCounts,
    /// Tasks in memory by (string) name.
    pub by_name: FxHashMap<Rc<str>, usize>,
    /// Tasks in memory by worker hostname.
    pub by_worker: FxHashMap<Rc<str>, usize>,
}

/// Tasks in memory by state: the eight states Celery defines in an array, custom states in a map.
/// Nearly every task event moves a task from one state to another, so these two counts change at
/// most events: an array slot instead of two hash look-ups per event (2% of all instructions).
#[derive(Clone, Debug, Default)]
pub struct StateCounts {
    known: [usize; TaskState::KNOWN.len()],
    custom: FxHashMap<Rc<str>, usize>,
}

impl StateCounts {
    /// How many tasks in memory are in `state`.
    pub fn get(&self, state: &TaskState) -> usize {
        match (state, state.known_index()) {
            (TaskState::Custom(name), _) => self.custom.get(name).copied().unwrap_or(0),
            (_, i) => i.map_or(0, |i| self.known[i]),
        }
    }

    /// The states with tasks, with their counts: known states in life-cycle order, then custom
    /// states in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (TaskState, usize)> + '_ {
        TaskState::KNOWN
            .into_iter()
            .zip(self.known)
            .filter(|&(_, n)| n > 0)
            .chain(
                self.custom
                    .iter()
                    .map(|(name, &n)| (TaskState::Custom(name.clone()), n)),
            )
    }

    fn bump(&mut self, state: &TaskState, delta: isize) {
        match (state, state.known_index()) {
            (TaskState::Custom(name), _) => bump(&mut self.custom, name, delta),
            (_, i) => {
                if let Some(n) = i.and_then(|i| self.known.get_mut(i)) {
                    *n = n.saturating_add_signed(delta);
                }
            }
        }
    }
}

impl Counts {
    pub(super) fn add(&mut self, key: &TaskKey, delta: isize) {
        self.by_state.bump(&key.state, delta);
        if let Some(name) = &key.name {
            bump(&mut self.by_name, name, delta);
        }
        if let Some(worker) = &key.worker {
            bump(&mut self.by_worker, worker, delta);
        }
    }

    /// Moves one task's counts from what `before` recorded to the task's values now, touching only
    /// the counts whose key changed (most events change the state alone).
    pub(super) fn change(&mut self, before: &Before, t: &Task) {
        if before.state != t.state {
            self.by_state.bump(&before.state, -1);
            self.by_state.bump(&t.state, 1);
        }
        if let Some(old) = &before.name {
            let new = shared_str(&t.info.name);
            if *old != new {
                if let Some(name) = old {
                    bump(&mut self.by_name, name, -1);
                }
                if let Some(name) = &new {
                    bump(&mut self.by_name, name, 1);
                }
            }
        }
        if let Some(old) = &before.worker
            && *old != t.worker
        {
            if let Some(worker) = old {
                bump(&mut self.by_worker, worker, -1);
            }
            if let Some(worker) = &t.worker {
                bump(&mut self.by_worker, worker, 1);
            }
        }
    }
}

fn bump<K: std::hash::Hash + Eq + Clone>(map: &mut FxHashMap<K, usize>, key: &K, delta: isize) {
    let n = match map.get_mut(key) {
        Some(n) => n,
        None => map.entry(key.clone()).or_default(),
    };
    *n = n.saturating_add_signed(delta);
    if *n == 0 {
        map.remove(key);
    }
}

/// The parts of a task that the counts and indexes are keyed on.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct TaskKey {
    pub(super) state: TaskState,
    pub(super) name: Option<Rc<str>>,
    pub(super) worker: Option<Rc<str>>,
    pub(super) root: Option<Rc<str>>,
}

impl TaskKey {
    pub(super) fn of(t: &Task) -> TaskKey {
        TaskKey {
            state: t.state.clone(),
            name: shared_str(&t.info.name),
            worker: t.worker.clone(),
            root: root_key(t),
        }
    }
}

/// The root a task is indexed under. A task that is its own root needs no index entry: trees
/// start from the root itself.
pub(super) fn root_key(t: &Task) -> Option<Rc<str>> {
    shared_str(&t.info.root_id).filter(|r| !r.is_empty() && *r != t.uuid)
}

/// A task's key before an event, for the parts the event can change (`None`: it cannot, so it is
/// not copied). Cloning every part at every event cost six reference-count updates; most events
/// carry no `name` or `root_id` and come from the task's current worker.
pub(super) struct Before {
    pub(super) state: TaskState,
    name: Option<Option<Rc<str>>>,
    worker: Option<Option<Rc<str>>>,
    pub(super) root: Option<Option<Rc<str>>>,
}

impl Before {
    pub(super) fn of(t: &Task, ev: &Event<'_>, new_worker: Option<&str>) -> Before {
        Before {
            state: t.state.clone(),
            name: ev.fields.name.is_some().then(|| shared_str(&t.info.name)),
            worker: new_worker
                .filter(|w| t.worker.as_deref() != Some(*w))
                .map(|_| t.worker.clone()),
            root: ev.fields.root_id.is_some().then(|| root_key(t)),
        }
    }
}
