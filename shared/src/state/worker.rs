//! One worker as the State knows it: copied fields and the heartbeat window (Python's `Worker`).

use std::rc::Rc;

use super::EXTRAS_MAX;
use super::strings::{Keep, Strings};
use crate::event::{Fields, ids};
use crate::json::JsonRef;
use crate::value::{Num, Value};

/// How many heartbeats a worker keeps (`Worker.heartbeat_max`).
pub const HEARTBEAT_MAX: usize = 4;

/// A worker counts as alive until `last heartbeat + freq * 2.0` (Celery's
/// `HEARTBEAT_EXPIRE_WINDOW`, 200 %).
pub const EXPIRE_WINDOW: f64 = 2.0;

/// Drift between a worker's timestamp and our receive time beyond which clocks are out of sync
/// (`HEARTBEAT_DRIFT_MAX`, seconds).
pub const DRIFT_MAX: i64 = 16;

/// One worker. Every field of its events is copied onto it, as in Python.
#[derive(Clone, Debug, PartialEq)]
pub struct Worker {
    /// Node name (`celery@host`): the worker's identity.
    pub hostname: Rc<str>,
    /// Process id (null until a worker event says).
    pub pid: Value,
    /// Heartbeat interval in seconds (60 until a worker event says).
    pub freq: Value,
    /// Lamport clock of its last worker event.
    pub clock: Value,
    /// Tasks executing.
    pub active: Value,
    /// Tasks processed.
    pub processed: Value,
    /// Load average.
    pub loadavg: Value,
    /// Software name.
    pub sw_ident: Value,
    /// Software version.
    pub sw_ver: Value,
    /// Operating system.
    pub sw_sys: Value,
    /// Receive times of the last heartbeats, sorted, at most [`HEARTBEAT_MAX`].
    pub heartbeats: Vec<Num>,
    /// The largest drift seen between its timestamps and our receive times, when over
    /// [`DRIFT_MAX`] (Python logs a warning once per hostname; we keep it for display).
    pub drift: Option<i64>,
    /// Other copied fields (`utcoffset`, gossip fields, custom ones).
    pub extra: Vec<(Rc<str>, Value)>,
    /// `"<hostname>.<pid>"`, Python's `Worker.id`: the heap origin of its task events.
    pub(crate) id: Rc<str>,
}

impl Worker {
    pub(crate) fn new(hostname: Rc<str>) -> Worker {
        let id = Rc::from(format!("{hostname}.None"));
        Worker {
            hostname,
            pid: Value::Null,
            freq: Value::Int(60),
            clock: Value::Int(0),
            active: Value::Null,
            processed: Value::Null,
            loadavg: Value::Null,
            sw_ident: Value::Null,
            sw_ver: Value::Null,
            sw_sys: Value::Null,
            heartbeats: Vec::with_capacity(HEARTBEAT_MAX),
            drift: None,
            extra: Vec::new(),
            id,
        }
    }

    /// Python's `Worker.id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When the worker stops counting as alive, if it has heartbeats and a numeric `freq`.
    pub fn heartbeat_expires(&self) -> Option<f64> {
        let last = self.heartbeats.last()?;
        let freq = self.freq.as_num()?;
        Some(last.as_f64() + freq.as_f64() * EXPIRE_WINDOW)
    }

    /// `alive` at time `now` (seconds, on the receive clock).
    pub fn alive(&self, now: f64) -> bool {
        self.heartbeat_expires()
            .is_some_and(|expires| now < expires)
    }

    /// Copies a worker event's fields (Python copies every key; the envelope and the worker's own
    /// structure excepted, see `docs/state.md`).
    pub(crate) fn copy_fields(
        &mut self,
        clock: Option<Num>,
        f: &Fields<'_>,
        strings: &mut Strings,
    ) {
        if let Some(c) = clock {
            self.clock = c.into();
        }
        // Every key is copied; the worker's own fields by name, the rest into `extra`.
        let mut pid_changed = false;
        for (id, k, v) in f.named() {
            let slot = match id {
                ids::pid => {
                    // Every heartbeat repeats the pid: rebuild the id only when it changes.
                    let pid = strings.value(v, Keep::Shared, false);
                    if pid != self.pid {
                        self.pid = pid;
                        pid_changed = true;
                    }
                    continue;
                }
                ids::freq => &mut self.freq,
                ids::active => &mut self.active,
                ids::processed => &mut self.processed,
                ids::loadavg => &mut self.loadavg,
                ids::sw_ident => &mut self.sw_ident,
                ids::sw_ver => &mut self.sw_ver,
                ids::sw_sys => &mut self.sw_sys,
                _ => {
                    self.set_extra(k, v, strings);
                    continue;
                }
            };
            *slot = strings.value(v, Keep::Shared, false);
        }
        for (k, v) in &f.other {
            // `heartbeats` and `id` are the worker's own structure: never overwritten.
            if !matches!(&**k, "heartbeats" | "id") {
                self.set_extra(k, v, strings);
            }
        }
        if pid_changed {
            // Shared, so that every worker with this id (recordings restart workers) holds one
            // allocation: the time heap keys origins by allocation.
            self.id = strings.shared(&format!("{}.{}", self.hostname, py_str(&self.pid)));
        }
    }

