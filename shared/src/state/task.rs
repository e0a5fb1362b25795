//! One task as the State knows it, and how a task event merges into it (Python's `Task.event`).

use std::fmt;
use std::rc::Rc;

use super::EXTRAS_MAX;
use super::store::Handle;
use super::strings::same;
use crate::event::{Fields, TaskSubject};
use crate::json::JsonRef;
use crate::value::{Num, Value};

/// Turns borrowed event values into stored ones (sharing strings where it pays).
pub(crate) trait FieldStorage {
    /// The stored value of field `key` (generic rather than `dyn`: with the key a literal at
    /// every call, the field-name tests in `value` fold away).
    fn value(&mut self, key: &str, v: &JsonRef<'_>) -> Value;
    /// The list `old` (none: empty) with `key` (not in it) added at the end with `value`, shared
    /// with the tasks that hold the same list.
    fn extras_with(&mut self, old: Option<&Extras>, key: &str, value: Value) -> Extras;
    /// Whether long strings are packed as they are stored (on for tasks that are final).
    fn packing(&mut self, on: bool);
    /// Counts a new extra field not kept: the task already has [`EXTRAS_MAX`].
    fn refuse_extra(&mut self);
}

/// A task's state. Known states carry their precedence; any other string is a custom state
/// (from a custom `task-<x>` event). Deliberately not `Ord`: Celery compares states by precedence
/// (`celery.states.state`), and a derived order would be declaration order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Sent (or only heard of), not yet received by a worker.
    Pending,
    /// Received by a worker.
    Received,
    /// Executing.
    Started,
    /// Finished successfully (ready).
    Success,
    /// Raised (ready).
    Failure,
    /// Will be retried.
    Retry,
    /// Revoked (ready).
    Revoked,
    /// Rejected by the worker.
    Rejected,
    /// Any other upper-cased subject (`PROGRESS`, `CANCELLED`, ...).
    Custom(Rc<str>),
}

impl TaskState {
    /// The states Celery defines, in life-cycle order (every state but [`TaskState::Custom`]).
    pub const KNOWN: [TaskState; 8] = [
        TaskState::Pending,
        TaskState::Received,
        TaskState::Started,
        TaskState::Success,
        TaskState::Failure,
        TaskState::Retry,
        TaskState::Revoked,
        TaskState::Rejected,
    ];

    /// The state's place in [`TaskState::KNOWN`]; `None` for a custom state.
    pub fn known_index(&self) -> Option<usize> {
        Some(match self {
            TaskState::Pending => 0,
            TaskState::Received => 1,
            TaskState::Started => 2,
            TaskState::Success => 3,
            TaskState::Failure => 4,
            TaskState::Retry => 5,
            TaskState::Revoked => 6,
            TaskState::Rejected => 7,
            TaskState::Custom(_) => return None,
        })
    }

    /// Celery's precedence index: lower wins (`celery.states.precedence`).
    pub fn precedence(&self) -> u8 {
        match self {
            TaskState::Success => 0,
            TaskState::Failure => 1,
            TaskState::Custom(_) => 2,
            TaskState::Revoked => 3,
            TaskState::Started => 4,
            TaskState::Received => 5,
            TaskState::Rejected => 6,
            TaskState::Retry => 7,
            TaskState::Pending => 8,
        }
    }

    /// The state name as Celery spells it.
    pub fn as_str(&self) -> &str {
        match self {
            TaskState::Pending => "PENDING",
            TaskState::Received => "RECEIVED",
            TaskState::Started => "STARTED",
            TaskState::Success => "SUCCESS",
            TaskState::Failure => "FAILURE",
            TaskState::Retry => "RETRY",
            TaskState::Revoked => "REVOKED",
            TaskState::Rejected => "REJECTED",
            TaskState::Custom(s) => s,
        }
    }

