//! Ports of `test_Task` (Celery's `t/unit/events/test_state.py`).

use super::*;

/// `test_Task.test_equality`: a task is its uuid (the State's key; Python compares and hashes
/// `Task` objects by uuid).
#[test]
fn task_identity_is_the_uuid() {
    let mut s = State::default();
    let rows = [
        ("task-received", "foo", true),
        ("task-started", "foo", false),
        ("task-received", "bar", true),
        ("task-succeeded", "foo", false),
    ];
    let mut handles = Vec::new();
    for (i, (ty, uuid, created)) in rows.into_iter().enumerate() {
        let t = T0 + i as f64;
        let e = ev(
            ty,
            t,
            json!({"uuid": uuid, "hostname": "w", "clock": i + 1}),
        );
        let Applied::Task {
            handle,
            created: c,
            evicted: None,
            ..
        } = apply(&mut s, &e, t)
        else {
            panic!("row {i}: not a task");
        };
        assert_eq!(c, created, "row {i}");
        assert_eq!(s.task_handle(uuid), Some(handle), "row {i}");
        handles.push(handle);
    }
    assert_eq!(handles[0], handles[1]);
    assert_eq!(handles[0], handles[3]);
    assert_ne!(handles[0], handles[2]);
    verify(
        &s,
        &[
            Expect::Sizes(2, 1),
            Expect::Task("foo", json!({"uuid": "foo", "state": "SUCCESS"})),
            Expect::Task("bar", json!({"uuid": "bar", "state": "RECEIVED"})),
        ],
        "identity",
    );
}

/// `test_Task.test_ready`: SUCCESS, FAILURE and REVOKED are ready; nothing else is.
#[test]
fn ready_states() {
    let rows = [
        ("sent", "PENDING", false),
        ("received", "RECEIVED", false),
        ("started", "STARTED", false),
        ("succeeded", "SUCCESS", true),
        ("failed", "FAILURE", true),
        ("revoked", "REVOKED", true),
        ("retried", "RETRY", false),
        ("rejected", "REJECTED", false),
        ("progress", "PROGRESS", false),
    ];
    for (subject, state, ready) in rows {
        check(
            &[ev(
                &format!("task-{subject}"),
                T0,
                json!({"uuid": "abcdefg", "name": "tasks.add", "hostname": "w"}),
            )],
            &[Expect::Task(
                "abcdefg",
                json!({"state": state, "ready": ready}),
            )],
        );
    }
    // test_ready itself: received, then succeeded.
    check_steps(
        State::default(),
        &[
            (
                ev(
                    "task-received",
                    T0,
                    json!({"uuid": "abcdefg", "name": "tasks.add", "hostname": "w"}),
                ),
                vec![Expect::Task("abcdefg", json!({"ready": false}))],
            ),
            (
                ev(
                    "task-succeeded",
                    T0 + 1.0,
                    json!({"uuid": "abcdefg", "hostname": "w"}),
                ),
                vec![Expect::Task("abcdefg", json!({"ready": true}))],
            ),
        ],
    );
}

/// `test_Task.test_sent`: `task-sent` leaves the task PENDING; the sender is its client (not a
/// worker). A late `task-sent` (seen in real clusters) keeps the state but, being merged as an
/// earlier event, still brings its timestamp, clock and fields.
#[test]
fn task_sent() {
    let sent = |ts: f64, clock: i64, args: &str| {
        ev(
            "task-sent",
            ts,
            json!({"uuid": "u", "hostname": "gen1@c", "clock": clock, "name": "add",
                   "queue": "celery", "args": args}),
        )
    };
    check(
        &[sent(T0, 1, "(2,)")],
        &[
            Expect::Task(
                "u",
                json!({"state": "PENDING", "client": "gen1@c", "worker": null, "sent": T0,
                       "timestamp": T0, "clock": 1, "name": "add", "args": "(2,)",
                       "extra": {"queue": "celery"}}),
            ),
            Expect::Sizes(1, 0),
            Expect::Counts(1, 0),
            Expect::ByType("add", &["u"]),
            Expect::ByWorker("gen1@c", &["u"]),
        ],
    );
    // Sent after received (Python: RECEIVED gen1@c 9.0 2 (2,) celery 9.0 10.0 w).
    check(
        &[
            ev(
                "task-received",
                T0 + 10.0,
                json!({"uuid": "u", "hostname": "w", "clock": 5, "name": "add", "args": "(1,)"}),
            ),
            sent(T0 + 9.0, 2, "(2,)"),
        ],
        &[
            Expect::Task(
                "u",
                json!({"state": "RECEIVED", "client": "gen1@c", "worker": "w",
                       "timestamp": T0 + 9.0, "clock": 2, "args": "(2,)",
                       "sent": T0 + 9.0, "received": T0 + 10.0,
                       "extra": {"queue": "celery"}}),
            ),
            Expect::Counts(2, 1),
        ],
    );
}

