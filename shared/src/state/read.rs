//! What a reader of the State sees: tasks and workers, Python's indexes (`tasks_by_time`,
//! `tasks_by_type`, `tasks_by_worker`), the counts, and the bounds with how full they are.

use std::rc::Rc;

use rustc_hash::FxHashSet;

use super::{Bound, Counts, EXTRAS_MAX, Handle, State, TASK_TYPES_MAX, Task, Worker};

impl State {
    /// Number of tasks in memory.
    pub fn task_len(&self) -> usize {
        self.tasks.len()
    }

    /// Number of workers in memory.
    pub fn worker_len(&self) -> usize {
        self.workers.len()
    }

    /// Entries in the time heap, and its bound.
    pub fn heap_len(&self) -> (usize, usize) {
        (self.heap.len(), self.heap.capacity())
    }

    /// Parents awaited by children that arrived first (bounded by `max_tasks`).
    pub fn pending_parent_len(&self) -> usize {
        self.pending_children.len()
    }

    /// The task with this id.
    pub fn task(&self, uuid: &str) -> Option<&Task> {
        self.tasks.find(uuid).map(|h| &self.slot(h).task)
    }

    /// The handle of the task with this id.
    pub fn task_handle(&self, uuid: &str) -> Option<Handle> {
        self.tasks.find(uuid)
    }

    /// The task behind a handle, while it is in memory.
    pub fn task_at(&self, h: Handle) -> Option<&Task> {
        self.tasks.get(h).map(|s| &s.task)
    }

    /// The live handle in a slot (see [`Handle::slot`]).
    pub fn handle_at(&self, slot: usize) -> Option<Handle> {
        self.tasks.handle_at(slot)
    }

    /// Upper bound of task slot numbers, for side tables.
    pub fn slot_count(&self) -> usize {
        self.tasks.slot_count()
    }

    /// Tasks in map order (oldest inserted first, parents moved back when looked up).
    pub fn tasks(&self) -> impl Iterator<Item = (Handle, &Task)> {
        self.tasks.handles().map(|h| (h, &self.slot(h).task))
    }

    /// Tasks in memory order (by slot, not map order): the same tasks as [`State::tasks`], read
    /// in one sequential pass, for work that sorts or counts them anyway (building a view).
    pub fn tasks_unordered(&self) -> impl Iterator<Item = (Handle, &Task)> {
        self.tasks.in_slot_order().map(|(h, s)| (h, &s.task))
    }

    /// The worker with this hostname.
    pub fn worker(&self, hostname: &str) -> Option<&Worker> {
        self.workers
            .find(hostname)
            .and_then(|h| self.workers.get(h))
    }

