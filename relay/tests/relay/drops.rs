//! Events the broker drops from the relay's queue are counted, by reason, from the dead-letter
//! queue: a durable `--queue` fills (or its events expire) while the relay is stopped, and the
//! relay started again counts exactly what was lost while the kept events still reach clients.
//! A durable queue redeclared with other arguments is refused with a message saying what to do.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::Value;
use stalk_relay::dead_letter;
use stalk_relay::protocol::BrokerState;

use crate::helpers::{AppOpts, TestApp, WAIT, spawn_app, unique};
use crate::ws_client::WsClient;

/// One small event, numbered so that the kept ones can be told apart.
fn heartbeat(n: u32) -> String {
    format!(r#"{{"hostname":"drops@test","type":"worker-heartbeat","timestamp":{n}.0,"n":{n}}}"#)
}

/// Publishes heartbeats `from..=to`; returns their bodies as JSON values.
async fn publish_heartbeats(app: &TestApp, from: u32, to: u32) -> Result<Vec<Value>> {
    let mut published = Vec::new();
    for n in from..=to {
        let body = heartbeat(n);
        app.publish("worker.heartbeat", "application/json", body.as_bytes())
            .await?;
        published.push(serde_json::from_str(&body)?);
    }
    Ok(published)
}

fn bodies(entries: &[Value]) -> Vec<Value> {
    entries.iter().map(|e| e["event"].clone()).collect()
}

fn dropped_series(reason: &str) -> String {
    format!("stalk_broker_dropped_total{{reason=\"{reason}\"}}")
}

/// Stops the relay and waits until the broker sees no consumer on its queue, so that whatever is
/// published next waits in (or falls out of) the queue.
async fn stop_relay(app: &mut TestApp, queue: &str) -> Result<()> {
    app.stop_relay().await?;
    app.wait_queue(queue, |_, consumers| consumers == 0).await
}

/// Starts the relay again and connects a client that has read its `hello`.
async fn restart_relay(app: &mut TestApp) -> Result<WsClient> {
    app.start_relay().await?;
    app.wait_broker(BrokerState::Connected).await?;
    let mut client = app.ws("").await?;
    ensure!(client.data_frame().await?["kind"] == "hello");
    Ok(client)
}

/// Reads frames until a `status` frame reports `dropped` broker drops; event frames are skipped
/// (the caller has read the events it expects).
async fn wait_status_dropped(client: &mut WsClient, dropped: u64) -> Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "no status frame with broker_dropped = {dropped}"
        );
        let frame = client.frame().await?;
        if frame["kind"] == "status" && frame["broker_dropped"] == dropped {
            return Ok(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_pushed_out_of_a_full_queue_are_counted_and_the_rest_flow() -> Result<()> {
    let queue = unique("stalk-test-drops");
    let dead_queue = dead_letter::queue_name(&queue);
    let mut app = spawn_app(AppOpts {
        queue: Some(queue.clone()),
        queue_max_length: Some(5),
        ..AppOpts::default()
    })
    .await?;
    stop_relay(&mut app, &queue).await?;

    // 12 events while no relay reads: the queue keeps the newest 5 and dead-letters 7.
    let published = publish_heartbeats(&app, 1, 12).await?;
    app.wait_queue(&dead_queue, |messages, _| messages == 7)
        .await?;
    app.wait_queue(&queue, |messages, _| messages == 5).await?;

    let mut client = restart_relay(&mut app).await?;
    let kept = client.events(5).await?;
    assert_eq!(
        bodies(&kept),
        published[7..],
        "the newest 5 are kept, in order"
    );
    app.wait_metric(&dropped_series("maxlen"), 7.0).await?;
    assert_eq!(app.metric(&dropped_series("expired")).await?, 0.0);
    wait_status_dropped(&mut client, 7).await?;
    // Every dead letter was counted and acked.
    app.wait_queue(&dead_queue, |messages, _| messages == 0)
        .await?;

    // Live events flow on, numbered on, and nothing more is dropped.
    let live = publish_heartbeats(&app, 13, 14).await?;
    let got = client.events(2).await?;
    assert_eq!(bodies(&got), live);
    assert_eq!(got[0]["seq"], 6);
    assert_eq!(app.metric(&dropped_series("maxlen")).await?, 7.0);
    assert_eq!(app.metric("stalk_events_total").await?, 7.0);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_expire_in_the_queue_are_counted() -> Result<()> {
    let queue = unique("stalk-test-drops");
    let dead_queue = dead_letter::queue_name(&queue);
    let mut app = spawn_app(AppOpts {
        queue: Some(queue.clone()),
        queue_message_ttl: Some(Duration::from_secs(1)),
        ..AppOpts::default()
    })
    .await?;
    stop_relay(&mut app, &queue).await?;

    // 3 events while no relay reads; after the TTL the broker dead-letters all of them.
    publish_heartbeats(&app, 1, 3).await?;
    app.wait_queue(&dead_queue, |messages, _| messages == 3)
        .await?;
    app.wait_queue(&queue, |messages, _| messages == 0).await?;

    let mut client = restart_relay(&mut app).await?;
    app.wait_metric(&dropped_series("expired"), 3.0).await?;
    assert_eq!(app.metric(&dropped_series("maxlen")).await?, 0.0);
    wait_status_dropped(&mut client, 3).await?;

    let live = publish_heartbeats(&app, 4, 4).await?;
    let got = client.events(1).await?;
    assert_eq!(bodies(&got), live);
    assert_eq!(got[0]["seq"], 1, "expired events never reached the history");
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_running_every_message_is_either_relayed_or_counted() -> Result<()> {
    // A queue of 10 and a prefetch of 2 against a publisher at full speed: the relay falls behind
    // and the broker drops. How many is up to the machine; that none goes unaccounted is not.
    let app = spawn_app(AppOpts {
        queue_max_length: Some(10),
        prefetch: Some(2),
        ..AppOpts::default()
    })
    .await?;
    let mut client = app.ws("").await?;
    ensure!(client.data_frame().await?["kind"] == "hello");
    let published = 2000;
    publish_heartbeats(&app, 1, published).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let (relayed, dropped) = loop {
        let relayed = app.metric("stalk_messages_total").await?;
        let dropped = app.metric(&dropped_series("maxlen")).await?;
        if relayed + dropped >= f64::from(published) || tokio::time::Instant::now() > deadline {
            break (relayed, dropped);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("{published} published: {relayed} relayed, {dropped} dropped by the broker");
    assert_eq!(relayed + dropped, f64::from(published));
    // The client gets exactly the relayed ones, numbered without holes.
    let got = client.events(relayed as usize).await?;
    let seqs: Vec<u64> = got.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=relayed as u64).collect::<Vec<_>>());
    assert_eq!(app.metric(&dropped_series("expired")).await?, 0.0);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_queue_with_other_arguments_is_refused_clearly() -> Result<()> {
    let queue = unique("stalk-test-drops");
    let first = spawn_app(AppOpts {
        queue: Some(queue.clone()),
        queue_max_length: Some(5),
        ..AppOpts::default()
    })
    .await?;
    // Same queue, another max length: RabbitMQ refuses the declaration (PRECONDITION_FAILED).
    let second = spawn_app(AppOpts {
        queue: Some(queue.clone()),
        queue_max_length: Some(6),
        wait_connected: false,
        ..AppOpts::default()
    })
    .await?;
    let mut state = second.hub.broker_watch();
    tokio::time::timeout(WAIT, state.wait_for(|b| b.state == BrokerState::Down)).await??;
    let (code, body) = second.get("/healthz", &[]).await?;
    assert_eq!(code, 503, "{body}");
    let health: Value = serde_json::from_str(&body)?;
    let error = health["broker_error"].as_str().unwrap_or_default();
    for needed in [
        format!("queue `{queue}` already exists with other arguments"),
        "x-max-length".to_owned(),
        format!("rabbitmqctl delete_queue {queue}`"),
        format!("rabbitmqctl delete_queue {queue}.dead`"),
    ] {
        assert!(error.contains(&needed), "{needed:?} not in {error:?}");
    }
    assert_eq!(second.metric("stalk_broker_connects_total").await?, 0.0);
    // The first relay is unaffected.
    assert_eq!(first.get("/healthz", &[]).await?.0, 200);
    second.cleanup().await?;
    first.cleanup().await
}
