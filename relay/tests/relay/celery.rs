//! End to end with a real Celery: a prefork worker (`-E`, from the project's venv) runs real tasks
//! (`relay/tests/celery_app/`), an independent recorder consumes the same exchange, and two
//! WebSocket clients must each get exactly what the recorder saw.
//!
//! The worker, the task queue and the control exchange are unique to the run, and so is the
//! events exchange (Celery's `event_exchange`), so parallel tests never mix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::helpers::{AppOpts, TestApp, WAIT, spawn_app, unique};
use crate::recorder::Recorder;

/// The broker as Celery (kombu) spells it.
const CELERY_BROKER: &str = "amqp://guest:guest@127.0.0.1:5672//";

fn celery_app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/celery_app")
}

/// The venv's python, created on first use by `tools/python/ensure-venv` (idempotent).
async fn python() -> Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/python/ensure-venv");
    let out = tokio::process::Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .await
        .with_context(|| format!("run {}", script.display()))?;
    ensure!(out.status.success(), "ensure-venv failed");
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// Names that keep this run's Celery apart from any other on the broker.
struct Names {
    exchange: String,
    control: String,
    queue: String,
}

impl Names {
    fn apply(&self, cmd: &mut tokio::process::Command) {
        cmd.current_dir(celery_app_dir())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("STALK_TEST_BROKER", CELERY_BROKER)
            .env("STALK_TEST_EVENT_EXCHANGE", &self.exchange)
            .env("STALK_TEST_CONTROL_EXCHANGE", &self.control)
            .env("STALK_TEST_QUEUE", &self.queue);
    }
}

/// A Celery worker process (its own process group); killed with its pool if the test fails.
struct Worker {
    child: tokio::process::Child,
    pid: u32,
    log: PathBuf,
    /// Set once it exited by itself: nothing is left to kill.
    exited: bool,
}

