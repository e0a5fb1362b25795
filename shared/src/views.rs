//! What a UI reads every frame, kept cheap: the workflow tree around a task, and a live, filtered,
//! sorted window of tasks that is updated from the tasks an `apply` changed instead of rescanning.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::rc::Rc;

use rustc_hash::FxHashSet;

use crate::state::{Handle, State, Task, TaskState};
use crate::value::Value;

mod needle;

use needle::Needle;

/// One row of a workflow tree, in depth-first order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeRow {
    /// The task.
    pub task: Handle,
    /// 0 for the root and for orphans, parent depth + 1 below.
    pub depth: usize,
    /// `true` for a subtree whose parent is not in memory (unknown or evicted): shown, not lost.
    pub orphan: bool,
}

/// The whole workflow `uuid` belongs to: from its root (the task's `root_id`, or itself), every
/// descendant depth-first following the State's children links, then every other task of the same
/// root whose parent is not reachable, each with its own subtree. Cycles (a retried task is its own
/// child: Python links each retry's event to the same task) are cut: each task appears once. Cost:
/// the size of the workflow.
pub fn tree(state: &State, uuid: &str) -> Vec<TreeRow> {
    let root_id: Rc<str> = match state.task(uuid) {
        Some(t) => Rc::from(t.root_id().unwrap_or(uuid)),
        None => Rc::from(uuid),
    };
    let mut rows = Vec::new();
    let mut seen = FxHashSet::default();
    if let Some(root) = state.task_handle(&root_id) {
        walk(state, root, false, &mut seen, &mut rows);
    }
    // Members of the workflow not reached from the root, oldest first.
    let mut rest: Vec<Handle> = state
        .tasks_with_root(&root_id)
        .filter(|h| !seen.contains(h))
        .collect();
    if let (true, Some(h)) = (rest.is_empty() && rows.is_empty(), state.task_handle(uuid)) {
        rest.push(h); // a task with no root information is a workflow of its own
    }
    rest.sort_by(|&a, &b| {
        first_seen(state, a)
            .total_cmp(&first_seen(state, b))
            .then(a.cmp(&b))
    });
    // Start from tasks whose parent is unknown, then anything left (members of a parent cycle).
    let (orphans, others): (Vec<Handle>, Vec<Handle>) = rest.into_iter().partition(|&h| {
        state
            .task_at(h)
            .and_then(Task::parent_id)
            .and_then(|p| state.task_handle(p))
            .is_none()
    });
    for h in orphans.into_iter().chain(others) {
        if !seen.contains(&h) {
            walk(state, h, true, &mut seen, &mut rows);
        }
    }
    rows
}

fn walk(
    state: &State,
    start: Handle,
    orphan: bool,
    seen: &mut FxHashSet<Handle>,
    rows: &mut Vec<TreeRow>,
) {
    // Explicit stack: workflows can be chains thousands deep.
    let mut stack = vec![(start, 0usize)];
    while let Some((h, depth)) = stack.pop() {
        if !seen.insert(h) {
            continue;
        }
        rows.push(TreeRow {
            task: h,
            depth,
            orphan: orphan && depth == 0,
        });
        if let Some(task) = state.task_at(h) {
            let mut kids: Vec<Handle> =
                state.children(task).filter(|c| !seen.contains(c)).collect();
            kids.sort_by(|&a, &b| {
                first_seen(state, a)
                    .total_cmp(&first_seen(state, b))
                    .then(a.cmp(&b))
            });
            stack.extend(kids.into_iter().rev().map(|c| (c, depth + 1)));
        }
    }
}

/// When a task was first heard of: sent, else received, else its latest timestamp.
fn first_seen(state: &State, h: Handle) -> f64 {
    state.task_at(h).map_or(f64::MAX, |t| {
        let m = &t.moments;
        m.sent()
            .or(m.received())
            .or(t.timestamp())
            .map_or(f64::MAX, |n| n.as_f64())
    })
}

/// What a task table can filter on. Empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Any of these states.
    pub states: Vec<TaskState>,
    /// Exactly this task name.
    pub name: Option<String>,
    /// Exactly this worker hostname.
    pub worker: Option<String>,
    /// Case-insensitive substring of uuid, name, args, kwargs, result or exception.
    pub text: Option<String>,
}

