//! Ports of `test_State` (Celery's `t/unit/events/test_state.py`).

use super::*;

/// `test_State.test_task_logical_clock_ordering`: `tasks_by_time` orders by Lamport clock, ties
/// broken by origin; then 1000 more rounds with shuffled ids (fixed seed) and growing offsets.
#[test]
fn task_logical_clock_ordering() {
    let mut r = Replay::new(State::default());
    let mut uids = ["uA", "uB", "uC"];
    let mut t = T0;
    r.play(&ev_logical_clock_ordering(0, uids, t));
    verify(
        &r.state,
        &[
            Expect::ByTime(None, &["uA", "uC", "uB"]),
            Expect::Task(
                "uA",
                json!({"state": "SUCCESS", "name": "TA", "clock": 16, "worker": "w3"}),
            ),
            Expect::Task("uB", json!({"state": "SUCCESS", "name": "tB", "clock": 9})),
            Expect::Task(
                "uC",
                json!({"state": "SUCCEDED", "name": "tC", "clock": 12}),
            ),
            Expect::Types(&["TA", "tA", "tB", "tC"]),
            Expect::ByType("tA", &["uA"]),
            Expect::ByType("TA", &[]),
            Expect::ByWorker("w1", &["uA"]),
            Expect::ByWorker("w2", &["uB", "uC"]),
            Expect::Counts(12, 4),
            Expect::Worker(
                "w2",
                json!({"heartbeats": [T0 + 4.0, T0 + 6.0, T0 + 7.0, T0 + 9.0]}),
            ),
        ],
        "first round",
    );
    assert_eq!(r.current_clock, 16);
    let mut rng = Rng(7);
    for _ in 0..1000 {
        rng.shuffle(&mut uids);
        t += 12.0;
        let offset = r.current_clock + 1;
        r.play(&ev_logical_clock_ordering(offset, uids, t));
    }
    // The seed gives the roles to other ids than the first round did.
    assert_ne!(uids, ["uA", "uB", "uC"]);
    let [ta, tb, tc] = uids;
    verify(
        &r.state,
        &[
            Expect::ByTime(None, &[ta, tc, tb]),
            Expect::ByTime(Some(1), &[ta]),
            Expect::Counts(12 * 1001, 4 * 1001),
            Expect::Sizes(3, 3),
        ],
        "after 1000 rounds",
    );
    assert_eq!(r.state.heap_len().0, 12 * 1001);
}

/// `test_State.test_get_or_create_task`, `test_get_or_create_worker`,
/// `test_get_or_create_worker__with_defaults`: the first event of an id or hostname creates it,
/// later ones find the same one and update its fields. The crate reports `created` from `apply`.
#[test]
fn get_or_create() {
    let mut s = State::default();
    let e = ev(
        "task-received",
        T0,
        json!({"uuid": "id1", "hostname": "w", "clock": 1}),
    );
    let first = apply(&mut s, &e, T0);
    let second = apply(&mut s, &e, T0);
    let (
        Applied::Task {
            handle: h1,
            created: true,
            evicted: None,
            ..
        },
        Applied::Task {
            handle: h2,
            created: false,
            evicted: None,
            ..
        },
    ) = (first, second)
    else {
        panic!("created once");
    };
    assert_eq!(h1, h2);
    assert_eq!(&*s.task("id1").expect("task").uuid, "id1");

    let mut s = State::default();
    let rows = [
        ("worker-online", json!({"pid": 30}), true, 30),
        ("worker-heartbeat", json!({"pid": 40}), false, 40),
    ];
    for (i, (ty, fields, created, pid)) in rows.into_iter().enumerate() {
        let mut e = ev(
            ty,
            T0 + i as f64,
            json!({"hostname": "george@vandelay.com"}),
        );
        e["pid"] = fields["pid"].clone();
        assert_eq!(
            apply(&mut s, &e, T0 + i as f64),
            Applied::Worker {
                hostname: "george@vandelay.com".into(),
                created,
                evicted: None
            }
        );
        verify(
            &s,
            &[
                Expect::Worker(
                    "george@vandelay.com",
                    json!({"hostname": "george@vandelay.com", "pid": pid,
                           "id": format!("george@vandelay.com.{pid}")}),
                ),
                Expect::Sizes(0, 1),
            ],
            &format!("row {i}"),
        );
    }
}

