//! Hash routes (`#/tasks`, `#/task/<uuid>`, ...): any static server can host the app, and every
//! view is a link.

use crate::table::TableQuery;

/// A page of the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `#/` (also the default): counts, rates, workers, recent failures.
    Dashboard,
    /// `#/tasks`, optionally `?state=..&worker=..&sort=..` ([`TableQuery`]).
    Tasks(TableQuery),
    /// `#/events`: the live event log.
    Events,
    /// `#/task/<uuid>`.
    Task(String),
    /// `#/tree/<uuid>`.
    Tree(String),
    /// `#/workers`.
    Workers,
    /// `#/worker/<hostname>`.
    Worker(String),
    /// `#/settings`: relay, token, bounds.
    Settings,
    /// Anything else.
    NotFound(String),
}

impl Route {
    /// Reads `location.hash` (with or without the leading `#`). Ids are percent-decoded.
    pub fn parse(hash: &str) -> Route {
        let path = hash.trim_start_matches('#').trim_start_matches('/');
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let (head, rest) = path.split_once('/').unwrap_or((path, ""));
        match (head, rest) {
            ("", "") => Route::Dashboard,
            ("tasks", "") => Route::Tasks(TableQuery::parse(query)),
            ("events", "") => Route::Events,
            ("workers", "") => Route::Workers,
            ("settings", "") => Route::Settings,
            ("worker", id) if !id.is_empty() => Route::Worker(percent_decode(id)),
            ("task", id) if !id.is_empty() => Route::Task(percent_decode(id)),
            ("tree", id) if !id.is_empty() => Route::Tree(percent_decode(id)),
            _ => Route::NotFound(hash.to_owned()),
        }
    }

    /// The page's title (the browser tab's): what it shows, then `stalk`.
    pub fn title(&self) -> String {
        let what = match self {
            Route::Dashboard => "Dashboard".to_owned(),
            Route::Tasks(_) => "Tasks".to_owned(),
            Route::Events => "Events".to_owned(),
            Route::Task(id) => format!("Task {id}"),
            Route::Tree(id) => format!("Workflow of {id}"),
            Route::Workers => "Workers".to_owned(),
            Route::Worker(host) => format!("Worker {host}"),
            Route::Settings => "Settings".to_owned(),
            Route::NotFound(_) => "No such page".to_owned(),
        };
        format!("{what} · stalk")
    }

    /// The `href` of this route.
    pub fn href(&self) -> String {
        match self {
            Route::Dashboard => "#/".to_owned(),
            Route::Tasks(q) => match q.to_query() {
                query if query.is_empty() => "#/tasks".to_owned(),
                query => format!("#/tasks?{query}"),
            },
            Route::Events => "#/events".to_owned(),
            Route::Workers => "#/workers".to_owned(),
            Route::Worker(host) => format!("#/worker/{}", encode(host)),
            Route::Settings => "#/settings".to_owned(),
            Route::Task(id) => format!("#/task/{}", encode(id)),
            Route::Tree(id) => format!("#/tree/{}", encode(id)),
            Route::NotFound(h) => h.clone(),
        }
    }
}

/// Percent-encodes everything but unreserved characters (task ids are usually uuids, but any
/// string can be one).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; malformed escapes stay as they are; invalid UTF-8 is replaced.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        let cases = [
            ("", Route::Dashboard),
            ("#/", Route::Dashboard),
            ("#/tasks", Route::Tasks(TableQuery::default())),
            (
                "#/tasks?state=FAILURE",
                Route::Tasks(TableQuery::parse("state=FAILURE")),
            ),
            ("#/events", Route::Events),
            ("#/settings", Route::Settings),
            (
                "#/worker/celery%40host",
                Route::Worker("celery@host".into()),
            ),
            ("#/workers", Route::Workers),
            ("#/task/abc-1", Route::Task("abc-1".into())),
            ("#/tree/abc", Route::Tree("abc".into())),
            ("#/task/a%20b%2Fc", Route::Task("a b/c".into())),
            ("#/task/", Route::NotFound("#/task/".into())),
            ("#/nope", Route::NotFound("#/nope".into())),
            ("#/task/%zz", Route::Task("%zz".into())),
            ("#/task/%4", Route::Task("%4".into())),
        ];
        for (hash, want) in cases {
            assert_eq!(Route::parse(hash), want, "{hash}");
        }
    }

    #[test]
    fn titles() {
        assert_eq!(Route::Dashboard.title(), "Dashboard · stalk");
        assert_eq!(
            Route::Worker("celery@h".into()).title(),
            "Worker celery@h · stalk"
        );
    }

    #[test]
    fn hrefs_round_trip() {
        for id in ["6f1c-22", "a b/c", "<script>", "ü"] {
            for r in [
                Route::Task(id.into()),
                Route::Tree(id.into()),
                Route::Worker(id.into()),
            ] {
                assert_eq!(Route::parse(&r.href()), r);
            }
        }
        for r in [
            Route::Dashboard,
            Route::Tasks(TableQuery::default()),
            Route::Tasks(TableQuery::parse("worker=w%40h&sort=name")),
            Route::Events,
            Route::Workers,
            Route::Settings,
        ] {
            assert_eq!(Route::parse(&r.href()), r);
        }
    }
}
