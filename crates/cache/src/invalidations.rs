//! The subscription and the heartbeats that keep a [`TieredCache`] coherent and prove it live
//! (the argument is in [`crate::tier`]).

use crate::tier::{LocalTier, TieredCache};
use futures::StreamExt;
use portcullis_domain::cache::Cache;
use portcullis_redis::{RedisConnection, RedisSettings};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Prefix of an invalidation message: the rest is the changed cache key.
pub(crate) const INVALIDATION: &str = "i:";
/// Prefix of a heartbeat: `h:<instance>:<sent at, ns on the sender's tier clock>`.
const HEARTBEAT: &str = "h:";

/// How the memory tier is sized and how fresh its proof must be.
#[derive(Clone, Copy, Debug)]
pub struct TierSettings {
    /// The coherence window `W`: the tier serves from memory only while a heartbeat sent less
    /// than `W` ago has come back, and every write waits `W` before it is acknowledged.
    pub window: Duration,
    /// Most bytes of entries held in memory.
    pub max_bytes: u64,
    /// Longest an entry stays in memory (the shared cache's own expiry still applies on top:
    /// entries carry their freshness).
    pub max_age: Duration,
}

/// Builds the tier in front of `remote` and starts its two background tasks, which end when
/// the returned cache is dropped. `settings` opens the subscriber connection (to the server, or
/// the master the Sentinels name), `connection` sends the heartbeats, and `channel` must be the
/// one `remote` publishes its invalidations on ([`crate::RedisCache::with_invalidations`]).
pub fn start(
    remote: Arc<dyn Cache>,
    tier_settings: TierSettings,
    redis: RedisSettings,
    connection: RedisConnection,
    channel: &str,
) -> (TieredCache, Vec<tokio::task::JoinHandle<()>>) {
    let tier = Arc::new(LocalTier::new(
        tier_settings.max_bytes,
        tier_settings.window,
        tier_settings.max_age,
    ));
    let tasks = vec![
        tokio::spawn(subscribe(Arc::downgrade(&tier), redis, channel.to_owned())),
        tokio::spawn(heartbeat(
            Arc::downgrade(&tier),
            connection,
            channel.to_owned(),
        )),
    ];
    (TieredCache::new(remote, tier), tasks)
}

/// Publishes a heartbeat every fifth of the window, stamped with when it was sent. A slow or
/// failed publish only delays the proof: the tier then reads from Redis until one comes back.
async fn heartbeat(tier: Weak<LocalTier>, mut connection: RedisConnection, channel: String) {
    let period = {
        let Some(tier) = tier.upgrade() else { return };
        (tier.window() / 5).max(Duration::from_millis(1))
    };
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (message, window) = {
            let Some(tier) = tier.upgrade() else { return };
            (
                format!("{HEARTBEAT}{}:{}", tier.instance, tier.now_ns()),
                tier.window(),
            )
        };
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(&channel).arg(message);
        let sent = publish.query_async::<i64>(&mut connection);
        let _ = tokio::time::timeout(window.max(Duration::from_millis(100)), sent).await;
    }
}

/// Keeps one subscription open: applies invalidations and own heartbeats in the order they
/// come, forgets everything whenever it (re)subscribes, and starts over when the subscription
/// ends or no own heartbeat has come back for a while (a failover can leave it attached to a
/// server nobody publishes on any more).
async fn subscribe(tier: Weak<LocalTier>, redis: RedisSettings, channel: String) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match open(&redis, &channel).await {
            Ok(stream) => {
                let Some(strong) = tier.upgrade() else { return };
                strong.reset();
                let stall = (strong.window() * 20).max(Duration::from_secs(1));
                drop(strong);
                backoff = Duration::from_millis(100);
                if !follow(&tier, stream, stall).await {
                    return;
                }
                if let Some(tier) = tier.upgrade() {
                    tier.reset();
                }
                tracing::warn!(
                    "cache invalidation subscription lost; reading from Redis until it is back"
                );
            }
            Err(error) => {
                tracing::warn!(error = %portcullis_domain::cause::Chain(&error),
                    "cannot subscribe to cache invalidations; reading from Redis");
            }
        }
        if tier.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

async fn open(
    redis: &RedisSettings,
    channel: &str,
) -> Result<redis::aio::PubSubStream, portcullis_redis::ConnectError> {
    let (mut sink, stream) = redis.open_pubsub().await?.split();
    tokio::time::timeout(Duration::from_secs(1), sink.subscribe(channel))
        .await
        .map_err(|_| portcullis_redis::ConnectError::Timeout(Duration::from_secs(1)))?
        .map_err(portcullis_redis::ConnectError::Connect)?;
    Ok(stream)
}

/// Applies messages until the stream ends or stalls (`true`), or the tier is gone (`false`).
async fn follow(
    tier: &Weak<LocalTier>,
    mut stream: redis::aio::PubSubStream,
    stall: Duration,
) -> bool {
    let mut last_own = tokio::time::Instant::now();
    let mut watchdog = tokio::time::interval(stall / 4);
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return true };
                let Some(tier) = tier.upgrade() else { return false };
                if apply(&tier, message.get_payload_bytes()) {
                    last_own = tokio::time::Instant::now();
                }
            }
            _ = watchdog.tick() => {
                if tier.strong_count() == 0 {
                    return false;
                }
                if last_own.elapsed() > stall {
                    return true;
                }
            }
        }
    }
}

/// Applies one message; `true` if it was one of this replica's own heartbeats.
pub(crate) fn apply(tier: &LocalTier, payload: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(payload) else {
        return false;
    };
    if let Some(key) = text.strip_prefix(INVALIDATION) {
        tier.invalidate(key);
        return false;
    }
    let own = text
        .strip_prefix(HEARTBEAT)
        .and_then(|rest| rest.split_once(':'))
        .filter(|(instance, _)| *instance == tier.instance)
        .and_then(|(_, sent)| sent.parse::<u64>().ok());
    match own {
        Some(sent) => {
            tier.confirm(sent);
            true
        }
        None => false,
    }
}
