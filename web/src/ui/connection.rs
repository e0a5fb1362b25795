//! The WebSocket loop: connect, read `hello`, queue frames for the next animation frame, and on
//! close reconnect with backoff, resuming with `since` (or from scratch after a relay restart).

use std::rc::Rc;
use std::time::Duration;

use futures::StreamExt;
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use yew::UseReducerDispatcher;
use yew::platform::time::sleep;

use super::store::{Action, Store, Ui};
use crate::backoff::Backoff;
use crate::model::{ConnState, Resume};
use crate::protocol::{self, Frame};
use crate::relay_url::relay_url;

/// Runs forever (for the page's life).
pub(crate) async fn run(store: Rc<Store>, ui: UseReducerDispatcher<Ui>) {
    let mut backoff = Backoff::default();
    // Offline mode (a recording opened in the page) ends the loop for good.
    while store.offline().is_none() {
        // Apply what is queued first, so `since` is the last event we really hold.
        if store.flush() {
            ui.dispatch(Action::Applied);
        }
        let since = store.model.borrow().since();
        ui.dispatch(Action::Conn(ConnState::Connecting));
        let url = url(since);
        match WebSocket::open(&url) {
            Ok(ws) => session(ws, &store, &ui, &mut backoff).await,
            Err(e) => warn(&format!("stalk: cannot open {url}: {e}")),
        }
        ui.dispatch(Action::Conn(ConnState::Closed));
        let wait = backoff.next_ms(js_sys::Math::random());
        sleep(Duration::from_millis(u64::from(wait))).await;
    }
}

/// One connection, until it closes.
async fn session(
    mut ws: WebSocket,
    store: &Rc<Store>,
    ui: &UseReducerDispatcher<Ui>,
    backoff: &mut Backoff,
) {
    let mut first = true;
    while let Some(msg) = ws.next().await {
        if store.offline().is_some() {
            return; // dropping the socket closes it
        }
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Bytes(_)) => continue, // protocol v1 sends text only
            Err(e) => {
                warn(&format!("stalk: relay connection lost: {e}"));
                return;
            }
        };
        if std::mem::take(&mut first) {
            let Ok(Frame::Hello {
                instance,
                now,
                broker,
                ..
            }) = protocol::parse(&text)
            else {
                warn("stalk: the first frame is not a relay hello; retrying later");
                return;
            };
            backoff.reset();
            let resume =
                store
                    .model
                    .borrow_mut()
                    .hello(instance.as_deref(), now, broker, super::now_secs());
            if resume == Resume::Restarted {
                // Our `since` meant nothing to this relay: start over from its whole history.
                store.discard();
                store.model.borrow_mut().reset();
                ui.dispatch(Action::Applied);
                return;
            }
            ui.dispatch(Action::Conn(ConnState::Open));
            ui.dispatch(Action::Applied);
            continue;
        }
        store.push(text, ui);
    }
}

fn url(since: Option<u64>) -> String {
    let loc = web_sys::window().map(|w| w.location());
    let get = |f: fn(&web_sys::Location) -> Result<String, wasm_bindgen::JsValue>| {
        loc.as_ref().and_then(|l| f(l).ok()).unwrap_or_default()
    };
    relay_url(
        &get(web_sys::Location::protocol),
        &get(web_sys::Location::host),
        &get(web_sys::Location::search),
        &super::settings::load(),
        since,
    )
}

fn warn(msg: &str) {
    web_sys::console::warn_1(&msg.into());
}
