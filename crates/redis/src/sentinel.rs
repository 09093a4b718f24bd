//! The connection every Redis adapter holds: one self-reconnecting connection to a standalone
//! server (`ConnectionManager`, the default), or one to whichever server the Sentinels name the
//! master of right now.
//!
//! A `ConnectionManager` built on the master's address keeps reconnecting to that address after
//! a failover; the Sentinel connection instead drops its connection on the first error that says
//! the server is gone or no longer the master (`READONLY`), and the next call asks the Sentinels
//! again (`SENTINEL get-master-addr-by-name`, then `ROLE` on the answer).

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::sentinel::SentinelClient;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The Sentinels of a service's Redis (`*_REDIS_SENTINELS`, `*_REDIS_SENTINEL_MASTER`).
#[derive(Clone, Debug)]
pub struct SentinelSettings {
    /// `host:port` of each Sentinel, asked in order.
    pub sentinels: Vec<String>,
    /// The name the Sentinels monitor the master under.
    pub master: String,
}

/// The connection the Redis adapters share: cheap to clone, every clone on the same connection.
#[derive(Clone)]
pub enum RedisConnection {
    /// One server at a fixed address (`*_REDIS_URL`).
    Direct(ConnectionManager),
    /// The master the Sentinels name, re-asked after a failure.
    Sentinel(Arc<SentinelConnection>),
}

impl From<ConnectionManager> for RedisConnection {
    fn from(connection: ConnectionManager) -> Self {
        Self::Direct(connection)
    }
}

/// A connection to the current master of a Sentinel-monitored Redis.
pub struct SentinelConnection {
    client: tokio::sync::Mutex<SentinelClient>,
    current: Mutex<Option<(u64, MultiplexedConnection)>>,
    generation: AtomicU64,
    config: redis::AsyncConnectionConfig,
}

impl SentinelConnection {
    pub(crate) fn new(client: SentinelClient, config: redis::AsyncConnectionConfig) -> Self {
        Self {
            client: tokio::sync::Mutex::new(client),
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
            config,
        }
    }

    fn cached(&self) -> Option<(u64, MultiplexedConnection)> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The connection to the master, asking the Sentinels when there is none. One caller asks
    /// at a time; the others wait and reuse its answer.
    pub(crate) async fn connection(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let Some(current) = self.cached() {
            return Ok(current);
        }
        let mut client = self.client.lock().await;
        if let Some(current) = self.cached() {
            return Ok(current);
        }
        let master = client.async_get_client().await?;
        let connection = master
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let current = (generation, connection);
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(current.clone());
        Ok(current)
    }

    /// Drops connection `generation` after an error that says it is no use any more, so the next
    /// call asks the Sentinels for the master again (a newer connection is kept).
    fn forget_on(&self, generation: u64, error: &RedisError) {
        let gone = error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
            || error.is_unrecoverable_error()
            || error.kind() == ErrorKind::ReadOnly;
        if !gone {
            return;
        }
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if matches!(&*current, Some((g, _)) if *g == generation) {
            *current = None;
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Direct(connection) => connection.req_packed_command(cmd),
            Self::Sentinel(sentinel) => Box::pin(async move {
                let (generation, mut connection) = sentinel.connection().await?;
                let result = connection.req_packed_command(cmd).await;
                if let Err(error) = &result {
                    sentinel.forget_on(generation, error);
                }
                result
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Direct(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(sentinel) => Box::pin(async move {
                let (generation, mut connection) = sentinel.connection().await?;
                let result = connection
                    .req_packed_commands(pipeline, offset, count)
                    .await;
                if let Err(error) = &result {
                    sentinel.forget_on(generation, error);
                }
                result
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Direct(connection) => connection.get_db(),
            Self::Sentinel(_) => 0,
        }
    }
}