impl Filter {
    /// `true` when `task` passes. To test many tasks, [`Filter::compile`] once instead.
    pub fn matches(&self, task: &Task) -> bool {
        self.compile().matches(task)
    }

    /// Prepares the filter for testing many tasks (the text needle is lower-cased once).
    pub fn compile(&self) -> CompiledFilter<'_> {
        CompiledFilter {
            filter: self,
            needle: self.text.as_deref().map(Needle::new),
        }
    }
}

/// A [`Filter`] ready to test many tasks.
pub struct CompiledFilter<'a> {
    filter: &'a Filter,
    needle: Option<Needle>,
}

impl CompiledFilter<'_> {
    /// `true` when `task` passes.
    pub fn matches(&self, task: &Task) -> bool {
        let f = self.filter;
        (f.states.is_empty() || f.states.contains(&task.state))
            && f.name.as_deref().is_none_or(|n| task.name() == Some(n))
            && f.worker
                .as_deref()
                .is_none_or(|w| task.worker.as_deref() == Some(w))
            && self.needle.as_ref().is_none_or(|needle| {
                let i = &task.info;
                needle.found_in(&task.uuid)
                    || [&i.name, &i.args, &i.kwargs, &i.result, i.exception()]
                        .into_iter()
                        .filter_map(Value::text)
                        .any(|hay| needle.found_in(&hay))
            })
    }
}

/// Columns a task table sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// `received` moment.
    Received,
    /// `started` moment.
    Started,
    /// `runtime`.
    Runtime,
    /// Task name.
    Name,
    /// State, in precedence order (finished first).
    State,
    /// Timestamp of the latest state change.
    Timestamp,
}

/// A sort position: missing values sort before all others.
#[derive(Clone, Debug)]
enum Position {
    Missing,
    Num(f64),
    Text(Rc<str>),
}

impl Position {
    fn of(key: SortKey, t: &Task) -> Position {
        let num = |n: Option<crate::value::Num>| {
            n.map_or(Position::Missing, |n| Position::Num(n.as_f64()))
        };
        match key {
            SortKey::Received => num(t.moments.received()),
            SortKey::Started => num(t.moments.started()),
            SortKey::Runtime => num(t.info.runtime.as_num()),
            SortKey::Timestamp => num(t.timestamp()),
            SortKey::State => Position::Num(f64::from(t.state.precedence())),
            SortKey::Name => match &t.info.name {
                Value::Str(s) => Position::Text(s.clone()),
                _ => Position::Missing,
            },
        }
    }
}

impl PartialEq for Position {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Position {}
impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Position {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Position::Missing, Position::Missing) => Ordering::Equal,
            (Position::Missing, _) => Ordering::Less,
            (_, Position::Missing) => Ordering::Greater,
            (Position::Num(a), Position::Num(b)) => a.total_cmp(b),
            (Position::Text(a), Position::Text(b)) => a.cmp(b),
            (Position::Num(_), Position::Text(_)) => Ordering::Less,
            (Position::Text(_), Position::Num(_)) => Ordering::Greater,
        }
    }
}

/// A filtered, sorted set of tasks kept up to date from the handles each apply reports: building
/// costs one pass over the State and one sort (fed a radix presort, see `presort`), each update
/// `O(changed · log n)`, reading a window `O(offset + limit)`.
pub struct LiveQuery {
    filter: Filter,
    key: SortKey,
    descending: bool,
    order: BTreeSet<(Position, Handle)>,
    /// Each member's position by the slot of its handle (the State's slots are dense), so
    /// finding a member costs an index, not a hash: building the query at 100,000 tasks is a
    /// UI's filter-and-sort time. The handle tells the slot's current task from an earlier one.
    members: Vec<Option<(Handle, Position)>>,
}

impl LiveQuery {
    /// Builds the query over every task in memory.
    pub fn new(state: &State, filter: Filter, key: SortKey, descending: bool) -> LiveQuery {
        let mut q = LiveQuery {
            filter,
            key,
            descending,
            order: BTreeSet::new(),
            members: Vec::new(),
        };
        q.rebuild(state);
        q
    }

