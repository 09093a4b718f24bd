//! The whole system on real containers: the issuer and two data API replicas sharing one Redis
//! and one PostgreSQL.
//!
//! - A full journey: log in, write through one replica, read through the other, rotate the
//!   refresh token, hit a limit shared by both replicas, and rotate the issuer's signing key
//!   while calls continue.
//! - Faults under a bounded background load (a few clients, GETs and PUTs, every request bounded
//!   by a 2 s client timeout): Redis stopped, Redis paused (a hang, not a refusal), PostgreSQL
//!   stopped, the issuer killed. Each test prints its figures (requests, outcomes by status,
//!   worst latency per phase; run with `--no-capture`) and asserts the documented behaviour: no
//!   5xx but the intended 503 problems, no request beyond its timeout, full recovery once the
//!   dependency is back, and no acknowledged write lost.

use data_api::Config;
use portcullis_domain::ratelimit::RateLimitPolicy;
use portcullis_tests::{
    kid_of, now, sign_rs256, start_postgres, start_postgres_on_fixed_port, start_redis,
    start_redis_on_fixed_port, strict_refresh_reuse, Load, LoadOptions, LoadReport,
    PostgresContainer, RedisContainer, Stack, StackOptions, CLI_CLIENT,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every request of these tests must be answered within this bound; slower is a failure.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a dependency stays broken under load.
const FAULT: Duration = Duration::from_secs(3);

/// How long recovery may take once the dependency is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(20);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

fn access_token(body: &Value) -> String {
    body["access_token"].as_str().unwrap().to_string()
}

/// A refresh-token grant.
async fn refresh(stack: &Stack, refresh_token: &str) -> reqwest::Response {
    stack
        .http
        .post(format!("{}/oauth2/token", stack.issuer))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLI_CLIENT),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap()
}

/// The issuer, two data API replicas, one Redis and one PostgreSQL.
struct Rig {
    stack: Stack,
    replicas: Vec<String>,
    redis: RedisContainer,
    postgres: PostgresContainer,
}

#[derive(Default)]
struct RigOptions {
    /// Redis on a fixed host port, so it can be stopped and started again.
    fixed_redis_port: bool,
    /// PostgreSQL on a fixed host port, likewise.
    fixed_postgres_port: bool,
    /// Fast key rotation: the issuer re-reads its keys every 100 ms, replicas refresh every 1 s.
    fast_key_rotation: bool,
    /// The per-subject write limit (reads are never the bottleneck here).
    write_rate_limit: Option<&'static str>,
}

