use crate::helpers::*;
use serde_json::{Value, json};

fn find<'a>(list: &'a Value, status: &str) -> &'a Value {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == status)
        .unwrap()
}

both_databases! {
    async fn every_status_starts_with_an_enabled_default_text(app) {
        let list = app.get_json("/templates", &app.admin_key).await;
        let statuses: Vec<_> = list["items"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["pending", "confirmed", "delayed", "delivered", "cancelled"]);
        for template in list["items"].as_array().unwrap() {
            assert_eq!(template["enabled"], true);
            assert_eq!(template["encoding"], "GSM-7");
            assert_eq!(template["segments"], 1);
            assert!(template["body"].as_str().unwrap().contains("{first_name}"), "{template}");
        }
    }

    async fn an_admin_replaces_a_text_and_its_cost_is_recounted(app) {
        let path = "/templates/confirmed";
        let body = json!({"body": "Hi {first_name}! Order {order_ref} is confirmed 🍕", "enabled": false});
        let response = app.client.put(app.url(path)).bearer_auth(&app.admin_key).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let saved: Value = response.json().await.unwrap();
        assert_eq!((saved["encoding"].as_str(), saved["segments"].as_i64(), saved["enabled"].as_bool()), (Some("UCS-2"), Some(1), Some(false)));
        let list = app.get_json("/templates", &app.admin_key).await;
        assert_eq!(find(&list, "confirmed")["body"], body["body"]);
        assert_eq!(find(&list, "pending")["enabled"], true);

        let long = json!({"body": format!("{{customer_name}} {}", "x".repeat(200))});
        let saved: Value = app.client.put(app.url(path)).bearer_auth(&app.admin_key).json(&long).send().await.unwrap().json().await.unwrap();
        assert_eq!((saved["encoding"].as_str(), saved["segments"].as_i64(), saved["enabled"].as_bool()), (Some("GSM-7"), Some(2), Some(true)));
    }

    async fn a_bad_template_is_refused_and_changes_nothing(app) {
        let before = (app.snapshot().await, app.get_json("/templates", &app.admin_key).await);
        let bad = app.client.put(app.url("/templates/delayed")).bearer_auth(&app.admin_key)
            .json(&json!({"body": "Sorry {name}, {order_ref} is late"})).send().await.unwrap();
        let problem = assert_problem(bad, 422).await;
        assert_eq!(error_fields(&problem), ["body"]);
        assert!(problem["detail"].as_str().unwrap().contains("{name}"));
        let empty = app.client.put(app.url("/templates/delayed")).bearer_auth(&app.admin_key)
            .json(&json!({"body": " "})).send().await.unwrap();
        assert_problem(empty, 422).await;
        let unknown_status = app.client.put(app.url("/templates/shipped")).bearer_auth(&app.admin_key)
            .json(&json!({"body": "x"})).send().await.unwrap();
        assert_problem(unknown_status, 404).await;
        assert_eq!((app.snapshot().await, app.get_json("/templates", &app.admin_key).await), before);
    }

    async fn the_preview_renders_for_a_real_or_a_sample_order(app) {
        let mut body = order_body("Grace Hopper");
        body["external_ref"] = json!("PO-42");
        let order = app.create_order_as(&app.admin_key, &body).await;
        let preview = |request: Value| {
            let app = &app;
            async move { app.post("/templates/preview", &app.admin_key, &request).send().await.unwrap() }
        };
        let rendered: Value = preview(json!({"body": "{first_name}: {order_ref} ({items}) is {status}", "order_id": order["id"]})).await.json().await.unwrap();
        assert_eq!(rendered["text"], "Grace: PO-42 (2 x Margherita, 1 x Cola) is pending");
        assert_eq!((rendered["encoding"].as_str(), rendered["segments"].as_i64()), (Some("GSM-7"), Some(1)));
        assert_eq!(rendered["characters"], 50);
        assert_eq!(rendered["non_gsm_characters"], json!([]));

        let sample: Value = preview(json!({"body": "Hi {first_name} 🍕 {first_name}"})).await.json().await.unwrap();
        assert_eq!(sample["text"], "Hi Ada 🍕 Ada");
        assert_eq!((sample["encoding"].as_str(), sample["characters"].as_i64()), (Some("UCS-2"), Some(13)));
        assert_eq!(sample["non_gsm_characters"], json!(["🍕"]));

        let missing = preview(json!({"body": "x", "order_id": uuid::Uuid::new_v4()})).await;
        let problem = assert_problem(missing, 404).await;
        assert!(problem["detail"].as_str().unwrap().starts_with("There is no order"), "{problem}");
        let unknown = preview(json!({"body": "{total}"})).await;
        assert_eq!(error_fields(&assert_problem(unknown, 422).await), ["body"]);
    }
}

// Templates are kept in memory for a moment: one saved through this instance is used
// by the next change at once, one saved elsewhere on the same database (here straight
// into it, as another instance would) within two seconds.
both_databases! {
    async fn a_saved_template_is_used_at_once_here_and_soon_everywhere(app) {
        let delay = async |name: &str| {
            let id = app.create_order(name).await["id"].as_str().unwrap().to_owned();
            let changed: Value = app.change_status(&id, "delayed").await.json().await.unwrap();
            changed["notification"]["body"].as_str().unwrap().to_owned()
        };
        assert!(delay("Ada").await.contains("Ada"));

        let here = json!({"body": "Here: {first_name} waits a little longer."});
        let response = app.client.put(app.url("/templates/delayed")).bearer_auth(&app.admin_key).json(&here).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(delay("Grace").await, "Here: Grace waits a little longer.");

        let elsewhere = order_notify::store::connect(app.settings.database_url.as_str()).await.unwrap();
        let template = order_notify::domain::Template::parse("Elsewhere: sorry, {first_name}.").unwrap();
        order_notify::store::templates::save_template(&elsewhere, order_notify::domain::OrderStatus::Delayed, &template, true, "another instance").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(delay("Edsger").await, "Elsewhere: sorry, Edsger.");
    }
}
