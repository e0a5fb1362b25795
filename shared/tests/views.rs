//! Views on real recordings: workflow trees (chains, chords, orphans) and the live task window,
//! whose incremental updates must always equal a rebuild from scratch.

use std::path::Path;

use stalk_state::views::{Filter, LiveQuery, SortKey, tree};
use stalk_state::{Applied, Limits, State, TaskState, decode_event};

fn events(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.ndjson"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn state_of(lines: &[String], limits: Limits) -> State {
    let mut state = State::new(limits);
    for l in lines {
        if let Ok(ev) = decode_event(l.as_bytes()) {
            let _ = state.apply(&ev);
        }
    }
    state
}

/// `(name suffix, depth, orphan, state)` per row.
fn rows(state: &State, uuid: &str) -> Vec<(String, usize, bool, String)> {
    tree(state, uuid)
        .into_iter()
        .map(|r| {
            let t = state.task_at(r.task).unwrap();
            let name = t
                .name()
                .unwrap_or("?")
                .rsplit('.')
                .next()
                .unwrap()
                .to_owned();
            (name, r.depth, r.orphan, t.state.to_string())
        })
        .collect()
}

#[test]
fn crawler_chain_is_a_three_level_tree_from_any_member() {
    let state = state_of(&events("happy"), Limits::default());
    let store = state
        .tasks()
        .find(|(_, t)| t.name() == Some("example_app.tasks.store_data"))
        .unwrap()
        .1;
    let expect = vec![
        ("visit".to_owned(), 0, false, "SUCCESS".to_owned()),
        (
            "extract_data_from_html".to_owned(),
            1,
            false,
            "SUCCESS".to_owned(),
        ),
        ("store_data".to_owned(), 2, false, "SUCCESS".to_owned()),
    ];
    assert_eq!(rows(&state, &store.uuid), expect);
    let root = store.root_id().unwrap().to_owned();
    assert_eq!(rows(&state, &root), expect);
}

#[test]
fn retried_task_is_its_own_child_but_appears_once() {
    let state = state_of(&events("retry_fail"), Limits::default());
    let visit = state
        .tasks()
        .find(|(_, t)| t.name() == Some("example_app.tasks.visit"))
        .unwrap()
        .1;
    assert!(
        state
            .children(visit)
            .any(|h| state.task_at(h).unwrap().uuid == visit.uuid),
        "self-child"
    );
    assert_eq!(
        rows(&state, &visit.uuid),
        vec![("visit".to_owned(), 0, false, "FAILURE".to_owned())]
    );
}

#[test]
fn children_whose_parent_is_gone_are_shown_as_orphans() {
    let lines = events("happy");
    let visit = state_of(&lines, Limits::default())
        .tasks()
        .find(|(_, t)| {
            t.name() == Some("example_app.tasks.visit")
                && t.info.args.as_str().unwrap().contains("page2")
        })
        .map(|(_, t)| t.uuid.to_string())
        .unwrap();
    // Drop every event of that visit: its extract child has a parent the State never saw.
    let without: Vec<String> = lines
        .into_iter()
        .filter(|l| !l.contains(&format!("\"uuid\": \"{visit}\"")))
        .collect();
    let state = state_of(&without, Limits::default());
    assert_eq!(
        rows(&state, &visit),
        vec![
            (
                "extract_data_from_html".to_owned(),
                0,
                true,
                "SUCCESS".to_owned()
            ),
            ("store_data".to_owned(), 1, false, "SUCCESS".to_owned()),
        ]
    );
}

#[test]
fn chord_members_hang_under_their_root() {
    let state = state_of(&events("canvas"), Limits::default());
    for (_, t) in state.tasks() {
        let r = tree(&state, &t.uuid);
        assert!(
            r.iter()
                .any(|row| row.task == state.task_handle(&t.uuid).unwrap()),
            "{} in its own tree",
            t.uuid
        );
        let mut seen = std::collections::HashSet::new();
        assert!(r.iter().all(|row| seen.insert(row.task)), "each task once");
    }
}

fn all(q: &LiveQuery) -> Vec<stalk_state::Handle> {
    q.window(0, usize::MAX)
}

#[test]
fn live_query_updates_equal_a_rebuild_after_every_event() {
    let mut lines: Vec<String> = [
        "happy",
        "retry_fail",
        "reject",
        "revoke_expired",
        "revoke_terminate",
        "canvas",
    ]
    .iter()
    .flat_map(|n| events(n))
    .collect();
    lines.reverse(); // out of order on purpose
    let queries = [
        (Filter::default(), SortKey::Received, true),
        (
            Filter {
                states: vec![TaskState::Success, TaskState::Failure],
                ..Filter::default()
            },
            SortKey::Runtime,
            false,
        ),
        (
            Filter {
                text: Some("PAGE".into()),
                ..Filter::default()
            },
            SortKey::Name,
            false,
        ),
        (
            Filter {
                worker: Some("prefork1@vm".into()),
                ..Filter::default()
            },
            SortKey::State,
            true,
        ),
        (
            Filter {
                name: Some("example_app.tasks.add".into()),
                ..Filter::default()
            },
            SortKey::Started,
            true,
        ),
    ];
    let mut state = State::new(Limits {
        max_tasks: 12,
        max_workers: 5,
    });
    let mut live: Vec<LiveQuery> = queries
        .iter()
        .map(|(f, k, d)| LiveQuery::new(&state, f.clone(), *k, *d))
        .collect();
    for l in &lines {
        let Ok(ev) = decode_event(l.as_bytes()) else {
            continue;
        };
        let changed = match state.apply(&ev) {
            Ok(Applied::Task {
                handle, evicted, ..
            }) => {
                let mut v = vec![handle];
                v.extend(evicted.map(|e| e.handle));
                v
            }
            _ => vec![],
        };
        for (q, (f, k, d)) in live.iter_mut().zip(&queries) {
            q.update(&state, changed.iter().copied());
            let fresh = LiveQuery::new(&state, f.clone(), *k, *d);
            assert_eq!(all(q), all(&fresh), "after {l}");
            assert_eq!(q.len(), fresh.len());
        }
    }
    assert!(
        live[0].len() > 5 && !live[2].is_empty() && !live[4].is_empty(),
        "queries saw matches"
    );
    let window = live[0].window(2, 3);
    assert_eq!(window, all(&live[0])[2..5].to_vec());
}
