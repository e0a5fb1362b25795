//! `stalk-state bench`: parse + apply throughput and memory per task on a recording fed repeatedly.
//!
//! Each pass rewrites the recording so that it looks like the next stretch of a long-running
//! cluster: every uuid-shaped string gets a fresh prefix (so tasks are new and the state grows and
//! evicts), clocks and times move forward by the recording's span (so the time heap sees the
//! mostly-increasing order production has). The rewrite happens between timed sections: only
//! parse + apply is timed. Memory is counted by a counting allocator: the bytes the State holds
//! after the run, divided by the tasks in memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use stalk_state::{State, decode_event};

use crate::{parse_opts, read_all};

/// Counts live heap bytes so memory per task is measured, not guessed.
///
/// The counters are plain loads and stores, not atomic read-modify-writes: the bench runs on one
/// thread, and a locked add at every allocation and free would be timed with the State (Python's
/// side is timed with its memory tracing off). With several threads the counts could only be
/// off, never unsound.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[allow(
    unsafe_code,
    reason = "a GlobalAlloc must be an unsafe impl; it only forwards to System and counts"
)]
mod alloc_impl {
    use super::*;

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                let now = LIVE.load(Ordering::Relaxed) + layout.size();
                LIVE.store(now, Ordering::Relaxed);
                if now > PEAK.load(Ordering::Relaxed) {
                    PEAK.store(now, Ordering::Relaxed);
                }
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) };
            let now = LIVE.load(Ordering::Relaxed).wrapping_sub(layout.size());
            LIVE.store(now, Ordering::Relaxed);
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

/// One piece of a line template.
enum Part {
    Text(Range<usize>),
    /// A uuid-shaped string (without quotes): its first 8 hex digits are replaced per pass.
    Uuid(Range<usize>),
    Clock(i64),
    Time(f64),
}

struct Template {
    src: Vec<u8>,
    lines: Vec<Vec<Part>>,
    clock_span: i64,
    time_span: f64,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let opts = parse_opts(args)?;
    let path = opts.file.clone().ok_or("bench needs a FILE")?;
    let target = opts.events.unwrap_or(1_000_000);
    let template = Template::new(read_all(&path)?);
    if template.lines.is_empty() {
        return Err(format!("{path} has no events"));
    }

    let before_state = LIVE.load(Ordering::Relaxed);
    let mut state = State::new(opts.limits);
    let mut buf = Vec::new();
    let mut lines = Vec::new();
    let mut events = 0u64;
    let mut errors = 0u64;
    let mut elapsed = 0.0f64;
    let mut pass = 0u64;
    let no_apply = std::env::var_os("NOAPPLY").is_some();
    while events < target {
        template.render(pass, &mut buf, &mut lines);
        let started = Instant::now();
        for range in &lines {
            if events >= target {
                break;
            }
            let line = &buf[range.clone()];
            events += 1;
            // Matched by reference: binding the event by value copied all of it (~750 bytes)
            // out of the result once more.
            match &decode_event(line) {
                Ok(ev) if no_apply => _ = std::hint::black_box(ev),
                Ok(ev) => errors += u64::from(state.apply(ev).is_err()),
                Err(_) => errors += 1,
            }
        }
        elapsed += started.elapsed().as_secs_f64();
        pass += 1;
    }
    // Only the State is left to count: the rendered pass and its line ranges go first.
    drop(buf);
    drop(lines);
    let held = LIVE.load(Ordering::Relaxed).saturating_sub(before_state);
    let tasks = state.task_len();
    let views = bench_views(&state);
    let out = serde_json::json!({
        "events": events,
        "seconds": elapsed,
        "events_per_sec": events as f64 / elapsed,
        "tasks_in_memory": tasks,
        "peak_rss_bytes": peak_rss(),
        "state_heap_bytes": held,
        "bytes_per_task": held as f64 / tasks.max(1) as f64,
        "peak_heap_bytes": PEAK.load(Ordering::Relaxed),
        "errors": errors,
        "passes": pass,
        "views": views,
    });
    println!("{out}");
    Ok(())
}

/// What a UI pays per frame on this state: building a filtered, sorted task window from scratch
/// (when the user changes the filter), updating it with a frame's worth of changed tasks, reading
/// one screen of rows, and the tree of the largest workflow.
fn bench_views(state: &State) -> serde_json::Value {
    use stalk_state::views::{Filter, LiveQuery, SortKey, tree};
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let mut all = LiveQuery::new(state, Filter::default(), SortKey::Received, true);
    let build_all_ms = ms(t);
    let text = Filter {
        text: Some("page1".into()),
        ..Filter::default()
    };
    let t = Instant::now();
    let filtered = LiveQuery::new(state, text, SortKey::Runtime, false);
    let build_text_filter_ms = ms(t);
    // A frame at 5,000 events/s and 60 frames/s touches ~85 tasks; take 200 to be safe.
    let changed: Vec<_> = state
        .tasks()
        .map(|(h, _)| h)
        .step_by(state.task_len().max(200) / 200)
        .take(200)
        .collect();
    let t = Instant::now();
    all.update(state, changed.iter().copied());
    let update_200_ms = ms(t);
    let t = Instant::now();
    let rows = all.window(all.len() / 2, 50);
    let window_50_mid_ms = ms(t);
    let biggest = state
        .tasks()
        .filter_map(|(_, t)| t.root_id().map(str::to_owned))
        .max_by_key(|r| state.tasks_with_root(r).count());
    let t = Instant::now();
    let tree_rows = biggest.map_or(0, |r| tree(state, &r).len());
    let tree_ms = ms(t);
    serde_json::json!({
        "tasks": state.task_len(), "build_all_ms": build_all_ms, "build_text_filter_ms": build_text_filter_ms,
        "text_matches": filtered.len(), "update_200_ms": update_200_ms, "window_50_mid_ms": window_50_mid_ms,
        "rows": rows.len(), "largest_tree_rows": tree_rows, "largest_tree_ms": tree_ms,
    })
}

