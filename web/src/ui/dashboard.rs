//! `#/`: the cluster at a glance: tasks by state, events and new tasks per second over the last
//! five minutes, workers online, and the most recent failures.

use stalk_state::{EXTRAS_MAX, OTHER_KEYS_MAX, TASK_TYPES_MAX};
use yew::prelude::*;

use super::store::Ctx;
use crate::format;
use crate::rates::{Bucket, SPAN_SECS, polyline};
use crate::route::Route;
use crate::table::TableQuery;
use crate::vm;

/// Chart size in SVG units.
const CHART_W: f64 = 600.0;
const CHART_H: f64 = 80.0;

/// Recent failures listed.
const FAILURES_SHOWN: usize = 10;

/// The dashboard.
#[component]
pub(crate) fn Dashboard() -> Html {
    let ctx = use_context::<Ctx>().expect("context");
    let model = ctx.store.model.borrow();
    let now = super::now_secs();
    let relay_now = model.relay_now(now);
    let series = model.rates.series(now, SPAN_SECS);
    let (ev_rate, task_rate) = model.rates.mean(now, 10);
    let workers = vm::worker_rows(&model.state, relay_now);
    let online = workers.iter().filter(|w| w.alive).count();
    let counts = vm::state_counts(&model.state);
    let failures = vm::task_rows(&model.state, &model.failures.window(0, FAILURES_SHOWN));
    let by_state = |state: &str| {
        Route::Tasks(TableQuery {
            state: state.to_owned(),
            ..TableQuery::default()
        })
        .href()
    };
    let line = |pick: fn(&Bucket) -> u32| {
        let values: Vec<u32> = series.iter().map(pick).collect();
        polyline(&values, CHART_W, CHART_H)
    };
    let peak = series.iter().map(|b| b.events).max().unwrap_or(0);
    // Every loss is counted somewhere: say so, or say nothing was lost.
    let losses = model.relay_losses;
    let gap_events: u64 = model
        .gaps
        .iter()
        .map(|g| g.to.saturating_sub(g.from) + 1)
        .sum();
    let lost = losses.decode_errors + losses.broker_dropped + gap_events + model.bad_input;
    // Events kept without some of their fields, past the State's bounds (docs/state.md, 8-9).
    let (extras_refused, types_refused) = (
        model.state.extras_refused(),
        model.state.task_types_refused(),
    );
    // Every bounded structure of the State, and which ones have had to drop or refuse something.
    let bounds = model.state.bounds();
    let full: Vec<&str> = bounds
        .iter()
        .filter(|b| b.reached.unwrap_or(0) > 0)
        .map(|b| b.name)
        .collect();

    html! {
        <section class="dashboard" data-testid="dashboard">
            <div class="cards">
                <div class="card"><div class="big" data-testid="tasks-in-memory">{ model.state.task_len() }</div>
                    <div class="muted">{ "tasks in memory" }</div></div>
                <div class="card"><div class="big" data-testid="workers-online">{ format!("{online} / {}", workers.len()) }</div>
                    <div class="muted"><a href={Route::Workers.href()}>{ "workers online" }</a></div></div>
                <div class="card"><div class="big">{ format!("{ev_rate:.1}") }</div>
                    <div class="muted">{ "events/s (last 10 s)" }</div></div>
                <div class="card"><div class="big">{ format!("{task_rate:.1}") }</div>
                    <div class="muted">{ "new tasks/s (last 10 s)" }</div></div>
                <div class="card"><div class="big">{ model.state.event_count() }</div>
                    <div class="muted"><a href={Route::Events.href()}>{ "events received" }</a></div></div>
            </div>
            <p class={classes!("losses", (lost > 0).then_some("some"))} data-testid="losses"
               data-decode-errors={losses.decode_errors.to_string()}
               data-broker-dropped={losses.broker_dropped.to_string()}
               data-gap-events={gap_events.to_string()} data-unreadable={model.bad_input.to_string()}>
                if lost == 0 {
                    { "Nothing lost: every event the relay took reached this page." }
                } else {
                    { format!("Lost on the way: {} dropped by the broker before the relay read them, \
                        {} the relay could not decode, {gap_events} announced as gaps, \
                        {} unreadable here (see the relay's /metrics and docs/relay.md).",
                        losses.broker_dropped, losses.decode_errors, model.bad_input) }
                }
            </p>
            if extras_refused + types_refused > 0 {
                <p class="losses some" data-testid="kept-in-part"
                   data-extras-refused={extras_refused.to_string()}
                   data-types-refused={types_refused.to_string()}>
                    { format!("Kept in part: {extras_refused} fields not kept past the {EXTRAS_MAX} \
                        extra fields a task or worker keeps (or the {OTHER_KEYS_MAX} unknown keys an \
                        event keeps), {types_refused} task names not listed past the \
                        {TASK_TYPES_MAX} kept (docs/state.md).") }
                </p>
            }
            <details class="bounds" data-testid="bounds">
                <summary>{ format!("Memory bounds{}", if full.is_empty() { String::new() } else {
                    format!(" (reached: {})", full.join(", ")) }) }</summary>
                <table>
                    <thead><tr><th>{ "holds" }</th><th>{ "in use" }</th><th>{ "limit" }</th>
                        <th>{ "times reached" }</th><th>{ "when full" }</th></tr></thead>
                    <tbody>
                    { for bounds.iter().map(|b| html! {
                        <tr data-testid="bound" data-name={b.name} data-len={b.len.to_string()}
                            data-limit={b.limit.to_string()}
                            data-reached={b.reached.map(|n| n.to_string()).unwrap_or_default()}>
                            <td>{ b.name }</td><td>{ b.len }</td><td>{ b.limit }</td>
                            <td>{ b.reached.map_or("-".to_owned(), |n| n.to_string()) }</td>
                            <td class="muted">{ b.when_full }</td>
                        </tr>
                    }) }
                    </tbody>
                </table>
            </details>
            <h3>{ "Tasks by state" }</h3>
            if counts.is_empty() {
                <p class="empty">{ "No tasks yet. Workers must send events: start them with -E \
                    (or set worker_send_task_events = True)." }</p>
            } else {
                <ul class="state-counts">
                    { for counts.iter().map(|(s, n)| html! {
                        <li data-testid="state-count" data-state={s.clone()}>
                            <a href={by_state(s)}><span class={classes!("state", s.clone())}>{ s.clone() }</span></a>
                            { format!(" {n}") }
                        </li>
                    }) }
                </ul>
            }
            <h3>{ format!("Last 5 minutes (peak {peak} events/s)") }</h3>
            <svg class="chart" viewBox={format!("0 0 {CHART_W} {CHART_H}")} preserveAspectRatio="none"
                 role="img" aria-label="events and new tasks per second over the last five minutes">
                <polyline class="events-line" points={line(|b| b.events)} />
                <polyline class="tasks-line" points={line(|b| b.tasks)} />
            </svg>
            <p class="legend"><span class="events-key">{ "— events/s" }</span>{ "  " }
                <span class="tasks-key">{ "— new tasks/s" }</span></p>
            <h3><a href={by_state("FAILURE")}>{ "Recent failures" }</a></h3>
            if failures.is_empty() {
                <p class="empty">{ "No failed task in memory." }</p>
            } else {
                <table class="failures">
                    <thead><tr><th>{ "name" }</th><th>{ "uuid" }</th><th>{ "worker" }</th><th>{ "received" }</th></tr></thead>
                    <tbody>
                    { for failures.into_iter().map(|r| html! {
                        <tr key={r.uuid.clone()} data-testid="failure-row" data-task-id={r.uuid.clone()}>
                            <td>{ r.name }</td>
                            <td class="mono"><a href={Route::Task(r.uuid.clone()).href()}>{ r.uuid }</a></td>
                            <td>{ r.worker }</td><td>{ r.received }</td>
                        </tr>
                    }) }
                    </tbody>
                </table>
            }
            <p class="muted">{ format!("Times are UTC. Clock offset to the relay: {}.",
                format::duration(Some(model.clock_offset))) }</p>
        </section>
    }
}
