//! Helpers for end-to-end tests: free ports, the relay binary started on a recording, a
//! chromedriver + headless Chromium session. Every process is killed when its guard drops.
//!
//! Needs `web/dist` built (`web/build.sh`), the relay binary built (`cargo build -p stalk-relay`),
//! and Debian's `chromium` + `chromium-driver` (`./stalk test` sees to all three).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
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
        let bin = target_dir().join("debug/stalk-relay");
        let dist = root().join("web/dist");
        if !dist.join("index.html").exists() {
            bail!("{} is not built: run web/build.sh", dist.display());
        }
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new(&bin)
            .arg("--replay")
            .arg(root().join(recording))
            .args(["--replay-speed", "0", "--listen", &addr.to_string()])
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
}

/// A chromedriver with a headless Chromium session, killed on drop (call [`Browser::close`]
/// first to end the session cleanly).
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    _driver: Child,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a fresh headless Chromium profile.
    pub async fn start() -> Result<Browser> {
        let port = free_port()?;
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start chromedriver (apt-get install -y chromium-driver)")?;
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
        let caps = serde_json::json!({
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args }
        });
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
