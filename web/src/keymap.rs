//! Keyboard shortcuts: what a key press means. Pure, so it is tested natively; `ui::keys`
//! listens on the document and carries it out.
//!
//! | key | does |
//! |---|---|
//! | `1` .. `5` | dashboard, tasks, events, workers, settings |
//! | `/` | focus the page's search box |
//! | `Escape` | leave the field being typed in |
//!
//! Keys typed into a field stay text (only `Escape` is taken there), and keys with Ctrl, Alt or
//! Meta are left to the browser.

use crate::route::Route;

/// What a key does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyAction {
    /// Go to this page.
    Go(Route),
    /// Focus the search box.
    Search,
    /// Leave the focused field.
    Blur,
}

/// The action of `key` (a `KeyboardEvent.key`), or `None` to let the browser have it.
/// `in_field`: the focus is in an input, select or text area.
pub fn action(key: &str, in_field: bool, modifier: bool) -> Option<KeyAction> {
    if modifier {
        return None;
    }
    if in_field {
        return (key == "Escape").then_some(KeyAction::Blur);
    }
    let go = |r: Route| Some(KeyAction::Go(r));
    match key {
        "1" => go(Route::Dashboard),
        "2" => go(Route::Tasks(Default::default())),
        "3" => go(Route::Events),
        "4" => go(Route::Workers),
        "5" => go(Route::Settings),
        "/" => Some(KeyAction::Search),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            action("3", false, false),
            Some(KeyAction::Go(Route::Events))
        );
        assert_eq!(action("/", false, false), Some(KeyAction::Search));
        assert_eq!(action("3", true, false), None, "typing a 3 in a field");
        assert_eq!(action("Escape", true, false), Some(KeyAction::Blur));
        assert_eq!(action("1", false, true), None, "Ctrl+1 is the browser's");
        assert_eq!(action("x", false, false), None);
    }
}
