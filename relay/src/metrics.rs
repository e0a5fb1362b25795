//! Counters and gauges of the relay, and their Prometheus text rendering.
//!
//! Plain atomics: the consumer and every client task update them without locks. The only map (events
//! by type) is capped at [`MAX_EVENT_TYPES`] labels, since event types come from the wire.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::dead_letter::DropReason;
use crate::decode::Reason;

/// Most distinct `type` labels tracked; further types are counted under `type="other"`, so a
/// publisher inventing types cannot grow the relay's memory or the metrics page.
pub const MAX_EVENT_TYPES: usize = 64;

/// Every counter and gauge the relay exports.
#[derive(Debug, Default)]
pub struct Metrics {
    /// AMQP messages (or replayed records) taken in.
    pub messages: AtomicU64,
    /// Good events appended to history.
    pub events: AtomicU64,
    events_by_type: Mutex<BTreeMap<String, u64>>,
    decode_errors: [AtomicU64; Reason::ALL.len()],
    /// Bodies forwarded as strict JSON: Python's `NaN` / `Infinity` as `null`, lone surrogate
    /// escapes as `\ufffd` (see [`crate::decode::Outcome::rewritten`]).
    pub rewritten_bodies: AtomicU64,
    /// WebSocket clients connected now.
    pub clients: AtomicI64,
    /// WebSocket connections accepted since start.
    pub clients_total: AtomicU64,
    /// Connections refused (bad token, foreign Origin) since start.
    pub refused: AtomicU64,
    /// Events announced as lost in `gap` frames to clients that fell behind history.
    pub gap_events: AtomicU64,
    /// Clients closed because a frame could not be written within the send timeout.
    pub slow_closes: AtomicU64,
    /// `events` frames sent.
    pub frames: AtomicU64,
    /// Successful broker connections since start (the first one included).
    pub broker_connects: AtomicU64,
    /// Messages waiting in the relay's queue at the broker, as of the last check.
    pub queue_messages: AtomicU64,
    /// Messages the broker dropped from the relay's queue, by reason (read from the dead-letter
    /// queue, see [`crate::dead_letter`]).
    broker_dropped: [AtomicU64; DropReason::ALL.len()],
    /// Messages waiting in the dead-letter queue, as of the last check (near 0 while consuming).
    pub dead_letter_messages: AtomicU64,
    /// Last message's receive time minus its newest event's `timestamp`, in microseconds
    /// (includes clock skew between worker and relay).
    pub lag_micros: AtomicI64,
}

impl Metrics {
    /// Counts one good event of this type.
    pub fn count_event(&self, kind: &str) {
        self.events.fetch_add(1, Relaxed);
        let mut map = self.events_by_type.lock().expect("metrics lock");
        if let Some(n) = map.get_mut(kind) {
            *n += 1;
        } else if map.len() < MAX_EVENT_TYPES {
            map.insert(kind.to_owned(), 1);
        } else {
            *map.entry("other".to_owned()).or_default() += 1;
        }
    }

    /// Counts one dropped body or element.
    pub fn count_error(&self, reason: Reason) {
        self.decode_errors[reason.index()].fetch_add(1, Relaxed);
    }

    /// Dropped bodies or elements for this reason.
    pub fn errors(&self, reason: Reason) -> u64 {
        self.decode_errors[reason.index()].load(Relaxed)
    }

    /// Dropped bodies or elements, all reasons.
    pub fn errors_total(&self) -> u64 {
        self.decode_errors.iter().map(|n| n.load(Relaxed)).sum()
    }

    /// Counts one message the broker dropped before the relay could read it; returns how many
    /// were counted for this reason before.
    pub fn count_drop(&self, reason: DropReason) -> u64 {
        self.broker_dropped[reason.index()].fetch_add(1, Relaxed)
    }

