//! The bench driver: starts the relay binary, connects WebSocket clients (or a bare lapin consumer),
//! runs the generator, and measures loss, latency, relay CPU and memory.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::generator::{Published, Publisher, Synth, unix_now};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Options of one measurement.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct RunOpts {
    /// Relay binary (default: `stalk-relay` beside this binary, i.e. `target/release/`).
    #[arg(long)]
    pub(crate) relay_bin: Option<PathBuf>,
    /// Events per second.
    #[arg(long, default_value_t = 5000.0)]
    pub(crate) rate: f64,
    /// Seconds to publish for.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) seconds: f64,
    /// WebSocket clients.
    #[arg(long, default_value_t = 10)]
    pub(crate) clients: usize,
    /// Measure a bare lapin consumer (own queue bound with `#`, prefetch 1000, acks every 100,
    /// counts messages) instead of the relay.
    #[arg(long)]
    pub(crate) bare: bool,
    /// After publishing, how long consumers may take to catch up before what is missing counts
    /// as lost.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) drain_seconds: f64,
    /// Sample the relay's RSS every this many seconds (0: never).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) sample_seconds: f64,
    /// Extra argument for the relay (repeat), e.g. `--relay-arg=--history-events=20000`.
    #[arg(long = "relay-arg", allow_hyphen_values = true)]
    pub(crate) relay_args: Vec<String>,
    /// Filled from the global `--broker`.
    #[arg(skip)]
    pub(crate) broker: String,
}

/// Percentiles of publish-to-client latency, milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Latency {
    /// Samples (events, over all clients).
    pub(crate) n: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub(crate) max_ms: f64,
}

/// The result of one measurement (one JSON line).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    /// `relay` or `bare`.
    pub(crate) consumer: &'static str,
    /// Target events per second.
    pub(crate) rate: f64,
    /// WebSocket clients (0 for bare).
    pub(crate) clients: usize,
    /// What the generator published (confirmed).
    pub(crate) published: Published,
    /// Distinct events each client got (bare: events in the messages it got).
    pub(crate) received: Vec<u64>,
    /// Largest `published - received` over the clients.
    pub(crate) lost: u64,
    /// Events a client got twice (sum over clients).
    pub(crate) duplicates: u64,
    /// `gap` frames (sum over clients).
    pub(crate) gaps: u64,
    /// Zero loss, and the generator reached 95% of the target rate.
    pub(crate) kept_up: bool,
    /// Publish to client (bare: publish to consumer, per message).
    pub(crate) latency: Latency,
    /// Relay CPU over publishing + draining, percent of one core.
    pub(crate) relay_cpu_pct: Option<f64>,
    /// Relay `VmHWM` at the end, MiB.
    pub(crate) relay_peak_rss_mib: Option<f64>,
    /// `(seconds since publishing started, VmRSS MiB)` every `--sample-seconds`.
    pub(crate) rss_samples: Vec<(f64, f64)>,
    /// `history_events` of the last `status` frame client 0 got.
    pub(crate) history_events: Option<u64>,
}

/// A fresh exchange name for one run.
pub(crate) fn unique_exchange() -> String {
    format!(
        "stalk-bench-{}-{}",
        std::process::id(),
        (unix_now() * 1000.0) as u64 % 100_000_000
    )
}

#[derive(Default)]
struct Counts {
    seen: Vec<u8>,
    dups: u64,
    gaps: u64,
    lat_us: Vec<u32>,
    history_events: Option<u64>,
}

#[derive(Deserialize)]
struct Frame {
    kind: String,
    #[serde(default)]
    events: Vec<Entry>,
    broker: Option<BrokerInfo>,
    history_events: Option<u64>,
}

#[derive(Deserialize)]
struct BrokerInfo {
    state: String,
}

#[derive(Deserialize)]
struct Entry {
    event: BenchFields,
}

#[derive(Deserialize)]
struct BenchFields {
    bench_id: Option<u64>,
    bench_pub: Option<f64>,
}

struct ClientHandle {
    distinct: Arc<AtomicU64>,
    counts: Arc<Mutex<Counts>>,
    task: JoinHandle<()>,
}

