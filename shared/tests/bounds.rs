//! `State::bounds`: every bounded structure reports its fill, its limit and how often the limit was
//! reached, and none is ever past its limit, whatever the stream.

mod common;

use std::collections::HashMap;

use common::task;
use serde_json::{Value as Json, json};
use stalk_state::{Bound, EXTRAS_MAX, Limits, State, TASK_TYPES_MAX, decode_event};

fn apply(s: &mut State, v: Json) {
    let bytes = serde_json::to_vec(&v).unwrap();
    s.apply(&decode_event(&bytes).unwrap()).unwrap();
}

fn by_name(s: &State) -> HashMap<&'static str, Bound> {
    let all = s.bounds();
    let named: HashMap<_, _> = all.iter().map(|b| (b.name, b.clone())).collect();
    assert_eq!(named.len(), all.len(), "names are unique");
    for b in &all {
        assert!(b.len <= b.limit, "{} past its limit: {b:?}", b.name);
        assert!(
            !b.when_full.is_empty(),
            "{} says what happens when full",
            b.name
        );
    }
    named
}

#[test]
fn every_bound_reports_fill_limit_and_how_often_it_was_reached() {
    let mut s = State::new(Limits {
        max_tasks: 3,
        max_workers: 2,
    });
    let fresh = by_name(&s);
    assert!(
        fresh
            .values()
            .all(|b| b.len == 0 && b.reached.unwrap_or(0) == 0),
        "{fresh:?}"
    );

    // More unique task names than the task types and shared strings keep, each task a child of a
    // parent never seen, with a short unique argument (a tiny string, shared).
    let tasks = TASK_TYPES_MAX + 10;
    for n in 0..tasks {
        let extra = json!({"name": format!("proj.t{n}"), "parent_id": format!("p{n}"),
                           "args": format!("({n})")});
        apply(
            &mut s,
            task("task-received", &format!("u{n}"), n as i64 + 1, extra),
        );
    }
    for n in 0..4 {
        apply(
            &mut s,
            json!({"type": "worker-heartbeat", "hostname": format!("w{n}@h"), "timestamp": 100.0,
                   "local_received": 100.5, "clock": n, "freq": 2.0}),
        );
    }
    let mut wide = task("task-progress", "wide", tasks as i64 + 1, json!({}));
    for n in 0..EXTRAS_MAX + 6 {
        wide[format!("k{n}")] = json!(n);
    }
    apply(&mut s, wide);

    let b = by_name(&s);
    let reached = |name: &str| b[name].reached.expect("counted");
    let created = tasks as u64 + 1;
    assert_eq!((b["tasks"].len, b["tasks"].limit), (3, 3));
    assert_eq!(reached("tasks"), created - 3);
    // Six workers came: `w@h` (the tasks' sender), w0..w3, then `w@h` again (the last task event,
    // after it had left); two are kept.
    assert_eq!((b["workers"].len, reached("workers")), (2, 4));
    assert_eq!(b["time heap entries"].limit, 12);
    assert_eq!(reached("time heap entries"), created - 12);
    assert_eq!(b["parents awaited by children"].len, 3);
    assert_eq!(reached("parents awaited by children"), tasks as u64 - 3);
    assert_eq!(b["task types"].len, TASK_TYPES_MAX);
    assert_eq!(reached("task types"), 10);
    assert_eq!(b["extra fields per task or worker"].len, EXTRAS_MAX);
    assert_eq!(reached("extra fields per task or worker"), 6);
    assert!(reached("shared strings") >= 1, "{:?}", b["shared strings"]);
    assert!(reached("shared tiny strings") >= 1);
    for cache in ["recent strings", "recent extras lists", "extras steps"] {
        assert!(b[cache].len > 0, "{cache} in use");
        assert_eq!(b[cache].reached, None);
    }
    assert_eq!(b["recent long strings"].len, 0, "no long string was seen");
}
