use super::*;
use crate::identity::ClientId;
use std::collections::BTreeSet;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn client() -> ClientRecord {
    ClientRecord {
        client_id: ClientId::new("web").unwrap(),
        secret_hash: None,
        grants: BTreeSet::from([GrantType::AuthorizationCode]),
        scopes: ScopeSet::parse("openid profile items:read").unwrap(),
        audience: vec!["data-api".into()],
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "http://127.0.0.1/callback".into(),
            "http://[::1]:8000/cb".into(),
        ],
        post_logout_redirect_uris: vec![],
        trusted: false,
        id_token_signing_alg: None,
        dpop_bound: false,
    }
}

fn params() -> AuthorizationParams {
    AuthorizationParams {
        response_type: Some("code".into()),
        client_id: Some("web".into()),
        redirect_uri: Some("https://app.example/cb".into()),
        scope: Some("openid items:read".into()),
        state: Some("s".into()),
        code_challenge: Some(CHALLENGE.into()),
        code_challenge_method: Some("S256".into()),
        ..Default::default()
    }
}

#[test]
fn redirect_uris_match_exactly_except_loopback_ports() {
    let registered = client().redirect_uris;
    let accepted = [
        "https://app.example/cb",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:51234/callback",
        "http://[::1]/cb",
        "http://[::1]:1/cb",
    ];
    for uri in accepted {
        assert!(redirect_uri_registered(&registered, uri), "{uri}");
    }
    let refused = [
        "https://app.example/cb/",
        "https://app.example/cb?x=1",
        "https://APP.example/cb",
        "https://app.example:443/cb",
        "http://127.0.0.1:80@evil.example/callback",
        "http://127.0.0.1:99999a/callback",
        "http://127.0.0.1:8080/callback/../evil",
        "http://localhost:8080/callback",
        "http://127.0.0.2:8080/callback",
        "http://127.0.0.1.evil.example/callback",
    ];
    for uri in refused {
        assert!(!redirect_uri_registered(&registered, uri), "{uri}");
    }
}

#[test]
fn an_unknown_client_or_unregistered_redirect_is_never_redirected_to() {
    assert_eq!(
        check_redirect(&params(), None).unwrap_err(),
        Untrusted::UnknownClient
    );
    let mut wrong = params();
    wrong.redirect_uri = Some("https://evil.example/cb".into());
    assert_eq!(
        check_redirect(&wrong, Some(client())).unwrap_err(),
        Untrusted::RedirectUri
    );
    wrong.redirect_uri = None;
    assert_eq!(
        check_redirect(&wrong, Some(client())).unwrap_err(),
        Untrusted::RedirectUri
    );
}

#[test]
fn every_later_mistake_is_an_rfc_6749_error() {
    type Change = fn(&mut AuthorizationParams);
    let cases: Vec<(Change, &str)> = vec![
        (
            |p| p.response_type = Some("token".into()),
            "unsupported_response_type",
        ),
        (|p| p.response_type = None, "invalid_request"),
        (|p| p.code_challenge = None, "invalid_request"),
        (
            |p| p.code_challenge_method = Some("plain".into()),
            "invalid_request",
        ),
        (|p| p.code_challenge_method = None, "invalid_request"),
        (|p| p.scope = Some("items:write".into()), "invalid_scope"),
        (|p| p.scope = Some("bad\u{1}scope".into()), "invalid_scope"),
        (|p| p.prompt = Some("none login".into()), "invalid_request"),
        (|p| p.prompt = Some("create".into()), "invalid_request"),
        (|p| p.max_age = Some("-1".into()), "invalid_request"),
        (|p| p.state = Some("x".repeat(513)), "invalid_request"),
        (|p| p.request = Some("eyJ".into()), "request_not_supported"),
        (
            |p| p.request_uri = Some("urn:x".into()),
            "request_uri_not_supported",
        ),
        (
            |p| p.response_mode = Some("fragment".into()),
            "invalid_request",
        ),
    ];
    for (change, expected) in cases {
        let mut p = params();
        change(&mut p);
        let error = check_request(&p, client(), "https://app.example/cb".into()).unwrap_err();
        assert_eq!(error.code, expected, "{p:?}");
    }
    let mut no_code_grant = client();
    no_code_grant.grants = BTreeSet::from([GrantType::RefreshToken]);
    let error = check_request(&params(), no_code_grant, "x".into()).unwrap_err();
    assert_eq!(error.code, "unauthorized_client");
}

#[test]
fn a_good_request_keeps_what_the_code_is_bound_to() {
    let mut p = params();
    p.prompt = Some("login".into());
    p.max_age = Some("300".into());
    p.nonce = Some("n".into());
    let request = check_request(&p, client(), "https://app.example/cb".into()).unwrap();
    assert!(request.prompt.login && !request.prompt.none && !request.prompt.consent);
    p.prompt = Some("consent select_account".into());
    let both = check_request(&p, client(), "x".into()).unwrap().prompt;
    assert!(both.login && both.consent);
    assert_eq!(request.max_age, Some(300));
    assert_eq!(request.nonce.as_deref(), Some("n"));
    assert_eq!(request.scope.to_string(), "items:read openid");
    p.scope = None;
    let request = check_request(&p, client(), "x".into()).unwrap();
    assert_eq!(
        request.scope,
        client().scopes,
        "no scope asks for all the client's"
    );
}
