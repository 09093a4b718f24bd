//! The authorization code flow end to end over HTTP: login page, consent, code, tokens,
//! id_token, UserInfo and single sign-on, and every way a code can be misused.

use base64::Engine;
use portcullis_tests::{
    authorize_url, pkce, Browser, Stack, CALLBACK_ON_PORT, SPA_CLIENT, WEB_CLIENT,
};
use reqwest::StatusCode;

fn payload(jwt: &str) -> serde_json::Value {
    let part = jwt.split('.').nth(1).expect("a JWS payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[tokio::test]
async fn a_browser_logs_in_consents_and_gets_an_id_token_and_userinfo() {
    let stack = Stack::start().await;
    let mut browser = Browser::new(&stack.issuer);
    let (verifier, challenge) = pkce();
    let extra = [
        ("scope", "openid profile email items:read"),
        ("nonce", "n-0S6"),
    ];
    let page = browser
        .get(&authorize_url(
            &stack.issuer,
            WEB_CLIENT,
            &challenge,
            &extra,
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.is_login_form(), "{}", page.body);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:9;"),
        "the form may lead back to the validated redirect origin only: {csp}"
    );
    assert!(page.body.contains("autocomplete=\"username\""));
    assert!(browser.cookie("__Host-portcullis-csrf").is_some());

    let consent = browser
        .log_in(&page, "alice", portcullis_tests::PASSWORD)
        .await;
    assert!(
        browser.cookie("__Host-portcullis-session").is_some(),
        "{consent:?}"
    );
    assert!(
        consent.is_consent_page(),
        "an untrusted client asks: {}",
        consent.body
    );
    assert!(consent.body.contains(WEB_CLIENT) && consent.body.contains("items:read"));
    let back = browser
        .submit(&consent, "/oauth2/consent", &[("decision", "allow")])
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert!(back.location().unwrap().starts_with(CALLBACK_ON_PORT));
    assert_eq!(back.redirect_param("state").as_deref(), Some("st"));
    assert_eq!(
        back.redirect_param("iss").as_deref(),
        Some(stack.issuer.as_str())
    );
    let code = back.redirect_param("code").expect("a code");

    let (status, tokens) = stack.exchange_code(&code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "email items:read openid profile");
    assert!(tokens["refresh_token"].is_string());
    let id = payload(tokens["id_token"].as_str().expect("an id_token"));
    assert_eq!(id["iss"], stack.issuer.as_str());
    assert_eq!(id["sub"], "alice");
    assert_eq!(id["aud"], WEB_CLIENT);
    assert_eq!(id["nonce"], "n-0S6");
    for claim in ["exp", "iat", "auth_time", "at_hash", "sid"] {
        assert!(!id[claim].is_null(), "id_token lacks {claim}: {id}");
    }

    let info: serde_json::Value = stack
        .http
        .get(format!("{}/oauth2/userinfo", stack.issuer))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["preferred_username"], "alice");
    assert_eq!(info["name"], "Alice Liddell");
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["email_verified"], true);

    // Single sign-on: the second request goes straight back, without form or consent.
    let (_, challenge) = pkce();
    let again = browser
        .get(&authorize_url(
            &stack.issuer,
            WEB_CLIENT,
            &challenge,
            &extra,
        ))
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert!(again.redirect_param("code").is_some());
    // prompt=login asks for the password again even so.
    let forced = browser
        .get(&authorize_url(
            &stack.issuer,
            WEB_CLIENT,
            &challenge,
            &[("prompt", "login")],
        ))
        .await;
    assert!(forced.is_login_form());
    assert!(!forced.field("return_to").unwrap().contains("prompt"));
}

