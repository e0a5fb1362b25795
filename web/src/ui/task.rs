//! `#/task/<uuid>`: every field of one task, exception and traceback preformatted, links to its
//! parent, root, children and workflow tree.

use yew::prelude::*;

use super::store::Ctx;
use crate::route::Route;
use crate::vm;

/// Properties of [`TaskPage`].
#[derive(Properties, PartialEq)]
pub(crate) struct TaskProps {
    /// The task id.
    pub(crate) uuid: String,
}

/// One task.
#[component]
pub(crate) fn TaskPage(props: &TaskProps) -> Html {
    let ctx = use_context::<Ctx>().expect("context");
    let model = ctx.store.model.borrow();
    let Some(d) = vm::task_detail(&model.state, &props.uuid) else {
        return html! {
            <p class="empty">{ format!("Task {} is not in memory (not seen yet, or evicted).", props.uuid) }</p>
        };
    };
    let timeline = model.state.task(&props.uuid).map(vm::timeline);
    let worker = model.state.task(&props.uuid).and_then(|t| t.worker.clone());
    let link = |label: &str, id: &str| {
        html! { <li>{ format!("{label} ") }<a class="mono" href={Route::Task(id.to_owned()).href()}>{ id.to_owned() }</a></li> }
    };
    html! {
        <section class="task-detail" data-testid="task-detail" data-task-id={props.uuid.clone()}>
            <h2>{ d.fields.iter().find(|(k, _)| *k == "name").map(|(_, v)| v.clone()) }</h2>
            <p><a href={Route::Tree(props.uuid.clone()).href()}>{ "workflow tree" }</a>
                if let Some(w) = worker {
                    { " · worker " }<a href={Route::Worker(w.to_string()).href()}>{ w.to_string() }</a>
                }
            </p>
            if let Some(tl) = timeline {
                <h3>{ "Timeline" }</h3>
                <ol class="timeline" data-testid="timeline">
                    { for tl.steps.iter().map(|s| html! {
                        <li data-step={s.label}>
                            <span class="step">{ s.label }</span>{ " " }<span class="mono">{ s.time.clone() }</span>
                            if s.after != "-" { <span class="muted">{ format!(" (+{})", s.after) }</span> }
                        </li>
                    }) }
                </ol>
                <p class="muted">{ format!("waited in queue {} · ran {}", tl.queue_wait, tl.run_time) }</p>
            }
            <dl>
                { for d.fields.iter().map(|(k, v)| html! { <><dt>{ *k }</dt><dd>{ v.clone() }</dd></> }) }
                { for d.extra.iter().map(|(k, v)| html! { <><dt class="extra">{ k.clone() }</dt><dd>{ v.clone() }</dd></> }) }
            </dl>
            if let Some(e) = d.exception { <h3>{ "exception" }</h3><pre data-testid="exception">{ e }</pre> }
            if let Some(t) = d.traceback { <h3>{ "traceback" }</h3><pre data-testid="traceback">{ t }</pre> }
            <ul class="links">
                { for d.parent.iter().map(|p| link("parent", p)) }
                { for d.root.iter().map(|r| link("root", r)) }
                { for d.children.iter().map(|c| link("child", c)) }
            </ul>
        </section>
    }
}
