//! The top bar: links to the views, the connection indicator, counters.

use yew::prelude::*;

use super::indicator::Indicator;
use super::store::Ctx;
use crate::route::Route;

/// Properties of [`Nav`].
#[derive(Properties, PartialEq)]
pub(crate) struct NavProps {
    /// The page shown, to highlight its link.
    pub(crate) route: Route,
}

/// The top bar.
#[component]
pub(crate) fn Nav(props: &NavProps) -> Html {
    let ctx = use_context::<Ctx>().expect("context");
    let model = ctx.store.model.borrow();
    let link = |r: Route, label: &str| {
        let current = std::mem::discriminant(&r) == std::mem::discriminant(&props.route)
            || (r == Route::Workers && matches!(props.route, Route::Worker(_)));
        html! { <a href={r.href()} class={classes!(current.then_some("current"))}>{ label }</a> }
    };
    html! {
        <header>
            <a class="brand" href="#/" title="keys: 1-5 pages, / search, Esc leave a field">{ "stalk" }</a>
            { link(Route::Dashboard, "Dashboard") }
            { link(Route::Tasks(Default::default()), "Tasks") }
            { link(Route::Events, "Events") }
            { link(Route::Workers, "Workers") }
            { link(Route::Settings, "Settings") }
            <span class="stats">
                { format!("{} tasks · {} workers · {} events", model.state.task_len(),
                    model.state.worker_len(), model.state.event_count()) }
            </span>
            <Indicator />
        </header>
    }
}
