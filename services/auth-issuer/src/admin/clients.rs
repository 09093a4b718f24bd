//! `/admin/v1/clients`: create, read, page through, re-scope, rotate the secret of and delete
//! clients. A confidential client's secret is generated here and answered once (on creation
//! and on rotation); only its argon2id hash is kept, and no answer carries it.

use super::auth::Actor;
use super::{
    answer, hash, invalid, json_body, location, no_content, page, paged, store_problem, AdminState,
    PageQuery,
};
use crate::audit::{AuditEvent, Origin};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::{header, HeaderValue, StatusCode};
use portcullis_directory::ClientSpec;
use portcullis_domain::cause::Chain;
use portcullis_domain::directory::ClientRecord;
use portcullis_domain::directory_admin::ClientChange;
use portcullis_domain::identity::ClientId;
use portcullis_domain::scope::ScopeSet;
use portcullis_http::problem::Problem;
use serde::{Deserialize, Serialize};

/// A new client: the users file's client entry, with `confidential` instead of a secret hash.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewClient {
    /// The client id (unique among clients and users).
    client_id: String,
    /// Give it a generated secret, answered once; without, it is public (PKCE only).
    #[serde(default)]
    confidential: bool,
    /// RFC grant type strings, e.g. `client_credentials`.
    grants: Vec<String>,
    /// The most its tokens may grant.
    #[serde(default)]
    scopes: Vec<String>,
    /// The `aud` of its access tokens.
    audience: Vec<String>,
    /// Where authorization responses may go (exact; loopback IPs: any port).
    #[serde(default)]
    redirect_uris: Vec<String>,
    /// Where the browser may go after logout.
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    /// First party: its users see no consent page.
    #[serde(default)]
    trusted: bool,
    /// The algorithm of its id_tokens.
    #[serde(default)]
    id_token_signed_response_alg: Option<String>,
    /// Its tokens must be DPoP-bound.
    #[serde(default)]
    dpop_bound_access_tokens: bool,
}

/// A client as the admin API shows it: whether it is confidential, never its secret's hash.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClientView {
    client_id: String,
    confidential: bool,
    grants: Vec<String>,
    scopes: Vec<String>,
    audience: Vec<String>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    trusted: bool,
    id_token_signed_response_alg: Option<String>,
    dpop_bound_access_tokens: bool,
    /// Only when the client was just created confidential: its secret, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

impl From<&ClientRecord> for ClientView {
    fn from(client: &ClientRecord) -> Self {
        let spec = ClientSpec::from(client);
        Self {
            client_id: spec.client_id,
            confidential: spec.secret_hash.is_some(),
            grants: spec.grants,
            scopes: spec.scopes,
            audience: spec.audience,
            redirect_uris: spec.redirect_uris,
            post_logout_redirect_uris: spec.post_logout_redirect_uris,
            trusted: spec.trusted,
            id_token_signed_response_alg: spec.id_token_signed_response_alg,
            dpop_bound_access_tokens: spec.dpop_bound_access_tokens,
            client_secret: None,
        }
    }
}

/// One page of clients in id order.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClientPage {
    clients: Vec<ClientView>,
    /// The `after` of the next page; `null` on the last one.
    next: Option<String>,
}

/// A change to a client's scopes (the one change besides its secret the store makes in place).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientPatch {
    /// The new scopes; its next refresh is narrowed to them.
    scopes: Vec<String>,
}

/// A rotated secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClientSecret {
    client_id: String,
    /// The new secret; the old one no longer works.
    client_secret: String,
}

/// An id that cannot be a client's names no client.
fn client_id(id: &str) -> Result<ClientId, Problem> {
    ClientId::new(id).map_err(|_| Problem::not_found().detail("no such client"))
}

/// A new random secret and its hash.
async fn new_secret() -> Result<(String, portcullis_domain::secret::Secret), Problem> {
    let secret = portcullis_domain::encoding::random_token();
    // A generated secret has 256 bits: the cheapest argon2id cost is plenty.
    let hashed = hash(
        secret.clone(),
        portcullis_directory::HashParams::OWASP_MINIMUM,
    )
    .await?;
    Ok((secret, hashed))
}

async fn view(admin: &AdminState, id: &ClientId) -> Result<Response, Problem> {
    let client = admin.store.client(id).await.map_err(|error| {
        tracing::error!(error = %Chain(&error), "identity store failed");
        Problem::unavailable()
    })?;
    let client = client.ok_or_else(|| Problem::not_found().detail("no such client"))?;
    Ok(answer(StatusCode::OK, ClientView::from(&client)))
}

/// `POST /admin/v1/clients`.
#[utoipa::path(post, path = "/admin/v1/clients", tag = "admin", security(("admin_bearer" = [])),
    request_body = NewClient,
    responses((status = 201, description = "Created; a confidential client's secret is in `client_secret`, shown once.",
        body = ClientView, headers(("Location" = String, description = "The new client's URL"))),
        super::doc::AdminErrors))]
