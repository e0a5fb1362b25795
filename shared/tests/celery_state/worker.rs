//! Ports of `test_Worker` (Celery's `t/unit/events/test_state.py`).

use super::*;

/// `test_Worker.test_equality`, `test_eq_ne_other`: a worker is its hostname. Python compares and
/// hashes `Worker` objects by hostname; the crate's equivalent is the State's key.
#[test]
fn worker_identity_is_the_hostname() {
    let mut s = State::default();
    let rows = [
        ("worker-online", "foo", true),
        ("worker-heartbeat", "foo", false),
        ("worker-online", "bar", true),
        ("worker-online", "foo", false),
    ];
    for (i, (ty, host, created)) in rows.into_iter().enumerate() {
        let t = T0 + i as f64;
        let applied = apply(&mut s, &ev(ty, t, json!({"hostname": host})), t);
        assert_eq!(
            applied,
            Applied::Worker {
                hostname: host.into(),
                created,
                evicted: None
            },
            "row {i}"
        );
    }
    verify(
        &s,
        &[
            Expect::Sizes(0, 2),
            Expect::Worker("foo", json!({"hostname": "foo", "id": "foo.None"})),
            Expect::Worker("bar", json!({"hostname": "bar"})),
        ],
        "identity",
    );
}

/// `test_Worker.test_heartbeat_expires__Decimal` and `test_compatible_with_Decimal` with floats
/// (JSON has no `Decimal`): `heartbeat_expires = last heartbeat + freq * 2`, `alive = now < it`.
#[test]
fn heartbeat_expires_and_alive() {
    assert_eq!(EXPIRE_WINDOW, HEARTBEAT_EXPIRE_WINDOW / 100.0);
    /// (last heartbeat, freq field, expires, [(now, alive)])
    type Row<'a> = (f64, Option<J>, f64, &'a [(f64, bool)]);
    let rows: [Row<'_>; 4] = [
        (
            344313.37,
            Some(json!(60)),
            344433.37,
            &[(344433.36, true), (344433.37, false)],
        ),
        (
            T0,
            Some(json!(5.6335431)),
            1_700_000_011.267_086_3,
            &[(T0, true), (T0 + 11.0, true), (T0 + 12.0, false)],
        ),
        // freq defaults to 60.
        (
            T0,
            None,
            T0 + 120.0,
            &[(T0 - 1.0, true), (T0 + 119.9, true), (T0 + 120.0, false)],
        ),
        (
            T0,
            Some(json!(2.5)),
            T0 + 5.0,
            &[(T0 + 4.99, true), (T0 + 5.0, false)],
        ),
    ];
    for (hb, freq, expires, probes) in rows {
        let mut s = State::default();
        let mut fields = json!({"hostname": "george@vandelay.com"});
        if let Some(f) = &freq {
            fields["freq"] = f.clone();
        }
        apply(&mut s, &ev("worker-online", hb, fields), hb);
        let w = s.worker("george@vandelay.com").expect("stored");
        assert_eq!(
            w.heartbeat_expires(),
            Some(expires),
            "hb {hb} freq {freq:?}"
        );
        for &(now, alive) in probes {
            assert_eq!(w.alive(now), alive, "hb {hb} freq {freq:?} now {now}");
            let listed = s.alive_workers(now).count() == 1;
            assert_eq!(listed, alive, "alive_workers at {now}");
        }
    }
}

/// `test_Worker.test_update`: every field of a worker event is copied onto the worker (the crate
/// has no `Worker.update`; events are how fields reach it).
#[test]
fn worker_events_copy_every_field() {
    let e = ev(
        "worker-heartbeat",
        T0,
        json!({"hostname": "george@vandelay.com", "idx": "301", "foo": 1, "clock": 30,
               "bah": "foo", "freq": 2.0, "pid": 7, "loadavg": [0.5, 0.25, 0.0],
               "sw_ident": "py-celery"}),
    );
    check(
        &[e],
        &[Expect::Worker(
            "george@vandelay.com",
            json!({"clock": 30, "freq": 2.0, "pid": 7, "id": "george@vandelay.com.7",
                   "loadavg": [0.5, 0.25, 0.0], "sw_ident": "py-celery",
                   "extra": {"idx": "301", "foo": 1, "bah": "foo"}}),
        )],
    );
}

