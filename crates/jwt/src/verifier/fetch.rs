//! Fetching the issuer's key set: RFC 8414 discovery, then the JWKS, each bounded in time and
//! size, with the JWKS's `Cache-Control: max-age` returned so the caller can schedule refreshes.

use crate::jwks::JwkSet;
use jsonwebtoken::DecodingKey;
use portcullis_domain::signing::SigningAlgorithm;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Largest JWKS or discovery document read from the issuer.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Why the key set could not be fetched; logged, never shown to callers.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The HTTP request failed or timed out.
    #[error("request to {url} failed: {source}")]
    Http {
        /// What was requested.
        url: String,
        /// Why it failed.
        source: reqwest::Error,
    },
    /// The issuer answered, but not with a usable document.
    #[error("bad document from {url}: {reason}")]
    BadDocument {
        /// What was requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// A published key the verifier may use, pinned to the one algorithm its JWK states.
#[derive(Clone)]
pub(crate) struct VerifyingKey {
    /// The key, parsed once.
    pub(crate) key: DecodingKey,
    /// The only algorithm a token signed by this key may name.
    pub(crate) alg: SigningAlgorithm,
}

/// A usable key set: signing keys by `kid`.
pub(crate) type KeysByKid = HashMap<Arc<str>, VerifyingKey>;

/// Builds the usable keys of a set; anything that is not a signing key of a supported type and
/// algorithm is skipped.
pub(crate) fn usable_keys(set: &JwkSet) -> KeysByKid {
    set.keys
        .iter()
        .filter_map(|k| {
            let alg = k.signing_algorithm()?;
            let key = match alg {
                SigningAlgorithm::Rs256 | SigningAlgorithm::Ps256 => {
                    DecodingKey::from_rsa_components(&k.n, &k.e)
                }
                SigningAlgorithm::Es256 => DecodingKey::from_ec_components(&k.x, &k.y),
                SigningAlgorithm::EdDsa => DecodingKey::from_ed_components(&k.x),
            }
            .ok()?;
            Some((Arc::from(k.kid.as_str()), VerifyingKey { key, alg }))
        })
        .collect()
}

/// Whether `uri` has the scheme, host and port of `issuer`.
fn same_origin(issuer: &str, uri: &str) -> bool {
    match (reqwest::Url::parse(issuer), reqwest::Url::parse(uri)) {
        (Ok(issuer), Ok(uri)) => {
            issuer.scheme() == uri.scheme()
                && issuer.host() == uri.host()
                && issuer.port_or_known_default() == uri.port_or_known_default()
        }
        _ => false,
    }
}

/// Fetches the key set of `issuer`; returns the keys and the JWKS `max-age`, if any.
#[tracing::instrument(name = "jwks_fetch", skip_all, fields(otel.kind = "internal"))]
pub(crate) async fn fetch_keys(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<(KeysByKid, Option<Duration>), FetchError> {
    let discovery_url = format!("{issuer}/.well-known/oauth-authorization-server");
    let (discovery, _): (Discovery, _) = get_json(http, &discovery_url).await?;
    if discovery.issuer != issuer {
        // RFC 8414 §3.3: the document must name the issuer it was fetched from.
        return Err(FetchError::BadDocument {
            url: discovery_url,
            reason: "issuer in the document differs from the configured issuer".into(),
        });
    }
    if !same_origin(issuer, &discovery.jwks_uri) {
        // Whoever can change the discovery document (a spoofed answer, a compromised proxy)
        // must not be able to point verifiers at keys they host elsewhere.
        return Err(FetchError::BadDocument {
            url: discovery_url,
            reason: "jwks_uri is not on the issuer's own origin".into(),
        });
    }
    let (set, max_age): (JwkSet, _) = get_json(http, &discovery.jwks_uri).await?;
    let keys = usable_keys(&set);
    if keys.is_empty() {
        return Err(FetchError::BadDocument {
            url: discovery.jwks_uri,
            reason: "no usable RS256 keys".into(),
        });
    }
    Ok((keys, max_age))
}

/// `max-age` of a `Cache-Control` header value.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .filter_map(|directive| directive.trim().split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("max-age"))
        .and_then(|(_, value)| value.trim().trim_matches('"').parse().ok())
        .map(Duration::from_secs)
}

/// One GET, as a client span whose context travels in the request's `traceparent`, so the
/// issuer's spans join the trace of the request that needed the keys.
#[tracing::instrument(
    name = "GET",
    skip_all,
    fields(otel.kind = "client", http.request.method = "GET", url.full = url, http.response.status_code)
)]
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<(T, Option<Duration>), FetchError> {
    let http_error = |source| FetchError::Http {
        url: url.to_string(),
        source,
    };
    let bad = |reason: String| FetchError::BadDocument {
        url: url.to_string(),
        reason,
    };
    let mut response = http
        .get(url)
        .headers(portcullis_telemetry::trace_headers())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(http_error)?;
    tracing::Span::current().record("http.response.status_code", response.status().as_u16());
    if !response.status().is_success() {
        return Err(bad(format!("status {}", response.status())));
    }
    let max_age = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .and_then(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http_error)? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(bad("document too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    let value = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
    Ok((value, max_age))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_age_among_other_directives() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("MAX-AGE=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }
}
