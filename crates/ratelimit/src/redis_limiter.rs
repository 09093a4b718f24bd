//! The Redis sliding-window limiter: every window of a decision in one `EVALSHA`.

use async_trait::async_trait;
use portcullis_domain::cause::Cause;
use portcullis_domain::quota::{QuotaGrant, QuotaRefund, QuotaSource};
use portcullis_domain::ratelimit::{
    decide, RateLimitDecision, RateLimitError, RateLimitKey, RateLimitPolicy, RateLimiter,
    SlotCounts,
};
use portcullis_redis::RedisConnection;
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

/// A quota take ([`QuotaSource::take`]) in one round trip, on Redis's clock: hands back
/// `ARGV[3]` units charged in the slots `ARGV[6], ARGV[9], ...` (from `cur` where the stored
/// slot is that one, from `prev` where it is the next), measures the room left in every window
/// with the same float operations as `decide`, grants by `grant_size` (cost `ARGV[1]`, slice
/// `ARGV[2]`) and charges the grant to every window. A refusal writes only the refund. Returns
/// `[granted, prev1, cur1, elapsed1, slot1, prev2, ...]`, the counts as they were before the
/// charge.
pub const LEASE_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost, slice, refund = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {0}
local state = {}
local room = nil
for i = 1, #KEYS do
  local limit = tonumber(ARGV[3 * i + 1])
  local period = tonumber(ARGV[3 * i + 2])
  local charged_in = tonumber(ARGV[3 * i + 3])
  local slot = math.floor(now / period)
  local elapsed = now % period
  local stored = redis.call('HMGET', KEYS[i], 'slot', 'cur', 'prev')
  local s, c, p = tonumber(stored[1]), tonumber(stored[2]) or 0, tonumber(stored[3]) or 0
  if refund > 0 and s then
    if s == charged_in then c = math.max(0, c - refund)
    elseif s == charged_in + 1 then p = math.max(0, p - refund) end
  end
  local prev, cur = 0, 0
  if s == slot then prev, cur = p, c elseif s == slot - 1 then prev = c end
  local fits = math.floor(math.max(0, limit - (prev * (period - elapsed) / period + cur)))
  if room == nil or fits < room then room = fits end
  state[i] = {slot, prev, cur, period, s, c, p}
  out[#out + 1] = prev
  out[#out + 1] = cur
  out[#out + 1] = elapsed
  out[#out + 1] = slot
end
local granted = 0
if cost > 0 and room >= cost then
  granted = math.max(cost, math.min(slice, math.ceil(room / 2), room))
end
out[1] = granted
for i = 1, #KEYS do
  local st = state[i]
  if granted > 0 then
    redis.call('HSET', KEYS[i], 'slot', st[1], 'cur', st[3] + granted, 'prev', st[2])
    redis.call('PEXPIRE', KEYS[i], 2 * st[4] + 1000)
  elseif refund > 0 and st[5] then
    redis.call('HSET', KEYS[i], 'cur', st[6], 'prev', st[7])
  end
end
return out
"#;

/// The Redis adapter of the rate-limit port, on a standalone or Sentinel-monitored server (`RedisConnection`, the
/// default) or a Redis Cluster (`redis::cluster_async::ClusterConnection`).
#[derive(Clone)]
pub struct RedisRateLimiter<C = RedisConnection> {
    connection: C,
    script: redis::Script,
    lease: redis::Script,
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
            lease: redis::Script::new(LEASE_SCRIPT),
            timeout,
            prefix: prefix.to_owned(),
        }
    }
}

impl<C> RedisRateLimiter<C>
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Runs one of the scripts within the call timeout.
    async fn run(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<Vec<u64>, RateLimitError> {
        let mut connection = self.connection.clone();
        tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
            .await
            .map_err(|_| RateLimitError(Cause::new("redis call timed out")))?
            .map_err(|e| RateLimitError(Cause::new(e)))
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
        let reply = self.run(&invocation).await?;
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

#[async_trait]
impl<C> QuotaSource for RedisRateLimiter<C>
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn take(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
        slice: u64,
        refund: Option<&QuotaRefund>,
    ) -> Result<QuotaGrant, RateLimitError> {
        let mut invocation = self.lease.prepare_invoke();
        for k in window_keys(&self.prefix, key, policy) {
            invocation.key(k);
        }
        let units = refund.map_or(0, |r| r.units);
        invocation.arg(cost).arg(slice).arg(units);
        for (i, w) in policy.windows().iter().enumerate() {
            let charged_in = refund.and_then(|r| r.slots.get(i)).copied().unwrap_or(0);
            invocation
                .arg(w.limit)
                .arg(w.period.as_millis() as u64)
                .arg(charged_in);
        }
        let reply = self.run(&invocation).await?;
        if reply.len() != 1 + 4 * policy.windows().len() {
            return Err(RateLimitError(Cause::new(
                "unexpected reply from the lease script",
            )));
        }
        let windows: Vec<&[u64]> = reply[1..].chunks(4).collect();
        let counts: Vec<SlotCounts> = windows
            .iter()
            .map(|w| SlotCounts {
                previous: w[0],
                current: w[1],
            })
            .collect();
        let elapsed: Vec<u64> = windows.iter().map(|w| w[2]).collect();
        let granted = reply[0];
        let mut decision = decide(policy, &counts, &elapsed, granted.max(cost));
        if granted == 0 && decision.retry_after.is_none() {
            // Only if the float rounding differs: Redis refused, so say when to come back.
            decision.retry_after = Some(Duration::from_secs(1));
            decision.limited_by = decision.tightest().map(|(i, _)| i);
        }
        Ok(QuotaGrant {
            granted,
            // What Redis charged is the truth; the arithmetic only dresses it in headers.
            decision: RateLimitDecision {
                allowed: granted > 0,
                ..decision
            },
            slots: windows.iter().map(|w| w[3]).collect(),
            valid_for: crate::local::valid_for(policy, &elapsed),
        })
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
