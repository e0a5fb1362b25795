//! The hub: history, metrics and broker state shared by the event source (consumer or replay) and
//! the client tasks.
//!
//! The source calls [`Hub::ingest`], which never waits on clients: it appends under a short lock
//! and bumps a `watch` channel. Clients wake on that channel and pull from history at their own pace.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::decode::{self, Reason};
use crate::history::{History, Limits};
use crate::metrics::Metrics;
use crate::protocol::{BrokerInfo, BrokerState, Status};

/// Shared state of one relay. Cheap to share as `Arc<Hub>`.
#[derive(Debug)]
pub struct Hub {
    history: Mutex<History>,
    /// Newest seq; client tasks wait on it.
    newest: watch::Sender<u64>,
    /// Broker state; pushed to clients in `status` frames and checked by `/healthz`.
    broker: watch::Sender<BrokerInfo>,
    /// Why the last broker connection failed (password scrubbed), shown by `/healthz` until the
    /// next successful connection.
    broker_error: Mutex<Option<String>>,
    /// Counters exported by `/metrics`.
    pub metrics: Metrics,
    max_body_bytes: usize,
    /// Whether each decode-error reason was already logged (each is logged once, with a hint).
    logged: [AtomicBool; Reason::ALL.len()],
    /// Random id of this relay process, sent in `hello`.
    instance: String,
}

/// Unix time now, float seconds (the `received` of events, `now` of frames).
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Hub {
    /// A hub with these history bounds and body bound; `broker_url` is the redacted URL.
    pub fn new(limits: Limits, max_body_bytes: usize, broker_url: String) -> Hub {
        Hub {
            history: Mutex::new(History::new(limits)),
            newest: watch::Sender::new(0),
            broker: watch::Sender::new(BrokerInfo {
                state: BrokerState::Connecting,
                url: broker_url,
            }),
            broker_error: Mutex::new(None),
            metrics: Metrics::default(),
            max_body_bytes,
            logged: Default::default(),
            instance: format!("{:016x}", fastrand::u64(..)),
        }
    }

    /// Decodes one message body and appends its good events; returns how many were appended.
    /// Bad bodies and elements are counted by reason; the first of each reason is logged.
    pub fn ingest(&self, body: &[u8], content_type: Option<&str>, received: f64) -> usize {
        self.metrics.messages.fetch_add(1, Relaxed);
        let out = decode::decode(body, content_type, self.max_body_bytes);
        for reason in &out.errors {
            self.metrics.count_error(*reason);
            if !self.logged[reason.index()].swap(true, Relaxed) {
                tracing::warn!(
                    reason = reason.code(),
                    content_type,
                    bytes = body.len(),
                    hint = reason.hint(),
                    "dropping undecodable event body (logged once per reason; see stalk_decode_errors_total)"
                );
            }
        }
        if out.rewritten {
            self.metrics.rewritten_bodies.fetch_add(1, Relaxed);
        }
        if out.events.is_empty() {
            return 0;
        }
        let n = out.events.len();
        let newest = {
            let mut history = self.history();
            let mut seq = 0;
            for event in out.events {
                self.metrics.count_event(&event.kind);
                if let Some(ts) = event.timestamp {
                    self.metrics
                        .lag_micros
                        .store(((received - ts) * 1e6) as i64, Relaxed);
                }
                seq = history.push(event.raw, received);
            }
            seq
        };
        self.newest.send_replace(newest);
        n
    }

    /// Locks the history (briefly: never hold it across an await).
    pub fn history(&self) -> MutexGuard<'_, History> {
        self.history.lock().expect("history lock poisoned")
    }

    /// A receiver that changes whenever new events are appended.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.newest.subscribe()
    }

    /// A receiver of broker state changes.
    pub fn broker_watch(&self) -> watch::Receiver<BrokerInfo> {
        self.broker.subscribe()
    }

    /// Current broker state and redacted URL.
    pub fn broker(&self) -> BrokerInfo {
        self.broker.borrow().clone()
    }

    /// Sets the broker state (the URL stays).
    pub fn set_broker_state(&self, state: BrokerState) {
        self.broker
            .send_if_modified(|info| std::mem::replace(&mut info.state, state) != state);
    }

    /// Records why the broker connection failed (`None` once connected again). The text must
    /// already be scrubbed of the password.
    pub fn set_broker_error(&self, error: Option<String>) {
        *self.broker_error.lock().expect("broker error lock") = error;
    }

    /// Why the last broker connection failed, unless it has succeeded since.
    pub fn broker_error(&self) -> Option<String> {
        self.broker_error.lock().expect("broker error lock").clone()
    }

    /// This process's random id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// A snapshot for `status` frames.
    pub fn status(&self) -> Status {
        let history = self.history();
        Status {
            now: unix_now(),
            broker: self.broker(),
            oldest_seq: history.oldest_seq(),
            newest_seq: history.newest_seq(),
            history_events: history.len(),
            history_bytes: history.bytes(),
            history_max_events: history.limits().max_events,
            history_max_bytes: history.limits().max_bytes,
            clients: self.metrics.clients.load(Relaxed),
            decode_errors: self.metrics.errors_total(),
            broker_dropped: self.metrics.dropped_total(),
        }
    }

    /// The Prometheus page.
    pub fn render_metrics(&self) -> String {
        let (len, bytes, limits, evicted, newest) = {
            let h = self.history();
            (h.len(), h.bytes(), h.limits(), h.evicted(), h.newest_seq())
        };
        let state = self.broker().state;
        let up = |s: BrokerState| if state == s { 1.0 } else { 0.0 };
        self.metrics.render(&[
            (
                "stalk_history_events",
                "Events kept in history.",
                len as f64,
            ),
            (
                "stalk_history_bytes",
                "Bytes kept in history.",
                bytes as f64,
            ),
            (
                "stalk_history_max_events",
                "History bound, events.",
                limits.max_events as f64,
            ),
            (
                "stalk_history_max_bytes",
                "History bound, bytes.",
                limits.max_bytes as f64,
            ),
            (
                "stalk_history_evicted_total",
                "Events evicted from history (a counter).",
                evicted as f64,
            ),
            (
                "stalk_newest_seq",
                "Seq of the newest event.",
                newest as f64,
            ),
            (
                "stalk_broker_connected",
                "1 when consuming from the broker.",
                up(BrokerState::Connected),
            ),
            (
                "stalk_broker_connecting",
                "1 while connecting to the broker.",
                up(BrokerState::Connecting),
            ),
            (
                "stalk_broker_down",
                "1 while the broker is unreachable.",
                up(BrokerState::Down),
            ),
        ])
    }
}

