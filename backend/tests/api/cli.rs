//! The binary itself: exit codes, the one-line configuration error, key commands.

use crate::helpers::{
    KillOnDrop, create_order_at, free_local_address, order_notify_command as order_notify,
    wait_until_ready,
};

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

#[test]
fn the_worker_command_sends_what_the_api_queued() {
    let dir = tempfile::tempdir().unwrap();
    let admin = "cli-worker-test-admin-key-0123456789";
    let bind = free_local_address();
    let api = order_notify(dir.path())
        .args(["serve", "--no-worker"])
        .env("ORDER_NOTIFY_BIND", &bind)
        .env("ORDER_NOTIFY_ADMIN_KEY", admin)
        .spawn()
        .unwrap();
    let api = KillOnDrop(api);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = format!("http://{bind}");
    let client = reqwest::Client::new();
    let order: serde_json::Value = runtime.block_on(async {
        wait_until_ready(&client, &base).await;
        create_order_at(&client, &base, admin, "Ada", "+31612345678", true).await
    });
    assert_eq!(order["last_notification"]["state"], "queued");
    let inbox = |client: &reqwest::Client| {
        let url = format!("{base}/sandbox/messages");
        let request = client.get(url).bearer_auth(admin).send();
        runtime.block_on(async {
            request
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        inbox(&client)["items"],
        serde_json::json!([]),
        "serve --no-worker sends nothing"
    );

    let worker = KillOnDrop(order_notify(dir.path()).arg("worker").spawn().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while inbox(&client)["items"].as_array().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never sent the text"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(worker);
    drop(api);
}
