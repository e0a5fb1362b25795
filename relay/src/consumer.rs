//! The AMQP source: consumes the `celeryev` exchange through the relay's own bounded queue, and
//! reconnects forever with capped exponential backoff and jitter.
//!
//! Queue limits (all documented in `docs/relay.md`): a message TTL, a max length with `drop-head`
//! overflow (the newest events matter most to a monitor), and an expiry so a queue left behind by
//! a dead relay goes away. What those limits drop is dead-lettered to a small queue beside it and
//! counted ([`crate::dead_letter`]). Messages are acked after they are in history, with a bounded
//! prefetch, so the broker (not the relay's memory) holds any backlog.
//!
//! A durable `--queue` keeps the arguments it was created with: declaring it again with other ones
//! fails (`PRECONDITION_FAILED`), which is reported as [`ConsumeError::QueueMismatch`] with what to
//! do, and retried like any other failure.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, ConnectionProperties, DefaultConnectionBuilder, ExchangeKind};
use tokio::sync::watch;
use tokio::time::{interval, sleep, timeout};

use crate::acks::BatchAcks;
use crate::broker_url::BrokerUrl;
use crate::dead_letter::{self, DropReason};
use crate::hub::{SharedHub, unix_now};
use crate::protocol::BrokerState;
use crate::tls;

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
    /// Extra CA certificates (PEM text) to trust for `amqps://`, besides the system store.
    pub broker_ca: Option<String>,
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
            broker_ca: None,
        }
    }

    /// The relay's queue's `x-expires`: the given one, or the default for the queue kind.
    pub fn queue_expires(&self) -> Duration {
        match (self.expires, &self.queue) {
            (Some(expires), _) => expires,
            (None, Some(_)) => DEFAULT_NAMED_QUEUE_EXPIRES,
            (None, None) => DEFAULT_OWN_QUEUE_EXPIRES,
        }
    }
}

/// Why one connection's life ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The broker, the network or the AMQP client failed.
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    /// The connection attempt took longer than [`CONNECT_TIMEOUT`].
    #[error("connection attempt timed out after {CONNECT_TIMEOUT:?}")]
    Timeout,
    /// A queue exists with other arguments than the relay declares (a durable `--queue` created
    /// with other `--queue-*` options, or by a relay without dead-letter counting).
    #[error(
        "queue `{queue}` already exists with other arguments ({broker}). A durable --queue keeps \
         the arguments it was created with: start the relay with the same --queue-* options, \
         use another --queue name, or delete the relay's queue and its dead-letter queue \
         (`rabbitmqctl delete_queue {relay_queue}` and `rabbitmqctl delete_queue \
         {relay_queue}{suffix}`; events waiting in them are lost) so the relay creates them anew",
        suffix = dead_letter::SUFFIX
    )]
    QueueMismatch {
        /// The queue (the relay's or its dead-letter queue) whose declaration was refused.
        queue: String,
        /// The relay's queue.
        relay_queue: String,
        /// RabbitMQ's text (it names the argument and both values).
        broker: String,
    },
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
        if connected {
            backoff = INITIAL_BACKOFF;
        }
        let error = match &result {
            Ok(()) => "the broker cancelled the consumer".to_owned(),
            Err(e) => opts.url.scrub(&e.to_string()),
        };
        let delay = jitter(backoff);
        if matches!(result, Err(ConsumeError::QueueMismatch { .. })) {
            tracing::error!(broker = %opts.url, %error, retry_in = ?delay, "cannot use the queue");
        } else {
            tracing::warn!(broker = %opts.url, %error, retry_in = ?delay, "broker connection lost");
        }
        // The reason first, so whoever sees `down` can read why.
        hub.set_broker_error(Some(error));
        hub.set_broker_state(BrokerState::Down);
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

