//! The task table's filter and order, as they appear in the page's address
//! (`#/tasks?state=FAILURE&worker=celery%40h&q=timeout&sort=runtime&order=asc`), so a filtered,
//! sorted table is a link like any other view.

use stalk_state::TaskState;
use stalk_state::views::{Filter, SortKey};

use crate::route::{encode, percent_decode};

/// Columns the table sorts by, with their names in the address and on screen.
pub const SORT_KEYS: [(SortKey, &str); 6] = [
    (SortKey::Timestamp, "updated"),
    (SortKey::Received, "received"),
    (SortKey::Started, "started"),
    (SortKey::Runtime, "runtime"),
    (SortKey::Name, "name"),
    (SortKey::State, "state"),
];

/// States offered by the state filter.
pub const STATES: [&str; 8] = [
    "PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE", "RETRY", "REVOKED", "REJECTED",
];

/// What the task table shows. Empty texts match everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableQuery {
    /// Only this state (a name from [`STATES`], or a custom state); empty: all.
    pub state: String,
    /// Only this task name (exact); empty: all.
    pub name: String,
    /// Only this worker hostname (exact); empty: all.
    pub worker: String,
    /// Case-insensitive text over uuid, name, args, kwargs, result and exception.
    pub text: String,
    /// The sort column.
    pub sort: SortKey,
    /// Largest first.
    pub descending: bool,
}

impl Default for TableQuery {
    fn default() -> TableQuery {
        TableQuery {
            state: String::new(),
            name: String::new(),
            worker: String::new(),
            text: String::new(),
            sort: SortKey::Timestamp,
            descending: true,
        }
    }
}

impl TableQuery {
    /// Reads the part after `?` (without it). Unknown keys and values are ignored.
    pub fn parse(query: &str) -> TableQuery {
        let mut q = TableQuery::default();
        for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
            let v = percent_decode(&v.replace('+', " "));
            match k {
                "state" => q.state = v,
                "name" => q.name = v,
                "worker" => q.worker = v,
                "q" => q.text = v,
                "sort" => {
                    if let Some((key, _)) = SORT_KEYS.iter().find(|(_, n)| *n == v) {
                        q.sort = *key;
                    }
                }
                "order" => q.descending = v != "asc",
                _ => {}
            }
        }
        q
    }

    /// The part after `?` (empty for the default table), keys in a fixed order.
    pub fn to_query(&self) -> String {
        let mut parts = Vec::new();
        for (key, value) in [
            ("state", &self.state),
            ("name", &self.name),
            ("worker", &self.worker),
            ("q", &self.text),
        ] {
            if !value.is_empty() {
                parts.push(format!("{key}={}", encode(value)));
            }
        }
        if self.sort != SortKey::Timestamp {
            parts.push(format!("sort={}", sort_name(self.sort)));
        }
        if !self.descending {
            parts.push("order=asc".to_owned());
        }
        parts.join("&")
    }

    /// The State's filter for this query.
    pub fn filter(&self) -> Filter {
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Filter {
            states: some(&self.state)
                .map(|s| vec![TaskState::from_name(&s)])
                .unwrap_or_default(),
            name: some(&self.name),
            worker: some(&self.worker),
            text: some(&self.text),
        }
    }

    /// The same query sorted by `key`: a click on the current column flips the order, a click on
    /// another one sorts it largest first.
    pub fn sorted_by(&self, key: SortKey) -> TableQuery {
        let descending = if key == self.sort {
            !self.descending
        } else {
            true
        };
        TableQuery {
            sort: key,
            descending,
            ..self.clone()
        }
    }
}

/// The address name of a sort key.
pub fn sort_name(key: SortKey) -> &'static str {
    SORT_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("updated", |(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_round_trip() {
        let q = TableQuery {
            state: "FAILURE".into(),
            name: "app.visit".into(),
            worker: "celery@h 1".into(),
            text: "a&b=c".into(),
            sort: SortKey::Runtime,
            descending: false,
        };
        let text = q.to_query();
        assert_eq!(
            text,
            "state=FAILURE&name=app.visit&worker=celery%40h%201&q=a%26b%3Dc&sort=runtime&order=asc"
        );
        assert_eq!(TableQuery::parse(&text), q);
        assert_eq!(TableQuery::default().to_query(), "");
        assert_eq!(TableQuery::parse(""), TableQuery::default());
        assert_eq!(TableQuery::parse("sort=nope&x=1&q=a+b").text, "a b");
    }

    #[test]
    fn filters_and_sorting() {
        let q = TableQuery::parse("state=FAILURE&q=%20timeout%20");
        let f = q.filter();
        assert_eq!(f.states, [TaskState::Failure]);
        assert_eq!(f.text.as_deref(), Some("timeout"));
        assert_eq!((f.name, f.worker), (None, None));
        let by_name = q.sorted_by(SortKey::Name);
        assert_eq!((by_name.sort, by_name.descending), (SortKey::Name, true));
        let flipped = by_name.sorted_by(SortKey::Name);
        assert!(!flipped.descending);
        assert_eq!(flipped.state, "FAILURE");
    }
}
