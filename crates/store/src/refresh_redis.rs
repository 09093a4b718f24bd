//! The Redis refresh-token store: shared by every issuer replica, rotation atomic in one script.
//!
//! Layout (all keys share the hash tag `{rt}`, so the scripts may touch several of them on a
//! Redis Cluster; the price is that refresh tokens live in one slot):
//! - `PREFIX{rt}:t:<hash>`: hash `family subject client_id scope audience expires_at rotated`,
//!   and once rotated `rotated_at` (ms), `next` (the successor's hash) and `sealed` (the
//!   successor sealed for the predecessor's holder, for retries within the grace window),
//!   expiring with the token;
//! - `PREFIX{rt}:f:<family>`: hash `revoked` and, for a family bound to a DPoP key, `jkt`,
//!   expiring with the family's newest token.

use async_trait::async_trait;
use portcullis_domain::cause::Cause;
use portcullis_domain::clock::unix_seconds;
use portcullis_domain::identity::{ClientId, Subject};
use portcullis_domain::refresh::{
    FamilyId, RefreshGrant, RefreshStoreError, RefreshTokenHash, RefreshTokenStore, RotateError,
    Rotation, SealedToken, Successor,
};
use portcullis_domain::scope::ScopeSet;
use portcullis_redis::RedisConnection;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Stores a token and extends its family's lifetime.
const ISSUE: &str = r#"
redis.call('HSET', KEYS[1], 'family', ARGV[1], 'subject', ARGV[2], 'client_id', ARGV[3],
  'scope', ARGV[4], 'audience', ARGV[5], 'expires_at', ARGV[6], 'rotated', '0',
  'session_expires_at', ARGV[8])
redis.call('EXPIREAT', KEYS[1], ARGV[6])
redis.call('HSETNX', KEYS[2], 'revoked', '0')
if ARGV[9] ~= '' then redis.call('HSET', KEYS[2], 'jkt', ARGV[9]) end
local ttl = redis.call('TTL', KEYS[2])
if ttl < 0 or tonumber(ARGV[6]) - tonumber(ARGV[7]) > ttl then
  redis.call('EXPIREAT', KEYS[2], ARGV[6])
end
return 1
"#;

/// Rotates `KEYS[1]` into `KEYS[2]`. ARGV: client_id, next expiry (s), now (s), family key
/// prefix, now (ms), grace (ms), the sealed successor, token key prefix, the successor's hash.
/// Returns `{status, family, subject, client_id, scope, audience, session_expires_at, jkt[,
/// sealed, expires_at]}`:
/// `ok` after a rotation, `replayed` (with the earlier successor) for a retry within the grace
/// window whose successor is unused, `reused` (family revoked) or `invalid`.
const ROTATE: &str = r#"
local r = redis.call('HMGET', KEYS[1], 'family', 'subject', 'client_id', 'scope', 'audience',
  'expires_at', 'rotated', 'rotated_at', 'next', 'sealed', 'session_expires_at')
if not r[1] then return {'invalid'} end
local session = r[11] or r[6]
local family = ARGV[4] .. r[1]
if r[3] ~= ARGV[1] then return {'invalid'} end
local f = redis.call('HMGET', family, 'revoked', 'jkt')
if f[1] == '1' then return {'invalid'} end
local jkt = f[2] or ''
if r[7] == '1' then
  if r[8] and r[9] and tonumber(ARGV[5]) - tonumber(r[8]) < tonumber(ARGV[6]) then
    local n = redis.call('HMGET', ARGV[8] .. r[9], 'rotated', 'expires_at')
    if n[1] == '0' and tonumber(n[2]) > tonumber(ARGV[3]) then
      return {'replayed', r[1], r[2], r[3], r[4], r[5], session, jkt, r[10], n[2]}
    end
  end
  redis.call('HSET', family, 'revoked', '1')
  return {'reused', r[1], r[2]}
end
if tonumber(r[6]) <= tonumber(ARGV[3]) then return {'invalid'} end
redis.call('HSET', KEYS[1], 'rotated', '1', 'rotated_at', ARGV[5], 'next', ARGV[9],
  'sealed', ARGV[7])
redis.call('HSET', KEYS[2], 'family', r[1], 'subject', r[2], 'client_id', r[3], 'scope', r[4],
  'audience', r[5], 'expires_at', ARGV[2], 'rotated', '0', 'session_expires_at', session)
redis.call('EXPIREAT', KEYS[2], ARGV[2])
if tonumber(ARGV[2]) - tonumber(ARGV[3]) > redis.call('TTL', family) then
  redis.call('EXPIREAT', family, ARGV[2])
end
return {'ok', r[1], r[2], r[3], r[4], r[5], session, jkt}
"#;