/// Peak resident set size from `/proc` (Linux); `null` elsewhere (e.g. under wasm).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl Template {
    fn new(src: Vec<u8>) -> Template {
        let mut lines = Vec::new();
        let (mut min_t, mut max_t, mut max_clock) = (f64::MAX, f64::MIN, 0i64);
        let mut start = 0;
        while start < src.len() {
            let end = src[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(src.len(), |p| start + p);
            if src[start..end].iter().any(|b| !b.is_ascii_whitespace()) {
                let parts = split_line(&src, start..end);
                for p in &parts {
                    match *p {
                        Part::Clock(c) => max_clock = max_clock.max(c),
                        Part::Time(t) => (min_t, max_t) = (min_t.min(t), max_t.max(t)),
                        _ => {}
                    }
                }
                lines.push(parts);
            }
            start = end + 1;
        }
        let time_span = if max_t >= min_t {
            (max_t - min_t).ceil() + 1.0
        } else {
            1.0
        };
        Template {
            src,
            lines,
            clock_span: max_clock + 1,
            time_span,
        }
    }

    /// Writes pass `pass` of the recording into `out`, one event per line, and each line's range
    /// into `lines` (so the timed loop does not scan for line ends).
    fn render(&self, pass: u64, out: &mut Vec<u8>, lines: &mut Vec<Range<usize>>) {
        use std::io::Write;
        out.clear();
        lines.clear();
        let prefix = format!("{:08x}", pass as u32);
        for parts in &self.lines {
            let start = out.len();
            for p in parts {
                let _ = match p {
                    Part::Text(r) => out.write_all(&self.src[r.clone()]),
                    Part::Uuid(r) => {
                        out.extend_from_slice(prefix.as_bytes());
                        out.write_all(&self.src[r.start + 8..r.end])
                    }
                    Part::Clock(c) => write!(out, "{}", c + pass as i64 * self.clock_span),
                    Part::Time(t) => write!(out, "{:?}", t + pass as f64 * self.time_span),
                };
            }
            lines.push(start..out.len());
            out.push(b'\n');
        }
    }
}

/// Splits a line into text, uuid strings, and the numbers after `"clock": `, `"timestamp": ` and
/// `"local_received": `.
fn split_line(src: &[u8], range: Range<usize>) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut text_start = range.start;
    let mut i = range.start;
    while i < range.end {
        if src[i] == b'"' {
            let text = |n: &Range<usize>| std::str::from_utf8(&src[n.clone()]).unwrap_or("");
            if let Some(n) = number_after(src, i, range.end, b"\"clock\": ")
                && let Ok(c) = text(&n).parse::<i64>()
            {
                parts.push(Part::Text(text_start..n.start));
                parts.push(Part::Clock(c));
                (text_start, i) = (n.end, n.end);
                continue;
            }
            if let Some(n) = number_after(src, i, range.end, b"\"timestamp\": ")
                .or_else(|| number_after(src, i, range.end, b"\"local_received\": "))
                && let Ok(t) = text(&n).parse::<f64>()
            {
                parts.push(Part::Text(text_start..n.start));
                parts.push(Part::Time(t));
                (text_start, i) = (n.end, n.end);
                continue;
            }
            // A quoted uuid: the quote at `i`, the uuid, the closing quote.
            let close = i + 1 + UUID_LEN;
            if close < range.end && src[close] == b'"' && is_uuid(&src[i + 1..close]) {
                parts.push(Part::Text(text_start..i + 1));
                parts.push(Part::Uuid(i + 1..close));
                (text_start, i) = (close, close);
                continue;
            }
        }
        i += 1;
    }
    parts.push(Part::Text(text_start..range.end));
    parts
}

fn number_after(src: &[u8], at: usize, end: usize, key: &[u8]) -> Option<Range<usize>> {
    let rest = &src[at..end];
    if !rest.starts_with(key) {
        return None;
    }
    let start = at + key.len();
    let len = src[start..end]
        .iter()
        .take_while(|b| b.is_ascii_digit() || b"-.eE+".contains(b))
        .count();
    (len > 0).then_some(start..start + len)
}

/// Characters in a uuid's text (`8-4-4-4-12` hex digits).
const UUID_LEN: usize = 36;

fn is_uuid(s: &[u8]) -> bool {
    s.len() == UUID_LEN
        && s.iter().enumerate().all(|(i, &b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_rename_tasks_and_move_time_forward() {
        let src = br#"{"clock": 7, "uuid": "912daa65-dc66-4efa-9977-98ef04d9b88c", "timestamp": 100.5, "local_received": 101.25}"#;
        let t = Template::new(src.to_vec());
        let mut out = Vec::new();
        t.render(0, &mut out, &mut Vec::new());
        let first = String::from_utf8(out.clone()).unwrap();
        assert!(
            first.contains("\"00000000-dc66-4efa-9977-98ef04d9b88c\""),
            "{first}"
        );
        assert!(
            first.contains("\"clock\": 7,") && first.contains("\"timestamp\": 100.5,"),
            "{first}"
        );
        t.render(2, &mut out, &mut Vec::new());
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "{\"clock\": 23, \"uuid\": \"00000002-dc66-4efa-9977-98ef04d9b88c\", \"timestamp\": 104.5, \"local_received\": 105.25}\n"
        );
    }
}
