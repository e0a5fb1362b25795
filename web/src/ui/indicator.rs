//! The connection indicator (`data-testid="connection"`, `data-state`), with the broker state.

use yew::prelude::*;

use super::store::Ctx;

/// Shows the WebSocket and broker states.
#[component]
pub(crate) fn Indicator() -> Html {
    let ctx = use_context::<Ctx>().expect("context");
    let conn = ctx.ui.conn;
    let model = ctx.store.model.borrow();
    if let Some(file) = ctx.store.offline() {
        return html! {
            <span class="conn offline" data-testid="connection" data-state="offline" title="no relay">
                { format!("offline: {file}") }
            </span>
        };
    }
    let broker = if model.broker.state.is_empty() {
        String::new()
    } else {
        format!(" · broker {}", model.broker.state)
    };
    html! {
        <span class={classes!("conn", conn.as_str())} data-testid="connection"
              data-state={conn.as_str()} data-broker={model.broker.state.clone()}
              title={model.broker.url.clone()}>
            { format!("relay {}{broker}", conn.as_str()) }
        </span>
    }
}
