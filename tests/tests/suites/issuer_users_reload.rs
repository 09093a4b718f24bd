//! The users file followed while the issuer runs: a user added to it can log in without a
//! restart, a removed one cannot, and a file that no longer validates changes nothing.

use portcullis_tests::{Stack, StackOptions, UsersFile, PASSWORD};
use std::sync::Arc;
use std::time::Duration;

/// Asks until `user`'s login answers `status`, for at most 10 s (the reload interval is 100 ms).
async fn until_login_is(stack: &Stack, user: &str, status: u16) {
    for _ in 0..100 {
        if stack.login_response(user, PASSWORD).await.status() == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{user}'s login never answered {status}");
}

#[tokio::test]
async fn edits_to_the_users_file_take_effect_without_a_restart() {
    let options = StackOptions {
        issuer: Some(Arc::new(|issuer| {
            issuer.users_reload_interval = Duration::from_millis(100);
        })),
        ..StackOptions::default()
    };
    let stack = Stack::start_with(options).await;
    assert_eq!(stack.login_response("carol", PASSWORD).await.status(), 400);
    let with_carol = UsersFile::standard().user("carol", &["items:read"]);
    with_carol.write_in(stack.dir.path());
    until_login_is(&stack, "carol", 200).await;

    // A broken edit is refused: carol and everyone else keep working.
    std::fs::write(
        stack.dir.path().join("users.toml"),
        "[[users]]\nusername = ",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stack.login_response("carol", PASSWORD).await.status(), 200);
    assert_eq!(stack.login_response("alice", PASSWORD).await.status(), 200);

    // Removing her from the file ends her logins.
    UsersFile::standard().write_in(stack.dir.path());
    until_login_is(&stack, "carol", 400).await;
}
