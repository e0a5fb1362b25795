//! `stalk-relay` binary: parses the configuration, starts the event source and serves HTTP.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use stalk_relay::broker_url::BrokerUrl;
use stalk_relay::config::Config;
use stalk_relay::consumer;
use stalk_relay::hub::Hub;
use stalk_relay::printer::{Format, Printer, Zone};
use stalk_relay::{replay, server, tls};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        // Logs go to stderr: stdout belongs to --print-events.
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Config::parse();
    let (stop_tx, stop) = watch::channel(false);

    let source_url = match &config.replay {
        Some(path) => format!("replay:{}", path.display()),
        None => String::new(),
    };
    let broker: Option<BrokerUrl> = match config.replay {
        Some(_) => None,
        None => Some(config.broker.parse().context("bad --broker")?),
    };
    let shown = broker
        .as_ref()
        .map_or(source_url, |b| b.redacted().to_owned());
    let hub = Arc::new(Hub::new(config.limits(), config.max_body_bytes, shown));

    let source = match (broker, &config.replay) {
        (Some(url), _) => {
            let broker_ca = match &config.broker_ca {
                Some(path) => Some(tls::read_ca_file(path).context("bad --broker-ca")?),
                None => None,
            };
            if broker_ca.is_some() && !url.is_tls() {
                tracing::warn!("--broker-ca is only used with amqps:// brokers");
            }
            let opts = config.consumer_options(url, broker_ca);
            tokio::spawn(consumer::run(hub.clone(), opts, stop.clone()))
        }
        (None, Some(path)) => {
            let (hub, path, speed, stop) =
                (hub.clone(), path.clone(), config.replay_speed, stop.clone());
            tokio::spawn(async move {
                if let Err(e) = replay::run(hub, path, speed, stop).await {
                    tracing::error!(error = %e, "replay failed");
                }
            })
        }
        (None, None) => unreachable!("either a broker or a replay file"),
    };

    let printer = config.print_events.then(|| {
        let format = match (config.verbose, config.json) {
            (true, _) => Format::Verbose,
            (_, true) => Format::Json,
            _ => Format::Line,
        };
        let zone = if config.utc {
            Zone::Fixed(chrono::FixedOffset::east_opt(0).expect("UTC"))
        } else {
            Zone::Local
        };
        // The State is single-threaded (`Rc`, not `Arc`: see ARCHITECTURE.md), so the printer
        // lives on a thread of its own. Writing to a terminal blocks anyway.
        let (hub, stop) = (hub.clone(), stop.clone());
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let printer = Printer::new(format, zone, stalk_state::Limits::default());
            runtime.block_on(print_events(hub, printer, stop));
        })
    });

    if config.no_serve {
        tracing::info!("terminal monitor only (--no-serve)");
        shutdown_signal().await;
        stop_tx.send_replace(true);
        source.await.context("event source task panicked")?;
        if let Some(p) = printer {
            p.await.context("printer task panicked")?;
        }
        return Ok(());
    }

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "stalk-relay ready");
    server::run(listener, hub, config.server_options(), async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        stop_tx.send_replace(true);
    })
    .await
    .context("HTTP server failed")?;
    source.await.context("event source task panicked")?;
    if let Some(p) = printer {
        p.await.context("printer task panicked")?;
    }
    Ok(())
}

/// The terminal monitor: reads the history like any client (so it never slows the consumer; if
/// it falls out of the history it prints a GAP line) and writes one block of text per batch.
async fn print_events(hub: Arc<Hub>, mut printer: Printer, mut stop: watch::Receiver<bool>) {
    use std::io::Write;
    let mut newest = hub.subscribe();
    let mut last = 0;
    loop {
        let read = hub.history().read_after(last, 1000, 4 << 20);
        let mut text = String::new();
        if let Some((from, to)) = read.gap {
            text.push_str(&printer.gap(from, to));
        }
        for entry in &read.entries {
            text.push_str(&printer.event(entry.seq, entry.event.get().as_bytes(), entry.received));
            last = entry.seq;
        }
        if !text.is_empty() {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                return; // stdout closed (e.g. piped into `head`): stop printing, keep relaying
            }
            continue;
        }
        tokio::select! {
            r = newest.changed() => if r.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
