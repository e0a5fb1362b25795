//! `stalk-relay`: streams Celery events from RabbitMQ (or a recording) to browsers over WebSocket.
//!
//! Data flow: a source ([`consumer`] or [`replay`]) hands message bodies to the [`hub::Hub`], which
//! decodes them ([`decode`]) and appends the events to a bounded [`history::History`]. Each WebSocket
//! client ([`server`]) keeps only a [`client::Cursor`] into that history and pulls batches of events
//! at its own pace, so no client can slow the consumer or another client, and memory is bounded by
//! the history bounds. The wire format is in [`protocol`] (documented in `docs/protocol.md`).

pub mod acks;
pub mod broker_url;
pub mod client;
pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod decode;
pub mod history;
pub mod hub;
pub mod metrics;
pub mod printer;
pub mod protocol;
pub mod replay;
pub mod server;
pub mod session;
pub mod tls;
