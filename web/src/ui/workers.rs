//! `#/workers`: every worker, alive or not judged on the relay's clock.

use yew::prelude::*;

use super::store::Ctx;
use crate::route::Route;
use crate::vm;

/// The worker list.
#[component]
pub(crate) fn Workers() -> Html {
    let ctx = use_context::<Ctx>().expect("context");
    let model = ctx.store.model.borrow();
    let rows = vm::worker_rows(&model.state, model.relay_now(super::now_secs()));
    if rows.is_empty() {
        return html! { <p class="empty">{ "No workers seen yet. Workers announce themselves with \
        worker-online and heartbeats once they run with -E (or worker_send_task_events = True)." }</p> };
    }
    html! {
        <table class="workers">
            <thead><tr>
                <th>{ "hostname" }</th><th>{ "status" }</th><th>{ "last heartbeat" }</th>
                <th>{ "active" }</th><th>{ "processed" }</th><th>{ "software" }</th>
            </tr></thead>
            <tbody>
            { for rows.into_iter().map(|w| html! {
                <tr key={w.hostname.clone()} data-testid="worker-row"
                    data-hostname={w.hostname.clone()} data-alive={w.alive.to_string()}>
                    <td><a href={Route::Worker(w.hostname.clone()).href()}>{ w.hostname }</a></td>
                    <td>{ if w.alive { "online" } else { "offline" } }</td>
                    <td>{ w.heartbeat_age }</td>
                    <td>{ w.active }</td><td>{ w.processed }</td><td>{ w.software }</td>
                </tr>
            }) }
            </tbody>
        </table>
    }
}