/// `test_Task.test_merge`: events arriving out of order merge by state precedence; a late
/// `task-received` only brings its own fields (the RECEIVED merge rule); RETRY always wins.
#[test]
fn out_of_order_events_merge_by_precedence() {
    // test_merge itself.
    check_steps(
        State::default(),
        &[
            (
                ev("task-failed", T0, json!({"uuid": "u", "hostname": "w"})),
                vec![Expect::Task("u", json!({"state": "FAILURE"}))],
            ),
            (
                ev(
                    "task-started",
                    T0 + 1.0,
                    json!({"uuid": "u", "hostname": "w"}),
                ),
                vec![Expect::Task("u", json!({"state": "FAILURE"}))],
            ),
            (
                ev(
                    "task-received",
                    T0 + 2.0,
                    json!({"uuid": "u", "hostname": "w", "name": "tasks.add", "args": [2, 2]}),
                ),
                vec![Expect::Task(
                    "u",
                    json!({"state": "FAILURE", "name": "tasks.add", "args": [2, 2],
                           "failed": T0, "started": T0 + 1.0, "received": T0 + 2.0}),
                )],
            ),
            (
                ev(
                    "task-retried",
                    T0 + 3.0,
                    json!({"uuid": "u", "hostname": "w"}),
                ),
                vec![Expect::Task(
                    "u",
                    json!({"state": "RETRY", "timestamp": T0 + 3.0, "ready": false}),
                )],
            ),
        ],
    );

    // The RECEIVED rule: only name, args, kwargs, parent_id, root_id, retries, eta, expires
    // (Python: STARTED 10.0 5 (1,) None None 1 w2 9.0).
    check(
        &[
            ev(
                "task-started",
                T0 + 10.0,
                json!({"uuid": "u", "hostname": "w", "clock": 5}),
            ),
            ev(
                "task-received",
                T0 + 9.0,
                json!({"uuid": "u", "hostname": "w2", "clock": 3, "name": "add",
                       "args": "(1,)", "result": "nope", "foo": "bar", "retries": 1}),
            ),
        ],
        &[Expect::Task(
            "u",
            json!({"state": "STARTED", "timestamp": T0 + 10.0, "clock": 5, "name": "add",
                   "args": "(1,)", "result": null, "retries": 1, "worker": "w2",
                   "received": T0 + 9.0, "extra": {}}),
        )],
    );

    // Other late events copy everything but the state, timestamp and clock included; RETRY
    // then overrides even SUCCESS (Python: SUCCESS 9.0 3 3 bar, then RETRY 8.0 2 E).
    check_steps(
        State::default(),
        &[
            (
                ev(
                    "task-succeeded",
                    T0 + 10.0,
                    json!({"uuid": "u", "hostname": "w", "clock": 5, "result": "3",
                           "runtime": 0.5}),
                ),
                vec![Expect::Task("u", json!({"state": "SUCCESS"}))],
            ),
            (
                ev(
                    "task-started",
                    T0 + 9.0,
                    json!({"uuid": "u", "hostname": "w", "clock": 3, "foo": "bar"}),
                ),
                vec![Expect::Task(
                    "u",
                    json!({"state": "SUCCESS", "timestamp": T0 + 9.0, "clock": 3,
                           "result": "3", "runtime": 0.5, "extra": {"foo": "bar"},
                           "succeeded": T0 + 10.0, "started": T0 + 9.0}),
                )],
            ),
            (
                ev(
                    "task-retried",
                    T0 + 8.0,
                    json!({"uuid": "u", "hostname": "w", "clock": 2, "exception": "E"}),
                ),
                vec![Expect::Task(
                    "u",
                    json!({"state": "RETRY", "timestamp": T0 + 8.0, "clock": 2,
                           "exception": "E", "result": "3"}),
                )],
            ),
        ],
    );
}

