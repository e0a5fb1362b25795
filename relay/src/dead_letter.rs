//! Counting the messages the broker drops from the relay's queue.
//!
//! The relay's queue is bounded (a message TTL, a max length with `drop-head`), so RabbitMQ may
//! throw events away before the relay reads them. RabbitMQ can *dead-letter* such messages instead
//! of discarding them silently: it republishes each one through a dead-letter exchange with an
//! `x-death` header saying why. The relay uses that to count its losses:
//!
//! - the relay's queue gets `x-dead-letter-exchange: ""` (the default exchange, which routes by
//!   queue name, so no exchange object is created) and `x-dead-letter-routing-key: <queue>.dead`;
//! - `<queue>.dead` is a small queue of its own ([`queue_arguments`]): bounded in messages and
//!   bytes, `drop-head`, with a TTL and an expiry, so it can never grow the broker without limit;
//! - the consumer reads it beside the main queue and counts every message by the reason in its
//!   headers ([`DropReason::of`]) into `stalk_broker_dropped_total{reason}`. Bodies are never
//!   decoded: those events are lost to the stream, only their number matters.
//!
//! Limits of the count (documented in `docs/relay.md`): if more messages are dropped while no relay
//! reads `<queue>.dead` than it holds ([`MAX_LENGTH`], [`MAX_BYTES`], [`queue_arguments`]'s TTL),
//! the dead-letter queue drops its own oldest ones uncounted; messages lost because a whole queue
//! expired are not dead-lettered at all. A message counts once, however many events its body holds
//! (a `task.multi` batch holds 1 to 24).

use std::time::Duration;

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};

/// Appended to the relay's queue name to name its dead-letter queue.
pub const SUFFIX: &str = ".dead";

/// Most messages the dead-letter queue holds. While the relay runs it stays near empty (each
/// message is counted and acked at once); it only fills while no relay reads it.
pub const MAX_LENGTH: u32 = 10_000;

/// Most bytes the dead-letter queue holds (dropped events keep their bodies): 16 MiB.
pub const MAX_BYTES: u32 = 16 << 20;

/// The dead-letter queue expires this much later than the relay's queue, so it is still there to
/// receive whatever the relay's queue drops until its own last moment.
pub const EXPIRES_MARGIN: Duration = Duration::from_secs(60);

/// Unacked dead letters in flight to the relay at once.
pub const PREFETCH: u16 = 500;

/// The dead-letter queue of the relay's queue `queue`.
pub fn queue_name(queue: &str) -> String {
    format!("{queue}{SUFFIX}")
}

/// The arguments that make the relay's queue `queue` dead-letter into [`queue_name`]`(queue)`.
pub fn add_dead_lettering(args: &mut FieldTable, queue: &str) {
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(LongString::from("")),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(LongString::from(queue_name(queue))),
    );
}

/// The dead-letter queue's own bounds. `main_expires` is the relay's queue's `x-expires`: dead
/// letters are kept as long as that queue would be (a relay restarted within that time counts what
/// was dropped meanwhile), and the queue itself lives [`EXPIRES_MARGIN`] longer.
pub fn queue_arguments(main_expires: Duration) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-message-ttl".into(), millis(main_expires));
    args.insert("x-expires".into(), millis(main_expires + EXPIRES_MARGIN));
    args.insert(
        "x-max-length".into(),
        AMQPValue::LongLongInt(MAX_LENGTH.into()),
    );
    args.insert(
        "x-max-length-bytes".into(),
        AMQPValue::LongLongInt(MAX_BYTES.into()),
    );
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString(LongString::from("drop-head")),
    );
    args
}

/// A duration as the integer milliseconds RabbitMQ's queue arguments take.
pub(crate) fn millis(d: Duration) -> AMQPValue {
    AMQPValue::LongLongInt(d.as_millis().min(i64::MAX as u128) as i64)
}

/// Why the broker dropped a message, as RabbitMQ writes it in `x-death`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Older than the queue's message TTL (`--queue-message-ttl`).
    Expired,
    /// Pushed out of the head of a full queue (`--queue-max-length`, `drop-head`).
    Maxlen,
    /// Rejected or nacked without requeue (the relay never does; another consumer of a shared
    /// `--queue` might).
    Rejected,
    /// A reason this relay does not know (e.g. `delivery_limit` of quorum queues), or no header.
    Other,
}

impl DropReason {
    /// Every reason, in metric order.
    pub const ALL: [DropReason; 4] = [
        DropReason::Expired,
        DropReason::Maxlen,
        DropReason::Rejected,
        DropReason::Other,
    ];

