//! Command-line and environment configuration (every option also reads a `STALK_*` variable).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::broker_url::BrokerUrl;
use crate::client::{Batch, DEFAULT_FRAME_MAX_BYTES, DEFAULT_FRAME_MAX_EVENTS};
use crate::consumer::{ConsumerOptions, DEFAULT_MAX_LENGTH, DEFAULT_PREFETCH};
use crate::decode::DEFAULT_MAX_BODY_BYTES;
use crate::history::{DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, Limits};
use crate::server::{DEFAULT_MAX_CLIENTS, ServerOptions};

/// Streams Celery events from RabbitMQ to browsers over WebSocket (protocol: docs/protocol.md).
///
/// The relay declares the `celeryev` topic exchange as Celery does, consumes it through its own
/// bounded queue, keeps a bounded history and serves `/ws`, `/healthz`, `/metrics` and, with
/// --web-dir, the web app, all on one port.
#[derive(Debug, Clone, Parser)]
#[command(name = "stalk-relay", version)]
pub struct Config {
    /// Broker URL: amqp://, amqps:// (TLS) or Celery-style pyamqp://user@host//. The password is
    /// never logged or shown.
    #[arg(
        long,
        env = "STALK_BROKER",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub broker: String,

    /// Also trust the CA certificates in this PEM file for amqps:// (besides the system store),
    /// e.g. a private CA that signed the broker's certificate.
    #[arg(long, env = "STALK_BROKER_CA")]
    pub broker_ca: Option<PathBuf>,

    /// Address to listen on. Keep it on localhost unless a --token is set.
    #[arg(long, env = "STALK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Serve the static web app from this directory (every path other than /ws, /healthz, /metrics).
    #[arg(long, env = "STALK_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// Stream this recording (*.raw.ndjson or *.ndjson) instead of consuming a broker.
    #[arg(long, env = "STALK_REPLAY")]
    pub replay: Option<PathBuf>,

    /// Replay pace: 1 = as recorded, 10 = ten times faster, 0 = as fast as possible.
    #[arg(long, env = "STALK_REPLAY_SPEED", default_value_t = 1.0)]
    pub replay_speed: f64,

    /// Terminal monitor: print one line per event to stdout with the task's merged state
    /// (`[time] TASK-SUCCEEDED proj.add (STATE=SUCCESS, UUID=...)`), alongside the server.
    #[arg(long, env = "STALK_PRINT_EVENTS")]
    pub print_events: bool,

    /// With --print-events: also print each event and every field of its task.
    #[arg(
        long,
        env = "STALK_VERBOSE",
        requires = "print_events",
        conflicts_with = "json"
    )]
    pub verbose: bool,

    /// With --print-events: one JSON object per line (seq, received, event, merged task or
    /// worker), for log pipelines.
    #[arg(long, env = "STALK_JSON", requires = "print_events")]
    pub json: bool,

    /// Do not serve HTTP at all: only the terminal monitor (needs --print-events).
    #[arg(long, env = "STALK_NO_SERVE", requires = "print_events")]
    pub no_serve: bool,

    /// With --print-events: show times in UTC instead of local time.
    #[arg(long, env = "STALK_UTC")]
    pub utc: bool,

    /// Require this token on /ws (?token= or Authorization: Bearer) and /metrics.
    #[arg(long, env = "STALK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Extra allowed WebSocket Origins (exact `scheme://host[:port]`, or `*`), besides same-origin and
    /// localhost. Comma-separated in the environment variable.
    #[arg(
        long = "allow-origin",
        env = "STALK_ALLOW_ORIGIN",
        value_delimiter = ','
    )]
    pub allow_origins: Vec<String>,

    /// The Celery events exchange (Celery's `event_exchange` setting).
    #[arg(long, env = "STALK_EXCHANGE", default_value = crate::consumer::EXCHANGE)]
    pub exchange: String,

    /// Use this durable named queue, so events published while the relay restarts are kept by
    /// the broker (default: a per-process queue that expires 60 s after the relay is gone).
    #[arg(long, env = "STALK_QUEUE")]
    pub queue: Option<String>,

    /// Message TTL of the relay's queue, seconds (events older than this at the broker are dropped
    /// and counted in stalk_broker_dropped_total{reason="expired"}).
    #[arg(long, env = "STALK_QUEUE_MESSAGE_TTL", default_value_t = 600)]
    pub queue_message_ttl: u64,

    /// Max messages in the relay's queue; beyond it the oldest are dropped (drop-head) and counted
    /// in stalk_broker_dropped_total{reason="maxlen"}.
    #[arg(long, env = "STALK_QUEUE_MAX_LENGTH", default_value_t = DEFAULT_MAX_LENGTH)]
    pub queue_max_length: u32,

    /// Seconds an unused queue survives (default 60 for the per-process queue, 86400 for --queue).
    #[arg(long, env = "STALK_QUEUE_EXPIRES")]
    pub queue_expires: Option<u64>,

    /// Unacked messages the broker may push at once.
    #[arg(long, env = "STALK_PREFETCH", default_value_t = DEFAULT_PREFETCH)]
    pub prefetch: u16,

    /// Events kept in history (for clients that connect or resume later).
    #[arg(long, env = "STALK_HISTORY_EVENTS", default_value_t = DEFAULT_MAX_EVENTS)]
    pub history_events: usize,

    /// Bytes of event JSON kept in history.
    #[arg(long, env = "STALK_HISTORY_BYTES", default_value_t = DEFAULT_MAX_BYTES)]
    pub history_bytes: usize,

    /// Larger message bodies are dropped unread (counted as too_large).
    #[arg(long, env = "STALK_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Most events per WebSocket frame.
    #[arg(long, env = "STALK_FRAME_EVENTS", default_value_t = DEFAULT_FRAME_MAX_EVENTS)]
    pub frame_events: usize,

    /// Most bytes per WebSocket frame.
    #[arg(long, env = "STALK_FRAME_BYTES", default_value_t = DEFAULT_FRAME_MAX_BYTES)]
    pub frame_bytes: usize,

    /// Shortest time between two event frames to one client, milliseconds.
    #[arg(long, env = "STALK_FLUSH_MS", default_value_t = 25)]
    pub flush_ms: u64,

    /// A client that does not accept a frame within this many seconds is disconnected.
    #[arg(long, env = "STALK_SEND_TIMEOUT", default_value_t = 30)]
    pub send_timeout: u64,

    /// Most simultaneous WebSocket clients (more get 503).
    #[arg(long, env = "STALK_MAX_CLIENTS", default_value_t = DEFAULT_MAX_CLIENTS)]
    pub max_clients: usize,
}

