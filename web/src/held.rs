//! Rows held between redraws: a table whose rows stream in redraws them at most every so often,
//! but at once when what the reader asked for (filter, order, scroll position) changes.
//!
//! At 5,000 events/s, newest first, every row of the task table changes at every animation frame.
//! Laying out a screenful of fresh rows costs the browser ~9 ms on a slow machine, so redrawing
//! them 30 times a second took most of every frame; nobody reads rows that move that fast.

/// A drawn value (the rows, and the window they fill) with what it was drawn for and when.
#[derive(Debug)]
pub struct Held<K, V> {
    drawn: Option<(K, f64, V)>,
}

impl<K, V> Default for Held<K, V> {
    fn default() -> Self {
        Held { drawn: None }
    }
}

impl<K: PartialEq, V> Held<K, V> {
    /// The value for `key` at time `now` (seconds): the held one while it is for the same key and
    /// younger than `every` seconds, else `draw()`, held from now on. The flag is `true` when the
    /// held value was returned (so it may be stale: the caller redraws later).
    pub fn get(&mut self, key: K, now: f64, every: f64, draw: impl FnOnce() -> V) -> (&V, bool) {
        let fresh =
            matches!(&self.drawn, Some((k, at, _)) if *k == key && now - at < every && now >= *at);
        if !fresh {
            self.drawn = Some((key, now, draw()));
        }
        let (_, _, v) = self.drawn.as_ref().expect("drawn above");
        (v, fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redraws_on_a_new_key_at_once_and_otherwise_only_when_old() {
        let mut h = Held::default();
        let mut draws = 0;
        let mut get = |key: &str, now: f64| {
            let (v, held) = h.get(key.to_owned(), now, 0.25, || {
                draws += 1;
                draws
            });
            (*v, held)
        };
        assert_eq!(get("all", 10.0), (1, false), "first draw");
        assert_eq!(get("all", 10.1), (1, true), "held");
        assert_eq!(get("all", 10.24), (1, true), "still held");
        assert_eq!(get("all", 10.25), (2, false), "old: redrawn");
        assert_eq!(get("FAILURE", 10.26), (3, false), "new filter: at once");
        assert_eq!(
            get("FAILURE", 9.0),
            (4, false),
            "a clock that went back redraws"
        );
    }
}
