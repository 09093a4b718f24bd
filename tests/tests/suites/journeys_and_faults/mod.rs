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

use data_api::Args;
use portcullis_domain::ratelimit::RateLimitPolicy;
use portcullis_tests::{
    kid_of, now, start_postgres, start_postgres_on_fixed_port, start_redis,
    start_redis_on_fixed_port, strict_refresh_reuse, Load, LoadOptions, LoadReport,
    PostgresContainer, RedisContainer, Stack, StackOptions, CLI_CLIENT,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod faults;
mod journey;

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
        data_api: Some(Arc::new(move |config: &mut Args| {
            config.database_url = database_url.clone();
            // Every client of these tests is 127.0.0.1: the per-IP flood limit is not under test.
            config.ip_rate_limit = RateLimitPolicy::parse("100000/s").unwrap();
            config.write_rate_limit = write_rate_limit.clone();
        })),
        // Step 4 re-presents a rotated refresh token at once: reuse, not a retry.
        issuer: strict_refresh_reuse(),
        issuer_https: false,
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
