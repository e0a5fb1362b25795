//! Celery's own State unit tests (`t/unit/events/test_state.py`), ported to the crate's public API
//! as table-driven tests with fixed timestamps.
//!
//! Each test names the Python test it ports. Python's `replay` helper becomes [`Replay`] (an
//! event's `local_received` is its `timestamp`; events without a `clock` get the next one), and
//! Python's `ev_*` scenario classes become functions returning the same events. Python reads the
//! clock (`time()`); here every timestamp is fixed and liveness is asked at an explicit `now`.
//!
//! Expected values that are not spelled out in the Python tests (the precedence matrix, the
//! heartbeat window, merge details) were taken from Celery 5.7's `State` run on the same events.
//!
//! Not ported:
//! - `test_Worker.test_heartbeat_expires__Decimal`, `test_Worker.test_compatible_with_Decimal`:
//!   `Decimal` values (JSON has none); their float arithmetic is in `heartbeat_expires_and_alive`.
//! - `test_Worker.test_reduce_direct`, `test_Task.test_reduce_direct`, `test_State.test_pickleable`:
//!   pickling.
//! - `test_Worker.test_repr`, `test_Task.test_repr`, `test_State.test_repr`: `__repr__`.
//! - `test_Task.test_info`: `Task.info()`.
//! - `test_State.test_task_descending_clock_ordering`: `@skip.todo` upstream, and the crate has no
//!   `tasks_by_time(reverse=False)`.
//! - `test_State.test_itertasks`: `itertasks`, on a hand-assigned dict of strings.
//! - `test_State.test_freeze_while`: `freeze_while` (a mutex; the crate is single-owner).
//! - `test_State.test_callback`: the State `callback`.
//! - `test_State.test_deepcopy`: `copy.deepcopy` (its `task-success` events are in
//!   `custom_states`).
//! - The `on_node_join` / `on_node_leave` callback assertions of `test_on_node_join_callback` and
//!   `test_survives_unknown_worker_leaving` (the rest of both tests is ported).
//!
//! Layout: this file holds the helpers (events, replay, expectations); `worker.rs`, `task.rs`
//! and `state.rs` port `test_Worker`, `test_Task` and `test_State`.

mod state;
mod task;
mod worker;

use serde_json::{Map, Value as J, json};
use stalk_state::state::{EXPIRE_WINDOW, HEAP_MULTIPLIER, HEARTBEAT_MAX};
use stalk_state::{
    Applied, ApplyError, Event, Evicted, Handle, Limits, Num, State, Task, Worker, decode_event,
};

/// A fixed "now" for the tests (Python uses `time()`).
const T0: f64 = 1_700_000_000.0;

/// Python's `HEARTBEAT_EXPIRE_WINDOW` (per cent), as `ev_worker_heartbeats` uses it.
const HEARTBEAT_EXPIRE_WINDOW: f64 = 200.0;

// ---- events ----

/// Python's `Event(type, **fields)`: the fields plus `type` and `timestamp`.
fn ev(ty: &str, timestamp: f64, fields: J) -> J {
    let mut obj = match fields {
        J::Object(m) => m,
        J::Null => Map::new(),
        other => panic!("event fields must be an object, not {other}"),
    };
    obj.insert("type".into(), json!(ty));
    obj.insert("timestamp".into(), json!(timestamp));
    J::Object(obj)
}

/// Python's `QTEV`: a quick task event with a clock and a name.
fn qtev(subject: &str, uuid: &str, hostname: &str, clock: i64, name: &str, ts: f64) -> J {
    ev(
        &format!("task-{subject}"),
        ts,
        json!({"uuid": uuid, "hostname": hostname, "clock": clock, "name": name}),
    )
}

/// The JSON text of `ev`, decoded as the crate decodes a message.
fn decode(ev: &J) -> Event<'static> {
    let text = serde_json::to_vec(ev).expect("JSON");
    decode_event(&text)
        .unwrap_or_else(|e| panic!("{ev} does not decode: {e}"))
        .into_owned()
}

/// Applies an event as a Python test hands a dict to `State.event`: `local_received` as given,
/// `clock` only if the event has one.
fn apply(s: &mut State, ev: &J, local_received: f64) -> Applied {
    let mut e = decode(ev);
    e.local_received = Some(Num::Float(local_received));
    s.apply(&e)
        .unwrap_or_else(|err| panic!("{ev} not applied: {err}"))
}

