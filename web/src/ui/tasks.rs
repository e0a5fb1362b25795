//! `#/tasks`: the live task table, virtualised (only the rows in view are in the DOM).

use web_sys::Element;
use yew::prelude::*;

use super::store::Ctx;
use crate::route::Route;
use crate::vm::{self, TaskRow};
use crate::window::window;

/// Height of one row, px (the stylesheet fixes it too).
const ROW_PX: u32 = 28;

/// The task table.
#[component]
pub(crate) fn Tasks() -> Html {
    let ctx = use_context::<Ctx>().expect("context");
    // (scrollTop, clientHeight) of the scrolling box.
    let view = use_state(|| (0u32, 800u32));
    let onscroll = {
        let view = view.clone();
        Callback::from(move |e: Event| {
            let el: Element = e.target_unchecked_into();
            view.set((
                el.scroll_top().max(0) as u32,
                el.client_height().max(0) as u32,
            ));
        })
    };
    let model = ctx.store.model.borrow();
    let total = model.query.len();
    let w = window(total, ROW_PX, view.1, view.0);
    let rows = vm::task_rows(&model.state, &model.query.window(w.offset, w.limit));
    if total == 0 {
        return html! {
            <p class="empty">{ "No tasks yet. Workers must send events: start them with -E \
                (or set worker_send_task_events = True)." }</p>
        };
    }
    html! {
        <div class="table-scroll" {onscroll}>
            <table class="tasks">
                <thead><tr>
                    <th>{ "state" }</th><th>{ "name" }</th><th>{ "uuid" }</th>
                    <th>{ "received" }</th><th>{ "runtime" }</th><th>{ "worker" }</th><th></th>
                </tr></thead>
                <tbody>
                    <tr class="pad" style={format!("height:{}px", w.pad_top)}></tr>
                    { for rows.into_iter().map(row) }
                    <tr class="pad" style={format!("height:{}px", w.pad_bottom)}></tr>
                </tbody>
            </table>
        </div>
    }
}

fn row(r: TaskRow) -> Html {
    html! {
        <tr key={r.uuid.clone()} class="task" data-testid="task-row"
            data-task-id={r.uuid.clone()} data-state={r.state.clone()}>
            <td><span class={classes!("state", r.state.clone())}>{ r.state.clone() }</span></td>
            <td>{ r.name }</td>
            <td class="mono"><a href={Route::Task(r.uuid.clone()).href()}>{ r.uuid.clone() }</a></td>
            <td>{ r.received }</td>
            <td>{ r.runtime }</td>
            <td>{ r.worker }</td>
            <td><a href={Route::Tree(r.uuid).href()} data-testid="tree-link">{ "tree" }</a></td>
        </tr>
    }
}
