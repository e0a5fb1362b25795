//! Batched acks for one AMQP channel: one `multiple` ack covers many deliveries, which costs the
//! consumer far less than an ack per message at high rates.
//!
//! A batch is sent when it is full, or [`IDLE_ACK`] after the delivery that started it, so a quiet
//! queue never holds messages unacked for long. The batch is at most half the prefetch: with a
//! full batch the broker still has room to push the next deliveries while the ack travels (a batch
//! as large as the prefetch would stall the broker until the idle timer fires).

use std::time::Duration;

use lapin::Channel;
use lapin::options::BasicAckOptions;
use tokio::time::{Instant, sleep_until};

/// Most deliveries covered by one ack.
pub const MAX_BATCH: u64 = 100;

/// How long after the first unacked delivery the batch is acked anyway.
pub const IDLE_ACK: Duration = Duration::from_millis(50);

/// The ack state of one channel's consumer.
#[derive(Debug)]
pub struct BatchAcks {
    channel: Channel,
    batch: u64,
    unacked: u64,
    last_tag: u64,
    deadline: Option<Instant>,
}

impl BatchAcks {
    /// Acks on `channel`, whose consumer has this prefetch.
    pub fn new(channel: Channel, prefetch: u16) -> BatchAcks {
        BatchAcks {
            channel,
            batch: batch_size(prefetch),
            unacked: 0,
            last_tag: 0,
            deadline: None,
        }
    }

    /// Records a handled delivery; acks the batch when it is full.
    pub async fn handled(&mut self, delivery_tag: u64) -> lapin::Result<()> {
        self.last_tag = delivery_tag;
        self.unacked += 1;
        if self.unacked >= self.batch {
            return self.flush().await;
        }
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + IDLE_ACK);
        }
        Ok(())
    }

    /// Acks everything handled so far (nothing to do when nothing is pending).
    pub async fn flush(&mut self) -> lapin::Result<()> {
        if self.unacked > 0 {
            let multiple = BasicAckOptions { multiple: true };
            self.channel.basic_ack(self.last_tag, multiple).await?;
        }
        self.unacked = 0;
        self.deadline = None;
        Ok(())
    }

    /// Completes when the pending batch is due ([`IDLE_ACK`] after it started); never, when
    /// nothing is pending. Meant for a `select!` branch followed by [`BatchAcks::flush`].
    pub async fn due(&self) {
        match self.deadline {
            Some(deadline) => sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    }
}

/// Deliveries per ack: half the prefetch, at least 1, at most [`MAX_BATCH`] (also for a prefetch
/// of 0, which AMQP reads as unlimited).
fn batch_size(prefetch: u16) -> u64 {
    match prefetch {
        0 => MAX_BATCH,
        n => (u64::from(n) / 2).clamp(1, MAX_BATCH),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_leave_room_in_the_prefetch() {
        for (prefetch, batch) in [(0, 100), (1, 1), (2, 1), (20, 10), (200, 100), (1000, 100)] {
            assert_eq!(batch_size(prefetch), batch, "prefetch {prefetch}");
        }
    }
}
