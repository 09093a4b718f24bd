//! One trace across both services, collected by an OTLP/HTTP receiver in the test: a request to
//! the data API (a child process exporting as `data-api`) that carries a `traceparent` and a
//! token signed by a key the data API has not seen makes it fetch the issuer's JWKS; the issuer
//! (in this process, exporting as `auth-issuer`) answers within the same trace, under the data
//! API's client span. No span attribute may carry the token.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A span as the receiver keeps it.
#[derive(Clone, Debug)]
struct Collected {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: Vec<(String, String)>,
}

type Spans = Arc<Mutex<Vec<Collected>>>;

async fn receive(State(spans): State<Spans>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
    let mut spans = spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .map(|a| text(a.value.as_ref().and_then(|v| v.value.as_ref())))
            .unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(Collected {
                service: service.clone(),
                name: span.name,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                attributes: span
                    .attributes
                    .iter()
                    .map(|a| {
                        (
                            a.key.clone(),
                            text(a.value.as_ref().and_then(|v| v.value.as_ref())),
                        )
                    })
                    .collect(),
            });
        }
    }
    ""
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The data API as a child process; killed when dropped.
struct DataApi(Child);

impl Drop for DataApi {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn users_file() -> String {
    let hash = portcullis_directory::hash_password("correct horse").expect("hash");
    format!(
        "[[users]]\nusername = \"alice\"\npassword_hash = \"{hash}\"\nscopes = [\"items:read\"]\n\n\
         [[clients]]\nclient_id = \"portcullis-cli\"\ngrants = [\"password\"]\nscopes = [\"items:read\"]\naudience = [\"data-api\"]\n"
    )
}

#[test]
fn a_jwks_fetch_caused_by_a_request_joins_the_callers_trace_across_both_services() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let spans = Spans::default();
    let receiver = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(spans.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });
    let endpoint = format!("http://{receiver}");
    // This process plays the issuer; its exporter reads the standard variables.
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    let telemetry = portcullis_telemetry::init("auth-issuer");

    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(
        keys.join("a.pem"),
        portcullis_jwt::generate_rsa_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(dir.path().join("users.toml"), users_file()).unwrap();

    let issuer = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut config = auth_issuer::Args::defaults();
        config.issuer_url = url.clone();
        config.keys_dir = Some(keys.clone());
        config.users_file = Some(dir.path().join("users.toml"));
        config.keys_reload_interval = Duration::from_millis(100);
        config.jwks_max_age = Duration::from_secs(1);
        // The test logs alice in until the new key signs; don't let the login limit refuse it.
        let generous = portcullis_domain::ratelimit::RateLimitPolicy::parse("1000/min").unwrap();
        config.login_rate_limit = generous.clone();
        config.ip_rate_limit = generous;
        let settings = auth_issuer::Settings::try_from(config).unwrap();
        let app = auth_issuer::build_with_listener(settings, listener)
            .await
            .unwrap();
        tokio::spawn(app.run());
        url
    });

    let mut child = Command::new(env!("CARGO_BIN_EXE_data-api"))
        .env_clear()
        .env("DATA_API_LISTEN", "127.0.0.1:0")
        .env("DATA_API_ISSUER", &issuer)
        .env(
            "DATA_API_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("items.db").display()),
        )
        .env("DATA_API_JWKS_UNKNOWN_KID_COOLDOWN", "1s")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_SERVICE_NAME", "data-api")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("PORTCULLIS_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the data-api binary");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let data_api_guard = DataApi(child);
    let mut lines = stderr.lines();
    let data_api = loop {
        let line = lines
            .next()
            .expect("the data API logs where it listens")
            .unwrap();
        let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if log["message"] == "data api listening" {
            break format!("http://{}", log["addr"].as_str().unwrap());
        }
    };
    std::thread::spawn(move || lines.for_each(drop));

    let http = reqwest::blocking::Client::new();
    let ready = || {
        http.get(format!("{data_api}/readyz"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    };
    wait_until("the data API loads the issuer's keys", ready);

    let login = || -> String {
        let body: serde_json::Value = http
            .post(format!("{issuer}/oauth2/token"))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "portcullis-cli"),
                ("username", "alice"),
                ("password", "correct horse"),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap();
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {body}"))
            .to_string()
    };
    let first = login();
    // Rotate to a key the data API has not seen: its next token makes it refetch the JWKS.
    std::fs::write(
        keys.join("b.pem"),
        portcullis_jwt::generate_rsa_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(keys.join("ACTIVE"), "b.pem").unwrap();
    wait_until("the issuer publishes the new key", || {
        let jwks: serde_json::Value = http
            .get(format!("{issuer}/.well-known/jwks.json"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        jwks["keys"].as_array().is_some_and(|keys| keys.len() == 2)
    });
    let mut token = first.clone();
    wait_until("the issuer signs with the new key", || {
        token = login();
        kid(&token) != kid(&first)
    });
    // The data API's unknown-kid cool-down (1 s) since its start-up fetch must have passed.
    std::thread::sleep(Duration::from_millis(1200));

    let trace_id = format!("{:032x}", rand_u128());
    let caller_span = "1f2e3d4c5b6a7980";
    let response = http
        .get(format!("{data_api}/v1/items/nothing-here"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .unwrap();
    // An unknown key is refused at once; the refetch it triggers runs in the background, in
    // this request's trace.
    assert_eq!(
        response.status(),
        401,
        "answered without waiting for the refetch"
    );
    wait_until("the data API accepts the new key", || {
        http.get(format!("{data_api}/v1/items/nothing-here"))
            .bearer_auth(&token)
            .send()
            .is_ok_and(|r| r.status() == 404)
    });

    let in_trace = |spans: &Spans| -> Vec<Collected> {
        spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    };
    wait_until("both services export the trace", || {
        let spans = in_trace(&spans);
        spans
            .iter()
            .any(|s| s.service == "auth-issuer" && s.name == "GET /.well-known/jwks.json")
            && spans
                .iter()
                .any(|s| s.service == "data-api" && s.name == "GET /v1/items/{id}")
    });
    let trace = in_trace(&spans);
    let find = |service: &str, name: &str| {
        trace
            .iter()
            .find(|s| s.service == service && s.name == name)
            .unwrap_or_else(|| panic!("no {service} span {name:?} in {trace:#?}"))
    };
    let server = find("data-api", "GET /v1/items/{id}");
    assert_eq!(
        server.parent_span_id, caller_span,
        "the caller's span is the parent"
    );
    let attribute = |span: &Collected, key: &str| {
        span.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        attribute(server, "http.route").as_deref(),
        Some("/v1/items/{id}")
    );
    assert_eq!(
        attribute(server, "http.response.status_code").as_deref(),
        Some("401")
    );

    let jwks_served = find("auth-issuer", "GET /.well-known/jwks.json");
    let client_call = trace
        .iter()
        .find(|s| s.span_id == jwks_served.parent_span_id)
        .expect("the issuer's span has a parent in the trace");
    assert_eq!(client_call.service, "data-api");
    assert!(
        attribute(client_call, "url.full").is_some_and(|u| u.ends_with("/.well-known/jwks.json")),
        "{client_call:?}"
    );
    // Walk up from the client call: it descends from the data API's request span (the
    // background refetch was spawned inside it).
    let mut ancestor = client_call.clone();
    while ancestor.span_id != server.span_id {
        ancestor = trace
            .iter()
            .find(|s| s.span_id == ancestor.parent_span_id)
            .unwrap_or_else(|| panic!("{ancestor:?} has no parent in the trace"))
            .clone();
    }
    for name in ["verify_token", "jwks_fetch"] {
        find("data-api", name);
    }

    for span in spans.lock().unwrap().iter() {
        for (key, value) in &span.attributes {
            for secret in [&token, &first] {
                assert!(
                    !value.contains(secret.as_str()),
                    "{key} of {} carries a token",
                    span.name
                );
            }
            assert!(
                !value.contains("correct horse"),
                "{key} of {} carries a password",
                span.name
            );
        }
    }
    drop(data_api_guard);
    telemetry.shutdown();
}

fn kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&header).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string()
}

fn rand_u128() -> u128 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    nanos ^ (u128::from(std::process::id()) << 64) | 1
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
