//! The full journey across two replicas, including a signing-key rotation under calls.

use super::*;

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
    // The new key is of another algorithm: RS256 is retired while ES256 signs.
    let new_pem = portcullis_jwt::generate_pem(portcullis_jwt::SigningAlgorithm::Es256).unwrap();
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
    // Signed by an independent JOSE implementation.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(new_kid.clone());
    let signed_by_new = jsonwebtoken::encode(
        &header,
        &json!({
            "iss": stack.issuer, "sub": "alice", "aud": ["data-api"], "exp": t + 300,
            "iat": t, "jti": "journey-probe", "client_id": CLI_CLIENT, "scope": "items:read",
        }),
        &jsonwebtoken::EncodingKey::from_ec_pem(new_pem.as_bytes()).unwrap(),
    )
    .unwrap();
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
        "key rotation RS256 {old_kid} -> ES256 {new_kid}: {} calls during the rotation (old token: {} via A, {} via B; new token: {} via A, {} via B), {} failed, worst latency {worst:?}",
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