    /// Messages the broker dropped for this reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.broker_dropped[reason.index()].load(Relaxed)
    }

    /// Messages the broker dropped, all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.broker_dropped.iter().map(|n| n.load(Relaxed)).sum()
    }

    /// Renders everything in the Prometheus text format; `extra` are gauges owned elsewhere
    /// (history, broker), as `(name, help, value)`.
    pub fn render(&self, extra: &[(&str, &str, f64)]) -> String {
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "stalk_messages_total",
            "Broker messages taken in.",
            self.messages.load(Relaxed),
        );
        counter(
            &mut out,
            "stalk_events_total",
            "Good events relayed.",
            self.events.load(Relaxed),
        );
        out.push_str(
            "# HELP stalk_events_by_type_total Good events relayed, by Celery event type.\n",
        );
        out.push_str("# TYPE stalk_events_by_type_total counter\n");
        for (kind, n) in self.events_by_type.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "stalk_events_by_type_total{{type=\"{}\"}} {n}",
                escape(kind)
            );
        }
        out.push_str(
            "# HELP stalk_decode_errors_total Bodies or batch elements dropped, by reason.\n",
        );
        out.push_str("# TYPE stalk_decode_errors_total counter\n");
        for reason in Reason::ALL {
            let _ = writeln!(
                out,
                "stalk_decode_errors_total{{reason=\"{reason}\"}} {}",
                self.errors(reason)
            );
        }
        let gauge = |out: &mut String, name: &str, help: &str, v: f64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            &mut out,
            "stalk_clients",
            "WebSocket clients connected.",
            self.clients.load(Relaxed) as f64,
        );
        counter(
            &mut out,
            "stalk_rewritten_bodies_total",
            "Bodies forwarded as strict JSON: NaN / Infinity as null, lone surrogate escapes as \\ufffd.",
            self.rewritten_bodies.load(Relaxed),
        );
        counter(
            &mut out,
            "stalk_clients_total",
            "WebSocket clients accepted.",
            self.clients_total.load(Relaxed),
        );
        counter(
            &mut out,
            "stalk_refused_total",
            "Requests refused (token or Origin).",
            self.refused.load(Relaxed),
        );
        counter(
            &mut out,
            "stalk_client_gap_events_total",
            "Events announced lost to clients that fell behind history.",
            self.gap_events.load(Relaxed),
        );
        counter(
            &mut out,
            "stalk_client_slow_closes_total",
            "Clients closed for not reading within the send timeout.",
            self.slow_closes.load(Relaxed),
        );
        counter(
            &mut out,
            "stalk_frames_total",
            "Events frames sent.",
            self.frames.load(Relaxed),
        );
        counter(
            &mut out,
            "stalk_broker_connects_total",
            "Successful broker connections.",
            self.broker_connects.load(Relaxed),
        );
        gauge(
            &mut out,
            "stalk_consumer_queue_messages",
            "Messages waiting in the relay's broker queue (consumer lag in messages).",
            self.queue_messages.load(Relaxed) as f64,
        );
        out.push_str(
            "# HELP stalk_broker_dropped_total Messages the broker dropped from the relay's queue before it read them, by reason (from its dead-letter queue).\n",
        );
        out.push_str("# TYPE stalk_broker_dropped_total counter\n");
        for reason in DropReason::ALL {
            let _ = writeln!(
                out,
                "stalk_broker_dropped_total{{reason=\"{reason}\"}} {}",
                self.dropped(reason)
            );
        }
        gauge(
            &mut out,
            "stalk_consumer_dead_letter_messages",
            "Dropped messages waiting to be counted in the relay's dead-letter queue.",
            self.dead_letter_messages.load(Relaxed) as f64,
        );
        gauge(
            &mut out,
            "stalk_consumer_lag_seconds",
            "Receive time minus event timestamp of the last message (includes clock skew).",
            self.lag_micros.load(Relaxed) as f64 / 1e6,
        );
        for (name, help, v) in extra {
            gauge(&mut out, name, help, *v);
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_caps_types() {
        let m = Metrics::default();
        m.count_event("task-sent");
        m.count_event("task-sent");
        for i in 0..MAX_EVENT_TYPES + 5 {
            m.count_event(&format!("t{i}"));
        }
        m.count_error(Reason::Pickle);
        m.rewritten_bodies.fetch_add(1, Relaxed);
        m.count_drop(DropReason::Maxlen);
        m.count_drop(DropReason::Maxlen);
        m.count_drop(DropReason::Expired);
        let text = m.render(&[("stalk_history_events", "Events kept.", 3.0)]);
        assert!(text.contains("stalk_events_by_type_total{type=\"task-sent\"} 2\n"));
        assert!(text.contains("stalk_events_by_type_total{type=\"other\"} 6\n"));
        assert!(text.contains("stalk_decode_errors_total{reason=\"pickle\"} 1\n"));
        assert!(text.contains("stalk_decode_errors_total{reason=\"too_large\"} 0\n"));
        assert!(text.contains("stalk_rewritten_bodies_total 1\n"));
        assert!(text.contains("stalk_events_total 71\n"));
        assert!(text.contains("# TYPE stalk_history_events gauge\nstalk_history_events 3\n"));
        assert_eq!(m.errors_total(), 1);
        assert!(text.contains("stalk_broker_dropped_total{reason=\"maxlen\"} 2\n"));
        assert!(text.contains("stalk_broker_dropped_total{reason=\"expired\"} 1\n"));
        assert!(text.contains("stalk_broker_dropped_total{reason=\"rejected\"} 0\n"));
        assert_eq!(m.dropped_total(), 3);
    }

    #[test]
    fn escapes_labels() {
        let m = Metrics::default();
        m.count_event("a\"b\\c");
        assert!(m.render(&[]).contains(r#"{type="a\"b\\c"} 1"#));
    }
}
