//! The relay's frames (`docs/protocol.md`, version 1) as the browser reads them: `events` keep each
//! Celery event as raw JSON text borrowed from the frame, so it is decoded once, by the State crate.

use serde::Deserialize;
use serde_json::value::RawValue;
use stalk_state::{Event, decode_event_prefix};

/// The broker as the relay reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Broker {
    /// `connected`, `connecting` or `down`.
    pub state: String,
    /// The broker URL without its password (`replay:<file>` in replay mode).
    #[serde(default)]
    pub url: String,
}

/// Events lost on the relay's side, as its `status` frames count them since it started: they
/// never got a `seq`, so no `gap` announces them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayLosses {
    /// Bodies or batch elements the relay could not decode (another serializer, broken JSON).
    pub decode_errors: u64,
    /// Messages the broker dropped from the relay's queue (TTL, max length) before it read them.
    pub broker_dropped: u64,
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
        /// What the relay lost before any client could see it (absent fields: 0).
        losses: RelayLosses,
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
    decode_errors: Option<u64>,
    broker_dropped: Option<u64>,
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
            losses: RelayLosses {
                decode_errors: f.decode_errors.unwrap_or(0),
                broker_dropped: f.broker_dropped.unwrap_or(0),
            },
        },
        _ => Frame::Other,
    })
}

/// One entry of an `events` frame read by [`events_fast`]: the event already decoded.
#[derive(Debug)]
pub struct FastEntry<'a> {
    /// The relay's sequence number.
    pub seq: u64,
    /// When the relay took the event (Celery's `local_received`).
    pub received: f64,
    /// The event's JSON text, as published.
    pub raw: &'a str,
    /// The event, decoded by the State crate.
    pub event: Event<'a>,
}

/// The fast path for the frame that matters: an `events` frame exactly as the relay writes it
/// (`{"kind":"events","events":[{"seq":N,"received":T,"event":{...}},...]}`, compact, fields in
/// that order). Each event is decoded by the State crate in place, in the same pass that finds
/// where it ends, so the frame's bytes are read once, and handed to `each` at once (an event is
/// big: no list of them is built). Returns `false` as soon as the frame is not in that form or an
/// event cannot be decoded: the caller then reads the whole frame the general way with [`parse`]
/// (skipping the entries `each` already took by their seq), which counts a bad event and keeps
/// the rest.
///
/// Reading the frame with serde_json first cost as much as decoding its events.
pub fn events_fast<'a>(text: &'a str, mut each: impl FnMut(FastEntry<'a>)) -> bool {
    read_events_fast(text, &mut each).is_some()
}

fn read_events_fast<'a>(text: &'a str, each: &mut impl FnMut(FastEntry<'a>)) -> Option<()> {
    let mut rest = text.strip_prefix(r#"{"kind":"events","events":["#)?;
    if let Some(end) = rest.strip_prefix("]}") {
        return end.is_empty().then_some(());
    }
    loop {
        rest = rest.strip_prefix(r#"{"seq":"#)?;
        let (seq, r) = number(rest)?;
        rest = r.strip_prefix(r#","received":"#)?;
        let (received, r) = number(rest)?;
        rest = r.strip_prefix(r#","event":"#)?;
        let (seq, received) = (seq.parse().ok()?, received.parse().ok()?);
        let (event, len) = decode_event_prefix(rest).ok()?;
        let after = rest[len..].strip_prefix('}')?;
        each(FastEntry {
            seq,
            received,
            raw: &rest[..len],
            event,
        });
        rest = after;
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else {
            return (rest == "]}").then_some(());
        }
    }
}

/// A JSON number's text at the start of `s`, and the rest.
fn number(s: &str) -> Option<(&str, &str)> {
    let end = s
        .bytes()
        .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the fast path hands out, as `(seq, received, raw)`, if it read the whole frame.
    fn fast_read(text: &str) -> Option<Vec<(u64, f64, &str)>> {
        let mut got = Vec::new();
        events_fast(text, |e| got.push((e.seq, e.received, e.raw))).then_some(got)
    }

    #[test]
    fn the_fast_path_reads_what_the_relay_writes_and_nothing_else() {
        let frame = r#"{"kind":"events","events":[{"seq":3,"received":2.5,"event":{"type":"x","s":"a\"}{\\","n":{"m":[1,{"k":"}"}]}}},{"seq":4,"received":1e3,"event":{ "type" : "y" }}]}"#;
        let fast = fast_read(frame).unwrap();
        let slow = match parse(frame).unwrap() {
            Frame::Events { events } => events
                .iter()
                .map(|e| (e.seq, e.received, e.event.get()))
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fast, slow);
        assert!(fast_read(r#"{"kind":"events","events":[]}"#).is_some_and(|v| v.is_empty()));
        for other in [
            r#"{"kind":"gap","from":1,"to":2}"#,
            r#"{"events":[],"kind":"events"}"#,
            r#"{"kind":"events","events":[{"seq":3,"received":2.5,"event":{"type":"x"}]}"#,
            r#"{"kind":"events","events":[{"seq":3,"received":2.5,"event":{"type":"x"}}]}x"#,
            r#"{"kind":"events","events":[{"seq":3,"received":2.5,"event":{"type":"x}}]}"#,
            r#"{"kind":"events","events":[{"seq":-,"received":2.5,"event":{}}]}"#,
            r#"{"kind":"events","events":[{"seq":3,"received":2.5,"event":[1]}]}"#,
            r#"{"kind":"events","events":[{"seq":3,"received":2.5,"event":{"a":"\"#,
        ] {
            assert!(fast_read(other).is_none(), "{other}");
        }
    }

    #[test]
    fn the_fast_path_never_panics_on_broken_frames() {
        let frame = r#"{"kind":"events","events":[{"seq":3,"received":2.5,"event":{"type":"x","s":"a\"}{\\","n":{"m":[1,{"k":"}"}]}}}]}"#;
        let bytes = frame.as_bytes();
        for cut in 0..bytes.len() {
            // Every truncation, and every byte replaced by each of the structural characters.
            let _ = fast_read(&frame[..cut]);
            for c in [b'{', b'}', b'"', b'\\', b',', b'a'] {
                let mut m = bytes.to_vec();
                m[cut] = c;
                let m = String::from_utf8(m).unwrap();
                if let (Some(fast), Ok(Frame::Events { events })) = (fast_read(&m), parse(&m)) {
                    let slow: Vec<(u64, f64, &str)> = events
                        .iter()
                        .map(|e| (e.seq, e.received, e.event.get()))
                        .collect();
                    assert_eq!(fast, slow, "{m}");
                }
            }
        }
    }

    #[test]
    fn fast_and_slow_agree_on_a_real_recording() {
        let text = include_str!("../../shared/tests/fixtures/canvas.ndjson");
        for frame in crate::bench::frames_of(text, 7) {
            let fast = fast_read(&frame).expect("the relay's form");
            let Frame::Events { events } = parse(&frame).unwrap() else {
                panic!()
            };
            let slow: Vec<(u64, f64, &str)> = events
                .iter()
                .map(|e| (e.seq, e.received, e.event.get()))
                .collect();
            assert_eq!(fast, slow);
        }
    }

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
