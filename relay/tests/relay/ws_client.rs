//! A WebSocket client of the relay for tests: frames as JSON values, events checked for
//! contiguous `seq`s, every wait bounded by [`WAIT`].

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::WAIT;

#[derive(Debug)]
pub enum WsError {
    Status(u16),
    Other(
        #[allow(dead_code, reason = "shown through Debug")] tokio_tungstenite::tungstenite::Error,
    ),
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

pub struct WsClient {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    /// Last seq seen (events or gap), to check contiguity.
    last_seq: Option<u64>,
}

impl WsClient {
    /// A client over an open WebSocket.
    pub fn new(
        ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    ) -> WsClient {
        WsClient { ws, last_seq: None }
    }

    /// The next frame of any kind.
    pub async fn frame(&mut self) -> Result<Value> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .context("no frame in time")?;
            match msg.context("socket closed")?? {
                Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
                Message::Close(c) => bail!("closed: {c:?}"),
                _ => {}
            }
        }
    }

    /// The next frame that is not `status`.
    pub async fn data_frame(&mut self) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "only status frames for {WAIT:?}"
            );
            let f = self.frame().await?;
            if f["kind"] != "status" {
                return Ok(f);
            }
        }
    }

    /// Reads event entries until `n` are collected, checking `seq` is contiguous; `gap` frames fail.
    pub async fn events(&mut self, n: usize) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        while out.len() < n {
            let f = self.data_frame().await?;
            match f["kind"].as_str() {
                Some("events") => {
                    for e in f["events"].as_array().context("events")? {
                        let seq = e["seq"].as_u64().context("seq")?;
                        if let Some(last) = self.last_seq {
                            anyhow::ensure!(seq == last + 1, "seq {seq} after {last}");
                        }
                        self.last_seq = Some(seq);
                        out.push(e.clone());
                    }
                }
                _ => bail!("unexpected frame {f}"),
            }
        }
        anyhow::ensure!(out.len() == n, "got {} events, wanted {n}", out.len());
        Ok(out)
    }

    /// The entries of the next `events` frame (gaps fail), checking contiguity.
    pub async fn next_events(&mut self) -> Result<Vec<Value>> {
        let first = self.last_seq.map_or(1, |s| s + 1) as usize;
        let f = self.data_frame().await?;
        anyhow::ensure!(f["kind"] == "events", "unexpected frame {f}");
        let n = f["events"].as_array().context("events")?.len();
        let _ = first;
        let mut out = Vec::new();
        for e in f["events"].as_array().context("events")? {
            let seq = e["seq"].as_u64().context("seq")?;
            if let Some(last) = self.last_seq {
                anyhow::ensure!(seq == last + 1, "seq {seq} after {last}");
            }
            self.last_seq = Some(seq);
            out.push(e.clone());
        }
        anyhow::ensure!(out.len() == n);
        Ok(out)
    }

    /// Reads `status` frames until one shows a broker state that `wanted` accepts; returns it.
    /// Any other frame fails.
    pub async fn wait_status(&mut self, wanted: impl Fn(&str) -> bool) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "no such status in {WAIT:?}"
            );
            let f = self.frame().await?;
            anyhow::ensure!(f["kind"] == "status", "unexpected frame {f}");
            if wanted(f["broker"]["state"].as_str().unwrap_or("")) {
                return Ok(f);
            }
        }
    }

    /// The next message as it comes: `Ok(None)` when the connection ended (closed or reset).
    pub async fn raw_frame(&mut self) -> Result<Option<Value>> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .context("no frame in time")?;
            match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(t))) => return Ok(Some(serde_json::from_str(t.as_str())?)),
                Some(Ok(_)) => {}
            }
        }
    }

    pub fn set_last_seq(&mut self, seq: u64) {
        self.last_seq = Some(seq);
    }

    pub async fn close(mut self) -> Result<()> {
        self.ws.send(Message::Close(None)).await?;
        Ok(())
    }
}
