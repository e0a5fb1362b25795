//! TLS to the broker (`amqps://`): lapin's rustls connector trusts the system's CA store and, with
//! `--broker-ca FILE`, the certificates of a PEM file as well (a private CA, or a self-signed
//! broker certificate's CA). Server names are always checked against the URL's host.

use std::path::{Path, PathBuf};

use lapin::tcp::OwnedTLSConfig;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A `--broker-ca` file the relay cannot use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// The file cannot be read.
    #[error("cannot read the broker CA file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A `CERTIFICATE` block is not valid PEM.
    #[error("broker CA file {path} is not valid PEM: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// The PEM parser's reason.
        reason: String,
    },
    /// No `-----BEGIN CERTIFICATE-----` block at all (lapin would silently trust nothing extra).
    #[error("broker CA file {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Reads a PEM file of CA certificates and checks that it holds at least one readable
/// certificate; returns its text, as lapin takes it.
pub fn read_ca_file(path: &Path) -> Result<String, CaError> {
    let pem = std::fs::read_to_string(path).map_err(|source| CaError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        cert.map_err(|e| CaError::Pem {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(CaError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(pem)
}

/// lapin's TLS settings: the system CA store plus `extra_ca_pem` when given. (Ignored by lapin for
/// `amqp://` URLs.)
pub fn tls_config(extra_ca_pem: Option<&str>) -> OwnedTLSConfig {
    OwnedTLSConfig {
        identity: None,
        cert_chain: extra_ca_pem.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stalk-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn ca_files_are_checked() {
        // A real certificate is checked by the amqps:// integration test; here, the refusals.
        let missing = Path::new("/nonexistent/ca.pem");
        assert!(matches!(read_ca_file(missing), Err(CaError::Read { .. })));
        let empty = file("empty.pem", "just text\n");
        assert!(matches!(read_ca_file(&empty), Err(CaError::Empty { .. })));
        let key_only = file(
            "key.pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        assert!(matches!(
            read_ca_file(&key_only),
            Err(CaError::Empty { .. })
        ));
        let broken = file(
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        );
        let err = read_ca_file(&broken).unwrap_err();
        assert!(matches!(err, CaError::Pem { .. }), "{err}");
        assert!(err.to_string().contains("broken.pem"));
        assert_eq!(tls_config(None).cert_chain, None);
    }
}
