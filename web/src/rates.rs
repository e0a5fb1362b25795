//! Events and new tasks per second over the last few minutes, for the dashboard's chart.
//!
//! One bucket per second of the page's clock, in a ring of [`SPAN_SECS`] buckets: a fixed few
//! kilobytes whatever the load. Seconds with nothing recorded read as zero.

use std::collections::VecDeque;

/// Seconds kept (5 minutes).
pub const SPAN_SECS: usize = 300;

/// Counts for one second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Events applied.
    pub events: u32,
    /// Tasks seen for the first time.
    pub tasks: u32,
}

/// The ring of per-second buckets.
#[derive(Clone, Debug, Default)]
pub struct Rates {
    /// The second (unix, floored) of the newest bucket.
    newest: i64,
    /// Oldest first; at most [`SPAN_SECS`].
    buckets: VecDeque<Bucket>,
}

impl Rates {
    /// Adds `events` and `tasks` to the second `now` (unix seconds) falls in. A `now` older than
    /// the newest bucket (the clock went back) counts into the newest bucket.
    pub fn record(&mut self, now: f64, events: u32, tasks: u32) {
        self.advance(now);
        if let Some(b) = self.buckets.back_mut() {
            b.events = b.events.saturating_add(events);
            b.tasks = b.tasks.saturating_add(tasks);
        }
    }

    /// Moves the ring to the second of `now`, adding empty buckets for the seconds in between.
    fn advance(&mut self, now: f64) {
        let second = now.floor() as i64;
        if self.buckets.is_empty() {
            self.newest = second;
            self.buckets.push_back(Bucket::default());
            return;
        }
        let missing = (second - self.newest).clamp(0, SPAN_SECS as i64) as usize;
        for _ in 0..missing {
            if self.buckets.len() == SPAN_SECS {
                self.buckets.pop_front();
            }
            self.buckets.push_back(Bucket::default());
        }
        self.newest = self.newest.max(second);
    }

    /// The last `secs` complete seconds before `now` (the current, partial second excluded),
    /// oldest first, zeros where nothing was recorded. `secs` is capped at [`SPAN_SECS`].
    pub fn series(&self, now: f64, secs: usize) -> Vec<Bucket> {
        let secs = secs.min(SPAN_SECS);
        let last_complete = now.floor() as i64 - 1;
        (0..secs as i64)
            .rev()
            .map(|back| self.at(last_complete - back))
            .collect()
    }

    fn at(&self, second: i64) -> Bucket {
        let back = self.newest - second;
        if back < 0 || back as usize >= self.buckets.len() {
            return Bucket::default();
        }
        self.buckets[self.buckets.len() - 1 - back as usize]
    }

    /// Mean events and tasks per second over the last `secs` complete seconds.
    pub fn mean(&self, now: f64, secs: usize) -> (f64, f64) {
        let s = self.series(now, secs);
        let n = s.len().max(1) as f64;
        let (e, t) = s.iter().fold((0u64, 0u64), |(e, t), b| {
            (e + u64::from(b.events), t + u64::from(b.tasks))
        });
        (e as f64 / n, t as f64 / n)
    }
}

/// An SVG polyline's `points` for `values` in a `width` x `height` box (y grows downwards; the
/// highest value touches the top; all zeros lie on the bottom line).
pub fn polyline(values: &[u32], width: f64, height: f64) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = if values.len() > 1 {
        width / (values.len() - 1) as f64
    } else {
        0.0
    };
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let x = i as f64 * step;
            let y = height - f64::from(v) / max * height;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(events: u32, tasks: u32) -> Bucket {
        Bucket { events, tasks }
    }

    #[test]
    fn buckets_per_second_with_zeros_between() {
        let mut r = Rates::default();
        r.record(100.2, 5, 1);
        r.record(100.9, 5, 0);
        r.record(103.5, 7, 2);
        // At 104.1 the complete seconds are ..., 101, 102, 103.
        assert_eq!(
            r.series(104.1, 5),
            [b(0, 0), b(10, 1), b(0, 0), b(0, 0), b(7, 2)]
        );
        assert_eq!(r.mean(104.1, 2), (3.5, 1.0));
        // The current second is not complete: not shown yet.
        assert_eq!(r.series(103.7, 1), [b(0, 0)]);
    }

    #[test]
    fn the_ring_is_bounded_and_survives_clock_jumps() {
        let mut r = Rates::default();
        r.record(0.0, 1, 0);
        r.record(10_000.0, 2, 0); // far ahead: the ring is refilled with zeros, never grows
        assert_eq!(r.buckets.len(), SPAN_SECS);
        r.record(5.0, 3, 0); // back in time: counted in the newest second
        assert_eq!(r.series(10_001.0, 1), [b(5, 0)]);
        assert_eq!(r.series(10_001.0, 10_000).len(), SPAN_SECS);
        assert_eq!(Rates::default().mean(1.0, 10), (0.0, 0.0));
    }

    #[test]
    fn polylines_fit_the_box() {
        assert_eq!(
            polyline(&[0, 5, 10], 100.0, 20.0),
            "0.0,20.0 50.0,10.0 100.0,0.0"
        );
        assert_eq!(polyline(&[0, 0], 10.0, 5.0), "0.0,5.0 10.0,5.0");
        assert_eq!(polyline(&[], 10.0, 5.0), "");
    }
}
