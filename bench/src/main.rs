//! `stalk-bench`: load generator and benchmark driver for `stalk-relay` (see `docs/benchmarks.md`).
//!
//! ```sh
//! cargo build --release -p stalk-relay -p stalk-bench
//! target/release/stalk-bench gen --rate 5000 --seconds 10          # publish only
//! target/release/stalk-bench run --rate 5000 --clients 10          # one measurement
//! target/release/stalk-bench run --rate 5000 --bare                # bare lapin consumer
//! target/release/stalk-bench suite                                 # everything in the doc
//! ```

mod driver;
mod generator;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Load generator and benchmark driver for stalk-relay.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// RabbitMQ URL (never stopped by the bench).
    #[arg(
        long,
        env = "STALK_BROKER",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        global = true
    )]
    broker: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Publish synthetic Celery events to an exchange at a rate (nothing else).
    Gen {
        /// Exchange (Celery's `event_exchange`); default a fresh `stalk-bench-<pid>-<time>`.
        #[arg(long)]
        exchange: Option<String>,
        /// Events per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Seconds to publish for.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Keep the exchange afterwards (default: delete it).
        #[arg(long)]
        keep_exchange: bool,
    },
    /// One measurement: start the relay, connect clients, publish, count, report one JSON line.
    Run {
        #[command(flatten)]
        run: driver::RunOpts,
    },
    /// The whole benchmark of docs/benchmarks.md: step searches (bare, 1 and 10 clients),
    /// 5,000 events/s with 10 clients twice, and a soak.
    Suite {
        /// Relay binary (default: `stalk-relay` beside this binary).
        #[arg(long)]
        relay_bin: Option<PathBuf>,
        /// Seconds per step of the searches.
        #[arg(long, default_value_t = 5.0)]
        step_seconds: f64,
        /// Seconds of the soak.
        #[arg(long, default_value_t = 120.0)]
        soak_seconds: f64,
        /// Events per second of the soak.
        #[arg(long, default_value_t = 2000.0)]
        soak_rate: f64,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Gen {
            exchange,
            rate,
            seconds,
            keep_exchange,
        } => {
            let exchange = exchange.unwrap_or_else(driver::unique_exchange);
            let publisher = generator::Publisher::connect(&cli.broker, &exchange).await?;
            let mut synth = generator::Synth::new(fastrand::u64(..), 4);
            let out = publisher
                .run(&mut synth, rate, Duration::from_secs_f64(seconds))
                .await?;
            if !keep_exchange {
                publisher.finish().await?;
            }
            println!(
                "{}",
                serde_json::json!({"exchange": exchange, "published": out})
            );
        }
        Cmd::Run { mut run } => {
            run.broker = cli.broker;
            let report = driver::run(&run).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Cmd::Suite {
            relay_bin,
            step_seconds,
            soak_seconds,
            soak_rate,
        } => {
            driver::suite(
                &cli.broker,
                relay_bin,
                step_seconds,
                soak_seconds,
                soak_rate,
            )
            .await?;
        }
    }
    Ok(())
}