/// Shared handle to the hub.
pub type SharedHub = Arc<Hub>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_appends_good_events_and_counts_bad_ones() {
        let hub = Hub::new(Limits::default(), 1000, "amqp://x".into());
        let rx = hub.subscribe();
        let n = hub.ingest(
            br#"[{"type":"task-started"}, 3, {"type":"task-succeeded"}]"#,
            None,
            5.0,
        );
        assert_eq!(n, 2);
        assert_eq!(*rx.borrow(), 2);
        assert_eq!(hub.ingest(b"\x80\x04garbage", None, 5.0), 0);
        assert_eq!(hub.ingest(&[b' '; 2000], None, 5.0), 0);
        assert_eq!(hub.metrics.errors(Reason::NotObject), 1);
        assert_eq!(hub.metrics.errors(Reason::Pickle), 1);
        assert_eq!(hub.metrics.errors(Reason::TooLarge), 1);
        let status = hub.status();
        assert_eq!(
            (status.oldest_seq, status.newest_seq, status.decode_errors),
            (1, 2, 3)
        );
        let text = hub.render_metrics();
        assert!(text.contains("stalk_history_events 2\n"));
        assert!(text.contains("stalk_broker_connecting 1\n"));
        assert!(text.contains("stalk_messages_total 3\n"));
        hub.ingest(br#"{"type":"a","timestamp":4.5}"#, None, 5.0);
        assert!(
            hub.render_metrics()
                .contains("stalk_consumer_lag_seconds 0.5\n")
        );
        // Python's NaN: the events flow, counted once per body.
        assert_eq!(
            hub.ingest(br#"[{"type":"b","r":NaN}, {"type":"c"}]"#, None, 5.0),
            2
        );
        assert_eq!(hub.metrics.rewritten_bodies.load(Relaxed), 1);
        assert_eq!(hub.metrics.errors_total(), 3);
    }

    #[test]
    fn broker_state_changes_notify() {
        let hub = Hub::new(Limits::default(), 1000, "amqp://x".into());
        let mut rx = hub.broker_watch();
        rx.mark_unchanged();
        hub.set_broker_state(BrokerState::Connecting);
        assert!(!rx.has_changed().unwrap());
        hub.set_broker_state(BrokerState::Connected);
        assert!(rx.has_changed().unwrap());
        assert_eq!(hub.broker().state, BrokerState::Connected);
    }
}
