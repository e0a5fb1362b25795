//! Replay source: streams a recording instead of a broker, for demos and offline use.
//!
//! Two line formats, told apart per line: the raw AMQP form (`*.raw.ndjson`: `{"recv", "body",
//! "content_type", ...}`, a body may be a `task.multi` array) and the receiver form (`*.ndjson`: one
//! event per line, timed by its `local_received` or `timestamp`). Pauses between records follow
//! the recording divided by `speed` (0 = as fast as possible), each capped at [`MAX_PAUSE`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::decode::strict_form;
use crate::hub::{SharedHub, unix_now};
use crate::protocol::BrokerState;

/// Longest pause between two records, whatever the recording says (idle stretches are skipped).
pub const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Error of a replay. The relay logs it; it does not stop serving clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The recording.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    body: Option<&'a RawValue>,
    recv: Option<f64>,
    content_type: Option<String>,
    local_received: Option<f64>,
    timestamp: Option<f64>,
}

/// One record of a recording: the body to ingest and when it was received (if known). Recordings
/// hold events as Python's `json` wrote them, `NaN` and lone surrogates included, so the line is
/// first put in the strict form the relay forwards ([`strict_form`]).
fn parse_line(line: &str) -> (Option<f64>, &[u8], Option<String>) {
    match serde_json::from_str::<Line<'_>>(line) {
        Ok(Line {
            body: Some(body),
            recv,
            content_type,
            ..
        }) => (recv, body.get().as_bytes(), content_type),
        Ok(Line {
            local_received,
            timestamp,
            ..
        }) => (local_received.or(timestamp), line.as_bytes(), None),
        // Not an object: hand it to the decoder anyway, so it is counted like a bad broker body.
        Err(_) => (None, line.as_bytes(), None),
    }
}

/// Streams `path` into the hub at `speed` times the recorded pace, then idles until shutdown.
pub async fn run(
    hub: SharedHub,
    path: PathBuf,
    speed: f64,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ReplayError> {
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|source| ReplayError::Io {
            path: path.clone(),
            source,
        })?;
    hub.set_broker_state(BrokerState::Connected);
    let mut lines = BufReader::new(file).lines();
    // Pacing against a schedule, not per line: `anchor` pairs a wall-clock instant with the
    // recorded time due then. Sleeping per line would round every small gap up to the timer's
    // 1 ms tick (a 5,000 events/s recording would replay at under 1,000/s); with a schedule,
    // lines that are due go out together and the average rate is the recorded one.
    let mut anchor: Option<(Instant, f64)> = None;
    let mut records = 0u64;
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line.map_err(|source| ReplayError::Io { path: path.clone(), source })?,
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
        };
        let Some(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let (line, rewritten) = strict_form(&line);
        if rewritten {
            hub.metrics
                .rewritten_bodies
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let (at, body, content_type) = parse_line(&line);
        if let Some(at) = at
            && speed > 0.0
        {
            let now = Instant::now();
            let (wall, recorded) = *anchor.get_or_insert((now, at));
            let mut due = wall + Duration::from_secs_f64(((at - recorded) / speed).max(0.0));
            if due > now + MAX_PAUSE {
                // A long silence in the recording: wait at most MAX_PAUSE, then carry on from there.
                due = now + MAX_PAUSE;
                anchor = Some((due, at));
            }
            if due > now {
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    _ = shutdown.wait_for(|s| *s) => return Ok(()),
                }
            }
        }
        hub.ingest(body, content_type.as_deref(), unix_now());
        records += 1;
    }
    tracing::info!(path = %path.display(), records, "replay finished; serving the history");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_line_forms() {
        let raw = r#"{"seq": 0, "recv": 10.5, "content_type": "application/json", "body": [{"type": "a"}]}"#;
        let (at, body, ct) = parse_line(raw);
        assert_eq!(
            (at, body, ct.as_deref()),
            (
                Some(10.5),
                &br#"[{"type": "a"}]"#[..],
                Some("application/json")
            )
        );
        let ev = r#"{"type": "task-sent", "timestamp": 3.0, "local_received": 4.0}"#;
        assert_eq!(parse_line(ev), (Some(4.0), ev.as_bytes(), None));
        assert_eq!(parse_line("garbage").1, b"garbage");
    }

    /// A raw record whose body holds a `NaN` keeps its time and body (strict), where the whole
    /// line used to go to the decoder as one event without a type.
    #[test]
    fn python_nan_in_a_record() {
        let raw = r#"{"recv": 2.5, "body": {"type": "task-progress", "ratio": NaN}}"#;
        let (line, rewritten) = strict_form(raw);
        assert!(rewritten);
        let (at, body, _) = parse_line(&line);
        assert_eq!(
            (at, body),
            (
                Some(2.5),
                &br#"{"type": "task-progress", "ratio": null}"#[..]
            )
        );
        assert!(!strict_form(r#"{"type": "a"}"#).1);
    }
}
