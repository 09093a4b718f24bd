//! What a Redis server says it ran, for suites that count round trips.

use std::collections::HashMap;
use std::time::Duration;

/// Calls per command since the server started, from `INFO commandstats` (which also counts the
/// commands scripts run: count `evalsha` for round trips of scripts).
pub async fn command_calls(url: &str) -> HashMap<String, u64> {
    let mut connection = portcullis_redis::connect(url, Duration::from_secs(5))
        .await
        .expect("connect to redis");
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut connection)
        .await
        .expect("INFO commandstats");
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}
