//! `#/events`: the live event log, newest first, one row per event with the task's merged state
//! after it; filter by type, state and text; pause to read while events keep arriving.
//! Virtualised like the task table.

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::held::use_held;
use super::scroll::use_scroll_box;
use super::store::Ctx;
use crate::events::{EventFilter, EventRow, RowKind};
use crate::format;
use crate::route::Route;
use crate::window::window;

/// Height of one row, px (the stylesheet fixes it too).
const ROW_PX: u32 = 28;

/// States offered by the state filter: the tasks' and the workers'.
fn states() -> impl Iterator<Item = &'static str> {
    crate::table::STATES.into_iter().chain(["ALIVE", "OFFLINE"])
}

/// The events page.
#[component]
pub(crate) fn Events() -> Html {
    let ctx = use_context::<Ctx>().expect("context");
    let filter = use_state(EventFilter::default);
    // `Some(seq)`: paused, showing events up to `seq`.
    let paused = use_state(|| None::<u64>);
    let (view, onscroll) = use_scroll_box();

    let model = ctx.store.model.borrow();
    let log = &model.events;
    let set = |apply: fn(&mut EventFilter, String)| {
        let filter = filter.clone();
        move |value: String| {
            let mut f = (*filter).clone();
            apply(&mut f, value);
            filter.set(f);
        }
    };
    let on_type = select_value(set(|f, v| f.event_type = v));
    let on_state = select_value(set(|f, v| f.state = v));
    let on_text = {
        let set_text = set(|f, v| f.text = v);
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            set_text(input.value());
        })
    };
    let toggle = {
        let paused = paused.clone();
        let last = model.last_seq;
        Callback::from(move |_: MouseEvent| {
            paused.set(if paused.is_some() { None } else { Some(last) })
        })
    };

    // Drawn at most every 250 ms while events stream in (see `crate::held`): the number shown,
    // the window and its rows.
    let (shown, w, rows) = use_held(((*filter).clone(), *paused, view), || {
        let selected = log.select(&filter, *paused);
        let w = window(selected.len(), ROW_PX, view.1, view.0);
        let rows: Vec<EventRow> = selected[w.offset..w.offset + w.limit]
            .iter()
            .filter_map(|&i| log.get(i).cloned())
            .collect();
        (selected.len(), w, rows)
    });
    let held_back = paused.map_or(0, |p| model.last_seq.saturating_sub(p));
    let mut types: Vec<String> = ["task-*", "worker-*"].map(str::to_owned).to_vec();
    types.extend(log.types().iter().map(|t| t.to_string()));
    let option = |value: &str, current: &str| {
        html! { <option value={value.to_owned()} selected={value == current}>{ value.to_owned() }</option> }
    };

    html! {
        <section class="events">
            <div class="toolbar">
                <label>{ "type " }
                    <select data-testid="event-type-filter" onchange={on_type}>
                        <option value="" selected={filter.event_type.is_empty()}>{ "all" }</option>
                        { for types.iter().map(|t| option(t, &filter.event_type)) }
                    </select>
                </label>
                <label>{ "state " }
                    <select data-testid="event-state-filter" onchange={on_state}>
                        <option value="" selected={filter.state.is_empty()}>{ "all" }</option>
                        { for states().map(|s| option(s, &filter.state)) }
                    </select>
                </label>
                <input type="search" placeholder="task name, uuid or sender" data-testid="event-text-filter"
                       value={filter.text.clone()} oninput={on_text} />
                <button data-testid="event-pause" data-paused={paused.is_some().to_string()} onclick={toggle}>
                    { if paused.is_some() { "Resume" } else { "Pause" } }
                </button>
                <span class="muted" data-testid="event-count">
                    { format!("{shown} shown · {} kept (last {}) · {} older let go", log.len(),
                        log.capacity(), log.dropped()) }
                    if held_back > 0 { { format!(" · {held_back} new while paused") } }
                </span>
            </div>
            if log.is_empty() {
                <p class="empty">{ "No events yet. Workers send events when started with -E \
                    (or worker_send_task_events = True); task-sent needs task_send_sent_event = True." }</p>
            } else {
                <div class="table-scroll" {onscroll}>
                    <table class="events">
                        <thead><tr>
                            <th>{ "time (UTC)" }</th><th>{ "event" }</th><th>{ "name" }</th>
                            <th>{ "state" }</th><th>{ "uuid" }</th><th>{ "sender" }</th><th>{ "note" }</th>
                        </tr></thead>
                        <tbody>
                            <tr class="pad" style={format!("height:{}px", w.pad_top)}></tr>
                            { for rows.iter().map(row) }
                            <tr class="pad" style={format!("height:{}px", w.pad_bottom)}></tr>
                        </tbody>
                    </table>
                </div>
            }
        </section>
    }
}

/// A `change` callback handing the `<select>`'s value to `set`.
fn select_value(set: impl Fn(String) + 'static) -> Callback<Event> {
    Callback::from(move |e: Event| {
        let select: HtmlSelectElement = e.target_unchecked_into();
        set(select.value());
    })
}

fn row(r: &EventRow) -> Html {
    let subject = match r.kind {
        RowKind::Task if !r.uuid.is_empty() => html! {
            <>
                <a class="mono" href={Route::Task(r.uuid.to_string()).href()}>{ r.uuid.to_string() }</a>
                { " " }<a href={Route::Tree(r.uuid.to_string()).href()} data-testid="event-tree-link">{ "tree" }</a>
            </>
        },
        RowKind::Worker => html! {
            <a href={Route::Worker(r.name.to_string()).href()}>{ r.name.to_string() }</a>
        },
        _ => html! { <span class="mono">{ r.uuid.to_string() }</span> },
    };
    html! {
        <tr class={classes!("event", r.kind.as_str())} data-testid="event-row"
            data-seq={r.seq.to_string()} data-type={r.type_name.to_string()} data-kind={r.kind.as_str()}
            data-task-id={r.uuid.to_string()} data-state={r.state.to_string()}>
            <td class="mono">{ format::time(r.timestamp) }</td>
            <td>{ r.type_name.to_uppercase() }</td>
            <td>{ if r.kind == RowKind::Worker { "-".to_owned() } else { r.name.to_string() } }</td>
            <td><span class={classes!("state", r.state.to_string())}>{ r.state.to_string() }</span></td>
            <td>{ subject }</td>
            <td>{ r.sender.to_string() }</td>
            <td class="note">{ r.note.clone() }</td>
        </tr>
    }
}
