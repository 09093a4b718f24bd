//! Comparing a proof's `htu` with the request's URI as RFC 9449 §4.3 check 9 asks: query and
//! fragment ignored, and the URI normalised per RFC 3986 §6.2.2–6.2.3 (scheme and host compared
//! without case, the scheme's default port dropped, an empty path read as `/`).

/// The comparable form of `uri`, or `None` if it is not an absolute `http(s)` URI.
pub(super) fn normalise(uri: &str) -> Option<String> {
    let uri = uri.split(['#', '?']).next().unwrap_or_default();
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let host = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{host}{path}"))
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn query_fragment_case_and_default_ports_do_not_matter() {
        let canonical = normalise("https://api.example.com/v1/items").unwrap();
        for same in [
            "HTTPS://API.Example.com/v1/items",
            "https://api.example.com:443/v1/items?x=1",
            "https://api.example.com/v1/items#top",
        ] {
            assert_eq!(normalise(same).unwrap(), canonical, "{same}");
        }
        assert_eq!(
            normalise("http://127.0.0.1:80").unwrap(),
            "http://127.0.0.1/"
        );
        assert_eq!(
            normalise("http://[::1]:8081/x").unwrap(),
            "http://[::1]:8081/x"
        );
    }

    #[test]
    fn paths_ports_and_schemes_do_matter() {
        let canonical = normalise("https://api.example.com/v1/items").unwrap();
        for other in [
            "https://api.example.com/v1/Items",
            "https://api.example.com:8443/v1/items",
            "http://api.example.com/v1/items",
        ] {
            assert_ne!(normalise(other).unwrap(), canonical, "{other}");
        }
        for invalid in ["", "/v1/items", "ftp://x/y", "https://", "https://u@h/"] {
            assert_eq!(normalise(invalid), None, "{invalid}");
        }
    }
}