/// Python's `replay`: each event gets `local_received = timestamp`, and a clock one past the
/// previous event's when it has none.
struct Replay {
    state: State,
    current_clock: i64,
}

impl Replay {
    fn new(state: State) -> Replay {
        Replay {
            state,
            current_clock: 0,
        }
    }

    fn next(&mut self, ev: &J) -> Applied {
        let mut e = decode(ev);
        let ts = e.timestamp.expect("replayed events have a timestamp");
        e.local_received = Some(Num::Float(ts.as_f64()));
        match e.clock {
            Some(Num::Int(c)) => self.current_clock = c,
            Some(Num::Float(c)) => panic!("fractional clock {c}"),
            None => {
                self.current_clock += 1;
                e.clock = Some(Num::Int(self.current_clock));
            }
        }
        self.state
            .apply(&e)
            .unwrap_or_else(|err| panic!("{ev} not applied: {err}"))
    }

    fn play(&mut self, events: &[J]) {
        for e in events {
            self.next(e);
        }
    }
}

// ---- Python's scenarios (`ev_*` classes), with fixed timestamps ----

/// `ev_worker_online_offline`.
fn ev_worker_online_offline() -> Vec<J> {
    vec![
        ev("worker-online", T0, json!({"hostname": "utest1"})),
        ev("worker-offline", T0 + 1.0, json!({"hostname": "utest1"})),
    ]
}

/// `ev_worker_heartbeats`, with `now` for Python's `time()`.
fn ev_worker_heartbeats(now: f64) -> Vec<J> {
    vec![
        ev(
            "worker-heartbeat",
            now - HEARTBEAT_EXPIRE_WINDOW * 2.0,
            json!({"hostname": "utest1"}),
        ),
        ev("worker-heartbeat", now, json!({"hostname": "utest1"})),
    ]
}

/// `ev_task_states`: event `i` at `T0 + i`.
fn ev_task_states() -> Vec<J> {
    let events = [
        (
            "task-received",
            json!({"uuid": "tid", "name": "task1", "args": "(2, 2)", "kwargs": "{'foo': 'bar'}",
                   "retries": 0, "eta": null, "hostname": "utest1"}),
        ),
        ("task-started", json!({"uuid": "tid", "hostname": "utest1"})),
        ("task-revoked", json!({"uuid": "tid", "hostname": "utest1"})),
        (
            "task-retried",
            json!({"uuid": "tid", "exception": "KeyError('bar')", "traceback": "line 2 at main",
                   "hostname": "utest1"}),
        ),
        (
            "task-failed",
            json!({"uuid": "tid", "exception": "KeyError('foo')", "traceback": "line 1 at main",
                   "hostname": "utest1"}),
        ),
        (
            "task-succeeded",
            json!({"uuid": "tid", "result": "4", "runtime": 0.1234, "hostname": "utest1"}),
        ),
        ("foo-bar", json!({})),
        (
            "task-received",
            json!({"uuid": "tid2", "name": "task2", "args": "(4, 4)", "kwargs": "{'foo': 'bar'}",
                   "retries": 0, "eta": null, "parent_id": "tid", "root_id": "tid",
                   "hostname": "utest1"}),
        ),
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(i, (ty, fields))| ev(ty, T0 + i as f64, fields))
        .collect()
}

/// `ev_logical_clock_ordering` with this offset and these `[tA, tB, tC]` ids; event `i` is at
/// `t0 + i` (note the `succeded` typo and the `TA` name, both from the Python test).
fn ev_logical_clock_ordering(offset: i64, uids: [&str; 3], t0: f64) -> Vec<J> {
    let [ta, tb, tc] = uids;
    [
        ("received", ta, "w1", "tA", 1),
        ("received", tb, "w2", "tB", 1),
        ("started", ta, "w1", "tA", 3),
        ("received", tc, "w2", "tC", 3),
        ("started", tb, "w2", "tB", 5),
        ("retried", ta, "w1", "tA", 7),
        ("succeeded", tb, "w2", "tB", 9),
        ("started", tc, "w2", "tC", 10),
        ("received", ta, "w3", "tA", 13),
        ("succeded", tc, "w2", "tC", 12),
        ("started", ta, "w3", "tA", 14),
        ("succeeded", ta, "w3", "TA", 16),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (subject, uuid, host, name, clock))| {
        qtev(subject, uuid, host, offset + clock, name, t0 + i as f64)
    })
    .collect()
}