    /// The label value in `/metrics` (RabbitMQ's own word).
    pub fn code(self) -> &'static str {
        match self {
            DropReason::Expired => "expired",
            DropReason::Maxlen => "maxlen",
            DropReason::Rejected => "rejected",
            DropReason::Other => "other",
        }
    }

    /// Position in [`DropReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The reason of a dead-lettered message: the newest `x-death` entry's `reason` (RabbitMQ puts
    /// the latest death first), else the `x-first-death-reason` header, else [`DropReason::Other`].
    pub fn of(properties: &BasicProperties) -> DropReason {
        let Some(headers) = properties.headers() else {
            return DropReason::Other;
        };
        let headers = headers.inner();
        let newest_death = headers
            .get("x-death")
            .and_then(AMQPValue::as_array)
            .and_then(|deaths| deaths.as_slice().first())
            .and_then(AMQPValue::as_field_table)
            .and_then(|death| death.inner().get("reason"));
        let first_death = headers.get("x-first-death-reason");
        newest_death
            .or(first_death)
            .and_then(text)
            .map_or(DropReason::Other, DropReason::from_code)
    }

    fn from_code(code: &str) -> DropReason {
        match code {
            "expired" => DropReason::Expired,
            "maxlen" => DropReason::Maxlen,
            "rejected" => DropReason::Rejected,
            _ => DropReason::Other,
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A header value as text (RabbitMQ sends these as long strings; short ones are accepted too).
fn text(value: &AMQPValue) -> Option<&str> {
    match value {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{FieldArray, ShortString};

    fn death(reason: &str) -> AMQPValue {
        let mut t = FieldTable::default();
        t.insert("reason".into(), AMQPValue::LongString(reason.into()));
        t.insert("queue".into(), AMQPValue::LongString("q".into()));
        t.insert("count".into(), AMQPValue::LongLongInt(1));
        AMQPValue::FieldTable(t)
    }

    fn with_headers(pairs: Vec<(&str, AMQPValue)>) -> BasicProperties {
        let mut headers = FieldTable::default();
        for (k, v) in pairs {
            headers.insert(k.into(), v);
        }
        BasicProperties::default().with_headers(headers)
    }

    #[test]
    fn reason_from_headers() {
        let deaths = |reasons: &[&str]| {
            AMQPValue::FieldArray(FieldArray::from(
                reasons.iter().map(|r| death(r)).collect::<Vec<_>>(),
            ))
        };
        let first = |r: &str| AMQPValue::LongString(r.into());
        let cases = [
            (vec![("x-death", deaths(&["maxlen"]))], DropReason::Maxlen),
            (vec![("x-death", deaths(&["expired"]))], DropReason::Expired),
            (
                vec![("x-death", deaths(&["rejected"]))],
                DropReason::Rejected,
            ),
            // the newest death wins over an older one and over the first-death header
            (
                vec![
                    ("x-death", deaths(&["maxlen", "expired"])),
                    ("x-first-death-reason", first("expired")),
                ],
                DropReason::Maxlen,
            ),
            (
                vec![("x-first-death-reason", first("expired"))],
                DropReason::Expired,
            ),
            (
                vec![("x-death", deaths(&["delivery_limit"]))],
                DropReason::Other,
            ),
            (
                vec![("x-death", AMQPValue::LongLongInt(3))],
                DropReason::Other,
            ),
            (vec![], DropReason::Other),
        ];
        for (headers, want) in cases {
            let shown = format!("{headers:?}");
            assert_eq!(DropReason::of(&with_headers(headers)), want, "{shown}");
        }
        assert_eq!(
            DropReason::of(&BasicProperties::default()),
            DropReason::Other
        );
    }

    #[test]
    fn codes_and_indexes_agree() {
        for (i, reason) in DropReason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), i);
            assert_eq!(DropReason::from_code(reason.code()), reason);
        }
    }

    #[test]
    fn dead_letter_queue_is_bounded() {
        let args = queue_arguments(Duration::from_secs(60));
        let get = |k: &str| args.inner().get(&ShortString::from(k)).cloned();
        assert_eq!(get("x-message-ttl"), Some(AMQPValue::LongLongInt(60_000)));
        assert_eq!(get("x-expires"), Some(AMQPValue::LongLongInt(120_000)));
        assert_eq!(get("x-max-length"), Some(AMQPValue::LongLongInt(10_000)));
        assert_eq!(
            get("x-max-length-bytes"),
            Some(AMQPValue::LongLongInt(16 << 20))
        );
        assert_eq!(
            get("x-overflow"),
            Some(AMQPValue::LongString("drop-head".into()))
        );
        let mut main = FieldTable::default();
        add_dead_lettering(&mut main, "stalk");
        assert_eq!(
            main.inner()
                .get(&ShortString::from("x-dead-letter-routing-key")),
            Some(&AMQPValue::LongString("stalk.dead".into()))
        );
    }
}
