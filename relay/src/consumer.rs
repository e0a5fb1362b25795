//! The AMQP source: consumes the `celeryev` exchange through the relay's own bounded queue, and
//! reconnects forever with capped exponential backoff and jitter.
//!
//! Queue limits (all documented in `docs/relay.md`): a message TTL, a max length with `drop-head`
//! overflow (the newest events matter most to a monitor), and an expiry so a queue left behind by
//! a dead relay goes away. Messages are acked after they are in history, with a bounded prefetch,
//! so the broker (not the relay's memory) holds any backlog.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::watch;
use tokio::time::{Instant, interval, sleep, timeout};

use crate::broker_url::BrokerUrl;
use crate::hub::{SharedHub, unix_now};
use crate::protocol::BrokerState;

/// The exchange Celery publishes events to.
pub const EXCHANGE: &str = "celeryev";

/// Default message TTL of the relay's queue: events older than this at the broker are dropped.
/// Celery's own receivers use 5 s; the relay is meant to never be that far behind, and a longer TTL
/// turns a short stall into latency instead of loss.
pub const DEFAULT_MESSAGE_TTL: Duration = Duration::from_secs(600);

/// Default max length of the relay's queue (`drop-head` beyond it): ~100 MB of typical events.
pub const DEFAULT_MAX_LENGTH: u32 = 200_000;

/// Default expiry of the relay's own (per-process) queue once unused: long enough to survive a
/// reconnect without losing events, short enough not to accumulate after the relay is gone.
pub const DEFAULT_OWN_QUEUE_EXPIRES: Duration = Duration::from_secs(60);

/// Default expiry of a named `--queue` once unused: a day, so a relay restart keeps its events.
pub const DEFAULT_NAMED_QUEUE_EXPIRES: Duration = Duration::from_secs(86_400);

/// Messages delivered but not yet acked, at most: bounds what lapin buffers for the relay.
pub const DEFAULT_PREFETCH: u16 = 1000;

/// First retry delay after a failure; doubles up to [`MAX_BACKOFF`], with jitter.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(200);

/// Longest wait between two connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// How long one connection attempt (TCP, TLS, AMQP handshake) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the queue depth (`stalk_consumer_queue_messages`) is read from the broker.
const DEPTH_INTERVAL: Duration = Duration::from_secs(2);

/// Acks are sent for every this many deliveries (`multiple`), or when the queue goes idle.
const ACK_BATCH: u64 = 100;

/// How the consumer connects and what queue it declares.
#[derive(Clone, Debug)]
pub struct ConsumerOptions {
    /// The broker.
    pub url: BrokerUrl,
    /// The events exchange (Celery's `event_exchange`, default [`EXCHANGE`]).
    pub exchange: String,
    /// A durable named queue to use, or `None` for a per-process queue `stalk-relay.<instance>`.
    pub queue: Option<String>,
    /// `x-message-ttl`.
    pub message_ttl: Duration,
    /// `x-max-length` (with `x-overflow: drop-head`).
    pub max_length: u32,
    /// `x-expires`; `None` picks the default for the queue kind.
    pub expires: Option<Duration>,
    /// Prefetch count.
    pub prefetch: u16,
}

impl ConsumerOptions {
    /// Defaults for this broker.
    pub fn new(url: BrokerUrl) -> ConsumerOptions {
        ConsumerOptions {
            url,
            exchange: EXCHANGE.to_owned(),
            queue: None,
            message_ttl: DEFAULT_MESSAGE_TTL,
            max_length: DEFAULT_MAX_LENGTH,
            expires: None,
            prefetch: DEFAULT_PREFETCH,
        }
    }
}

