//! `#/settings`: the relay to connect to, its token, and the page's memory bounds, saved in
//! `localStorage`. Saving reloads the page: the connection and the State start again with them.

use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::settings::{
    EVENT_ROWS_CEILING, MAX_TASKS_CEILING, MAX_WORKERS_CEILING, STORAGE_KEY, Settings,
};

/// Reads the saved settings (defaults when none, or when storage is unavailable).
pub(crate) fn load() -> Settings {
    let stored = storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
    Settings::load(stored.as_deref())
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn reload() {
    if let Some(w) = web_sys::window() {
        let _ = w.location().reload();
    }
}

/// The settings form.
#[component]
pub(crate) fn SettingsPage() -> Html {
    let draft = use_state(load);
    let problem = Settings::relay_problem(&draft.relay);
    let text = |set: fn(&mut Settings, String)| {
        let draft = draft.clone();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let mut s = (*draft).clone();
            set(&mut s, input.value());
            draft.set(s);
        })
    };
    let number = |set: fn(&mut Settings, usize)| {
        let draft = draft.clone();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            if let Ok(n) = input.value().trim().parse::<usize>() {
                let mut s = (*draft).clone();
                set(&mut s, n);
                draft.set(s);
            }
        })
    };
    let save = {
        let draft = draft.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if Settings::relay_problem(&draft.relay).is_some() {
                return;
            }
            if let Some(s) = storage() {
                let _ = s.set_item(STORAGE_KEY, &(*draft).clone().clamped().store());
            }
            reload();
        })
    };
    let defaults = Callback::from(|_: MouseEvent| {
        if let Some(s) = storage() {
            let _ = s.remove_item(STORAGE_KEY);
        }
        reload();
    });
    let d = &*draft;
    html! {
        <section class="settings">
            <h2>{ "Settings" }</h2>
            <p class="muted">{ "Saved in this browser. A ?relay= or ?token= in the page's address wins over them." }</p>
            <form onsubmit={save} data-testid="settings-form">
                <label>{ "Relay WebSocket URL" }
                    <input type="text" data-testid="setting-relay" placeholder="empty: this page's own relay (/ws)"
                           value={d.relay.clone()} oninput={text(|s, v| s.relay = v)} /></label>
                if let Some(p) = problem { <p class="error">{ p }</p> }
                <label>{ "Token" }
                    <input type="password" data-testid="setting-token" autocomplete="off"
                           value={d.token.clone()} oninput={text(|s, v| s.token = v)} /></label>
                <label>{ format!("Tasks kept in memory (oldest evicted first; at most {MAX_TASKS_CEILING})") }
                    <input type="number" min="1" max={MAX_TASKS_CEILING.to_string()} data-testid="setting-max-tasks"
                           value={d.max_tasks.to_string()} oninput={number(|s, n| s.max_tasks = n)} /></label>
                <label>{ format!("Workers kept in memory (at most {MAX_WORKERS_CEILING})") }
                    <input type="number" min="1" max={MAX_WORKERS_CEILING.to_string()}
                           value={d.max_workers.to_string()} oninput={number(|s, n| s.max_workers = n)} /></label>
                <label>{ format!("Event log rows (at most {EVENT_ROWS_CEILING})") }
                    <input type="number" min="1" max={EVENT_ROWS_CEILING.to_string()}
                           value={d.event_rows.to_string()} oninput={number(|s, n| s.event_rows = n)} /></label>
                <p>
                    <button type="submit" disabled={problem.is_some()}>{ "Save and reload" }</button>{ " " }
                    <button type="button" onclick={defaults}>{ "Back to defaults" }</button>
                </p>
            </form>
        </section>
    }
}