/// `test_Worker.test_survives_missing_timestamp`: a worker event without a (truthy) timestamp
/// records no heartbeat. Without the key at all, the crate rejects the event at decoding (a
/// documented difference: Python's State silently ignores it); either way no worker is stored.
#[test]
fn worker_survives_missing_or_falsy_timestamp() {
    let missing = json!({"type": "worker-heartbeat", "hostname": "foo"});
    let err = decode_event(missing.to_string().as_bytes()).expect_err("rejected");
    assert_eq!(err.reason(), "missing_timestamp");

    // Decoded but applied without `local_received`: rejected whole, still counted.
    let mut s = State::default();
    let e = decode(&ev("worker-heartbeat", T0, json!({"hostname": "foo"})));
    assert_eq!(s.apply(&e), Err(ApplyError::MissingField("local_received")));
    verify(
        &s,
        &[Expect::NoWorker("foo"), Expect::Counts(1, 0)],
        "no lr",
    );

    // (timestamp, local_received): falsy ones leave the worker without heartbeats.
    for (ts, lr) in [(0.0, T0), (T0, 0.0), (0.0, 0.0)] {
        let mut s = State::default();
        apply(
            &mut s,
            &ev("worker-heartbeat", ts, json!({"hostname": "foo"})),
            lr,
        );
        verify(
            &s,
            &[
                Expect::Worker("foo", json!({"heartbeats": [], "expires": null})),
                Expect::Alive(T0, &[]),
            ],
            &format!("ts {ts} lr {lr}"),
        );
    }
}

/// `test_Worker.test_drift_warning`: a drift over `HEARTBEAT_DRIFT_MAX` (16 s) between the event's
/// timestamp and the receive time is noticed. Python logs a warning (once per hostname); the
/// crate keeps the largest drift on the worker. Task events pass the two times swapped, as
/// Python does, so their heartbeat is the event's timestamp.
#[test]
fn drift_over_the_maximum_is_recorded() {
    // (event type, timestamp, local_received, drift, heartbeats)
    let rows: [(&str, f64, f64, Option<i64>, f64); 6] = [
        ("worker-heartbeat", T0 + 32.0, T0, Some(32), T0),
        ("worker-heartbeat", T0 + 16.0, T0, None, T0),
        ("worker-heartbeat", T0 + 16.9, T0, None, T0),
        ("worker-heartbeat", T0, T0 + 17.5, Some(17), T0 + 17.5),
        ("worker-heartbeat", T0, T0, None, T0),
        ("task-started", T0 + 32.0, T0, Some(32), T0 + 32.0),
    ];
    for (ty, ts, lr, drift, hb) in rows {
        let mut s = State::default();
        let e = ev(ty, ts, json!({"hostname": "foo", "uuid": "u", "clock": 1}));
        apply(&mut s, &e, lr);
        verify(
            &s,
            &[Expect::Worker(
                "foo",
                json!({"drift": drift, "heartbeats": [hb]}),
            )],
            &format!("{ty} ts {ts} lr {lr}"),
        );
    }
    // The largest drift is kept.
    let mut s = State::default();
    for (ts, lr) in [(T0 + 40.0, T0), (T0 + 20.0, T0 + 1.0), (T0 + 2.0, T0 + 2.0)] {
        apply(
            &mut s,
            &ev("worker-heartbeat", ts, json!({"hostname": "foo"})),
            lr,
        );
    }
    verify(
        &s,
        &[Expect::Worker(
            "foo",
            json!({"drift": 40, "heartbeats": [T0, T0 + 1.0, T0 + 2.0]}),
        )],
        "max drift",
    );
}

/// `test_Worker.test_updates_heartbeat`, and the heartbeat window: at most `heartbeat_max` (4)
/// receive times, an out-of-order one inserted in sorted position (`bisect.insort`), the oldest
/// dropped first.
#[test]
fn heartbeats_are_a_sorted_window() {
    assert_eq!(HEARTBEAT_MAX, 4);
    // test_updates_heartbeat: a heartbeat received earlier than the last one goes before it.
    let mut s = State::default();
    apply(
        &mut s,
        &ev("worker-heartbeat", T0, json!({"hostname": "foo"})),
        T0,
    );
    verify(
        &s,
        &[Expect::Worker("foo", json!({"heartbeats": [T0]}))],
        "first",
    );
    apply(
        &mut s,
        &ev("worker-heartbeat", T0, json!({"hostname": "foo"})),
        T0 - 10.0,
    );
    verify(
        &s,
        &[Expect::Worker(
            "foo",
            json!({"heartbeats": [T0 - 10.0, T0], "expires": T0 + 120.0}),
        )],
        "second",
    );

    // The window, receive times T0 + x (from Celery's State on the same sequence).
    let rows: [(f64, &[f64]); 7] = [
        (10.0, &[10.0]),
        (12.0, &[10.0, 12.0]),
        (11.0, &[10.0, 11.0, 12.0]),
        (13.0, &[10.0, 11.0, 12.0, 13.0]),
        (14.0, &[11.0, 12.0, 13.0, 14.0]),
        (9.0, &[9.0, 12.0, 13.0, 14.0]),
        (15.0, &[12.0, 13.0, 14.0, 15.0]),
    ];
    let mut s = State::default();
    for (x, window) in rows {
        let t = T0 + x;
        apply(
            &mut s,
            &ev("worker-heartbeat", t, json!({"hostname": "w"})),
            t,
        );
        let want: Vec<f64> = window.iter().map(|w| T0 + w).collect();
        verify(
            &s,
            &[Expect::Worker("w", json!({"heartbeats": want}))],
            &format!("heartbeat {x}"),
        );
    }
}