/// `test_State.test_worker_online_offline`: online makes the worker alive, offline clears its
/// heartbeats (it stays known, not alive).
#[test]
fn worker_online_offline() {
    let [online, offline] = <[J; 2]>::try_from(ev_worker_online_offline()).expect("two");
    check_steps(
        State::default(),
        &[
            (
                online,
                vec![
                    Expect::Alive(T0 + 0.5, &["utest1"]),
                    Expect::Worker("utest1", json!({"heartbeats": [T0], "clock": 1})),
                ],
            ),
            (
                offline,
                vec![
                    Expect::Alive(T0 + 1.0, &[]),
                    Expect::Alive(T0, &[]),
                    Expect::Worker("utest1", json!({"heartbeats": [], "expires": null})),
                    Expect::Sizes(0, 1),
                ],
            ),
        ],
    );
}

/// `test_State.test_worker_heartbeat_expire`: a heartbeat older than `freq * 2` is not alive; a
/// fresh one is.
#[test]
fn worker_heartbeat_expire() {
    let now = T0;
    let [old, fresh] = <[J; 2]>::try_from(ev_worker_heartbeats(now)).expect("two");
    check_steps(
        State::default(),
        &[
            (
                old,
                vec![
                    Expect::Alive(now, &[]),
                    Expect::Worker("utest1", json!({"expires": now - 400.0 + 120.0})),
                ],
            ),
            (
                fresh,
                vec![
                    Expect::Alive(now, &["utest1"]),
                    Expect::Worker("utest1", json!({"heartbeats": [now - 400.0, now]})),
                ],
            ),
        ],
    );
}

