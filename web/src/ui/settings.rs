//! `#/settings`: the relay to connect to, its token, and the page's memory bounds, saved in
//! `localStorage`. Saving reloads the page: the connection and the State start again with them.

use std::rc::Rc;

use web_sys::{DragEvent, File, HtmlInputElement};
use yew::prelude::*;

use super::files::{download, read_text};
use super::store::{Action, Ctx};
use crate::model::ConnState;
use crate::offline::state_ndjson;
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
            <Recordings />
        </section>
    }
}

/// Offline mode and export: open or drop a recording to explore it without a relay; download
/// the event log or the State as NDJSON.
#[component]
fn Recordings() -> Html {
    let ctx = use_context::<Ctx>().expect("context");
    // What the last open or export did, for the user (and the tests).
    let message = use_state(|| None::<String>);
    // The last export: (label, Blob URL), shown as a link too.
    let link = use_state(|| None::<(String, String)>);

    let open: Rc<dyn Fn(File)> = {
        let (ctx, message) = (ctx.clone(), message.clone());
        Rc::new(move |file: File| {
            let (ctx, message) = (ctx.clone(), message.clone());
            yew::platform::spawn_local(async move {
                match read_text(&file).await {
                    Ok(text) => {
                        let (events, bad) = ctx.store.open_recording(&file.name(), &text);
                        ctx.dispatch.dispatch(Action::Conn(ConnState::Offline));
                        ctx.dispatch.dispatch(Action::Applied);
                        message.set(Some(format!(
                            "Opened {}: {events} events, {bad} unreadable lines skipped.",
                            file.name()
                        )));
                    }
                    Err(e) => message.set(Some(e)),
                }
            });
        })
    };
    let on_file = {
        let open = Rc::clone(&open);
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            if let Some(file) = input.files().and_then(|f| f.get(0)) {
                open(file);
            }
        })
    };
    let on_drop = {
        let open = Rc::clone(&open);
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            if let Some(file) = e
                .data_transfer()
                .and_then(|d| d.files())
                .and_then(|f| f.get(0))
            {
                open(file);
            }
        })
    };
    let on_drag_over = Callback::from(|e: DragEvent| e.prevent_default());
    let export = |what: fn(&Ctx) -> (String, String, String)| {
        let (ctx, message, link) = (ctx.clone(), message.clone(), link.clone());
        Callback::from(move |_: MouseEvent| {
            let (name, text, label) = what(&ctx);
            match download(&name, &text) {
                Some(url) => {
                    link.set(Some((format!("{name} ({label})"), url)));
                    message.set(Some(format!("Exported {label} to {name}.")));
                }
                None => message.set(Some("This browser refused the download.".to_owned())),
            }
        })
    };
    let export_events = export(|ctx| {
        let (text, n, skipped) = ctx.store.model.borrow().events.export_ndjson();
        let label = format!("{n} events, {skipped} unreadable left out");
        ("stalk-events.ndjson".to_owned(), text, label)
    });
    let export_state = export(|ctx| {
        let model = ctx.store.model.borrow();
        let now = model.relay_now(super::now_secs());
        let label = format!(
            "{} tasks, {} workers",
            model.state.task_len(),
            model.state.worker_len()
        );
        (
            "stalk-state.ndjson".to_owned(),
            state_ndjson(&model.state, now),
            label,
        )
    });
    let go_live = Callback::from(|_: MouseEvent| reload());
    let offline = ctx.store.offline();
    let rows = ctx.store.model.borrow().events.capacity();
    html! {
        <section class="recordings">
            <h2>{ "Recordings" }</h2>
            <p class="muted">{ "Open a recording (NDJSON: the raw AMQP form or the receiver form, as the \
                relay's --replay reads) to explore it without a relay. The live connection stops." }</p>
            <div class="dropzone" data-testid="dropzone" ondrop={on_drop} ondragover={on_drag_over}>
                <label>{ "Open or drop a recording here " }
                    <input type="file" accept=".ndjson,.json,.jsonl,.txt" data-testid="open-recording"
                           onchange={on_file} /></label>
            </div>
            if offline.is_some() {
                <p><button onclick={go_live}>{ "Back to the live relay" }</button></p>
            }
            <p>
                <button data-testid="export-events" onclick={export_events}>
                    { format!("Export the event log (last {rows}) as NDJSON") }</button>{ " " }
                <button data-testid="export-state" onclick={export_state}>
                    { "Export the State (tasks, workers) as NDJSON" }</button>
            </p>
            if let Some(m) = &*message { <p data-testid="files-message">{ m.clone() }</p> }
            if let Some((label, url)) = &*link {
                <p><a data-testid="export-link" href={url.clone()} download="">{ label.clone() }</a></p>
            }
        </section>
    }
}
