//! Rate-limit decisions per second against a local Redis, side by side with `redis-benchmark`
//! running the same script with EVALSHA on the same server in the same run, and the number of
//! Redis commands per decision (must be 1).
//!
//! Needs `redis-server` and `redis-benchmark` (Debian: `apt-get install redis-server`).
//! Run: `cargo bench -p portcullis-tests --bench redis_decisions`.

use portcullis_domain::ratelimit::{RateLimitKey, RateLimitPolicy, RateLimiter};
use portcullis_ratelimit::RedisRateLimiter;
use portcullis_tests::start_local_redis_server;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 64;
const DURATION: Duration = Duration::from_secs(5);

/// Commands clients sent: script invocations and plain commands, but not the commands a script
/// runs inside Redis (INFO counts those too).
async fn commands(connection: &mut portcullis_redis::ConnectionManager) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(connection)
        .await
        .expect("info");
    let inside_scripts = ["time", "hmget", "hset", "pexpire"];
    info.lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter(|l| {
            !inside_scripts
                .iter()
                .any(|c| l.starts_with(&format!("{c}:")))
        })
        .filter_map(|l| l.split("calls=").nth(1))
        .filter_map(|v| v.split(',').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::main]
async fn main() {
    let server = start_local_redis_server().await;
    let (port, connection) = (server.port, server.connection.clone());
    let limiter = Arc::new(RedisRateLimiter::new(
        connection.clone(),
        "rl:",
        Duration::from_secs(2),
    ));
    let policy = RateLimitPolicy::parse("1000000000/s,1000000000/min").expect("policy");

    // Portcullis: CONNECTIONS concurrent callers on the service's one multiplexed connection.
    let mut admin = connection.clone();
    limiter
        .check(&RateLimitKey::new("sub", "warm"), &policy, 1)
        .await
        .expect("decision");
    let commands_before = commands(&mut admin).await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            let (limiter, policy) = (limiter.clone(), policy.clone());
            tokio::spawn(async move {
                let key = RateLimitKey::new("sub", &format!("user{i}"));
                let mut n = 0u64;
                while started.elapsed() < DURATION {
                    limiter.check(&key, &policy, 1).await.expect("decision");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut decisions = 0;
    for task in tasks {
        decisions += task.await.expect("task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The first INFO call itself counts as one command.
    let per_decision = (commands(&mut admin).await - commands_before - 1) as f64 / decisions as f64;
    let ours = decisions as f64 / elapsed;

    // redis-benchmark: the same script by EVALSHA, same server, same concurrency.
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(portcullis_ratelimit::LIMITER_SCRIPT)
        .query_async(&mut admin)
        .await
        .expect("script load");
    let output = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-c",
            &CONNECTIONS.to_string(),
            "-n",
            "300000",
            "-q",
        ])
        .args([
            "evalsha",
            &sha,
            "2",
            "rl:{sub:bench}:1",
            "rl:{sub:bench}:60",
            "1",
        ])
        .args(["1000000000", "1000", "1000000000", "60000"])
        .output()
        .expect("redis-benchmark is installed");
    let text = String::from_utf8_lossy(&output.stdout);
    let reference: f64 = text
        .split_whitespace()
        .zip(text.split_whitespace().skip(1))
        .find(|(_, unit)| unit.starts_with("requests"))
        .and_then(|(n, _)| n.parse().ok())
        .expect("redis-benchmark printed a rate");
    drop(server);

    println!("| measurement ({CONNECTIONS} concurrent callers, 2 windows) | per second | ratio |");
    println!("|---|---:|---:|");
    println!("| redis-benchmark EVALSHA of the limiter script | {reference:.0} | 1.00 |");
    println!(
        "| portcullis RedisRateLimiter decisions | {ours:.0} | {:.2} |",
        ours / reference
    );
    println!("\nRedis commands per decision: {per_decision:.3}");
}
