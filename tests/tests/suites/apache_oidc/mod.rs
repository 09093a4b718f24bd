//! Apache httpd with Debian's `mod_auth_openidc`, an independent relying party, logs a user in
//! through the issuer (it once stopped at "no supported response type, no authorization
//! endpoint", issue 15): discovery, the authorization code flow with PKCE S256, the code
//! exchange with `client_secret_basic`, id_token verification (signature against the JWKS,
//! `iss`, `aud`, nonce, `at_hash`), UserInfo, and RP-initiated logout with token revocation. The browser side is the cookie-keeping [`Browser`], which keeps one
//! cookie jar for every port of 127.0.0.1, as browsers do.
//!
//! `tests/apache/setup.sh` installs `apache2-bin` and `libapache2-mod-auth-openidc` from apt
//! when they are missing; without them this suite fails, it never skips. httpd runs in the
//! foreground (`-X`) with `tests/apache/httpd.conf.in` filled in, in a temporary directory.

use portcullis_tests::{Answer, Browser, Stack, PASSWORD, WEB_CLIENT};
use reqwest::Url;
mod httpd;

use httpd::{apache_setup, module_version, Apache};
use std::time::Duration;

fn query(url: &str) -> Vec<(String, String)> {
    Url::parse(url)
        .expect("an absolute URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn apache_mod_auth_openidc_logs_alice_in_and_out() {
    let (httpd, modules) = tokio::task::spawn_blocking(apache_setup).await.unwrap();
    let stack = Stack::start().await;
    let apache = Apache::start(&httpd, &modules, &stack.issuer).await;
    println!("mod_auth_openidc {} at {}", module_version(), apache.url);
    tokio::time::timeout(Duration::from_secs(120), journey(&stack, &apache))
        .await
        .unwrap_or_else(|_| panic!("the journey took over 120 s\n{}", apache.logs()));
    let complaints = apache.complaints();
    println!(
        "mod_auth_openidc errors and warnings: {}\n{}",
        complaints.len(),
        complaints.join("\n")
    );
    assert!(
        !complaints.iter().any(|l| !l.contains(":warn]")),
        "mod_auth_openidc logged errors along a journey that worked:\n{}",
        complaints.join("\n")
    );
    apache.stop().await;
}

async fn journey(stack: &Stack, apache: &Apache) {
    let protected = format!("{}/protected/", apache.url);
    let callback = format!("{}/callback", apache.url);
    let mut browser = Browser::new(&stack.issuer);

    // 1. The protected page sends the browser to the issuer's authorization endpoint, found by
    //    discovery, with PKCE S256 and the registered loopback callback on apache's port.
    let first = browser.get(&protected).await;
    let authorize = first
        .location()
        .filter(|l| l.starts_with(&format!("{}/oauth2/authorize?", stack.issuer)))
        .unwrap_or_else(|| {
            panic!(
                "{}",
                apache.explain("a redirect to the issuer's authorize endpoint", &first)
            )
        })
        .to_owned();
    assert_eq!(first.status, 302, "{}", apache.explain("302", &first));
    let request = query(&authorize);
    assert_eq!(param(&request, "response_type"), Some("code"));
    assert_eq!(param(&request, "client_id"), Some(WEB_CLIENT));
    assert_eq!(param(&request, "redirect_uri"), Some(callback.as_str()));
    assert_eq!(param(&request, "code_challenge_method"), Some("S256"));
    assert!(param(&request, "code_challenge").is_some_and(|c| c.len() == 43));
    assert!(param(&request, "nonce").is_some_and(|n| !n.is_empty()));
    let state = param(&request, "state").expect("a state").to_owned();
    let scopes: Vec<&str> = param(&request, "scope").unwrap_or("").split(' ').collect();
    for scope in ["openid", "profile", "email"] {
        assert!(scopes.contains(&scope), "scope {scope} in {authorize}");
    }

    // 2. Login page, consent, back to apache's callback with code, state and iss.
    let login = browser.get(&authorize).await;
    assert!(login.is_login_form(), "the login form: {}", login.body);
    let consent = browser.log_in(&login, "alice", PASSWORD).await;
    assert!(
        consent.is_consent_page(),
        "the consent page: {}",
        consent.body
    );
    let back = browser
        .submit(&consent, "/oauth2/consent", &[("decision", "allow")])
        .await;
    let to_callback = back.location().unwrap_or_default().to_owned();
    assert!(
        to_callback.starts_with(&format!("{callback}?")),
        "the issuer sends the browser back to apache: {} {to_callback}",
        back.status
    );
    let answer = query(&to_callback);
    assert_eq!(param(&answer, "state"), Some(state.as_str()));
    assert_eq!(param(&answer, "iss"), Some(stack.issuer.as_str()));
    assert!(param(&answer, "code").is_some());

    // 3. mod_auth_openidc redeems the code (client_secret_basic, code_verifier), verifies the
    //    id_token, reads UserInfo, and sends the browser back to the page it asked for.
    let redeemed = browser.get(&to_callback).await;
    assert!(
        redeemed.status.is_redirection() && redeemed.location() == Some(protected.as_str()),
        "{}",
        apache.explain(
            &format!("the callback redirects to {protected} after the code exchange"),
            &redeemed
        )
    );
    assert!(
        stack
            .metric(
                &stack.issuer,
                r#"portcullis_audit_events_total{event="token_issued"}"#
            )
            .await
            >= 1,
        "the issuer's token endpoint issued the tokens"
    );

    // 4. The page, with alice's identity and claims as the application behind apache sees them.
    let page = browser.get(&protected).await;
    assert_eq!(
        page.status,
        200,
        "{}",
        apache.explain("the protected page", &page)
    );
    assert!(page.body.contains("behind mod_auth_openidc"));
    assert_eq!(header(&page, "x-remote-user"), "alice");
    assert_eq!(header(&page, "x-claim-sub"), "alice");
    assert_eq!(header(&page, "x-claim-iss"), stack.issuer);
    assert_eq!(header(&page, "x-claim-name"), "Alice Liddell");
    assert_eq!(header(&page, "x-claim-email"), "alice@example.com");

    // 5. RP-initiated logout: apache ends its session and sends the browser to the issuer's
    //    end_session_endpoint with the id_token as hint; the issuer ends its session (a valid
    //    hint needs no confirmation) and returns to the registered loopback post-logout URI.
    let logged_out = format!("{}/logged-out", apache.url);
    let mut logout = Url::parse(&callback).unwrap();
    logout.query_pairs_mut().append_pair("logout", &logged_out);
    let leaving = browser.get(logout.as_str()).await;
    let end_session = leaving
        .location()
        .filter(|l| l.starts_with(&format!("{}/oauth2/logout?", stack.issuer)))
        .unwrap_or_else(|| {
            panic!(
                "{}",
                apache.explain("a redirect to the issuer's end_session_endpoint", &leaving)
            )
        })
        .to_owned();
    assert!(
        stack
            .metric(
                &stack.issuer,
                r#"portcullis_audit_events_total{event="token_revoked"}"#
            )
            .await
            >= 1,
        "mod_auth_openidc revoked its tokens at the revocation_endpoint\n{}",
        apache.logs()
    );
    let ending = query(&end_session);
    assert!(param(&ending, "id_token_hint").is_some(), "{end_session}");
    assert_eq!(
        param(&ending, "post_logout_redirect_uri"),
        Some(logged_out.as_str())
    );
    let ended = browser.get(&end_session).await;
    assert!(
        ended.status.is_redirection()
            && ended.location().is_some_and(|l| l.starts_with(&logged_out)),
        "the issuer logs out at once and returns to {logged_out}: {} {:?}\n{}",
        ended.status,
        ended.location(),
        ended.body
    );
    assert!(
        stack
            .metric(
                &stack.issuer,
                r#"portcullis_audit_events_total{event="logout"}"#
            )
            .await
            >= 1,
        "the issuer audited the logout"
    );

    // 6. Both sessions are gone: the protected page goes to the issuer, which asks for a login.
    let again = browser.get(&protected).await;
    let authorize = again
        .location()
        .filter(|l| l.starts_with(&format!("{}/oauth2/authorize?", stack.issuer)))
        .unwrap_or_else(|| panic!("{}", apache.explain("a new login after logout", &again)))
        .to_owned();
    let login = browser.get(&authorize).await;
    assert!(
        login.is_login_form(),
        "the issuer's session ended, so it asks for a login: {} {}",
        login.status,
        login.body
    );
}