fn record(frame: &Frame, counts: &Mutex<Counts>, distinct: &AtomicU64, now: f64) {
    let mut c = counts.lock().unwrap();
    match frame.kind.as_str() {
        "events" => {
            for e in &frame.events {
                let (Some(id), Some(at)) = (e.event.bench_id, e.event.bench_pub) else {
                    continue;
                };
                let i = id as usize;
                if c.seen.len() <= i {
                    let len = (i + 1).max(c.seen.len() * 2);
                    c.seen.resize(len, 0);
                }
                if c.seen[i] == 0 {
                    c.seen[i] = 1;
                    distinct.fetch_add(1, Relaxed);
                } else {
                    c.dups += 1;
                }
                c.lat_us
                    .push(((now - at).max(0.0) * 1e6).min(u32::MAX as f64) as u32);
            }
        }
        "gap" => c.gaps += 1,
        "status" => c.history_events = frame.history_events,
        _ => {}
    }
}

fn spawn_client(mut ws: Ws) -> ClientHandle {
    let distinct = Arc::new(AtomicU64::new(0));
    let counts = Arc::new(Mutex::new(Counts::default()));
    let (d, c) = (distinct.clone(), counts.clone());
    let task = tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let now = unix_now();
            if let WsMessage::Text(text) = msg
                && let Ok(frame) = serde_json::from_str::<Frame>(text.as_str())
            {
                record(&frame, &c, &d, now);
            }
        }
    });
    ClientHandle {
        distinct,
        counts,
        task,
    }
}

/// Connects to `/ws` and reads until the relay says the broker is `connected` (its queue is
/// then declared, bound and consumed).
async fn connect_ready(port: u16, deadline: Instant) -> Result<Ws> {
    let url = format!("ws://127.0.0.1:{port}/ws");
    loop {
        if Instant::now() > deadline {
            bail!("the relay never reported a connected broker");
        }
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline.into(), ws.next()).await {
            if let WsMessage::Text(text) = msg
                && let Ok(frame) = serde_json::from_str::<Frame>(text.as_str())
                && frame.broker.is_some_and(|b| b.state == "connected")
            {
                return Ok(ws);
            }
        }
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// A `Vm*` line of `/proc/<pid>/status`, in MiB.
fn vm_mib(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn default_relay_bin() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    Ok(me.with_file_name("stalk-relay"))
}

struct Relay {
    child: Child,
    pid: u32,
    port: u16,
}

async fn start_relay(opts: &RunOpts, exchange: &str) -> Result<Relay> {
    let bin = match &opts.relay_bin {
        Some(b) => b.clone(),
        None => default_relay_bin()?,
    };
    let port = free_port()?;
    let child = Command::new(&bin)
        .arg("--broker")
        .arg(&opts.broker)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--exchange")
        .arg(exchange)
        .args(&opts.relay_args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "start {} (cargo build --release -p stalk-relay)",
                bin.display()
            )
        })?;
    let pid = child.id().context("relay pid")?;
    Ok(Relay { child, pid, port })
}

async fn stop_relay(mut relay: Relay) -> Result<()> {
    // SIGTERM: the relay shuts down gracefully (its queue then expires on the broker).
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(relay.pid.to_string())
        .status();
    if tokio::time::timeout(Duration::from_secs(5), relay.child.wait())
        .await
        .is_err()
    {
        relay.child.kill().await?;
    }
    Ok(())
}