/// Precedence for every ordered pair of subjects (state / whose timestamp the task keeps), as
/// Celery's State gives them: the event seen second wins unless its state has a higher
/// precedence index than the first's (RETRY excepted on either side); a late RECEIVED keeps the
/// first event's timestamp.
#[test]
fn precedence_of_every_pair() {
    const SUBJECTS: [&str; 9] = [
        "sent",
        "received",
        "started",
        "succeeded",
        "failed",
        "retried",
        "revoked",
        "rejected",
        "progress",
    ];
    // Row: first subject; columns: second subject, in SUBJECTS order. `1`/`2`: the timestamp of
    // the first/second event.
    const MATRIX: [[(&str, u8); 9]; 9] = [
        [
            ("PENDING", 2),
            ("RECEIVED", 2),
            ("STARTED", 2),
            ("SUCCESS", 2),
            ("FAILURE", 2),
            ("RETRY", 2),
            ("REVOKED", 2),
            ("REJECTED", 2),
            ("PROGRESS", 2),
        ],
        [
            ("RECEIVED", 2),
            ("RECEIVED", 2),
            ("STARTED", 2),
            ("SUCCESS", 2),
            ("FAILURE", 2),
            ("RETRY", 2),
            ("REVOKED", 2),
            ("RECEIVED", 2),
            ("PROGRESS", 2),
        ],
        [
            ("STARTED", 2),
            ("STARTED", 1),
            ("STARTED", 2),
            ("SUCCESS", 2),
            ("FAILURE", 2),
            ("RETRY", 2),
            ("REVOKED", 2),
            ("STARTED", 2),
            ("PROGRESS", 2),
        ],
        [
            ("SUCCESS", 2),
            ("SUCCESS", 1),
            ("SUCCESS", 2),
            ("SUCCESS", 2),
            ("SUCCESS", 2),
            ("RETRY", 2),
            ("SUCCESS", 2),
            ("SUCCESS", 2),
            ("SUCCESS", 2),
        ],
        [
            ("FAILURE", 2),
            ("FAILURE", 1),
            ("FAILURE", 2),
            ("SUCCESS", 2),
            ("FAILURE", 2),
            ("RETRY", 2),
            ("FAILURE", 2),
            ("FAILURE", 2),
            ("FAILURE", 2),
        ],
        [
            ("PENDING", 2),
            ("RECEIVED", 2),
            ("STARTED", 2),
            ("SUCCESS", 2),
            ("FAILURE", 2),
            ("RETRY", 2),
            ("REVOKED", 2),
            ("REJECTED", 2),
            ("PROGRESS", 2),
        ],
        [
            ("REVOKED", 2),
            ("REVOKED", 1),
            ("REVOKED", 2),
            ("SUCCESS", 2),
            ("FAILURE", 2),
            ("RETRY", 2),
            ("REVOKED", 2),
            ("REVOKED", 2),
            ("PROGRESS", 2),
        ],
        [
            ("REJECTED", 2),
            ("RECEIVED", 2),
            ("STARTED", 2),
            ("SUCCESS", 2),
            ("FAILURE", 2),
            ("RETRY", 2),
            ("REVOKED", 2),
            ("REJECTED", 2),
            ("PROGRESS", 2),
        ],
        [
            ("PROGRESS", 2),
            ("PROGRESS", 1),
            ("PROGRESS", 2),
            ("SUCCESS", 2),
            ("FAILURE", 2),
            ("RETRY", 2),
            ("PROGRESS", 2),
            ("PROGRESS", 2),
            ("PROGRESS", 2),
        ],
    ];
    for (a, row) in SUBJECTS.iter().zip(MATRIX) {
        for (b, (state, which)) in SUBJECTS.iter().zip(row) {
            let e = |subject: &str, n: i64| {
                ev(
                    &format!("task-{subject}"),
                    T0 + n as f64,
                    json!({"uuid": "u", "hostname": "w", "clock": n}),
                )
            };
            let ts = T0 + f64::from(which);
            check(
                &[e(a, 1), e(b, 2)],
                &[Expect::Task(
                    "u",
                    json!({"state": state, "timestamp": ts, "clock": which}),
                )],
            );
        }
    }
}

