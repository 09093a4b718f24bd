//! Both services on a Sentinel-monitored Redis (a master, a replica, one Sentinel with quorum 1
//! to keep the suite quick): the master is stopped under a load of refresh-token rotations and
//! item reads, the Sentinel promotes the replica, and the services follow it without a restart.

use portcullis_tests::{start_redis_sentinel, Stack, StackOptions, CLI_CLIENT};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One answer of the load: when (since the master was stopped, negative before), what, status.
#[derive(Debug, Clone)]
struct Answer {
    at: f64,
    what: &'static str,
    status: u16,
}

async fn refresh(stack: &Stack, token: &str) -> (u16, Option<String>) {
    let response = stack
        .http
        .post(format!("{}/oauth2/token", stack.issuer))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLI_CLIENT),
            ("refresh_token", token),
        ])
        .send()
        .await
        .expect("token endpoint answers");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let next = body["refresh_token"].as_str().map(str::to_owned);
    (status, next.filter(|_| status == 200))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_loses_no_acknowledged_rotation_and_the_services_follow_the_new_master() {
    let set = start_redis_sentinel().await;
    let (sentinel, master) = (set.sentinel.clone(), set.master_name);
    let (s2, m2) = (sentinel.clone(), master);
    let stack = Arc::new(
        Stack::start_with(StackOptions {
            redis_url: Some(set.master_url.clone()),
            issuer_redis_url: Some(set.master_url.clone()),
            issuer: Some(Arc::new(move |args: &mut auth_issuer::Args| {
                args.redis_tls.redis_sentinels = vec![sentinel.clone()];
                args.redis_tls.redis_sentinel_master = Some(master.to_string());
                args.redis_breaker_cooldown = Duration::from_millis(500);
                // The load is the point here, not the per-address limit of the token endpoint.
                args.ip_rate_limit = "100000/min".parse().unwrap();
            })),
            data_api: Some(Arc::new(move |args: &mut data_api::Args| {
                args.redis_tls.redis_sentinels = vec![s2.clone()];
                args.redis_tls.redis_sentinel_master = Some(m2.to_string());
                args.redis_breaker_cooldown = Duration::from_millis(500);
            })),
            ..Default::default()
        })
        .await,
    );
    let sessions = 3;
    let mut held = Vec::new();
    for _ in 0..sessions {
        held.push(stack.login("alice").await);
    }
    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let stopped_at = Arc::new(Mutex::new(None::<Instant>));
    let since = {
        let stopped_at = stopped_at.clone();
        move || match *stopped_at.lock().unwrap() {
            Some(t) => t.elapsed().as_secs_f64(),
            None => -1.0,
        }
    };
    let deadline = Arc::new(Mutex::new(Instant::now() + Duration::from_secs(60)));
    let mut tasks = Vec::new();
    for (access, refresh_token) in held {
        let (stack, answers, since, deadline) = (
            stack.clone(),
            answers.clone(),
            since.clone(),
            deadline.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut token = refresh_token;
            while Instant::now() < *deadline.lock().unwrap() {
                let (status, next) = refresh(&stack, &token).await;
                if let Some(next) = next {
                    token = next;
                }
                answers.lock().unwrap().push(Answer {
                    at: since(),
                    what: "refresh",
                    status,
                });
                let read = stack
                    .http
                    .get(stack.item_url("sentinel-probe"))
                    .bearer_auth(&access)
                    .send()
                    .await
                    .expect("data API answers")
                    .status()
                    .as_u16();
                answers.lock().unwrap().push(Answer {
                    at: since(),
                    what: "read",
                    status: read,
                });
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            token
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    *stopped_at.lock().unwrap() = Some(Instant::now());
    set.master.stop().await.expect("stop the master");
    // Load until refreshes have succeeded for 3 s in a row after the switch (or 40 s).
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = since();
        let recovered = {
            let answers = answers.lock().unwrap();
            let last_failure = answers
                .iter()
                .filter(|a| a.at >= 0.0 && a.status != 200 && a.status != 404)
                .map(|a| a.at)
                .fold(0.0, f64::max);
            answers
                .iter()
                .any(|a| a.at > last_failure && a.what == "refresh" && a.status == 200)
                && now - last_failure > 3.0
        };
        if recovered || started.elapsed() > Duration::from_secs(40) {
            break;
        }
    }
    *deadline.lock().unwrap() = Instant::now();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.expect("load task"));
    }
    let answers = answers.lock().unwrap().clone();
    let after: Vec<&Answer> = answers.iter().filter(|a| a.at >= 0.0).collect();
    let errors: Vec<&&Answer> = after
        .iter()
        .filter(|a| a.status != 200 && a.status != 404)
        .collect();
    let last_error = errors.iter().map(|a| a.at).fold(0.0, f64::max);
    let mut lost = 0;
    let mut last_statuses = Vec::new();
    for token in &tokens {
        let (status, _) = refresh(&stack, token).await;
        last_statuses.push(status);
        if status != 200 {
            lost += 1;
        }
    }
    let mut by_status = std::collections::BTreeMap::<(&str, u16), usize>::new();
    for a in &after {
        *by_status.entry((a.what, a.status)).or_default() += 1;
    }
    println!(
        "sentinel failover: {} requests before the stop, {} after; errors during the switch: {} ({by_status:?}); time to recover: {last_error:.2} s; refresh tokens lost: {lost} of {} (final refreshes: {last_statuses:?})",
        answers.len() - after.len(),
        after.len(),
        errors.len(),
        tokens.len()
    );
    assert!(
        answers.iter().all(|a| a.status != 500),
        "never a 500: {by_status:?}"
    );
    assert!(
        errors.iter().all(|a| a.status == 503 || a.status == 429),
        "errors during the switch are 503/429 problems: {by_status:?}"
    );
    assert!(
        after
            .iter()
            .any(|a| a.what == "refresh" && a.status == 200 && a.at > last_error),
        "refreshes succeed again after the switch, without a restart: {by_status:?}"
    );
    assert!(
        after
            .iter()
            .any(|a| a.what == "read" && a.status == 404 && a.at > last_error),
        "reads succeed again after the switch: {by_status:?}"
    );
    assert_eq!(
        lost, 0,
        "every refresh token the client holds still refreshes"
    );
}
