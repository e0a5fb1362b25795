//! The Yew components (wasm32 only). They read the [`crate::model::Model`] through a context and
//! lay out what [`crate::vm`] computed; all event strings go into text nodes, never HTML.

mod app;
pub mod bench;
mod connection;
mod dashboard;
mod events;
mod files;
mod held;
mod indicator;
mod keys;
mod nav;
mod scroll;
mod settings;
mod store;
mod task;
mod tasks;
mod tree;
mod worker;
mod workers;

use wasm_bindgen::prelude::wasm_bindgen;

/// Entry point, run by the generated JS's `init()`.
#[wasm_bindgen(start)]
pub fn start() {
    yew::Renderer::<app::App>::new().render();
}

/// Our clock, unix seconds.
fn now_secs() -> f64 {
    js_sys::Date::now() / 1000.0
}
