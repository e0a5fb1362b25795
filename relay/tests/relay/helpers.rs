//! `spawn_app()` and typed helpers: a relay on port 0 with a unique exchange, a publisher, WebSocket
//! and plain HTTP clients. Readiness is the hub reporting `connected`, never a sleep (where only the
//! broker knows, e.g. a queue's depth, the helpers poll the broker's answer).
//!
//! Everything a test creates on the broker (its exchange, its relays' queues and dead-letter
//! queues) is deleted by [`TestApp::cleanup`], or when the `TestApp` is dropped by a failing test,
//! so the broker is left as it was found.
//!
//! The broker is shared by every test of the binary, and the fault tests stop it: tests that use it
//! hold [`BROKER_LOCK`] shared (a relay from [`spawn_app`] does so by default), fault tests hold it
//! exclusively ([`exclusive_broker`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
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
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::leftovers::Leftovers;
use crate::ws_client::{WsClient, WsError};

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
    /// A durable named queue (`--queue`); deleted, with its dead-letter queue, by the cleanup.
    pub queue: Option<String>,
    /// `--queue-max-length`, when not the default.
    pub queue_max_length: Option<u32>,
    /// `--queue-message-ttl`, when not the default (tests may use less than a second).
    pub queue_message_ttl: Option<Duration>,
    /// PEM text of extra CAs to trust (`--broker-ca`).
    pub broker_ca: Option<String>,
    /// `--prefetch`, when not the default.
    pub prefetch: Option<u16>,
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
            queue: None,
            queue_max_length: None,
            queue_message_ttl: None,
            broker_ca: None,
            prefetch: None,
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
    /// What [`TestApp::start_relay`] needs to start the relay again.
    relay: RelaySpec,
    /// What this test created on the broker: deleted by [`TestApp::cleanup`], or on drop when the
    /// test failed before it.
    leftovers: Leftovers,
    _broker: Option<RwLockReadGuard<'static, ()>>,
}

/// Everything a relay is started from.
struct RelaySpec {
    consumer: ConsumerOptions,
    limits: Limits,
    max_body_bytes: usize,
    redacted_url: String,
    server: ServerOptions,
}

