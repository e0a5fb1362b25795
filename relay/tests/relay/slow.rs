//! Slow clients over real sockets: one that pauses gets a `gap`, one that stops reading is dropped
//! after the send timeout; neither delays a client that keeps up, and the relay's memory stays
//! within the history bounds.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use stalk_relay::history::Limits;
use stalk_relay::server::ServerOptions;

use crate::helpers::{AppOpts, WAIT, exclusive_broker, spawn_app};
use crate::ws_client::WsClient;

/// Events published; each carries [`PAD`] bytes, so they total ~16 MB: far more than the history
/// keeps plus what the kernel buffers of a socket nobody reads absorb (~4 MB here).
const EVENTS: u64 = 2000;
const PAD: usize = 8000;
/// Publishing pace: [`BURST`] events every [`TICK`], i.e. 1,000 events (8 MB) per second.
const BURST: u64 = 10;
const TICK: Duration = Duration::from_millis(10);
/// About 780 events: three quarters of a second of this stream (the slack of the fast client).
const HISTORY: Limits = Limits {
    max_events: 1000,
    max_bytes: 6 << 20,
};
/// Shorter than the default so the test is quick; longer than the pause of the gap client.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Worst time, seconds, from the relay taking an event off the broker to the fast client reading
/// it. Far below [`SEND_TIMEOUT`]: a relay waiting on the stalled clients would exceed it.
const MAX_LATENCY: f64 = 1.0;

/// Reads until `seq == EVENTS`; returns the gaps seen, checking every seq is accounted for once.
async fn read_to_end(client: &mut WsClient) -> Result<Vec<(u64, u64)>> {
    let (mut last, mut gaps) = (0, Vec::new());
    while last < EVENTS {
        let f = client
            .raw_frame()
            .await?
            .with_context(|| format!("closed at seq {last}"))?;
        match f["kind"].as_str() {
            Some("events") => {
                for e in f["events"].as_array().context("events")? {
                    ensure!(e["seq"] == last + 1, "seq {} after {last}", e["seq"]);
                    last += 1;
                }
            }
            Some("gap") => {
                ensure!(f["from"] == last + 1, "{f} after {last}");
                last = f["to"].as_u64().context("to")?;
                gaps.push((f["from"].as_u64().unwrap(), last));
            }
            _ => {}
        }
    }
    Ok(gaps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_get_a_gap_or_are_dropped_and_never_delay_others() -> Result<()> {
    // Alone on the machine's 2 cores: whether the fast client keeps within the history while
    // 8 MB/s flow depends on CPU, and the other tests' workers (Celery's above all) compete for it.
    let _alone = exclusive_broker().await;
    let app = spawn_app(AppOpts {
        shares_broker: false,
        limits: HISTORY,
        server: ServerOptions {
            send_timeout: SEND_TIMEOUT,
            ..ServerOptions::default()
        },
        ..AppOpts::default()
    })
    .await?;
    let mut fast = app.ws("").await?;
    let mut pausing = app.ws_small_buffer().await?;
    let mut stopped = app.ws_small_buffer().await?;
    for c in [&mut fast, &mut pausing, &mut stopped] {
        assert_eq!(c.data_frame().await?["kind"], "hello");
    }

    // The fast client reads as events flow and measures relay-to-client latency.
    let reader = tokio::spawn(async move {
        let (mut n, mut worst) = (0, 0.0f64);
        while n < EVENTS {
            let events = fast.next_events().await?;
            let now = stalk_relay::hub::unix_now();
            for e in &events {
                worst = worst.max(now - e["received"].as_f64().context("received")?);
            }
            n += events.len() as u64;
        }
        anyhow::Ok((fast, worst))
    });
    let pad = "x".repeat(PAD);
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(TICK);
    for clock in 1..=EVENTS {
        if clock % BURST == 1 {
            tick.tick().await;
        }
        let body = format!(
            r#"{{"hostname":"slow@test","type":"worker-heartbeat","clock":{clock},"timestamp":1.0,"pad":"{pad}"}}"#
        );
        app.publish("worker.heartbeat", "application/json", body.as_bytes())
            .await?;
    }
    let (fast, worst) = reader.await??;
    let elapsed = started.elapsed();
    // latency is measured when the whole stream was read: bound it by the run time itself
    ensure!(
        elapsed < SEND_TIMEOUT,
        "publishing and reading took {elapsed:?}: too slow a machine for the timing below"
    );
    ensure!(
        worst < MAX_LATENCY,
        "the fast client waited {worst:.3} s for an event"
    );

    eprintln!("fast client: {EVENTS} events in {elapsed:?}, worst latency {worst:.3} s");
    // The pausing client resumes: it lost what the history dropped meanwhile, announced by a gap.
    let gaps = read_to_end(&mut pausing).await?;
    ensure!(!gaps.is_empty(), "a pausing client got no gap");
    eprintln!("pausing client: gaps {gaps:?}");
    ensure!(app.metric("stalk_client_gap_events_total").await? > 0.0);

    // The stopped client is dropped once a frame has waited the send timeout.
    let deadline = tokio::time::Instant::now() + SEND_TIMEOUT + WAIT;
    while app.metric("stalk_client_slow_closes_total").await? < 1.0 {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the stopped client was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.metric("stalk_clients").await?, 2.0);
    // What reached it before that is a contiguous prefix, then the connection ends.
    let mut last = 0;
    while let Some(f) = stopped.raw_frame().await? {
        match f["kind"].as_str() {
            Some("events") => {
                for e in f["events"].as_array().context("events")? {
                    ensure!(e["seq"] == last + 1, "seq {} after {last}", e["seq"]);
                    last += 1;
                }
            }
            Some("gap") => bail!("a stopped client cannot have been sent a gap: {f}"),
            _ => {}
        }
    }
    ensure!(
        last < EVENTS,
        "the stopped client got everything: it never blocked"
    );

    // Memory: the history stayed within its bounds while clients lagged.
    let history_events = app.metric("stalk_history_events").await?;
    let history_bytes = app.metric("stalk_history_bytes").await?;
    ensure!(
        history_events <= HISTORY.max_events as f64,
        "{history_events}"
    );
    ensure!(history_bytes <= HISTORY.max_bytes as f64, "{history_bytes}");
    ensure!(app.metric("stalk_history_evicted_total").await? >= (EVENTS / 2) as f64);
    drop(fast);
    app.cleanup().await
}
