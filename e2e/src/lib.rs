//! Helpers for end-to-end tests: free ports, the relay binary (on a recording or a broker), a
//! chromedriver + headless Chromium session, and the Celery side ([`celery`]). Every process is
//! killed when its guard drops.
//!
//! Needs `web/dist` built (`web/build.sh`), the relay binary built (`cargo build -p stalk-relay`),
//! and Debian's `chromium` + `chromium-driver` (`./stalk test` sees to all three); the story test
//! also needs RabbitMQ on 127.0.0.1:5672 and the Python venv (`tools/python/ensure-venv`).

pub mod celery;
mod proc;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// How long any wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where cargo puts binaries (`CARGO_TARGET_DIR` or `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// A port free right now on 127.0.0.1 (the OS picks it).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind port 0")?;
    Ok(l.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `addr` (the readiness signal of the relay
/// and of chromedriver).
pub async fn wait_listening(addr: SocketAddr, what: &str) -> Result<()> {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if start.elapsed() > TIMEOUT {
            bail!("{what} did not listen on {addr} within {TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A running `stalk-relay`, killed on drop.
pub struct Relay {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    _child: Child,
}

impl Relay {
    /// Starts the workspace's relay binary replaying `recording` (relative to the workspace root)
    /// as fast as possible, serving `web/dist`.
    pub async fn replay(recording: &str) -> Result<Relay> {
        let recording = root().join(recording);
        Relay::start(&[
            "--replay".as_ref(),
            recording.as_os_str(),
            "--replay-speed".as_ref(),
            "0".as_ref(),
        ])
        .await
    }

    /// Starts the relay consuming Celery's events exchange `exchange` on `broker`, serving
    /// `web/dist`; returns once it is connected to the broker (`/healthz` 200), so every event
    /// published from then on reaches it.
    pub async fn broker(broker: &str, exchange: &str) -> Result<Relay> {
        let relay = Relay::start(&[
            "--broker".as_ref(),
            broker.as_ref(),
            "--exchange".as_ref(),
            exchange.as_ref(),
        ])
        .await?;
        let start = Instant::now();
        while !status_ok(&relay.get("/healthz").await?) {
            if start.elapsed() > TIMEOUT {
                bail!("the relay did not connect to {broker} within {TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(relay)
    }

    async fn start(source: &[&std::ffi::OsStr]) -> Result<Relay> {
        let bin = target_dir().join("debug/stalk-relay");
        let dist = root().join("web/dist");
        if !dist.join("index.html").exists() {
            bail!("{} is not built: run web/build.sh", dist.display());
        }
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new(&bin)
            .args(source)
            .args(["--listen", &addr.to_string()])
            .arg("--web-dir")
            .arg(&dist)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {} (cargo build -p stalk-relay)", bin.display()))?;
        wait_listening(addr, "stalk-relay").await?;
        Ok(Relay {
            base: format!("http://{addr}"),
            _child: child,
        })
    }

    /// A plain HTTP/1.0 GET of `path`: the whole response, status line and headers included.
    pub async fn get(&self, path: &str) -> Result<String> {
        let host = self.base.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(host).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
            .await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
    }

    /// The newest `seq` the relay holds (`/healthz`).
    pub async fn newest_seq(&self) -> Result<u64> {
        let text = self.get("/healthz").await?;
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let health: serde_json::Value = serde_json::from_str(body).context("/healthz body")?;
        health["newest_seq"].as_u64().context("/healthz newest_seq")
    }

    /// The relay's `/metrics`: every sample by its name with labels, e.g.
    /// `stalk_events_by_type_total{type="task-sent"}`.
    pub async fn metrics(&self) -> Result<BTreeMap<String, f64>> {
        let text = self.get("/metrics").await?;
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Ok(body
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect())
    }
}

/// The response's status line says 200.
fn status_ok(response: &str) -> bool {
    response
        .lines()
        .next()
        .is_some_and(|l| l.split(' ').nth(1) == Some("200"))
}

/// A chromedriver with a headless Chromium session, killed on drop (call [`Browser::close`]
/// first to end the session cleanly).
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    /// chromedriver and, in its process group, the Chromium it started.
    _driver: proc::Group,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a fresh headless Chromium profile.
    pub async fn start() -> Result<Browser> {
        Browser::launch(false).await
    }

    /// [`Browser::start`], with Chromium's timeline tracing on: [`Browser::timeline`] then tells
    /// where the page's main thread spent its time.
    pub async fn start_traced() -> Result<Browser> {
        Browser::launch(true).await
    }

    async fn launch(traced: bool) -> Result<Browser> {
        let port = free_port()?;
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let driver = proc::Group::spawn(cmd, "chromedriver (apt-get install -y chromium-driver)")?;
        wait_listening(([127, 0, 0, 1], port).into(), "chromedriver").await?;
        let profile = TempDir::new("stalk-chromium")?;
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", profile.0.display()),
        ];
        let mut caps = serde_json::json!({
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args }
        });
        if traced {
            caps["goog:loggingPrefs"] = serde_json::json!({ "performance": "ALL" });
            caps["goog:chromeOptions"]["perfLoggingPrefs"] = serde_json::json!({
                "enableNetwork": false,
                "enablePage": false,
                "traceCategories": "devtools.timeline,blink.user_timing"
            });
        }
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .context("WebDriver session")?;
        Ok(Browser {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Waits until `css` matches exactly `n` elements; returns them.
    pub async fn wait_count(
        &self,
        css: &str,
        n: usize,
    ) -> Result<Vec<fantoccini::elements::Element>> {
        let start = Instant::now();
        loop {
            let found = self.client.find_all(Locator::Css(css)).await?;
            if found.len() == n {
                return Ok(found);
            }
            if start.elapsed() > TIMEOUT {
                bail!("{css}: {} elements, expected {n}", found.len());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls `check` until it returns `Some`, which it returns; fails with `what` after
    /// [`TIMEOUT`]. For conditions that take a few queries to tell (several elements, texts).
    pub async fn wait_until<T, F, Fut>(&self, what: &str, mut check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let start = Instant::now();
        loop {
            if let Some(t) = check().await? {
                return Ok(t);
            }
            if start.elapsed() > TIMEOUT {
                bail!("waited {TIMEOUT:?} for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of `attr` on every element `css` matches (empty when absent).
    pub async fn attrs(&self, css: &str, attr: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await? {
            out.push(e.attr(attr).await?.unwrap_or_default());
        }
        Ok(out)
    }

    /// Runs `source` in every page this session loads, before the page's own scripts (Chrome
    /// DevTools' `Page.addScriptToEvaluateOnNewDocument`, through chromedriver).
    pub async fn on_new_document(&self, source: &str) -> Result<()> {
        self.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            serde_json::json!({ "source": source }),
        )
        .await
        .map(drop)
    }

    /// Sends a Chrome DevTools command (through chromedriver) and returns its result.
    pub async fn cdp(
        &self,
        cmd: &'static str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value> {
        self.client
            .issue_cmd(Extension {
                path: "goog/cdp/execute",
                body: serde_json::json!({ "cmd": cmd, "params": params }),
            })
            .await
            .with_context(|| format!("CDP {cmd}"))
    }

    /// Where the page's main thread spent its time between two `performance.mark`s the page made
    /// (`from`, `to`), from the timeline trace (needs [`Browser::start_traced`]; read once, at the
    /// end). For each kind of work (`Layout`, `FunctionCall`, `Paint`...) its total in ms and how
    /// many times it ran, nested kinds counted inside their parents too; largest first.
    pub async fn timeline(&self, from: &str, to: &str) -> Result<Vec<(String, f64, usize)>> {
        let logs = self
            .client
            .issue_cmd(Extension {
                path: "se/log",
                body: serde_json::json!({ "type": "performance" }),
            })
            .await
            .context("performance log")?;
        let mut main_thread = None;
        let (mut start, mut end) = (None, None);
        // (kind, process, thread, start in µs, duration in µs)
        let mut spans = Vec::new();
        for entry in logs.as_array().context("log entries")? {
            let Some(text) = entry["message"].as_str() else {
                continue;
            };
            let Ok(message) = serde_json::from_str::<serde_json::Value>(text) else {
                continue;
            };
            if message["message"]["method"] != "Tracing.dataCollected" {
                continue;
            }
            let e = &message["message"]["params"];
            let thread = (e["pid"].to_string(), e["tid"].to_string());
            let ts = e["ts"].as_f64().unwrap_or(0.0);
            match (e["name"].as_str(), e["ph"].as_str()) {
                (Some("thread_name"), _) if e["args"]["name"] == "CrRendererMain" => {
                    main_thread = Some(thread)
                }
                (Some(name), _) if name == from => start = Some(ts),
                (Some(name), _) if name == to => end = Some(ts),
                (Some(name), Some("X")) => spans.push((
                    name.to_owned(),
                    thread,
                    ts,
                    e["dur"].as_f64().unwrap_or(0.0),
                )),
                _ => {}
            }
        }
        let main_thread = main_thread.context("no renderer main thread in the trace")?;
        let (start, end) = start
            .zip(end)
            .with_context(|| format!("marks {from} and {to} not in the trace"))?;
        let mut totals = std::collections::HashMap::<String, (f64, usize)>::new();
        for (name, thread, ts, dur) in spans {
            if thread == main_thread && ts >= start && ts < end {
                let t = totals.entry(name).or_default();
                *t = (t.0 + dur / 1000.0, t.1 + 1);
            }
        }
        let mut out: Vec<(String, f64, usize)> =
            totals.into_iter().map(|(k, (ms, n))| (k, ms, n)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(out)
    }

    /// Saves a screenshot (PNG) under `target/e2e/<name>.png`: a test artifact.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.client.screenshot().await.context("screenshot")?;
        let dir = target_dir().join("e2e");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends the WebDriver session (closes Chromium).
    pub async fn close(self) -> Result<()> {
        self.client.close().await.context("close session")
    }
}

/// A command of chromedriver's own (beyond WebDriver): `POST session/<id>/<path>` with a JSON
/// body. `goog/cdp/execute` sends a Chrome DevTools command; `se/log` drains a log.
#[derive(Debug)]
struct Extension {
    path: &'static str,
    body: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Extension {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
