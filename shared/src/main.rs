//! `stalk-state`: dump the State built from a recording as canonical JSON, or benchmark it
//! (documented in `docs/state.md`).

use std::io::{self, BufRead, Read, Write};
use std::process::ExitCode;

use stalk_state::{DecodeError, Limits, State, decode_event, dump};

mod bench;

const USAGE: &str = "\
usage:
  stalk-state dump  [--now SECONDS] [--max-tasks N] [--max-workers N] [--heap] [FILE]
  stalk-state bench FILE [--events N] [--max-tasks N]

dump   reads NDJSON events in receiver form (with local_received) from FILE or stdin and prints the
       resulting State as one canonical JSON object. Bad lines are reported on stderr and skipped.
       --heap adds the time heap entry by entry (`heap`), for the differential tests.
bench  feeds FILE repeatedly (fresh task ids, clocks and times each pass) until N events (default
       1,000,000) were parsed and applied, and prints one JSON line with the figures.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dump") => run_dump(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("stalk-state: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Options shared by the sub-commands.
#[derive(Debug, Default)]
pub(crate) struct Opts {
    pub(crate) file: Option<String>,
    pub(crate) now: Option<f64>,
    pub(crate) limits: Limits,
    pub(crate) events: Option<u64>,
    pub(crate) heap: bool,
}

pub(crate) fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--now" => o.now = Some(number(&value("--now")?)?),
            "--max-tasks" => o.limits.max_tasks = count(&value("--max-tasks")?)?,
            "--max-workers" => o.limits.max_workers = count(&value("--max-workers")?)?,
            "--events" => o.events = Some(count(&value("--events")?)? as u64),
            "--heap" => o.heap = true,
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}\n{USAGE}"));
            }
            file if o.file.is_none() => o.file = Some(file.to_owned()),
            extra => return Err(format!("unexpected argument {extra}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn number(s: &str) -> Result<f64, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

fn count(s: &str) -> Result<usize, String> {
    match s.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("not a positive integer: {s}")),
    }
}

fn run_dump(args: &[String]) -> Result<(), String> {
    let opts = parse_opts(args)?;
    let input: Box<dyn BufRead> = match &opts.file {
        Some(path) => Box::new(io::BufReader::new(
            std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?,
        )),
        None => Box::new(io::BufReader::new(io::stdin())),
    };
    let mut state = State::new(opts.limits);
    let mut latest: Option<f64> = None;
    let stderr = io::stderr();
    let mut err = stderr.lock();
    for (i, line) in input.split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("read error: {e}"))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let lineno = i + 1;
        match decode_event(&line) {
            Ok(event) => {
                if let Some(t) = event.local_received {
                    latest = Some(latest.map_or(t.as_f64(), |l| l.max(t.as_f64())));
                }
                if let Err(e) = state.apply(&event) {
                    let _ = writeln!(err, "line {lineno}: {e}; skipped");
                }
            }
            Err(e @ (DecodeError::NotJson(_) | DecodeError::NotAnObject(_))) => {
                let _ = writeln!(err, "line {lineno}: {e}; skipped");
            }
            Err(e) => {
                // A JSON object Python's State would have counted before failing on it.
                state.count_rejected();
                let _ = writeln!(err, "line {lineno}: {e}; skipped");
            }
        }
    }
    let now = opts.now.or(latest).unwrap_or(0.0);
    let mut out = dump::dump(&state, now);
    if opts.heap {
        out["heap"] = dump::heap(&state);
    }
    let out = serde_json::to_string(&out).map_err(|e| e.to_string())?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{out}").map_err(|e| e.to_string())
}

/// Reads a whole file (or stdin for `-`).
pub(crate) fn read_all(path: &str) -> Result<Vec<u8>, String> {
    if path == "-" {
        let mut buf = Vec::new();
        io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| e.to_string())?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}
