//! `stalk-web`: the browser app. The State crate runs in the page, fed by the relay's WebSocket.
//!
//! Logic lives in plain modules with native unit tests (`cargo test -p stalk-web`); the Yew
//! components in `ui` only exist for `wasm32` and only lay out what the logic computed.

pub mod backoff;
pub mod bench;
pub mod events;
pub mod format;
pub mod held;
pub mod keymap;
pub mod model;
pub mod offline;
pub mod protocol;
pub mod rates;
pub mod relay_url;
pub mod route;
pub mod settings;
pub mod table;
pub mod treeview;
pub mod vm;
pub mod window;

#[cfg(target_arch = "wasm32")]
pub mod ui;