/// The bare consumer: counts messages and events and the latency of each message.
async fn start_bare(broker: &str, exchange: &str) -> Result<(Connection, ClientHandle)> {
    let conn = Connection::connect(broker, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    let queue = format!("{exchange}.bare");
    let opts = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.as_str().into(), opts, FieldTable::default())
        .await?;
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel.basic_qos(1000, BasicQosOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "bare".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let distinct = Arc::new(AtomicU64::new(0));
    let counts = Arc::new(Mutex::new(Counts::default()));
    let (d, c) = (distinct.clone(), counts.clone());
    let task = tokio::spawn(async move {
        let mut unacked = 0;
        while let Some(Ok(delivery)) = consumer.next().await {
            let now = unix_now();
            let body = String::from_utf8_lossy(&delivery.data);
            let events = body.matches("\"bench_id\"").count() as u64;
            d.fetch_add(events, Relaxed);
            if let Some(at) = body
                .rfind("\"bench_pub\": ")
                .and_then(|i| body[i + 13..].split(['}', ',']).next())
                .and_then(|s| s.trim().parse::<f64>().ok())
            {
                let mut c = c.lock().unwrap();
                c.lat_us
                    .push(((now - at).max(0.0) * 1e6).min(u32::MAX as f64) as u32);
            }
            unacked += 1;
            if unacked >= 100 {
                unacked = 0;
                let _ = channel
                    .basic_ack(delivery.delivery_tag, BasicAckOptions { multiple: true })
                    .await;
            }
        }
    });
    Ok((
        conn,
        ClientHandle {
            distinct,
            counts,
            task,
        },
    ))
}

fn latency(mut all: Vec<u32>) -> Latency {
    if all.is_empty() {
        return Latency::default();
    }
    all.sort_unstable();
    let at = |q: f64| all[((all.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    Latency {
        n: all.len(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    }
}

/// One measurement.
pub(crate) async fn run(opts: &RunOpts) -> Result<Report> {
    let exchange = unique_exchange();
    let publisher = Publisher::connect(&opts.broker, &exchange).await?;
    let mut relay = None;
    let mut bare_conn = None;
    let mut clients = Vec::new();
    if opts.bare {
        let (conn, handle) = start_bare(&opts.broker, &exchange).await?;
        bare_conn = Some(conn);
        clients.push(handle);
    } else {
        let r = start_relay(opts, &exchange).await?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let first = connect_ready(r.port, deadline).await?;
        clients.push(spawn_client(first));
        for _ in 1..opts.clients {
            let url = format!("ws://127.0.0.1:{}/ws", r.port);
            let (ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
            clients.push(spawn_client(ws));
        }
        relay = Some(r);
    }
    let pid = relay.as_ref().map(|r| r.pid);

    let started = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = match (pid, opts.sample_seconds > 0.0) {
        (Some(pid), true) => {
            let every = Duration::from_secs_f64(opts.sample_seconds);
            let samples = samples.clone();
            Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    let Some(rss) = vm_mib(pid, "VmRSS:") else {
                        break;
                    };
                    let t = started.elapsed().as_secs_f64();
                    eprintln!("  t={t:6.1}s relay RSS {rss:7.1} MiB");
                    samples.lock().unwrap().push((t, rss));
                }
            }))
        }
        _ => None,
    };
    let cpu0 = pid.and_then(cpu_ticks);
    let mut synth = Synth::new(fastrand::u64(..), 4);
    let published = publisher
        .run(&mut synth, opts.rate, Duration::from_secs_f64(opts.seconds))
        .await?;

    let drain_until = Instant::now() + Duration::from_secs_f64(opts.drain_seconds);
    while Instant::now() < drain_until
        && clients
            .iter()
            .any(|c| c.distinct.load(Relaxed) < published.events)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let window = started.elapsed().as_secs_f64();
    let cpu1 = pid.and_then(cpu_ticks);
    let relay_cpu_pct = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some((b - a) as f64 / clk_tck() / window * 100.0),
        _ => None,
    };
    let relay_peak_rss_mib = pid.and_then(|p| vm_mib(p, "VmHWM:"));
    if let Some(s) = sampler {
        s.abort();
    }
    let rss_samples = std::mem::take(&mut *samples.lock().unwrap());

    let mut received = Vec::new();
    let mut lat = Vec::new();
    let (mut duplicates, mut gaps) = (0, 0);
    let mut history_events = None;
    for (i, c) in clients.iter().enumerate() {
        c.task.abort();
        received.push(c.distinct.load(Relaxed));
        let mut counts = c.counts.lock().unwrap();
        duplicates += counts.dups;
        gaps += counts.gaps;
        lat.append(&mut counts.lat_us);
        if i == 0 {
            history_events = counts.history_events;
        }
    }
    let lost = received
        .iter()
        .map(|r| published.events.saturating_sub(*r))
        .max()
        .unwrap_or(published.events);
    if let Some(r) = relay {
        stop_relay(r).await?;
    }
    if let Some(conn) = bare_conn {
        conn.close(200, "bye".into()).await?;
    }
    publisher.finish().await?;
    Ok(Report {
        consumer: if opts.bare { "bare" } else { "relay" },
        rate: opts.rate,
        clients: if opts.bare { 0 } else { opts.clients },
        kept_up: lost == 0 && published.events_per_s >= 0.95 * opts.rate,
        published,
        received,
        lost,
        duplicates,
        gaps,
        latency: latency(lat),
        relay_cpu_pct,
        relay_peak_rss_mib,
        rss_samples,
        history_events,
    })
}

fn summary(r: &Report) -> String {
    let who = if r.consumer == "bare" {
        "bare lapin".to_owned()
    } else {
        format!("relay, {:>2} clients", r.clients)
    };
    format!(
        "{who}: target {:>6.0} ev/s, published {:>6.0} ev/s ({} events in {} msgs), lost {}, dup {}, gaps {}, latency p50 {:.1} ms p99 {:.1} ms max {:.1} ms, relay CPU {}, peak RSS {} -> {}",
        r.rate,
        r.published.events_per_s,
        r.published.events,
        r.published.messages,
        r.lost,
        r.duplicates,
        r.gaps,
        r.latency.p50_ms,
        r.latency.p99_ms,
        r.latency.max_ms,
        r.relay_cpu_pct.map_or("-".into(), |c| format!("{c:.0}%")),
        r.relay_peak_rss_mib
            .map_or("-".into(), |m| format!("{m:.1} MiB")),
        if r.kept_up { "KEPT UP" } else { "FELL BEHIND" },
    )
}

async fn measure(opts: &RunOpts) -> Result<Report> {
    let r = run(opts).await?;
    println!("{}", summary(&r));
    println!("  {}", serde_json::to_string(&r)?);
    Ok(r)
}

/// Doubling steps from 2,500 events/s until one fails, then one bisection step.
async fn search(base: &RunOpts, label: &str) -> Result<f64> {
    println!("== search: {label}");
    let mut best = 0.0;
    let mut failed = None;
    for rate in [2_500.0, 5_000.0, 10_000.0, 20_000.0, 40_000.0, 80_000.0] {
        let r = measure(&RunOpts {
            rate,
            ..base.clone()
        })
        .await?;
        if r.kept_up {
            best = rate;
        } else {
            failed = Some(rate);
            break;
        }
    }
    if let Some(fail) = failed
        && best > 0.0
    {
        let mid = (best + fail) / 2.0;
        let r = measure(&RunOpts {
            rate: mid,
            ..base.clone()
        })
        .await?;
        if r.kept_up {
            best = mid;
        }
    }
    println!("== {label}: highest rate kept up (zero loss): {best:.0} events/s");
    Ok(best)
}

/// Everything in docs/benchmarks.md, "Relay".
pub(crate) async fn suite(
    broker: &str,
    relay_bin: Option<PathBuf>,
    step_seconds: f64,
    soak_seconds: f64,
    soak_rate: f64,
) -> Result<()> {
    let t0 = Instant::now();
    let base = RunOpts {
        relay_bin,
        rate: 0.0,
        seconds: step_seconds,
        clients: 1,
        bare: false,
        drain_seconds: 3.0,
        sample_seconds: 0.0,
        relay_args: Vec::new(),
        broker: broker.to_owned(),
    };
    let bare = search(
        &RunOpts {
            bare: true,
            ..base.clone()
        },
        "bare lapin consumer",
    )
    .await?;
    let one = search(&base, "relay, 1 client").await?;
    let ten = search(
        &RunOpts {
            clients: 10,
            ..base.clone()
        },
        "relay, 10 clients",
    )
    .await?;
    println!("== 5,000 events/s, 10 clients, 10 s (twice)");
    for _ in 0..2 {
        measure(&RunOpts {
            rate: 5000.0,
            seconds: 10.0,
            clients: 10,
            ..base.clone()
        })
        .await?;
    }
    println!(
        "== soak: {soak_rate:.0} events/s, 1 client, {soak_seconds:.0} s, --history-events 20000"
    );
    measure(&RunOpts {
        rate: soak_rate,
        seconds: soak_seconds,
        sample_seconds: 5.0,
        relay_args: vec!["--history-events=20000".into()],
        ..base.clone()
    })
    .await?;
    println!(
        "== highest zero-loss rate: bare {bare:.0}, relay 1 client {one:.0}, relay 10 clients {ten:.0} events/s; suite took {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
