//! Strict `application/x-www-form-urlencoded` parsing for the OAuth endpoints.
//!
//! Hand-written over `percent-encoding` because the usual parsers are lenient where RFC 6749 is
//! not: they decode invalid UTF-8 lossily and keep the last of repeated parameters, while
//! §3.1 says parameters "MUST NOT be included more than once" and a silent lossy decode could
//! turn two different passwords into one.

use percent_encoding::percent_decode;
use std::collections::HashMap;

/// Why a form was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A parameter appears twice.
    #[error("a parameter is repeated")]
    Repeated,
    /// A name or value is not valid UTF-8 after decoding.
    #[error("the form is not valid UTF-8")]
    NotUtf8,
    /// Too many parameters for any OAuth request.
    #[error("too many parameters")]
    TooMany,
}

/// Most parameters any token request needs, with room for extensions.
const MAX_PARAMETERS: usize = 32;

/// A parsed form: each name at most once. Empty values count as absent (RFC 6749 §3.1).
#[derive(Debug, Default)]
pub struct Form {
    values: HashMap<String, String>,
}

fn decode(part: &[u8]) -> Result<String, FormError> {
    let spaced: Vec<u8> = part
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| FormError::NotUtf8)
}

impl Form {
    /// Parses a request body.
    pub fn parse(body: &[u8]) -> Result<Self, FormError> {
        let mut values = HashMap::new();
        for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            if values.len() >= MAX_PARAMETERS {
                return Err(FormError::TooMany);
            }
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            if values.insert(name, value).is_some() {
                return Err(FormError::Repeated);
            }
        }
        Ok(Self { values })
    }

    /// The parameter's value, if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Whether the request says its body is `application/x-www-form-urlencoded` (parameters such as
/// a charset allowed): the only body the OAuth endpoints and the login pages read.
pub fn is_form_content_type(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent_escapes() {
        let form =
            Form::parse(b"grant_type=password&username=al%20ice&password=a+b%2Bc&scope=").unwrap();
        assert_eq!(form.get("grant_type"), Some("password"));
        assert_eq!(form.get("username"), Some("al ice"));
        assert_eq!(form.get("password"), Some("a b+c"));
        assert_eq!(form.get("scope"), None, "empty means absent");
        assert_eq!(form.get("missing"), None);
    }

    #[test]
    fn refuses_repeats_bad_utf8_and_floods() {
        assert_eq!(Form::parse(b"a=1&a=2").unwrap_err(), FormError::Repeated);
        assert_eq!(Form::parse(b"a=%ff").unwrap_err(), FormError::NotUtf8);
        assert_eq!(Form::parse(b"a\xff=1").unwrap_err(), FormError::NotUtf8);
        let flood: Vec<String> = (0..40).map(|i| format!("p{i}=1")).collect();
        assert_eq!(
            Form::parse(flood.join("&").as_bytes()).unwrap_err(),
            FormError::TooMany
        );
    }

    #[test]
    fn tolerates_malformed_escapes_as_literal_text() {
        // `%zz` is not an escape; percent-decoding leaves it as is, as browsers do.
        let form = Form::parse(b"a=%zz&&b").unwrap();
        assert_eq!(form.get("a"), Some("%zz"));
        assert_eq!(form.get("b"), None);
    }
}