/// `test_State.test_task_states`: a task through RECEIVED, STARTED, REVOKED, RETRY, FAILURE,
/// SUCCESS, then a child with parent and root.
#[test]
fn task_states() {
    let events = ev_task_states();
    let mut steps: Vec<(J, Vec<Expect<'_>>)> = Vec::new();
    let expects = [
        vec![
            Expect::Task(
                "tid",
                json!({"state": "RECEIVED", "received": T0, "timestamp": T0, "worker": "utest1",
                       "name": "task1", "args": "(2, 2)", "kwargs": "{'foo': 'bar'}",
                       "retries": 0, "eta": null}),
            ),
            Expect::Counts(1, 1),
        ],
        vec![
            Expect::Alive(T0 + 1.0, &["utest1"]),
            Expect::Task(
                "tid",
                json!({"state": "STARTED", "started": T0 + 1.0, "timestamp": T0 + 1.0,
                       "worker": "utest1"}),
            ),
        ],
        vec![Expect::Task(
            "tid",
            json!({"state": "REVOKED", "revoked": T0 + 2.0, "timestamp": T0 + 2.0,
                   "worker": "utest1"}),
        )],
        vec![Expect::Task(
            "tid",
            json!({"state": "RETRY", "retried": T0 + 3.0, "timestamp": T0 + 3.0,
                   "worker": "utest1", "exception": "KeyError('bar')",
                   "traceback": "line 2 at main"}),
        )],
        vec![Expect::Task(
            "tid",
            json!({"state": "FAILURE", "failed": T0 + 4.0, "timestamp": T0 + 4.0,
                   "worker": "utest1", "exception": "KeyError('foo')",
                   "traceback": "line 1 at main"}),
        )],
        vec![Expect::Task(
            "tid",
            json!({"state": "SUCCESS", "succeeded": T0 + 5.0, "timestamp": T0 + 5.0,
                   "worker": "utest1", "result": "4", "runtime": 0.1234}),
        )],
        // foo-bar: counted, nothing else.
        vec![Expect::Counts(7, 1), Expect::Sizes(1, 1)],
        vec![
            Expect::Task(
                "tid2",
                json!({"state": "RECEIVED", "parent_id": "tid", "root_id": "tid",
                       "children": []}),
            ),
            Expect::Task("tid", json!({"children": ["tid2"], "state": "SUCCESS"})),
            Expect::Counts(8, 2),
            Expect::Sizes(2, 1),
            Expect::Types(&["task1", "task2"]),
        ],
    ];
    for (e, x) in events.into_iter().zip(expects) {
        steps.push((e, x));
    }
    let r = check_steps(State::default(), &steps);
    assert_parent_and_root(&r.state, "tid2", "tid");
    let foo_bar = decode(&ev("foo-bar", T0, json!({})));
    let mut s = State::default();
    assert_eq!(s.apply(&foo_bar), Ok(Applied::Ignored));
}

/// `task2.parent is task`, `task2.root is task`, `task2 in task.children`.
fn assert_parent_and_root(s: &State, child: &str, parent: &str) {
    let c = s.task(child).expect("child");
    let p = s.task_handle(parent).expect("parent");
    let parent_id = c.parent_id().expect("parent id");
    let root_id = c.root_id().expect("root id");
    assert_eq!(s.task_handle(parent_id), Some(p));
    assert_eq!(s.task_handle(root_id), Some(p));
    let p_task = s.task_at(p).expect("live");
    let child_h = s.task_handle(child).expect("child handle");
    assert!(s.children(p_task).any(|h| h == child_h));
    assert!(s.tasks_with_root(parent).any(|h| h == child_h));
}

/// `test_State.test_task_children_set_if_received_in_wrong_order`: a child received before its
/// parent is linked when the parent arrives.
#[test]
fn task_children_set_if_received_in_wrong_order() {
    let mut events = ev_task_states();
    let child = events.pop().expect("last");
    events.insert(0, child.clone());
    let mut r = Replay::new(State::default());
    r.next(&child);
    assert_eq!(r.state.pending_parent_len(), 1);
    verify(
        &r.state,
        &[
            Expect::Task("tid2", json!({"parent_id": "tid"})),
            Expect::NoTask("tid"),
        ],
        "child first",
    );
    r.play(&events[1..]);
    assert_eq!(r.state.pending_parent_len(), 0);
    verify(
        &r.state,
        &[
            Expect::Task("tid", json!({"children": ["tid2"], "state": "SUCCESS"})),
            Expect::Counts(8, 2),
        ],
        "after play",
    );
    assert_parent_and_root(&r.state, "tid2", "tid");
}

/// Children links beyond Python's tests: several children, a child arriving on a later event
/// than its creation, and a retry re-published with `parent_id` = its own id (the task becomes
/// its own child, as in Python). Python's `children` is a `WeakSet` (no order; it gives the same
/// members); the crate keeps link order.
#[test]
fn children_links() {
    let re = |uuid: &str, ts: f64, extra: J| {
        let mut e = ev(
            "task-received",
            ts,
            json!({"uuid": uuid, "hostname": "w", "name": "n"}),
        );
        for (k, v) in extra.as_object().expect("object") {
            e[k] = v.clone();
        }
        e
    };
    check(
        &[
            re("c1", T0, json!({"parent_id": "p", "root_id": "p"})),
            re("p", T0 + 1.0, json!({"root_id": "p"})),
            re("c2", T0 + 2.0, json!({"parent_id": "p", "root_id": "p"})),
            // A retry of c2, re-published as its own child.
            re(
                "c2",
                T0 + 3.0,
                json!({"parent_id": "c2", "root_id": "p", "retries": 1}),
            ),
            // A child whose parent id only arrives with a later event.
            ev(
                "task-started",
                T0 + 4.0,
                json!({"uuid": "c3", "hostname": "w"}),
            ),
            re("c3", T0 + 5.0, json!({"parent_id": "c1", "root_id": "p"})),
        ],
        &[
            Expect::Task("p", json!({"children": ["c1", "c2"]})),
            Expect::Task(
                "c2",
                json!({"children": ["c2"], "parent_id": "c2", "retries": 1}),
            ),
            Expect::Task("c1", json!({"children": ["c3"]})),
            Expect::Task("c3", json!({"state": "STARTED", "parent_id": "c1"})),
            Expect::Counts(6, 5),
        ],
    );
}

/// `test_State.test_clear_tasks`: `clear_tasks(ready=False)` drops every task;
/// `clear_tasks(ready=True)` keeps those not ready. Cleared tasks leave `tasks_by_type` at once
/// (documented difference: Python's weak sets drop them when the garbage collector runs).
#[test]
fn clear_tasks() {
    let mut r = snapshot();
    assert_eq!(r.state.task_len(), 20);
    r.state.clear_tasks(false);
    verify(
        &r.state,
        &[
            Expect::Sizes(0, 3),
            Expect::ByTime(None, &[]),
            Expect::ByType("task1", &[]),
            Expect::Counts(23, 20),
        ],
        "clear_tasks(false)",
    );

    // ready=True: ready ones go, the others stay (with their indexes); the time heap is emptied.
    let mut r = Replay::new(State::default());
    r.play(&[
        ev(
            "task-received",
            T0,
            json!({"uuid": "a", "hostname": "w", "name": "n"}),
        ),
        ev(
            "task-received",
            T0 + 1.0,
            json!({"uuid": "b", "hostname": "w", "name": "n"}),
        ),
        ev(
            "task-succeeded",
            T0 + 2.0,
            json!({"uuid": "b", "hostname": "w"}),
        ),
        ev(
            "task-failed",
            T0 + 3.0,
            json!({"uuid": "c", "hostname": "w"}),
        ),
        ev(
            "task-revoked",
            T0 + 4.0,
            json!({"uuid": "d", "hostname": "w"}),
        ),
        ev(
            "task-retried",
            T0 + 5.0,
            json!({"uuid": "e", "hostname": "w"}),
        ),
    ]);
    r.state.clear_tasks(true);
    verify(
        &r.state,
        &[
            Expect::Task("a", json!({"state": "RECEIVED"})),
            Expect::Task("e", json!({"state": "RETRY"})),
            Expect::NoTask("b"),
            Expect::NoTask("c"),
            Expect::NoTask("d"),
            Expect::Sizes(2, 1),
            Expect::ByType("n", &["a"]),
            Expect::ByTime(None, &[]),
            Expect::Counts(6, 2),
        ],
        "clear_tasks(true)",
    );
    assert_eq!(r.state.heap_len().0, 0);
}

/// `test_State.test_clear`: `clear()` drops workers and counters and the ready tasks (all of
/// `ev_snapshot`'s are RECEIVED, so they stay); `clear(False)` drops the tasks too. Seen task
/// types survive, as in Python.
#[test]
fn clear() {
    let mut r = snapshot();
    verify(
        &r.state,
        &[Expect::Counts(23, 20), Expect::Sizes(20, 3)],
        "before",
    );
    r.state.clear(true);
    verify(
        &r.state,
        &[
            Expect::Counts(0, 0),
            Expect::Sizes(20, 0),
            Expect::Alive(T0, &[]),
        ],
        "clear()",
    );
    r.state.clear(false);
    verify(
        &r.state,
        &[
            Expect::Counts(0, 0),
            Expect::Sizes(0, 0),
            Expect::Types(&["task1", "task2"]),
        ],
        "clear(False)",
    );
}

/// `test_State.test_task_types`.
#[test]
fn task_types() {
    check(&ev_snapshot(), &[Expect::Types(&["task1", "task2"])]);
}

/// `test_State.test_tasks_by_time`: 20 tasks, newest first (the crate has no `reverse=False`).
#[test]
fn tasks_by_time() {
    let newest_first: Vec<String> = (0..20).rev().map(|i| format!("snap-{i}")).collect();
    let ids: Vec<&str> = newest_first.iter().map(String::as_str).collect();
    check(
        &ev_snapshot(),
        &[
            Expect::ByTime(None, &ids),
            Expect::ByTime(Some(5), &ids[..5]),
        ],
    );
}

/// `test_State.test_tasks_by_type`: 10 of each.
#[test]
fn tasks_by_type() {
    let (odd, even) = (snap_ids(1), snap_ids(0));
    let odd: Vec<&str> = odd.iter().map(String::as_str).collect();
    let even: Vec<&str> = even.iter().map(String::as_str).collect();
    let r = check(
        &ev_snapshot(),
        &[
            Expect::ByType("task1", &sorted_strs(&odd)),
            Expect::ByType("task2", &sorted_strs(&even)),
            Expect::ByType("task3", &[]),
        ],
    );
    assert_eq!(r.state.tasks_by_type("task1").count(), 10);
    assert_eq!(r.state.tasks_by_type("task2").count(), 10);
}

fn sorted_strs<'a>(v: &[&'a str]) -> Vec<&'a str> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v
}

