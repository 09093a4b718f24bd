//! The identity store contract: what every directory answers (the users file, SQLite and
//! PostgreSQL alike) and what every writable one does with a change. Each adapter's tests run it
//! on seeds with fresh names, so one database can serve many runs.

use crate::password::hash_password;
use crate::spec::{ClientSpec, UserSpec};
use portcullis_domain::directory::UserDirectory;
use portcullis_domain::directory_admin::{AdminError, ClientChange, DirectoryAdmin, UserChange};
use portcullis_domain::identity::{ClientId, Username};
use portcullis_domain::scope::ScopeSet;
use portcullis_domain::secret::Secret;
use portcullis_domain::testkit::unique;

/// A user with a profile, and a public and a confidential client, under fresh names.
pub fn seed() -> (Vec<UserSpec>, Vec<ClientSpec>) {
    let hash = hash_password("correct horse").expect("hash");
    let user = UserSpec {
        username: unique("ada"),
        password_hash: hash.clone(),
        scopes: vec!["items:read".into(), "items:write".into()],
        name: Some("Ada Lovelace".into()),
        email: Some("ada@example.com".into()),
        subject: None,
    };
    let public = ClientSpec {
        client_id: unique("spa"),
        grants: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "items:read".into()],
        audience: vec!["data-api".into()],
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        trusted: true,
        id_token_signed_response_alg: Some("ES256".into()),
        ..ClientSpec::default()
    };
    let confidential = ClientSpec {
        client_id: unique("job"),
        secret_hash: Some(hash),
        grants: vec!["client_credentials".into()],
        scopes: vec!["items:read".into()],
        audience: vec!["data-api".into()],
        dpop_bound_access_tokens: true,
        ..ClientSpec::default()
    };
    (vec![user], vec![public, confidential])
}

/// The seed as a users file.
pub fn seed_toml(users: &[UserSpec], clients: &[ClientSpec]) -> String {
    #[derive(serde::Serialize)]
    struct File<'a> {
        users: &'a [UserSpec],
        clients: &'a [ClientSpec],
    }
    toml::to_string(&File { users, clients }).expect("TOML")
}

/// What a directory holding the seed answers: every record as written, nothing for names it
/// does not hold or that no user can have.
pub async fn reads(directory: &dyn UserDirectory, users: &[UserSpec], clients: &[ClientSpec]) {
    for spec in users {
        let found = directory
            .user_named(&spec.username)
            .await
            .expect("lookup")
            .unwrap_or_else(|| panic!("user {} is there", spec.username));
        assert_eq!(UserSpec::from(&found).username, spec.username);
        assert_eq!(UserSpec::from(&found).scopes, spec.scopes);
        assert_eq!(
            (found.name.as_ref(), found.email.as_ref()),
            (spec.name.as_ref(), spec.email.as_ref())
        );
        assert_eq!(found.password_hash.expose(), spec.password_hash);
        let subject = spec.subject.as_deref().unwrap_or(&spec.username);
        assert_eq!(found.subject.as_str(), subject);
        let by_subject = directory.user_by_subject(subject).await.expect("lookup");
        assert_eq!(by_subject.map(|u| u.username), Some(found.username));
    }
    assert!(directory
        .user_by_subject(&unique("nobody"))
        .await
        .expect("lookup")
        .is_none());
    for spec in clients {
        let id = ClientId::new(spec.client_id.as_str()).expect("id");
        let found = directory
            .client(&id)
            .await
            .expect("lookup")
            .expect("client is there");
        let written = spec.clone().validate().expect("valid seed");
        assert_eq!(
            ClientSpec::from(&found).grants,
            ClientSpec::from(&written).grants
        );
        assert_eq!(found.scopes, written.scopes);
        assert_eq!(found.audience, written.audience);
        assert_eq!(found.redirect_uris, written.redirect_uris);
        assert_eq!(found.trusted, written.trusted);
        assert_eq!(found.id_token_signing_alg, written.id_token_signing_alg);
        assert_eq!(found.dpop_bound, written.dpop_bound);
        assert_eq!(
            found.secret_hash.as_ref().map(Secret::expose),
            written.secret_hash.as_ref().map(Secret::expose)
        );
    }
    for name in [
        unique("nobody"),
        String::new(),
        "x".repeat(300),
        "a\nb".into(),
    ] {
        assert!(
            directory.user_named(&name).await.expect("lookup").is_none(),
            "{name:?}"
        );
    }
    let nobody = ClientId::new(unique("no-client")).expect("id");
    assert!(directory.client(&nobody).await.expect("lookup").is_none());
}

