//! One WebSocket client: `hello`, then history after `since`, then live events, `gap` when it fell
//! behind history, and `status` about once a second and on every broker state change.
//!
//! A send task and a receive task under one `select!`: the receive side only watches for the
//! client closing (v1 clients send nothing). The send loop is generic over the sink so it can be
//! tested without sockets.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{Sink, SinkExt, StreamExt};
use tokio::time::{MissedTickBehavior, interval, sleep_until, timeout};
use tracing::Instrument;

use crate::client::Cursor;
use crate::hub::unix_now;
use crate::protocol::{PROTOCOL_VERSION, RELAY_NAME, ServerFrame};
use crate::server::AppState;

/// Close code sent when the relay shuts down (RFC 6455 "going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// Keeps the `stalk_clients` gauge right however the session ends.
struct ClientGuard<'a>(&'a AppState);

impl Drop for ClientGuard<'_> {
    fn drop(&mut self) {
        self.0.hub.metrics.clients.fetch_sub(1, Relaxed);
    }
}

/// Runs one upgraded connection to its end.
pub async fn serve(socket: WebSocket, state: AppState, since: Option<u64>) {
    state.hub.metrics.clients.fetch_add(1, Relaxed);
    state.hub.metrics.clients_total.fetch_add(1, Relaxed);
    let _guard = ClientGuard(&state);
    let span = tracing::info_span!("client", since);
    run(sink_stream(socket), &state, since)
        .instrument(span)
        .await;
}

fn sink_stream(
    socket: WebSocket,
) -> (
    impl Sink<Message> + Unpin,
    impl futures_util::Stream<Item = Result<Message, axum::Error>> + Unpin,
) {
    socket.split()
}

async fn run<S, R>((sink, mut stream): (S, R), state: &AppState, since: Option<u64>)
where
    S: Sink<Message> + Unpin,
    R: futures_util::Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    tracing::debug!("client connected");
    let receive = async {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    };
    tokio::select! {
        end = send_loop(sink, state, since) => tracing::debug!(?end, "send loop ended"),
        () = receive => tracing::debug!("client closed"),
    }
}

/// Why a send loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The relay is shutting down; a close frame was sent.
    Shutdown,
    /// The client did not accept a frame within the send timeout.
    TooSlow,
    /// The socket failed.
    SocketError,
}

