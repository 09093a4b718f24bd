//! What both services' OpenAPI documents share: the problem schema, the bearer security scheme,
//! the answers every protected route can give (401, 403, 429, 503 with their headers), the
//! operations endpoints, and the `/openapi.json` route. Each service describes its own routes on
//! its handlers; this module adds what would otherwise be repeated on every one of them.

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::header;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};

/// The security scheme name the services' operations refer to.
pub const BEARER: &str = "bearer";

/// The operations endpoints every service serves.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        crate::health::healthz,
        crate::health::readyz,
        crate::metrics::metrics_handler
    ),
    components(schemas(crate::problem::Problem))
)]
pub struct OperationsApi;

/// Adds the bearer-JWT security scheme and the operations endpoints to a service's document,
/// and states that optional parameters are absent rather than `null` (a header or query value
/// is never JSON null, and fuzzers would otherwise send the text "null").
pub fn complete(mut doc: OpenApi) -> OpenApi {
    doc.merge(<OperationsApi as utoipa::OpenApi>::openapi());
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            for parameter in operation.parameters.iter_mut().flatten() {
                if let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() {
                    if let SchemaType::Array(types) = &schema.schema_type {
                        let types: Vec<Type> = types
                            .iter()
                            .filter(|t| **t != Type::Null)
                            .cloned()
                            .collect();
                        if let [single] = types.as_slice() {
                            schema.schema_type = SchemaType::Type(single.clone());
                        }
                    }
                }
            }
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An RS256 access token (RFC 9068) from the auth issuer.",
                ))
                .build(),
        ),
    );
    doc
}

/// Adds to every operation whose path starts with `prefix` the answers the shared layers give
/// (bearer authentication, rate limits, overload) and the rate-limit headers on its answers.
pub fn protect(doc: &mut OpenApi, prefix: &str) {
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with(prefix) {
            continue;
        }
        for operation in operations(item) {
            add_layer_answers(operation);
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

fn add_layer_answers(operation: &mut Operation) {
    let answers = [
        ("400", "The request is malformed (problem details say how)."),
        (
            "401",
            "No valid access token (`WWW-Authenticate: Bearer error=\"invalid_token\"`).",
        ),
        (
            "403",
            "The token lacks the required scope (`WWW-Authenticate: Bearer error=\"insufficient_scope\"`).",
        ),
        (
            "429",
            "A rate limit is exhausted; `Retry-After` says when to retry.",
        ),
        (
            "503",
            "Overloaded, timed out, or a dependency is down; retry later.",
        ),
    ];
    for (status, description) in answers {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(problem_response(description).build()));
    }
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        response
            .headers
            .entry("RateLimit-Policy".into())
            .or_insert_with(|| header_doc("The limits that apply: IETF draft `RateLimit-Policy`."));
        response
            .headers
            .entry("RateLimit".into())
            .or_insert_with(|| {
                header_doc("What is left of the closest limit: IETF draft `RateLimit`.")
            });
        if status == "401" || status == "403" {
            response
                .headers
                .entry("WWW-Authenticate".into())
                .or_insert_with(|| header_doc("The RFC 6750 Bearer challenge."));
        }
        if status == "429" || status == "503" {
            response
                .headers
                .entry("Retry-After".into())
                .or_insert_with(|| header_doc("Seconds to wait before retrying."));
        }
    }
}

/// A response whose body is a problem document.
pub fn problem_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    )
}

fn header_doc(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(description))
        .build()
}

/// `GET /openapi.json`: the document, serialised once at start-up.
pub fn route(doc: &OpenApi) -> Router {
    let json = Bytes::from(doc.to_json().unwrap_or_default());
    Router::new().route(
        "/openapi.json",
        get(move || {
            let json = json.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], json) }
        }),
    )
}
