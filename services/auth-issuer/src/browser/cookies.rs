//! The browser's cookies and the checks every form post passes.
//!
//! Both cookies carry the `__Host-` prefix (Secure, `Path=/`, no `Domain`), so no sibling or
//! parent domain can set or overwrite them; browsers accept Secure cookies from
//! `http://127.0.0.1` and `localhost`, so local development works too. Form posts are protected
//! by a double-submit token: the form carries the value of a SameSite=Strict cookie that another
//! site can neither read nor set, and a `Sec-Fetch-Site: cross-site` post is refused outright.

use crate::form::Form;
use cookie::{Cookie, SameSite};
use http::{header, HeaderMap, HeaderValue};
use portcullis_domain::encoding::random_token;
use std::time::Duration;

/// The browser session.
pub(super) const SESSION_COOKIE: &str = "__Host-portcullis-session";
/// The double-submit token of the login, consent, device and logout forms.
const CSRF_COOKIE: &str = "__Host-portcullis-csrf";
/// Longest value either cookie has (base64url of 32 bytes); anything else is ignored.
const TOKEN_LEN: usize = 43;

/// The value of cookie `name`, if the request has exactly a well-formed one.
pub(super) fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == name)
        .map(|c| c.value().to_owned());
    let value = found.next()?;
    let well_formed = value.len() == TOKEN_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (well_formed && found.next().is_none()).then_some(value)
}

fn build(
    name: &'static str,
    value: String,
    same_site: SameSite,
    max_age: Option<Duration>,
) -> Option<HeaderValue> {
    let mut cookie = Cookie::build((name, value))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(same_site);
    if let Some(age) = max_age {
        cookie = cookie.max_age(cookie::time::Duration::seconds(
            i64::try_from(age.as_secs()).unwrap_or(i64::MAX),
        ));
    }
    HeaderValue::from_str(&cookie.build().to_string()).ok()
}

/// Sets the session cookie. Lax, because the authorization request arrives as a top-level
/// navigation from the client's site and must see the session.
pub(super) fn session(value: &str, lifetime: Duration) -> Option<HeaderValue> {
    build(
        SESSION_COOKIE,
        value.to_owned(),
        SameSite::Lax,
        Some(lifetime),
    )
}

/// Removes the session cookie.
pub(super) fn clear_session() -> Option<HeaderValue> {
    build(
        SESSION_COOKIE,
        String::new(),
        SameSite::Lax,
        Some(Duration::ZERO),
    )
}

/// The CSRF token for a form page: the browser's existing one, or a new one with the cookie
/// that sets it.
pub(super) fn csrf_token(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match read(headers, CSRF_COOKIE) {
        Some(token) => (token, None),
        None => {
            let token = random_token();
            let cookie = build(CSRF_COOKIE, token.clone(), SameSite::Strict, None);
            (token, cookie)
        }
    }
}

/// Whether a form post comes from this issuer's own page in this browser.
pub(super) fn same_browser_post(headers: &HeaderMap, form: &Form) -> bool {
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site");
    let matches = match (read(headers, CSRF_COOKIE), form.get("csrf")) {
        (Some(cookie), Some(field)) => constant_time_eq(cookie.as_bytes(), field.as_bytes()),
        _ => false,
    };
    !cross_site && matches
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn cookies_have_the_host_prefix_rules() {
        let value = session(&random_token(), Duration::from_secs(60)).unwrap();
        let text = value.to_str().unwrap();
        for part in [
            "__Host-portcullis-session=",
            "Path=/",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=60",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert!(!text.contains("Domain"), "{text}");
    }

    #[test]
    fn a_form_post_needs_the_matching_cookie_and_a_same_site_origin() {
        let token = random_token();
        let form = Form::parse(format!("csrf={token}").as_bytes()).unwrap();
        let mut headers = with_cookie(&format!("{CSRF_COOKIE}={token}"));
        assert!(same_browser_post(&headers, &form));
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_browser_post(&headers, &form));
        let other = with_cookie(&format!("{CSRF_COOKIE}={}", random_token()));
        assert!(!same_browser_post(&other, &form));
        assert!(!same_browser_post(&HeaderMap::new(), &form));
        let empty = Form::parse(b"").unwrap();
        assert!(!same_browser_post(
            &with_cookie(&format!("{CSRF_COOKIE}={token}")),
            &empty
        ));
        let twice = with_cookie(&format!("{CSRF_COOKIE}={token}; {CSRF_COOKIE}={token}"));
        assert!(
            !same_browser_post(&twice, &form),
            "a shadowing second cookie is refused"
        );
    }
}