/// The relay's queue's arguments: its bounds, and dead-lettering into `<queue>.dead`.
fn queue_arguments(opts: &ConsumerOptions, queue: &str) -> FieldTable {
    let millis = dead_letter::millis;
    let mut args = FieldTable::default();
    args.insert("x-message-ttl".into(), millis(opts.message_ttl));
    args.insert("x-expires".into(), millis(opts.queue_expires()));
    args.insert(
        "x-max-length".into(),
        AMQPValue::LongLongInt(opts.max_length.into()),
    );
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString(LongString::from("drop-head")),
    );
    dead_letter::add_dead_lettering(&mut args, queue);
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
) -> Result<(), ConsumeError> {
    let conn = connect(hub, opts).await?;
    let channel = conn.create_channel().await?;
    let dead_queue = declare(&channel, opts, queue).await?;
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
    // Dead letters on a channel of their own, so their prefetch and acks stay apart.
    let dead_channel = conn.create_channel().await?;
    dead_channel
        .basic_qos(dead_letter::PREFETCH, BasicQosOptions::default())
        .await?;
    let mut dead_letters = dead_channel
        .basic_consume(
            dead_queue.as_str().into(),
            "stalk-relay-dead-letters".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    *connected = true;
    hub.metrics.broker_connects.fetch_add(1, Relaxed);
    hub.set_broker_error(None);
    hub.set_broker_state(BrokerState::Connected);
    tracing::info!(broker = %opts.url, queue, "consuming Celery events");

    let mut depth = interval(DEPTH_INTERVAL);
    let mut acks = BatchAcks::new(channel.clone(), opts.prefetch);
    let mut dead_acks = BatchAcks::new(dead_channel.clone(), dead_letter::PREFETCH);
    loop {
        tokio::select! {
            delivery = consumer.next() => {
                let Some(delivery) = delivery else { return Ok(()) };
                let delivery = delivery?;
                let ct = delivery.properties.content_type().as_ref().map(|c| c.as_str());
                hub.ingest(&delivery.data, ct, unix_now());
                acks.handled(delivery.delivery_tag).await?;
            }
            dead = dead_letters.next() => {
                let Some(dead) = dead else { return Ok(()) };
                let dead = dead?;
                count_dead_letter(hub, &dead, queue);
                dead_acks.handled(dead.delivery_tag).await?;
            }
            () = acks.due() => acks.flush().await?,
            () = dead_acks.due() => dead_acks.flush().await?,
            _ = depth.tick() => {
                let waiting = message_count(&channel, queue).await?;
                hub.metrics.queue_messages.store(waiting.into(), Relaxed);
                let dead_waiting = message_count(&channel, &dead_queue).await?;
                hub.metrics.dead_letter_messages.store(dead_waiting.into(), Relaxed);
            }
        }
    }
}

/// Opens the connection (TCP, TLS for `amqps://`, AMQP handshake) within [`CONNECT_TIMEOUT`].
async fn connect(hub: &SharedHub, opts: &ConsumerOptions) -> Result<Connection, ConsumeError> {
    let props = ConnectionProperties::default()
        .with_connection_name(LongString::from(format!("stalk-relay {}", hub.instance())));
    let builder = DefaultConnectionBuilder::new()?
        .with_uri(opts.url.uri().clone())
        .with_properties(props)
        .with_tls_config(tls::tls_config(opts.broker_ca.as_deref()));
    match timeout(CONNECT_TIMEOUT, builder.connect()).await {
        Ok(conn) => Ok(conn?),
        Err(_) => Err(ConsumeError::Timeout),
    }
}

/// Declares the exchange, the dead-letter queue, then the relay's queue (so whatever it drops has
/// somewhere to go) and binds it with `#`; returns the dead-letter queue's name.
async fn declare(
    channel: &Channel,
    opts: &ConsumerOptions,
    queue: &str,
) -> Result<String, ConsumeError> {
    declare_exchange(channel, &opts.exchange).await?;
    let durable = opts.queue.is_some();
    let dead_queue = dead_letter::queue_name(queue);
    let dead_args = dead_letter::queue_arguments(opts.queue_expires());
    let waiting = declare_queue(channel, &dead_queue, durable, dead_args)
        .await
        .map_err(|e| explain_declare_error(e, &dead_queue, queue))?;
    if waiting >= dead_letter::MAX_LENGTH {
        tracing::warn!(
            queue = dead_queue,
            waiting,
            "the dead-letter queue is full: the broker dropped more events than it could keep \
             while no relay was reading, so stalk_broker_dropped_total undercounts them"
        );
    }
    declare_queue(channel, queue, durable, queue_arguments(opts, queue))
        .await
        .map_err(|e| explain_declare_error(e, queue, queue))?;
    channel
        .queue_bind(
            queue.into(),
            opts.exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(dead_queue)
}

/// Declares one queue (durable or not) with these arguments; returns the messages it holds.
async fn declare_queue(
    channel: &Channel,
    name: &str,
    durable: bool,
    args: FieldTable,
) -> lapin::Result<u32> {
    let options = QueueDeclareOptions {
        durable,
        ..Default::default()
    };
    let q = channel.queue_declare(name.into(), options, args).await?;
    Ok(q.message_count())
}

/// Turns the broker's refusal to redeclare an existing queue (`queue`: the relay's queue
/// `relay_queue` or its dead-letter queue) with other arguments into an error that says what to
/// do; other errors pass through.
fn explain_declare_error(error: lapin::Error, queue: &str, relay_queue: &str) -> ConsumeError {
    if let lapin::ErrorKind::ProtocolError(amqp) = error.kind()
        && *amqp.kind() == AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)
    {
        return ConsumeError::QueueMismatch {
            queue: queue.to_owned(),
            relay_queue: relay_queue.to_owned(),
            broker: amqp.get_message().to_string(),
        };
    }
    ConsumeError::Amqp(error)
}

/// Messages waiting in a queue (a passive declare: it changes nothing).
async fn message_count(channel: &Channel, queue: &str) -> lapin::Result<u32> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let q = channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await?;
    Ok(q.message_count())
}

