//! The directory adapters: who may log in (the users-and-clients file behind the `UserDirectory`
//! port) and how their passwords and client secrets are checked (argon2id behind the
//! `PasswordVerifier` port), apart from the item and token stores so the identity side can grow
//! (a database directory, an admin API) without touching them.

#[cfg(any(test, feature = "testkit"))]
pub mod contract;
pub mod password;
pub mod reloading;
pub mod spec;
pub mod sql;
pub mod users_file;
pub mod users_file_error;

pub use password::{hash_password, hash_password_with, Argon2Verifier, HashParams};
pub use reloading::ReloadingDirectory;
pub use spec::{ClientSpec, UserSpec};
pub use sql::SqlDirectory;
pub use users_file::{clients_with_grant, FileDirectory};
pub use users_file_error::{Entry, RedirectUriProblem, Rule, UsersFileError};

#[cfg(test)]
mod contract_tests {
    use crate::contract;
    use crate::{FileDirectory, SqlDirectory};

    #[tokio::test]
    async fn the_users_file_answers_what_it_holds() {
        let (users, clients) = contract::seed();
        let file = FileDirectory::from_toml(&contract::seed_toml(&users, &clients)).unwrap();
        contract::reads(&file, &users, &clients).await;
    }

    #[tokio::test]
    async fn sqlite_keeps_and_changes_users_and_clients() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("identity.db").display());
        contract::writes(&SqlDirectory::connect(&url).await.unwrap()).await;
        // Reopened: the applied migrations are recognised, and the store works on.
        let reopened = SqlDirectory::connect(&url).await.unwrap();
        contract::writes(&reopened).await;
    }
}
