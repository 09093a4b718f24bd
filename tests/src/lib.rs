//! Support for the workspace-level suites: a full stack (issuer + data API) on 127.0.0.1:0 with
//! known users, Redis and PostgreSQL in containers, and a bounded background [`Load`] for the
//! fault-injection suites.
//!
//! Containers come from `PORTCULLIS_REDIS_IMAGE` (default: the public `redis:7` image) and
//! `PORTCULLIS_POSTGRES_IMAGE` (default `postgres:16`). When Docker is unavailable the container
//! helpers panic with the reason: a suite that needs a container fails loudly, it never passes
//! by skipping.

mod browser;
mod certs;
mod containers;
mod dpop;
mod jws;
mod load;
mod oauth;
mod redis_stats;
mod replicas;
mod requests;
mod stack;
mod tls_containers;
mod users;

pub use browser::{authorize_url, pkce, Answer, Browser, CALLBACK_ON_PORT};
pub use certs::TestCa;
pub use containers::{
    start_local_redis_server, start_postgres, start_postgres_on_fixed_port, start_redis,
    start_redis_cluster, start_redis_on_fixed_port, start_redis_sentinel, LocalRedisServer,
    PostgresContainer, RedisCluster, RedisContainer, RedisSentinelSet,
};
pub use dpop::{bound_token, DpopClient};
pub use jws::{b64, b64_json, kid_of, now, sign_rs256};
pub use load::{Load, LoadOptions, LoadReport, Outcome, Sample, WriteLog};
pub use oauth::CodeLogin;
pub use redis_stats::command_calls;
pub use replicas::two_replicas;
pub use stack::{strict_refresh_reuse, DataApiTweak, IssuerTweak, Stack, StackOptions};
pub use tls_containers::{
    start_postgres_tls, start_redis_tls, TlsFiles, TlsServer, REDIS_PASSWORD, REDIS_USER,
};
pub use users::{
    UsersFile, CALLBACK, CLI_CLIENT, DPOP_CLIENT, LOGGED_OUT, PASSWORD, SPA_CLIENT, WEB_CLIENT,
};