async fn rig(options: RigOptions) -> Rig {
    let redis = async {
        if options.fixed_redis_port {
            start_redis_on_fixed_port().await
        } else {
            start_redis().await
        }
    };
    let postgres = async {
        if options.fixed_postgres_port {
            start_postgres_on_fixed_port().await
        } else {
            start_postgres().await
        }
    };
    let (redis, postgres) = tokio::join!(redis, postgres);
    let database_url = postgres.url.clone();
    let write_rate_limit = options
        .write_rate_limit
        .map(|p| RateLimitPolicy::parse(p).unwrap());
    let stack_options = StackOptions {
        redis_url: Some(redis.url.clone()),
        issuer_redis_url: Some(redis.url.clone()),
        rate_limit: Some("100000/s".into()),
        fast_key_rotation: options.fast_key_rotation,
        data_api: Some(Arc::new(move |config: &mut Config| {
            config.database_url = database_url.clone();
            // Every client of these tests is 127.0.0.1: the per-IP flood limit is not under test.
            config.ip_rate_limit = RateLimitPolicy::parse("100000/s").unwrap();
            config.write_rate_limit = write_rate_limit.clone();
        })),
        // Step 4 re-presents a rotated refresh token at once: reuse, not a retry.
        issuer: strict_refresh_reuse(),
    };
    let stack = Stack::start_with(stack_options.clone()).await;
    let second = Stack::start_data_api(
        &stack.issuer,
        stack.dir.path().join("unused.db"),
        &stack_options,
    )
    .await;
    stack.wait_ready(&second).await;
    let replicas = vec![stack.data_api.clone(), second];
    Rig {
        stack,
        replicas,
        redis,
        postgres,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_journey_across_two_replicas_on_redis_and_postgres() {
    let started = Instant::now();
    let rig = rig(RigOptions {
        fast_key_rotation: true,
        write_rate_limit: Some("5/min"),
        ..Default::default()
    })
    .await;
    let (stack, a, b) = (&rig.stack, &rig.replicas[0], &rig.replicas[1]);
    let http = client();

    // 1. Log in.
    let (access, refresh_token) = stack.login("alice").await;
    let old_kid = kid_of(&access);

    // 2. Write through replica A.
    let written = http
        .put(format!("{a}/v1/items/journey"))
        .bearer_auth(&access)
        .json(&json!({"data": {"step": "written through A"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), 200);
    let etag = written.headers()["etag"].to_str().unwrap().to_string();
    let written: Value = written.json().await.unwrap();
    assert_eq!(etag, format!("\"{}\"", written["version"]));

    // 3. Read through replica B: the fresh value, same version and ETag; 304 on the ETag.
    let read = http
        .get(format!("{b}/v1/items/journey"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(read.json::<Value>().await.unwrap(), written);
    let revalidated = http
        .get(format!("{b}/v1/items/journey"))
        .bearer_auth(&access)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);

    // 4. Refresh-token rotation (on Redis): the new pair works, the old refresh token is
    //    refused, and its reuse revokes the family (the rotated token dies with it).
    let rotated = refresh(stack, &refresh_token).await;
    assert_eq!(rotated.status(), 200);
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let rotated: Value = rotated.json().await.unwrap();
    let next_refresh = rotated["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(next_refresh, refresh_token, "every use rotates");
    let refreshed_access = access_token(&rotated);
    let via_refreshed = http
        .get(format!("{b}/v1/items/journey"))
        .bearer_auth(&refreshed_access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        via_refreshed.status(),
        200,
        "the refreshed access token works"
    );
    let reused = refresh(stack, &refresh_token).await;
    assert_eq!(reused.status(), 400, "the old refresh token is refused");
    assert_eq!(
        reused.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let family = refresh(stack, &next_refresh).await;
    assert_eq!(family.status(), 400, "reuse revoked the whole family");

    // 5. A limit shared across replicas: bob's writes are limited to 5 a minute; alternating
    //    replicas, exactly 5 pass in total, then 429 problems with Retry-After from both.
    let (bob, _) = stack.login("bob").await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let replica = &rig.replicas[i % 2];
        let response = http
            .put(format!("{replica}/v1/items/limited-{i}"))
            .bearer_auth(&bob)
            .json(&json!({"data": i}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        statuses.push(status);
        if status == 200 {
            let policy = response.headers()["ratelimit-policy"].to_str().unwrap();
            assert!(policy.contains("q=5"), "{policy}");
        } else {
            assert_eq!(status, 429, "replica {} answered {status}", i % 2);
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            // The sliding window may need part of the next period too: at most two periods.
            assert!((1..=120).contains(&retry), "Retry-After {retry}");
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["status"], 429);
        }
    }
    println!("shared write limit 5/min, alternating replicas: {statuses:?}");
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429, 429, 429],
        "exactly the limit passes across both replicas"
    );
    let read_bucket = http
        .get(format!("{a}/v1/items/limited-0"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(read_bucket.status(), 200, "reads have their own bucket");

    // 6. Key rotation at the issuer while calls continue through both replicas.
    let tokens = Arc::new(Mutex::new(vec![("old", access.clone())]));
    let stop = Arc::new(AtomicBool::new(false));
    let calls = {
        let (tokens, stop, http) = (tokens.clone(), stop.clone(), http.clone());
        let replicas = rig.replicas.clone();
        tokio::spawn(async move {
            let mut calls: Vec<(&'static str, usize, String, Duration)> = Vec::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (kind, token) = {
                    let tokens = tokens.lock().unwrap();
                    tokens[(i / 2) % tokens.len()].clone()
                };
                let replica = i % 2;
                let started = Instant::now();
                let outcome = match http
                    .get(format!("{}/v1/items/journey", replicas[replica]))
                    .bearer_auth(&token)
                    .send()
                    .await
                {
                    Ok(response) => response.status().as_u16().to_string(),
                    Err(e) if e.is_timeout() => "timeout".to_string(),
                    Err(e) => format!("error: {e}"),
                };
                calls.push((kind, replica, outcome, started.elapsed()));
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            calls
        })
    };
    let keys = stack.keys_dir();
    let new_pem = portcullis_jwt::generate_rsa_pem().unwrap();
    let new_kid = portcullis_jwt::SigningKey::from_pem(&new_pem)
        .unwrap()
        .kid()
        .to_string();
    // Publish the new key; the old one stays active (README, "Keys", step 1).
    std::fs::write(keys.join("b.pem"), &new_pem).unwrap();
    std::fs::write(keys.join("ACTIVE"), "a.pem").unwrap();
    let mut published = false;
    for _ in 0..100 {
        let jwks: Value = http
            .get(format!("{}/.well-known/jwks.json", stack.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        if kids.contains(&new_kid.as_str()) && kids.contains(&old_kid.as_str()) {
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(published, "the issuer publishes both keys");
    // Wait until both replicas verify a token signed with the new key.
    let t = now();
    let signed_by_new = sign_rs256(
        &new_pem,
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": new_kid}),
        &json!({
            "iss": stack.issuer, "sub": "alice", "aud": ["data-api"], "exp": t + 300,
            "iat": t, "jti": "journey-probe", "client_id": CLI_CLIENT, "scope": "items:read",
        }),
    );
    for replica in &rig.replicas {
        let mut accepted = false;
        for _ in 0..50 {
            let call = http
                .get(format!("{replica}/v1/items/journey"))
                .bearer_auth(&signed_by_new)
                .send()
                .await
                .unwrap();
            if call.status() == 200 {
                accepted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(accepted, "{replica} picked up the published key");
    }
    // Activate it (step 2): new logins carry the new kid. Logins are limited to 5 a minute per
    // username, so poll sparingly.
    std::fs::write(keys.join("ACTIVE"), "b.pem").unwrap();
    let mut new_access = None;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (token, _) = stack.login("alice").await;
        if kid_of(&token) == new_kid {
            new_access = Some(token);
            break;
        }
    }
    let new_access = new_access.expect("the issuer signs with the new key");
    tokens.lock().unwrap().push(("new", new_access.clone()));
    for replica in &rig.replicas {
        for token in [&access, &new_access] {
            let call = http
                .get(format!("{replica}/v1/items/journey"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(call.status(), 200, "{replica} accepts old and new tokens");
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let calls = calls.await.unwrap();
    let failures: Vec<_> = calls.iter().filter(|c| c.2 != "200").collect();
    let worst = calls.iter().map(|c| c.3).max().unwrap_or_default();
    let count = |kind: &str, replica: usize| {
        calls
            .iter()
            .filter(|c| c.0 == kind && c.1 == replica)
            .count()
    };
    println!(
        "key rotation {old_kid} -> {new_kid}: {} calls during the rotation (old token: {} via A, {} via B; new token: {} via A, {} via B), {} failed, worst latency {worst:?}",
        calls.len(),
        count("old", 0),
        count("old", 1),
        count("new", 0),
        count("new", 1),
        failures.len()
    );
    assert!(failures.is_empty(), "calls failed: {failures:?}");
    assert!(
        count("new", 0) > 0 && count("new", 1) > 0,
        "the loop used the new token on both replicas"
    );
    println!("journey took {:?}", started.elapsed());
}

/// The phases of a fault test, in order.
const PHASES: [&str; 4] = ["before", "fault", "recovery", "after"];

/// A fault test in progress: the load runs from `begin` to `finish`, and the test names the
/// phases as it breaks and restores a dependency.
struct FaultRun {
    load: Load,
    replicas: Vec<String>,
    tokens: Vec<String>,
    fault_started: Instant,
    fault_window: Duration,
    recovered_in: Result<Duration, String>,
}

impl FaultRun {
    /// Logs alice and bob in and starts the load; returns after a second of healthy traffic.
    async fn begin(rig: &Rig) -> Self {
        let tokens = vec![
            rig.stack.login("alice").await.0,
            rig.stack.login("bob").await.0,
        ];
        let load = Load::start(
            &rig.replicas,
            &tokens,
            LoadOptions {
                timeout: CLIENT_TIMEOUT,
                ..LoadOptions::default()
            },
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        Self {
            load,
            replicas: rig.replicas.clone(),
            tokens,
            fault_started: Instant::now(),
            fault_window: Duration::ZERO,
            recovered_in: Ok(Duration::ZERO),
        }
    }

    /// The dependency is about to break.
    fn fault(&mut self) {
        self.load.set_phase("fault");
        self.fault_started = Instant::now();
    }

    /// The dependency is back: waits (bounded) until both replicas write and read again.
    async fn recover(&mut self) {
        self.fault_window = self.fault_started.elapsed();
        self.load.set_phase("recovery");
        let started = Instant::now();
        self.recovered_in = wait_serving(&self.replicas, &self.tokens[0])
            .await
            .map(|()| started.elapsed());
    }

    /// Ends with a second and a half of traffic after recovery, prints the figures and
    /// returns them, with the reason if the replicas never served again.
    async fn finish(self, title: &str) -> (LoadReport, Option<String>) {
        self.load.set_phase("after");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let report = self.load.stop().await;
        report.print(title, &PHASES);
        let recovered = match &self.recovered_in {
            Ok(after) => format!("{after:.1?}"),
            Err(_) => format!("not within {RECOVERY_BOUND:?}"),
        };
        println!(
            "   fault window {:.1?}; serving again {recovered} after the dependency returned",
            self.fault_window
        );
        (report, self.recovered_in.err())
    }
}

/// Polls until a write through each replica is read back through both (every call within the
/// client timeout); after [`RECOVERY_BOUND`], says what still failed.
async fn wait_serving(replicas: &[String], token: &str) -> Result<(), String> {
    let http = client();
    let deadline = Instant::now() + RECOVERY_BOUND;
    let mut last = String::new();
    'attempt: while Instant::now() < deadline {
        for (i, writer) in replicas.iter().enumerate() {
            let put = http
                .put(format!("{writer}/v1/items/probe"))
                .bearer_auth(token)
                .json(&json!({"data": {"probe": i}}))
                .send()
                .await;
            let version = match put {
                Ok(response) if response.status() == 200 => {
                    response.json::<Value>().await.unwrap()["version"].clone()
                }
                other => {
                    last = format!("PUT via {writer}: {other:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'attempt;
                }
            };
            for reader in replicas {
                let get = http
                    .get(format!("{reader}/v1/items/probe"))
                    .bearer_auth(token)
                    .send()
                    .await;
                match get {
                    Ok(response) if response.status() == 200 => {
                        let body: Value = response.json().await.unwrap();
                        if body["version"] != version {
                            last = format!("GET via {reader}: {body} after writing {version}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue 'attempt;
                        }
                    }
                    other => {
                        last = format!("GET via {reader}: {other:?}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue 'attempt;
                    }
                }
            }
        }
        return Ok(());
    }
    Err(format!(
        "not serving again {RECOVERY_BOUND:?} after the dependency returned; last: {last}"
    ))
}

async fn metric_sum(rig: &Rig, series: &str) -> u64 {
    let mut sum = 0;
    for replica in &rig.replicas {
        sum += rig.stack.metric(replica, series).await;
    }
    sum
}

/// Waits (bounded) until both replicas' Redis breakers are closed again: decisions and cache
/// calls go to Redis once more, not only the requests. After [`RECOVERY_BOUND`], says why not
/// with the replicas' readiness detail.
async fn wait_breakers_closed(rig: &Rig) -> Result<Duration, String> {
    let started = Instant::now();
    let series = [
        r#"portcullis_circuit_breaker_state{dependency="redis_ratelimit"}"#,
        r#"portcullis_circuit_breaker_state{dependency="redis_cache"}"#,
    ];
    while started.elapsed() < RECOVERY_BOUND {
        let mut open = 0;
        for s in series {
            open += metric_sum(rig, s).await;
        }
        if open == 0 {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut detail = Vec::new();
    for replica in &rig.replicas {
        let ready = client()
            .get(format!("{replica}/readyz"))
            .send()
            .await
            .unwrap();
        detail.push(ready.text().await.unwrap());
    }
    Err(format!(
        "the Redis breakers were still not closed {RECOVERY_BOUND:?} after Redis returned (Redis calls keep failing); readiness: {detail:?}"
    ))
}

/// The replicas that do not answer `/readyz` with 200 (an absorbed outage must never make a
/// pod unready), as broken rules.
async fn unready(rig: &Rig, during: &str) -> Vec<String> {
    let mut broken = Vec::new();
    for replica in &rig.replicas {
        let ready = client().get(format!("{replica}/readyz")).send().await;
        match ready {
            Ok(ready) if ready.status() == 200 => {}
            other => broken.push(format!("{replica} not ready during {during}: {other:?}")),
        }
    }
    broken
}

/// The documented behaviour under a fault, checked on everything the load saw: no timeout or
/// transport error, no 4xx, no 5xx except 503 problems where `allow_503` (and only while the
/// dependency is away or returning), everything 2xx before and after, no stale read, no
/// acknowledged write lost, and enough traffic during the fault to mean something. Prints the
/// counts and returns every broken rule (empty when all hold), so a test reports all of them.
async fn check_behaviour(report: &LoadReport, replicas: &[String], allow_503: bool) -> Vec<String> {
    let mut unexpected = Vec::new();
    for sample in &report.samples {
        let while_away = |phase: &str| matches!(phase, "fault" | "recovery");
        let expected = sample.outcome.is_success()
            || (allow_503
                && sample.outcome.is_unavailable_problem()
                && (while_away(sample.phase) || while_away(sample.answered_in)));
        if !expected {
            unexpected.push(format!(
                "{} via replica {} sent in phase {} (answered in {}): {} after {:?}",
                sample.method,
                sample.replica,
                sample.phase,
                sample.answered_in,
                sample.outcome.label(),
                sample.latency
            ));
        }
    }
    let lost = report.lost_writes(replicas).await;
    let acknowledged = report.writes.values().filter(|w| w.acked.is_some()).count();
    println!(
        "   {} unexpected answers, {} stale reads; {acknowledged} items checked after recovery, {} lost writes",
        unexpected.len(),
        report.stale_reads.len(),
        lost.len()
    );
    let mut broken = Vec::new();
    if !unexpected.is_empty() {
        let total = unexpected.len();
        unexpected.truncate(10);
        broken.push(format!(
            "{total} answers were neither 2xx nor an intended 503 problem, or came too late (first 10): {unexpected:#?}"
        ));
    }
    if !report.stale_reads.is_empty() {
        broken.push(format!(
            "{} reads returned a version older than an acknowledged write: {:#?}",
            report.stale_reads.len(),
            report.stale_reads
        ));
    }
    if !lost.is_empty() {
        broken.push(format!("acknowledged writes lost: {lost:#?}"));
    }
    let during_fault = report.phase("fault").len();
    if during_fault < 20 {
        broken.push(format!(
            "only {during_fault} requests were sent during the fault"
        ));
    }
    broken
}

/// How Redis is broken.
#[derive(Clone, Copy, PartialEq)]
enum RedisFault {
    /// `docker stop`: connections are refused.
    Stop,
    /// `docker pause`: connections hang.
    Pause,
}

/// Breaks Redis under load for [`FAULT`], restores it, and checks the README's promise: limits
/// fall back to each replica's local share, reads bypass the cache, replicas stay ready, no
/// request fails or hangs, Redis is used again soon after it returns, nothing written is lost.
async fn redis_fault(fault: RedisFault, title: &str) {
    let rig = rig(RigOptions {
        fixed_redis_port: fault == RedisFault::Stop,
        ..Default::default()
    })
    .await;
    let mut run = FaultRun::begin(&rig).await;
    let fallback = r#"portcullis_ratelimit_decisions_total{decision="fallback"}"#;
    let bypass = r#"portcullis_cache_requests_total{result="bypass"}"#;
    let (fallback_before, bypass_before) = (
        metric_sum(&rig, fallback).await,
        metric_sum(&rig, bypass).await,
    );
    run.fault();
    match fault {
        RedisFault::Stop => rig.redis.container.stop().await.expect("stop redis"),
        RedisFault::Pause => rig.redis.container.pause().await.expect("pause redis"),
    }
    tokio::time::sleep(FAULT).await;
    let unready_during_fault = unready(&rig, title).await;
    let fallbacks = metric_sum(&rig, fallback).await - fallback_before;
    let bypassed = metric_sum(&rig, bypass).await - bypass_before;
    match fault {
        RedisFault::Stop => rig.redis.container.start().await.expect("start redis"),
        RedisFault::Pause => rig.redis.container.unpause().await.expect("unpause redis"),
    }
    run.recover().await;
    let breakers = wait_breakers_closed(&rig).await;
    let (report, not_recovered) = run.finish(title).await;
    println!(
        "   during the fault: {fallbacks} local-fallback decisions, {bypassed} cache bypasses; Redis breakers closed again: {}",
        match &breakers {
            Ok(after) => format!("{after:.1?} after recovery"),
            Err(_) => format!("not within {RECOVERY_BOUND:?}"),
        }
    );
    let mut broken = check_behaviour(&report, &rig.replicas, false).await;
    broken.extend(not_recovered);
    broken.extend(unready_during_fault);
    if fallbacks == 0 {
        broken.push("no local-fallback decision during the fault".into());
    }
    if bypassed == 0 {
        broken.push("no read bypassed the cache during the fault".into());
    }
    if let Err(why) = breakers {
        broken.push(why);
    }
    assert!(broken.is_empty(), "{title}: {}", broken.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_under_load_degrades_to_local_limits_and_recovers() {
    redis_fault(RedisFault::Stop, "Redis stopped, then started").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_under_load_is_a_bounded_hang_and_recovers() {
    redis_fault(RedisFault::Pause, "Redis paused, then unpaused").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_answers_503_problems_and_recovers() {
    let title = "PostgreSQL stopped, then started";
    let rig = rig(RigOptions {
        fixed_postgres_port: true,
        ..Default::default()
    })
    .await;
    let mut run = FaultRun::begin(&rig).await;
    run.fault();
    rig.postgres.container.stop().await.expect("stop postgres");
    tokio::time::sleep(FAULT).await;
    let unready_during_fault = unready(&rig, title).await;
    rig.postgres
        .container
        .start()
        .await
        .expect("start postgres");
    run.recover().await;
    let (report, not_recovered) = run.finish(title).await;
    let fault = report.phase("fault");
    let unavailable = fault
        .iter()
        .filter(|s| s.outcome.is_unavailable_problem())
        .count();
    let cached = fault
        .iter()
        .filter(|s| s.method == "GET" && s.outcome.is_success())
        .count();
    println!(
        "   during the fault: {unavailable} 503 problems, {cached} reads served from the cache"
    );
    let mut broken = check_behaviour(&report, &rig.replicas, true).await;
    broken.extend(not_recovered);
    broken.extend(unready_during_fault);
    if unavailable == 0 {
        broken.push("no write got a 503 problem while the store was down".into());
    }
    if cached == 0 {
        broken.push("no cached item was served while the store was down".into());
    }
    assert!(broken.is_empty(), "{title}: {}", broken.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issuer_killed_under_load_leaves_the_data_api_serving_on_cached_keys() {
    let title = "issuer killed, then restarted";
    let mut rig = rig(RigOptions {
        fast_key_rotation: true,
        ..Default::default()
    })
    .await;
    let mut run = FaultRun::begin(&rig).await;
    // Tokens issued before the kill but never shown to a replica: only the cached key set can
    // verify them.
    let (unseen, unseen_refresh) = rig.stack.login("alice").await;
    run.fault();
    rig.stack.stop_issuer().await;
    let login = client()
        .post(format!("{}/oauth2/token", rig.stack.issuer))
        .form(&[("grant_type", "password")])
        .send()
        .await;
    assert!(login.is_err(), "the issuer is gone");
    tokio::time::sleep(FAULT).await;
    let mut during_fault = unready(&rig, title).await;
    for replica in &rig.replicas {
        let call = client()
            .get(format!("{replica}/v1/items/load-0-0"))
            .bearer_auth(&unseen)
            .send()
            .await;
        match call {
            Ok(call) if call.status() == 200 => {}
            other => during_fault.push(format!(
                "{replica} did not verify a new token with its cached keys: {other:?}"
            )),
        }
    }
    rig.stack.restart_issuer().await;
    run.recover().await;
    let (report, not_recovered) = run.finish(title).await;
    let mut broken = check_behaviour(&report, &rig.replicas, false).await;
    broken.extend(not_recovered);
    broken.extend(during_fault);
    assert!(broken.is_empty(), "{title}: {}", broken.join("\n"));
    // Back: logins work, and the refresh token issued before the kill (kept on Redis) rotates.
    let (fresh, _) = rig.stack.login("bob").await;
    let rotated = refresh(&rig.stack, &unseen_refresh).await;
    assert_eq!(rotated.status(), 200, "refresh tokens survive the restart");
    let rotated = access_token(&rotated.json().await.unwrap());
    for replica in &rig.replicas {
        for token in [&fresh, &rotated] {
            let call = client()
                .get(format!("{replica}/v1/items/anything"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(call.status(), 404, "tokens of the restarted issuer pass");
        }
    }
}
