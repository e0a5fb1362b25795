//! The load generator: synthetic but realistic Celery event messages, published at a chosen rate.
//!
//! Message shapes copy the real recordings in `relay/tests/fixtures/*.raw.ndjson`: single
//! `task.sent` objects from a client, `task.multi` JSON arrays of 1-8 task events from prefork
//! workers (received, started, succeeded, sometimes failed with a traceback), and single
//! `worker.heartbeat` objects. Every event carries two extra fields, `bench_id` (unique within a
//! run, from 0) and `bench_pub` (unix seconds when its message was published; also its
//! `timestamp`), so a client can count loss and publish-to-client latency.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::Serialize;
use tokio::time::MissedTickBehavior;

/// Unix time in seconds.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

const NAMES: [&str; 4] = [
    "example_app.tasks.visit",
    "example_app.tasks.add",
    "example_app.tasks.sleepy",
    "example_app.tasks.boom",
];

const ARGS: [&str; 4] = [
    "('http://127.0.0.1:40769/page1.html',)",
    "(2, 2)",
    "(10,)",
    "('kaboom from boom',)",
];

const TRACEBACK: &str = "Traceback (most recent call last):\\n  File \\\"/venv/lib/python3.11/site-packages/celery/app/trace.py\\\", line 453, in trace_task\\n    R = retval = fun(*args, **kwargs)\\n  File \\\"/venv/lib/python3.11/site-packages/celery/app/trace.py\\\", line 736, in __protected_call__\\n    return self.run(*args, **kwargs)\\n  File \\\"/app/example_app/tasks.py\\\", line 61, in boom\\n    raise ValueError(message)\\nValueError: kaboom from boom\\n";

struct Worker {
    hostname: String,
    pid: u32,
    clock: u64,
    processed: u64,
}

/// One message ready to publish.
pub(crate) struct Message {
    /// `task.sent`, `task.multi` or `worker.heartbeat`.
    pub(crate) routing_key: &'static str,
    /// The JSON body.
    pub(crate) body: String,
    /// Events in the body.
    pub(crate) events: u64,
    /// The `hostname` header Celery sets.
    pub(crate) hostname: String,
}

/// Builds the messages of one run; ids are contiguous from 0.
pub(crate) struct Synth {
    rng: fastrand::Rng,
    client: Worker,
    workers: Vec<Worker>,
    next_id: u64,
}

impl Synth {
    /// A generator with `workers` prefork workers and one client sending tasks.
    pub(crate) fn new(seed: u64, workers: usize) -> Synth {
        let mut rng = fastrand::Rng::with_seed(seed);
        let workers = (0..workers.max(1))
            .map(|i| Worker {
                hostname: format!("prefork{}@bench", i + 1),
                pid: 20_000 + rng.u32(0..10_000),
                clock: 1,
                processed: 0,
            })
            .collect();
        Synth {
            client: Worker {
                hostname: "gen17459@bench".into(),
                pid: 17459,
                clock: 1,
                processed: 0,
            },
            workers,
            rng,
            next_id: 0,
        }
    }

    /// Events generated so far (= the next `bench_id`).
    pub(crate) fn events(&self) -> u64 {
        self.next_id
    }

