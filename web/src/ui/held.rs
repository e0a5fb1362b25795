//! [`crate::held::Held`] as a hook: a streaming table's rows, redrawn at most every so often.

use std::time::Duration;

use yew::prelude::*;

use crate::held::Held;

/// How often, at most, a streaming table (the task table, the event log) redraws its rows while
/// events stream in, seconds.
const EVERY: f64 = 0.25;

/// The value for `key`, from `draw()` when `key` changed or the held value is [`EVERY`] old, else
/// the held one; in that case the component is drawn again once the value is due, so the last
/// events show even when nothing else comes to redraw it.
#[hook]
pub(crate) fn use_held<K, V, F>(key: K, draw: F) -> V
where
    K: PartialEq + 'static,
    V: Clone + 'static,
    F: FnOnce() -> V,
{
    let held = use_mut_ref(Held::<K, V>::default);
    let pending = use_mut_ref(|| false);
    let redraw = use_force_update();
    let (value, stale) = {
        let mut held = held.borrow_mut();
        let (v, stale) = held.get(key, super::now_secs(), EVERY, draw);
        (v.clone(), stale)
    };
    if stale && !pending.replace(true) {
        yew::platform::spawn_local(async move {
            yew::platform::time::sleep(Duration::from_secs_f64(EVERY)).await;
            *pending.borrow_mut() = false;
            redraw.force_update();
        });
    }
    value
}
