//! An independent recorder: a plain lapin consumer with its own queue bound with `#` to an
//! exchange, sharing no code with the relay. What it saw is the truth the relay is checked against.

use anyhow::{Context, Result};
use futures_util::StreamExt;
use lapin::Connection;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::helpers::{WAIT, connect_broker, unique};

/// One message as the recorder got it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub routing_key: String,
    /// The parsed body: one event object, or an array of them (`task.multi`). A body with what
    /// Python's json writes beyond strict JSON (`NaN`, lone surrogate escapes) is parsed in the
    /// strict form the relay forwards ([`stalk_state::json::strict_json`]).
    pub body: Value,
    /// The body as published.
    pub raw: String,
}

/// Records every message published to an exchange from the moment [`Recorder::start`] returns.
pub struct Recorder {
    messages: watch::Receiver<Vec<Recorded>>,
    conn: Connection,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Declares the recorder's queue (exclusive, so it goes with the connection) and binds it.
    pub async fn start(exchange: &str) -> Result<Recorder> {
        let conn = connect_broker().await.context("recorder connection")?;
        let channel = conn.create_channel().await?;
        let queue = unique("stalk-test-recorder");
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        channel
            .queue_declare(queue.as_str().into(), exclusive, FieldTable::default())
            .await?;
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("bind the recorder (does the exchange exist?)")?;
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "recorder".into(),
                no_ack,
                FieldTable::default(),
            )
            .await?;
        let (tx, messages) = watch::channel(Vec::new());
        let task = tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let raw = String::from_utf8_lossy(&delivery.data).into_owned();
                let body = serde_json::from_str(&stalk_state::json::strict_json(&raw))
                    .unwrap_or(Value::Null);
                let routing_key = delivery.routing_key.as_str().to_owned();
                tx.send_modify(|m| {
                    m.push(Recorded {
                        routing_key,
                        body,
                        raw,
                    })
                });
            }
        });
        Ok(Recorder {
            messages,
            conn,
            task,
        })
    }

    /// Waits until `done` holds for the flattened events seen so far.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Result<()> {
        let mut rx = self.messages.clone();
        tokio::time::timeout(WAIT * 2, rx.wait_for(|m| done(&flatten(m))))
            .await
            .with_context(|| format!("the recorder never saw {what}"))??;
        Ok(())
    }

    /// Every message so far.
    pub fn messages(&self) -> Vec<Recorded> {
        self.messages.borrow().clone()
    }

    /// Every event so far, batches flattened in order.
    pub fn events(&self) -> Vec<Value> {
        flatten(&self.messages.borrow())
    }

    pub async fn stop(self) -> Result<()> {
        self.task.abort();
        self.conn.close(200, "bye".into()).await?;
        Ok(())
    }
}

/// Events in message order, arrays (`task.multi`) flattened in array order.
pub fn flatten(messages: &[Recorded]) -> Vec<Value> {
    let mut out = Vec::new();
    for m in messages {
        match &m.body {
            Value::Array(items) => out.extend(items.iter().cloned()),
            one => out.push(one.clone()),
        }
    }
    out
}
