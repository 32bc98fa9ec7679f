//! The binary itself: exit codes, the one-line configuration error, key commands.

use std::process::Command;

fn order_notify(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_order-notify"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn");
    command
}

#[test]
fn a_bad_setting_stops_the_start_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = order_notify(dir.path())
        .env("ORDER_NOTIFY_SEND_CONCURRENCY", "lots")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("ORDER_NOTIFY_SEND_CONCURRENCY"), "{stderr}");
    assert!(
        !dir.path().join("order-notify.db").exists(),
        "nothing may run after a bad setting"
    );
}

#[test]
fn keys_are_created_listed_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = order_notify(dir.path()).arg("migrate").output().unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    assert!(
        dir.path().join("order-notify.db").exists(),
        "the default database is order-notify.db here"
    );

    let create = order_notify(dir.path())
        .args(["keys", "create", "--name", "ci", "--role", "integration"])
        .output()
        .unwrap();
    assert!(create.status.success(), "{create:?}");
    let secret = String::from_utf8(create.stdout).unwrap().trim().to_owned();
    assert!(
        secret.starts_with("onk_"),
        "only the secret goes to stdout: {secret}"
    );

    let list = order_notify(dir.path())
        .args(["keys", "list"])
        .output()
        .unwrap();
    let listing = String::from_utf8(list.stdout).unwrap();
    let line = listing
        .lines()
        .find(|l| l.ends_with("ci"))
        .expect("the key is listed");
    assert!(line.contains("integration") && line.contains(&secret[..8]));
    assert!(!listing.contains(&secret));
    let id = line.split_whitespace().next().unwrap();

    let revoke = order_notify(dir.path())
        .args(["keys", "revoke", id])
        .output()
        .unwrap();
    assert!(revoke.status.success());
    let again = order_notify(dir.path())
        .args(["keys", "revoke", id])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));

    let bad_role = order_notify(dir.path())
        .args(["keys", "create", "--name", "x", "--role", "root"])
        .output()
        .unwrap();
    assert!(!bad_role.status.success());
}

#[test]
fn openapi_prints_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let output = order_notify(dir.path()).arg("openapi").output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        order_notify::http::openapi::yaml()
    );
}