#[tokio::test]
async fn pkce_s256_is_required_with_no_downgrade() {
    let stack = Stack::start().await;
    let mut browser = Browser::new(&stack.issuer);
    let (_, challenge) = pkce();
    let pkce_cases: [&[(&str, &str)]; 3] = [
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "plain"),
        ],
        &[("code_challenge", &challenge)],
        &[],
    ];
    for pkce_params in pkce_cases {
        let mut url = reqwest::Url::parse(&format!("{}/oauth2/authorize", stack.issuer)).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", WEB_CLIENT)
            .append_pair("redirect_uri", CALLBACK_ON_PORT)
            .append_pair("state", "st")
            .extend_pairs(pkce_params);
        let answer = browser.get(url.as_str()).await;
        assert_eq!(
            answer.redirect_param("error").as_deref(),
            Some("invalid_request"),
            "{url}"
        );
        assert_eq!(answer.redirect_param("state").as_deref(), Some("st"));
    }
    let (answer, verifier) = stack.authorize_web(&mut browser, "alice", &[]).await;
    let code = answer.redirect_param("code").unwrap();
    let missing = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK_ON_PORT),
    ];
    let (status, body) = stack.token_as(WEB_CLIENT, true, &missing).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (wrong, _) = pkce();
    let (_, body) = stack.exchange_code(&code, &wrong).await;
    assert_eq!(body["error"], "invalid_grant", "a wrong verifier");
    let (_, body) = stack.exchange_code(&code, &verifier).await;
    assert_eq!(
        body["error"], "invalid_grant",
        "the code was spent by the failed try"
    );
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_its_refresh_tokens() {
    let stack = Stack::start().await;
    let mut browser = Browser::new(&stack.issuer);
    let (answer, verifier) = stack.authorize_web(&mut browser, "alice", &[]).await;
    let code = answer.redirect_param("code").unwrap();
    let (status, tokens) = stack.exchange_code(&code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let (_, replay) = stack.exchange_code(&code, &verifier).await;
    assert_eq!(replay["error"], "invalid_grant");
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    let (_, body) = stack.token_as(WEB_CLIENT, true, &refresh).await;
    assert_eq!(
        body["error"], "invalid_grant",
        "the replay revoked the family"
    );
    let audit = stack
        .metric(
            &stack.issuer,
            "portcullis_audit_events_total{event=\"code_replayed\"}",
        )
        .await;
    assert_eq!(audit, 1);
}

#[tokio::test]
async fn codes_are_bound_to_their_client_and_redirect_uri() {
    let stack = Stack::start().await;
    let mut browser = Browser::new(&stack.issuer);
    let (verifier, challenge) = pkce();
    let page = browser
        .get(&authorize_url(&stack.issuer, SPA_CLIENT, &challenge, &[]))
        .await;
    let trusted = browser
        .log_in(&page, "alice", portcullis_tests::PASSWORD)
        .await;
    let code = trusted
        .redirect_param("code")
        .expect("a first-party client skips consent");
    let (_, body) = stack.exchange_code(&code, &verifier).await;
    assert_eq!(body["error"], "invalid_grant", "another client's code");

    let (answer, verifier) = stack.authorize_web(&mut browser, "alice", &[]).await;
    let code = answer.redirect_param("code").unwrap();
    let elsewhere = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:10/callback"),
        ("code_verifier", verifier.as_str()),
    ];
    let (_, body) = stack.token_as(WEB_CLIENT, true, &elsewhere).await;
    assert_eq!(body["error"], "invalid_grant", "another redirect URI");

    // The public client exchanges its own code with PKCE alone.
    let (verifier, challenge) = pkce();
    let again = browser
        .get(&authorize_url(&stack.issuer, SPA_CLIENT, &challenge, &[]))
        .await;
    let code = again.redirect_param("code").unwrap();
    let fields = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK_ON_PORT),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body) = stack.token_as(SPA_CLIENT, false, &fields).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn prompt_none_answers_instead_of_showing_a_page() {
    let stack = Stack::start().await;
    let mut browser = Browser::new(&stack.issuer);
    let (_, challenge) = pkce();
    let none = [("prompt", "none")];
    let answer = browser
        .get(&authorize_url(&stack.issuer, WEB_CLIENT, &challenge, &none))
        .await;
    assert_eq!(
        answer.redirect_param("error").as_deref(),
        Some("login_required")
    );
    assert_eq!(
        answer.redirect_param("iss").as_deref(),
        Some(stack.issuer.as_str())
    );
    let page = browser
        .get(&authorize_url(&stack.issuer, WEB_CLIENT, &challenge, &[]))
        .await;
    let consent = browser
        .log_in(&page, "alice", portcullis_tests::PASSWORD)
        .await;
    assert!(consent.is_consent_page());
    let answer = browser
        .get(&authorize_url(&stack.issuer, WEB_CLIENT, &challenge, &none))
        .await;
    assert_eq!(
        answer.redirect_param("error").as_deref(),
        Some("consent_required")
    );
    let denied = browser
        .submit(&consent, "/oauth2/consent", &[("decision", "deny")])
        .await;
    assert_eq!(
        denied.redirect_param("error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(denied.redirect_param("state").as_deref(), Some("st"));
}
