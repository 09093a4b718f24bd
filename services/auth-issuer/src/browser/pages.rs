//! The HTML pages, rendered from compile-time-checked templates (askama escapes every value),
//! and the headers every page carries: a strict Content Security Policy, no framing, no caching,
//! no referrer.

use askama::Template;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;

/// The login form.
#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage<'a> {
    pub client: Option<&'a str>,
    pub error: Option<&'static str>,
    pub username: &'a str,
    pub return_to: &'a str,
    pub csrf: &'a str,
}

/// The consent page, and the device approval page (the same question about another client).
#[derive(Template)]
#[template(path = "consent.html")]
pub(super) struct ConsentPage<'a> {
    pub client: &'a str,
    pub user_code: Option<&'a str>,
    pub username: &'a str,
    pub scopes: Vec<&'a str>,
    pub action: &'static str,
    pub hidden: Vec<(&'static str, &'a str)>,
    pub csrf: &'a str,
}

/// The device code entry page.
#[derive(Template)]
#[template(path = "device.html")]
pub(super) struct DevicePage<'a> {
    pub error: Option<&'static str>,
    pub user_code: &'a str,
    pub csrf: &'a str,
}

/// The logout confirmation.
#[derive(Template)]
#[template(path = "logout.html")]
pub(super) struct LogoutPage<'a> {
    pub hidden: Vec<(&'static str, &'a str)>,
    pub csrf: &'a str,
}

/// A page with a heading and one message: errors and outcomes.
#[derive(Template)]
#[template(path = "message.html")]
pub(super) struct MessagePage<'a> {
    pub heading: &'a str,
    pub message: &'a str,
}

/// The stylesheet, served from the issuer's own origin so the CSP needs no inline styles.
pub(super) const STYLESHEET: &str = include_str!("../../assets/portcullis.css");

/// A rendered page with its status and the extra origins its forms may lead to.
pub(super) struct Page {
    status: StatusCode,
    html: Result<String, askama::Error>,
    /// Browsers check `form-action` against every redirect that follows a form post, so a page
    /// whose form ends at the client's redirect URI must allow that origin too.
    form_targets: Vec<String>,
    cookies: Vec<HeaderValue>,
}

impl Page {
    /// `template` rendered, answered with `status`.
    pub(super) fn new(status: StatusCode, template: &impl Template) -> Self {
        Self {
            status,
            html: template.render(),
            form_targets: Vec::new(),
            cookies: Vec::new(),
        }
    }

    /// A message page.
    pub(super) fn message(status: StatusCode, heading: &str, message: &str) -> Self {
        Self::new(status, &MessagePage { heading, message })
    }

    /// Lets the page's forms end up at `origin` (an already validated redirect URI's origin).
    pub(super) fn allow_form_target(mut self, origin: Option<String>) -> Self {
        self.form_targets.extend(origin);
        self
    }

    /// Sets a cookie with the page.
    pub(super) fn with_cookie(mut self, cookie: Option<HeaderValue>) -> Self {
        self.cookies.extend(cookie);
        self
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let html = match self.html {
            Ok(html) => html,
            Err(error) => {
                tracing::error!(%error, "a page failed to render");
                return (StatusCode::INTERNAL_SERVER_ERROR, "page unavailable").into_response();
            }
        };
        let form_action = std::iter::once("'self'".to_owned())
            .chain(self.form_targets)
            .collect::<Vec<_>>()
            .join(" ");
        let csp = format!(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; \
             frame-ancestors 'none'; base-uri 'none'"
        );
        let mut response = (self.status, axum::response::Html(html)).into_response();
        let headers = response.headers_mut();
        if let Ok(csp) = HeaderValue::from_str(&csp) {
            headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        for cookie in self.cookies {
            headers.append(header::SET_COOKIE, cookie);
        }
        with_page_headers(headers);
        response
    }
}

/// The headers of every browser-facing answer, pages and redirects alike.
pub(super) fn with_page_headers(headers: &mut http::HeaderMap) {
    let fixed: [(HeaderName, &str); 4] = [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// The CSP source that allows a form whose redirects end at `uri` (a validated redirect URI):
/// its origin, `scheme://host[:port]`. CSP cannot name an IPv6 literal (`[::1]`, a loopback
/// client) or a path-only private-use URI (`com.example.app:/cb`, a native app), so those get
/// their scheme (`http:`, `com.example.app:`); `None` for anything else.
pub(super) fn origin_of(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return None;
    }
    let web = scheme == "https" || scheme == "http";
    let Some(rest) = rest.strip_prefix("//").filter(|_| web) else {
        return (!web).then(|| format!("{scheme}:"));
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.starts_with('[') {
        return Some(format!("{scheme}:"));
    }
    let safe = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b));
    safe.then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_cut_from_validated_uris_and_never_carry_csp_syntax() {
        assert_eq!(
            origin_of("https://app.example/cb?x=1").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:5173/cb").as_deref(),
            Some("http://127.0.0.1:5173")
        );
        assert_eq!(origin_of("http://[::1]:8/cb").as_deref(), Some("http:"));
        assert_eq!(
            origin_of("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(origin_of("a b:/cb"), None);
        assert_eq!(origin_of("https://a.example;script-src/cb"), None);
        assert_eq!(origin_of("https://user@a.example/cb"), None);
    }
}
