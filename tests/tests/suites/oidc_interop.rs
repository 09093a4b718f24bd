//! The `openidconnect` crate, a strict independent relying party, against the issuer: it must
//! accept discovery (it once stopped at `missing field authorization_endpoint`), run the code
//! flow with PKCE, and verify the id_token's signature, nonce and `at_hash`, and read UserInfo.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use portcullis_tests::{Browser, Stack, CALLBACK_ON_PORT, PASSWORD, WEB_CLIENT};

#[tokio::test]
async fn the_openidconnect_crate_discovers_logs_in_and_verifies_the_id_token() {
    let stack = Stack::start().await;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let issuer = IssuerUrl::new(stack.issuer.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .expect("the crate accepts the discovery document and the JWKS");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(WEB_CLIENT.into()),
        Some(ClientSecret::new(PASSWORD.into())),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK_ON_PORT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let mut browser = Browser::new(&stack.issuer);
    let page = browser.get(url.as_str()).await;
    let consent = browser.log_in(&page, "alice", PASSWORD).await;
    let back = browser
        .submit(&consent, "/oauth2/consent", &[("decision", "allow")])
        .await;
    assert_eq!(
        back.redirect_param("state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        back.redirect_param("iss").as_deref(),
        Some(stack.issuer.as_str())
    );
    let code = back.redirect_param("code").expect("a code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("discovery named a token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = tokens.id_token().expect("an id_token");
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("signature, issuer, audience, expiry and nonce verify");
    assert_eq!(claims.subject().as_str(), "alice");
    let expected = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .expect("discovery named a userinfo endpoint")
        .request_async(&http)
        .await
        .expect("UserInfo answers");
    assert_eq!(info.subject().as_str(), "alice");
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("alice"));
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));
}