    /// Parses a state name; unknown names are custom states.
    pub fn from_name(name: &str) -> TaskState {
        match name {
            "PENDING" => TaskState::Pending,
            "RECEIVED" => TaskState::Received,
            "STARTED" => TaskState::Started,
            "SUCCESS" => TaskState::Success,
            "FAILURE" => TaskState::Failure,
            "RETRY" => TaskState::Retry,
            "REVOKED" => TaskState::Revoked,
            "REJECTED" => TaskState::Rejected,
            other => TaskState::Custom(Rc::from(other)),
        }
    }

    /// The state a subject leads to: mapped, or the subject upper-cased.
    pub fn for_subject(subject: &TaskSubject) -> TaskState {
        match subject {
            TaskSubject::Sent => TaskState::Pending,
            TaskSubject::Received => TaskState::Received,
            TaskSubject::Started => TaskState::Started,
            TaskSubject::Succeeded => TaskState::Success,
            TaskSubject::Failed => TaskState::Failure,
            TaskSubject::Retried => TaskState::Retry,
            TaskSubject::Revoked => TaskState::Revoked,
            TaskSubject::Rejected => TaskState::Rejected,
            TaskSubject::Custom(s) => TaskState::from_name(&s.to_uppercase()),
        }
    }

    /// `true` for SUCCESS, FAILURE and REVOKED (`celery.states.READY_STATES`).
    pub fn is_ready(&self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failure | TaskState::Revoked
        )
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The known subjects whose moment a task records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// `task-sent`.
    Sent,
    /// `task-received`.
    Received,
    /// `task-started`.
    Started,
    /// `task-succeeded`.
    Succeeded,
    /// `task-failed`.
    Failed,
    /// `task-retried`.
    Retried,
    /// `task-revoked`.
    Revoked,
    /// `task-rejected`.
    Rejected,
}

impl Moment {
    /// All of them, in life-cycle order: the order of [`Moments`]' slots (`moment as usize` is
    /// the slot), not Python's field order, which the dump follows on its own.
    pub const ALL: [Moment; 8] = [
        Moment::Sent,
        Moment::Received,
        Moment::Started,
        Moment::Succeeded,
        Moment::Failed,
        Moment::Retried,
        Moment::Revoked,
        Moment::Rejected,
    ];

    fn of(subject: &TaskSubject) -> Option<Moment> {
        Some(match subject {
            TaskSubject::Sent => Moment::Sent,
            TaskSubject::Received => Moment::Received,
            TaskSubject::Started => Moment::Started,
            TaskSubject::Succeeded => Moment::Succeeded,
            TaskSubject::Failed => Moment::Failed,
            TaskSubject::Retried => Moment::Retried,
            TaskSubject::Revoked => Moment::Revoked,
            TaskSubject::Rejected => Moment::Rejected,
            TaskSubject::Custom(_) => None?,
        })
    }
}

/// The moments a task reached each known subject (the event's `timestamp`, last one wins).
///
/// Stored compactly, together with the task's `timestamp` and `clock` (88 bytes instead of 160):
/// `f64`s plus bit sets for "present" and "was an integer", so every value keeps its JSON type.
/// Integers beyond 2^53 would lose precision; real timestamps are floats and clocks are small.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Moments {
    at: [f64; 10],
    present: u16,
    int: u16,
}

/// Slots of [`Moments`] past the eight subjects.
const TIMESTAMP: usize = 8;
const CLOCK: usize = 9;

impl Moments {
    /// When the task reached `which`, if it did.
    pub fn get(&self, which: Moment) -> Option<Num> {
        self.slot(which as usize)
    }

    fn slot(&self, i: usize) -> Option<Num> {
        let bit = 1u16 << i;
        (self.present & bit != 0).then(|| {
            let v = self.at[i];
            if self.int & bit != 0 {
                Num::Int(v as i64)
            } else {
                Num::Float(v)
            }
        })
    }

    fn set(&mut self, i: usize, n: Num) {
        let bit = 1u16 << i;
        self.present |= bit;
        self.at[i] = n.as_f64();
        match n {
            Num::Int(_) => self.int |= bit,
            Num::Float(_) => self.int &= !bit,
        }
    }

