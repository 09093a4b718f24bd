//! Store adapters: the SQLite and PostgreSQL item stores, the Redis refresh-token store (the
//! in-memory one lives in the domain and is re-exported here), and the Redis and in-process
//! login-record stores.

pub mod ephemeral_memory;
pub mod ephemeral_redis;
pub mod postgres;
mod queries;
pub mod refresh_redis;
mod rows;
pub mod sqlite;

pub use ephemeral_memory::MemoryEphemeralStore;
pub use ephemeral_redis::RedisEphemeralStore;
/// Re-exported from the domain, where the use cases' unit tests share it.
pub use portcullis_domain::refresh_memory::{self, MemoryRefreshTokenStore};
pub use postgres::{PgConnectError, PgItemStore};
pub use refresh_redis::RedisRefreshTokenStore;
pub use sqlite::SqliteItemStore;
