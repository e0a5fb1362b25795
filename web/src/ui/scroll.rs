//! The scroll position of a virtualised table's box, for [`crate::window::window`].

use web_sys::Element;
use yew::prelude::*;

/// `(scrollTop, clientHeight)` of the box (800 px high until it first scrolls), and the
/// `onscroll` callback that keeps it current.
#[hook]
pub(crate) fn use_scroll_box() -> ((u32, u32), Callback<Event>) {
    let view = use_state(|| (0u32, 800u32));
    let onscroll = {
        let view = view.clone();
        Callback::from(move |e: Event| {
            let el: Element = e.target_unchecked_into();
            view.set((
                el.scroll_top().max(0) as u32,
                el.client_height().max(0) as u32,
            ));
        })
    };
    (*view, onscroll)
}