/// A relay just started from a [`RelaySpec`].
struct Running {
    addr: SocketAddr,
    hub: Arc<Hub>,
    consumer: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl RelaySpec {
    /// Starts a hub, its consumer and its server on port 0.
    async fn start(&self) -> Result<Running> {
        let hub = Arc::new(Hub::new(
            self.limits,
            self.max_body_bytes,
            self.redacted_url.clone(),
        ));
        let (stop, stopped) = watch::channel(false);
        let consumer = tokio::spawn(consumer::run(
            hub.clone(),
            self.consumer.clone(),
            stopped.clone(),
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut shutdown = stopped;
        tokio::spawn(server::run(
            listener,
            hub.clone(),
            self.server.clone(),
            async move {
                let _ = shutdown.wait_for(|s| *s).await;
            },
        ));
        Ok(Running {
            addr,
            hub,
            consumer,
            stop,
        })
    }
}

/// A plain connection to the test broker, within [`WAIT`] (a stuck connection attempt fails the
/// test instead of hanging it).
pub async fn connect_broker() -> Result<Connection> {
    tokio::time::timeout(
        WAIT,
        Connection::connect(BROKER, ConnectionProperties::default()),
    )
    .await
    .context("connecting to RabbitMQ took too long")?
    .context("cannot connect to RabbitMQ (is it running on 127.0.0.1:5672?)")
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
    let defaults = ConsumerOptions::new(url.clone());
    let relay = RelaySpec {
        consumer: ConsumerOptions {
            exchange: exchange.clone(),
            queue: opts.queue.clone(),
            max_length: opts.queue_max_length.unwrap_or(defaults.max_length),
            message_ttl: opts.queue_message_ttl.unwrap_or(defaults.message_ttl),
            broker_ca: opts.broker_ca,
            prefetch: opts.prefetch.unwrap_or(defaults.prefetch),
            ..defaults
        },
        limits: opts.limits,
        max_body_bytes: opts.max_body_bytes,
        redacted_url: url.redacted().to_owned(),
        server: ServerOptions {
            token: opts.token,
            ..opts.server
        },
    };
    let mut leftovers = Leftovers::default();
    if exchange != consumer::EXCHANGE {
        leftovers.exchanges.push(exchange.clone());
    }
    if let Some(queue) = &opts.queue {
        leftovers.add_queue(queue);
    }
    let running = relay.start().await?;
    let mut app = TestApp {
        addr: running.addr,
        hub: running.hub,
        exchange,
        consumer: running.consumer,
        stop: running.stop,
        publisher: None,
        relay,
        leftovers,
        _broker: broker_guard,
    };
    app.note_own_queue();
    if opts.wait_connected {
        app.wait_broker(BrokerState::Connected)
            .await
            .context("relay never connected to RabbitMQ (is it running on 127.0.0.1:5672?)")?;
        app.connect_publisher().await?;
    }
    Ok(app)
}

impl TestApp {
    /// Starts the relay again (after [`TestApp::stop_relay`]): a new hub, consumer and server on
    /// a new port, with the same options. Does not wait for the broker.
    pub async fn start_relay(&mut self) -> Result<()> {
        let running = self.relay.start().await?;
        self.addr = running.addr;
        self.hub = running.hub;
        self.consumer = running.consumer;
        self.stop = running.stop;
        self.note_own_queue();
        Ok(())
    }

    /// A relay started without `--queue` declares `stalk-relay.<instance>`: delete it (and its
    /// dead-letter queue) at cleanup.
    fn note_own_queue(&mut self) {
        if self.relay.consumer.queue.is_none() {
            let queue = format!("stalk-relay.{}", self.hub.instance());
            self.leftovers.add_queue(&queue);
        }
    }

    /// Stops the relay (consumer and server) and waits until its consumer task has ended; the
    /// test's publisher stays connected.
    pub async fn stop_relay(&mut self) -> Result<()> {
        self.stop.send_replace(true);
        tokio::time::timeout(WAIT, &mut self.consumer)
            .await
            .context("the consumer did not stop")??;
        Ok(())
    }

    /// (Re)connects the test's publisher and declares the exchange (as Celery does).
    pub async fn connect_publisher(&mut self) -> Result<()> {
        let conn = connect_broker().await.context("publisher connection")?;
        let channel = conn.create_channel().await?;
        consumer::declare_exchange(&channel, &self.exchange).await?;
        self.publisher = Some((conn, channel));
        Ok(())
    }

    /// Messages waiting in `queue` and its consumers, as the broker reports them.
    pub async fn queue_state(&self, queue: &str) -> Result<(u32, u32)> {
        let (_, channel) = self.publisher.as_ref().context("no publisher")?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let q = channel
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
            .with_context(|| format!("queue {queue} is not there"))?;
        Ok((q.message_count(), q.consumer_count()))
    }

    /// Polls the broker until `queue`'s (messages, consumers) satisfy `wanted`: the broker's own
    /// word is the readiness signal.
    pub async fn wait_queue(&self, queue: &str, wanted: impl Fn(u32, u32) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (messages, consumers) = self.queue_state(queue).await?;
            if wanted(messages, consumers) {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "queue {queue} stayed at {messages} messages, {consumers} consumers"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls `/metrics` until `series` has the value `wanted`.
    pub async fn wait_metric(&self, series: &str, wanted: f64) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = self.metric(series).await?;
            if value == wanted {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{series} stayed at {value}, wanted {wanted}"
            );
            tokio::time::sleep(POLL).await;
        }
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
            Ok((ws, _)) => Ok(WsClient::new(ws)),
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
        Ok(WsClient::new(ws))
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

    /// Deletes this exchange too at cleanup (one the test made something else create, e.g. a
    /// Celery worker's control exchanges, which are neither durable nor auto-deleted).
    pub fn delete_on_cleanup(&mut self, exchange: &str) {
        self.leftovers.exchanges.push(exchange.to_owned());
    }

    /// Stops the relay, then deletes what the test created on the broker (its unique exchange,
    /// its queues), so the broker is left as it was found.
    pub async fn cleanup(mut self) -> Result<()> {
        self.stop_relay().await?;
        let leftovers = std::mem::take(&mut self.leftovers);
        let publisher = self.publisher.take();
        let delete = async move {
            match publisher {
                Some((conn, channel)) => {
                    leftovers.delete_with(&channel).await?;
                    conn.close(200, "bye".into()).await?;
                    Ok(())
                }
                None => leftovers.delete().await,
            }
        };
        tokio::time::timeout(WAIT, delete)
            .await
            .context("deleting the test's broker objects took too long")?
    }
}

impl Drop for TestApp {
    /// A test that failed before [`TestApp::cleanup`]: stop the relay and delete its leftovers
    /// anyway, from a thread of its own (a destructor cannot await).
    fn drop(&mut self) {
        self.stop.send_replace(true);
        let leftovers = std::mem::take(&mut self.leftovers);
        if leftovers.is_empty() {
            return;
        }
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                // (the timeout is made inside the runtime: it needs one to exist)
                let result = runtime.block_on(async {
                    tokio::time::timeout(Duration::from_secs(5), leftovers.delete()).await
                });
                if !matches!(result, Ok(Ok(()))) {
                    eprintln!("could not delete the test's broker objects: {result:?}");
                }
            }
        });
        let _ = thread.join();
    }
}

/// How often [`TestApp::wait_queue`] and [`TestApp::wait_metric`] look again.
const POLL: Duration = Duration::from_millis(20);

pub fn metric_in(text: &str, series: &str) -> Result<f64> {
    for line in text.lines() {
        if let Some(v) = line.strip_prefix(series).and_then(|r| r.strip_prefix(' ')) {
            return Ok(v.trim().parse()?);
        }
    }
    bail!("no {series} in metrics:\n{text}")
}