    fn set_extra(&mut self, key: &str, v: &JsonRef<'_>, strings: &mut Strings) {
        match self.extra.iter().position(|(k, _)| &**k == key) {
            Some(i) => self.extra[i].1 = strings.value(v, Keep::Plain, false),
            // Refused before its value is stored: nothing is built for a key that is not kept.
            None if self.extra.len() >= EXTRAS_MAX => strings.extras.refuse(),
            None => {
                let v = strings.value(v, Keep::Plain, false);
                self.extra.push((strings.shared(key), v));
                strings.extras.held(self.extra.len());
            }
        }
    }

    /// Python's heartbeat update (`Worker.event` past the field copy): ignores falsy times, records
    /// drift, then keeps the last [`HEARTBEAT_MAX`] receive times in sorted position.
    pub(crate) fn heartbeat(&mut self, timestamp: Num, local_received: Num) {
        if !local_received.is_truthy() || !timestamp.is_truthy() {
            return;
        }
        // Python's integers do not overflow; ours saturate (a drift past i64 is absurd anyway, and
        // the figure is only shown): `abs_diff` cannot overflow where `(a - b).abs()` can.
        let drift =
            i64::try_from(trunc(local_received).abs_diff(trunc(timestamp))).unwrap_or(i64::MAX);
        if drift > DRIFT_MAX {
            self.drift = Some(self.drift.map_or(drift, |d| d.max(drift)));
        }
        let hearts = self.heartbeats.len();
        // The usual step once the window is full: the oldest goes, the newest comes last. On the
        // window as a fixed-size array the shift is three moves, not a call to `memmove`.
        if let Ok(window) = <&mut [Num; HEARTBEAT_MAX]>::try_from(&mut self.heartbeats[..])
            && local_received > window[HEARTBEAT_MAX - 1]
        {
            window.copy_within(1.., 0);
            window[HEARTBEAT_MAX - 1] = local_received;
            return;
        }
        if hearts > HEARTBEAT_MAX - 1 {
            self.heartbeats.remove(0);
        }
        match self.heartbeats.last() {
            Some(last) if hearts > 0 && local_received > *last => {
                self.heartbeats.push(local_received)
            }
            _ => {
                // bisect.insort (right): after every entry <= the new one.
                let at = self.heartbeats.partition_point(|h| *h <= local_received);
                self.heartbeats.insert(at, local_received);
            }
        }
    }
}

fn trunc(n: Num) -> i64 {
    match n {
        Num::Int(i) => i,
        // `as` truncates toward zero (and saturates), as `f.trunc() as i64` would, without the
        // libm call `trunc` is on targets without SSE4.1.
        Num::Float(f) => f as i64,
    }
}

/// Python's `str()` of a JSON-decoded value, for `Worker.id`.
fn py_str(v: &Value) -> String {
    match v {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => s.to_string(),
        Value::Json(j) => j.to_string(),
        Value::Packed(_) => v.text().unwrap_or_default().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_window_matches_python() {
        // Python's State, fed these times in this order, keeps the window below.
        let mut w = Worker::new("w".into());
        let mut seen = Vec::new();
        for t in [10, 12, 11, 13, 14, 9, 15] {
            w.heartbeat(Num::Int(t), Num::Int(t));
            seen.push(
                w.heartbeats
                    .iter()
                    .map(|n| n.as_f64() as i64)
                    .collect::<Vec<_>>(),
            );
        }
        let expect: Vec<Vec<i64>> = vec![
            vec![10],
            vec![10, 12],
            vec![10, 11, 12],
            vec![10, 11, 12, 13],
            vec![11, 12, 13, 14],
            vec![9, 12, 13, 14],
            vec![12, 13, 14, 15],
        ];
        assert_eq!(seen, expect);
    }

    #[test]
    fn falsy_times_are_ignored_and_drift_is_kept() {
        let mut w = Worker::new("w".into());
        w.heartbeat(Num::Int(0), Num::Float(5.0));
        w.heartbeat(Num::Float(5.0), Num::Float(0.0));
        assert!(w.heartbeats.is_empty());
        w.heartbeat(Num::Float(100.0), Num::Float(130.5));
        assert_eq!(w.drift, Some(30));
    }

    #[test]
    fn liveness_uses_freq_and_the_last_heartbeat() {
        let mut w = Worker::new("w".into());
        assert!(!w.alive(0.0));
        w.freq = Value::Float(2.0);
        w.heartbeat(Num::Float(100.0), Num::Float(100.0));
        assert_eq!(w.heartbeat_expires(), Some(104.0));
        assert!(w.alive(103.9));
        assert!(!w.alive(104.0));
        w.freq = Value::Str("fast".into());
        assert_eq!(w.heartbeat_expires(), None);
    }
}
