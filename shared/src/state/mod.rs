//! The cluster state: an exact port of Python's `celery.events.state.State` (Celery 5.7's
//! `celery/events/state.py`), plus indexes a UI needs, kept up to date on every event.
//!
//! Deliberate differences from Python are listed, with why, in `docs/state.md` ("Deliberate
//! differences from Python"); each has a test in `tests/differences.rs`. In short: eviction is
//! deterministic, malformed events are rejected whole, structure keys are not copied from events,
//! only strings link and index, a non-numeric `freq` means no expiry, Python's JSON extensions are
//! read, timestamp localisation is off, task types and extra fields are bounded, and a worker's
//! clock drift is kept rather than logged.

mod apply;
mod counts;
mod extras;
mod heap;
mod pairs;
mod read;
mod roots;
pub(crate) mod store;
mod strings;
mod task;
mod worker;

use std::rc::Rc;

use rustc_hash::FxHashSet;

use crate::event::{Event, EventKind};
use crate::json::JsonRef;
use crate::value::Value;
pub use counts::{Counts, StateCounts};
pub use store::Handle;
use strings::{Keep, Strings};
pub use task::{Moment, Moments, Task, TaskInfo, TaskState};
pub use worker::{DRIFT_MAX, EXPIRE_WINDOW, HEARTBEAT_MAX, Worker};

/// Memory bounds, as Python's `max_tasks_in_memory` / `max_workers_in_memory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Tasks kept; the oldest (FIFO, see [`State`]) is evicted to make room. At least 1.
    pub max_tasks: usize,
    /// Workers kept; the oldest is evicted to make room. At least 1.
    pub max_workers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_tasks: 10_000,
            max_workers: 5_000,
        }
    }
}

/// The time heap holds this many entries per task (Python's `heap_multiplier`).
pub const HEAP_MULTIPLIER: usize = 4;

/// The most extra fields (keys the State does not know by name) a task or a worker keeps. Python
/// sets every key of every event on its object; a stream of events with ever new keys (a custom
/// event with a counter in its key names, a hostile sender) would grow one task or worker, and
/// the time to find a key in it, without end. Past this many a new key is not kept, only counted
/// ([`State::extras_refused`]); keys already kept still take new values.
pub const EXTRAS_MAX: usize = 64;

/// The most task names [`State::task_types`] keeps. Python's set of seen types grows without
/// end; a stream of unique names (a hostile or broken client) would grow ours as much, so past this
/// many a new name is not recorded, only counted ([`State::task_types_refused`]). Real clusters
/// have hundreds of task types.
pub const TASK_TYPES_MAX: usize = 16_384;

/// One bounded structure of the State, as [`State::bounds`] reports it: how full it is, how often
/// its bound was reached, and what happens then. Every table, index and cache the State keeps is
/// either listed here or sized by one that is (indexes by task, by name, by worker, by root hold
/// only what the tasks and workers hold).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    /// What it holds.
    pub name: &'static str,
    /// Entries now (for a per-item bound, the most one item has held).
    pub len: usize,
    /// The most it holds.
    pub limit: usize,
    /// How many times the bound was reached: entries evicted, refused or emptied. `None` for the
    /// small direct-mapped caches, whose entries replace each other all the time by design.
    pub reached: Option<u64>,
    /// What happens when it is full.
    pub when_full: &'static str,
}

impl Bound {
    /// What a direct-mapped cache does when full.
    pub(crate) const SLOT_TAKEN: &'static str =
        "a new entry takes the place of the one in its slot";

    /// A bound whose reaching is counted.
    pub(crate) fn counted(
        name: &'static str,
        len: usize,
        limit: usize,
        reached: u64,
        when_full: &'static str,
    ) -> Bound {
        Bound {
            name,
            len,
            limit,
            reached: Some(reached),
            when_full,
        }
    }

