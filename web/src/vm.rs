//! View models: what each view shows, computed from the State as plain data (strings already
//! formatted), so components only lay it out and the content is tested natively.

use stalk_state::views::{self, TreeRow};
use stalk_state::{Handle, State, Task, Worker};

use crate::format;

/// One row of the task table.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRow {
    /// Task id.
    pub uuid: String,
    /// Task name (`-` when unknown yet).
    pub name: String,
    /// State name (`PENDING`, `SUCCESS`, ...).
    pub state: String,
    /// Received, formatted.
    pub received: String,
    /// Started, formatted.
    pub started: String,
    /// Runtime, formatted.
    pub runtime: String,
    /// Worker hostname (`-` when none yet).
    pub worker: String,
}

impl TaskRow {
    /// The row of `task`.
    pub fn of(task: &Task) -> TaskRow {
        TaskRow {
            uuid: task.uuid.to_string(),
            name: task.name().unwrap_or("-").to_owned(),
            state: task.state.as_str().to_owned(),
            received: format::time(task.moments.received().map(|n| n.as_f64())),
            started: format::time(task.moments.started().map(|n| n.as_f64())),
            runtime: format::duration(task.info.runtime.as_num().map(|n| n.as_f64())),
            worker: task.worker.as_deref().unwrap_or("-").to_owned(),
        }
    }
}

/// The rows of the task table's window (dead handles skipped).
pub fn task_rows(state: &State, handles: &[Handle]) -> Vec<TaskRow> {
    handles
        .iter()
        .filter_map(|&h| state.task_at(h))
        .map(TaskRow::of)
        .collect()
}

/// Every field of one task, as `(label, text)`, plus the long texts shown preformatted.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskDetail {
    /// Short fields, in display order.
    pub fields: Vec<(&'static str, String)>,
    /// The other fields its events carried (`queue`, a revoke's `terminated` and `signum`, a
    /// reject's `requeue`, a custom event's own fields), in arrival order; null ones left out.
    pub extra: Vec<(String, String)>,
    /// Exception (`None` when absent).
    pub exception: Option<String>,
    /// Traceback (`None` when absent).
    pub traceback: Option<String>,
    /// Parent id, for a link.
    pub parent: Option<String>,
    /// Root id, for a link.
    pub root: Option<String>,
    /// Children ids, for links.
    pub children: Vec<String>,
}

/// The detail of the task `uuid`, if it is in memory.
pub fn task_detail(state: &State, uuid: &str) -> Option<TaskDetail> {
    let t = state.task(uuid)?;
    let m = &t.moments;
    let time = |n: Option<stalk_state::Num>| format::time(n.map(|n| n.as_f64()));
    let i = &t.info;
    let mut fields = vec![
        ("uuid", t.uuid.to_string()),
        ("name", t.name().unwrap_or("-").to_owned()),
        ("state", t.state.as_str().to_owned()),
        ("worker", t.worker.as_deref().unwrap_or("-").to_owned()),
        ("client", t.client.as_deref().unwrap_or("-").to_owned()),
        ("args", format::value(&i.args)),
        ("kwargs", format::value(&i.kwargs)),
        ("result", format::value(&i.result)),
        ("retries", format::value(&i.retries)),
        (
            "runtime",
            format::duration(i.runtime.as_num().map(|n| n.as_f64())),
        ),
        ("sent", time(m.sent())),
        ("received", time(m.received())),
        ("started", time(m.started())),
        ("succeeded", time(m.succeeded())),
        ("failed", time(m.failed())),
        ("retried", time(m.retried())),
        ("revoked", time(m.revoked())),
        ("rejected", time(m.rejected())),
        ("eta", format::value(i.eta())),
        ("expires", format::value(i.expires())),
        ("exchange", format::value(&i.exchange)),
        ("routing_key", format::value(&i.routing_key)),
        ("root_id", format::value(&i.root_id)),
        ("parent_id", format::value(&i.parent_id)),
    ];
    fields.retain(|(k, v)| v != "-" || matches!(*k, "state" | "name" | "worker"));
    let text = |v: &stalk_state::Value| (!v.is_null()).then(|| format::value(v));
    Some(TaskDetail {
        fields,
        extra: t
            .extras()
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.to_string(), format::value(v)))
            .collect(),
        exception: text(i.exception()),
        traceback: text(i.traceback()),
        parent: t.parent_id().map(str::to_owned),
        root: t.root_id().map(str::to_owned),
        children: state
            .children(t)
            .filter_map(|h| state.task_at(h))
            .map(|c| c.uuid.to_string())
            .collect(),
    })
}