    /// Workers in insertion order.
    pub fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.workers.handles().filter_map(|h| self.workers.get(h))
    }

    /// Handles of a task's live children (Python's `Task.children`), in link order.
    pub fn children<'a>(&'a self, task: &'a Task) -> impl Iterator<Item = Handle> + 'a {
        let list: &[Handle] = &task.children;
        list.iter().copied().filter(|&h| self.tasks.is_live(h))
    }

    /// Every task name seen (kept by [`State::clear`], as in Python), sorted: the first
    /// [`TASK_TYPES_MAX`] distinct ones.
    pub fn task_types(&self) -> Vec<Rc<str>> {
        let mut v: Vec<Rc<str>> = self.task_types.iter().cloned().collect();
        v.sort();
        v
    }

    /// New extra fields not kept because their task or worker already had [`EXTRAS_MAX`], or
    /// because their event had more than `OTHER_KEYS_MAX` unknown keys (0 on any real cluster).
    pub fn extras_refused(&self) -> u64 {
        self.strings.extras.refused()
    }

    /// Every bounded structure of the State with its fill, its limit and how often the limit was
    /// reached, for a page or a metrics endpoint to show. Cheap (no scan of tasks or workers).
    pub fn bounds(&self) -> Vec<Bound> {
        // The extra fields' text below names the decoder's bound.
        const { assert!(crate::event::OTHER_KEYS_MAX == 256) };
        let mut all = vec![
            Bound::counted(
                "tasks",
                self.tasks.len(),
                self.limits.max_tasks,
                self.tasks_evicted,
                "the oldest task leaves every structure",
            ),
            Bound::counted(
                "workers",
                self.workers.len(),
                self.limits.max_workers,
                self.workers_evicted,
                "the oldest worker leaves",
            ),
            Bound::counted(
                "time heap entries",
                self.heap.len(),
                self.heap.capacity(),
                self.heap.dropped(),
                "the oldest entry leaves",
            ),
            Bound::counted(
                "parents awaited by children",
                self.pending_children.len(),
                self.limits.max_tasks,
                self.waiting_evicted,
                "the oldest awaited parent is forgotten",
            ),
            Bound::counted(
                "task types",
                self.task_types.len(),
                TASK_TYPES_MAX,
                self.task_types_refused,
                "a new name is counted, not listed",
            ),
            Bound::counted(
                "extra fields per task or worker",
                self.strings.extras.most(),
                EXTRAS_MAX,
                self.strings.extras.refused(),
                "a new field is counted, not kept (also unknown keys past 256 in one event)",
            ),
        ];
        all.extend(self.strings.bounds());
        all
    }

    /// Events whose new task name was not recorded in [`State::task_types`] because it held
    /// [`TASK_TYPES_MAX`] names (0 on any real cluster).
    pub fn task_types_refused(&self) -> u64 {
        self.task_types_refused
    }

    /// The whole time heap, oldest first, as Python's `_taskheap`: `(clock, timestamp, origin,
    /// task)` with `None` for an entry whose task was evicted (a dead weak reference in Python).
    /// For the differential tests (`stalk-state dump --heap`).
    pub fn heap_entries(&self) -> impl Iterator<Item = (f64, f64, &str, Option<&Task>)> + '_ {
        self.heap.oldest_first().map(|e| {
            (
                e.clock,
                e.timestamp,
                self.heap.origin(e),
                self.task_at(e.task),
            )
        })
    }

    /// Python's `tasks_by_time(limit)`: newest first, each task once; `limit` counts heap entries.
    pub fn tasks_by_time(&self, limit: Option<usize>) -> impl Iterator<Item = Handle> + '_ {
        let mut seen = FxHashSet::default();
        self.heap
            .newest_first()
            .take(limit.unwrap_or(usize::MAX))
            .map(|e| e.task)
            .filter(move |&h| self.tasks.is_live(h) && seen.insert(h))
    }

    /// Python's `tasks_by_type[name]`: tasks whose name was known when they were created. A scan
    /// (Python keeps a set per name; a UI reads [`State::counts`] or a `views::LiveQuery`).
    pub fn tasks_by_type<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Handle> + 'a {
        self.tasks.handles().filter(move |&h| {
            self.pairs
                .get(self.slot(h).indexed)
                .is_some_and(|(n, _)| n == name)
        })
    }

    /// Python's `tasks_by_worker[hostname]`: tasks created by an event from this host whose name
    /// was known then.
    pub fn tasks_by_worker<'a>(&'a self, hostname: &'a str) -> impl Iterator<Item = Handle> + 'a {
        self.tasks.handles().filter(move |&h| {
            self.pairs
                .get(self.slot(h).indexed)
                .is_some_and(|(_, w)| w == hostname)
        })
    }

    /// Every task in memory whose `root_id` is `root`, except the root itself.
    pub fn tasks_with_root(&self, root: &str) -> impl Iterator<Item = Handle> + '_ {
        self.by_root.get(root)
    }

    /// Counts by state, name and worker.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Workers alive at `now`.
    pub fn alive_workers(&self, now: f64) -> impl Iterator<Item = &Worker> {
        self.workers().filter(move |w| w.alive(now))
    }
}