    /// A small cache of fixed slots: how many are in use, no count (entries replace each other by
    /// design).
    pub(crate) fn cache<T>(
        name: &'static str,
        slots: &[Option<T>],
        when_full: &'static str,
    ) -> Bound {
        Bound {
            name,
            len: slots.iter().filter(|s| s.is_some()).count(),
            limit: slots.len(),
            reached: None,
            when_full,
        }
    }
}

/// Why an event could not be applied. The event is still counted in `event_count`, as in Python.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplyError {
    /// A key the State needs is absent (`local_received` before normalisation, `clock`, ...).
    MissingField(&'static str),
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::MissingField(k) => write!(f, "event has no `{k}`"),
        }
    }
}

impl std::error::Error for ApplyError {}

/// A task that had to leave memory to make room.
#[derive(Clone, Debug, PartialEq)]
pub struct Evicted {
    /// Its (now dead) handle.
    pub handle: Handle,
    /// Its id.
    pub uuid: Rc<str>,
}

/// A worker created by a task event: Python creates the worker of every task event's sender but
/// a `task-sent`'s (a client), so a worker may appear before its first heartbeat.
#[derive(Clone, Debug, PartialEq)]
pub struct NewWorker {
    /// Its hostname.
    pub hostname: Rc<str>,
    /// The worker evicted to make room for it, if any.
    pub evicted: Option<Rc<str>>,
}

/// What one [`State::apply`] changed, so a UI can update only that.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// A task was created or updated.
    Task {
        /// The task.
        handle: Handle,
        /// `true` when this event created it.
        created: bool,
        /// The task evicted to make room for it, if any.
        evicted: Option<Evicted>,
        /// The sender's worker, when this event created it.
        new_worker: Option<NewWorker>,
    },
    /// A worker was created or updated (or, for `worker-offline` of an unknown worker, nothing
    /// was stored, as in Python).
    Worker {
        /// Its hostname.
        hostname: Rc<str>,
        /// `true` when this event created it.
        created: bool,
        /// The worker evicted to make room for it, if any.
        evicted: Option<Rc<str>>,
    },
    /// An event of another group: counted, nothing else.
    Ignored,
}

/// How a task's fields are stored: routing strings shared, ids shared with the task map's keys.
struct TaskStorage<'s> {
    strings: &'s mut Strings,
    root: Option<Rc<str>>,
    parent: Option<Rc<str>>,
    /// Long strings are packed only into tasks that are final (see `Task::pack_long_fields`).
    pack: bool,
}

impl task::FieldStorage for TaskStorage<'_> {
    #[inline]
    fn value(&mut self, key: &str, v: &JsonRef<'_>) -> Value {
        let known = match key {
            "root_id" => self.root.as_ref(),
            "parent_id" => self.parent.as_ref(),
            _ => None,
        };
        if let (Some(id), Some(s)) = (known, v.as_str())
            && **id == *s
        {
            return Value::Str(id.clone());
        }
        let keep = match key {
            "name" | "exchange" | "routing_key" | "queue" | "sw_ident" | "sw_ver" | "sw_sys" => {
                Keep::Shared
            }
            _ => Keep::Plain,
        };
        self.strings.value(v, keep, self.pack)
    }

    fn extras_with(&mut self, old: Option<&task::Extras>, key: &str, value: Value) -> task::Extras {
        self.strings.extras_with(old, key, value)
    }

    fn packing(&mut self, on: bool) {
        self.pack = on;
    }

    fn refuse_extra(&mut self) {
        self.strings.extras.refuse();
    }
}

/// The string inside a value, sharing its allocation.
fn shared_str(v: &Value) -> Option<Rc<str>> {
    match v {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    }
}

impl store::Keyed for Slot {
    fn key(&self) -> &str {
        &self.task.uuid
    }
}

impl store::Keyed for Worker {
    fn key(&self) -> &str {
        &self.hostname
    }
}

/// Children that arrived before their parent, waiting for it.
struct Waiting {
    parent: Rc<str>,
    children: Vec<Handle>,
}

impl store::Keyed for Waiting {
    fn key(&self) -> &str {
        &self.parent
    }
}

