//! What a test created on the broker (exchanges, relay queues and their dead-letter queues), and
//! deleting it: at cleanup, or from `TestApp`'s destructor when the test failed before, so the
//! shared broker is left as it was found.

use anyhow::{Context, Result};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use stalk_relay::dead_letter;

use crate::helpers::connect_broker;

/// Broker objects a test created and must delete.
#[derive(Default)]
pub struct Leftovers {
    pub exchanges: Vec<String>,
    pub queues: Vec<String>,
}

impl Leftovers {
    /// A relay queue and its dead-letter queue.
    pub fn add_queue(&mut self, queue: &str) {
        self.queues.push(queue.to_owned());
        self.queues.push(dead_letter::queue_name(queue));
    }

    pub fn is_empty(&self) -> bool {
        self.exchanges.is_empty() && self.queues.is_empty()
    }

    /// Deletes everything over a connection of its own.
    pub async fn delete(self) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let conn = connect_broker()
            .await
            .context("connect to delete the test's exchange and queues")?;
        let channel = conn.create_channel().await?;
        self.delete_with(&channel).await?;
        conn.close(200, "bye".into()).await?;
        Ok(())
    }

    /// Deletes everything on `channel`; missing objects are not an error (RabbitMQ's deletes
    /// succeed on objects that are gone).
    pub async fn delete_with(self, channel: &lapin::Channel) -> Result<()> {
        for queue in &self.queues {
            channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .with_context(|| format!("delete queue {queue}"))?;
        }
        for exchange in &self.exchanges {
            channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await
                .with_context(|| format!("delete exchange {exchange}"))?;
        }
        Ok(())
    }
}
