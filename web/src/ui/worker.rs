//! `#/worker/<hostname>`: one worker: liveness, heartbeat, load, software, and its latest tasks.

use yew::prelude::*;

use super::store::Ctx;
use crate::route::Route;
use crate::table::TableQuery;
use crate::vm::{self, TaskRow};

/// Tasks listed on the page (the table has them all: see the link).
const RECENT: usize = 50;

/// Properties of [`WorkerPage`].
#[derive(Properties, PartialEq)]
pub(crate) struct WorkerProps {
    /// The worker's hostname (`celery@host`).
    pub(crate) hostname: String,
}

/// One worker.
#[component]
pub(crate) fn WorkerPage(props: &WorkerProps) -> Html {
    let ctx = use_context::<Ctx>().expect("context");
    let model = ctx.store.model.borrow();
    let now = model.relay_now(super::now_secs());
    let Some(d) = vm::worker_detail(&model.state, &props.hostname, now) else {
        return html! {
            <p class="empty">{ format!("Worker {} is not in memory (no event from it yet).", props.hostname) }</p>
        };
    };
    let all_tasks = Route::Tasks(TableQuery {
        worker: props.hostname.clone(),
        ..TableQuery::default()
    });
    let recent = vm::recent_tasks_of(&model.state, &props.hostname, RECENT);
    let r = &d.row;
    html! {
        <section class="worker-detail" data-testid="worker-detail" data-hostname={r.hostname.clone()}
                 data-alive={r.alive.to_string()}>
            <h2>{ r.hostname.clone() }{ " " }
                <span class={classes!("badge", if r.alive { "online" } else { "offline" })}>
                    { if r.alive { "online" } else { "offline" } }</span></h2>
            <dl>
                <dt>{ "last heartbeat" }</dt><dd>{ r.heartbeat_age.clone() }</dd>
                <dt>{ "active" }</dt><dd>{ r.active.clone() }</dd>
                <dt>{ "processed" }</dt><dd>{ r.processed.clone() }</dd>
                <dt>{ "software" }</dt><dd>{ r.software.clone() }</dd>
                { for d.fields.iter().map(|(k, v)| html! { <><dt>{ *k }</dt><dd>{ v.clone() }</dd></> }) }
            </dl>
            <h3><a href={all_tasks.href()}>{ format!("Its tasks in memory: {}", d.task_count) }</a></h3>
            if recent.is_empty() {
                <p class="empty">{ "No task of this worker in memory." }</p>
            } else {
                <table class="tasks">
                    <thead><tr><th>{ "state" }</th><th>{ "name" }</th><th>{ "uuid" }</th>
                        <th>{ "received" }</th><th>{ "runtime" }</th></tr></thead>
                    <tbody>{ for recent.into_iter().map(row) }</tbody>
                </table>
            }
        </section>
    }
}

fn row(r: TaskRow) -> Html {
    html! {
        <tr key={r.uuid.clone()} class="task">
            <td><span class={classes!("state", r.state.clone())}>{ r.state.clone() }</span></td>
            <td>{ r.name }</td>
            <td class="mono"><a href={Route::Task(r.uuid.clone()).href()}>{ r.uuid }</a></td>
            <td>{ r.received }</td><td>{ r.runtime }</td>
        </tr>
    }
}
