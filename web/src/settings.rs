//! What the user can set in `#/settings`, remembered in the browser's `localStorage` as JSON:
//! which relay to connect to, its token, and the page's memory bounds.
//!
//! The page's URL wins over the stored values (`?relay=` / `?token=`), so a shared link opens the
//! relay it names. Bounds are clamped to sane ranges: a typo cannot make the tab allocate
//! without limit or keep nothing.

use serde::{Deserialize, Serialize};
use stalk_state::Limits;

/// The `localStorage` key.
pub const STORAGE_KEY: &str = "stalk.settings";

/// Tasks kept at most, whatever is typed.
pub const MAX_TASKS_CEILING: usize = 1_000_000;
/// Workers kept at most, whatever is typed.
pub const MAX_WORKERS_CEILING: usize = 100_000;
/// Event log rows kept at most, whatever is typed.
pub const EVENT_ROWS_CEILING: usize = 200_000;

/// The user's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// WebSocket URL of the relay (`ws://host:8080/ws`); empty: the page's own origin.
    pub relay: String,
    /// The relay's token; empty: none.
    pub token: String,
    /// Tasks the State keeps (oldest evicted first).
    pub max_tasks: usize,
    /// Workers the State keeps.
    pub max_workers: usize,
    /// Rows of the event log.
    pub event_rows: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            relay: String::new(),
            token: String::new(),
            max_tasks: 100_000,
            max_workers: 5_000,
            event_rows: crate::events::DEFAULT_CAPACITY,
        }
    }
}

impl Settings {
    /// Reads stored settings; anything unreadable gives the defaults (a broken entry must not
    /// stop the page from starting).
    pub fn load(stored: Option<&str>) -> Settings {
        stored
            .and_then(|s| serde_json::from_str::<Settings>(s).ok())
            .unwrap_or_default()
            .clamped()
    }

    /// The JSON to store.
    pub fn store(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The same settings with every bound in its range and the texts trimmed.
    pub fn clamped(mut self) -> Settings {
        self.relay = self.relay.trim().to_owned();
        self.token = self.token.trim().to_owned();
        self.max_tasks = self.max_tasks.clamp(1, MAX_TASKS_CEILING);
        self.max_workers = self.max_workers.clamp(1, MAX_WORKERS_CEILING);
        self.event_rows = self.event_rows.clamp(1, EVENT_ROWS_CEILING);
        self
    }

    /// The State's bounds.
    pub fn limits(&self) -> Limits {
        Limits {
            max_tasks: self.max_tasks,
            max_workers: self.max_workers,
        }
    }

    /// Why `relay` is not a usable WebSocket URL, if it is not (empty is fine: same origin).
    pub fn relay_problem(relay: &str) -> Option<&'static str> {
        let r = relay.trim();
        if r.is_empty() || r.starts_with("ws://") || r.starts_with("wss://") {
            None
        } else {
            Some("the relay URL must start with ws:// or wss:// (e.g. ws://127.0.0.1:8080/ws)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_defaults() {
        let s = Settings {
            relay: "ws://r:9/ws".into(),
            token: "t".into(),
            max_tasks: 500,
            max_workers: 7,
            event_rows: 42,
        };
        assert_eq!(Settings::load(Some(&s.store())), s);
        assert_eq!(Settings::load(None), Settings::default());
        assert_eq!(Settings::load(Some("{broken")), Settings::default());
        // Missing keys take their defaults; unknown keys are ignored.
        let partial = Settings::load(Some(r#"{"max_tasks": 20, "future": true}"#));
        assert_eq!(
            (partial.max_tasks, partial.max_workers),
            (20, Settings::default().max_workers)
        );
    }

    #[test]
    fn bounds_are_clamped() {
        let s = Settings::load(Some(
            r#"{"max_tasks": 0, "max_workers": 99999999, "event_rows": 0, "relay": " ws://x/ws "}"#,
        ));
        assert_eq!(
            (s.max_tasks, s.max_workers, s.event_rows, s.relay.as_str()),
            (1, MAX_WORKERS_CEILING, 1, "ws://x/ws")
        );
        assert_eq!(s.limits().max_tasks, 1);
    }

    #[test]
    fn relay_urls_are_checked() {
        assert_eq!(Settings::relay_problem(""), None);
        assert_eq!(Settings::relay_problem("wss://h/ws"), None);
        assert!(Settings::relay_problem("http://h/ws").is_some());
    }
}