/// `test_State.test_alive_workers`: the three workers of `ev_snapshot`.
#[test]
fn alive_workers() {
    check(
        &ev_snapshot(),
        &[
            Expect::Alive(T0 + 22.0, &["utest1", "utest2", "utest3"]),
            // utest3's only heartbeat is its worker-online at T0 + 2.
            Expect::Alive(T0 + 122.0, &["utest1", "utest2"]),
            Expect::Alive(T0 + 200.0, &[]),
        ],
    );
}

/// `test_State.test_tasks_by_worker`: 10 on each.
#[test]
fn tasks_by_worker() {
    let (odd, even) = (snap_ids(1), snap_ids(0));
    let odd: Vec<&str> = odd.iter().map(String::as_str).collect();
    let even: Vec<&str> = even.iter().map(String::as_str).collect();
    let r = check(
        &ev_snapshot(),
        &[
            Expect::ByWorker("utest1", &sorted_strs(&odd)),
            Expect::ByWorker("utest2", &sorted_strs(&even)),
            Expect::ByWorker("utest3", &[]),
        ],
    );
    assert_eq!(r.state.tasks_by_worker("utest1").count(), 10);
    assert_eq!(r.state.tasks_by_worker("utest2").count(), 10);
}

/// `test_State.test_survives_unknown_worker_event`: Python ignores a worker event without
/// `hostname` or `timestamp`; the crate rejects it at decoding (documented difference), and
/// counts it with `count_rejected`. With both keys, an unknown subject still updates the worker.
#[test]
fn survives_unknown_worker_event() {
    let mut s = State::default();
    for (e, reason) in [
        (
            json!({"type": "worker-unknown-event-xxx", "foo": "bar"}),
            "missing_hostname",
        ),
        (
            json!({"type": "worker-unknown-event-xxx", "hostname": "xxx", "foo": "bar"}),
            "missing_timestamp",
        ),
    ] {
        let err = decode_event(e.to_string().as_bytes()).expect_err("rejected");
        assert_eq!(err.reason(), reason, "{e}");
        s.count_rejected();
    }
    verify(
        &s,
        &[Expect::Counts(2, 0), Expect::NoWorker("xxx")],
        "rejected",
    );
    // Python: ((<Worker: xxx>, True), 'unknown-event-xxx'), foo == 'bar', heartbeats [6.0].
    let e = json!({"type": "worker-unknown-event-xxx", "hostname": "xxx", "foo": "bar",
                   "timestamp": T0 + 5.0, "clock": 3});
    assert_eq!(
        apply(&mut s, &e, T0 + 6.0),
        Applied::Worker {
            hostname: "xxx".into(),
            created: true,
            evicted: None
        }
    );
    verify(
        &s,
        &[
            Expect::Worker(
                "xxx",
                json!({"heartbeats": [T0 + 6.0], "clock": 3, "extra": {"foo": "bar"}}),
            ),
            Expect::Counts(3, 0),
        ],
        "accepted",
    );
}