    /// `task-sent` moment.
    pub fn sent(&self) -> Option<Num> {
        self.get(Moment::Sent)
    }
    /// `task-received` moment.
    pub fn received(&self) -> Option<Num> {
        self.get(Moment::Received)
    }
    /// `task-started` moment.
    pub fn started(&self) -> Option<Num> {
        self.get(Moment::Started)
    }
    /// `task-succeeded` moment.
    pub fn succeeded(&self) -> Option<Num> {
        self.get(Moment::Succeeded)
    }
    /// `task-failed` moment.
    pub fn failed(&self) -> Option<Num> {
        self.get(Moment::Failed)
    }
    /// `task-retried` moment.
    pub fn retried(&self) -> Option<Num> {
        self.get(Moment::Retried)
    }
    /// `task-revoked` moment.
    pub fn revoked(&self) -> Option<Num> {
        self.get(Moment::Revoked)
    }
    /// `task-rejected` moment.
    pub fn rejected(&self) -> Option<Num> {
        self.get(Moment::Rejected)
    }
}

/// One task. Field names and meanings are Python's `Task._fields`.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Task id.
    pub uuid: Rc<str>,
    /// Current state after precedence merging.
    pub state: TaskState,
    /// When each subject was last seen.
    pub moments: Moments,
    /// Hostname of the `task-sent` sender (`gen<pid>@host`).
    pub client: Option<Rc<str>>,
    /// Hostname of the worker of the last non-sent event.
    pub worker: Option<Rc<str>>,
    /// `name`, `args`, `kwargs`, ... as copied from events.
    pub info: TaskInfo,
    /// Fields Python copies that the State does not know by name: see [`Task::extras`].
    extra: Option<Extras>,
    /// Children links exactly as Python's `Task.children` (weak: dead handles are skipped).
    pub(crate) children: Vec<Handle>,
}

/// A task's extra fields, `(key, value)` in arrival order. Most tasks hold the same list
/// (`queue` alone), so equal lists are one shared allocation (see
/// `strings::Strings::extras_with`); a list is changed in place only by the one task that holds
/// it (see `set_extra`).
pub(crate) type Extras = Rc<[(Rc<str>, Value)]>;

/// The fields a task takes from its events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskInfo {
    /// Task name.
    pub name: Value,
    /// Positional arguments (`repr` string).
    pub args: Value,
    /// Keyword arguments (`repr` string).
    pub kwargs: Value,
    /// Retry number.
    pub retries: Value,
    /// Result (`repr` string).
    pub result: Value,
    /// Run time in seconds.
    pub runtime: Value,
    /// `eta`, `expires`, `exception`, `traceback`: null for most tasks, so kept out of line
    /// (see the accessors).
    rare: Option<Box<RareInfo>>,
    /// Exchange.
    pub exchange: Value,
    /// Routing key.
    pub routing_key: Value,
    /// Root task id.
    pub root_id: Value,
    /// Parent task id.
    pub parent_id: Value,
}

/// The fields most tasks never set (null): allocated only when one is.
#[derive(Clone, Debug, Default, PartialEq)]
struct RareInfo {
    eta: Value,
    expires: Value,
    exception: Value,
    traceback: Value,
}

const NULL: Value = Value::Null;

/// Picks one field of [`RareInfo`].
type RareSlot = fn(&mut RareInfo) -> &mut Value;

impl TaskInfo {
    /// ETA.
    pub fn eta(&self) -> &Value {
        self.rare.as_ref().map_or(&NULL, |r| &r.eta)
    }
    /// Expiry.
    pub fn expires(&self) -> &Value {
        self.rare.as_ref().map_or(&NULL, |r| &r.expires)
    }
    /// Exception (`repr` string).
    pub fn exception(&self) -> &Value {
        self.rare.as_ref().map_or(&NULL, |r| &r.exception)
    }
    /// Traceback text.
    pub fn traceback(&self) -> &Value {
        self.rare.as_ref().map_or(&NULL, |r| &r.traceback)
    }

