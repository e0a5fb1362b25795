//! `spawn_app()` and typed helpers: a relay on port 0 with a unique exchange, a publisher, WebSocket
//! and plain HTTP clients. Readiness is the hub reporting `connected`, never a sleep.
//!
//! The broker is shared by every test of the binary, and the fault tests stop it: tests that use it
//! hold [`BROKER_LOCK`] shared (a relay from [`spawn_app`] does so by default), fault tests hold it
//! exclusively ([`exclusive_broker`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use lapin::options::{BasicPublishOptions, ExchangeDeleteOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::Value;
use stalk_relay::consumer::{self, ConsumerOptions};
use stalk_relay::history::Limits;
use stalk_relay::hub::Hub;
use stalk_relay::protocol::BrokerState;
use stalk_relay::server::{self, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The test broker (the machine's RabbitMQ).
pub const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// Shared by tests that use the broker, exclusive for tests that stop it.
static BROKER_LOCK: RwLock<()> = RwLock::const_new(());

/// Holds the broker for a test that uses it (others may too, but none may stop it meanwhile).
pub async fn shared_broker() -> RwLockReadGuard<'static, ()> {
    BROKER_LOCK.read().await
}

/// Holds the broker alone, for a test that stops it.
pub async fn exclusive_broker() -> RwLockWriteGuard<'static, ()> {
    BROKER_LOCK.write().await
}

/// Knobs of a test relay.
pub struct AppOpts {
    pub token: Option<String>,
    pub limits: Limits,
    pub max_body_bytes: usize,
    /// Use Celery's real `celeryev` exchange instead of a unique one.
    pub real_exchange: bool,
    pub broker: String,
    /// Wait for the broker connection before returning.
    pub wait_connected: bool,
    /// Hold the broker lock shared for the app's life (`false` when the test holds it itself).
    pub shares_broker: bool,
    /// Server options (the token above overrides theirs).
    pub server: ServerOptions,
}

