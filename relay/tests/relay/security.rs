//! Token, Origin and password hygiene.

use anyhow::Result;

use crate::helpers::{AppOpts, spawn_app};
use crate::ws_client::WsError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_protects_ws_and_metrics() -> Result<()> {
    let app = spawn_app(AppOpts {
        token: Some("s3cret-token".into()),
        ..AppOpts::default()
    })
    .await?;
    for (query, headers) in [
        ("", vec![]),
        ("?token=wrong", vec![]),
        ("", vec![("Authorization", "Bearer nope")]),
    ] {
        match app.ws_with(query, &headers).await {
            Err(WsError::Status(401)) => {}
            Err(e) => panic!("{query} {headers:?}: {e}"),
            Ok(_) => panic!("{query} {headers:?}: accepted"),
        }
    }
    let mut by_query = app.ws("?token=s3cret-token").await?;
    assert_eq!(by_query.data_frame().await?["kind"], "hello");
    let mut by_header = app
        .ws_with("", &[("Authorization", "Bearer s3cret-token")])
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(by_header.data_frame().await?["kind"], "hello");
    assert_eq!(app.get("/metrics", &[]).await?.0, 401);
    assert_eq!(app.get("/metrics?token=bad", &[]).await?.0, 401);
    let (status, text) = app
        .get("/metrics", &[("Authorization", "Bearer s3cret-token")])
        .await?;
    assert_eq!(status, 200);
    assert!(crate::helpers::metric_in(&text, "stalk_refused_total")? >= 5.0);
    // health stays open for probes
    assert_eq!(app.get("/healthz", &[]).await?.0, 200);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origin_is_refused() -> Result<()> {
    let app = spawn_app(AppOpts::default()).await?;
    match app.ws_with("", &[("Origin", "https://evil.example")]).await {
        Err(WsError::Status(403)) => {}
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("foreign origin accepted"),
    }
    let same = format!("http://{}", app.addr);
    for origin in [same.as_str(), "http://localhost:3000"] {
        let mut c = app
            .ws_with("", &[("Origin", origin)])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(c.data_frame().await?["kind"], "hello", "{origin}");
    }
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_never_shown_and_health_tells_the_truth() -> Result<()> {
    let password = "Pw-9f3kZq-never-shown";
    let broker = format!("amqp://guest:{password}@127.0.0.1:5672/%2f");
    let app = spawn_app(AppOpts {
        broker,
        wait_connected: false,
        ..AppOpts::default()
    })
    .await?;
    // the broker refuses these credentials: wait until the relay says so
    let mut state = app.hub.broker_watch();
    tokio::time::timeout(
        crate::helpers::WAIT,
        state.wait_for(|b| b.state == stalk_relay::protocol::BrokerState::Down),
    )
    .await??;
    let (status, body) = app.get("/healthz", &[]).await?;
    assert_eq!(status, 503);
    assert!(
        body.contains("\"url\":\"amqp://guest@127.0.0.1:5672/%2f\""),
        "{body}"
    );
    let mut client = app.ws("").await?;
    let hello = client.data_frame().await?.to_string();
    let (_, metrics) = app.get("/metrics", &[]).await?;
    for text in [&body, &hello, &metrics] {
        assert!(!text.contains(password), "{text}");
    }
    assert!(
        !hello.contains(":guest@") && hello.contains("amqp://guest@127.0.0.1"),
        "{hello}"
    );
    app.cleanup().await
}