    /// Sets a rare field; setting null where nothing was set allocates nothing.
    fn set_rare(&mut self, which: RareSlot, v: Value) {
        match &mut self.rare {
            Some(r) => *which(r) = v,
            None if v.is_null() => {}
            None => *which(self.rare.get_or_insert_default()) = v,
        }
    }

    /// Copies the rare fields present in `f`.
    fn copy_rare(&mut self, f: &Fields<'_>, store: &mut impl FieldStorage, received_rule: bool) {
        // One statement per field, as in `copy!`, so the keys are literals.
        let mut copy = |info: &mut TaskInfo, key, slot: RareSlot, v: &Option<JsonRef<'_>>| {
            if let Some(v) = v
                && !holds(info.rare.as_deref_mut().map_or(&NULL, |r| slot(r)), v)
            {
                let v = store.value(key, v);
                info.set_rare(slot, v);
            }
        };
        copy(self, "eta", |r| &mut r.eta, &f.eta);
        copy(self, "expires", |r| &mut r.expires, &f.expires);
        // The RECEIVED merge rule keeps only `eta` and `expires` of these.
        if !received_rule {
            copy(self, "exception", |r| &mut r.exception, &f.exception);
            copy(self, "traceback", |r| &mut r.traceback, &f.traceback);
        }
    }
}

/// Copies the named fields present in the event `f` into the task info `i`, one statement per
/// field: with each key a literal, `FieldStorage::value`'s tests on the key fold away (a loop over
/// `(key, slot, value)` tuples built the tuples and tested the keys at every event).
macro_rules! copy {
    ($f:ident, $i:ident, $store:ident: $($field:ident),* $(,)?) => {
        $(
            if let Some(v) = &$f.$field
                && !holds(&$i.$field, v)
            {
                $i.$field = $store.value(stringify!($field), v);
            }
        )*
    };
}

/// `true` when `stored` already is the event's value `v`, so storing `v` would change nothing.
/// Most fields repeat from event to event (`task-received` repeats `task-sent`'s name, arguments
/// and ids): comparing a few words costs less than allocating a copy and freeing the old one.
/// A packed string is never taken as equal (that would mean unpacking it); it is stored again.
fn holds(stored: &Value, v: &JsonRef<'_>) -> bool {
    match (stored, v) {
        (Value::Null, JsonRef::Null) => true,
        (Value::Bool(a), JsonRef::Bool(b)) => a == b,
        (Value::Int(a), JsonRef::Int(b)) => a == b,
        // Bit for bit: -0.0 and 0.0 are different JSON values.
        (Value::Float(a), JsonRef::Float(b)) => a.to_bits() == b.to_bits(),
        (Value::Str(a), JsonRef::Str(b)) => same(a, b),
        (Value::Str(a), JsonRef::Escaped(b)) => same(a, b),
        (Value::Json(a), JsonRef::Json(b)) => same(a, b),
        (Value::Json(a), JsonRef::JsonOwned(b)) => same(a, b),
        _ => false,
    }
}

/// Keys never copied from an event onto a task: they are the task's own structure (Python would
/// overwrite its attributes with them, which no real event does and which would corrupt it), or
/// the event's envelope.
const NOT_COPIED: &[&str] = &[
    "state",
    "children",
    "worker",
    "client",
    "root",
    "parent",
    "cluster_state",
    "sent",
    "received",
    "started",
    "succeeded",
    "failed",
    "retried",
    "revoked",
    "rejected",
];

impl Task {
    pub(crate) fn new(uuid: Rc<str>) -> Task {
        Task {
            uuid,
            state: TaskState::Pending,
            moments: Moments::default(),
            client: None,
            worker: None,
            info: TaskInfo::default(),
            extra: None,
            children: Vec::new(),
        }
    }

