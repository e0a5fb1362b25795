//! Integration tests: a real relay (router + lapin consumer) against the real RabbitMQ on
//! 127.0.0.1:5672, with real WebSocket clients. One test binary; helpers in `helpers`.

#![allow(
    unreachable_pub,
    reason = "test helpers are shared between modules of one binary"
)]
#![allow(missing_docs, reason = "test code")]
mod broker;
mod celery;
mod drops;
mod faults;
mod helpers;
mod leftovers;
mod recorder;
mod replay;
mod security;
mod slow;
mod tls;
mod ws_client;