impl Default for AppOpts {
    fn default() -> Self {
        AppOpts {
            token: None,
            limits: Limits::default(),
            max_body_bytes: 1024 * 1024,
            real_exchange: false,
            broker: BROKER.into(),
            wait_connected: true,
            shares_broker: true,
            server: ServerOptions::default(),
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    pub exchange: String,
    /// The consumer task: it must never end by itself, whatever the broker does.
    pub consumer: JoinHandle<()>,
    stop: watch::Sender<bool>,
    publisher: Option<(Connection, lapin::Channel)>,
    _broker: Option<RwLockReadGuard<'static, ()>>,
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}.{:016x}", fastrand::u64(..))
}

pub async fn spawn_app(opts: AppOpts) -> Result<TestApp> {
    let broker_guard = match opts.shares_broker {
        true => Some(shared_broker().await),
        false => None,
    };
    let url: stalk_relay::broker_url::BrokerUrl = opts.broker.parse()?;
    let exchange = if opts.real_exchange {
        consumer::EXCHANGE.to_owned()
    } else {
        unique("stalk-test")
    };
    let hub = Arc::new(Hub::new(
        opts.limits,
        opts.max_body_bytes,
        url.redacted().to_owned(),
    ));
    let (stop, stopped) = watch::channel(false);
    let copts = ConsumerOptions {
        exchange: exchange.clone(),
        ..ConsumerOptions::new(url)
    };
    let consumer = tokio::spawn(consumer::run(hub.clone(), copts, stopped.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let options = ServerOptions {
        token: opts.token,
        ..opts.server
    };
    let mut shutdown = stopped;
    tokio::spawn(server::run(listener, hub.clone(), options, async move {
        let _ = shutdown.wait_for(|s| *s).await;
    }));
    let mut app = TestApp {
        addr,
        hub,
        exchange,
        consumer,
        stop,
        publisher: None,
        _broker: broker_guard,
    };
    if opts.wait_connected {
        app.wait_broker(BrokerState::Connected)
            .await
            .context("relay never connected to RabbitMQ (is it running on 127.0.0.1:5672?)")?;
        app.connect_publisher().await?;
    }
    Ok(app)
}

impl TestApp {
    /// (Re)connects the test's publisher and declares the exchange (as Celery does).
    pub async fn connect_publisher(&mut self) -> Result<()> {
        let conn = Connection::connect(BROKER, ConnectionProperties::default())
            .await
            .context("publisher connection")?;
        let channel = conn.create_channel().await?;
        consumer::declare_exchange(&channel, &self.exchange).await?;
        self.publisher = Some((conn, channel));
        Ok(())
    }

    /// Waits until the relay reports this broker state.
    pub async fn wait_broker(&self, state: BrokerState) -> Result<()> {
        let mut rx = self.hub.broker_watch();
        tokio::time::timeout(WAIT, rx.wait_for(|b| b.state == state))
            .await
            .with_context(|| format!("relay never reported the broker {state:?}"))??;
        Ok(())
    }

    /// Publishes one body like a Celery worker (transient, `hostname` header).
    pub async fn publish(&self, routing_key: &str, content_type: &str, body: &[u8]) -> Result<()> {
        let (_, channel) = self.publisher.as_ref().context("no publisher")?;
        let mut headers = FieldTable::default();
        headers.insert(
            "hostname".into(),
            lapin::types::AMQPValue::LongString("test@host".into()),
        );
        let props = BasicProperties::default()
            .with_content_type(ShortString::from(content_type))
            .with_content_encoding("utf-8".into())
            .with_delivery_mode(1)
            .with_headers(headers);
        channel
            .basic_publish(
                self.exchange.as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await?
            .await?;
        Ok(())
    }

    /// Publishes every message of a raw recording; returns the events it holds, flattened.
    pub async fn publish_recording(&self, raw_ndjson: &str) -> Result<Vec<Value>> {
        let mut events = Vec::new();
        for line in raw_ndjson.lines().filter(|l| !l.trim().is_empty()) {
            let record: Value = serde_json::from_str(line)?;
            let body = serde_json::to_vec(&record["body"])?;
            let rk = record["routing_key"].as_str().context("routing_key")?;
            self.publish(rk, "application/json", &body).await?;
            match &record["body"] {
                Value::Array(items) => events.extend(items.iter().cloned()),
                one => events.push(one.clone()),
            }
        }
        Ok(events)
    }

    pub async fn ws(&self, query: &str) -> Result<WsClient> {
        self.ws_with(query, &[])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Connects with extra headers; the error keeps the HTTP status of a refusal.
    pub async fn ws_with(
        &self,
        query: &str,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, WsError> {
        let mut req = format!("ws://{}/ws{query}", self.addr)
            .into_client_request()
            .map_err(WsError::Other)?;
        for (k, v) in headers {
            req.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(WsClient { ws, last_seq: None }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                Err(WsError::Status(resp.status().as_u16()))
            }
            Err(e) => Err(WsError::Other(e)),
        }
    }

    /// A client whose socket has a tiny receive buffer, so that not reading soon blocks the relay's
    /// writes to it (the relay's send buffer still absorbs a few MB).
    pub async fn ws_small_buffer(&self) -> Result<WsClient> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(4096)?;
        let stream = socket.connect(self.addr).await?;
        let url = format!("ws://{}/ws", self.addr);
        let (ws, _) =
            tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
                .await?;
        Ok(WsClient { ws, last_seq: None })
    }

    /// A plain HTTP/1.1 GET; returns status and body.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<(u16, String)> {
        let mut stream = TcpStream::connect(self.addr).await?;
        let mut req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await?;
        let mut out = String::new();
        tokio::time::timeout(WAIT, stream.read_to_string(&mut out)).await??;
        let status: u16 = out.get(9..12).context("status line")?.parse()?;
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// A metric's value from `/metrics` (exact series name with labels).
    pub async fn metric(&self, series: &str) -> Result<f64> {
        let (_, text) = self.get("/metrics", &[]).await?;
        metric_in(&text, series)
    }

    /// Stops the relay and deletes a unique exchange.
    pub async fn cleanup(self) -> Result<()> {
        self.stop.send_replace(true);
        if let Some((conn, channel)) = self.publisher {
            if self.exchange != consumer::EXCHANGE {
                channel
                    .exchange_delete(
                        self.exchange.as_str().into(),
                        ExchangeDeleteOptions::default(),
                    )
                    .await?;
            }
            conn.close(200, "bye".into()).await?;
        }
        Ok(())
    }
}

pub fn metric_in(text: &str, series: &str) -> Result<f64> {
    for line in text.lines() {
        if let Some(v) = line.strip_prefix(series).and_then(|r| r.strip_prefix(' ')) {
            return Ok(v.trim().parse()?);
        }
    }
    bail!("no {series} in metrics:\n{text}")
}

#[derive(Debug)]
pub enum WsError {
    Status(u16),
    Other(
        #[allow(dead_code, reason = "shown through Debug")] tokio_tungstenite::tungstenite::Error,
    ),
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

pub struct WsClient {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    /// Last seq seen (events or gap), to check contiguity.
    last_seq: Option<u64>,
}

impl WsClient {
    /// The next frame of any kind.
    pub async fn frame(&mut self) -> Result<Value> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .context("no frame in time")?;
            match msg.context("socket closed")?? {
                Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
                Message::Close(c) => bail!("closed: {c:?}"),
                _ => {}
            }
        }
    }

    /// The next frame that is not `status`.
    pub async fn data_frame(&mut self) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "only status frames for {WAIT:?}"
            );
            let f = self.frame().await?;
            if f["kind"] != "status" {
                return Ok(f);
            }
        }
    }

    /// Reads event entries until `n` are collected, checking `seq` is contiguous; `gap` frames fail.
    pub async fn events(&mut self, n: usize) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        while out.len() < n {
            let f = self.data_frame().await?;
            match f["kind"].as_str() {
                Some("events") => {
                    for e in f["events"].as_array().context("events")? {
                        let seq = e["seq"].as_u64().context("seq")?;
                        if let Some(last) = self.last_seq {
                            anyhow::ensure!(seq == last + 1, "seq {seq} after {last}");
                        }
                        self.last_seq = Some(seq);
                        out.push(e.clone());
                    }
                }
                _ => bail!("unexpected frame {f}"),
            }
        }
        anyhow::ensure!(out.len() == n, "got {} events, wanted {n}", out.len());
        Ok(out)
    }