    /// Compresses the long strings of a task that became final (see `strings::PACK_MIN`): they
    /// are read only when the task is opened.
    pub(crate) fn pack_long_fields(&mut self, strings: &mut super::strings::Strings) {
        let mut pack = |v: &mut Value| {
            if let Value::Str(s) = v
                && s.len() >= super::strings::PACK_MIN
            {
                *v = strings.pack(s, || s.clone());
            }
        };
        let i = &mut self.info;
        for v in [&mut i.args, &mut i.kwargs, &mut i.result] {
            pack(v);
        }
        if let Some(r) = &mut i.rare {
            for v in [
                &mut r.exception,
                &mut r.traceback,
                &mut r.eta,
                &mut r.expires,
            ] {
                pack(v);
            }
        }
    }

    /// Timestamp of the event that last set the state (or of a late event, as Python does).
    pub fn timestamp(&self) -> Option<Num> {
        self.moments.slot(TIMESTAMP)
    }

    /// Lamport clock of the same event (0 before any).
    pub fn clock(&self) -> Num {
        self.moments.slot(CLOCK).unwrap_or(Num::Int(0))
    }

    /// The task name, when it is a string.
    pub fn name(&self) -> Option<&str> {
        self.info.name.as_str()
    }

    /// The parent id, when it is a non-empty string (Python's truthiness test).
    pub fn parent_id(&self) -> Option<&str> {
        self.info.parent_id.as_str().filter(|s| !s.is_empty())
    }

    /// The root id, when it is a non-empty string.
    pub fn root_id(&self) -> Option<&str> {
        self.info.root_id.as_str().filter(|s| !s.is_empty())
    }

    /// The fields Python copies that the State does not know by name (`queue`, a revoke's
    /// `terminated`, a reject's `requeue`, custom ones), in arrival order.
    pub fn extras(&self) -> &[(Rc<str>, Value)] {
        self.extra.as_deref().unwrap_or_default()
    }

    /// One of [`Task::extras`] by key.
    pub fn extra(&self, key: &str) -> Option<&Value> {
        self.extras()
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| v)
    }

    /// Python's `Task.event`: records the subject's moment, then merges the event's fields by
    /// state precedence. `timestamp` and `clock` are the event's.
    pub(crate) fn apply(
        &mut self,
        subject: &TaskSubject,
        timestamp: Num,
        clock: Num,
        fields: &Fields<'_>,
        store: &mut impl FieldStorage,
    ) {
        if let Some(m) = Moment::of(subject) {
            self.moments.set(m as usize, timestamp);
        }
        let new = TaskState::for_subject(subject);
        let happened_before = new != TaskState::Retry
            && self.state != TaskState::Retry
            && new.precedence() > self.state.precedence();
        store.packing(if happened_before {
            self.state.is_ready()
        } else {
            new.is_ready()
        });
        if happened_before {
            if new == TaskState::Received {
                // The RECEIVED merge rule: only these fields are taken from a late task-received.
                self.merge_received_fields(fields, store);
            } else {
                // Every field is copied, the late event's timestamp and clock included; the state
                // is kept.
                self.copy_fields(fields, store);
                self.moments.set(TIMESTAMP, timestamp);
                self.moments.set(CLOCK, clock);
            }
        } else {
            self.copy_fields(fields, store);
            self.state = new;
            self.moments.set(TIMESTAMP, timestamp);
            self.moments.set(CLOCK, clock);
        }
    }

    fn merge_received_fields(&mut self, f: &Fields<'_>, store: &mut impl FieldStorage) {
        let i = &mut self.info;
        copy!(f, i, store: name, args, kwargs, parent_id, root_id, retries);
        i.copy_rare(f, store, true);
    }

    fn copy_fields(&mut self, f: &Fields<'_>, store: &mut impl FieldStorage) {
        let i = &mut self.info;
        copy!(f, i, store: name, args, kwargs, retries, result, runtime, exchange, routing_key,
            root_id, parent_id);
        i.copy_rare(f, store, false);
        // `queue`, the keys of worker events (Python keeps them on a task too, should a task event
        // carry one) and unknown keys go to `extra`; `pid` and `utcoffset` describe the sender of
        // the event, not the task, and are not kept.
        let named_extras = [
            ("queue", &f.queue),
            ("freq", &f.freq),
            ("active", &f.active),
            ("processed", &f.processed),
            ("loadavg", &f.loadavg),
            ("sw_ident", &f.sw_ident),
            ("sw_ver", &f.sw_ver),
            ("sw_sys", &f.sw_sys),
        ];
        for (k, v) in named_extras {
            if let Some(v) = v {
                let v = store.value(k, v);
                set_extra(&mut self.extra, k, v, store);
            }
        }
        for (k, v) in &f.other {
            if !NOT_COPIED.contains(&&**k) {
                let v = store.value(k, v);
                set_extra(&mut self.extra, k, v, store);
            }
        }
    }
}

