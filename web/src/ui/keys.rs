//! The document's keyboard listener: carries out [`crate::keymap::action`].

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{HtmlElement, KeyboardEvent};

use crate::keymap::{KeyAction, action};

/// Listens for shortcuts for the page's life.
pub(crate) fn install() {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let on_key = Closure::<dyn Fn(KeyboardEvent)>::new(move |e: KeyboardEvent| {
        let doc = web_sys::window().and_then(|w| w.document());
        let focused = doc.as_ref().and_then(|d| d.active_element());
        let in_field = focused
            .as_ref()
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"));
        let modifier = e.ctrl_key() || e.alt_key() || e.meta_key();
        let Some(what) = action(&e.key(), in_field, modifier) else {
            return;
        };
        e.prevent_default();
        match what {
            KeyAction::Go(route) => {
                if let Some(w) = web_sys::window() {
                    let _ = w.location().set_hash(&route.href());
                }
            }
            KeyAction::Search => {
                let search = doc
                    .and_then(|d| d.query_selector("input[type=search]").ok().flatten())
                    .and_then(|el| el.dyn_into::<HtmlElement>().ok());
                if let Some(s) = search {
                    let _ = s.focus();
                }
            }
            KeyAction::Blur => {
                if let Some(el) = focused.and_then(|el| el.dyn_into::<HtmlElement>().ok()) {
                    let _ = el.blur();
                }
            }
        }
    });
    let _ = doc.add_event_listener_with_callback("keydown", on_key.as_ref().unchecked_ref());
    // The page's life.
    on_key.forget();
}
