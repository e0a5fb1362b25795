//! The relay -> browser protocol (v1), as serde types: one JSON text frame per [`ServerFrame`].
//!
//! This is public API (documented in `docs/protocol.md`): fields may be added, never removed or
//! renamed, without bumping [`PROTOCOL_VERSION`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::history::Entry;

/// The protocol version sent in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The relay's name and version as sent in `hello`: `stalk-relay <version>`.
pub const RELAY_NAME: &str = concat!("stalk-relay ", env!("CARGO_PKG_VERSION"));

/// Where the relay's event source stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrokerState {
    /// Consuming: events flow.
    Connected,
    /// Opening the connection or declaring the exchange and queue.
    Connecting,
    /// The last attempt failed or the connection dropped; the relay retries after a backoff.
    Down,
}

impl BrokerState {
    /// The lowercase name used on the wire and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerState::Connected => "connected",
            BrokerState::Connecting => "connecting",
            BrokerState::Down => "down",
        }
    }
}

/// The broker as clients see it: state and URL, never the password.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BrokerInfo {
    /// Connection state.
    pub state: BrokerState,
    /// The broker URL with the password removed (or `replay:<file>` in replay mode).
    pub url: String,
}

/// Counters and bounds carried by `status` frames (an extension point: new fields may appear).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Relay unix time, seconds.
    pub now: f64,
    /// Broker state and redacted URL.
    pub broker: BrokerInfo,
    /// Oldest seq still in history (`newest_seq + 1` when empty).
    pub oldest_seq: u64,
    /// Newest seq so far (0 before the first event).
    pub newest_seq: u64,
    /// Events kept in history.
    pub history_events: usize,
    /// Bytes kept in history.
    pub history_bytes: usize,
    /// The history's event bound.
    pub history_max_events: usize,
    /// The history's byte bound.
    pub history_max_bytes: usize,
    /// WebSocket clients connected now.
    pub clients: i64,
    /// Bodies or batch elements dropped by the decoder since start.
    pub decode_errors: u64,
    /// Messages the broker dropped from the relay's queue (TTL, max length) before the relay
    /// read them, as counted from its dead-letter queue since start (extension).
    pub broker_dropped: u64,
}

/// A frame from the relay to a client (`kind` names the variant).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ServerFrame {
    /// First frame on every connection: who the relay is and what its history holds.
    Hello {
        /// Always [`PROTOCOL_VERSION`].
        protocol: u32,
        /// `stalk-relay <version>`.
        relay: String,
        /// Random id of this relay process (extension): a change tells a client that `seq`
        /// restarted, so a saved `since` no longer means anything.
        instance: String,
        /// Oldest seq in history (`newest_seq + 1` when empty).
        oldest_seq: u64,
        /// Newest seq so far (0 before the first event).
        newest_seq: u64,
        /// Relay unix time, float seconds (lets a client estimate clock skew).
        now: f64,
        /// Broker state and redacted URL.
        broker: BrokerInfo,
    },
    /// Events in seq order; `seq` of consecutive entries across frames increases by exactly 1
    /// unless a `gap` frame comes between.
    Events {
        /// The events, oldest first.
        events: Vec<Arc<Entry>>,
    },
    /// Events `from..=to` will never reach this client (evicted from history before it read them).
    Gap {
        /// First missing seq.
        from: u64,
        /// Last missing seq.
        to: u64,
    },
    /// About once a second: broker state, counts and history bounds.
    Status(Status),
}

impl ServerFrame {
    /// The frame as the JSON text sent on the socket.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("frames always serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fixed_wire_shapes() {
        let broker = BrokerInfo {
            state: BrokerState::Connecting,
            url: "amqp://g@h/%2f".into(),
        };
        let hello = ServerFrame::Hello {
            protocol: PROTOCOL_VERSION,
            relay: RELAY_NAME.into(),
            instance: "i".into(),
            oldest_seq: 1,
            newest_seq: 0,
            now: 2.5,
            broker: broker.clone(),
        };
        let v: serde_json::Value = serde_json::from_str(&hello.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"kind": "hello", "protocol": 1, "relay": RELAY_NAME, "instance": "i",
                   "oldest_seq": 1, "newest_seq": 0, "now": 2.5,
                   "broker": {"state": "connecting", "url": "amqp://g@h/%2f"}})
        );
        assert!(RELAY_NAME.starts_with("stalk-relay "));
        let gap = ServerFrame::Gap { from: 3, to: 9 };
        assert_eq!(gap.to_json(), r#"{"kind":"gap","from":3,"to":9}"#);
        let entry = Entry {
            seq: 7,
            received: 1.0,
            event: serde_json::value::RawValue::from_string(r#"{"type":"x"}"#.into()).unwrap(),
        };
        let events = ServerFrame::Events {
            events: vec![Arc::new(entry)],
        };
        assert_eq!(
            events.to_json(),
            r#"{"kind":"events","events":[{"seq":7,"received":1.0,"event":{"type":"x"}}]}"#
        );
    }

    #[test]
    fn frames_round_trip() {
        let status = ServerFrame::Status(Status {
            now: 1.0,
            broker: BrokerInfo {
                state: BrokerState::Down,
                url: "u".into(),
            },
            oldest_seq: 1,
            newest_seq: 0,
            history_events: 0,
            history_bytes: 0,
            history_max_events: 10,
            history_max_bytes: 100,
            clients: 2,
            decode_errors: 3,
            broker_dropped: 4,
        });
        let text = status.to_json();
        assert!(text.starts_with(r#"{"kind":"status","now":1.0,"broker":{"state":"down""#));
        assert_eq!(
            serde_json::from_str::<ServerFrame>(&text)
                .unwrap()
                .to_json(),
            text
        );
    }
}