/// One node of a workflow tree.
#[derive(Clone, Debug, PartialEq)]
pub struct TreeNode {
    /// Task id.
    pub uuid: String,
    /// Task name.
    pub name: String,
    /// State name.
    pub state: String,
    /// Depth below the root (orphans start again at 0).
    pub depth: usize,
    /// Parent not in memory.
    pub orphan: bool,
    /// Runtime, formatted.
    pub runtime: String,
    /// Retries so far (`retries` of the latest event).
    pub retries: u64,
}

/// The workflow around `uuid`, depth-first.
pub fn tree_nodes(state: &State, uuid: &str) -> Vec<TreeNode> {
    views::tree(state, uuid)
        .into_iter()
        .filter_map(
            |TreeRow {
                 task,
                 depth,
                 orphan,
             }| {
                let t = state.task_at(task)?;
                Some(TreeNode {
                    uuid: t.uuid.to_string(),
                    name: t.name().unwrap_or("-").to_owned(),
                    state: t.state.as_str().to_owned(),
                    depth,
                    orphan,
                    runtime: format::duration(t.info.runtime.as_num().map(|n| n.as_f64())),
                    retries: t
                        .info
                        .retries
                        .as_num()
                        .map_or(0, |n| n.as_f64().max(0.0) as u64),
                })
            },
        )
        .collect()
}

/// One row of the worker list.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerRow {
    /// Hostname.
    pub hostname: String,
    /// Alive at the relay's `now`.
    pub alive: bool,
    /// Time since the last heartbeat (`2.00 s ago`), `-` when none is kept (offline).
    pub heartbeat_age: String,
    /// Active tasks.
    pub active: String,
    /// Processed tasks.
    pub processed: String,
    /// `sw_ident sw_ver`.
    pub software: String,
}

/// Every worker, sorted by hostname, judged alive at `now` (the relay's clock).
pub fn worker_rows(state: &State, now: f64) -> Vec<WorkerRow> {
    let mut rows: Vec<WorkerRow> = state.workers().map(|w| worker_row(w, now)).collect();
    rows.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    rows
}

fn worker_row(w: &Worker, now: f64) -> WorkerRow {
    WorkerRow {
        hostname: w.hostname.to_string(),
        alive: w.alive(now),
        heartbeat_age: w.heartbeats.last().map_or_else(
            || "-".to_owned(),
            |h| format!("{} ago", format::duration(Some(now - h.as_f64()))),
        ),
        active: format::value(&w.active),
        processed: format::value(&w.processed),
        software: format!(
            "{} {}",
            format::value(&w.sw_ident),
            format::value(&w.sw_ver)
        ),
    }
}

/// One step of a task's life, for the task page's timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// `sent`, `received`, `started`, `retried`, `succeeded`, `failed`, `revoked`, `rejected`.
    pub label: &'static str,
    /// When, formatted.
    pub time: String,
    /// Time since the previous step, formatted (`-` for the first).
    pub after: String,
}

/// A task's timeline: its moments in time order, and the two durations people ask about.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// Steps, earliest first.
    pub steps: Vec<Step>,
    /// Started minus received (or minus sent when received is unknown): time spent waiting.
    pub queue_wait: String,
    /// The worker's reported runtime.
    pub run_time: String,
}

