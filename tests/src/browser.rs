//! A browser stand-in for the login suites: it keeps cookies itself (the issuer's `__Host-`
//! cookies are Secure, and HTTP clients' cookie stores will not send those over
//! `http://127.0.0.1`, while browsers do), follows no redirect unless asked, and reads the hidden
//! fields out of pages. The real-browser suite drives Chromium; this one reaches every negative
//! path quickly.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{StatusCode, Url};
use std::collections::BTreeMap;
use std::time::Duration;

/// One answer, as a browser would see it.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: String,
}

impl Answer {
    /// The redirect target, if this is a redirect.
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// A query parameter of the redirect target.
    pub fn redirect_param(&self, name: &str) -> Option<String> {
        let url = Url::parse(self.location()?).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The value of the page's input `name` (HTML-unescaped).
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = start + self.body[start..].find('"')?;
        Some(unescape(&self.body[start..end]))
    }

    /// Whether the page is the login form.
    pub fn is_login_form(&self) -> bool {
        self.body.contains("autocomplete=\"current-password\"")
    }

    /// Whether the page is the consent (or device approval) page.
    pub fn is_consent_page(&self) -> bool {
        self.body.contains("name=\"decision\" value=\"allow\"")
    }
}

/// Undoes HTML escaping: the named entities and numeric character references a template
/// engine writes.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find(';') else {
            break;
        };
        let entity = &rest[start + 1..start + end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&rest[start..=start + end]),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// A cookie-keeping HTTP client that behaves like one browser profile.
pub struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
    base: Url,
}

impl Browser {
    /// A browser with no cookies, resolving relative redirects against `issuer`.
    pub fn new(issuer: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
            base: Url::parse(issuer).expect("issuer URL"),
        }
    }

    /// `GET url` (absolute, or a path on the issuer).
    pub async fn get(&mut self, url: &str) -> Answer {
        let url = self.base.join(url).expect("url");
        let request = self.http.get(url);
        self.send(request).await
    }

    /// Posts a form to `url`.
    pub async fn post(&mut self, url: &str, fields: &[(&str, &str)]) -> Answer {
        let url = self.base.join(url).expect("url");
        let request = self.http.post(url).form(fields);
        self.send(request).await
    }

    /// Submits the page's form with its hidden `csrf` (and `return_to`, if any) plus `fields`.
    pub async fn submit(&mut self, page: &Answer, action: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = page.field("csrf").expect("the page has a CSRF field");
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        let return_to = page.field("return_to");
        if let Some(return_to) = &return_to {
            all.push(("return_to", return_to));
        }
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    /// Follows redirects on the issuer until an answer that is not one, or one that leaves the
    /// issuer (returned as is).
    pub async fn follow(&mut self, mut answer: Answer) -> Answer {
        for _ in 0..5 {
            match answer.location() {
                Some(location) if location.starts_with('/') => {
                    let location = location.to_owned();
                    answer = self.get(&location).await;
                }
                _ => return answer,
            }
        }
        panic!("too many redirects");
    }

    /// Logs in on a login page and follows back to where the login leads.
    pub async fn log_in(&mut self, login_page: &Answer, username: &str, password: &str) -> Answer {
        assert!(
            login_page.is_login_form(),
            "expected the login form: {}",
            login_page.body
        );
        let answer = self
            .submit(
                login_page,
                "/login",
                &[("username", username), ("password", password)],
            )
            .await;
        self.follow(answer).await
    }

    /// The browser's cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Forgets every cookie (a new browser profile with the same client).
    pub fn clear_cookies(&mut self) {
        self.cookies.clear();
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let cookies: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let request = if cookies.is_empty() {
            request
        } else {
            request.header(COOKIE, cookies.join("; "))
        };
        let response = request.send().await.expect("request");
        for set in response.headers().get_all(SET_COOKIE) {
            let text = set.to_str().expect("cookie text");
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if attributes.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = portcullis_domain::encoding::random_token();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(digest.as_ref());
    (verifier, challenge)
}

/// An authorization request URL on `issuer` for `client`, with `extra` parameters on top of
/// `response_type=code`, the redirect URI on port 9 and `state=st`.
pub fn authorize_url(
    issuer: &str,
    client: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = Url::parse(&format!("{issuer}/oauth2/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", CALLBACK_ON_PORT)
        .append_pair("state", "st")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    url.to_string()
}

/// The registered loopback callback with a port, as a native app would send it.
pub const CALLBACK_ON_PORT: &str = "http://127.0.0.1:9/callback";
