//! The audit trail: key creation and revocation, template changes and opt-out removals
//! are kept with who did them and when, and only admins read them (`GET /audit`).

use crate::helpers::*;
use chrono::Utc;
use order_notify::store::entities::{audit_events, opt_outs};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};
use serde_json::{Value, json};

async fn entries(app: &TestApp) -> u64 {
    audit_events::Entity::find().count(&app.db).await.unwrap()
}

both_databases! {
    async fn key_template_and_opt_out_changes_are_kept_with_who_made_them(app) {
        let (owner_id, owner) = app.create_key("Owner", "admin").await;
        let (tablet_id, _) = {
            let response = app.post("/keys", &owner, &json!({"name": "Tablet 2", "role": "staff"})).send().await.unwrap();
            assert_eq!(response.status(), 201);
            let body: Value = response.json().await.unwrap();
            (body["id"].as_str().unwrap().to_owned(), body["key"].as_str().unwrap().to_owned())
        };
        let saved = app.client.put(app.url("/templates/confirmed")).bearer_auth(&owner)
            .json(&json!({"body": "Hi {first_name}, order {order_ref} is confirmed.", "enabled": false}))
            .send().await.unwrap();
        assert_eq!(saved.status(), 200);
        opt_outs::ActiveModel {
            phone: Set("+31612345678".to_owned()),
            source: Set("twilio".into()),
            created_at: Set(Utc::now()),
        }
        .insert(&app.db).await.unwrap();
        let lifted = app.client.delete(app.url("/opt-outs/%2B31612345678")).bearer_auth(&owner).send().await.unwrap();
        assert_eq!(lifted.status(), 204);
        let revoked = app.client.delete(app.url(&format!("/keys/{tablet_id}"))).bearer_auth(&owner).send().await.unwrap();
        assert_eq!(revoked.status(), 204);

        let trail = app.get_json("/audit", &owner).await;
        let items = trail["items"].as_array().unwrap();
        let seen: Vec<(&str, &str, &str)> = items.iter()
            .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap(), e["subject"].as_str().unwrap()))
            .collect();
        // Newest first, back to the start that made the configured admin key, which
        // then made "Owner".
        let keys = app.get_json("/keys", &owner).await;
        let configured = keys["items"].as_array().unwrap().iter()
            .find(|k| k["name"] == "ORDER_NOTIFY_ADMIN_KEY").unwrap()["id"].as_str().unwrap().to_owned();
        assert_eq!(seen, vec![
            ("key.revoked", "Owner", tablet_id.as_str()),
            ("opt_out.lifted", "Owner", "+31612345678"),
            ("template.saved", "Owner", "confirmed"),
            ("key.created", "Owner", tablet_id.as_str()),
            ("key.created", "ORDER_NOTIFY_ADMIN_KEY", owner_id.as_str()),
            ("key.created", "configuration (ORDER_NOTIFY_ADMIN_KEY)", configured.as_str()),
        ], "{trail}");
        assert!(items[5]["key_id"].is_null());
        assert_eq!(items[0]["key_id"], json!(owner_id));
        assert_eq!(items[3]["detail"], "\"Tablet 2\", role staff");
        assert_eq!(items[2]["detail"], "disabled \"Hi {first_name}, order {order_ref} is confirmed.\"");
        assert_eq!(items[1]["detail"], "lifted by an admin (DELETE /opt-outs)");
        let at = chrono::DateTime::parse_from_rfc3339(items[0]["at"].as_str().unwrap()).unwrap();
        assert!((Utc::now() - at.with_timezone(&Utc)).num_seconds().abs() < 60);
        assert!(trail["next_cursor"].is_null());

        // Paged and filtered, as the other lists.
        let first = app.get_json("/audit?limit=2", &owner).await;
        assert_eq!(first["items"].as_array().unwrap().len(), 2);
        let cursor = first["next_cursor"].as_str().unwrap().to_owned();
        let rest = app.get_json(&format!("/audit?limit=10&cursor={cursor}"), &owner).await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 4);
        assert_eq!(rest["items"][0], items[2]);
        let keys_only = app.get_json("/audit?action=key.created,key.revoked", &owner).await;
        assert_eq!(keys_only["items"].as_array().unwrap().len(), 4);
        let problem = assert_problem(app.get("/audit?action=key.deleted", &owner).send().await.unwrap(), 422).await;
        assert_eq!(problem["errors"][0]["field"], "action");
    }

    async fn refused_changes_leave_no_entry_and_only_admins_read_the_trail(app) {
        let before = entries(&app).await;
        // The last admin key cannot be revoked (the test's admin key comes from the
        // configuration, which cannot be revoked either); an unknown key is 404; a
        // template too long is 422; a number that did not opt out is 404.
        let keys = app.get_json("/keys", &app.admin_key).await;
        let own = keys["items"][0]["id"].as_str().unwrap().to_owned();
        assert_problem(app.client.delete(app.url(&format!("/keys/{own}"))).bearer_auth(&app.admin_key).send().await.unwrap(), 409).await;
        assert_problem(app.client.delete(app.url(&format!("/keys/{}", uuid::Uuid::new_v4()))).bearer_auth(&app.admin_key).send().await.unwrap(), 404).await;
        let long = "x".repeat(1600);
        let refused = app.client.put(app.url("/templates/confirmed")).bearer_auth(&app.admin_key)
            .json(&json!({"body": long, "enabled": true})).send().await.unwrap();
        assert_eq!(refused.status(), 422);
        assert_problem(app.client.delete(app.url("/opt-outs/%2B31612345678")).bearer_auth(&app.admin_key).send().await.unwrap(), 404).await;
        assert_eq!(entries(&app).await, before);

        let (_, staff) = app.create_key("Tablet", "staff").await;
        let (_, shop) = app.create_key("Webshop", "integration").await;
        assert_problem(app.get("/audit", &staff).send().await.unwrap(), 403).await;
        assert_problem(app.get("/audit", &shop).send().await.unwrap(), 403).await;
        assert_problem(app.client.get(app.url("/audit")).send().await.unwrap(), 401).await;
    }
}