/// Custom states (any other `task-<x>`: state `X` upper-cased, precedence between FAILURE and
/// REVOKED); `test_survives_unknown_task_event`; the `task-success` events of `test_deepcopy`.
#[test]
fn custom_states() {
    // test_survives_unknown_task_event (its dict event, given local_received and clock 0).
    let mut s = State::default();
    apply(
        &mut s,
        &json!({"type": "task-unknown-event-xxx", "foo": "bar", "uuid": "x", "hostname": "y",
                "timestamp": T0, "clock": 0}),
        T0,
    );
    verify(
        &s,
        &[
            Expect::Task(
                "x",
                json!({"state": "UNKNOWN-EVENT-XXX", "ready": false, "clock": 0,
                       "timestamp": T0, "worker": "y", "extra": {"foo": "bar"}}),
            ),
            Expect::Worker("y", json!({"heartbeats": [T0]})),
            Expect::Counts(1, 0),
        ],
        "unknown task event",
    );

    /// (events as (subject, extra fields), final state, `extra`)
    type CustomRow<'a> = (&'a [(&'a str, J)], &'a str, J);
    let rows: [CustomRow<'_>; 6] = [
        (
            &[("started", json!({})), ("progress", json!({"pct": 0.5}))],
            "PROGRESS",
            json!({"pct": 0.5}),
        ),
        (
            &[("progress", json!({"pct": 0.5})), ("started", json!({}))],
            "PROGRESS",
            json!({"pct": 0.5}),
        ),
        (
            &[("progress", json!({"pct": 0.5})), ("failed", json!({}))],
            "FAILURE",
            json!({"pct": 0.5}),
        ),
        (
            &[("progress", json!({})), ("revoked", json!({}))],
            "PROGRESS",
            json!({}),
        ),
        // test_deepcopy's `task-success`: a custom subject whose upper-case is SUCCESS.
        (
            &[
                ("success", json!({"root_id": "u"})),
                ("progress", json!({})),
            ],
            "SUCCESS",
            json!({}),
        ),
        (&[("foo-bar", json!({}))], "FOO-BAR", json!({})),
    ];
    for (events, state, extra) in rows {
        let events: Vec<J> = events
            .iter()
            .enumerate()
            .map(|(i, (subject, fields))| {
                let mut e = ev(
                    &format!("task-{subject}"),
                    T0 + i as f64,
                    json!({"uuid": "u", "hostname": "w"}),
                );
                for (k, v) in fields.as_object().expect("object") {
                    e[k] = v.clone();
                }
                e
            })
            .collect();
        check(
            &events,
            &[Expect::Task("u", json!({"state": state, "extra": extra}))],
        );
    }
    // A custom subject records no moment, even one that maps to SUCCESS.
    check(
        &[ev(
            "task-success",
            T0,
            json!({"uuid": "x", "hostname": "y", "root_id": "x"}),
        )],
        &[Expect::Task(
            "x",
            json!({"state": "SUCCESS", "ready": true, "succeeded": null, "root_id": "x"}),
        )],
    );
}
