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
    /// Seconds since the last heartbeat, formatted.
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
        heartbeat_age: format::duration(w.heartbeats.last().map(|h| now - h.as_f64())),
        active: format::value(&w.active),
        processed: format::value(&w.processed),
        software: format!(
            "{} {}",
            format::value(&w.sw_ident),
            format::value(&w.sw_ver)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use stalk_state::Limits;

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
        let mut m = Model::new(Limits::default());
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
}