    fn uuid(&mut self) -> String {
        let a = self.rng.u128(..);
        let h = format!("{a:032x}");
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    /// The next message, stamped with publish time `now`. Mix (by message): 30% `task.sent`,
    /// 2% `worker.heartbeat`, 68% `task.multi` with 1-8 events (4.5 on average), so ~3.4 events per
    /// message and ~500 bytes per event, as in the recordings.
    pub(crate) fn next_message(&mut self, now: f64) -> Message {
        let roll = self.rng.u32(0..100);
        if roll < 30 {
            let id = self.next_id;
            self.next_id += 1;
            let uuid = self.uuid();
            let k = self.rng.usize(0..NAMES.len());
            let c = &mut self.client;
            c.clock += 1;
            let body = format!(
                r#"{{"hostname": "{h}", "utcoffset": 0.0, "pid": {pid}, "clock": {clock}, "uuid": "{uuid}", "root_id": "{uuid}", "parent_id": null, "name": "{name}", "args": "{args}", "kwargs": "{{}}", "retries": 0, "eta": null, "expires": null, "queue": "celery", "exchange": "", "routing_key": "celery", "timestamp": {now:.6}, "type": "task-sent", "bench_id": {id}, "bench_pub": {now:.6}}}"#,
                h = c.hostname,
                pid = c.pid,
                clock = c.clock,
                name = NAMES[k],
                args = ARGS[k],
            );
            return Message {
                routing_key: "task.sent",
                body,
                events: 1,
                hostname: c.hostname.clone(),
            };
        }
        let w = self.rng.usize(0..self.workers.len());
        if roll < 32 {
            let id = self.next_id;
            self.next_id += 1;
            let active = self.rng.u32(0..9);
            let wk = &mut self.workers[w];
            wk.clock += 1;
            let body = format!(
                r#"{{"hostname": "{h}", "utcoffset": 0.0, "pid": {pid}, "clock": {clock}, "freq": 2.0, "active": {active}, "processed": {processed}, "loadavg": [1.24, 0.93, 0.39], "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux", "timestamp": {now:.6}, "type": "worker-heartbeat", "bench_id": {id}, "bench_pub": {now:.6}}}"#,
                h = wk.hostname,
                pid = wk.pid,
                clock = wk.clock,
                processed = wk.processed,
            );
            return Message {
                routing_key: "worker.heartbeat",
                body,
                events: 1,
                hostname: wk.hostname.clone(),
            };
        }
        let n = self.rng.u64(1..=8);
        let mut body = String::with_capacity(600 * n as usize);
        body.push('[');
        for i in 0..n {
            if i > 0 {
                body.push_str(", ");
            }
            let id = self.next_id;
            self.next_id += 1;
            let uuid = self.uuid();
            let k = self.rng.usize(0..NAMES.len());
            let kind = self.rng.u32(0..100);
            let runtime = self.rng.f64() * 0.5;
            let wk = &mut self.workers[w];
            wk.clock += 1;
            let (h, pid, clock) = (&wk.hostname, wk.pid, wk.clock);
            let event = if kind < 35 {
                format!(
                    r#"{{"hostname": "{h}", "utcoffset": 0.0, "pid": {pid}, "clock": {clock}, "uuid": "{uuid}", "name": "{name}", "args": "{args}", "kwargs": "{{}}", "root_id": "{uuid}", "parent_id": null, "retries": 0, "eta": null, "expires": null, "timestamp": {now:.6}, "type": "task-received", "bench_id": {id}, "bench_pub": {now:.6}}}"#,
                    name = NAMES[k],
                    args = ARGS[k],
                )
            } else if kind < 65 {
                format!(
                    r#"{{"hostname": "{h}", "utcoffset": 0.0, "pid": {pid}, "clock": {clock}, "uuid": "{uuid}", "timestamp": {now:.6}, "type": "task-started", "bench_id": {id}, "bench_pub": {now:.6}}}"#
                )
            } else if kind < 95 {
                wk.processed += 1;
                format!(
                    r#"{{"hostname": "{h}", "utcoffset": 0.0, "pid": {pid}, "clock": {clock}, "uuid": "{uuid}", "result": "'<Response [200]>: 5120 bytes'", "runtime": {runtime:.6}, "timestamp": {now:.6}, "type": "task-succeeded", "bench_id": {id}, "bench_pub": {now:.6}}}"#
                )
            } else {
                wk.processed += 1;
                format!(
                    r#"{{"hostname": "{h}", "utcoffset": 0.0, "pid": {pid}, "clock": {clock}, "uuid": "{uuid}", "exception": "ValueError('kaboom from boom')", "traceback": "{TRACEBACK}", "timestamp": {now:.6}, "type": "task-failed", "bench_id": {id}, "bench_pub": {now:.6}}}"#
                )
            };
            body.push_str(&event);
        }
        body.push(']');
        Message {
            routing_key: "task.multi",
            body,
            events: n,
            hostname: self.workers[w].hostname.clone(),
        }
    }
}

/// What a generator run published.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Published {
    /// Messages published (and confirmed by the broker).
    pub(crate) messages: u64,
    /// Events in them (`bench_id` 0..events).
    pub(crate) events: u64,
    /// Events whose type starts with `task-` (the rest are heartbeats).
    pub(crate) task_events: u64,
    /// Body bytes.
    pub(crate) bytes: u64,
    /// Seconds from the first publish to the last confirm.
    pub(crate) seconds: f64,
    /// `events / seconds`.
    pub(crate) events_per_s: f64,
}