/// `test_State.test_survives_unknown_worker_leaving` (without `on_node_leave`): `worker-offline`
/// from an unknown worker is not created and not stored.
#[test]
fn survives_unknown_worker_leaving() {
    let mut s = State::default();
    let e = json!({"type": "worker-offline", "hostname": "unknown@vandelay.com",
                   "timestamp": T0, "clock": 301_030_134_894_833_i64});
    assert_eq!(
        apply(&mut s, &e, T0),
        Applied::Worker {
            hostname: "unknown@vandelay.com".into(),
            created: false,
            evicted: None
        }
    );
    verify(
        &s,
        &[
            Expect::NoWorker("unknown@vandelay.com"),
            Expect::Sizes(0, 0),
            Expect::Counts(1, 0),
        ],
        "offline",
    );
}

/// `test_State.test_on_node_join_callback` (without the callback): `worker-online` from a new
/// worker creates and stores it.
#[test]
fn node_join() {
    let mut s = State::default();
    let e = json!({"type": "worker-online", "hostname": "george@vandelay.com",
                   "timestamp": T0, "clock": 34314});
    assert_eq!(
        apply(&mut s, &e, T0),
        Applied::Worker {
            hostname: "george@vandelay.com".into(),
            created: true,
            evicted: None
        }
    );
    verify(
        &s,
        &[
            Expect::Worker(
                "george@vandelay.com",
                json!({"clock": 34314, "heartbeats": [T0]}),
            ),
            Expect::Alive(T0, &["george@vandelay.com"]),
        ],
        "online",
    );
}

