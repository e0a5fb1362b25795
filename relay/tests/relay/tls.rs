//! `amqps://`: the relay reaches the real RabbitMQ through a TLS terminator run by the test (the
//! shared broker is not reconfigured). The terminator's certificate is issued at test time by a CA
//! that only the test knows, so the relay must be given that CA (`--broker-ca`) and must refuse the
//! broker without it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::Value;
use stalk_relay::protocol::BrokerState;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::helpers::{AppOpts, WAIT, spawn_app};

const HAPPY: &str = include_str!("../fixtures/happy.raw.ndjson");

/// A throwaway CA and a `localhost` server certificate it signed.
struct TestPki {
    /// The CA certificate, PEM: what the relay is told to trust.
    ca_pem: String,
    server: ServerConfig,
}

impl TestPki {
    fn new() -> Result<TestPki> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "stalk test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let server_key = KeyPair::generate()?;
        let server_cert =
            CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&server_key, &ca)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let server = ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key)?;
        Ok(TestPki {
            ca_pem: ca.pem(),
            server,
        })
    }
}

/// A TLS terminator in front of the real broker: accepts TLS on a port of its own and forwards
/// the plain bytes to 127.0.0.1:5672. Counts completed handshakes.
struct Terminator {
    port: u16,
    handshakes: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Terminator {
    async fn start(server: ServerConfig) -> Result<Terminator> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let acceptor = TlsAcceptor::from(Arc::new(server));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counter = handshakes.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (acceptor, counter) = (acceptor.clone(), counter.clone());
                tokio::spawn(async move {
                    // A client that refuses our certificate ends here, as it should.
                    let Ok(mut tls) = acceptor.accept(inbound).await else {
                        return;
                    };
                    counter.fetch_add(1, Relaxed);
                    if let Ok(mut broker) = TcpStream::connect("127.0.0.1:5672").await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
                    }
                });
            }
        });
        Ok(Terminator {
            port,
            handshakes,
            task,
        })
    }

    /// The relay's broker URL through this terminator (`localhost`: the certificate's name).
    fn url(&self) -> String {
        format!("amqps://guest:guest@localhost:{}/%2f", self.port)
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_with_a_private_ca_carries_events_to_clients() -> Result<()> {
    let pki = TestPki::new()?;
    // The CA goes through the same file check as `--broker-ca FILE`.
    let ca_file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("stalk-test-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, &pki.ca_pem)?;
    let ca_pem = stalk_relay::tls::read_ca_file(&ca_file).context("the CA file")?;
    let terminator = Terminator::start(pki.server).await?;

    let app = spawn_app(AppOpts {
        broker: terminator.url(),
        broker_ca: Some(ca_pem),
        ..AppOpts::default()
    })
    .await?;
    assert!(terminator.handshakes.load(Relaxed) >= 1, "no TLS handshake");
    let mut client = app.ws("").await?;
    let hello = client.data_frame().await?;
    assert_eq!(hello["broker"]["state"], "connected");
    let shown = format!("amqps://guest@localhost:{}/%2f", terminator.port);
    assert_eq!(hello["broker"]["url"], shown.as_str());

    let published = app.publish_recording(HAPPY).await?;
    let got = client.events(published.len()).await?;
    let bodies: Vec<Value> = got.iter().map(|e| e["event"].clone()).collect();
    assert_eq!(bodies, published);
    std::fs::remove_file(&ca_file)?;
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_refuses_a_broker_certificate_it_cannot_verify() -> Result<()> {
    let pki = TestPki::new()?;
    let terminator = Terminator::start(pki.server).await?;
    // No --broker-ca: the system store does not know the test's CA.
    let app = spawn_app(AppOpts {
        broker: terminator.url(),
        wait_connected: false,
        ..AppOpts::default()
    })
    .await?;
    let mut state = app.hub.broker_watch();
    tokio::time::timeout(WAIT, state.wait_for(|b| b.state == BrokerState::Down)).await??;
    let (code, body) = app.get("/healthz", &[]).await?;
    assert_eq!(code, 503, "{body}");
    let health: Value = serde_json::from_str(&body)?;
    let error = health["broker_error"].as_str().unwrap_or_default();
    assert!(
        error.to_lowercase().contains("certificate"),
        "the error should name the certificate: {error:?}"
    );
    assert_eq!(terminator.handshakes.load(Relaxed), 0);
    assert_eq!(app.metric("stalk_broker_connects_total").await?, 0.0);
    app.cleanup().await
}
