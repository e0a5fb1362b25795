//! The Celery side of the story test: the project's venv, a real prefork worker running the crawler
//! demo (`examples/crawler`), the story's task driver, and the fixture recorder
//! (`tools/record-events`) as the independent witness of what the broker carried.
//!
//! Every process runs in its own process group and the whole group is killed on drop (a prefork
//! worker's pool children, the driver's local web site), unless it already exited cleanly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{ChildStdin, Command};

use crate::proc::Group;
use crate::{TIMEOUT, root};

/// The broker as Celery (kombu) spells it.
pub const CELERY_BROKER: &str = "amqp://guest:guest@127.0.0.1:5672//";

/// The venv's python, created on first use by `tools/python/ensure-venv` (idempotent).
pub async fn python() -> Result<PathBuf> {
    let script = root().join("tools/python/ensure-venv");
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .await
        .with_context(|| format!("run {}", script.display()))?;
    ensure!(out.status.success(), "ensure-venv failed");
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// What keeps this run's Celery apart from any other on the shared broker: the crawler's
/// `CRAWLER_ISOLATE` (its own task queue, `<name>.ev` events exchange, `<name>.ctl` control
/// exchange) and a scratch directory for its results.
#[derive(Clone, Debug)]
pub struct Crawler {
    /// The isolation name.
    pub name: String,
    /// Where results, logs and the recording go.
    pub dir: PathBuf,
}

impl Crawler {
    /// A crawler isolated under `name`, writing into `dir` (created).
    pub fn new(name: &str, dir: &Path) -> Result<Crawler> {
        // the file result backend wants its directory to exist
        let backend = dir.join("backend");
        std::fs::create_dir_all(&backend)
            .with_context(|| format!("create {}", backend.display()))?;
        Ok(Crawler {
            name: name.to_owned(),
            dir: dir.to_owned(),
        })
    }

    /// Celery's `event_exchange` for this run.
    pub fn event_exchange(&self) -> String {
        format!("{}.ev", self.name)
    }

    /// Deletes the run's events and control (pidbox) exchanges from the broker: Celery declares
    /// them to outlive their users (its queues and task exchange go by themselves).
    pub async fn delete_exchanges(&self, python: &Path) -> Result<()> {
        let script = "import sys\nfrom kombu import Connection\n\
                      with Connection(sys.argv[1]) as c:\n    \
                      [c.channel().exchange_delete(x) for x in sys.argv[2:]]";
        let status = Command::new(python)
            .args(["-c", script, CELERY_BROKER, &self.event_exchange()])
            .arg(format!("{}.ctl.pidbox", self.name))
            .status()
            .await?;
        ensure!(status.success(), "delete the exchanges of {}", self.name);
        Ok(())
    }

    fn command(&self, python: &Path) -> Command {
        let mut cmd = Command::new(python);
        cmd.current_dir(root().join("examples/crawler"))
            .env("PYTHONPATH", root().join("examples/crawler"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("CRAWLER_BROKER", CELERY_BROKER)
            .env("CRAWLER_ISOLATE", &self.name)
            .env("CRAWLER_RESULTS", self.dir.join("results"))
            .env(
                "CRAWLER_RESULT_BACKEND",
                format!("file://{}", self.dir.join("backend").display()),
            )
            .process_group(0)
            .kill_on_drop(true);
        cmd
    }
}

/// A Celery prefork worker (`-E`, 2 processes) running the crawler's tasks.
#[derive(Debug)]
pub struct Worker {
    group: Group,
    /// `<node>@<host>` as the worker names itself.
    pub hostname: String,
    log: PathBuf,
}

impl Worker {
    /// Starts `celery -A tasks worker -E -P prefork -c 2 -n <node>@%h`; its log goes to the
    /// crawler's directory.
    pub async fn start(python: &Path, crawler: &Crawler, node: &str) -> Result<Worker> {
        let log = crawler.dir.join(format!("{node}.log"));
        let mut cmd = crawler.command(python);
        cmd.args(["-m", "celery", "-A", "tasks", "worker", "-E"])
            .args(["-P", "prefork", "-c", "2", "-l", "info"])
            .args(["-n", &format!("{node}@%h")])
            // no other workers to sync with: start faster
            .args(["--without-gossip", "--without-mingle"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        let group = Group::spawn(cmd, "the Celery worker")?;
        let host = hostname()?;
        Ok(Worker {
            group,
            hostname: format!("{node}@{host}"),
            log,
        })
    }

    /// Warm shutdown (SIGTERM): the worker finishes, sends `worker-offline` and exits 0.
    pub async fn warm_shutdown(&mut self) -> Result<()> {
        self.group.terminate("the Celery worker").await
    }

    /// The last lines of its log, for a failing test's message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// The host name Celery puts after `@` for `%h` (Python's `socket.gethostname()`).
fn hostname() -> Result<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").context("the host name")?;
    Ok(name.trim().to_owned())
}

/// The story's task driver (`e2e/python/story_drive.py`): it sends the tasks, reports their ids,
/// and serves the local web site the tasks fetch until it is dropped.
#[derive(Debug)]
pub struct Driver {
    _group: Group,
    _stdin: ChildStdin,
    /// Task ids by scenario (`good`, `missing`, `closed`, `expired`, `xss`).
    pub ids: BTreeMap<String, String>,
}

impl Driver {
    /// Runs the driver and waits for the ids it sent.
    pub async fn start(python: &Path, crawler: &Crawler) -> Result<Driver> {
        let mut cmd = crawler.command(python);
        cmd.arg(root().join("e2e/python/story_drive.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut group = Group::spawn(cmd, "the story driver")?;
        let stdin = group.child.stdin.take().context("driver stdin")?;
        let stdout = group.child.stdout.take().context("driver stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(TIMEOUT, lines.next_line())
            .await
            .context("the driver sent nothing in time")??
            .context("the driver exited without sending")?;
        let ids = serde_json::from_str(&line).with_context(|| format!("driver said {line:?}"))?;
        Ok(Driver {
            _group: group,
            _stdin: stdin,
            ids,
        })
    }
}

/// `tools/record-events` on the run's events exchange: the fixture recorder, here the test's
/// independent record of what the broker carried (it shares no code with the relay).
#[derive(Debug)]
pub struct Recorder {
    group: Group,
    name: String,
    dir: PathBuf,
}

impl Recorder {
    /// Starts recording `<dir>/<name>.*` and returns once its queue is bound (it says so on
    /// stdout): from then on nothing published is missed. It stops by itself after the
    /// `worker-offline` of `until_offline` (a node name).
    pub async fn start(crawler: &Crawler, name: &str, until_offline: &str) -> Result<Recorder> {
        let mut cmd = Command::new(root().join("tools/record-events"));
        cmd.arg(name)
            .arg("--out")
            .arg(&crawler.dir)
            .args(["--broker", CELERY_BROKER])
            .args(["--exchange", &crawler.event_exchange()])
            .args(["--until-offline", until_offline])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true);
        let mut group = Group::spawn(cmd, "tools/record-events")?;
        let stdout = group.child.stdout.take().context("recorder stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        // The venv may be created on first use: give it more than the usual wait.
        let line = tokio::time::timeout(TIMEOUT * 4, lines.next_line())
            .await
            .context("the recorder did not start in time")??
            .context("the recorder exited before recording")?;
        ensure!(line.starts_with("recording "), "recorder said {line:?}");
        Ok(Recorder {
            group,
            name: name.to_owned(),
            dir: crawler.dir.clone(),
        })
    }

    /// The receiver-form events recorded so far (`<name>.ndjson`, complete lines only).
    pub fn events(&self) -> Result<Vec<Value>> {
        read_ndjson(&self.path("ndjson"))
    }

    /// Waits until `done` holds for the events recorded so far.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Result<()> {
        let start = std::time::Instant::now();
        while !done(&self.events()?) {
            if start.elapsed() > TIMEOUT {
                bail!("the recorder never saw {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Waits for the recorder to stop by itself (after the worker's `worker-offline`); returns
    /// what it wrote.
    pub async fn finish(mut self) -> Result<Recording> {
        self.group.wait("the recorder").await?;
        let meta = std::fs::read_to_string(self.path("meta.json"))?;
        Ok(Recording {
            meta: serde_json::from_str(&meta)?,
            events: read_ndjson(&self.path("ndjson"))?,
            messages: read_ndjson(&self.path("raw.ndjson"))?,
        })
    }

    /// `<dir>/<name>.<ext>`.
    pub fn path(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.name))
    }
}

/// A finished recording, as `tools/record-events` wrote it.
#[derive(Debug)]
pub struct Recording {
    /// `<name>.meta.json`: counts by event type, body shapes, versions.
    pub meta: Value,
    /// `<name>.ndjson`: the events in Celery's receiver form.
    pub events: Vec<Value>,
    /// `<name>.raw.ndjson`: the AMQP messages as they came off the broker.
    pub messages: Vec<Value>,
}

/// The complete lines of an NDJSON file that another process may still be writing.
fn read_ndjson(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).with_context(|| format!("{}: {l}", path.display())))
        .collect()
}
