//! Faults under load: Redis stopped or paused, PostgreSQL stopped, the issuer killed.

use super::*;

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
