use crate::helpers::*;
use order_notify::app;
use order_notify::store::entities::api_keys;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

both_databases! {
    async fn a_new_key_is_shown_once_and_stored_only_as_a_hash(app) {
        let response = app.post("/keys", &app.admin_key, &json!({"name": " Front counter ", "role": "staff"})).send().await.unwrap();
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        let secret = created["key"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("onk_") && secret.len() >= 40);
        assert_eq!(created["name"], "Front counter");
        assert_eq!(created["role"], "staff");

        let list = app.get_json("/keys", &app.admin_key).await;
        let listed = list["items"].as_array().unwrap();
        assert_eq!(listed.len(), 2);
        let mine = listed.iter().find(|k| k["id"] == created["id"]).unwrap();
        assert!(mine.get("key").is_none());
        assert_eq!(mine["prefix"], secret[..8]);
        assert!(!list.to_string().contains(&secret));

        let rows = api_keys::Entity::find().all(&app.db).await.unwrap();
        let row = rows.iter().find(|r| r.id.to_string() == created["id"].as_str().unwrap()).unwrap();
        let expected: String = Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(row.secret_hash, expected);
        assert!(!format!("{rows:?}").contains(&secret), "the secret itself is stored");

        // The key works, and records when it was last used.
        assert_eq!(app.get("/orders", &secret).send().await.unwrap().status(), 200);
        let list = app.get_json("/keys", &app.admin_key).await;
        let mine = list["items"].as_array().unwrap().iter().find(|k| k["id"] == created["id"]).unwrap().clone();
        assert!(mine["last_used_at"].is_string());
    }

    async fn revoking_ends_a_key_but_not_the_configured_admin_key(app) {
        let (staff_id, staff) = app.create_key("tablet", "staff").await;
        assert_eq!(app.revoke_key(&staff_id).await.status(), 204);
        assert_problem(app.get("/orders", &staff).send().await.unwrap(), 401).await;
        assert_problem(app.revoke_key(&staff_id).await, 404).await;

        // The next start would bring it back: it is retired by the setting, not the API,
        // even when another admin key exists.
        let (second_admin, _) = app.create_key("second admin", "admin").await;
        let env_admin = api_keys::Entity::find()
            .filter(api_keys::Column::Source.eq("env")).one(&app.db).await.unwrap().unwrap();
        let before = app.snapshot().await;
        let problem = assert_problem(app.revoke_key(&env_admin.id.to_string()).await, 409).await;
        assert!(problem["detail"].as_str().unwrap().contains("ORDER_NOTIFY_ADMIN_KEY"), "{problem}");
        assert_eq!(app.snapshot().await, before);
        assert_eq!(app.get("/keys", &app.admin_key).send().await.unwrap().status(), 200);

        assert_eq!(app.revoke_key(&second_admin).await.status(), 204);
    }
}

#[tokio::test]
async fn the_first_start_creates_one_admin_key_and_a_sign_in_link() {
    let db = TestDb::create(DbKind::Sqlite).await.unwrap();
    let settings = settings_for(db.url(), &[("ORDER_NOTIFY_BIND", "127.0.0.1:8123")]);
    let conn = app::open_database(&settings).await.unwrap();
    let first = app::prepare(&conn, &settings)
        .await
        .unwrap()
        .expect("a first-start key");
    assert_eq!(
        first.sign_in_link,
        format!("http://127.0.0.1:8123/#key={}", first.secret)
    );
    let found = order_notify::store::keys::authenticate(&conn, &first.secret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.role, order_notify::domain::Role::Admin);
    // Only once: the next start finds a key and prints nothing.
    assert!(app::prepare(&conn, &settings).await.unwrap().is_none());
    // And it cannot be revoked while it is the only admin key.
    let before = order_notify::store::keys::count_active(&conn)
        .await
        .unwrap();
    assert!(matches!(
        order_notify::store::keys::revoke(&conn, found.id)
            .await
            .unwrap(),
        order_notify::store::keys::Revocation::LastAdmin
    ));
    assert_eq!(
        order_notify::store::keys::count_active(&conn)
            .await
            .unwrap(),
        before
    );
}

#[tokio::test]
async fn the_admin_key_variable_replaces_its_earlier_value() {
    let db = TestDb::create(DbKind::Sqlite).await.unwrap();
    let old = "first-value-of-the-admin-key";
    let new = "second-value-of-the-admin-key";
    let settings = settings_for(db.url(), &[("ORDER_NOTIFY_ADMIN_KEY", old)]);
    let conn = app::open_database(&settings).await.unwrap();
    assert!(app::prepare(&conn, &settings).await.unwrap().is_none());
    assert!(
        order_notify::store::keys::authenticate(&conn, old)
            .await
            .unwrap()
            .is_some()
    );
    let settings = settings_for(db.url(), &[("ORDER_NOTIFY_ADMIN_KEY", new)]);
    app::prepare(&conn, &settings).await.unwrap();
    assert!(
        order_notify::store::keys::authenticate(&conn, old)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        order_notify::store::keys::authenticate(&conn, new)
            .await
            .unwrap()
            .is_some()
    );
}