/// `test_State.test_limits_maxtasks`: with `max_tasks_in_memory=1` only the newest task stays,
/// and the time heap is bounded by `max_tasks * heap_multiplier`. Python's test sets
/// `heap_multiplier = 2`; the crate's is the fixed default, 4, so the heap holds 4 entries here
/// and its oldest is dropped on the fifth. Evicted tasks leave every index at once (documented
/// difference: Python's do after `gc.collect()`).
#[test]
fn limits_maxtasks() {
    assert_eq!(HEAP_MULTIPLIER, 4);
    let mut s = State::new(Limits {
        max_tasks: 1,
        max_workers: 5000,
    });
    let unknown = |uuid: &str, clock: i64| {
        json!({"type": "task-unknown-event-xxx", "foo": "bar", "uuid": uuid, "hostname": "y",
               "clock": clock, "timestamp": T0 + clock as f64, "name": "n"})
    };
    let mut evicted = Vec::new();
    for (uuid, clock) in [("x", 3), ("y", 4), ("z", 5)] {
        match apply(&mut s, &unknown(uuid, clock), T0 + clock as f64) {
            Applied::Task {
                created: true,
                evicted: e,
                ..
            } => evicted.push(e.map(|Evicted { uuid, .. }| uuid.to_string())),
            other => panic!("{uuid}: {other:?}"),
        }
    }
    assert_eq!(evicted, [None, Some("x".into()), Some("y".into())]);
    assert_eq!(s.heap_len(), (3, 4));
    verify(
        &s,
        &[
            Expect::Sizes(1, 1),
            Expect::NoTask("x"),
            Expect::NoTask("y"),
            Expect::Task("z", json!({"clock": 5, "state": "UNKNOWN-EVENT-XXX"})),
            Expect::ByTime(None, &["z"]),
            Expect::ByType("n", &["z"]),
            Expect::ByWorker("y", &["z"]),
        ],
        "three tasks",
    );
    // Two more events of z: the heap stays at 4 and z, listed once, is still the newest.
    for clock in [6, 7] {
        apply(&mut s, &unknown("z", clock), T0 + clock as f64);
    }
    assert_eq!(s.heap_len(), (4, 4));
    verify(
        &s,
        &[
            Expect::ByTime(None, &["z"]),
            Expect::ByTime(Some(1), &["z"]),
            Expect::Task("z", json!({"clock": 7})),
            Expect::Counts(5, 0),
        ],
        "heap bound",
    );
}

/// Eviction order beyond Python's tests: the task map is FIFO, except that looking a parent up
/// moves it to the back (Python: `['P', 'X']`, by time `['X', 'P']`); the evicted child leaves
/// its parent's children and the indexes at once (documented difference: Python needs
/// `gc.collect()`). Workers are FIFO too (Python: `a, b, a, c` with 2 slots keeps `['b', 'c']`).
#[test]
fn eviction_with_max_tasks_and_max_workers() {
    let limits = Limits {
        max_tasks: 2,
        max_workers: 5000,
    };
    let r = check_with(
        limits,
        &[
            ev(
                "task-received",
                T0,
                json!({"uuid": "P", "hostname": "w", "name": "n"}),
            ),
            ev(
                "task-received",
                T0 + 1.0,
                json!({"uuid": "C", "hostname": "w", "name": "n", "parent_id": "P"}),
            ),
            ev(
                "task-received",
                T0 + 2.0,
                json!({"uuid": "X", "hostname": "w", "name": "n"}),
            ),
        ],
        &[
            Expect::NoTask("C"),
            Expect::Task("P", json!({"children": []})),
            Expect::ByTime(None, &["X", "P"]),
            Expect::ByType("n", &["P", "X"]),
            Expect::ByWorker("w", &["P", "X"]),
            Expect::Counts(3, 3),
        ],
    );
    let order: Vec<&str> = r.state.tasks().map(|(_, t)| &*t.uuid).collect();
    assert_eq!(order, ["P", "X"]);

    let mut s = State::new(Limits {
        max_tasks: 10,
        max_workers: 2,
    });
    let rows = [
        ("a", true, None),
        ("b", true, None),
        ("a", false, None),
        ("c", true, Some("a")),
    ];
    for (i, (host, created, evicted)) in rows.into_iter().enumerate() {
        let t = T0 + i as f64;
        let e = ev(
            "worker-heartbeat",
            t,
            json!({"hostname": host, "clock": i + 1}),
        );
        assert_eq!(
            apply(&mut s, &e, t),
            Applied::Worker {
                hostname: host.into(),
                created,
                evicted: evicted.map(Into::into)
            },
            "row {i}"
        );
    }
    let hosts: Vec<&str> = s.workers().map(|w| &*w.hostname).collect();
    assert_eq!(hosts, ["b", "c"]);
    // A task event from a new worker evicts too.
    let e = ev(
        "task-received",
        T0 + 9.0,
        json!({"uuid": "t", "hostname": "d", "clock": 9}),
    );
    apply(&mut s, &e, T0 + 9.0);
    verify(
        &s,
        &[
            Expect::NoWorker("b"),
            Expect::Worker("d", json!({"heartbeats": [T0 + 9.0]})),
            Expect::Sizes(1, 2),
        ],
        "task event",
    );
}

