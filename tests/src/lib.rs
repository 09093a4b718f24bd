//! Support for the workspace-level suites: a full stack (issuer + data API) on 127.0.0.1:0 with
//! known users, Redis and PostgreSQL in containers, and a bounded background [`Load`] for the
//! fault-injection suites.
//!
//! Containers come from `PORTCULLIS_REDIS_IMAGE` (default: the public `redis:7` image) and
//! `PORTCULLIS_POSTGRES_IMAGE` (default `postgres:16`). When Docker is unavailable the container
//! helpers panic with the reason: a suite that needs a container fails loudly, it never passes
//! by skipping.

mod containers;
mod jws;
mod load;
mod requests;
mod stack;
mod users;

pub use containers::{
    start_local_redis_server, start_postgres, start_postgres_on_fixed_port, start_redis,
    start_redis_cluster, start_redis_on_fixed_port, LocalRedisServer, PostgresContainer,
    RedisCluster, RedisContainer,
};
pub use jws::{b64, b64_json, kid_of, now, sign_rs256};
pub use load::{Load, LoadOptions, LoadReport, Outcome, Sample, WriteLog};
pub use stack::{strict_refresh_reuse, DataApiTweak, IssuerTweak, Stack, StackOptions};
pub use users::{UsersFile, CLI_CLIENT, PASSWORD};
