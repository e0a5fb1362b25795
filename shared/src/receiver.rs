//! What Celery's `EventReceiver.event_from_message` does to each event before the State sees it,
//! without IO: the caller supplies the receive time.
//!
//! - Lamport clock: a `task-sent` event's clock is replaced by the receiver's (clients never sync
//!   clocks), other events adjust the receiver's clock, events without one get `forward()`.
//! - `local_received`: the caller's receive time; worker liveness is computed from it.
//! - Timestamp localisation (`timestamp -= (utcoffset - receiver_utcoffset) * 3600`) is what Python
//!   does, and it is wrong whenever sender and receiver sit in different zones: `time.time()` is
//!   already UTC epoch seconds, so shifting it moves every event of a UTC+5:30 worker 19,800 s into
//!   the future for a UTC receiver (celery#2482). It is therefore **off by default**; turn it on
//!   with [`Receiver::with_localisation`] only to reproduce Python's numbers exactly.

use crate::event::{Event, EventKind, TaskSubject};
use crate::json::JsonRef;
use crate::value::Num;

/// The receiver's Lamport clock and normalisation settings.
#[derive(Clone, Debug, Default)]
pub struct Receiver {
    clock: i64,
    /// `Some(receiver_utcoffset)` when Python's timestamp localisation is on.
    localise_to: Option<f64>,
}

impl Receiver {
    /// A receiver with clock 0 and timestamp localisation off.
    pub fn new() -> Receiver {
        Receiver::default()
    }

    /// Turns on Python's timestamp localisation, with the receiver's own `utcoffset` (hours west of
    /// UTC, Celery's sign convention). See the module docs for why this is off by default.
    pub fn with_localisation(mut self, receiver_utcoffset: f64) -> Receiver {
        self.localise_to = Some(receiver_utcoffset);
        self
    }

    /// The receiver's current Lamport clock.
    pub fn clock(&self) -> i64 {
        self.clock
    }

    /// Normalises one event in place, as `event_from_message` does; `local_received` is the time
    /// the caller took it off the wire (for a batch, each element gets its own call, in order).
    pub fn normalise(&mut self, event: &mut Event<'_>, local_received: f64) {
        if matches!(event.kind, EventKind::Task(TaskSubject::Sent)) {
            // CLIENT_CLOCK_SKEW = -1: the client's clock is discarded.
            let c = if self.clock == 0 { 1 } else { self.clock } - 1;
            event.clock = Some(Num::Int(c));
            self.adjust(c as f64);
        } else if let Some(clock) = event.clock {
            self.adjust(clock.as_f64());
        } else {
            self.clock = self.clock.saturating_add(1);
            event.clock = Some(Num::Int(self.clock));
        }
        if let (Some(here), Some(offset), Some(ts)) = (
            self.localise_to,
            event.fields.utcoffset.as_ref().and_then(JsonRef::as_num),
            event.timestamp,
        ) {
            event.timestamp = Some(Num::Float(ts.as_f64() - (offset.as_f64() - here) * 3600.0));
        }
        event.local_received = Some(Num::Float(local_received));
    }

    /// `adjust(x)`: `C = max(C, x) + 1`. Clocks beyond `i64` saturate rather than wrap.
    fn adjust(&mut self, other: f64) {
        let other = if other.is_finite() {
            other.clamp(i64::MIN as f64, i64::MAX as f64)
        } else {
            0.0
        };
        self.clock = self.clock.max(other as i64).saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::decode_event;

    fn ev(text: &str) -> Event<'_> {
        decode_event(text.as_bytes()).unwrap()
    }

    #[test]
    fn lamport_clock_follows_event_from_message() {
        let mut r = Receiver::new();
        // worker event with clock 5: adjust -> 6, body clock kept.
        let mut e = ev(r#"{"type":"worker-online","hostname":"w","timestamp":1.0,"clock":5}"#);
        r.normalise(&mut e, 10.0);
        assert_eq!((e.clock, r.clock()), (Some(Num::Int(5)), 6));
        // task-sent: clock rewritten to (C or 1) - 1 = 5, then adjust -> max(6, 5) + 1 = 7.
        let mut e =
            ev(r#"{"type":"task-sent","uuid":"u","hostname":"g","timestamp":1.0,"clock":99}"#);
        r.normalise(&mut e, 10.5);
        assert_eq!((e.clock, r.clock()), (Some(Num::Int(5)), 7));
        // no clock: forward -> 8, which becomes the event's clock.
        let mut e = ev(r#"{"type":"task-started","uuid":"u","hostname":"w","timestamp":1.0}"#);
        r.normalise(&mut e, 11.0);
        assert_eq!((e.clock, r.clock()), (Some(Num::Int(8)), 8));
        assert_eq!(e.local_received, Some(Num::Float(11.0)));
        // a fresh receiver rewrites task-sent to 0.
        let mut fresh = Receiver::new();
        let mut e =
            ev(r#"{"type":"task-sent","uuid":"u","hostname":"g","timestamp":1.0,"clock":3}"#);
        fresh.normalise(&mut e, 1.0);
        assert_eq!((e.clock, fresh.clock()), (Some(Num::Int(0)), 1));
    }

    #[test]
    fn localisation_is_off_by_default_and_pythonic_when_on() {
        let text = r#"{"type":"worker-heartbeat","hostname":"w","timestamp":1000.0,"utcoffset":-5.5,"clock":1}"#;
        let mut e = ev(text);
        Receiver::new().normalise(&mut e, 1000.0);
        assert_eq!(e.timestamp, Some(Num::Float(1000.0)));
        let mut e = ev(text);
        Receiver::new()
            .with_localisation(0.0)
            .normalise(&mut e, 1000.0);
        assert_eq!(e.timestamp, Some(Num::Float(1000.0 + 5.5 * 3600.0)));
    }
}