/// `ev_snapshot`, randomised with a fixed seed: 200 tasks received on random workers under
/// random names, then their started / succeeded / failed events shuffled together. Indexes
/// follow creation, states follow precedence whatever the order, counts add up.
#[test]
fn randomized_snapshot() {
    const WORKERS: [&str; 3] = ["utest1", "utest2", "utest3"];
    const NAMES: [&str; 4] = ["task1", "task2", "task3", "task4"];
    const FOLLOW: [(&str, &str); 3] = [
        ("task-started", "STARTED"),
        ("task-failed", "FAILURE"),
        ("task-succeeded", "SUCCESS"),
    ];
    for seed in [1_u64, 2, 3] {
        let mut rng = Rng(seed);
        let mut events: Vec<J> = WORKERS
            .iter()
            .map(|h| ev("worker-online", T0, json!({"hostname": h})))
            .collect();
        let mut later = Vec::new();
        // (uuid, worker, name, expected state)
        let mut tasks = Vec::new();
        for i in 0..200 {
            let uuid = format!("task-{seed}-{i}");
            let (host, name) = (WORKERS[rng.below(3)], NAMES[rng.below(4)]);
            events.push(ev(
                "task-received",
                T0,
                json!({"uuid": uuid, "hostname": host, "name": name}),
            ));
            // A random subset of the follow-up subjects.
            let mask = rng.below(8);
            let mut state = "RECEIVED";
            for (bit, (ty, st)) in FOLLOW.iter().enumerate() {
                if mask & (1 << bit) != 0 {
                    later.push(ev(ty, T0, json!({"uuid": uuid, "hostname": host})));
                    state = *st; // FOLLOW goes from weakest to strongest: the last one set wins.
                }
            }
            tasks.push((uuid, host, name, state));
        }
        rng.shuffle(&mut later);
        events.extend(later);
        // Fixed, increasing timestamps: event k at T0 + k / 10.
        for (k, e) in events.iter_mut().enumerate() {
            e["timestamp"] = json!(T0 + k as f64 / 10.0);
        }
        let total = events.len() as u64;
        let r = check(
            &events,
            &[Expect::Counts(total, 200), Expect::Sizes(200, 3)],
        );
        let s = &r.state;
        let ctx = format!("seed {seed}");
        for (uuid, host, name, state) in &tasks {
            verify(
                s,
                &[Expect::Task(
                    uuid,
                    json!({"state": state, "name": name, "worker": host}),
                )],
                &ctx,
            );
        }
        for name in NAMES {
            let want: Vec<String> = tasks
                .iter()
                .filter(|t| t.2 == name)
                .map(|t| t.0.clone())
                .collect();
            assert_eq!(
                sorted(uuids(s, s.tasks_by_type(name))),
                sorted(want),
                "{ctx}"
            );
            let n = tasks.iter().filter(|t| t.2 == name).count();
            assert_eq!(
                s.counts().by_name.get(name).copied().unwrap_or(0),
                n,
                "{ctx}"
            );
        }
        for host in WORKERS {
            let want: Vec<String> = tasks
                .iter()
                .filter(|t| t.1 == host)
                .map(|t| t.0.clone())
                .collect();
            assert_eq!(
                sorted(uuids(s, s.tasks_by_worker(host))),
                sorted(want),
                "{ctx}"
            );
        }
        for state in ["RECEIVED", "STARTED", "SUCCESS", "FAILURE"] {
            let n = tasks.iter().filter(|t| t.3 == state).count();
            let got: usize = s
                .counts()
                .by_state
                .iter()
                .filter(|(k, _)| k.as_str() == state)
                .map(|(_, n)| n)
                .sum();
            assert_eq!(got, n, "{ctx}: {state}");
        }
        let types: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|n| tasks.iter().any(|t| t.2 == *n))
            .collect();
        verify(s, &[Expect::Types(&types)], &ctx);
        assert_eq!(s.tasks_by_time(None).count(), 200, "{ctx}");
        let alive: Vec<&str> = s.alive_workers(T0 + 100.0).map(|w| &*w.hostname).collect();
        assert_eq!(alive, WORKERS, "{ctx}");
    }
}
