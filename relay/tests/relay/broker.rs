//! Events published to RabbitMQ reach every client exactly once, in order; resume; gaps; bad input.

use anyhow::Result;
use serde_json::Value;
use stalk_relay::history::Limits;

use crate::helpers::{AppOpts, spawn_app, unique};

const HAPPY: &str = include_str!("../fixtures/happy.raw.ndjson");
const CANVAS: &str = include_str!("../fixtures/canvas.raw.ndjson");

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

fn bodies(events: &[Value]) -> Vec<Value> {
    events.iter().map(|e| e["event"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_get_every_event_exactly_once_in_order() -> Result<()> {
    let app = spawn_app(AppOpts::default()).await?;
    let mut a = app.ws("").await?;
    let mut b = app.ws("").await?;
    for c in [&mut a, &mut b] {
        let hello = c.data_frame().await?;
        assert_eq!(hello["kind"], "hello");
        assert_eq!(hello["protocol"], 1);
        assert_eq!(hello["newest_seq"], 0);
        assert_eq!(hello["broker"]["state"], "connected");
    }
    let published = app.publish_recording(HAPPY).await?;
    assert_eq!(published.len(), 47);
    for c in [&mut a, &mut b] {
        let got = c.events(47).await?;
        assert_eq!(seqs(&got), (1..=47).collect::<Vec<_>>());
        assert_eq!(
            bodies(&got),
            published,
            "events forwarded as published, batches flattened in order"
        );
        assert!(got.iter().all(|e| e["received"].as_f64().unwrap() > 1.7e9));
    }
    assert_eq!(app.metric("stalk_events_total").await?, 47.0);
    assert_eq!(
        app.metric("stalk_events_by_type_total{type=\"task-succeeded\"}")
            .await?,
        11.0
    );
    assert_eq!(app.metric("stalk_clients").await?, 2.0);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn celery_exchange_itself_is_consumed() -> Result<()> {
    // The real `celeryev` exchange is shared with anything else on this broker, so events are
    // marked with a unique hostname and picked out; seq must still be contiguous overall.
    let app = spawn_app(AppOpts {
        real_exchange: true,
        ..AppOpts::default()
    })
    .await?;
    let host = unique("vm");
    let recording = HAPPY.replace("@vm\"", &format!("@{host}\""));
    let mut client = app.ws("").await?;
    client.data_frame().await?;
    let published = app.publish_recording(&recording).await?;
    let mut mine = Vec::new();
    while mine.len() < published.len() {
        let batch = client
            .next_events()
            .await
            .map_err(|e| anyhow::anyhow!("{e} after {} of mine", mine.len()))?;
        mine.extend(batch.into_iter().filter(|e| {
            e["event"]["hostname"]
                .as_str()
                .is_some_and(|h| h.ends_with(&format!("@{host}")))
        }));
    }
    assert_eq!(bodies(&mine), published);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_since_gets_exactly_the_missed_events() -> Result<()> {
    let app = spawn_app(AppOpts::default()).await?;
    let mut first = app.ws("").await?;
    first.data_frame().await?;
    app.publish_recording(HAPPY).await?;
    first.events(47).await?;
    first.close().await?;
    let missed = app.publish_recording(CANVAS).await?;
    // wait until the relay has them all (a client reading everything is the readiness signal)
    let mut watcher = app.ws("?since=47").await?;
    let hello = watcher.data_frame().await?;
    assert_eq!(hello["oldest_seq"], 1);
    let got = watcher.events(missed.len()).await?;
    assert_eq!(seqs(&got), (48..=127).collect::<Vec<_>>());
    assert_eq!(bodies(&got), missed);
    let mut all = app.ws("?since=0").await?;
    all.data_frame().await?;
    assert_eq!(seqs(&all.events(127).await?), (1..=127).collect::<Vec<_>>());
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_beyond_history_gets_a_gap() -> Result<()> {
    let limits = Limits {
        max_events: 10,
        max_bytes: 1 << 20,
    };
    let app = spawn_app(AppOpts {
        limits,
        ..AppOpts::default()
    })
    .await?;
    app.publish_recording(HAPPY).await?;
    let mut newest = app.hub.subscribe();
    tokio::time::timeout(crate::helpers::WAIT, newest.wait_for(|n| *n == 47)).await??;
    let mut late = app.ws("?since=5").await?;
    let hello = late.data_frame().await?;
    assert_eq!(
        (hello["oldest_seq"].as_u64(), hello["newest_seq"].as_u64()),
        (Some(38), Some(47))
    );
    assert_eq!(
        late.data_frame().await?,
        serde_json::json!({"kind": "gap", "from": 6, "to": 37})
    );
    late.set_last_seq(37);
    assert_eq!(seqs(&late.events(10).await?), (38..=47).collect::<Vec<_>>());
    assert_eq!(app.metric("stalk_client_gap_events_total").await?, 32.0);
    assert_eq!(app.metric("stalk_history_evicted_total").await?, 37.0);
    assert_eq!(app.metric("stalk_history_events").await?, 10.0);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_counted_and_good_events_keep_flowing() -> Result<()> {
    let app = spawn_app(AppOpts::default()).await?;
    let mut client = app.ws("").await?;
    client.data_frame().await?;
    let good = r#"{"hostname":"w@h","type":"worker-heartbeat","timestamp":1.0}"#;
    app.publish("worker.heartbeat", "application/json", good.as_bytes())
        .await?;
    app.publish(
        "task.multi",
        "application/octet-stream",
        b"\x00\xff\xfegarbage\x01",
    )
    .await?;
    app.publish(
        "task.sent",
        "application/json",
        br#"{"type": "task-sent", "uuid": "#,
    )
    .await?;
    // pickle protocol 4 of {'type': 'task-sent'}
    let pickle =
        b"\x80\x04\x95\x17\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04type\x94\x8c\ttask-sent\x94s.";
    app.publish("task.sent", "application/x-python-serialize", pickle)
        .await?;
    let huge = format!(
        r#"{{"type":"task-received","args":"{}"}}"#,
        "x".repeat(10 * 1024 * 1024)
    );
    app.publish("task.received", "application/json", huge.as_bytes())
        .await?;
    let batch = format!(r#"[{good}, 17, {good}]"#);
    app.publish("task.multi", "application/json", batch.as_bytes())
        .await?;
    app.publish("worker.heartbeat", "application/json", good.as_bytes())
        .await?;
    let got = client.events(4).await?;
    assert!(got.iter().all(|e| e["event"]["type"] == "worker-heartbeat"));
    assert_eq!(seqs(&got), [1, 2, 3, 4]);
    for (reason, n) in [
        ("binary", 1.0),
        ("not_json", 1.0),
        ("pickle", 1.0),
        ("too_large", 1.0),
        ("not_object", 1.0),
    ] {
        let series = format!("stalk_decode_errors_total{{reason=\"{reason}\"}}");
        assert_eq!(app.metric(&series).await?, n, "{series}");
    }
    assert_eq!(app.metric("stalk_messages_total").await?, 7.0);
    assert_eq!(app.get("/healthz", &[]).await?.0, 200);
    app.cleanup().await
}
