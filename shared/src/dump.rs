//! The canonical JSON dump of a [`State`] (`docs/state.md`, "`stalk-state dump` and `bench`"),
//! the contract of the differential tests against Python's State.

use serde_json::{Map, Value as Json, json};

use crate::state::{State, Task, Worker};
use crate::value::{Num, Value};

/// The time heap entry by entry, oldest first: `[clock, timestamp, origin, uuid or null]`, the
/// optional `heap` key of the dump (`stalk-state dump --heap`; not in the canonical contract, which
/// sees the heap only through `tasks_by_time`).
pub fn heap(state: &State) -> Json {
    state
        .heap_entries()
        .map(|(clock, timestamp, origin, task)| {
            json!([clock, timestamp, origin, task.map(|t| &*t.uuid)])
        })
        .collect()
}

/// Dumps the whole state; worker liveness is evaluated at `now`.
pub fn dump(state: &State, now: f64) -> Json {
    let uuid_of = |h| state.task_at(h).map(|t: &Task| Json::from(&*t.uuid));
    let tasks: Map<String, Json> = state
        .tasks()
        .map(|(_, t)| (t.uuid.to_string(), task(state, t)))
        .collect();
    let workers: Map<String, Json> = state
        .workers()
        .map(|w| (w.hostname.to_string(), worker(w, now)))
        .collect();
    json!({
        "event_count": state.event_count(),
        "task_count": state.task_count(),
        "task_types": state.task_types().iter().map(|s| &**s).collect::<Vec<_>>(),
        "tasks_by_time": state.tasks_by_time(None).filter_map(uuid_of).collect::<Vec<_>>(),
        "tasks": tasks,
        "workers": workers,
    })
}

fn v(value: &Value) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

fn n(num: Option<Num>) -> Json {
    num.map_or(Json::Null, |n| v(&n.into()))
}

/// One task as in the dump (`children` sorted, `worker` as its hostname).
pub fn task(state: &State, t: &Task) -> Json {
    let i = &t.info;
    let m = &t.moments;
    let mut children: Vec<&str> = state
        .children(t)
        .filter_map(|h| state.task_at(h))
        .map(|c| &*c.uuid)
        .collect();
    children.sort_unstable();
    json!({
        "uuid": &*t.uuid,
        "name": v(&i.name),
        "state": t.state.as_str(),
        "received": n(m.received()),
        "sent": n(m.sent()),
        "started": n(m.started()),
        "rejected": n(m.rejected()),
        "succeeded": n(m.succeeded()),
        "failed": n(m.failed()),
        "retried": n(m.retried()),
        "revoked": n(m.revoked()),
        "args": v(&i.args),
        "kwargs": v(&i.kwargs),
        "eta": v(i.eta()),
        "expires": v(i.expires()),
        "retries": v(&i.retries),
        "result": v(&i.result),
        "exception": v(i.exception()),
        "timestamp": n(t.timestamp()),
        "runtime": v(&i.runtime),
        "traceback": v(i.traceback()),
        "exchange": v(&i.exchange),
        "routing_key": v(&i.routing_key),
        "clock": n(Some(t.clock())),
        "client": t.client.as_deref(),
        "root_id": v(&i.root_id),
        "parent_id": v(&i.parent_id),
        "worker": t.worker.as_deref(),
        "children": children,
    })
}

/// One worker as in the dump, liveness evaluated at `now`.
pub fn worker(w: &Worker, now: f64) -> Json {
    json!({
        "hostname": &*w.hostname,
        "pid": v(&w.pid),
        "freq": v(&w.freq),
        "clock": v(&w.clock),
        "active": v(&w.active),
        "processed": v(&w.processed),
        "loadavg": v(&w.loadavg),
        "sw_ident": v(&w.sw_ident),
        "sw_ver": v(&w.sw_ver),
        "sw_sys": v(&w.sw_sys),
        "heartbeats": w.heartbeats.iter().map(|h| v(&(*h).into())).collect::<Vec<_>>(),
        "heartbeat_expires": w.heartbeat_expires(),
        "alive": w.alive(now),
    })
}