impl Config {
    /// The history bounds.
    pub fn limits(&self) -> Limits {
        Limits {
            max_events: self.history_events,
            max_bytes: self.history_bytes,
        }
    }

    /// How to consume `url`; `broker_ca` is the text of the `--broker-ca` file, already read.
    pub fn consumer_options(&self, url: BrokerUrl, broker_ca: Option<String>) -> ConsumerOptions {
        ConsumerOptions {
            exchange: self.exchange.clone(),
            queue: self.queue.clone(),
            message_ttl: Duration::from_secs(self.queue_message_ttl),
            max_length: self.queue_max_length,
            expires: self.queue_expires.map(Duration::from_secs),
            prefetch: self.prefetch,
            broker_ca,
            ..ConsumerOptions::new(url)
        }
    }

    /// The client policy.
    pub fn server_options(&self) -> ServerOptions {
        ServerOptions {
            token: self.token.clone().filter(|t| !t.is_empty()),
            allowed_origins: self.allow_origins.clone(),
            batch: Batch {
                max_events: self.frame_events.max(1),
                max_bytes: self.frame_bytes,
                flush_interval: Duration::from_millis(self.flush_ms),
            },
            send_timeout: Duration::from_secs(self.send_timeout.max(1)),
            max_clients: self.max_clients,
            web_dir: self.web_dir.clone(),
            ..ServerOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_help() {
        let c = Config::try_parse_from(["stalk-relay"]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.broker, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(c.limits(), Limits::default());
        let c = Config::try_parse_from([
            "stalk-relay",
            "--allow-origin",
            "https://a,https://b",
            "--token",
            "",
        ])
        .unwrap();
        assert_eq!(c.allow_origins, ["https://a", "https://b"]);
        assert_eq!(c.server_options().token, None);
        use clap::CommandFactory;
        Config::command().debug_assert();
    }

    #[test]
    fn queue_options_reach_the_consumer() {
        let c = Config::try_parse_from([
            "stalk-relay",
            "--queue",
            "stalk",
            "--queue-max-length",
            "5",
            "--queue-message-ttl",
            "2",
            "--broker-ca",
            "/etc/ca.pem",
        ])
        .unwrap();
        assert_eq!(c.broker_ca, Some(PathBuf::from("/etc/ca.pem")));
        let url: BrokerUrl = c.broker.parse().unwrap();
        let opts = c.consumer_options(url, Some("PEM".into()));
        assert_eq!(opts.queue.as_deref(), Some("stalk"));
        assert_eq!(opts.max_length, 5);
        assert_eq!(opts.message_ttl, Duration::from_secs(2));
        assert_eq!(opts.queue_expires(), Duration::from_secs(86_400));
        assert_eq!(opts.broker_ca.as_deref(), Some("PEM"));
    }
}