/// The timeline of `task`. Celery keeps one time per moment, so a task retried three times shows
/// its latest retry; the event log (`#/events`) has every event.
pub fn timeline(task: &Task) -> Timeline {
    let m = &task.moments;
    let mut moments: Vec<(&'static str, f64)> = [
        ("sent", m.sent()),
        ("received", m.received()),
        ("started", m.started()),
        ("retried", m.retried()),
        ("succeeded", m.succeeded()),
        ("failed", m.failed()),
        ("revoked", m.revoked()),
        ("rejected", m.rejected()),
    ]
    .into_iter()
    .filter_map(|(label, n)| Some((label, n?.as_f64())))
    .collect();
    // Stable: equal times keep the life-cycle order above.
    moments.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut previous: Option<f64> = None;
    let steps = moments
        .into_iter()
        .map(|(label, t)| {
            let after = format::duration(previous.map(|p| t - p));
            previous = Some(t);
            Step {
                label,
                time: format::time(Some(t)),
                after,
            }
        })
        .collect();
    let start = m.received().or(m.sent()).map(|n| n.as_f64());
    let queue_wait = match (start, m.started()) {
        (Some(a), Some(b)) => Some(b.as_f64() - a),
        _ => None,
    };
    Timeline {
        steps,
        queue_wait: format::duration(queue_wait),
        run_time: format::duration(task.info.runtime.as_num().map(|n| n.as_f64())),
    }
}

/// Everything the worker page shows.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerDetail {
    /// The list row (hostname, alive, heartbeat age, active, processed, software).
    pub row: WorkerRow,
    /// Other fields, as `(label, text)`.
    pub fields: Vec<(&'static str, String)>,
    /// Tasks in memory from this worker.
    pub task_count: usize,
}

/// The worker `hostname`, judged at `now` (the relay's clock), if it is in memory.
pub fn worker_detail(state: &State, hostname: &str, now: f64) -> Option<WorkerDetail> {
    let w = state.worker(hostname)?;
    let fields = vec![
        (
            "heartbeat every",
            format::duration(w.freq.as_num().map(|n| n.as_f64())),
        ),
        ("offline after", format::time(w.heartbeat_expires())),
        ("load average", format::value(&w.loadavg)),
        ("pid", format::value(&w.pid)),
        ("system", format::value(&w.sw_sys)),
        ("clock", format::value(&w.clock)),
        (
            "clock drift",
            w.drift.map_or_else(|| "-".to_owned(), |d| d.to_string()),
        ),
    ];
    Some(WorkerDetail {
        row: worker_row(w, now),
        fields,
        task_count: state.counts().by_worker.get(hostname).copied().unwrap_or(0),
    })
}

/// The newest `limit` tasks in memory whose worker is `hostname` (walks the State's time index
/// from the newest, so the cost is bounded by how far back they are).
pub fn recent_tasks_of(state: &State, hostname: &str, limit: usize) -> Vec<TaskRow> {
    state
        .tasks_by_time(None)
        .filter_map(|h| state.task_at(h))
        .filter(|t| t.worker.as_deref() == Some(hostname))
        .take(limit)
        .map(TaskRow::of)
        .collect()
}

