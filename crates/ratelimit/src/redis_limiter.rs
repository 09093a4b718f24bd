//! The Redis sliding-window limiter: every window of a decision in one `EVALSHA`.

use async_trait::async_trait;
use portcullis_domain::cause::Cause;
use portcullis_domain::ratelimit::{
    decide, RateLimitDecision, RateLimitError, RateLimitKey, RateLimitPolicy, RateLimiter,
    SlotCounts,
};
use redis::aio::ConnectionManager;
use std::time::Duration;

/// One round trip decides all windows atomically, on Redis's own clock (`TIME`), so replicas
/// with skewed clocks agree. Each window is a hash `{slot, cur, prev}` under a key that shares the
/// limited key's hash tag, so a subject's windows live in one Redis Cluster slot. A rejected
/// request, and a zero-cost look, write nothing. Returns `[allowed, prev1, cur1, elapsed1, prev2, ...]`.
pub const LIMITER_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local out = {1}
local state = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local period = tonumber(ARGV[2 * i + 1])
  local slot = math.floor(now / period)
  local elapsed = now % period
  local stored = redis.call('HMGET', KEYS[i], 'slot', 'cur', 'prev')
  local s, c, p = tonumber(stored[1]), tonumber(stored[2]) or 0, tonumber(stored[3]) or 0
  local prev, cur = 0, 0
  if s == slot then prev, cur = p, c elseif s == slot - 1 then prev = c end
  if prev * (period - elapsed) / period + cur + cost > limit then out[1] = 0 end
  state[i] = {slot, prev, cur, period}
  out[#out + 1] = prev
  out[#out + 1] = cur
  out[#out + 1] = elapsed
end
if out[1] == 1 and cost > 0 then
  for i = 1, #KEYS do
    local s = state[i]
    redis.call('HSET', KEYS[i], 'slot', s[1], 'cur', s[3] + cost, 'prev', s[2])
    redis.call('PEXPIRE', KEYS[i], 2 * s[4] + 1000)
  end
end
return out
"#;

/// The Redis adapter of the rate-limit port, on a standalone server (`ConnectionManager`, the
/// default) or a Redis Cluster (`redis::cluster_async::ClusterConnection`).
#[derive(Clone)]
pub struct RedisRateLimiter<C = ConnectionManager> {
    connection: C,
    script: redis::Script,
    timeout: Duration,
    prefix: String,
}

impl<C> std::fmt::Debug for RedisRateLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<C> RedisRateLimiter<C> {
    /// A limiter on an established connection; every call gives up after `timeout`. `prefix`
    /// namespaces the keys (e.g. per service).
    pub fn new(connection: C, prefix: &str, timeout: Duration) -> Self {
        Self {
            connection,
            script: redis::Script::new(LIMITER_SCRIPT),
            timeout,
            prefix: prefix.to_owned(),
        }
    }
}

/// The Redis keys of a key's windows: one hash tag for all of them.
fn window_keys(prefix: &str, key: &RateLimitKey, policy: &RateLimitPolicy) -> Vec<String> {
    policy
        .windows()
        .iter()
        .map(|w| format!("{prefix}{{{}}}:{}", key.as_str(), w.period.as_secs()))
        .collect()
}

#[async_trait]
impl<C> RateLimiter for RedisRateLimiter<C>
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn check(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
    ) -> Result<RateLimitDecision, RateLimitError> {
        let mut invocation = self.script.prepare_invoke();
        for k in window_keys(&self.prefix, key, policy) {
            invocation.key(k);
        }
        invocation.arg(cost);
        for w in policy.windows() {
            invocation.arg(w.limit).arg(w.period.as_millis() as u64);
        }
        let mut connection = self.connection.clone();
        let reply: Vec<u64> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| RateLimitError(Cause::new("redis call timed out")))?
                .map_err(|e| RateLimitError(Cause::new(e)))?;
        let n = policy.windows().len();
        if reply.len() != 1 + 3 * n {
            return Err(RateLimitError(Cause::new(
                "unexpected reply from the limiter script",
            )));
        }
        let counts: Vec<SlotCounts> = reply[1..]
            .chunks(3)
            .map(|c| SlotCounts {
                previous: c[0],
                current: c[1],
            })
            .collect();
        let elapsed: Vec<u64> = reply[1..].chunks(3).map(|c| c[2]).collect();
        let decision = decide(policy, &counts, &elapsed, cost);
        let allowed_by_redis = reply[0] == 1;
        if decision.allowed != allowed_by_redis {
            // Only possible if float rounding differs; Redis's answer is what was charged.
            tracing::debug!("limiter script and local arithmetic disagree; trusting Redis");
            return Ok(RateLimitDecision {
                allowed: allowed_by_redis,
                retry_after: (!allowed_by_redis).then(|| Duration::from_secs(1)),
                limited_by: (!allowed_by_redis)
                    .then(|| decision.tightest().map(|(i, _)| i))
                    .flatten(),
                ..decision
            });
        }
        Ok(decision)
    }

    async fn reset(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
    ) -> Result<(), RateLimitError> {
        // The windows share one hash tag, so one DEL serves a Redis Cluster too.
        let mut command = redis::cmd("DEL");
        for k in window_keys(&self.prefix, key, policy) {
            command.arg(k);
        }
        let mut connection = self.connection.clone();
        tokio::time::timeout(self.timeout, command.query_async::<i64>(&mut connection))
            .await
            .map_err(|_| RateLimitError(Cause::new("redis call timed out")))?
            .map_err(|e| RateLimitError(Cause::new(e)))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_windows_share_one_hash_tag() {
        let policy = RateLimitPolicy::parse("10/s,100/min,1000/h").unwrap();
        let keys = window_keys("rl:", &RateLimitKey::new("sub", "alice"), &policy);
        assert_eq!(
            keys,
            [
                "rl:{sub:alice}:1",
                "rl:{sub:alice}:60",
                "rl:{sub:alice}:3600"
            ]
        );
        let tag = |k: &str| k[k.find('{').unwrap() + 1..k.find('}').unwrap()].to_string();
        assert!(keys.iter().all(|k| tag(k) == "sub:alice"));
    }
}
