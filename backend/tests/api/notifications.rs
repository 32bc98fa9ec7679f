//! Queuing texts: with the status change that causes them, on demand, and never to a
//! number that opted out. (Sending them is the worker's job.)

use crate::helpers::*;
use chrono::Utc;
use order_notify::store::entities::{notifications, opt_outs};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};
use serde_json::{Value, json};

async fn texts(app: &TestApp) -> u64 {
    notifications::Entity::find().count(&app.db).await.unwrap()
}

async fn opt_out(app: &TestApp, phone: &str) {
    opt_outs::ActiveModel {
        phone: Set(phone.to_owned()),
        source: Set("test".into()),
        created_at: Set(Utc::now()),
    }
    .insert(&app.db)
    .await
    .unwrap();
}

async fn change(app: &TestApp, id: &str, body: Value) -> Value {
    let response = app
        .patch(&format!("/orders/{id}/status"), &app.admin_key, &body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

both_databases! {
    async fn each_order_shows_its_newest_text_however_many_it_has(app) {
        let mut newest = Vec::new();
        for (i, name) in ["Ada", "Grace", "Edsger"].iter().enumerate() {
            let order = app.create_order(name).await;
            let id = order["id"].as_str().unwrap().to_owned();
            let mut last = Value::Null;
            // 2, 3 and 4 texts, interleaved with the other orders' by creation order.
            for _ in 0..(i + 2) {
                let response = app
                    .post(&format!("/orders/{id}/notifications"), &app.admin_key, &json!({}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 202);
                last = response.json::<Value>().await.unwrap()["id"].clone();
            }
            newest.push((id, last));
        }
        let page = app.get_json("/orders?status=pending", &app.admin_key).await;
        for (id, last) in &newest {
            let listed = page["items"].as_array().unwrap().iter().find(|o| o["id"] == **id).unwrap();
            assert_eq!(listed["last_notification"]["id"], *last, "list, order {id}");
            assert_eq!(app.get_order(id).await["last_notification"]["id"], *last, "get, order {id}");
        }
    }

    async fn a_status_change_queues_exactly_one_text(app) {
        let order = app.create_order("Ada Lovelace").await;
        assert_eq!(order["last_notification"], Value::Null);
        let id = order["id"].as_str().unwrap();
        let changed = change(&app, id, json!({"status": "confirmed"})).await;
        let text = &changed["notification"];
        assert_eq!(text["state"], "queued");
        assert_eq!(text["order_status"], "confirmed");
        assert_eq!(text["recipient"], "+31612345678");
        assert_eq!(text["provider"], "sandbox");
        assert_eq!((text["encoding"].as_str(), text["segments"].as_i64(), text["attempts"].as_i64()), (Some("GSM-7"), Some(1), Some(0)));
        assert!(text["body"].as_str().unwrap().starts_with("Good news Ada:"), "{text}");
        assert_eq!(changed["order"]["last_notification"], *text);
        assert_eq!(texts(&app).await, 1);

        // The worker may have sent it by now: the same text, perhaps in a later state.
        let history = app.get_json(&format!("/orders/{id}/notifications"), &app.admin_key).await;
        assert_eq!(history["items"].as_array().unwrap().len(), 1);
        assert_eq!(history["items"][0]["id"], text["id"]);
        assert_eq!(app.get_order(id).await["last_notification"]["id"], text["id"]);
        let page = app.get_json("/orders", &app.admin_key).await;
        assert_eq!(page["items"][0]["last_notification"]["id"], text["id"]);

        // The same status again, and a refused change, send nothing.
        assert_eq!(change(&app, id, json!({"status": "confirmed"})).await["notification"], Value::Null);
        assert_problem(app.change_status(id, "pending").await, 409).await;
        assert_eq!(texts(&app).await, 1);
        let second = change(&app, id, json!({"status": "delayed"})).await;
        let history = app.get_json(&format!("/orders/{id}/notifications"), &app.admin_key).await;
        assert_eq!(history["items"][0]["id"], second["notification"]["id"], "newest first");
        assert_eq!(history["items"].as_array().unwrap().len(), 2);
    }

    async fn notify_false_and_disabled_templates_keep_a_change_silent(app) {
        let order = app.create_order("Grace").await;
        let id = order["id"].as_str().unwrap();
        assert_eq!(change(&app, id, json!({"status": "confirmed", "notify": false})).await["notification"], Value::Null);
        assert_eq!(texts(&app).await, 0);

        let disable = app.client.put(app.url("/templates/delayed")).bearer_auth(&app.admin_key)
            .json(&json!({"body": "Sorry {first_name}, running late", "enabled": false})).send().await.unwrap();
        assert_eq!(disable.status(), 200);
        assert_eq!(change(&app, id, json!({"status": "delayed"})).await["notification"], Value::Null);
        assert_eq!(texts(&app).await, 0);
        // An explicit request still texts, and so does "Notify customer".
        let confirmed = change(&app, id, json!({"status": "confirmed", "notify": true})).await;
        assert_eq!(confirmed["notification"]["state"], "queued");
        change(&app, id, json!({"status": "delayed", "notify": false})).await;
        let manual = app.post(&format!("/orders/{id}/notifications"), &app.admin_key, &json!({})).send().await.unwrap();
        assert_eq!(manual.status(), 202);
        assert_eq!(manual.json::<Value>().await.unwrap()["body"], "Sorry Grace, running late");
        assert_eq!(texts(&app).await, 2);
    }

    async fn auto_notify_off_texts_only_on_request(app) {
        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[("ORDER_NOTIFY_AUTO_NOTIFY", "false")]).await.unwrap();
        let order = app.create_order("Alan").await;
        let id = order["id"].as_str().unwrap();
        assert_eq!(change(&app, id, json!({"status": "confirmed"})).await["notification"], Value::Null);
        assert_eq!(change(&app, id, json!({"status": "delayed", "notify": true})).await["notification"]["order_status"], "delayed");
        assert_eq!(texts(&app).await, 1);
    }

    async fn creating_with_notify_true_texts_that_the_order_arrived(app) {
        app.create_order("Quiet").await;
        assert_eq!(texts(&app).await, 0);
        let mut body = order_body("Katherine Johnson");
        body["notify"] = json!(true);
        let order = app.create_order_as(&app.admin_key, &body).await;
        let text = &order["last_notification"];
        assert_eq!((text["state"].as_str(), text["order_status"].as_str()), (Some("queued"), Some("pending")));
        assert!(text["body"].as_str().unwrap().contains("2 x Margherita, 1 x Cola"), "{text}");
        assert_eq!(texts(&app).await, 1);
    }

    async fn notify_customer_queues_the_current_or_a_custom_text(app) {
        let order = app.create_order("Edsger Dijkstra").await;
        let id = order["id"].as_str().unwrap();
        let path = format!("/orders/{id}/notifications");
        let current = app.post(&path, &app.admin_key, &json!({})).send().await.unwrap();
        assert_eq!(current.status(), 202);
        let current: Value = current.json().await.unwrap();
        assert_eq!((current["state"].as_str(), current["order_status"].as_str()), (Some("queued"), Some("pending")));

        let custom: Value = app.post(&path, &app.admin_key, &json!({"body": "{first_name}, the oven is hot 🔥"})).send().await.unwrap().json().await.unwrap();
        assert_eq!(custom["body"], "Edsger, the oven is hot 🔥");
        assert_eq!(custom["encoding"], "UCS-2");
        let no_body = app.client.post(app.url(&path)).bearer_auth(&app.admin_key).send().await.unwrap();
        assert_eq!(no_body.status(), 202);
        assert_eq!(texts(&app).await, 3);

        let before = app.snapshot().await;
        let bad = app.post(&path, &app.admin_key, &json!({"body": "{total} due"})).send().await.unwrap();
        assert_eq!(error_fields(&assert_problem(bad, 422).await), ["body"]);
        let (_, shop) = app.create_key("shop", "integration").await;
        let others = app.post(&path, &shop, &json!({})).send().await.unwrap();
        assert_problem(others, 404).await;
        let mut after = app.snapshot().await;
        after["key_rows"] = before["key_rows"].clone();
        assert_eq!(after, before);

        // Two at once with one key: one queues, the other is told to wait (409) or replayed.
        let statuses = futures_util::future::join_all((0..2).map(|_| async {
            let response = app.post(&path, &app.admin_key, &json!({})).header("Idempotency-Key", "notify-once").send().await.unwrap();
            response.status().as_u16()
        }))
        .await;
        assert!(statuses.contains(&202) && statuses.iter().all(|s| [202, 409].contains(s)), "{statuses:?}");
        let again = app.post(&path, &app.admin_key, &json!({})).header("Idempotency-Key", "notify-once").send().await.unwrap();
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(texts(&app).await, 4);
    }

    async fn only_staff_and_admin_keys_send_texts_in_their_own_words(app) {
        let (_, shop) = app.create_key("shop", "integration").await;
        let (_, tablet) = app.create_key("tablet", "staff").await;
        let order = app.create_order_as(&shop, &order_body("Ada")).await;
        let path = format!("/orders/{}/notifications", order["id"].as_str().unwrap());

        let before = app.snapshot().await;
        let lure = json!({"body": "Claim your refund at http://evil.example/x"});
        let refused = app.post(&path, &shop, &lure).header("Idempotency-Key", "lure-1").send().await.unwrap();
        let problem = assert_problem(refused, 403).await;
        assert!(problem["detail"].as_str().unwrap().contains("staff or admin"), "{problem}");
        assert_eq!(app.snapshot().await, before, "nothing queued, nothing kept for a repeat");

        // The kitchen's own template it may still send; the kitchen may word its own.
        let status_text = app.post(&path, &shop, &json!({})).send().await.unwrap();
        assert_eq!(status_text.status(), 202);
        let worded = app.post(&path, &tablet, &json!({"body": "Hi {first_name}, the driver is close"})).send().await.unwrap();
        assert_eq!(worded.status(), 202);
        assert_eq!(worded.json::<Value>().await.unwrap()["body"], "Hi Ada, the driver is close");
        assert_eq!(texts(&app).await, 2);
    }

    async fn texts_longer_than_ten_sms_are_refused_or_held_back(app) {
        let order = app.create_order("Ada").await;
        let id = order["id"].as_str().unwrap();
        let path = format!("/orders/{id}/notifications");
        let flood = "{items}".repeat(142);

        let before = app.snapshot().await;
        let own = app.post(&path, &app.admin_key, &json!({"body": flood})).send().await.unwrap();
        let problem = assert_problem(own, 422).await;
        assert_eq!(error_fields(&problem), ["body"]);
        assert!(problem.to_string().contains("at most 10 are sent"), "{problem}");
        let essay = app.client.put(app.url("/templates/delayed")).bearer_auth(&app.admin_key)
            .json(&json!({"body": "ж".repeat(700)})).send().await.unwrap();
        assert_eq!(error_fields(&assert_problem(essay, 422).await), ["body"]);
        assert_eq!(app.snapshot().await, before);

        // A template of placeholders only saves, but no text it gives is sent.
        let saved = app.client.put(app.url("/templates/confirmed")).bearer_auth(&app.admin_key)
            .json(&json!({"body": flood})).send().await.unwrap();
        assert_eq!(saved.status(), 200);
        let changed = app.change_status(id, "confirmed").await;
        assert_eq!(changed.status(), 200, "the kitchen's change goes through");
        let changed: Value = changed.json().await.unwrap();
        assert_eq!(changed["order"]["status"], "confirmed");
        assert_eq!(changed["notification"]["state"], "cancelled");
        assert!(changed["notification"]["last_error"].as_str().unwrap().contains("at most 10 are sent"));
        let asked = app.post(&path, &app.admin_key, &json!({})).send().await.unwrap();
        let problem = assert_problem(asked, 409).await;
        assert_eq!(problem["title"], "Text held back");
        let kept = app.get_json(&path, &app.admin_key).await;
        let states: Vec<_> = kept["items"].as_array().unwrap().iter().map(|t| t["state"].clone()).collect();
        assert_eq!(states, [json!("cancelled"), json!("cancelled")]);
        assert_eq!(texts(&app).await, 2);
    }

    async fn one_number_gets_at_most_ten_texts_an_hour(app) {
        let kind = app.kind;
        drop(app);
        // The default limit (the tests turn it off elsewhere).
        let app = spawn_app_with(kind, &[(PER_NUMBER.0, "")]).await.unwrap();
        let order = app.create_order("Ada").await;
        let id = order["id"].as_str().unwrap();
        let path = format!("/orders/{id}/notifications");
        let mut answers = Vec::new();
        for _ in 0..15 {
            let response = app.post(&path, &app.admin_key, &json!({})).send().await.unwrap();
            if response.status() == 429 {
                let after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1800..=3600).contains(&after), "{after}");
                let problem = assert_problem(response, 429).await;
                assert_eq!(problem["type"], "/problems/recipient-limit");
                answers.push(429);
            } else {
                answers.push(response.status().as_u16());
            }
        }
        assert_eq!(answers, [[202; 10].as_slice(), [429; 5].as_slice()].concat());
        assert_eq!(texts(&app).await, 10, "the refused ones are not kept");

        // The kitchen's status change still goes through; its text is held back.
        let changed: Value = app.change_status(id, "confirmed").await.json().await.unwrap();
        assert_eq!(changed["order"]["status"], "confirmed");
        assert_eq!(changed["notification"]["state"], "cancelled");
        assert!(changed["notification"]["last_error"].as_str().unwrap().contains("at most 10 are sent to one number per hour"));

        let figures = scrape(&app.client, &app.address).await;
        assert_eq!(metric(&figures, r#"order_notify_send_limit_refusals_total{kind="recipient"}"#), 6.0);
        assert_eq!(metric(&figures, r#"order_notify_send_limit_refusals_total{kind="length"}"#), 0.0);
    }

    async fn an_integration_key_causes_at_most_its_daily_texts(app) {
        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[("ORDER_NOTIFY_TEXTS_PER_KEY_PER_DAY", "3")]).await.unwrap();
        let (_, shop) = app.create_key("shop", "integration").await;
        let mut ids = Vec::new();
        for i in 0..3 {
            let mut body = order_body("Ada");
            body["phone"] = json!(format!("+3161234567{i}"));
            body["notify"] = json!(true);
            let order = app.create_order_as(&shop, &body).await;
            assert_eq!(order["last_notification"]["state"], "queued");
            ids.push(order["id"].as_str().unwrap().to_owned());
        }
        let before = app.snapshot().await;
        let path = format!("/orders/{}/notifications", ids[0]);
        let refused = app.post(&path, &shop, &json!({})).send().await.unwrap();
        let after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=86_400).contains(&after), "{after}");
        let problem = assert_problem(refused, 429).await;
        assert_eq!(problem["type"], "/problems/key-limit");
        let mut now = app.snapshot().await;
        now["orders"] = before["orders"].clone(); // the worker sends the queued texts meanwhile
        assert_eq!(now, before, "nothing queued");

        // Its status changes still go through; their texts are held back.
        let confirm = app.patch(&format!("/orders/{}/status", ids[1]), &shop, &json!({"status": "confirmed"}));
        let changed: Value = confirm.send().await.unwrap().json().await.unwrap();
        assert_eq!(changed["order"]["status"], "confirmed");
        assert_eq!(changed["notification"]["state"], "cancelled");
        assert!(changed["notification"]["last_error"].as_str().unwrap().contains("at most 3 a day"));
        // The kitchen's keys are not limited by it.
        let staff = app.post(&path, &app.admin_key, &json!({})).send().await.unwrap();
        assert_eq!(staff.status(), 202);
        let figures = scrape(&app.client, &app.address).await;
        assert_eq!(metric(&figures, r#"order_notify_send_limit_refusals_total{kind="key"}"#), 2.0);
    }

    async fn an_opted_out_number_gets_a_cancelled_record_and_no_text(app) {
        let order = app.create_order("Barbara Liskov").await;
        let id = order["id"].as_str().unwrap();
        opt_out(&app, "+31612345678").await;
        let changed = change(&app, id, json!({"status": "confirmed"})).await;
        let text = &changed["notification"];
        assert_eq!(text["state"], "cancelled");
        assert!(text["last_error"].as_str().unwrap().contains("STOP"));

        let path = format!("/orders/{id}/notifications");
        let manual = app.post(&path, &app.admin_key, &json!({})).header("Idempotency-Key", "stop-1").send().await.unwrap();
        let problem = assert_problem(manual, 409).await;
        assert!(problem["detail"].as_str().unwrap().contains("START"));
        assert_eq!(texts(&app).await, 2, "the refusal is on record");
        let replay = app.post(&path, &app.admin_key, &json!({})).header("Idempotency-Key", "stop-1").send().await.unwrap();
        assert_problem(replay, 409).await;
        assert_eq!(texts(&app).await, 2);
        let history = app.get_json(&path, &app.admin_key).await;
        assert!(history["items"].as_array().unwrap().iter().all(|n| n["state"] == "cancelled"));
    }
}

/// Marks every text failed, as a provider's refusal would.
async fn fail_all(app: &TestApp) {
    use sea_orm::sea_query::Expr;
    notifications::Entity::update_many()
        .col_expr(notifications::Column::State, Expr::value("failed"))
        .col_expr(
            notifications::Column::LastError,
            Expr::value("MessageBird answered 422: bad number"),
        )
        .exec(&app.db)
        .await
        .unwrap();
}

both_databases! {
    async fn failed_texts_are_listed_and_can_be_retried(app) {
        let order = app.create_order("Frances Allen").await;
        let id = order["id"].as_str().unwrap();
        app.change_status(id, "confirmed").await;
        app.wait_for_text(id, &["sent"]).await;
        fail_all(&app).await;

        let failed = app.get_json("/notifications?state=failed", &app.admin_key).await;
        assert_eq!(failed["items"].as_array().unwrap().len(), 1);
        assert_eq!(app.get_json("/notifications?state=queued,sent", &app.admin_key).await["items"], json!([]));
        let text_id = failed["items"][0]["id"].as_str().unwrap().to_owned();
        let retry_path = format!("/notifications/{text_id}/retry");

        let (_, staff) = app.create_key("kitchen", "staff").await;
        let retried = app.client.post(app.url(&retry_path)).bearer_auth(&staff).send().await.unwrap();
        assert_eq!(retried.status(), 202);
        let retried: Value = retried.json().await.unwrap();
        assert_eq!((retried["state"].as_str(), retried["attempts"].as_i64()), (Some("queued"), Some(0)));
        let sent = app.wait_for_text(id, &["sent"]).await;
        assert_eq!(sent["last_error"], Value::Null);

        let again = app.client.post(app.url(&retry_path)).bearer_auth(&staff).send().await.unwrap();
        assert!(assert_problem(again, 409).await["detail"].as_str().unwrap().contains("sent"));
        let unknown = app.client.post(app.url(&format!("/notifications/{}/retry", uuid::Uuid::new_v4()))).bearer_auth(&staff).send().await.unwrap();
        assert_problem(unknown, 404).await;
        let (_, shop) = app.create_key("shop", "integration").await;
        assert_problem(app.get("/notifications", &shop).send().await.unwrap(), 403).await;
        assert_problem(app.get("/notifications?state=lost", &staff).send().await.unwrap(), 422).await;
        assert_problem(app.get("/notifications?cursor=x", &staff).send().await.unwrap(), 422).await;
    }

    async fn the_sandbox_refuses_numbers_reserved_for_fiction_without_retrying(app) {
        let mut body = order_body("Sherlock Holmes");
        body["phone"] = json!("+1 202 555 0123");
        let order = app.create_order_as(&app.admin_key, &body).await;
        let id = order["id"].as_str().unwrap();
        app.change_status(id, "confirmed").await;
        let failed = app.wait_for_text(id, &["failed"]).await;
        assert_eq!(failed["attempts"], 1);
        assert!(failed["last_error"].as_str().unwrap().contains("reserved for fiction"));
        let sandbox = app.get_json("/sandbox/messages", &app.admin_key).await;
        assert_eq!(sandbox["items"], json!([]));
    }

    async fn the_notification_list_pages_newest_first(app) {
        let order = app.create_order("Page Turner").await;
        let path = format!("/orders/{}/notifications", order["id"].as_str().unwrap());
        for _ in 0..5 {
            app.post(&path, &app.admin_key, &json!({})).send().await.unwrap();
        }
        let first = app.get_json("/notifications?limit=3", &app.admin_key).await;
        let cursor = first["next_cursor"].as_str().unwrap();
        let second = app.get_json(&format!("/notifications?limit=3&cursor={cursor}"), &app.admin_key).await;
        assert_eq!(second["next_cursor"], Value::Null);
        let ids: Vec<_> = first["items"].as_array().unwrap().iter().chain(second["items"].as_array().unwrap()).map(|n| n["id"].clone()).collect();
        let mut newest_first = ids.clone();
        newest_first.sort_by(|a, b| b.as_str().cmp(&a.as_str()));
        assert_eq!(ids.len(), 5);
        assert_eq!(ids, newest_first);
    }

    async fn opt_outs_are_listed_and_lifted_by_an_admin(app) {
        opt_out(&app, "+31612345678").await;
        let list = app.get_json("/opt-outs", &app.admin_key).await;
        assert_eq!(list["items"][0]["phone"], "+31612345678");
        assert_eq!(list["items"][0]["source"], "test");

        // A failed text to a number that opted out is not retried.
        let order = app.create_order("Opted Out").await;
        app.change_status(order["id"].as_str().unwrap(), "confirmed").await;
        fail_all(&app).await;
        let text = app.get_json("/notifications", &app.admin_key).await["items"][0].clone();
        let retry = app.client.post(app.url(&format!("/notifications/{}/retry", text["id"].as_str().unwrap()))).bearer_auth(&app.admin_key).send().await.unwrap();
        assert!(assert_problem(retry, 409).await["detail"].as_str().unwrap().contains("STOP"));

        let (_, staff) = app.create_key("kitchen", "staff").await;
        assert_problem(app.get("/opt-outs", &staff).send().await.unwrap(), 403).await;
        let lift = |key: String| {
            let app = &app;
            async move { app.client.delete(app.url("/opt-outs/%2B31612345678")).bearer_auth(key).send().await.unwrap() }
        };
        assert_problem(lift(staff.clone()).await, 403).await;
        assert_eq!(lift(app.admin_key.clone()).await.status(), 204);
        assert_problem(lift(app.admin_key.clone()).await, 404).await;
        assert_eq!(app.get_json("/opt-outs", &app.admin_key).await["items"], json!([]));
    }
}
