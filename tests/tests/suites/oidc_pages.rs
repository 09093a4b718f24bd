//! The login pages under misuse: untrusted clients and redirect URIs never get a redirect,
//! forms need their CSRF token, failed logins all look alike, reflected input is escaped, and
//! logout ends the session with its refresh tokens.

use portcullis_tests::{authorize_url, pkce, Browser, Stack, LOGGED_OUT, PASSWORD, WEB_CLIENT};
use reqwest::StatusCode;

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_gets_a_page_never_a_redirect() {
    let stack = Stack::start().await;
    let mut browser = Browser::new(&stack.issuer);
    let (_, challenge) = pkce();
    let good = authorize_url(&stack.issuer, WEB_CLIENT, &challenge, &[]);
    let cases = [
        good.replace("127.0.0.1%3A9%2Fcallback", "evil.example%2Fcallback"),
        good.replace("127.0.0.1%3A9%2Fcallback", "127.0.0.1%3A9%2Fcallback%2F"),
        good.replace("client_id=web", "client_id=nobody"),
        good.replace(
            "client_id=web",
            "client_id=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        ),
        good.replace("&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback", ""),
        format!("{good}&state=twice"),
        format!("{}/oauth2/authorize?%FF=1", stack.issuer),
    ];
    for url in cases {
        assert_ne!(url, good);
        let answer = browser.get(&url).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{url}");
        assert!(answer.location().is_none(), "no redirect for {url}");
        assert!(answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(
            !answer.body.contains("<script>"),
            "reflected unescaped: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn forms_need_their_csrf_token_and_failures_look_alike() {
    let stack = Stack::start().await;
    let mut browser = Browser::new(&stack.issuer);
    let (_, challenge) = pkce();
    let page = browser
        .get(&authorize_url(&stack.issuer, WEB_CLIENT, &challenge, &[]))
        .await;
    let return_to = page.field("return_to").unwrap();
    let fields = [
        ("return_to", return_to.as_str()),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let forged = browser.post("/login", &fields).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "no csrf field");
    let mut wrong = fields.to_vec();
    wrong.push(("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_eq!(
        browser.post("/login", &wrong).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(browser.cookie("__Host-portcullis-session").is_none());

    let error_of = |body: &str| {
        let start = body.find("role=\"alert\">").expect("an error message") + 13;
        body[start..start + body[start..].find('<').unwrap()].to_owned()
    };
    let unknown = browser
        .submit(
            &page,
            "/login",
            &[("username", "mallory"), ("password", "x")],
        )
        .await;
    let wrong_password = browser
        .submit(&page, "/login", &[("username", "alice"), ("password", "x")])
        .await;
    assert_eq!(unknown.status, wrong_password.status);
    assert_eq!(error_of(&unknown.body), error_of(&wrong_password.body));
    assert!(wrong_password.is_login_form());
    let failed = stack
        .metric(
            &stack.issuer,
            "portcullis_audit_events_total{event=\"login_failed\"}",
        )
        .await;
    assert_eq!(failed, 2);
    // The brute-force limits of the token endpoint apply to the form too.
    for _ in 0..4 {
        browser
            .submit(&page, "/login", &[("username", "alice"), ("password", "x")])
            .await;
    }
    let throttled = browser
        .submit(
            &page,
            "/login",
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(browser.cookie("__Host-portcullis-session").is_none());
}

#[tokio::test]
async fn a_login_form_cannot_be_pointed_anywhere_else() {
    let stack = Stack::start().await;
    let mut browser = Browser::new(&stack.issuer);
    let page = browser.get("/device").await;
    assert!(page.is_login_form());
    for target in [
        "https://evil.example/",
        "//evil.example/",
        "/oauth2/token",
        "/device?user_code=<x>",
    ] {
        let csrf = page.field("csrf").unwrap();
        let fields = [
            ("csrf", csrf.as_str()),
            ("return_to", target),
            ("username", "alice"),
            ("password", PASSWORD),
        ];
        let answer = browser.post("/login", &fields).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{target}");
        assert!(answer.location().is_none());
    }
}

#[tokio::test]
async fn logout_ends_the_session_and_the_refresh_tokens_issued_under_it() {
    let stack = Stack::start().await;
    let mut login = stack.code_login("alice").await;
    let id_token = login.token("id_token");
    let refresh = login.token("refresh_token");
    let mut logout = reqwest::Url::parse(&format!("{}/oauth2/logout", stack.issuer)).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", "https://evil.example/")
        .append_pair("state", "xyz");
    let refused = login.browser.get(logout.as_str()).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "unregistered target"
    );
    assert!(refused.location().is_none());

    let mut logout = reqwest::Url::parse(&format!("{}/oauth2/logout", stack.issuer)).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", LOGGED_OUT)
        .append_pair("state", "xyz");
    let out = login.browser.get(logout.as_str()).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        out.location(),
        Some(format!("{LOGGED_OUT}?state=xyz").as_str())
    );
    assert!(login.browser.cookie("__Host-portcullis-session").is_none());

    let fields = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let (_, body) = stack.token_as(WEB_CLIENT, true, &fields).await;
    assert_eq!(
        body["error"], "invalid_grant",
        "the family ended with the session"
    );
    let (_, challenge) = pkce();
    let none = authorize_url(&stack.issuer, WEB_CLIENT, &challenge, &[("prompt", "none")]);
    let answer = login.browser.get(&none).await;
    assert_eq!(
        answer.redirect_param("error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn logout_without_a_hint_asks_first() {
    let stack = Stack::start().await;
    let mut login = stack.code_login("alice").await;
    let page = login.browser.get("/oauth2/logout").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        login.browser.cookie("__Host-portcullis-session").is_some(),
        "a link alone logs nobody out"
    );
    let forged = login
        .browser
        .post("/oauth2/logout", &[("decision", "logout")])
        .await;
    assert_eq!(forged.status, StatusCode::OK, "the confirmation again");
    assert!(login.browser.cookie("__Host-portcullis-session").is_some());
    let done = login
        .browser
        .submit(&page, "/oauth2/logout", &[("decision", "logout")])
        .await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.body.contains("signed out"));
    assert!(login.browser.cookie("__Host-portcullis-session").is_none());
}

#[tokio::test]
async fn malformed_browser_requests_get_a_page_never_a_500_or_a_reflection() {
    let stack = Stack::start().await;
    let mut login = stack.code_login("alice").await;
    let nasty = [
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "%FF%FE",
        "%00",
        "a%22onmouseover%3D%22x",
        &"x".repeat(9000),
    ];
    let mut answers = Vec::new();
    for value in nasty {
        for path in [
            format!("/oauth2/authorize?client_id=web&redirect_uri={value}"),
            format!("/oauth2/authorize?{value}"),
            format!("/oauth2/authorize?response_type=code&client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&state={value}&code_challenge={value}"),
            format!("/device?user_code={value}"),
            format!("/oauth2/logout?id_token_hint={value}&post_logout_redirect_uri={value}"),
        ] {
            answers.push((path.clone(), login.browser.get(&path).await));
        }
        let raw = [
            ("csrf", value),
            ("return_to", value),
            ("username", value),
            ("user_code", value),
            ("decision", value),
        ];
        for action in [
            "/login",
            "/oauth2/consent",
            "/device",
            "/oauth2/logout",
            "/oauth2/authorize",
        ] {
            answers.push((action.to_owned(), login.browser.post(action, &raw).await));
        }
    }
    for (what, answer) in answers {
        assert!(
            !answer.status.is_server_error(),
            "{what}: {} {}",
            answer.status,
            answer.body
        );
        assert!(
            !answer.body.contains("<script>alert"),
            "{what} reflected markup"
        );
        assert!(
            !answer.body.contains("\"onmouseover"),
            "{what} reflected an attribute break"
        );
        // A head over 16 KiB is refused by the transport before any route (431, no body).
        if answer.location().is_none()
            && answer.status != reqwest::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        {
            let kind = answer
                .headers
                .get("content-type")
                .unwrap_or_else(|| panic!("{what}: {answer:?}"))
                .to_str()
                .unwrap();
            assert!(kind.starts_with("text/html"), "{what}: a page, not {kind}");
        }
    }
}