impl Worker {
    async fn start(python: &Path, names: &Names, nodename: &str) -> Result<Worker> {
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{nodename}.log"));
        let mut cmd = tokio::process::Command::new(python);
        cmd.args([
            "-m", "celery", "-A", "tasks", "worker", "-E", "-P", "prefork",
        ])
        .args(["-c", "2", "-n", nodename, "-l", "info"])
        .args(["--without-gossip", "--without-mingle"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .process_group(0)
        .kill_on_drop(true);
        names.apply(&mut cmd);
        let child = cmd.spawn().context("start the Celery worker")?;
        let pid = child.id().context("worker pid")?;
        Ok(Worker {
            child,
            pid,
            log,
            exited: false,
        })
    }

    /// Warm shutdown (SIGTERM): the worker finishes, sends `worker-offline` and exits cleanly.
    async fn warm_shutdown(&mut self) -> Result<()> {
        signal(&["-TERM", &self.pid.to_string()])?;
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .context("worker did not exit after SIGTERM")??;
        self.exited = true;
        ensure!(status.success(), "worker exited with {status}");
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if !self.exited {
            // the whole group: the prefork pool's children too
            let _ = signal(&["-KILL", "--", &format!("-{}", self.pid)]);
        }
    }
}

fn signal(args: &[&str]) -> Result<()> {
    let status = std::process::Command::new("kill").args(args).status()?;
    ensure!(status.success(), "kill {args:?} failed");
    Ok(())
}

fn is(e: &Value, kind: &str, uuid: &str) -> bool {
    e["type"] == kind && e["uuid"] == uuid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_celery_worker_events_reach_each_client_exactly_once() -> Result<()> {
    let python = python().await?;
    let mut app = spawn_app(AppOpts::default()).await?;
    let names = Names {
        exchange: app.exchange.clone(),
        control: unique("stalk-test-ctl"),
        queue: unique("stalk-test-tasks"),
    };
    // kombu's pidbox exchanges outlive the worker: delete them with the rest.
    app.delete_on_cleanup(&format!("{}.pidbox", names.control));
    app.delete_on_cleanup(&format!("reply.{}.pidbox", names.control));
    // the recorder's queue is bound before the worker can publish anything
    let recorder = Recorder::start(&app.exchange).await?;
    let node = unique("stalk-test").replace('.', "-");
    let hostname = format!("{node}@localhost");
    let mut worker = Worker::start(&python, &names, &hostname).await?;
    let result = scenario(&app, recorder, &python, &names, &mut worker, &hostname).await;
    match result {
        Ok(()) => app.cleanup().await,
        Err(e) => Err(e.context(format!(
            "worker log ({}):\n{}",
            worker.log.display(),
            worker.log_tail()
        ))),
    }
}

async fn scenario(
    app: &TestApp,
    recorder: Recorder,
    python: &Path,
    names: &Names,
    worker: &mut Worker,
    hostname: &str,
) -> Result<()> {
    let mut clients = [app.ws("").await?, app.ws("").await?];
    for c in &mut clients {
        assert_eq!(c.data_frame().await?["kind"], "hello");
    }
    recorder
        .wait_for("worker-online", |events| {
            events
                .iter()
                .any(|e| e["type"] == "worker-online" && e["hostname"] == hostname)
        })
        .await?;

    let mut driver = tokio::process::Command::new(python);
    driver.arg("drive.py").stderr(Stdio::inherit());
    names.apply(&mut driver);
    let out = tokio::time::timeout(WAIT * 2, driver.output())
        .await
        .context("drive.py took too long")??;
    ensure!(out.status.success(), "drive.py failed");
    let ids: BTreeMap<String, String> = serde_json::from_slice(&out.stdout)?;
    let id = |k: &str| ids[k].clone();
    let ends = [
        ("task-succeeded", id("add")),
        ("task-succeeded", id("chain_last")),
        ("task-failed", id("flaky")),
        ("task-failed", id("boom")),
        ("task-rejected", id("refuse")),
        ("task-failed", id("odd")),
        ("task-revoked", id("revoked")),
    ];
    recorder
        .wait_for("every task's last event", |events| {
            ends.iter()
                .all(|(kind, uuid)| events.iter().any(|e| is(e, kind, uuid)))
        })
        .await?;
    worker.warm_shutdown().await?;
    recorder
        .wait_for("worker-offline", |events| {
            events
                .iter()
                .any(|e| e["type"] == "worker-offline" && e["hostname"] == hostname)
        })
        .await?;

    // Nothing publishes any more: the recorder's view is complete.
    let expected = recorder.events();
    let messages = recorder.messages();
    let retries = expected
        .iter()
        .filter(|e| is(e, "task-retried", &id("flaky")))
        .count();
    ensure!(retries == 2, "flaky retried {retries} times, not 2");
    let batches = messages
        .iter()
        .filter(|m| m.routing_key == "task.multi" && m.body.as_array().is_some_and(|a| a.len() > 1))
        .count();
    ensure!(
        batches > 0,
        "the worker sent no multi-event batch: flattening untested"
    );
    let n = expected.len();
    eprintln!(
        "the recorder saw {n} events in {} messages ({batches} multi-event batches)",
        messages.len()
    );
    let mut first = Vec::new();
    for (i, c) in clients.iter_mut().enumerate() {
        let got = c
            .events(n)
            .await
            .with_context(|| format!("client {i} (of {n} events)"))?;
        let seqs: Vec<u64> = got.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        ensure!(
            seqs == (1..=n as u64).collect::<Vec<_>>(),
            "client {i}: seqs not 1..={n}"
        );
        let bodies: Vec<Value> = got.iter().map(|e| e["event"].clone()).collect();
        same_events(&bodies, &expected).with_context(|| format!("client {i}"))?;
        if i == 0 {
            first = got;
        }
    }
    ensure!(
        app.hub.history().newest_seq() == n as u64,
        "the relay has more events than the recorder"
    );
    odd_values_flow_as_strict_json(app, &messages, &first, &id("odd")).await?;
    assert_eq!(app.metric("stalk_events_total").await?, n as f64);
    assert_eq!(
        app.metric("stalk_decode_errors_total{reason=\"not_json\"}")
            .await
            .unwrap_or(0.0),
        0.0
    );
    recorder.stop().await
}

/// The worker really published `NaN` and a lone surrogate escape (the `odd` task); the relay
/// forwarded both events, as strict JSON (`null`, U+FFFD), and counted each body it rewrote.
async fn odd_values_flow_as_strict_json(
    app: &TestApp,
    messages: &[crate::recorder::Recorded],
    got: &[Value],
    odd: &str,
) -> Result<()> {
    let raw = |what: &str| messages.iter().filter(|m| m.raw.contains(what)).count();
    ensure!(
        raw("\"ratio\": NaN") == 1 && raw("report-\\udcff.csv") == 1,
        "the worker did not publish NaN and \\udcff as expected"
    );
    let event = |kind: &str| {
        got.iter()
            .map(|e| &e["event"])
            .find(|e| is(e, kind, odd))
            .with_context(|| format!("no {kind} for the odd task"))
    };
    ensure!(event("task-progress")?["ratio"].is_null(), "NaN not null");
    let traceback = event("task-failed")?["traceback"].as_str().unwrap_or("");
    ensure!(
        traceback.contains("ValueError: cannot read report-\u{FFFD}.csv"),
        "{traceback}"
    );
    let rewritten = messages
        .iter()
        .filter(|m| {
            matches!(
                stalk_state::json::strict_json(&m.raw),
                std::borrow::Cow::Owned(_)
            )
        })
        .count();
    ensure!(
        (1..=2).contains(&rewritten)
            && app.metric("stalk_rewritten_bodies_total").await? == rewritten as f64,
        "{rewritten} bodies to rewrite"
    );
    Ok(())
}

/// A short, stable name of an event for messages: (hostname, clock, type, uuid).
fn short(e: &Value) -> String {
    format!(
        "({}, {}, {}, {})",
        e["hostname"], e["clock"], e["type"], e["uuid"]
    )
}

/// `got` holds exactly the events of `expected` (each once, compared whole), and each sender's
/// events are in the same order. Different senders may interleave differently: each queue gets
/// each publisher's messages in order, nothing more.
fn same_events(got: &[Value], expected: &[Value]) -> Result<()> {
    let mut counts: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for (events, sign) in [(expected, 1), (got, -1)] {
        for e in events {
            counts.entry(e.to_string()).or_insert((0, short(e))).0 += sign;
        }
    }
    let wrong: Vec<String> = counts
        .values()
        .filter(|(n, _)| *n != 0)
        .map(|(n, s)| format!("{s}: {} more expected than got", n))
        .collect();
    if !wrong.is_empty() {
        bail!("events differ:\n{}", wrong.join("\n"));
    }
    let by_sender = |events: &[Value]| {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in events {
            m.entry(e["hostname"].to_string())
                .or_default()
                .push(short(e));
        }
        m
    };
    let (want, have) = (by_sender(expected), by_sender(got));
    for (sender, order) in &want {
        ensure!(
            have.get(sender) == Some(order),
            "order of {sender}'s events differs:\nwant {order:?}\nhave {:?}",
            have.get(sender)
        );
    }
    Ok(())
}

#[test]
fn same_events_catches_loss_duplicates_and_reordering() {
    let e =
        |host: &str, clock: u64| serde_json::json!({"hostname": host, "clock": clock, "type": "t"});
    let want = [e("a", 1), e("b", 1), e("a", 2)];
    let interleaved = [e("b", 1), e("a", 1), e("a", 2)];
    assert!(same_events(&interleaved, &want).is_ok());
    let cases: [&[Value]; 3] = [
        &[e("a", 1), e("b", 1)],
        &[e("a", 1), e("b", 1), e("a", 2), e("a", 2)],
        &[e("a", 2), e("b", 1), e("a", 1)],
    ];
    for bad in cases {
        assert!(same_events(bad, &want).is_err(), "{bad:?}");
    }
}