/// Counts one message the broker dropped from the relay's queue; its body is not looked at. The
/// first drop of each reason is logged, with what would have kept the events.
fn count_dead_letter(hub: &SharedHub, dead: &Delivery, queue: &str) {
    let reason = DropReason::of(&dead.properties);
    if hub.metrics.count_drop(reason) == 0 {
        let hint = match reason {
            DropReason::Expired => {
                "the relay was too far behind or away: raise --queue-message-ttl"
            }
            DropReason::Maxlen => "the relay was too far behind or away: raise --queue-max-length",
            DropReason::Rejected | DropReason::Other => "another consumer or policy is involved",
        };
        tracing::warn!(
            queue,
            reason = reason.code(),
            hint,
            "the broker dropped events from the relay's queue (logged once per reason; see \
             stalk_broker_dropped_total)"
        );
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
        let own = queue_arguments(&ConsumerOptions::new(url.clone()), "stalk-relay.i");
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
        assert_eq!(
            inner.get(&ShortString::from("x-dead-letter-routing-key")),
            Some(&AMQPValue::LongString("stalk-relay.i.dead".into()))
        );
        let named = queue_arguments(
            &ConsumerOptions {
                queue: Some("q".into()),
                ..ConsumerOptions::new(url)
            },
            "q",
        );
        assert_eq!(
            named.inner().get(&ShortString::from("x-expires")),
            Some(&AMQPValue::LongLongInt(86_400_000))
        );
    }

    #[test]
    fn a_refused_redeclare_says_what_to_do() {
        use lapin::protocol::AMQPError;
        let refusal = |kind| {
            lapin::Error::from(lapin::ErrorKind::ProtocolError(AMQPError::new(
                AMQPErrorKind::Soft(kind),
                "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'q'".into(),
            )))
        };
        let error = explain_declare_error(refusal(AMQPSoftError::PRECONDITIONFAILED), "q", "q");
        assert!(matches!(error, ConsumeError::QueueMismatch { .. }));
        let text = error.to_string();
        for needed in [
            "queue `q` already exists",
            "inequivalent arg 'x-max-length'",
            "rabbitmqctl delete_queue q`",
            "rabbitmqctl delete_queue q.dead`",
        ] {
            assert!(text.contains(needed), "{needed} missing from: {text}");
        }
        // A refused dead-letter queue: the fix still names the relay's queues.
        let dead = explain_declare_error(refusal(AMQPSoftError::PRECONDITIONFAILED), "q.dead", "q");
        let text = dead.to_string();
        assert!(text.contains("queue `q.dead` already exists"), "{text}");
        assert!(
            text.contains("delete_queue q.dead`") && !text.contains("q.dead.dead"),
            "{text}"
        );
        let other = explain_declare_error(refusal(AMQPSoftError::ACCESSREFUSED), "q", "q");
        assert!(matches!(other, ConsumeError::Amqp(_)));
    }
}