/// Tasks in memory per state, in life-cycle order, custom states last; zero counts left out.
pub fn state_counts(state: &State) -> Vec<(String, usize)> {
    let order = crate::table::STATES;
    let mut counts: Vec<(String, usize)> = state
        .counts()
        .by_state
        .iter()
        .map(|(s, n)| (s.as_str().to_owned(), n))
        .collect();
    let rank = |s: &str| order.iter().position(|o| *o == s).unwrap_or(order.len());
    counts.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.0.cmp(&b.0)));
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use stalk_state::{Limits, decode_event};

    /// The real `happy` recording (receiver form) as one relay `events` frame.
    fn happy() -> Model {
        let text = include_str!("../../shared/tests/fixtures/happy.ndjson");
        let entries: Vec<String> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, line)| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let received = v["local_received"].as_f64().unwrap();
                format!(
                    r#"{{"seq":{},"received":{received},"event":{line}}}"#,
                    i + 1
                )
            })
            .collect();
        let frame = format!(r#"{{"kind":"events","events":[{}]}}"#, entries.join(","));
        let mut m = Model::new(Limits::default(), 100);
        m.frame(&frame, 0.0);
        m
    }

    #[test]
    fn happy_recording_tables() {
        let m = happy();
        let rows = task_rows(&m.state, &m.query.window(0, 100));
        assert_eq!(rows.len(), 11);
        assert!(rows.iter().all(|r| r.state == "SUCCESS"), "{rows:?}");
        let visits: Vec<&TaskRow> = rows
            .iter()
            .filter(|r| r.name == "example_app.tasks.visit")
            .collect();
        assert_eq!(visits.len(), 3);
        let tree = tree_nodes(&m.state, &visits[0].uuid);
        let shape: Vec<(usize, &str, &str)> = tree
            .iter()
            .map(|n| (n.depth, n.name.as_str(), n.state.as_str()))
            .collect();
        assert_eq!(
            shape,
            [
                (0, "example_app.tasks.visit", "SUCCESS"),
                (1, "example_app.tasks.extract_data_from_html", "SUCCESS"),
                (2, "example_app.tasks.store_data", "SUCCESS"),
            ]
        );
        let workers = worker_rows(&m.state, 1_795_503_313.8);
        assert_eq!(workers.len(), 1);
        assert_eq!(workers[0].hostname, "prefork1@vm");
        assert_eq!(state_counts(&m.state), [("SUCCESS".to_owned(), 11)]);
        let w = worker_detail(&m.state, "prefork1@vm", 1_795_503_313.8).unwrap();
        assert_eq!(w.row, workers[0]);
        assert_eq!(w.task_count, 11);
        let recent = recent_tasks_of(&m.state, "prefork1@vm", 4);
        assert_eq!(recent.len(), 4);
        assert!(worker_detail(&m.state, "nobody", 0.0).is_none());
    }

    #[test]
    fn timelines_are_in_time_order_with_durations() {
        let m = happy();
        let (_, t) = m
            .state
            .tasks()
            .find(|(_, t)| t.name() == Some("example_app.tasks.visit"))
            .unwrap();
        let tl = timeline(t);
        let labels: Vec<&str> = tl.steps.iter().map(|s| s.label).collect();
        assert_eq!(labels, ["sent", "received", "started", "succeeded"]);
        assert_eq!(tl.steps[0].after, "-");
        assert!(tl.steps[1..].iter().all(|s| s.after != "-"));
        let (m, i) = (&t.moments, &t.info);
        let wait = m.started().unwrap().as_f64() - m.received().unwrap().as_f64();
        assert_eq!(tl.queue_wait, format::duration(Some(wait)));
        assert_eq!(
            tl.run_time,
            format::duration(i.runtime.as_num().map(|n| n.as_f64()))
        );
    }

    #[test]
    fn task_detail_links_the_workflow() {
        let m = happy();
        let visit = m
            .state
            .tasks()
            .find(|(_, t)| t.name() == Some("example_app.tasks.visit"))
            .map(|(_, t)| t.uuid.to_string())
            .unwrap();
        let d = task_detail(&m.state, &visit).unwrap();
        assert_eq!(d.children.len(), 1);
        assert_eq!(d.root.as_deref(), Some(visit.as_str()));
        assert!(d.fields.contains(&("state", "SUCCESS".to_owned())));
        assert_eq!((d.exception, d.traceback), (None, None));
        let child = task_detail(&m.state, &d.children[0]).unwrap();
        assert_eq!(child.parent.as_deref(), Some(visit.as_str()));
        assert!(task_detail(&m.state, "missing").is_none());
    }

    #[test]
    fn task_detail_shows_the_fields_the_state_does_not_name() {
        let mut state = State::new(Limits::default());
        let lines = [
            r#"{"type": "task-sent", "uuid": "t1", "hostname": "gen1@h", "timestamp": 1.0, "local_received": 1.0, "clock": 1, "name": "app.crawl", "queue": "crawl"}"#,
            r#"{"type": "task-progress", "uuid": "t1", "hostname": "w@h", "timestamp": 2.0, "local_received": 2.0, "clock": 2, "current": 3, "total": 10, "note": "<b>page 3</b>"}"#,
            r#"{"type": "task-revoked", "uuid": "t1", "hostname": "w@h", "timestamp": 3.0, "local_received": 3.0, "clock": 3, "terminated": true, "signum": null, "expired": false}"#,
        ];
        for line in lines {
            state
                .apply(&decode_event(line.as_bytes()).unwrap())
                .unwrap();
        }
        let d = task_detail(&state, "t1").unwrap();
        let extra: Vec<(&str, &str)> = d.extra.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            extra,
            [
                ("queue", "crawl"),
                ("current", "3"),
                ("total", "10"),
                ("note", "<b>page 3</b>"),
                ("terminated", "true"),
                ("expired", "false"),
            ]
        );
    }
}
