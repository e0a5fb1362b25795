//! `#/tasks`: the live task table, virtualised (only the rows in view are in the DOM), filtered
//! and sorted by what the address says (`#/tasks?state=FAILURE&sort=runtime`): the controls
//! change the address, the address drives the table, so every table is a link.

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::held::use_held;
use super::scroll::use_scroll_box;
use super::store::Ctx;
use crate::route::Route;
use crate::table::{SORT_KEYS, STATES, TableQuery};
use crate::vm::{self, TaskRow};
use crate::window::window;

/// Height of one row, px (the stylesheet fixes it too).
const ROW_PX: u32 = 28;

/// Properties of [`Tasks`].
#[derive(Properties, PartialEq)]
pub(crate) struct TasksProps {
    /// Filter and order, from the address.
    pub(crate) query: TableQuery,
}

/// Goes to the table with `q` (the route change redraws it).
fn go(q: &TableQuery) {
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_hash(&Route::Tasks(q.clone()).href());
    }
}

/// The task table.
#[component]
pub(crate) fn Tasks(props: &TasksProps) -> Html {
    let ctx = use_context::<Ctx>().expect("context");
    let (view, onscroll) = use_scroll_box();
    let q = &props.query;
    {
        // The address changed the filter or order: rebuild the query once (idempotent).
        let mut model = ctx.store.model.borrow_mut();
        let filter = q.filter();
        if *model.query.filter() != filter || model.query.sort() != (q.sort, q.descending) {
            model.set_query(filter, q.sort, q.descending);
        }
    }
    let model = ctx.store.model.borrow();
    let total = model.query.len();
    // The rows: at most every 250 ms while tasks stream in (see `crate::held`), at once when the
    // query or the scroll position changes.
    let (w, rows) = use_held((q.clone(), view), || {
        let w = window(total, ROW_PX, view.1, view.0);
        (
            w,
            vm::task_rows(&model.state, &model.query.window(w.offset, w.limit)),
        )
    });

    let select = |set: fn(&mut TableQuery, String)| {
        let q = q.clone();
        Callback::from(move |e: Event| {
            let el: HtmlSelectElement = e.target_unchecked_into();
            let mut next = q.clone();
            set(&mut next, el.value());
            go(&next);
        })
    };
    let on_text = {
        let q = q.clone();
        Callback::from(move |e: InputEvent| {
            let el: HtmlInputElement = e.target_unchecked_into();
            go(&TableQuery {
                text: el.value(),
                ..q.clone()
            });
        })
    };
    let option = |value: &str, current: &str| {
        html! { <option value={value.to_owned()} selected={value == current}>{ value.to_owned() }</option> }
    };
    let names = model.state.task_types();
    let mut workers: Vec<&str> = model.state.workers().map(|w| &*w.hostname).collect();
    workers.sort_unstable();
    let header = |label: &'static str| {
        let Some((key, name)) = SORT_KEYS.iter().find(|(_, n)| *n == label) else {
            return html! { <th>{ label }</th> };
        };
        let next = q.sorted_by(*key);
        let arrow = match (q.sort == *key, q.descending) {
            (false, _) => "",
            (true, true) => " ▼",
            (true, false) => " ▲",
        };
        html! {
            <th><a href={Route::Tasks(next).href()} data-testid={format!("sort-{name}")}
                   aria-sort={if q.sort == *key { if q.descending { "descending" } else { "ascending" } } else { "none" }}>
                { format!("{label}{arrow}") }</a></th>
        }
    };
    let filtered = *q
        != TableQuery {
            sort: q.sort,
            descending: q.descending,
            ..TableQuery::default()
        };

    html! {
        <section>
            <div class="toolbar">
                <select data-testid="task-state-filter" onchange={select(|q, v| q.state = v)} aria-label="state">
                    <option value="" selected={q.state.is_empty()}>{ "all states" }</option>
                    { for STATES.iter().map(|s| option(s, &q.state)) }
                </select>
                <select data-testid="task-name-filter" onchange={select(|q, v| q.name = v)} aria-label="task name">
                    <option value="" selected={q.name.is_empty()}>{ "all task names" }</option>
                    { for names.iter().map(|n| option(n, &q.name)) }
                </select>
                <select data-testid="task-worker-filter" onchange={select(|q, v| q.worker = v)} aria-label="worker">
                    <option value="" selected={q.worker.is_empty()}>{ "all workers" }</option>
                    { for workers.iter().map(|h| option(h, &q.worker)) }
                </select>
                <input type="search" data-testid="task-text-filter" value={q.text.clone()} oninput={on_text}
                       placeholder="search uuid, args, kwargs, result, exception ( / )" />
                <span class="muted" data-testid="task-count">
                    { format!("{total} of {} tasks", model.state.task_len()) }</span>
                if filtered {
                    <a href={Route::Tasks(TableQuery { sort: q.sort, descending: q.descending, ..TableQuery::default() }).href()}>
                        { "clear filters" }</a>
                }
            </div>
            if model.state.task_len() == 0 {
                <p class="empty">{ "No tasks yet. Workers must send events: start them with -E \
                    (or set worker_send_task_events = True)." }</p>
            } else if total == 0 {
                <p class="empty">{ "No task matches these filters." }</p>
            } else {
                <div class="table-scroll" {onscroll}>
                    <table class="tasks">
                        <thead><tr>
                            { header("state") }{ header("name") }<th>{ "uuid" }</th>
                            { header("received") }{ header("started") }{ header("runtime") }
                            <th>{ "worker" }</th><th></th>
                        </tr></thead>
                        <tbody>
                            <tr class="pad" style={format!("height:{}px", w.pad_top)}></tr>
                            { for rows.into_iter().map(row) }
                            <tr class="pad" style={format!("height:{}px", w.pad_bottom)}></tr>
                        </tbody>
                    </table>
                </div>
            }
        </section>
    }
}

fn row(r: TaskRow) -> Html {
    html! {
        <tr class="task" data-testid="task-row"
            data-task-id={r.uuid.clone()} data-state={r.state.clone()}>
            <td><span class={classes!("state", r.state.clone())}>{ r.state.clone() }</span></td>
            <td>{ r.name }</td>
            <td class="mono"><a href={Route::Task(r.uuid.clone()).href()}>{ r.uuid.clone() }</a></td>
            <td>{ r.received }</td>
            <td>{ r.started }</td>
            <td>{ r.runtime }</td>
            <td>if r.worker == "-" { { "-" } } else {
                <a href={Route::Worker(r.worker.clone()).href()}>{ r.worker }</a> }</td>
            <td><a href={Route::Tree(r.uuid).href()} data-testid="tree-link">{ "tree" }</a></td>
        </tr>
    }
}