/// The grant of `KEYS[1]` if it is live (rotated or not), issued to `ARGV[1]`; ARGV[2]: now
/// (s), ARGV[3]: family key prefix. Returns `{status, family, subject, client_id, scope,
/// audience, session_expires_at, jkt, expires_at}`.
const INSPECT: &str = r#"
local r = redis.call('HMGET', KEYS[1], 'family', 'subject', 'client_id', 'scope', 'audience',
  'expires_at', 'session_expires_at')
if not r[1] or r[3] ~= ARGV[1] then return {'invalid'} end
if tonumber(r[6]) <= tonumber(ARGV[2]) then return {'invalid'} end
local f = redis.call('HMGET', ARGV[3] .. r[1], 'revoked', 'jkt')
if f[1] == '1' then return {'invalid'} end
return {'ok', r[1], r[2], r[3], r[4], r[5], r[7] or r[6], f[2] or '', r[6]}
"#;

/// Revokes the family of `KEYS[1]` if it belongs to client `ARGV[2]`; ARGV[1]: family key prefix.
/// Returns 1 if it did.
const REVOKE: &str = r#"
local r = redis.call('HMGET', KEYS[1], 'family', 'client_id')
local family = r[1]
if not family or r[2] ~= ARGV[2] then return 0 end
redis.call('HSET', ARGV[1] .. family, 'revoked', '1')
return 1
"#;

/// The Redis adapter of the refresh-token port.
#[derive(Clone)]
pub struct RedisRefreshTokenStore {
    connection: RedisConnection,
    prefix: String,
    timeout: Duration,
    issue: redis::Script,
    rotate: redis::Script,
    inspect: redis::Script,
    revoke: redis::Script,
}

impl std::fmt::Debug for RedisRefreshTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRefreshTokenStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> Cause {
    Cause::new(error)
}

impl RedisRefreshTokenStore {
    /// A store on an established connection; every call gives up after `timeout`.
    pub fn new(connection: impl Into<RedisConnection>, prefix: &str, timeout: Duration) -> Self {
        Self {
            connection: connection.into(),
            prefix: prefix.to_owned(),
            timeout,
            issue: redis::Script::new(ISSUE),
            rotate: redis::Script::new(ROTATE),
            inspect: redis::Script::new(INSPECT),
            revoke: redis::Script::new(REVOKE),
        }
    }

    fn token_key(&self, token: &RefreshTokenHash) -> String {
        format!("{}{}", self.token_prefix(), token.to_hex())
    }

    fn token_prefix(&self) -> String {
        format!("{}{{rt}}:t:", self.prefix)
    }

    fn family_prefix(&self) -> String {
        format!("{}{{rt}}:f:", self.prefix)
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T, Cause> {
        let mut connection = self.connection.clone();
        tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
            .await
            .map_err(|_| Cause::new("redis call timed out"))?
            .map_err(unavailable)
    }
}

fn parse_grant(parts: &[String], expires_at: SystemTime) -> Result<RefreshGrant, Cause> {
    let [family, subject, client_id, scope, audience, session_expires_at, jkt] = parts else {
        return Err(Cause::new("malformed refresh token record"));
    };
    let session_expires_at = session_expires_at
        .parse::<u64>()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        .map_err(unavailable)?;
    Ok(RefreshGrant {
        family: FamilyId(family.clone()),
        subject: Subject::new(subject.as_str()).map_err(unavailable)?,
        client_id: ClientId::new(client_id.as_str()).map_err(unavailable)?,
        scope: ScopeSet::parse(scope).map_err(unavailable)?,
        audience: serde_json::from_str(audience).map_err(unavailable)?,
        expires_at,
        session_expires_at,
        dpop_jkt: Some(jkt.clone()).filter(|jkt| !jkt.is_empty()),
    })
}

fn at_seconds(text: &str) -> Result<SystemTime, RotateError> {
    text.parse::<u64>()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        .map_err(|e| RotateError::Unavailable(Cause::new(format!("malformed expiry: {e}"))))
}

fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[async_trait]
impl RefreshTokenStore for RedisRefreshTokenStore {
    async fn issue(
        &self,
        token: RefreshTokenHash,
        grant: RefreshGrant,
    ) -> Result<(), RefreshStoreError> {
        let audience =
            serde_json::to_string(&grant.audience).map_err(|e| RefreshStoreError(Cause::new(e)))?;
        let mut invocation = self.issue.prepare_invoke();
        invocation
            .key(self.token_key(&token))
            .key(format!("{}{}", self.family_prefix(), grant.family.0))
            .arg(&grant.family.0)
            .arg(grant.subject.as_str())
            .arg(grant.client_id.as_str())
            .arg(grant.scope.to_string())
            .arg(audience)
            .arg(unix_seconds(grant.expires_at))
            .arg(unix_seconds(SystemTime::now()))
            .arg(unix_seconds(grant.session_expires_at))
            .arg(grant.dpop_jkt.as_deref().unwrap_or_default());
        self.run::<i64>(invocation)
            .await
            .map(|_| ())
            .map_err(RefreshStoreError)
    }