/// A publisher on its own connection, with the exchange declared as Celery does.
pub(crate) struct Publisher {
    conn: Connection,
    channel: Channel,
    exchange: String,
}

impl Publisher {
    /// Connects, declares the topic exchange (durable, as Celery) and enables publisher confirms
    /// (so that "published" means "the broker has it").
    pub(crate) async fn connect(broker: &str, exchange: &str) -> Result<Publisher> {
        let conn = Connection::connect(broker, ConnectionProperties::default())
            .await
            .context("publisher connection (is RabbitMQ running on 127.0.0.1:5672?)")?;
        let channel = conn.create_channel().await?;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Publisher {
            conn,
            channel,
            exchange: exchange.to_owned(),
        })
    }

    async fn publish(&self, m: &Message) -> Result<()> {
        let mut headers = FieldTable::default();
        headers.insert(
            "hostname".into(),
            AMQPValue::LongString(m.hostname.as_str().into()),
        );
        let props = BasicProperties::default()
            .with_content_type(ShortString::from("application/json"))
            .with_content_encoding("utf-8".into())
            .with_delivery_mode(1)
            .with_headers(headers);
        // The confirm is awaited in bulk at the end (`wait_for_confirms`).
        let _confirm = self
            .channel
            .basic_publish(
                self.exchange.as_str().into(),
                m.routing_key.into(),
                BasicPublishOptions::default(),
                m.body.as_bytes(),
                props,
            )
            .await?;
        Ok(())
    }

    /// Publishes `rate` events per second for `duration` (paced every 2 ms), then waits for every
    /// confirm.
    pub(crate) async fn run(
        &self,
        synth: &mut Synth,
        rate: f64,
        duration: Duration,
    ) -> Result<Published> {
        let mut out = Published::default();
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(2));
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let elapsed = start.elapsed();
            if elapsed >= duration {
                break;
            }
            let due = (rate * elapsed.as_secs_f64()) as u64;
            while synth.events() < due {
                let m = synth.next_message(unix_now());
                self.publish(&m).await?;
                out.messages += 1;
                out.events += m.events;
                if m.routing_key != "worker.heartbeat" {
                    out.task_events += m.events;
                }
                out.bytes += m.body.len() as u64;
            }
        }
        self.channel
            .wait_for_confirms()
            .await
            .context("publisher confirms")?;
        out.seconds = start.elapsed().as_secs_f64();
        out.events_per_s = out.events as f64 / out.seconds;
        Ok(out)
    }

    /// Deletes the run's exchange and closes the connection.
    pub(crate) async fn finish(self) -> Result<()> {
        self.channel
            .exchange_delete(self.exchange.as_str().into(), Default::default())
            .await?;
        self.conn.close(200, "bye".into()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_valid_json_with_contiguous_ids() {
        let mut s = Synth::new(7, 4);
        let mut ids = Vec::new();
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let m = s.next_message(1_795_503_313.5);
            let v: serde_json::Value = serde_json::from_str(&m.body).expect(&m.body);
            let events = match v {
                serde_json::Value::Array(items) => {
                    assert_eq!(m.routing_key, "task.multi");
                    assert!((1..=8).contains(&items.len()));
                    items
                }
                one => vec![one],
            };
            assert_eq!(events.len() as u64, m.events);
            for e in events {
                ids.push(e["bench_id"].as_u64().unwrap());
                assert_eq!(e["bench_pub"].as_f64(), Some(1_795_503_313.5));
                kinds.insert(e["type"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(ids, (0..ids.len() as u64).collect::<Vec<_>>());
        assert_eq!(kinds.len(), 6, "{kinds:?}");
    }
}