/// Writes the seed through `store`, checks the reads, then every kind of change.
pub async fn writes(store: &dyn DirectoryAdmin) {
    let (users, clients) = seed();
    for user in &users {
        store
            .create_user(user.clone().validate().expect("valid"))
            .await
            .expect("create user");
    }
    for client in &clients {
        store
            .create_client(client.clone().validate().expect("valid"))
            .await
            .expect("create client");
    }
    reads(store, &users, &clients).await;

    let ada = users[0].clone().validate().expect("valid");
    let name = ada.username.clone();
    assert!(matches!(
        store.create_user(ada.clone()).await,
        Err(AdminError::Duplicate(_))
    ));
    // A client may not take a user's name (its own tokens would speak for the user), nor the
    // other way round.
    let clash = ClientSpec {
        client_id: name.to_string(),
        ..clients[1].clone()
    };
    assert!(matches!(
        store.create_client(clash.validate().expect("valid")).await,
        Err(AdminError::Duplicate(_))
    ));
    let clash = UserSpec {
        username: clients[0].client_id.clone(),
        ..users[0].clone()
    };
    assert!(matches!(
        store.create_user(clash.validate().expect("valid")).await,
        Err(AdminError::Duplicate(_))
    ));

    // Disabled: no user to logins, still listed; enabled again: back, with older sessions over.
    store
        .update_user(&name, UserChange::Enabled(false))
        .await
        .expect("disable");
    assert!(store.user(&name).await.expect("lookup").is_none());
    let listed = store.users(None, 1000).await.expect("list");
    assert!(listed
        .iter()
        .any(|a| a.record.username == name && a.disabled));
    store
        .update_user(&name, UserChange::Enabled(true))
        .await
        .expect("enable");
    let back = store.user(&name).await.expect("lookup").expect("enabled");
    assert!(
        back.sessions_not_before > 0,
        "re-enabling does not revive old sessions"
    );

    let narrower = ScopeSet::parse("items:read").expect("scope");
    store
        .update_user(&name, UserChange::Scopes(narrower.clone()))
        .await
        .expect("scopes");
    let new_hash = Secret::new(hash_password("another horse").expect("hash"));
    store
        .update_user(&name, UserChange::Password(new_hash.clone()))
        .await
        .expect("password");
    store
        .update_user(
            &name,
            UserChange::Profile {
                name: None,
                email: Some("a@example.org".into()),
            },
        )
        .await
        .expect("profile");
    let changed = store.user(&name).await.expect("lookup").expect("user");
    assert_eq!(changed.scopes, narrower);
    assert_eq!(changed.password_hash.expose(), new_hash.expose());
    assert_eq!(
        (changed.name, changed.email.as_deref()),
        (None, Some("a@example.org"))
    );
    let bad_email = UserChange::Profile {
        name: None,
        email: Some("not an address".into()),
    };
    assert!(matches!(
        store.update_user(&name, bad_email).await,
        Err(AdminError::Invalid(_))
    ));

    let public = ClientId::new(clients[0].client_id.as_str()).expect("id");
    let confidential = ClientId::new(clients[1].client_id.as_str()).expect("id");
    assert!(matches!(
        store
            .update_client(&public, ClientChange::Secret(new_hash.clone()))
            .await,
        Err(AdminError::Invalid(_))
    ));
    store
        .update_client(&confidential, ClientChange::Secret(new_hash.clone()))
        .await
        .expect("rotate");
    let rotated = store
        .client(&confidential)
        .await
        .expect("lookup")
        .expect("client");
    assert_eq!(
        rotated.secret_hash.as_ref().map(Secret::expose),
        Some(new_hash.expose())
    );

    // Pages: every client once, in id order.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.clients(after.as_deref(), 1).await.expect("page");
        let Some(last) = page.last() else { break };
        after = Some(last.client_id.to_string());
        seen.extend(page.iter().map(|c| c.client_id.to_string()));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    assert!(clients.iter().all(|c| seen.contains(&c.client_id)));

    // An import is all or nothing: one clash and nothing of it is stored.
    let (fresh_users, _) = seed();
    let fresh = fresh_users[0].clone().validate().expect("valid");
    let clashing = clients[0].clone().validate().expect("valid");
    assert!(matches!(
        store.create_all(vec![fresh.clone()], vec![clashing]).await,
        Err(AdminError::Duplicate(_))
    ));
    assert!(store.user(&fresh.username).await.expect("lookup").is_none());

    store.delete_user(&name).await.expect("delete user");
    store
        .delete_client(&confidential)
        .await
        .expect("delete client");
    assert!(store.user(&name).await.expect("lookup").is_none());
    assert!(store.client(&confidential).await.expect("lookup").is_none());
    // A deleted user's subject is never given again: not by an import (which keeps names as
    // subjects), not as a client id (a client's tokens carry its id as subject).
    let old_subject = ada.subject.to_string();
    assert!(matches!(
        store.create_user(ada.clone()).await,
        Err(AdminError::Duplicate(_))
    ));
    let squatter = ClientSpec {
        client_id: old_subject.clone(),
        ..clients[1].clone()
    };
    assert!(matches!(
        store
            .create_client(squatter.validate().expect("valid"))
            .await,
        Err(AdminError::Duplicate(_))
    ));
    // The name given again with a new subject is a new person, with nothing of the old one's.
    let again = UserSpec {
        subject: Some(portcullis_domain::identity::new_subject()),
        ..users[0].clone()
    };
    store
        .create_user(again.validate().expect("valid"))
        .await
        .expect("create again");
    assert!(store
        .user_by_subject(&old_subject)
        .await
        .expect("lookup")
        .is_none());
    let recreated = store.user(&name).await.expect("lookup").expect("user");
    assert_ne!(recreated.subject.as_str(), old_subject);
    store.delete_user(&name).await.expect("delete again");
    assert!(matches!(
        store.delete_user(&name).await,
        Err(AdminError::NotFound(_))
    ));
    let ghost = Username::new(unique("ghost")).expect("name");
    assert!(matches!(
        store.update_user(&ghost, UserChange::Enabled(false)).await,
        Err(AdminError::NotFound(_))
    ));
}