    /// Recomputes from scratch (after `clear`, or when many tasks changed at once).
    pub fn rebuild(&mut self, state: &State) {
        let filter = self.filter.compile();
        let key = self.key;
        self.members = vec![None; state.slot_count()];
        let mut pairs = Vec::new();
        // Slot order: one sequential pass (the pairs are sorted below, so map order is not needed).
        for (h, t) in state.tasks_unordered() {
            if filter.matches(t) {
                let p = Position::of(key, t);
                self.members[h.slot()] = Some((h, p.clone()));
                pairs.push((p, h));
            }
        }
        // Collecting sorts and bulk-builds the tree: much cheaper than one insert per task. Its
        // comparison sort is what decides the order; `presort` hands it the pairs nearly in order
        // already, which it then only checks.
        self.order = presort(pairs).into_iter().collect();
    }

    /// Re-evaluates these tasks (changed, created, or evicted: a dead handle leaves the set).
    pub fn update(&mut self, state: &State, changed: impl IntoIterator<Item = Handle>) {
        let filter = self.filter.compile();
        for h in changed {
            let now = state
                .task_at(h)
                .filter(|t| filter.matches(t))
                .map(|t| Position::of(self.key, t));
            if self.members.len() <= h.slot() {
                self.members.resize(h.slot() + 1, None);
            }
            let entry = &mut self.members[h.slot()];
            match (entry.as_ref(), now) {
                // A later task holds the slot (see `Handle`'s order): `h` is dead and its place
                // was removed already.
                (Some((held, _)), _) if *held > h => {}
                (Some((held, old)), Some(new)) if *held == h && *old == new => {}
                (_, new) => {
                    // What the slot held leaves: this task's old place, or an earlier task of
                    // the same slot (dead, whether or not its eviction was reported).
                    if let Some((held, old)) = entry.take() {
                        self.order.remove(&(old, held));
                    }
                    if let Some(new) = new {
                        self.order.insert((new.clone(), h));
                        *entry = Some((h, new));
                    }
                }
            }
        }
    }

    /// Number of matching tasks.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// `true` when nothing matches.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The `limit` matching tasks from position `offset`, in sort order.
    pub fn window(&self, offset: usize, limit: usize) -> Vec<Handle> {
        let handles = self.order.iter().map(|(_, h)| *h);
        if self.descending {
            handles.rev().skip(offset).take(limit).collect()
        } else {
            handles.skip(offset).take(limit).collect()
        }
    }

    /// The filter in force.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The sort in force: key, and `true` for descending.
    pub fn sort(&self) -> (SortKey, bool) {
        (self.key, self.descending)
    }
}

/// `pairs` nearly in their sort order, by a radix sort of a 64-bit digest of each position that
/// never contradicts the order ([`digest`]); ties and the rest are left to the comparison sort
/// that follows. A comparison sort of 100,000 positions in random order (runtimes) took half of
/// rebuilding the task table; the radix passes read each pair's digest a few times and compare
/// nothing, and a comparison sort checks an ordered input in one pass.
fn presort(pairs: Vec<(Position, Handle)>) -> Vec<(Position, Handle)> {
    const BITS: usize = 8;
    const BUCKETS: usize = 1 << BITS;
    const DIGITS: usize = 64 / BITS;
    if pairs.len() < 2 * BUCKETS {
        return pairs; // the comparison sort alone is as fast
    }
    let mut keys: Vec<(u64, u32)> = pairs
        .iter()
        .enumerate()
        .map(|(i, (p, _))| (digest(p), i as u32))
        .collect();
    // Slot order is often nearly the sort order already (tasks by when they were received);
    // the comparison sort is quick on such input, and the passes would only add to it.
    let descents = keys.windows(2).filter(|w| w[1].0 < w[0].0).count();
    if descents < keys.len() / 512 {
        return pairs;
    }
    // Every digit's histogram in one pass; a digit that all keys share needs no pass of its own.
    let mut counts = vec![[0usize; BUCKETS]; DIGITS];
    for &(k, _) in &keys {
        for (d, count) in counts.iter_mut().enumerate() {
            count[(k >> (d * BITS)) as usize % BUCKETS] += 1;
        }
    }
    let mut spare = vec![(0u64, 0u32); keys.len()];
    for (d, count) in counts.iter().enumerate() {
        if count.contains(&keys.len()) {
            continue;
        }
        let mut next = [0usize; BUCKETS];
        let mut at = 0;
        for (n, c) in next.iter_mut().zip(count) {
            *n = at;
            at += c;
        }
        for &(k, i) in &keys {
            let b = (k >> (d * BITS)) as usize % BUCKETS;
            spare[next[b]] = (k, i);
            next[b] += 1;
        }
        std::mem::swap(&mut keys, &mut spare);
    }
    let mut pairs: Vec<Option<(Position, Handle)>> = pairs.into_iter().map(Some).collect();
    keys.iter()
        .filter_map(|&(_, i)| pairs[i as usize].take())
        .collect()
}