    async fn inspect(
        &self,
        presented: &RefreshTokenHash,
        client_id: &ClientId,
        now: SystemTime,
    ) -> Result<RefreshGrant, RotateError> {
        let mut invocation = self.inspect.prepare_invoke();
        invocation
            .key(self.token_key(presented))
            .arg(client_id.as_str())
            .arg(unix_seconds(now))
            .arg(self.family_prefix());
        let reply: Vec<String> = self
            .run(invocation)
            .await
            .map_err(RotateError::Unavailable)?;
        match reply.split_first() {
            Some((status, [rest @ .., expires_at])) if status == "ok" => {
                parse_grant(rest, at_seconds(expires_at)?).map_err(RotateError::Unavailable)
            }
            Some((status, _)) if status == "invalid" => Err(RotateError::Invalid),
            _ => Err(RotateError::Unavailable(Cause::new(
                "unexpected reply from the inspect script",
            ))),
        }
    }

    async fn rotate(
        &self,
        presented: &RefreshTokenHash,
        client_id: &ClientId,
        next: Successor,
        now: SystemTime,
        grace: Duration,
    ) -> Result<Rotation, RotateError> {
        let mut invocation = self.rotate.prepare_invoke();
        invocation
            .key(self.token_key(presented))
            .key(self.token_key(&next.hash))
            .arg(client_id.as_str())
            .arg(unix_seconds(next.expires_at))
            .arg(unix_seconds(now))
            .arg(self.family_prefix())
            .arg(unix_millis(now))
            .arg(grace.as_millis() as u64)
            .arg(next.sealed.to_hex())
            .arg(self.token_prefix())
            .arg(next.hash.to_hex());
        let reply: Vec<String> = self
            .run(invocation)
            .await
            .map_err(RotateError::Unavailable)?;
        match reply.split_first() {
            Some((status, rest)) if status == "ok" => {
                let expires_at = UNIX_EPOCH + Duration::from_secs(unix_seconds(next.expires_at));
                parse_grant(rest, expires_at)
                    .map(Rotation::Rotated)
                    .map_err(RotateError::Unavailable)
            }
            Some((status, [rest @ .., sealed, expires_at])) if status == "replayed" => {
                let sealed = SealedToken::from_hex(sealed).ok_or_else(|| {
                    RotateError::Unavailable(Cause::new("malformed sealed successor"))
                })?;
                let grant =
                    parse_grant(rest, at_seconds(expires_at)?).map_err(RotateError::Unavailable)?;
                Ok(Rotation::Replayed { grant, sealed })
            }
            Some((status, [family, subject])) if status == "reused" => Err(RotateError::Reused {
                family: FamilyId(family.clone()),
                subject: Subject::new(subject.as_str())
                    .map_err(|e| RotateError::Unavailable(Cause::new(e)))?,
            }),
            Some((status, _)) if status == "invalid" => Err(RotateError::Invalid),
            _ => Err(RotateError::Unavailable(Cause::new(
                "unexpected reply from the rotate script",
            ))),
        }
    }

    async fn family_active(
        &self,
        family: &FamilyId,
        _now: SystemTime,
    ) -> Result<bool, RefreshStoreError> {
        // The family key expires with its newest token, so its presence is the liveness.
        let mut connection = self.connection.clone();
        let revoked: Option<String> = tokio::time::timeout(
            self.timeout,
            redis::cmd("HGET")
                .arg(format!("{}{}", self.family_prefix(), family.0))
                .arg("revoked")
                .query_async(&mut connection),
        )
        .await
        .map_err(|_| RefreshStoreError(Cause::new("redis call timed out")))?
        .map_err(|e| RefreshStoreError(Cause::new(e)))?;
        Ok(revoked.as_deref() == Some("0"))
    }

    async fn revoke(
        &self,
        token: &RefreshTokenHash,
        client_id: &ClientId,
    ) -> Result<bool, RefreshStoreError> {
        let mut invocation = self.revoke.prepare_invoke();
        invocation
            .key(self.token_key(token))
            .arg(self.family_prefix())
            .arg(client_id.as_str());
        self.run::<i64>(invocation)
            .await
            .map(|n| n == 1)
            .map_err(RefreshStoreError)
    }
}