/// Consumes until `shutdown` becomes true; never gives up on the broker.
pub async fn run(hub: SharedHub, opts: ConsumerOptions, mut shutdown: watch::Receiver<bool>) {
    let queue = opts
        .queue
        .clone()
        .unwrap_or_else(|| format!("stalk-relay.{}", hub.instance()));
    let mut backoff = INITIAL_BACKOFF;
    loop {
        hub.set_broker_state(BrokerState::Connecting);
        let mut connected = false;
        let result = tokio::select! {
            r = consume(&hub, &opts, &queue, &mut connected) => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        hub.set_broker_state(BrokerState::Down);
        if connected {
            backoff = INITIAL_BACKOFF;
        }
        let error = match result {
            Ok(()) => "the broker cancelled the consumer".to_owned(),
            Err(e) => opts.url.scrub(&e.to_string()),
        };
        let delay = jitter(backoff);
        tracing::warn!(broker = %opts.url, %error, retry_in = ?delay, "broker connection lost");
        backoff = (backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            () = sleep(delay) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// A delay between 50% and 100% of `base`, so many relays do not reconnect in lock step.
fn jitter(base: Duration) -> Duration {
    base.mul_f64(0.5 + fastrand::f64() * 0.5)
}

fn queue_arguments(opts: &ConsumerOptions) -> FieldTable {
    let expires = opts.expires.unwrap_or(if opts.queue.is_some() {
        DEFAULT_NAMED_QUEUE_EXPIRES
    } else {
        DEFAULT_OWN_QUEUE_EXPIRES
    });
    let millis = |d: Duration| AMQPValue::LongLongInt(d.as_millis().min(i64::MAX as u128) as i64);
    let mut args = FieldTable::default();
    args.insert("x-message-ttl".into(), millis(opts.message_ttl));
    args.insert("x-expires".into(), millis(expires));
    args.insert(
        "x-max-length".into(),
        AMQPValue::LongLongInt(opts.max_length.into()),
    );
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString(LongString::from("drop-head")),
    );
    args
}

/// Declares Celery's event exchange exactly as Celery does (topic, durable, not auto-delete, no
/// arguments), so the relay and Celery agree whoever declares it first.
pub async fn declare_exchange(channel: &lapin::Channel, name: &str) -> lapin::Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            name.into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
}

/// One connection's life: connect, declare, consume until an error.
async fn consume(
    hub: &SharedHub,
    opts: &ConsumerOptions,
    queue: &str,
    connected: &mut bool,
) -> lapin::Result<()> {
    let props = ConnectionProperties::default()
        .with_connection_name(LongString::from(format!("stalk-relay {}", hub.instance())));
    let conn = match timeout(
        CONNECT_TIMEOUT,
        Connection::connect_uri(opts.url.uri().clone(), props),
    )
    .await
    {
        Ok(conn) => conn?,
        Err(_) => {
            return Err(lapin::Error::from(lapin::ErrorKind::IOError(
                std::sync::Arc::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connection attempt timed out",
                )),
            )));
        }
    };
    let channel = conn.create_channel().await?;
    declare_exchange(&channel, &opts.exchange).await?;
    let named = opts.queue.is_some();
    let qopts = QueueDeclareOptions {
        durable: named,
        ..Default::default()
    };
    channel
        .queue_declare(queue.into(), qopts, queue_arguments(opts))
        .await?;
    channel
        .queue_bind(
            queue.into(),
            opts.exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .basic_qos(opts.prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "stalk-relay".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    *connected = true;
    hub.metrics.broker_connects.fetch_add(1, Relaxed);
    hub.set_broker_state(BrokerState::Connected);
    tracing::info!(broker = %opts.url, queue, "consuming Celery events");

    let mut depth = interval(DEPTH_INTERVAL);
    let mut unacked: u64 = 0;
    let mut last_tag = 0;
    let idle_ack = Duration::from_millis(50);
    let mut ack_deadline: Option<Instant> = None;
    loop {
        tokio::select! {
            delivery = consumer.next() => {
                let Some(delivery) = delivery else { return Ok(()) };
                let delivery = delivery?;
                let ct = delivery.properties.content_type().as_ref().map(|c| c.as_str());
                hub.ingest(&delivery.data, ct, unix_now());
                last_tag = delivery.delivery_tag;
                unacked += 1;
                if unacked >= ACK_BATCH {
                    channel.basic_ack(last_tag, BasicAckOptions { multiple: true }).await?;
                    unacked = 0;
                    ack_deadline = None;
                } else if ack_deadline.is_none() {
                    ack_deadline = Some(Instant::now() + idle_ack);
                }
            }
            () = async { tokio::time::sleep_until(ack_deadline.expect("guarded")).await }, if ack_deadline.is_some() => {
                channel.basic_ack(last_tag, BasicAckOptions { multiple: true }).await?;
                unacked = 0;
                ack_deadline = None;
            }
            _ = depth.tick() => {
                let passive = QueueDeclareOptions { passive: true, ..Default::default() };
                let q = channel.queue_declare(queue.into(), passive, FieldTable::default()).await?;
                hub.metrics.queue_messages.store(q.message_count().into(), Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::ShortString;

    #[test]
    fn jitter_stays_within_half_and_full() {
        for _ in 0..1000 {
            let d = jitter(Duration::from_secs(2));
            assert!(
                d >= Duration::from_secs(1) && d <= Duration::from_secs(2),
                "{d:?}"
            );
        }
    }

    #[test]
    fn queue_arguments_by_kind() {
        let url: BrokerUrl = "amqp://localhost".parse().unwrap();
        let own = queue_arguments(&ConsumerOptions::new(url.clone()));
        let inner = own.inner();
        assert_eq!(
            inner.get(&ShortString::from("x-expires")),
            Some(&AMQPValue::LongLongInt(60_000))
        );
        assert_eq!(
            inner.get(&ShortString::from("x-message-ttl")),
            Some(&AMQPValue::LongLongInt(600_000))
        );
        assert_eq!(
            inner.get(&ShortString::from("x-max-length")),
            Some(&AMQPValue::LongLongInt(200_000))
        );
        let named = queue_arguments(&ConsumerOptions {
            queue: Some("q".into()),
            ..ConsumerOptions::new(url)
        });
        assert_eq!(
            named.inner().get(&ShortString::from("x-expires")),
            Some(&AMQPValue::LongLongInt(86_400_000))
        );
    }
}
