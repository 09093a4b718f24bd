//! Store adapters: the SQLite and PostgreSQL item stores, the in-memory and Redis refresh-token stores, and the
//! users-and-clients file with argon2id password checks.

pub mod password;
pub mod postgres;
mod queries;
pub mod refresh_memory;
pub mod refresh_redis;
mod rows;
pub mod sqlite;
pub mod users_file;

pub use password::{hash_password, Argon2Verifier};
pub use postgres::PgItemStore;
pub use refresh_memory::MemoryRefreshTokenStore;
pub use refresh_redis::RedisRefreshTokenStore;
pub use sqlite::SqliteItemStore;
pub use users_file::{FileDirectory, UsersFileError};