/// Sends frames to one client until shutdown or a socket failure.
pub async fn send_loop<S>(mut sink: S, state: &AppState, since: Option<u64>) -> End
where
    S: Sink<Message> + Unpin,
{
    let hub = &state.hub;
    let opts = &state.options;
    let mut newest_rx = hub.subscribe();
    let mut broker_rx = hub.broker_watch();
    let mut closing = state.closing.clone();
    // The cursor and the hello are taken under one lock so hello's bounds match what follows.
    let (hello, mut cursor) = {
        let history = hub.history();
        let hello = ServerFrame::Hello {
            protocol: PROTOCOL_VERSION,
            relay: RELAY_NAME.to_owned(),
            instance: hub.instance().to_owned(),
            oldest_seq: history.oldest_seq(),
            newest_seq: history.newest_seq(),
            now: unix_now(),
            broker: hub.broker(),
        };
        (hello, Cursor::new(since, history.newest_seq()))
    };
    macro_rules! send {
        ($frame:expr) => {
            match timeout(
                opts.send_timeout,
                sink.send(Message::Text($frame.to_json().into())),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return End::SocketError,
                Err(_) => {
                    hub.metrics.slow_closes.fetch_add(1, Relaxed);
                    tracing::info!("closing a client that stopped reading");
                    return End::TooSlow;
                }
            }
        };
    }
    send!(hello);
    let mut status = interval(opts.status_interval);
    status.set_missed_tick_behavior(MissedTickBehavior::Delay);
    status.tick().await;
    loop {
        if *closing.borrow() {
            let close = CloseFrame {
                code: CLOSE_GOING_AWAY,
                reason: "relay shutting down".into(),
            };
            let _ = timeout(opts.send_timeout, sink.send(Message::Close(Some(close)))).await;
            return End::Shutdown;
        }
        let newest = *newest_rx.borrow_and_update();
        if cursor.behind(newest) {
            let at = cursor.next_flush(newest, &opts.batch, Instant::now());
            if at > Instant::now() {
                tokio::select! {
                    () = sleep_until(at.into()) => {}
                    _ = closing.changed() => continue,
                }
            }
            let frames = cursor.pull(&hub.history(), &opts.batch, Instant::now());
            for frame in frames {
                match &frame {
                    ServerFrame::Gap { from, to } => {
                        hub.metrics.gap_events.fetch_add(to - from + 1, Relaxed);
                    }
                    _ => {
                        hub.metrics.frames.fetch_add(1, Relaxed);
                    }
                }
                send!(frame);
            }
            continue;
        }
        tokio::select! {
            _ = newest_rx.changed() => {}
            _ = closing.changed() => {}
            _ = broker_rx.changed() => send!(ServerFrame::Status(hub.status())),
            _ = status.tick() => send!(ServerFrame::Status(hub.status())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Limits;
    use crate::hub::Hub;
    use crate::protocol::BrokerState;
    use crate::server::ServerOptions;
    use futures_channel::mpsc;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::sync::watch;

    fn state() -> (AppState, watch::Sender<bool>) {
        let hub = Arc::new(Hub::new(
            Limits {
                max_events: 5,
                max_bytes: 1 << 20,
            },
            1 << 20,
            "u".into(),
        ));
        let (tx, closing) = watch::channel(false);
        let options = ServerOptions {
            status_interval: Duration::from_secs(3600),
            ..Default::default()
        };
        (
            AppState {
                hub,
                options: Arc::new(options),
                closing,
            },
            tx,
        )
    }

    async fn next(rx: &mut mpsc::Receiver<Message>) -> serde_json::Value {
        match rx.next().await.expect("a frame") {
            Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn hello_history_live_status_and_close() {
        let (state, close) = state();
        for i in 0..7 {
            state
                .hub
                .ingest(format!(r#"{{"type":"t","i":{i}}}"#).as_bytes(), None, 1.0);
        }
        let (tx, mut rx) = mpsc::channel(4);
        let task = tokio::spawn({
            let state = state.clone();
            async move { send_loop(tx, &state, Some(1)).await }
        });
        let hello = next(&mut rx).await;
        assert_eq!(
            (hello["kind"].as_str(), hello["oldest_seq"].as_u64()),
            (Some("hello"), Some(3))
        );
        assert_eq!(
            next(&mut rx).await,
            serde_json::json!({"kind": "gap", "from": 2, "to": 2})
        );
        let events = next(&mut rx).await;
        let seqs: Vec<u64> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [3, 4, 5, 6, 7]);
        assert_eq!(
            events["events"][0]["event"],
            serde_json::json!({"type": "t", "i": 2})
        );
        state.hub.ingest(br#"[{"type":"t","i":7}]"#, None, 2.0);
        let live = next(&mut rx).await;
        assert_eq!(live["events"][0]["seq"], 8);
        state.hub.set_broker_state(BrokerState::Connected);
        let status = next(&mut rx).await;
        assert_eq!(
            (status["kind"].as_str(), status["broker"]["state"].as_str()),
            (Some("status"), Some("connected"))
        );
        close.send_replace(true);
        assert!(
            matches!(rx.next().await, Some(Message::Close(Some(f))) if f.code == CLOSE_GOING_AWAY)
        );
        assert_eq!(task.await.unwrap(), End::Shutdown);
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_closed_and_never_blocks_ingest() {
        let (mut state, _close) = state();
        Arc::get_mut(&mut state.options).unwrap().send_timeout = Duration::from_millis(50);
        let (tx, _rx) = mpsc::channel(0); // nobody reads: the sink fills at once
        let task = tokio::spawn({
            let state = state.clone();
            async move { send_loop(tx, &state, None).await }
        });
        for i in 0..1000 {
            state
                .hub
                .ingest(format!(r#"{{"type":"t","i":{i}}}"#).as_bytes(), None, 1.0);
        }
        assert_eq!(task.await.unwrap(), End::TooSlow);
        assert_eq!(state.hub.metrics.slow_closes.load(Relaxed), 1);
        assert_eq!(state.hub.history().len(), 5);
    }
}
