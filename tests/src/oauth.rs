//! The OAuth calls the login suites repeat: a token request as a given client, and a whole
//! authorization-code login in a [`Browser`].

use crate::browser::{authorize_url, pkce, Answer, Browser, CALLBACK_ON_PORT};
use crate::users::{PASSWORD, WEB_CLIENT};
use crate::Stack;
use reqwest::StatusCode;

/// What a finished code flow produced.
pub struct CodeLogin {
    /// The token response.
    pub tokens: serde_json::Value,
    /// The browser, still holding its session.
    pub browser: Browser,
}

impl CodeLogin {
    /// A string member of the token response.
    pub fn token(&self, name: &str) -> String {
        self.tokens[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {}", self.tokens))
            .to_owned()
    }
}

impl Stack {
    /// `POST /oauth2/token` as `client` (with the test secret when `confidential`); the status
    /// and JSON body.
    pub async fn token_as(
        &self,
        client: &str,
        confidential: bool,
        fields: &[(&str, &str)],
    ) -> (StatusCode, serde_json::Value) {
        let mut form: Vec<(&str, &str)> = vec![("client_id", client)];
        if confidential {
            form.push(("client_secret", PASSWORD));
        }
        form.extend_from_slice(fields);
        let response = self
            .http
            .post(format!("{}/oauth2/token", self.issuer))
            .form(&form)
            .send()
            .await
            .expect("token endpoint answers");
        let status = response.status();
        (status, response.json().await.expect("JSON answer"))
    }

    /// Exchanges `code` as the web client with `verifier` and the port-9 callback.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
    ) -> (StatusCode, serde_json::Value) {
        let fields = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK_ON_PORT),
            ("code_verifier", verifier),
        ];
        self.token_as(WEB_CLIENT, true, &fields).await
    }

    /// The code an authorization request for the web client ends with in `browser`, logging
    /// `username` in and consenting when asked; with its PKCE verifier.
    pub async fn authorize_web(
        &self,
        browser: &mut Browser,
        username: &str,
        extra: &[(&str, &str)],
    ) -> (Answer, String) {
        let (verifier, challenge) = pkce();
        let url = authorize_url(&self.issuer, WEB_CLIENT, &challenge, extra);
        let mut answer = browser.get(&url).await;
        if answer.is_login_form() {
            answer = browser.log_in(&answer, username, PASSWORD).await;
        }
        if answer.is_consent_page() {
            let consented = browser
                .submit(&answer, "/oauth2/consent", &[("decision", "allow")])
                .await;
            answer = browser.follow(consented).await;
        }
        (answer, verifier)
    }

    /// A whole code flow for the web client as `username`, with `openid profile email
    /// items:read` and a nonce, in a new browser; panics unless tokens come back.
    pub async fn code_login(&self, username: &str) -> CodeLogin {
        let mut browser = Browser::new(&self.issuer);
        let extra = [
            ("scope", "openid profile email items:read"),
            ("nonce", "n-0S6"),
        ];
        let (answer, verifier) = self.authorize_web(&mut browser, username, &extra).await;
        let code = answer
            .redirect_param("code")
            .unwrap_or_else(|| panic!("no code in {answer:?}"));
        let (status, tokens) = self.exchange_code(&code, &verifier).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        CodeLogin { tokens, browser }
    }
}