pub(crate) async fn create_client(
    State(admin): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Extension(origin): Extension<Origin>,
    body: Result<Json<NewClient>, JsonRejection>,
) -> Result<Response, Problem> {
    let new = json_body(body)?;
    let secret = match new.confidential {
        true => Some(new_secret().await?),
        false => None,
    };
    let spec = ClientSpec {
        client_id: new.client_id,
        secret_hash: secret.as_ref().map(|(_, hash)| hash.expose().to_owned()),
        grants: new.grants,
        scopes: new.scopes,
        audience: new.audience,
        redirect_uris: new.redirect_uris,
        post_logout_redirect_uris: new.post_logout_redirect_uris,
        trusted: new.trusted,
        id_token_signed_response_alg: new.id_token_signed_response_alg,
        dpop_bound_access_tokens: new.dpop_bound_access_tokens,
    };
    let record = spec.validate().map_err(invalid)?;
    let mut view = ClientView::from(&record);
    admin
        .store
        .create_client(record)
        .await
        .map_err(store_problem)?;
    let event = AuditEvent::AdminClientCreated {
        client_id: &view.client_id,
    };
    admin.audit(event, &actor, &origin);
    let url = HeaderValue::from_str(&location("clients", &view.client_id));
    view.client_secret = secret.map(|(secret, _)| secret);
    let mut response = answer(StatusCode::CREATED, &view);
    if let Ok(url) = url {
        response.headers_mut().insert(header::LOCATION, url);
    }
    Ok(response)
}

/// `GET /admin/v1/clients`.
#[utoipa::path(get, path = "/admin/v1/clients", tag = "admin", security(("admin_bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of clients.", body = ClientPage),
        super::doc::AdminErrors))]
pub(crate) async fn list_clients(
    State(admin): State<AdminState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let (after, limit) = page(query)?;
    let records = admin
        .store
        .clients(after.as_deref(), limit + 1)
        .await
        .map_err(store_problem)?;
    let (records, next) = paged(records, limit, |c| c.client_id.to_string());
    let clients = records.iter().map(ClientView::from).collect();
    Ok(answer(StatusCode::OK, ClientPage { clients, next }))
}

/// `GET /admin/v1/clients/{id}`.
#[utoipa::path(get, path = "/admin/v1/clients/{id}", tag = "admin", security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The client id")),
    responses((status = 200, description = "The client.", body = ClientView),
        super::doc::AdminErrors))]
pub(crate) async fn get_client(
    State(admin): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    view(&admin, &client_id(&id)?).await
}

/// `PATCH /admin/v1/clients/{id}`.
#[utoipa::path(patch, path = "/admin/v1/clients/{id}", tag = "admin", security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The client id")),
    request_body = ClientPatch,
    responses((status = 200, description = "The client as changed.", body = ClientView),
        super::doc::AdminErrors))]
pub(crate) async fn update_client(
    State(admin): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
    body: Result<Json<ClientPatch>, JsonRejection>,
) -> Result<Response, Problem> {
    let id = client_id(&id)?;
    let patch = json_body(body)?;
    let scopes = ScopeSet::from_strs(patch.scopes.iter().map(String::as_str)).map_err(invalid)?;
    let change = ClientChange::Scopes(scopes);
    change_client(&admin, (&actor, &origin), &id, change, "scopes").await?;
    view(&admin, &id).await
}

/// `POST /admin/v1/clients/{id}/secret`: rotation.
#[utoipa::path(post, path = "/admin/v1/clients/{id}/secret", tag = "admin", security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The client id")),
    responses((status = 200, description = "The new secret, shown once; the old one no longer works.",
        body = ClientSecret),
        super::doc::AdminErrors))]
pub(crate) async fn rotate_secret(
    State(admin): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = client_id(&id)?;
    let (secret, hashed) = new_secret().await?;
    let change = ClientChange::Secret(hashed);
    change_client(&admin, (&actor, &origin), &id, change, "secret").await?;
    let body = ClientSecret {
        client_id: id.to_string(),
        client_secret: secret,
    };
    Ok(answer(StatusCode::OK, body))
}

/// Applies one change to a client, in one transaction, and audits it as `what`.
async fn change_client(
    admin: &AdminState,
    (actor, origin): (&Actor, &Origin),
    id: &ClientId,
    change: ClientChange,
    what: &'static str,
) -> Result<(), Problem> {
    admin
        .store
        .update_client(id, change)
        .await
        .map_err(store_problem)?;
    let event = AuditEvent::AdminClientChanged {
        client_id: id.as_str(),
        change: what,
    };
    admin.audit(event, actor, origin);
    Ok(())
}

/// `DELETE /admin/v1/clients/{id}`.
#[utoipa::path(delete, path = "/admin/v1/clients/{id}", tag = "admin", security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The client id")),
    responses((status = 204, description = "Deleted; its refresh tokens no longer work."),
        super::doc::AdminErrors))]
pub(crate) async fn delete_client(
    State(admin): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = client_id(&id)?;
    admin
        .store
        .delete_client(&id)
        .await
        .map_err(store_problem)?;
    let event = AuditEvent::AdminClientDeleted {
        client_id: id.as_str(),
    };
    admin.audit(event, &actor, &origin);
    Ok(no_content())
}