    /// The entries of the next `events` frame (gaps fail), checking contiguity.
    pub async fn next_events(&mut self) -> Result<Vec<Value>> {
        let first = self.last_seq.map_or(1, |s| s + 1) as usize;
        let f = self.data_frame().await?;
        anyhow::ensure!(f["kind"] == "events", "unexpected frame {f}");
        let n = f["events"].as_array().context("events")?.len();
        let _ = first;
        let mut out = Vec::new();
        for e in f["events"].as_array().context("events")? {
            let seq = e["seq"].as_u64().context("seq")?;
            if let Some(last) = self.last_seq {
                anyhow::ensure!(seq == last + 1, "seq {seq} after {last}");
            }
            self.last_seq = Some(seq);
            out.push(e.clone());
        }
        anyhow::ensure!(out.len() == n);
        Ok(out)
    }

    /// Reads `status` frames until one shows a broker state that `wanted` accepts; returns it.
    /// Any other frame fails.
    pub async fn wait_status(&mut self, wanted: impl Fn(&str) -> bool) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "no such status in {WAIT:?}"
            );
            let f = self.frame().await?;
            anyhow::ensure!(f["kind"] == "status", "unexpected frame {f}");
            if wanted(f["broker"]["state"].as_str().unwrap_or("")) {
                return Ok(f);
            }
        }
    }

    /// The next message as it comes: `Ok(None)` when the connection ended (closed or reset).
    pub async fn raw_frame(&mut self) -> Result<Option<Value>> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .context("no frame in time")?;
            match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(t))) => return Ok(Some(serde_json::from_str(t.as_str())?)),
                Some(Ok(_)) => {}
            }
        }
    }

    pub fn set_last_seq(&mut self, seq: u64) {
        self.last_seq = Some(seq);
    }

    pub async fn close(mut self) -> Result<()> {
        self.ws.send(Message::Close(None)).await?;
        Ok(())
    }
}
