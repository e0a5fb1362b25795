//! The relay's frames (`docs/protocol.md`, version 1) as the browser reads them: `events` keep each
//! Celery event as raw JSON text borrowed from the frame, so it is decoded once, by the State crate.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The broker as the relay reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Broker {
    /// `connected`, `connecting` or `down`.
    pub state: String,
    /// The broker URL without its password (`replay:<file>` in replay mode).
    #[serde(default)]
    pub url: String,
}

/// One entry of an `events` frame.
#[derive(Debug, Deserialize)]
pub struct Entry<'a> {
    /// The relay's sequence number: +1 per event over the relay's life.
    pub seq: u64,
    /// When the relay took the message off the broker (unix seconds): Celery's `local_received`.
    pub received: f64,
    /// The event exactly as the worker published it.
    #[serde(borrow)]
    pub event: &'a RawValue,
}

/// A frame from the relay. Unknown kinds are [`Frame::Other`] and ignored, as the protocol asks;
/// unknown fields are ignored.
#[derive(Debug)]
pub enum Frame<'a> {
    /// Always the first frame of a connection.
    Hello {
        /// Protocol version (1).
        protocol: u32,
        /// A random id of the relay process: a changed one means saved `since` values are void.
        instance: Option<String>,
        /// Oldest seq the history holds.
        oldest_seq: u64,
        /// Newest seq the history holds (0 before the first event).
        newest_seq: u64,
        /// The relay's clock (unix seconds).
        now: f64,
        /// Broker state.
        broker: Broker,
    },
    /// Celery events, in seq order.
    Events {
        /// The entries.
        events: Vec<Entry<'a>>,
    },
    /// Events `from..=to` will never come.
    Gap {
        /// First missing seq.
        from: u64,
        /// Last missing seq.
        to: u64,
    },
    /// About once a second.
    Status {
        /// The relay's clock.
        now: f64,
        /// Broker state.
        broker: Broker,
    },
    /// A frame kind this client does not know.
    Other,
}

/// Every field of every kind, read in one pass. (serde's internally tagged enums buffer their
/// content, which cannot lend out borrowed `RawValue`s, hence this flat form.)
#[derive(Deserialize)]
struct Flat<'a> {
    kind: String,
    protocol: Option<u32>,
    instance: Option<String>,
    oldest_seq: Option<u64>,
    newest_seq: Option<u64>,
    now: Option<f64>,
    broker: Option<Broker>,
    #[serde(borrow)]
    events: Option<Vec<Entry<'a>>>,
    from: Option<u64>,
    to: Option<u64>,
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// Not JSON, or fields of the wrong type.
    Json(serde_json::Error),
    /// A known kind without a field it needs.
    Missing(&'static str),
}

fn need<T>(v: Option<T>, name: &'static str) -> Result<T, FrameError> {
    v.ok_or(FrameError::Missing(name))
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Frame<'_>, FrameError> {
    let f: Flat<'_> = serde_json::from_str(text).map_err(FrameError::Json)?;
    Ok(match f.kind.as_str() {
        "hello" => Frame::Hello {
            protocol: need(f.protocol, "protocol")?,
            instance: f.instance,
            oldest_seq: f.oldest_seq.unwrap_or(0),
            newest_seq: f.newest_seq.unwrap_or(0),
            now: need(f.now, "now")?,
            broker: f.broker.unwrap_or_default(),
        },
        "events" => Frame::Events {
            events: need(f.events, "events")?,
        },
        "gap" => Frame::Gap {
            from: need(f.from, "from")?,
            to: need(f.to, "to")?,
        },
        "status" => Frame::Status {
            now: need(f.now, "now")?,
            broker: f.broker.unwrap_or_default(),
        },
        _ => Frame::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_and_unknown_things_are_ignored() {
        let hello = r#"{"kind":"hello","protocol":1,"relay":"r","instance":"ab","oldest_seq":1,
            "newest_seq":7,"now":10.5,"broker":{"state":"connected","url":"replay:x"},"new":1}"#;
        match parse(hello).unwrap() {
            Frame::Hello {
                protocol,
                instance,
                newest_seq,
                now,
                broker,
                ..
            } => {
                assert_eq!(
                    (protocol, instance.as_deref(), newest_seq),
                    (1, Some("ab"), 7)
                );
                assert_eq!((now, broker.state.as_str()), (10.5, "connected"));
            }
            other => panic!("not hello: {other:?}"),
        }
        let events = r#"{"kind":"events","events":[{"seq":3,"received":2.5,"event":{"type":"x","a":[1, 2]}}]}"#;
        match parse(events).unwrap() {
            Frame::Events { events } => {
                assert_eq!((events[0].seq, events[0].received), (3, 2.5));
                assert_eq!(events[0].event.get(), r#"{"type":"x","a":[1, 2]}"#);
            }
            other => panic!("not events: {other:?}"),
        }
        assert!(matches!(
            parse(r#"{"kind":"gap","from":6,"to":37}"#).unwrap(),
            Frame::Gap { from: 6, to: 37 }
        ));
        assert!(matches!(
            parse(r#"{"kind":"future","x":1}"#).unwrap(),
            Frame::Other
        ));
        assert!(matches!(parse("not json"), Err(FrameError::Json(_))));
        assert!(matches!(
            parse(r#"{"kind":"gap","from":6}"#),
            Err(FrameError::Missing("to"))
        ));
    }
}
