//! The HTTP side: one axum [`Router`] with `/ws`, `/healthz`, `/metrics` and the static web app.
//!
//! [`app`] is shared by `main` and the tests; [`run`] serves it on a bound listener until the
//! shutdown future completes, then closes every WebSocket with code 1001 (going away).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::services::ServeDir;

use crate::client::Batch;
use crate::hub::SharedHub;
use crate::protocol::BrokerState;
use crate::session;

/// Default interval between `status` frames.
pub const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// Default time a client may take to accept one frame before it is disconnected.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Default cap on simultaneous WebSocket clients (each costs a task and a cursor, no queue).
pub const DEFAULT_MAX_CLIENTS: usize = 1000;

/// How the server treats clients.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// When set, `/ws` and `/metrics` require it (`?token=` or `Authorization: Bearer`).
    pub token: Option<String>,
    /// Origins allowed besides same-origin and localhost (exact `scheme://host[:port]`, or `*`).
    pub allowed_origins: Vec<String>,
    /// Frame batching.
    pub batch: Batch,
    /// Interval between `status` frames.
    pub status_interval: Duration,
    /// A frame not written within this time closes the client (it stopped reading).
    pub send_timeout: Duration,
    /// Connections beyond this many are refused with 503.
    pub max_clients: usize,
    /// Directory of the static web app, served for every other path.
    pub web_dir: Option<PathBuf>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            token: None,
            allowed_origins: Vec::new(),
            batch: Batch::default(),
            status_interval: DEFAULT_STATUS_INTERVAL,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            max_clients: DEFAULT_MAX_CLIENTS,
            web_dir: None,
        }
    }
}

/// What every handler sees.
#[derive(Clone, Debug)]
pub struct AppState {
    /// History, metrics and broker state.
    pub hub: SharedHub,
    /// Client policy.
    pub options: Arc<ServerOptions>,
    /// Becomes `true` when the relay shuts down; sessions then close.
    pub closing: watch::Receiver<bool>,
}

/// The relay's router.
pub fn app(state: AppState) -> Router {
    let web_dir = state.options.web_dir.clone();
    let router = Router::new()
        .route("/ws", get(ws_handler))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics));
    let router = match web_dir {
        Some(dir) => router.fallback_service(ServeDir::new(dir)),
        None => router,
    };
    router.with_state(state)
}

/// Serves the relay on `listener` until `shutdown` completes, then tells sessions to close.
pub async fn run(
    listener: TcpListener,
    hub: SharedHub,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (close_tx, closing) = watch::channel(false);
    let state = AppState {
        hub,
        options: Arc::new(options),
        closing,
    };
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            close_tx.send_replace(true);
        })
        .await
}

#[derive(Debug, Deserialize)]
struct WsQuery {
    since: Option<u64>,
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn ws_handler(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = authorize(&state, query.token.as_deref(), &headers) {
        return refusal;
    }
    if !origin_allowed(&headers, &state.options.allowed_origins) {
        state.hub.metrics.refused.fetch_add(1, Relaxed);
        tracing::info!(origin = ?headers.get(header::ORIGIN), "refused WebSocket from a foreign Origin");
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    if state.hub.metrics.clients.load(Relaxed) >= state.options.max_clients as i64 {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many clients\n").into_response();
    }
    let since = query.since;
    ws.on_upgrade(move |socket| session::serve(socket, state, since))
}

async fn healthz(State(state): State<AppState>) -> Response {
    let broker = state.hub.broker();
    let status = state.hub.status();
    let up = broker.state == BrokerState::Connected;
    let mut body = serde_json::json!({
        "status": if up { "ok" } else { "unavailable" },
        "broker": broker,
        "newest_seq": status.newest_seq,
        "clients": status.clients,
    });
    if let Some(error) = state.hub.broker_error().filter(|_| !up) {
        body["broker_error"] = error.into();
    }
    let code = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn metrics(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = authorize(&state, query.token.as_deref(), &headers) {
        return refusal;
    }
    let text = state.hub.render_metrics();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Checks the token (query or bearer header) when one is configured.
#[allow(clippy::result_large_err, reason = "the error is the response itself")]
fn authorize(state: &AppState, query: Option<&str>, headers: &HeaderMap) -> Result<(), Response> {
    let Some(expected) = state.options.token.as_deref() else {
        return Ok(());
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let given = query.or(bearer);
    if given.is_some_and(|t| constant_time_eq(t.as_bytes(), expected.as_bytes())) {
        return Ok(());
    }
    state.hub.metrics.refused.fetch_add(1, Relaxed);
    let mut response = (StatusCode::UNAUTHORIZED, "missing or wrong token\n").into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
    Err(response)
}

/// Compares without an early exit, so the time taken does not reveal a matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// No `Origin` (not a browser), same origin as the `Host` header, a localhost origin, or one of
/// the allowed origins (`*` allows any).
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some((_scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let host_header = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if host_header.is_some_and(|h| h.eq_ignore_ascii_case(authority)) {
        return true;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    matches!(
        host.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "::1"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn origin_rules() {
        let extra = vec!["https://stalk.example.com".to_owned()];
        let cases = [
            (None, "relay:8080", true),
            (Some("http://relay:8080"), "relay:8080", true),
            (Some("http://localhost:3000"), "relay:8080", true),
            (Some("http://127.0.0.1:9"), "relay:8080", true),
            (Some("http://[::1]:9"), "relay:8080", true),
            (Some("https://stalk.example.com"), "relay:8080", true),
            (Some("https://evil.example"), "relay:8080", false),
            (Some("http://localhost.evil.example"), "relay:8080", false),
            (Some("http://relay:8081"), "relay:8080", false),
            (Some("null"), "relay:8080", false),
        ];
        for (origin, host, want) in cases {
            assert_eq!(
                origin_allowed(&headers(origin, host), &extra),
                want,
                "{origin:?}"
            );
        }
        assert!(origin_allowed(
            &headers(Some("https://evil.example"), "h"),
            &["*".to_owned()]
        ));
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