/// `ev_snapshot`: three workers online, then 20 tasks alternating `task2`@`utest2` (even `i`) and
/// `task1`@`utest1` (odd `i`), with ids `snap-<i>`; event `k` at `T0 + k`.
fn ev_snapshot() -> Vec<J> {
    let mut events: Vec<J> = ["utest1", "utest2", "utest3"]
        .iter()
        .enumerate()
        .map(|(k, h)| ev("worker-online", T0 + k as f64, json!({"hostname": h})))
        .collect();
    for i in 0..20 {
        let (worker, name) = if i % 2 == 0 {
            ("utest2", "task2")
        } else {
            ("utest1", "task1")
        };
        events.push(ev(
            "task-received",
            T0 + (3 + i) as f64,
            json!({"name": name, "uuid": format!("snap-{i}"), "hostname": worker}),
        ));
    }
    events
}

/// Replays `ev_snapshot` into a fresh State.
fn snapshot() -> Replay {
    let mut r = Replay::new(State::default());
    r.play(&ev_snapshot());
    r
}

fn snap_ids(parity: usize) -> Vec<String> {
    (0..20)
        .filter(|i| i % 2 == parity)
        .map(|i| format!("snap-{i}"))
        .collect()
}

// ---- expectations ----

/// One thing that must hold of a State.
#[derive(Debug)]
enum Expect<'a> {
    /// These keys of the task's view (see [`task_view`]) have these values.
    Task(&'a str, J),
    /// No task with this id is in memory.
    NoTask(&'a str),
    /// These keys of the worker's view (see [`worker_view`]) have these values.
    Worker(&'a str, J),
    /// No worker with this hostname is in memory.
    NoWorker(&'a str),
    /// `alive_workers(now)`, in map order.
    Alive(f64, &'a [&'a str]),
    /// `(event_count, task_count)`.
    Counts(u64, u64),
    /// `(tasks, workers)` in memory.
    Sizes(usize, usize),
    /// `tasks_by_time(limit)` ids, newest first.
    ByTime(Option<usize>, &'a [&'a str]),
    /// `tasks_by_type(name)` ids, sorted.
    ByType(&'a str, &'a [&'a str]),
    /// `tasks_by_worker(hostname)` ids, sorted.
    ByWorker(&'a str, &'a [&'a str]),
    /// `task_types()`.
    Types(&'a [&'a str]),
}

fn to_json<T: serde::Serialize>(v: T) -> J {
    serde_json::to_value(v).expect("serialisable")
}

fn extra_json(extra: &[(std::rc::Rc<str>, stalk_state::Value)]) -> J {
    J::Object(
        extra
            .iter()
            .map(|(k, v)| (k.to_string(), to_json(v)))
            .collect(),
    )
}

fn uuid_of(s: &State, h: Handle) -> String {
    s.task_at(h).expect("live handle").uuid.to_string()
}

fn uuids(s: &State, hs: impl Iterator<Item = Handle>) -> Vec<String> {
    hs.map(|h| uuid_of(s, h)).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Everything a test may ask of a task, under Python's attribute names (`extra` holds the fields
/// Python copies that the crate does not know by name; `children` are ids, in link order).
fn task_view(s: &State, t: &Task) -> J {
    let (i, m) = (&t.info, &t.moments);
    json!({
        "uuid": &*t.uuid, "state": t.state.as_str(), "ready": t.state.is_ready(),
        "name": i.name, "args": i.args, "kwargs": i.kwargs, "eta": i.eta(), "expires": i.expires(),
        "retries": i.retries, "result": i.result, "exception": i.exception(),
        "runtime": i.runtime, "traceback": i.traceback(), "exchange": i.exchange,
        "routing_key": i.routing_key, "root_id": i.root_id, "parent_id": i.parent_id,
        "timestamp": t.timestamp(), "clock": t.clock(),
        "worker": t.worker.as_deref(), "client": t.client.as_deref(),
        "sent": m.sent(), "received": m.received(), "started": m.started(), "succeeded": m.succeeded(),
        "failed": m.failed(), "retried": m.retried(), "revoked": m.revoked(), "rejected": m.rejected(),
        "children": uuids(s, s.children(t)),
        "extra": extra_json(t.extras()),
    })
}

/// Everything a test may ask of a worker (`expires` is `heartbeat_expires`).
fn worker_view(w: &Worker) -> J {
    json!({
        "hostname": &*w.hostname, "id": w.id(), "pid": w.pid, "freq": w.freq, "clock": w.clock,
        "active": w.active, "processed": w.processed, "loadavg": w.loadavg,
        "sw_ident": w.sw_ident, "sw_ver": w.sw_ver, "sw_sys": w.sw_sys,
        "heartbeats": w.heartbeats, "drift": w.drift, "expires": w.heartbeat_expires(),
        "extra": extra_json(&w.extra),
    })
}

/// Asserts that every key of `want` is in `view` with the same value (JSON types included).
fn matches(what: &str, view: &J, want: &J) {
    let (J::Object(view), J::Object(want)) = (view, want) else {
        panic!("{what}: expectations must be an object, got {want}");
    };
    for (k, w) in want {
        let got = view
            .get(k)
            .unwrap_or_else(|| panic!("{what}: the view has no key `{k}`"));
        assert_eq!(got, w, "{what}: `{k}`");
    }
}

fn verify(s: &State, expect: &[Expect<'_>], ctx: &str) {
    for e in expect {
        let what = format!("{ctx}: {e:?}");
        match e {
            Expect::Task(uuid, want) => {
                let t = s
                    .task(uuid)
                    .unwrap_or_else(|| panic!("{what}: no task {uuid}"));
                matches(&what, &task_view(s, t), want);
            }
            Expect::NoTask(uuid) => assert!(s.task(uuid).is_none(), "{what}"),
            Expect::Worker(h, want) => {
                let w = s
                    .worker(h)
                    .unwrap_or_else(|| panic!("{what}: no worker {h}"));
                matches(&what, &worker_view(w), want);
            }
            Expect::NoWorker(h) => assert!(s.worker(h).is_none(), "{what}"),
            Expect::Alive(now, hosts) => {
                let alive: Vec<&str> = s.alive_workers(*now).map(|w| &*w.hostname).collect();
                assert_eq!(alive, *hosts, "{what}");
            }
            Expect::Counts(events, tasks) => {
                assert_eq!(
                    (s.event_count(), s.task_count()),
                    (*events, *tasks),
                    "{what}"
                );
            }
            Expect::Sizes(tasks, workers) => {
                assert_eq!((s.task_len(), s.worker_len()), (*tasks, *workers), "{what}");
            }
            Expect::ByTime(limit, ids) => {
                assert_eq!(uuids(s, s.tasks_by_time(*limit)), *ids, "{what}");
            }
            Expect::ByType(name, ids) => {
                assert_eq!(sorted(uuids(s, s.tasks_by_type(name))), *ids, "{what}");
            }
            Expect::ByWorker(host, ids) => {
                assert_eq!(sorted(uuids(s, s.tasks_by_worker(host))), *ids, "{what}");
            }
            Expect::Types(names) => {
                let types = s.task_types();
                let types: Vec<&str> = types.iter().map(|n| &**n).collect();
                assert_eq!(types, *names, "{what}");
            }
        }
    }
}

/// Replays `events` into a State with `limits`, then checks `expect`.
fn check_with(limits: Limits, events: &[J], expect: &[Expect<'_>]) -> Replay {
    let mut r = Replay::new(State::new(limits));
    r.play(events);
    verify(&r.state, expect, "after replay");
    r
}

/// Replays `events` into a default State, then checks `expect`.
fn check(events: &[J], expect: &[Expect<'_>]) -> Replay {
    check_with(Limits::default(), events, expect)
}

/// Replays `steps` one event at a time, checking each step's expectations right after its event.
fn check_steps(state: State, steps: &[(J, Vec<Expect<'_>>)]) -> Replay {
    let mut r = Replay::new(state);
    for (i, (event, expect)) in steps.iter().enumerate() {
        r.next(event);
        verify(&r.state, expect, &format!("step {i} ({event})"));
    }
    r
}

/// A deterministic generator for the shuffled scenarios (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Fisher-Yates, as `random.shuffle`.
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}
