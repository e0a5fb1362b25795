//! `--replay`: both recording forms stream to clients without a broker.

use std::sync::Arc;

use anyhow::Result;
use serde_json::Value;
use stalk_relay::history::Limits;
use stalk_relay::hub::Hub;
use stalk_relay::server::{self, ServerOptions};
use tokio::sync::watch;

async fn replay_to_client(file: &str, speed: f64) -> Result<(Vec<Value>, Value)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    let hub = Arc::new(Hub::new(
        Limits::default(),
        1 << 20,
        format!("replay:{file}"),
    ));
    let (stop, stopped) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut s = stopped.clone();
    tokio::spawn(server::run(
        listener,
        hub.clone(),
        ServerOptions::default(),
        async move {
            let _ = s.wait_for(|v| *v).await;
        },
    ));
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
    let replay = tokio::spawn(stalk_relay::replay::run(hub.clone(), path, speed, stopped));
    use futures_util::StreamExt;
    let mut frames = Vec::new();
    let mut events = Vec::new();
    let expected = 47usize.min(if file.contains("reject") { 13 } else { 47 });
    while events.len() < expected {
        let msg = tokio::time::timeout(crate::helpers::WAIT, ws.next())
            .await?
            .expect("open")?;
        let frame: Value = serde_json::from_str(msg.to_text()?)?;
        if frame["kind"] == "events" {
            events.extend(frame["events"].as_array().unwrap().iter().cloned());
        }
        frames.push(frame);
    }
    replay.await??;
    stop.send_replace(true);
    Ok((events, frames[0].clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_raw_amqp_recordings() -> Result<()> {
    let (events, hello) = replay_to_client("happy.raw.ndjson", 0.0).await?;
    assert_eq!(hello["kind"], "hello");
    assert_eq!(hello["broker"]["url"], "replay:happy.raw.ndjson");
    assert_eq!(events.len(), 47);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=47).collect::<Vec<_>>());
    assert_eq!(events[0]["event"]["type"], "worker-online");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_receiver_recordings_at_multiplied_speed() -> Result<()> {
    // reject.ndjson spans about 2 s of real time; at 20x it takes ~0.1 s
    let started = std::time::Instant::now();
    let (events, _) = replay_to_client("reject.ndjson", 20.0).await?;
    assert_eq!(events.len(), 13);
    assert!(events.iter().all(|e| e["event"]["local_received"].is_f64()));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    Ok(())
}

/// A recording at 4,000 events/s replays at that rate: lines due together go out together
/// (sleeping per line would round each 0.25 ms gap up to the timer's 1 ms tick: 4 s or more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_recordings_keep_their_rate() -> Result<()> {
    let n: u32 = 4_000;
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let at = 1000.0 + f64::from(i) / 4_000.0;
            format!(
                r#"{{"type":"task-sent","uuid":"u{i}","hostname":"h","timestamp":{at},"clock":{i},"local_received":{at}}}"#
            )
        })
        .collect();
    let path =
        std::env::temp_dir().join(format!("stalk-replay-rate-{}.ndjson", std::process::id()));
    std::fs::write(&path, lines.join("\n"))?;
    let hub = Arc::new(Hub::new(Limits::default(), 1 << 20, "replay".into()));
    let (_stop, stopped) = watch::channel(false);
    let started = std::time::Instant::now();
    stalk_relay::replay::run(hub.clone(), path.clone(), 1.0, stopped).await?;
    let took = started.elapsed();
    let _ = std::fs::remove_file(&path);
    assert_eq!(*hub.subscribe().borrow(), u64::from(n), "every event");
    // The recording spans 1 s: not faster than recorded, and nowhere near 1 ms per line.
    assert!(
        took >= std::time::Duration::from_millis(950)
            && took < std::time::Duration::from_millis(2500),
        "{took:?}"
    );
    Ok(())
}
