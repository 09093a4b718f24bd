//! `/admin/v1/users`: create, read, page through, change, set the password of and delete users.
//! Passwords meet the CLI's policy ([`MIN_PASSWORD_CHARS`]), are hashed off the async runtime
//! and never answered; no answer carries a hash.

use super::auth::Actor;
use super::{
    answer, hash, invalid, json_body, location, no_content, page, paged, store_problem, AdminState,
    PageQuery,
};
use crate::admin_cli::MIN_PASSWORD_CHARS;
use crate::audit::{AuditEvent, Origin};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::{header, HeaderValue, StatusCode};
use portcullis_directory::UserSpec;
use portcullis_domain::directory::UserRecord;
use portcullis_domain::directory_admin::{UserAccount, UserChange};
use portcullis_domain::identity::Username;
use portcullis_domain::scope::ScopeSet;
use portcullis_http::problem::Problem;
use serde::{Deserialize, Deserializer, Serialize};

/// A new user.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    /// The login name (unique among users and clients).
    username: String,
    /// At least 12 characters; kept as an argon2id hash and never shown again.
    password: String,
    /// The most the user's tokens may grant.
    #[serde(default)]
    scopes: Vec<String>,
    /// Display name, released with the `profile` scope.
    #[serde(default)]
    name: Option<String>,
    /// E-mail address, released with the `email` scope.
    #[serde(default)]
    email: Option<String>,
}

/// A user as the admin API shows it: no password hash.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserView {
    username: String,
    /// The `sub` of the user's tokens: stable, never reused.
    subject: String,
    scopes: Vec<String>,
    name: Option<String>,
    email: Option<String>,
    /// A disabled user cannot log in or refresh, but keeps its name.
    disabled: bool,
}

impl UserView {
    fn of(user: &UserRecord, disabled: bool) -> Self {
        Self {
            username: user.username.to_string(),
            subject: user.subject.to_string(),
            scopes: user.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            name: user.name.clone(),
            email: user.email.clone(),
            disabled,
        }
    }
}

/// One page of users in name order.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserPage {
    users: Vec<UserView>,
    /// The `after` of the next page; `null` on the last one.
    next: Option<String>,
}

/// One change to a user: exactly one of `scopes`, the profile (`name` and/or `email`; `null`
/// clears one) or `disabled`, since each is applied in a transaction of its own.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserPatch {
    /// The new scopes; the user's next refresh is narrowed to them.
    scopes: Option<Vec<String>>,
    /// The new display name.
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    /// The new e-mail address.
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    /// `true` ends the user's sessions and refuses their logins; `false` allows new ones.
    disabled: Option<bool>,
}

/// A new password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPassword {
    /// At least 12 characters; the user's existing sessions end.
    password: String,
}

/// A field that is present, even as `null` (which then clears the value).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The password policy of the admin CLI.
fn check_password(password: &str) -> Result<(), Problem> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// A name that cannot be a user's names no user.
fn username(name: &str) -> Result<Username, Problem> {
    Username::new(name).map_err(|_| Problem::not_found().detail("no such user"))
}

/// The user named `name`, enabled or not. The directory answers for enabled users only and the
/// admin port reads disabled ones only in pages, so a user it does not answer for is looked for
/// page by page (see docs/admin-api.md).
async fn account(admin: &AdminState, name: &Username) -> Result<Option<UserAccount>, Problem> {
    admin.store.account(name).await.map_err(store_problem)
}

async fn view(admin: &AdminState, name: &Username) -> Result<Response, Problem> {
    let account = account(admin, name)
        .await?
        .ok_or_else(|| Problem::not_found().detail("no such user"))?;
    Ok(answer(
        StatusCode::OK,
        UserView::of(&account.record, account.disabled),
    ))
}

/// `POST /admin/v1/users`.
#[utoipa::path(post, path = "/admin/v1/users", tag = "admin", security(("admin_bearer" = [])),
    request_body = NewUser,
    responses((status = 201, description = "Created.", body = UserView,
        headers(("Location" = String, description = "The new user's URL"))),
        super::doc::AdminErrors))]
pub(crate) async fn create_user(
    State(admin): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Extension(origin): Extension<Origin>,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<Response, Problem> {
    let new = json_body(body)?;
    check_password(&new.password)?;
    let params = admin.issuer.config.password_hash;
    let password_hash = hash(new.password, params).await?.expose().to_owned();
    let spec = UserSpec {
        username: new.username,
        password_hash,
        scopes: new.scopes,
        name: new.name,
        email: new.email,
        // A new user is a new subject, never the name: see UserRecord::subject.
        subject: Some(portcullis_domain::identity::new_subject()),
    };
    let record = spec.validate().map_err(invalid)?;
    let view = UserView::of(&record, false);
    admin
        .store
        .create_user(record)
        .await
        .map_err(store_problem)?;
    let event = AuditEvent::AdminUserCreated {
        username: &view.username,
    };
    admin.audit(event, &actor, &origin);
    let mut response = answer(StatusCode::CREATED, &view);
    if let Ok(url) = HeaderValue::from_str(&location("users", &view.username)) {
        response.headers_mut().insert(header::LOCATION, url);
    }
    Ok(response)
}

/// `GET /admin/v1/users`.
#[utoipa::path(get, path = "/admin/v1/users", tag = "admin", security(("admin_bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of users.", body = UserPage),
        super::doc::AdminErrors))]
