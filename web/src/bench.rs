//! The in-browser benchmark's workload (`tools/bench-browser`, `docs/benchmarks.md`): a recording
//! cut into relay `events` frames, fed to a fresh [`Model`] exactly as the live connection feeds
//! it (decode, State, event log, task table, failures list), then the task table's filter + sort
//! rebuilt. Timing is the caller's (the wasm export reads the browser's clock); this module only
//! prepares and runs the work, so it is also tested natively.

use stalk_state::Limits;
use stalk_state::views::{Filter, SortKey};

use crate::model::Model;
use crate::offline::parse_recording;

/// Relay frames (`{"kind":"events","events":[...]}`) of `batch` events each, numbered from 1,
/// from a recording in either form.
pub fn frames_of(text: &str, batch: usize) -> Vec<String> {
    let events = parse_recording(text).events;
    events
        .chunks(batch.max(1))
        .enumerate()
        .map(|(chunk, list)| {
            let mut f = String::from(r#"{"kind":"events","events":["#);
            for (i, (received, event)) in list.iter().enumerate() {
                if i > 0 {
                    f.push(',');
                }
                let seq = chunk * batch.max(1) + i + 1;
                f.push_str(&format!(
                    r#"{{"seq":{seq},"received":{received},"event":{event}}}"#
                ));
            }
            f.push_str("]}");
            f
        })
        .collect()
}

/// A model with the app's default bounds, ready for [`ingest`].
pub fn fresh_model(max_tasks: usize) -> Model {
    Model::new(
        Limits {
            max_tasks,
            max_workers: 5_000,
        },
        crate::events::DEFAULT_CAPACITY,
    )
}

/// Applies every frame; returns the events applied.
pub fn ingest(model: &mut Model, frames: &[String], now: f64) -> usize {
    frames.iter().map(|f| model.frame(f, now)).sum()
}

/// The filters the benchmark times on a full table: `(label, filter, sort key, descending)`.
pub fn queries() -> Vec<(&'static str, Filter, SortKey, bool)> {
    vec![
        ("all by runtime", Filter::default(), SortKey::Runtime, true),
        (
            "state FAILURE by received",
            Filter {
                states: vec![stalk_state::TaskState::Failure],
                ..Filter::default()
            },
            SortKey::Received,
            true,
        ),
        (
            "text 'page1' by name",
            Filter {
                text: Some("page1".to_owned()),
                ..Filter::default()
            },
            SortKey::Name,
            false,
        ),
    ]
}

/// Task names of the synthetic workload.
const NAMES: [&str; 6] = [
    "crawler.tasks.visit",
    "crawler.tasks.extract_data_from_html",
    "crawler.tasks.store_data",
    "reports.tasks.summarize",
    "billing.tasks.charge",
    "mail.tasks.send_welcome",
];

/// Workers of the synthetic workload.
const WORKERS: [&str; 4] = ["celery@w1", "celery@w2", "celery@w3", "celery@w4"];

/// A deterministic synthetic workload in the receiver form: `tasks` tasks of 4 events each
/// (sent, received, started, then succeeded, or failed with a traceback for 1 in 20), every third
/// task a child of the one before (chains), a heartbeat per worker every 200 events. The events
/// of the first `burst` tasks share one `local_received` (a replay sends them at once); the rest
/// follow at `rate` events per second (a replay paces them).
pub fn workload(tasks: usize, burst: usize, rate: f64, t0: f64) -> String {
    let mut out = String::with_capacity(tasks * 1200);
    let (mut clock, mut n) = (0u64, 0usize);
    let mut t = t0;
    let mut emit = |out: &mut String, body: String, task: usize| {
        clock += 1;
        n += 1;
        if task >= burst {
            t += 1.0 / rate;
        }
        let ts = t - 0.0005;
        out.push_str(&format!(
            r#"{{{body},"clock":{clock},"timestamp":{ts:.6},"local_received":{t:.6}}}"#
        ));
        out.push('\n');
        if n % 200 == 0 {
            for w in WORKERS {
                clock += 1;
                out.push_str(&format!(
                    r#"{{"type":"worker-heartbeat","hostname":"{w}","freq":2.0,"active":2,"processed":{n},"loadavg":[0.5,0.4,0.3],"sw_ident":"py-celery","sw_ver":"5.7.0","sw_sys":"Linux","clock":{clock},"timestamp":{ts:.6},"local_received":{t:.6}}}"#
                ));
                out.push('\n');
            }
        }
    };
    for i in 0..tasks {
        let uuid = format!("{i:08x}-5e1f-4c0d-9a7b-{:012x}", i * 7919);
        let name = NAMES[i % NAMES.len()];
        let worker = WORKERS[i % WORKERS.len()];
        let parent =
            (i % 3 != 0).then(|| format!("{:08x}-5e1f-4c0d-9a7b-{:012x}", i - 1, (i - 1) * 7919));
        let root = format!(
            "{:08x}-5e1f-4c0d-9a7b-{:012x}",
            i - i % 3,
            (i - i % 3) * 7919
        );
        let parent = parent.map_or("null".to_owned(), |p| format!("\"{p}\""));
        emit(
            &mut out,
            format!(
                r#""type":"task-sent","uuid":"{uuid}","name":"{name}","args":"('https://example.com/page{}.html',)","kwargs":"{{'url_params': []}}","retries":0,"eta":null,"expires":null,"queue":"celery","exchange":"","routing_key":"celery","root_id":"{root}","parent_id":{parent},"hostname":"gen4242@client""#,
                i % 500
            ),
            i,
        );
        emit(
            &mut out,
            format!(
                r#""type":"task-received","uuid":"{uuid}","name":"{name}","args":"('https://example.com/page{}.html',)","kwargs":"{{'url_params': []}}","root_id":"{root}","parent_id":{parent},"retries":0,"eta":null,"expires":null,"hostname":"{worker}","pid":{}"#,
                i % 500,
                1000 + i % 8
            ),
            i,
        );
        emit(
            &mut out,
            format!(
                r#""type":"task-started","uuid":"{uuid}","hostname":"{worker}","pid":{}"#,
                1000 + i % 8
            ),
            i,
        );
        let end = if i % 20 == 7 {
            format!(
                r#""type":"task-failed","uuid":"{uuid}","exception":"HTTPError('404 Client Error: Not Found for url: https://example.com/page{}.html')","traceback":"Traceback (most recent call last):\n  File \"/app/celery/app/trace.py\", line 453, in trace_task\n    R = retval = fun(*args, **kwargs)\n  File \"/app/crawler/tasks.py\", line 31, in visit\n    response.raise_for_status()\nrequests.exceptions.HTTPError: 404 Client Error","hostname":"{worker}""#,
                i % 500
            )
        } else {
            format!(
                r#""type":"task-succeeded","uuid":"{uuid}","result":"{{'links': {}, 'images': {}}}","runtime":{:.4},"hostname":"{worker}""#,
                i % 37,
                i % 11,
                0.002 + (i % 97) as f64 / 1000.0
            )
        };
        emit(&mut out, end, i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_is_valid_and_deterministic() {
        let text = workload(300, 100, 5_000.0, 1000.0);
        assert_eq!(text, workload(300, 100, 5_000.0, 1000.0));
        let rec = parse_recording(&text);
        assert_eq!(rec.bad_lines, 0);
        assert_eq!(
            rec.events.len(),
            1200 + 4 * 6,
            "4 per task, 4 heartbeats per 200"
        );
        // The burst shares one time; then 5,000 events/s.
        assert_eq!(rec.events[0].0, 1000.0);
        assert_eq!(rec.events[399].0, 1000.0);
        let last = rec.events.last().unwrap().0;
        assert!((last - (1000.0 + 800.0 / 5_000.0)).abs() < 1e-3, "{last}");
        let mut m = fresh_model(100_000);
        ingest(&mut m, &frames_of(&text, 500), 0.0);
        assert_eq!(
            (m.state.task_len(), m.bad_input, m.state.worker_len()),
            (300, 0, 4)
        );
        let failed = m.failures.len();
        assert_eq!(failed, 15, "1 in 20 fails");
        assert_eq!(
            m.state
                .children(
                    m.state
                        .task(&format!("{:08x}-5e1f-4c0d-9a7b-{:012x}", 0, 0))
                        .unwrap()
                )
                .count(),
            1
        );
    }

    #[test]
    fn frames_feed_the_model_like_the_relay() {
        let text = include_str!("../../shared/tests/fixtures/happy.ndjson");
        let frames = frames_of(text, 10);
        assert_eq!(frames.len(), 5, "47 events in frames of 10");
        let mut m = fresh_model(100_000);
        assert_eq!(ingest(&mut m, &frames, 0.0), 47);
        assert_eq!((m.last_seq, m.state.task_len(), m.bad_input), (47, 11, 0));
        for (label, filter, key, desc) in queries() {
            let want = m.state.tasks().filter(|(_, t)| filter.matches(t)).count();
            m.set_query(filter, key, desc);
            assert_eq!(m.query.len(), want, "{label}");
        }
    }
}
