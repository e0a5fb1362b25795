//! The root: the store and reducer in a context, the WebSocket loop, hash routing, the gap notice.

use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use yew::prelude::*;

use super::connection;
use super::dashboard::Dashboard;
use super::events::Events;
use super::keys;
use super::nav::Nav;
use super::settings::{self, SettingsPage};
use super::store::{Ctx, Store, Ui};
use super::task::TaskPage;
use super::tasks::Tasks;
use super::tree::TreePage;
use super::worker::WorkerPage;
use super::workers::Workers;
use crate::model::Model;
use crate::route::Route;

fn current_route() -> Route {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    Route::parse(&hash)
}

/// The app.
#[component]
pub(crate) fn App() -> Html {
    let store = use_memo((), |_| {
        let saved = settings::load();
        Store::new(Model::new(saved.limits(), saved.event_rows))
    });
    let ui = use_reducer(Ui::default);
    let route = use_state(current_route);

    {
        let (store, dispatcher) = (Rc::clone(&store), ui.dispatcher());
        use_effect_with((), move |_| {
            yew::platform::spawn_local(connection::run(store, dispatcher));
        });
    }
    {
        // Time moves even when no event comes: rates decay, workers go offline, ages grow.
        let dispatcher = ui.dispatcher();
        use_effect_with((), move |_| {
            yew::platform::spawn_local(async move {
                loop {
                    yew::platform::time::sleep(std::time::Duration::from_secs(1)).await;
                    dispatcher.dispatch(super::store::Action::Tick);
                }
            });
        });
    }
    {
        let route = route.clone();
        use_effect_with((), move |_| {
            let on_hash = Closure::<dyn Fn()>::new(move || route.set(current_route()));
            if let Some(w) = web_sys::window() {
                w.set_onhashchange(Some(wasm_bindgen::JsCast::unchecked_ref(on_hash.as_ref())));
            }
            // The app lives as long as the page: the listener too.
            on_hash.forget();
            keys::install();
            // For the browser benchmark: the first render is done when this effect runs.
            if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
                let _ = p.mark("stalk:first-render");
            }
        });
    }

    {
        let title = route.title();
        use_effect_with(title, |title| {
            if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
                doc.set_title(title);
            }
        });
    }
    let ctx = Ctx {
        store: Rc::clone(&store),
        ui: (*ui).clone(),
        dispatch: ui.dispatcher(),
    };
    let gaps = store.model.borrow().gaps.clone();
    let reload = Callback::from(|_: MouseEvent| {
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    });
    let page = match &*route {
        Route::Dashboard => html! { <Dashboard /> },
        Route::Tasks(q) => html! { <Tasks query={q.clone()} /> },
        Route::Events => html! { <Events /> },
        Route::Workers => html! { <Workers /> },
        Route::Worker(host) => html! { <WorkerPage hostname={host.clone()} /> },
        Route::Settings => html! { <SettingsPage /> },
        Route::Task(id) => html! { <TaskPage uuid={id.clone()} /> },
        Route::Tree(id) => html! { <TreePage uuid={id.clone()} /> },
        Route::NotFound(h) => html! { <p class="empty">{ format!("No such page: {h}") }</p> },
    };
    html! {
        <ContextProvider<Ctx> context={ctx}>
            <Nav route={(*route).clone()} />
            if let Some(g) = gaps.last() {
                <div class="notice" data-testid="gap">
                    { format!("Events {}-{} were lost (the relay's history moved on). ", g.from, g.to) }
                    <button onclick={reload}>{ "Reload everything" }</button>
                </div>
            }
            <main>{ page }</main>
        </ContextProvider<Ctx>>
    }
}
