//! Broker URLs: `amqp://`, `amqps://` and Celery/kombu-style ones (`pyamqp://guest@localhost//`),
//! normalised for lapin, plus a redacted form (no password) for logs, `/healthz` and `hello`.

use std::fmt;
use std::str::FromStr;

use lapin::uri::AMQPUri;

/// Error for a URL the relay cannot use. Its text never contains the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The scheme is not one of the AMQP ones.
    #[error("unsupported broker URL scheme `{0}` (use amqp://, amqps:// or pyamqp://)")]
    Scheme(String),
    /// No `scheme://`.
    #[error("broker URL must look like amqp://user:password@host:port/vhost")]
    Shape,
    /// lapin rejected the normalised URL.
    #[error("invalid broker URL {url}: {reason}")]
    Invalid {
        /// The redacted URL.
        url: String,
        /// lapin's reason, with the password masked.
        reason: String,
    },
}

/// A parsed broker URL.
#[derive(Clone)]
pub struct BrokerUrl {
    uri: AMQPUri,
    redacted: String,
    password: String,
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl BrokerUrl {
    /// What lapin connects to.
    pub fn uri(&self) -> &AMQPUri {
        &self.uri
    }

    /// Whether the connection uses TLS (`amqps://`).
    pub fn is_tls(&self) -> bool {
        matches!(self.uri.scheme, lapin::uri::AMQPScheme::AMQPS)
    }

    /// The URL without the password (`amqp://guest@127.0.0.1:5672/%2f`).
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// `text` with every occurrence of the password (raw or percent-encoded) masked, for error
    /// messages that might quote the URL.
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, &self.password)
    }
}

fn scrub(text: &str, password: &str) -> String {
    if password.len() < 3 {
        // Too short to mask without mangling unrelated text; such passwords never reach messages
        // built by the relay, which only ever prints the redacted URL.
        return text.to_owned();
    }
    let decoded = percent_encoding::percent_decode_str(password)
        .decode_utf8_lossy()
        .into_owned();
    text.replace(password, "***").replace(&decoded, "***")
}

impl FromStr for BrokerUrl {
    type Err = UrlError;

    /// kombu rules: a missing user or password is `guest`; the path after the first `/` is the
    /// vhost, percent-decoded, and an empty one (`host/` or `host//`'s `/`) means `/`.
    fn from_str(text: &str) -> Result<BrokerUrl, UrlError> {
        let (scheme, rest) = text.split_once("://").ok_or(UrlError::Shape)?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "amqp" | "pyamqp" | "librabbitmq" => "amqp",
            "amqps" | "pyamqps" => "amqps",
            other => return Err(UrlError::Scheme(other.to_owned())),
        };
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (tail, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (user, pass),
                None => (u, "guest"),
            },
            None => ("guest", "guest"),
        };
        let user = if user.is_empty() { "guest" } else { user };
        let hostport = if hostport.is_empty() {
            "localhost"
        } else {
            hostport
        };
        let vhost = path.strip_prefix('/').unwrap_or(path);
        let vhost = if vhost.is_empty() || vhost == "/" {
            "%2f"
        } else {
            vhost
        };
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        let redacted = format!("{scheme}://{user}@{hostport}/{vhost}{query}");
        let full = format!("{scheme}://{user}:{password}@{hostport}/{vhost}{query}");
        let uri = full
            .parse::<AMQPUri>()
            .map_err(|reason| UrlError::Invalid {
                url: redacted.clone(),
                reason: scrub(&reason, password),
            })?;
        Ok(BrokerUrl {
            uri,
            redacted,
            password: password.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_redacts() {
        // (input, redacted, vhost, user, password, port, tls)
        let cases = [
            (
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                "amqp://guest@127.0.0.1:5672/%2f",
                "/",
                "guest",
                "guest",
                5672,
                false,
            ),
            (
                "pyamqp://guest@localhost//",
                "amqp://guest@localhost/%2f",
                "/",
                "guest",
                "guest",
                5672,
                false,
            ),
            (
                "pyamqp://localhost",
                "amqp://guest@localhost/%2f",
                "/",
                "guest",
                "guest",
                5672,
                false,
            ),
            (
                "amqp://u:s3cr%40t@rabbit:5673/prod",
                "amqp://u@rabbit:5673/prod",
                "prod",
                "u",
                "s3cr@t",
                5673,
                false,
            ),
            (
                "amqps://u:pw@rabbit.example.com/",
                "amqps://u@rabbit.example.com/%2f",
                "/",
                "u",
                "pw",
                5671,
                true,
            ),
            (
                "amqp://u:pw@h/v?heartbeat=10",
                "amqp://u@h/v?heartbeat=10",
                "v",
                "u",
                "pw",
                5672,
                false,
            ),
        ];
        for (input, redacted, vhost, user, pass, port, tls) in cases {
            let url: BrokerUrl = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(url.redacted(), redacted, "{input}");
            assert_eq!(format!("{url} {url:?}"), format!("{redacted} {redacted}"));
            let uri = url.uri();
            assert_eq!(uri.vhost, vhost, "{input}");
            assert_eq!(uri.authority.userinfo.username, user, "{input}");
            assert_eq!(uri.authority.userinfo.password, pass, "{input}");
            assert_eq!(uri.authority.port, port, "{input}");
            assert_eq!(url.is_tls(), tls, "{input}");
        }
    }

    #[test]
    fn rejects_without_leaking() {
        assert!(matches!(
            "redis://h".parse::<BrokerUrl>(),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            "rabbit".parse::<BrokerUrl>(),
            Err(UrlError::Shape)
        ));
        let err = "amqp://u:hunter2@h:notaport/"
            .parse::<BrokerUrl>()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        let url: BrokerUrl = "amqp://u:hunter%232@h/".parse().unwrap();
        assert_eq!(
            url.scrub("failed amqp://u:hunter%232@h and hunter#2"),
            "failed amqp://u:***@h and ***"
        );
    }
}