/// Per-task bookkeeping that is not part of Python's task.
#[derive(Clone, Debug)]
struct Slot {
    task: Task,
    /// `(name, hostname)` the task is listed under by `tasks_by_type` / `tasks_by_worker`: set when
    /// the creating event already named the task, as in Python.
    indexed: pairs::PairId,
    /// The list that surely holds this task: every event of a child looks its parent up and adds
    /// itself to the parent's children, or to the children awaiting a parent not yet seen, as
    /// Python does; this saves searching that list (of a 10,000-task group) at each of them.
    link: Link,
}

/// Where a task was last linked as a child (see [`Slot::link`]). A handle that has died since
/// (its parent or its waiting list gone) matches nothing, so the task is linked again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    None,
    /// In this parent's children.
    Parent(Handle),
    /// In this entry of the children awaiting their parent.
    Waiting(Handle),
}

/// The cluster state. Sans-IO: time only comes from events and from the `now` given to
/// [`State::alive_workers`]-style queries.
///
/// The task and worker maps are FIFO, as Python's really are (`LRUCache` read through `.data`),
/// except that looking a parent up moves it to the back, as Python does.
pub struct State {
    limits: Limits,
    tasks: store::OrderedMap<Slot>,
    workers: store::OrderedMap<Worker>,
    heap: heap::TimeHeap,
    pending_children: store::OrderedMap<Waiting>,
    task_types: FxHashSet<Rc<str>>,
    /// Names not recorded in `task_types` because it was full.
    task_types_refused: u64,
    /// Tasks, workers and waiting lists of children that left to make room.
    tasks_evicted: u64,
    workers_evicted: u64,
    waiting_evicted: u64,
    by_root: roots::Roots,
    /// The `(name, hostname)` pairs of `Slot::indexed`.
    pairs: pairs::Pairs,
    counts: Counts,
    strings: Strings,
    /// The sender of the last task event (its shared hostname, and its worker once looked up):
    /// events come in runs from one sender, and this saves hashing its name twice per event.
    last_sender: Option<(Rc<str>, Option<Handle>)>,
    event_count: u64,
    task_count: u64,
}

impl Default for State {
    fn default() -> State {
        State::new(Limits::default())
    }
}

impl State {
    /// An empty state with these bounds (each raised to at least 1).
    pub fn new(limits: Limits) -> State {
        let limits = Limits {
            max_tasks: limits.max_tasks.max(1),
            max_workers: limits.max_workers.max(1),
        };
        State {
            limits,
            tasks: store::OrderedMap::with_limit(limits.max_tasks),
            workers: store::OrderedMap::with_limit(limits.max_workers),
            heap: heap::TimeHeap::new(limits.max_tasks * HEAP_MULTIPLIER),
            pending_children: store::OrderedMap::with_limit(limits.max_tasks),
            task_types: FxHashSet::default(),
            task_types_refused: 0,
            tasks_evicted: 0,
            workers_evicted: 0,
            waiting_evicted: 0,
            by_root: roots::Roots::default(),
            pairs: pairs::Pairs::default(),
            counts: Counts::default(),
            strings: Strings::default(),
            last_sender: None,
            event_count: 0,
            task_count: 0,
        }
    }

    /// The bounds in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Events seen, valid or not (Python's `event_count`).
    pub fn event_count(&self) -> u64 {
        self.event_count
    }

    /// `task-received` events seen, retries included (Python's `task_count`).
    pub fn task_count(&self) -> u64 {
        self.task_count
    }

    /// Applies one normalised event (it must carry `local_received`; see [`crate::Receiver`]).
    pub fn apply(&mut self, event: &Event<'_>) -> Result<Applied, ApplyError> {
        self.event_count += 1;
        if event.fields.dropped > 0 && event.kind != EventKind::Other {
            // Keys the decoder could not keep would have been extra fields.
            self.strings
                .extras
                .refuse_many(u64::from(event.fields.dropped));
        }
        match &event.kind {
            EventKind::Task(subject) => self.apply_task(subject, event),
            EventKind::Worker(subject) => self.apply_worker(subject, event),
            EventKind::Other => Ok(Applied::Ignored),
        }
    }

