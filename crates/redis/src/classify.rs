//! Telling the connection failures that retrying cannot heal (a certificate that does not
//! verify, a refused handshake, refused credentials) from those it can (Redis still starting).

use crate::ConnectError;
use redis::{ErrorKind, RedisError};

/// The start-up error for `error` when no retry can succeed; `None` when one might.
pub(crate) fn permanent(error: RedisError, prefix: &'static str) -> Option<ConnectError> {
    if error.kind() == ErrorKind::AuthenticationFailed
        || error
            .code()
            .is_some_and(|code| code == "WRONGPASS" || code == "NOAUTH")
    {
        return Some(ConnectError::Credentials {
            prefix,
            source: error,
        });
    }
    match tls_error(&error)? {
        rustls::Error::InvalidCertificate(_) => Some(ConnectError::Untrusted {
            prefix,
            source: error,
        }),
        rustls::Error::AlertReceived(_) => Some(ConnectError::HandshakeRefused {
            prefix,
            source: error,
        }),
        _ => None,
    }
}

/// The TLS library's error inside `error`: tokio-rustls hands it over as an I/O error.
fn tls_error(error: &RedisError) -> Option<&rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return Some(tls);
            }
        }
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        source = current.source();
    }
    None
}