/// A number whose order never contradicts [`Position`]'s: `digest(a) < digest(b)` implies
/// `a < b` (equal digests say nothing). Missing is 0; a number is its bits made to order as
/// `f64::total_cmp` orders; a text is its first eight bytes, big-endian. Numbers and texts are
/// never compared with each other: a sort key gives one or the other.
fn digest(p: &Position) -> u64 {
    match p {
        Position::Missing => 0,
        Position::Num(f) => {
            let bits = f.to_bits();
            // Negative numbers order backwards by their bits; flipping them all, and setting the
            // sign bit of the others, gives the total order as unsigned integers.
            if bits >> 63 == 1 {
                !bits
            } else {
                bits | 1 << 63
            }
        }
        Position::Text(s) => crate::words::order_prefix(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::XorShift;

    fn handle(slot: u32) -> Handle {
        Handle::for_test(slot)
    }

    /// Whatever the presort does, the set built after it is the one a plain sort gives; and on
    /// its own the presort leaves positions of different digests in order.
    #[test]
    fn presort_agrees_with_the_order() {
        let mut rng = XorShift::new(0x005E_ED0F_50F7);
        let texts = [
            "",
            "a",
            "ab",
            "app.tasks.add",
            "app.tasks.addition",
            "app.tasks.b",
            "é",
        ];
        for round in 0..40 {
            let n = [0, 1, 600, 3_000][round % 4];
            let pairs: Vec<(Position, Handle)> = (0..n)
                .map(|i| {
                    let p = match (round / 4 % 2, rng.below(10)) {
                        (_, 0) => Position::Missing,
                        (0, 1) => Position::Num(-0.0),
                        (0, 2) => Position::Num(f64::NAN),
                        (0, 3) => Position::Num(-(rng.below(1000) as f64) / 7.0),
                        (0, _) => Position::Num(rng.below(1000) as f64 / 7.0),
                        (_, k) => Position::Text(Rc::from(texts[k as usize % texts.len()])),
                    };
                    (p, handle(i as u32))
                })
                .collect();
            let mut expected = pairs.clone();
            expected.sort();
            let presorted = presort(pairs);
            assert_eq!(presorted.len(), expected.len());
            for w in presorted.windows(2) {
                assert!(digest(&w[0].0) <= digest(&w[1].0), "{w:?}");
            }
            let built: Vec<_> = presorted
                .into_iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let same = built
                .iter()
                .zip(&expected)
                .all(|(a, b)| a.0.cmp(&b.0).is_eq() && a.1 == b.1);
            assert!(same && built.len() == expected.len(), "round {round}");
        }
    }

    #[test]
    fn digests_follow_the_order() {
        let nums = [
            f64::NEG_INFINITY,
            -1e300,
            -1.5,
            -0.0,
            0.0,
            1e-300,
            2.5,
            f64::INFINITY,
            f64::NAN,
        ];
        for a in nums {
            for b in nums {
                let (pa, pb) = (Position::Num(a), Position::Num(b));
                assert_eq!(digest(&pa).cmp(&digest(&pb)), pa.cmp(&pb), "{a} {b}");
            }
        }
        assert!(digest(&Position::Text("abc".into())) < digest(&Position::Text("abd".into())));
    }
}