    /// Counts an event that was rejected before it could be applied (a JSON object that failed to
    /// decode): Python's State counts every event it is handed, even one it then fails on.
    pub fn count_rejected(&mut self) {
        self.event_count += 1;
    }

    /// Python's `clear_tasks(ready)`: with `ready`, keeps the tasks that are not ready; otherwise
    /// drops them all. Empties the time heap either way.
    pub fn clear_tasks(&mut self, ready: bool) {
        let doomed: Vec<Handle> = self
            .tasks
            .handles()
            .filter(|&h| !ready || self.slot(h).task.state.is_ready())
            .collect();
        for h in doomed {
            if let Some(slot) = self.tasks.remove(h) {
                self.forget(h, &slot);
            }
        }
        self.heap.clear();
    }

    /// Python's `clear(ready)`: workers, tasks (as [`State::clear_tasks`]) and both counters.
    /// Seen task types are kept, as in Python.
    pub fn clear(&mut self, ready: bool) {
        self.workers.clear();
        self.clear_tasks(ready);
        self.event_count = 0;
        self.task_count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode_event;

    /// The structures held per task and per event stay within the sizes memory per task was
    /// measured with (docs/benchmarks.md): growing one is a deliberate, measured change. (64-bit
    /// targets; wasm32's are smaller.)
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn per_task_structures_keep_their_size() {
        use std::mem::size_of;
        // 456 until each task noted the list it is linked to as a child (8 bytes, so that a
        // group's children do not search their parent's list at every event).
        assert!(size_of::<Slot>() <= 464, "Slot {}", size_of::<Slot>());
        assert!(
            size_of::<TaskInfo>() <= 248,
            "TaskInfo {}",
            size_of::<TaskInfo>()
        );
        assert_eq!(size_of::<Value>(), 24);
        assert_eq!(size_of::<JsonRef>(), 24);
        assert_eq!(size_of::<heap::Entry>(), 32);
        // 584 until the worker events' keys got slots of their own (168 bytes, for 2% fewer
        // instructions per event in all); 760 with the count of unknown keys not kept.
        assert!(size_of::<Event>() <= 760, "Event {}", size_of::<Event>());
    }

    fn apply(s: &mut State, json: &str) {
        s.apply(&decode_event(json.as_bytes()).unwrap()).unwrap();
    }

    /// Counts by state follow every move, known and custom states alike, and leave out states
    /// that no task is in any more; evicting a task takes it out of its state's count.
    #[test]
    fn counts_by_state_follow_known_and_custom_states() {
        // The array's slots are the states' places in `KNOWN`, written out twice in task.rs.
        for (i, state) in TaskState::KNOWN.iter().enumerate() {
            assert_eq!(state.known_index(), Some(i), "{state:?}");
        }
        let mut s = State::new(Limits {
            max_tasks: 2,
            ..Limits::default()
        });
        let ev = |ty: &str, id: &str, t: u32| {
            format!(
                r#"{{"type": "{ty}", "uuid": "{id}", "hostname": "w", "timestamp": {t}, "clock": {t}, "local_received": {t}}}"#
            )
        };
        let counts = |s: &State| {
            let mut c: Vec<(String, usize)> = s
                .counts()
                .by_state
                .iter()
                .map(|(k, n)| (k.as_str().to_owned(), n))
                .collect();
            c.sort();
            c
        };
        let pair = |k: &str, n| (k.to_owned(), n);
        apply(&mut s, &ev("task-received", "a", 1));
        apply(&mut s, &ev("task-progress", "b", 2));
        assert_eq!(counts(&s), [pair("PROGRESS", 1), pair("RECEIVED", 1)]);
        apply(&mut s, &ev("task-progress", "a", 3));
        assert_eq!(counts(&s), [pair("PROGRESS", 2)]);
        let progress = TaskState::Custom("PROGRESS".into());
        assert_eq!(s.counts().by_state.get(&progress), 2);
        assert_eq!(s.counts().by_state.get(&TaskState::Received), 0);
        apply(&mut s, &ev("task-succeeded", "b", 4));
        apply(&mut s, &ev("task-started", "c", 5)); // evicts "a"
        assert_eq!(counts(&s), [pair("STARTED", 1), pair("SUCCESS", 1)]);
        assert_eq!(s.counts().by_state.get(&progress), 0);
    }

    /// A task event reports the worker it creates, and the worker evicted for it: a client's
    /// `task-sent` creates none, a known worker is not reported again.
    #[test]
    fn a_task_event_reports_the_worker_it_creates() {
        let mut s = State::new(Limits {
            max_workers: 1,
            ..Limits::default()
        });
        let mut new_worker = |ty: &str, host: &str, t: u32| {
            let json = format!(
                r#"{{"type": "{ty}", "uuid": "u{t}", "hostname": "{host}", "timestamp": {t}, "clock": {t}, "local_received": {t}}}"#
            );
            match s.apply(&decode_event(json.as_bytes()).unwrap()).unwrap() {
                Applied::Task { new_worker, .. } => {
                    new_worker.map(|n| (n.hostname.to_string(), n.evicted.map(|e| e.to_string())))
                }
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(new_worker("task-sent", "client", 1), None);
        assert_eq!(
            new_worker("task-received", "w1", 2),
            Some(("w1".into(), None))
        );
        assert_eq!(new_worker("task-started", "w1", 3), None);
        assert_eq!(
            new_worker("task-received", "w2", 4),
            Some(("w2".into(), Some("w1".into())))
        );
        assert_eq!(
            s.workers().map(|w| &*w.hostname).collect::<Vec<_>>(),
            ["w2"]
        );
    }

    /// Python sets every key of an event on its task or worker. The keys the decoder gives slots
    /// of their own (a worker's `freq`, `loadavg`, ...; a task's `name`, ...) still land on the
    /// other kind as extras, beside unknown keys; `pid` and `utcoffset` stay off tasks.
    #[test]
    fn every_key_lands_on_a_task_or_worker_whatever_its_slot() {
        let mut s = State::default();
        apply(
            &mut s,
            r#"{"type": "task-sent", "uuid": "a", "hostname": "c", "timestamp": 1, "clock": 1, "local_received": 1, "pid": 7, "utcoffset": 0, "freq": 2.5, "x": 1, "loadavg": [1, 2], "sw_sys": "Linux"}"#,
        );
        let keys: Vec<String> = s
            .task("a")
            .unwrap()
            .extras()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            keys,
            ["freq=2.5", "loadavg=[1, 2]", "sw_sys=\"Linux\"", "x=1"]
        );
        apply(
            &mut s,
            r#"{"type": "worker-heartbeat", "hostname": "w", "timestamp": 2, "clock": 2, "local_received": 2, "pid": 7, "utcoffset": 0, "freq": 2.5, "active": 1, "processed": 3, "loadavg": [1, 2], "sw_ident": "i", "sw_ver": "v", "sw_sys": "s", "name": "n", "y": true, "id": "no", "heartbeats": "no"}"#,
        );
        let w = s.worker("w").unwrap();
        let own = [
            &w.pid,
            &w.freq,
            &w.active,
            &w.processed,
            &w.loadavg,
            &w.sw_ident,
            &w.sw_ver,
            &w.sw_sys,
        ];
        let own: Vec<String> = own.iter().map(|v| v.to_string()).collect();
        assert_eq!(
            own,
            ["7", "2.5", "1", "3", "[1, 2]", "\"i\"", "\"v\"", "\"s\""]
        );
        let extra: Vec<String> = w.extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(extra, ["name=\"n\"", "utcoffset=0", "y=true"]);
        assert_eq!(&*w.id, "w.7");

        // Every key the decoder knows by name, alone in a task event and in a worker event, ends
        // up on the task and the worker, by name or as an extra (a task keeps no sender keys).
        for (n, key) in crate::event::FIELD_NAMES.iter().enumerate() {
            let value = format!("v-{key}");
            let (uuid, host) = (format!("t{n}"), format!("w{n}"));
            apply(
                &mut s,
                &format!(
                    r#"{{"type": "task-sent", "uuid": "{uuid}", "hostname": "c", "timestamp": 1, "clock": 1, "local_received": 1, "{key}": "{value}"}}"#
                ),
            );
            let t = s.task(&uuid).unwrap();
            let named = crate::dump::task(&s, t)[*key] == value;
            let extra = t.extra(key) == Some(&Value::Str(value.as_str().into()));
            let sender = matches!(*key, "pid" | "utcoffset");
            assert_eq!(
                [named, extra, sender].iter().filter(|b| **b).count(),
                1,
                "task: {key}"
            );
            apply(
                &mut s,
                &format!(
                    r#"{{"type": "worker-heartbeat", "hostname": "{host}", "timestamp": 1, "clock": 1, "local_received": 1, "{key}": "{value}"}}"#
                ),
            );
            let w = s.worker(&host).unwrap();
            let named = crate::dump::worker(w, 1.0)[*key] == value;
            let extra = w
                .extra
                .iter()
                .any(|(k, v)| &**k == *key && *v == Value::Str(value.as_str().into()));
            assert!(named != extra, "worker: {key}");
        }
    }

    /// Tasks with the same extra fields share one list; a task whose fields change gets a list
    /// of its own and the others keep theirs; values equal as numbers but not as JSON (`0.0`,
    /// `-0.0`) are not shared.
    #[test]
    fn extras_lists_are_shared_and_copied_on_change() {
        let mut s = State::default();
        let sent = |id: &str, zero: &str| {
            format!(
                r#"{{"type": "task-sent", "uuid": "{id}", "hostname": "c", "timestamp": 1, "clock": 1, "local_received": 1, "queue": "celery", "z": {zero}}}"#
            )
        };
        for (id, zero) in [("a", "0.0"), ("b", "0.0"), ("c", "-0.0")] {
            apply(&mut s, &sent(id, zero));
        }
        let extras = |s: &State, id| s.task(id).unwrap().extras().as_ptr();
        assert_eq!(extras(&s, "a"), extras(&s, "b"), "equal lists shared");
        assert_ne!(extras(&s, "a"), extras(&s, "c"));
        let negative = s.task("c").unwrap().extra("z");
        assert!(matches!(negative, Some(Value::Float(z)) if z.is_sign_negative()));
        apply(
            &mut s,
            r#"{"type": "task-revoked", "uuid": "b", "hostname": "w", "timestamp": 2, "clock": 2, "local_received": 2, "terminated": true, "z": 1}"#,
        );
        let keys = |s: &State, id| -> Vec<String> {
            let t = s.task(id).unwrap();
            t.extras().iter().map(|(k, v)| format!("{k}={v}")).collect()
        };
        assert_eq!(keys(&s, "a"), ["queue=\"celery\"", "z=0.0"]);
        assert_eq!(
            keys(&s, "b"),
            ["queue=\"celery\"", "z=1", "terminated=true"]
        );
        assert_eq!(
            s.task("b").unwrap().extra("terminated"),
            Some(&Value::Bool(true))
        );
        // A field that moves at every event (a progress counter) is updated in the task's own
        // list, in place: after the first copy, no new list per event.
        let progress = |n: u32| {
            format!(
                r#"{{"type": "task-progress", "uuid": "a", "hostname": "w", "timestamp": 3, "clock": {n}, "local_received": 3, "z": {n}}}"#
            )
        };
        apply(&mut s, &progress(3));
        let own = extras(&s, "a");
        assert_ne!(own, extras(&s, "b"));
        for n in 4..8 {
            apply(&mut s, &progress(n));
            assert_eq!(extras(&s, "a"), own, "updated in place");
        }
        assert_eq!(keys(&s, "a"), ["queue=\"celery\"", "z=7"]);
        assert_eq!(
            keys(&s, "b"),
            ["queue=\"celery\"", "z=1", "terminated=true"]
        );
    }
}