/// Sets one extra field. A new field makes a new list, shared with the tasks that have the same
/// one. A field that changes from event to event (a progress counter) is updated in the task's
/// own list, in place; a shared list is first copied into one of the task's own.
fn set_extra(extra: &mut Option<Extras>, key: &str, value: Value, store: &mut impl FieldStorage) {
    let old = extra.as_deref().unwrap_or_default();
    let Some(i) = old.iter().position(|(k, _)| &**k == key) else {
        if old.len() >= EXTRAS_MAX {
            store.refuse_extra();
        } else {
            *extra = Some(store.extras_with(extra.as_ref(), key, value));
        }
        return;
    };
    if identical(&old[i].1, &value) {
        return;
    }
    match extra.as_mut().and_then(Rc::get_mut) {
        Some(own) => own[i].1 = value,
        None => *extra = Some(changed_copy(extra.as_deref().unwrap_or_default(), i, value)),
    }
}

/// `list` with its `i`th value replaced, as a new list (out of line: rare, and kept out of the
/// field copy that every event runs).
#[cold]
#[inline(never)]
fn changed_copy(list: &[(Rc<str>, Value)], i: usize, value: Value) -> Extras {
    let mut own = list.to_vec();
    own[i].1 = value;
    Rc::from(own)
}

/// Equal in JSON type and bits (so `-0.0` is not `0.0`, and a NaN is itself), as [`holds`].
pub(crate) fn identical(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_held_only_when_equal_in_type_and_bits() {
        let s = |t: &str| Value::Str(Rc::from(t));
        assert!(holds(&Value::Null, &JsonRef::Null));
        assert!(holds(&Value::Int(0), &JsonRef::Int(0)));
        assert!(
            !holds(&Value::Int(0), &JsonRef::Float(0.0)),
            "0 -> 0.0 changes type"
        );
        assert!(!holds(&Value::Float(0.0), &JsonRef::Float(-0.0)));
        assert!(holds(&Value::Float(1.5), &JsonRef::Float(1.5)));
        assert!(holds(&s("('a',)"), &JsonRef::Str("('a',)")));
        assert!(holds(&s("a\nb"), &JsonRef::Escaped("a\nb".into())));
        assert!(!holds(&s("('a',)"), &JsonRef::Str("('b',)")));
        assert!(
            !holds(&s("[1]"), &JsonRef::Json("[1]")),
            "a string is not an array"
        );
        assert!(holds(&Value::Json(Rc::from("[1]")), &JsonRef::Json("[1]")));
        assert!(!holds(&Value::Null, &JsonRef::Str("")));
        let packed = Value::packed_or_plain(&"x".repeat(2000));
        assert!(matches!(packed, Value::Packed(_)));
        assert!(!holds(&packed, &JsonRef::Str(&"x".repeat(2000))));
    }

    #[test]
    fn precedence_matches_celery() {
        let order = [
            "SUCCESS", "FAILURE", "PROGRESS", "REVOKED", "STARTED", "RECEIVED", "REJECTED",
            "RETRY", "PENDING",
        ];
        let precs: Vec<u8> = order
            .iter()
            .map(|s| TaskState::from_name(s).precedence())
            .collect();
        assert_eq!(precs, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            TaskState::for_subject(&TaskSubject::Custom("foo-bar".into())).as_str(),
            "FOO-BAR"
        );
        assert_eq!(
            TaskState::for_subject(&TaskSubject::Custom("success".into())),
            TaskState::Success
        );
    }
}