pub(crate) async fn list_users(
    State(admin): State<AdminState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let (after, limit) = page(query)?;
    let accounts = admin
        .store
        .users(after.as_deref(), limit + 1)
        .await
        .map_err(store_problem)?;
    let (accounts, next) = paged(accounts, limit, |a| a.record.username.to_string());
    let users = accounts
        .iter()
        .map(|a| UserView::of(&a.record, a.disabled))
        .collect();
    Ok(answer(StatusCode::OK, UserPage { users, next }))
}

/// `GET /admin/v1/users/{name}`.
#[utoipa::path(get, path = "/admin/v1/users/{name}", tag = "admin", security(("admin_bearer" = [])),
    params(("name" = String, Path, description = "The login name")),
    responses((status = 200, description = "The user.", body = UserView),
        super::doc::AdminErrors))]
pub(crate) async fn get_user(
    State(admin): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    view(&admin, &username(&name)?).await
}

/// `PATCH /admin/v1/users/{name}`.
#[utoipa::path(patch, path = "/admin/v1/users/{name}", tag = "admin", security(("admin_bearer" = [])),
    params(("name" = String, Path, description = "The login name")),
    request_body = UserPatch,
    responses((status = 200, description = "The user as changed.", body = UserView),
        super::doc::AdminErrors))]
pub(crate) async fn update_user(
    State(admin): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Extension(origin): Extension<Origin>,
    Path(name): Path<String>,
    body: Result<Json<UserPatch>, JsonRejection>,
) -> Result<Response, Problem> {
    let name = username(&name)?;
    let patch = json_body(body)?;
    let profile = patch.name.is_some() || patch.email.is_some();
    let named = [patch.scopes.is_some(), profile, patch.disabled.is_some()];
    if named.iter().filter(|n| **n).count() != 1 {
        return Err(invalid(
            "name exactly one change: scopes, the profile (name, email) or disabled",
        ));
    }
    let (change, what) = if let Some(scopes) = patch.scopes {
        let scopes = ScopeSet::from_strs(scopes.iter().map(String::as_str)).map_err(invalid)?;
        (UserChange::Scopes(scopes), "scopes")
    } else if let Some(disabled) = patch.disabled {
        let what = if disabled { "disabled" } else { "enabled" };
        (UserChange::Enabled(!disabled), what)
    } else {
        // Absent fields keep their value, so the profile is read first.
        let current = account(&admin, &name)
            .await?
            .ok_or_else(|| Problem::not_found().detail("no such user"))?
            .record;
        let change = UserChange::Profile {
            name: patch.name.unwrap_or(current.name),
            email: patch.email.unwrap_or(current.email),
        };
        (change, "profile")
    };
    change_user(&admin, (&actor, &origin), &name, change, what).await?;
    view(&admin, &name).await
}

/// `PUT /admin/v1/users/{name}/password`.
#[utoipa::path(put, path = "/admin/v1/users/{name}/password", tag = "admin", security(("admin_bearer" = [])),
    params(("name" = String, Path, description = "The login name")),
    request_body = NewPassword,
    responses((status = 204, description = "Changed; the user's sessions have ended."),
        super::doc::AdminErrors))]
pub(crate) async fn set_password(
    State(admin): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Extension(origin): Extension<Origin>,
    Path(name): Path<String>,
    body: Result<Json<NewPassword>, JsonRejection>,
) -> Result<Response, Problem> {
    let name = username(&name)?;
    let new = json_body(body)?;
    check_password(&new.password)?;
    let hashed = hash(new.password, admin.issuer.config.password_hash).await?;
    let change = UserChange::Password(hashed);
    change_user(&admin, (&actor, &origin), &name, change, "password").await?;
    Ok(no_content())
}

/// Applies one change to a user, in one transaction, and audits it as `what`.
async fn change_user(
    admin: &AdminState,
    (actor, origin): (&Actor, &Origin),
    name: &Username,
    change: UserChange,
    what: &'static str,
) -> Result<(), Problem> {
    admin
        .store
        .update_user(name, change)
        .await
        .map_err(store_problem)?;
    let event = AuditEvent::AdminUserChanged {
        username: name.as_str(),
        change: what,
    };
    admin.audit(event, actor, origin);
    Ok(())
}

/// `DELETE /admin/v1/users/{name}`.
#[utoipa::path(delete, path = "/admin/v1/users/{name}", tag = "admin", security(("admin_bearer" = [])),
    params(("name" = String, Path, description = "The login name")),
    responses((status = 204, description = "Deleted; the user's sessions have ended."),
        super::doc::AdminErrors))]
pub(crate) async fn delete_user(
    State(admin): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Extension(origin): Extension<Origin>,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let name = username(&name)?;
    admin
        .store
        .delete_user(&name)
        .await
        .map_err(store_problem)?;
    admin.audit(
        AuditEvent::AdminUserDeleted {
            username: name.as_str(),
        },
        &actor,
        &origin,
    );
    Ok(no_content())
}
