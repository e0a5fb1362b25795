//! Faults: no broker at start, and the broker stopped and started again under a running relay.
//! The relay must never exit, reconnect by itself, tell clients (`hello`, `status`) and `/healthz`
//! the truth meanwhile, and carry on with contiguous `seq`s.

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use stalk_relay::protocol::BrokerState;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::helpers::{AppOpts, WAIT, exclusive_broker, spawn_app};

const HAPPY: &str = include_str!("../fixtures/happy.raw.ndjson");
const CANVAS: &str = include_str!("../fixtures/canvas.raw.ndjson");

/// Forwards every connection on `listener` to the real broker (the broker "appearing").
async fn forward_to_broker(listener: TcpListener) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        tokio::spawn(async move {
            if let Ok(mut broker) = TcpStream::connect("127.0.0.1:5672").await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut broker).await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_absent_at_start_then_appearing() -> Result<()> {
    // A bound socket that does not listen: connections to its port are refused, and the port
    // stays ours until the broker "appears" there.
    let socket = TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse()?)?;
    let port = socket.local_addr()?.port();
    let app = spawn_app(AppOpts {
        broker: format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        wait_connected: false,
        ..AppOpts::default()
    })
    .await?;
    // It keeps trying: wait for a second failure (each attempt is connecting -> down).
    let mut state = app.hub.broker_watch();
    let mut downs = 0;
    while downs < 2 {
        tokio::time::timeout(WAIT, state.changed())
            .await
            .context("the relay stopped trying")??;
        downs += usize::from(state.borrow_and_update().state == BrokerState::Down);
    }
    ensure!(!app.consumer.is_finished(), "the consumer gave up");

    let (code, body) = app.get("/healthz", &[]).await?;
    let health: Value = serde_json::from_str(&body)?;
    assert_eq!(code, 503, "{body}");
    assert_eq!(health["status"], "unavailable");
    assert_ne!(health["broker"]["state"], "connected");
    let mut client = app.ws("").await?;
    let hello = client.data_frame().await?;
    assert_eq!(hello["kind"], "hello");
    assert_ne!(hello["broker"]["state"], "connected", "{hello}");
    assert_eq!(app.metric("stalk_broker_connected").await?, 0.0);
    assert_eq!(app.metric("stalk_broker_connects_total").await?, 0.0);

    // The broker appears on that port: the relay connects by itself and says so.
    let proxy = tokio::spawn(forward_to_broker(socket.listen(16)?));
    app.wait_broker(BrokerState::Connected).await?;
    client.wait_status(|s| s == "connected").await?;
    assert_eq!(app.get("/healthz", &[]).await?.0, 200);
    let mut app = app;
    app.connect_publisher().await?;
    let published = app.publish_recording(HAPPY).await?;
    let got = client.events(published.len()).await?;
    assert_eq!(got.last().unwrap()["seq"], published.len());
    proxy.abort();
    app.cleanup().await
}

/// `rabbitmqctl` with these arguments (blocking: about a second).
fn rabbitmqctl(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .context("run rabbitmqctl")?;
    ensure!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The RabbitMQ application stopped (`stop_app`); started again on [`StoppedBroker::start`] or,
/// whatever happens to the test, on drop.
struct StoppedBroker {
    started: bool,
}

impl StoppedBroker {
    async fn stop() -> Result<StoppedBroker> {
        let guard = StoppedBroker { started: false };
        tokio::task::spawn_blocking(|| rabbitmqctl(&["stop_app"])).await??;
        Ok(guard)
    }

    async fn start(mut self) -> Result<()> {
        self.started = true;
        tokio::task::spawn_blocking(|| {
            rabbitmqctl(&["start_app"])?;
            rabbitmqctl(&["await_startup"])
        })
        .await?
    }
}

impl Drop for StoppedBroker {
    fn drop(&mut self) {
        if !self.started {
            let _ = rabbitmqctl(&["start_app"]);
            let _ = rabbitmqctl(&["await_startup"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_recovers_by_itself_from_a_broker_restart() -> Result<()> {
    let _alone = exclusive_broker().await;
    let mut app = spawn_app(AppOpts {
        shares_broker: false,
        ..AppOpts::default()
    })
    .await?;
    let mut client = app.ws("").await?;
    client.data_frame().await?;
    let before = app.publish_recording(HAPPY).await?;
    client.events(before.len()).await?;

    let stopped = StoppedBroker::stop().await?;
    // While the broker is away: the relay says so everywhere, and keeps running.
    let mut state = app.hub.broker_watch();
    tokio::time::timeout(WAIT, state.wait_for(|b| b.state != BrokerState::Connected))
        .await
        .context("the relay did not notice the broker stopping")??;
    let down = client.wait_status(|s| s != "connected").await?;
    assert!(matches!(
        down["broker"]["state"].as_str(),
        Some("down" | "connecting")
    ));
    let (code, body) = app.get("/healthz", &[]).await?;
    assert_eq!(code, 503, "{body}");
    assert_eq!(app.metric("stalk_broker_connected").await?, 0.0);
    ensure!(!app.consumer.is_finished(), "the consumer gave up");

    stopped.start().await?;
    app.wait_broker(BrokerState::Connected).await?;
    client.wait_status(|s| s == "connected").await?;
    assert_eq!(app.get("/healthz", &[]).await?.0, 200);
    assert_eq!(app.metric("stalk_broker_connects_total").await?, 2.0);

    // Events published after the restart flow on, numbered on from before.
    app.connect_publisher().await?;
    let after = app.publish_recording(CANVAS).await?;
    let got = client.events(after.len()).await?;
    let first = before.len() as u64 + 1;
    assert_eq!(got[0]["seq"], first);
    let bodies: Vec<Value> = got.iter().map(|e| e["event"].clone()).collect();
    assert_eq!(bodies, after);
    app.cleanup().await
}
