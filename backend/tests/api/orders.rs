use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn events(app: &TestApp, id: &str) -> Vec<Value> {
    let body = app
        .get_json(&format!("/orders/{id}/events"), &app.admin_key)
        .await;
    body["items"].as_array().unwrap().clone()
}

/// Takes SQLite's write lock from another connection, as another process would, and
/// keeps it until the returned transaction is rolled back.
async fn hold_write_lock(app: &TestApp) -> sea_orm::DatabaseTransaction {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let other = order_notify::store::connect(app.settings.database_url.as_str())
        .await
        .unwrap();
    let txn = other.begin().await.unwrap();
    txn.execute_unprepared("UPDATE orders SET customer_name = customer_name")
        .await
        .unwrap();
    txn
}

both_databases! {
    async fn creating_an_order_normalises_it_and_points_to_it(app) {
        let response = app
            .post("/orders", &app.admin_key, &json!({
                "customer_name": "  Ada Lovelace ",
                "phone": "+31 (0)6-1234 5678",
                "items": [{"name": " Margherita ", "quantity": 2}],
                "external_ref": "PO-1"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let order: Value = response.json().await.unwrap();
        assert_eq!(location, format!("/orders/{}", order["id"].as_str().unwrap()));
        assert_eq!(order["customer_name"], "Ada Lovelace");
        assert_eq!(order["phone"], "+31612345678");
        assert_eq!(order["items"], json!([{"name": "Margherita", "quantity": 2}]));
        assert_eq!(order["external_ref"], "PO-1");
        assert_eq!(order["status"], "pending");
        assert_eq!(order["version"], 1);
        assert_eq!(order["last_notification"], Value::Null);
        assert_eq!(order["created_at"], order["updated_at"]);
        let fetched = app.get(&location, &app.admin_key).send().await.unwrap();
        assert_eq!(fetched.status(), StatusCode::OK);
        assert_eq!(fetched.headers()["etag"], "\"v1\"");
        assert_eq!(fetched.json::<Value>().await.unwrap(), order);
    }

    async fn national_numbers_need_the_default_region(app) {
        let mut body = order_body("Bob");
        body["phone"] = json!("06 1234 5678");
        let problem = assert_problem(app.post("/orders", &app.admin_key, &body).send().await.unwrap(), 422).await;
        assert_eq!(error_fields(&problem), ["phone"]);
        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[("ORDER_NOTIFY_DEFAULT_REGION", "NL")]).await.unwrap();
        let order = app.create_order_as(&app.admin_key, &body).await;
        assert_eq!(order["phone"], "+31612345678");
    }

    async fn the_workflow_moves_through_allowed_statuses(app) {
        let order = app.create_order("Grace").await;
        let id = order["id"].as_str().unwrap();
        let path = ["confirmed", "delayed", "confirmed", "delivered"];
        for (i, status) in path.iter().enumerate() {
            let response = app.change_status(id, status).await;
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["order"]["status"], *status);
            assert_eq!(body["order"]["version"], i as i64 + 2);
            assert_eq!(body["notification"]["order_status"], *status);
        }
        let history = events(&app, id).await;
        let steps: Vec<_> = history.iter().map(|e| (e["from"].clone(), e["to"].clone())).collect();
        assert_eq!(steps, vec![
            (Value::Null, json!("pending")),
            (json!("pending"), json!("confirmed")),
            (json!("confirmed"), json!("delayed")),
            (json!("delayed"), json!("confirmed")),
            (json!("confirmed"), json!("delivered")),
        ]);
        assert!(history.iter().all(|e| e["actor"] == "ORDER_NOTIFY_ADMIN_KEY"));
        let final_order = app.get_order(id).await;
        assert_eq!(final_order["version"], 5);
        assert_ne!(final_order["updated_at"], final_order["created_at"]);
    }

    async fn setting_the_same_status_changes_nothing(app) {
        let order = app.create_order("Alan").await;
        let id = order["id"].as_str().unwrap();
        app.change_status(id, "confirmed").await;
        let before = app.snapshot().await;
        let response = app.change_status(id, "confirmed").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["order"]["version"], 2);
        assert_eq!(body["notification"], Value::Null);
        assert_eq!(app.snapshot().await, before);
    }

    async fn forbidden_changes_name_the_allowed_ones(app) {
        let order = app.create_order("Katherine").await;
        let id = order["id"].as_str().unwrap();
        let before = app.snapshot().await;
        let problem = assert_problem(app.change_status(id, "delivered").await, 409).await;
        assert_eq!(problem["allowed"], json!(["confirmed", "delayed", "cancelled"]));
        assert!(problem["detail"].as_str().unwrap().contains("confirmed, delayed, cancelled"), "{problem}");
        assert_eq!(app.snapshot().await, before);

        app.change_status(id, "cancelled").await;
        for status in ["pending", "confirmed", "delayed", "delivered"] {
            let problem = assert_problem(app.change_status(id, status).await, 409).await;
            assert_eq!(problem["allowed"], json!([]));
            assert!(problem["detail"].as_str().unwrap().contains("final"));
        }
    }

    async fn if_match_guards_against_lost_updates(app) {
        let order = app.create_order("Edsger").await;
        let id = order["id"].as_str().unwrap();
        let path = format!("/orders/{id}/status");
        let confirm = json!({"status": "confirmed"});
        let ok = app.patch(&path, &app.admin_key, &confirm).header("If-Match", "\"v1\"").send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);

        let before = app.snapshot().await;
        let stale = app.patch(&path, &app.admin_key, &json!({"status": "delayed"})).header("If-Match", "\"v1\"").send().await.unwrap();
        let problem = assert_problem(stale, 412).await;
        assert!(problem["detail"].as_str().unwrap().contains("\"v2\""));
        let weak = app.patch(&path, &app.admin_key, &json!({"status": "delayed"})).header("If-Match", "W/\"v2\"").send().await.unwrap();
        assert_problem(weak, 412).await;
        assert_eq!(app.snapshot().await, before);

        let any = app.patch(&path, &app.admin_key, &json!({"status": "delayed"})).header("If-Match", "*").send().await.unwrap();
        assert_eq!(any.status(), StatusCode::OK);
    }

    async fn an_unchanged_order_answers_304_to_its_etag(app) {
        let order = app.create_order("Barbara").await;
        let path = format!("/orders/{}", order["id"].as_str().unwrap());
        let cached = app.get(&path, &app.admin_key).header("If-None-Match", "\"v1\"").send().await.unwrap();
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
        app.change_status(order["id"].as_str().unwrap(), "confirmed").await;
        let fresh = app.get(&path, &app.admin_key).header("If-None-Match", "\"v1\"").send().await.unwrap();
        assert_eq!(fresh.status(), StatusCode::OK);
        assert_eq!(fresh.headers()["etag"], "\"v2\"");
    }

    async fn the_list_filters_by_status_and_searches(app) {
        let ada = app.create_order("Ada Lovelace").await;
        let mut body = order_body("Grace Hopper");
        body["phone"] = json!("+44 7400 123456");
        body["external_ref"] = json!("SHOP-77");
        let grace = app.create_order_as(&app.admin_key, &body).await;
        let alan = app.create_order("Alan 50%_off").await;
        app.change_status(grace["id"].as_str().unwrap(), "confirmed").await;
        app.change_status(alan["id"].as_str().unwrap(), "cancelled").await;

        let names = |query: &'static str| {
            let app = &app;
            async move {
                let response = app.get(&format!("/orders?{query}"), &app.admin_key).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{query}");
                let page: Value = response.json().await.unwrap();
                page["items"].as_array().unwrap().iter().map(|o| o["customer_name"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
            }
        };
        assert_eq!(names("").await, ["Alan 50%_off", "Grace Hopper", "Ada Lovelace"]);
        assert_eq!(names("status=pending").await, ["Ada Lovelace"]);
        assert_eq!(names("status=confirmed,cancelled").await, ["Alan 50%_off", "Grace Hopper"]);
        assert_eq!(names("q=LOVELACE").await, ["Ada Lovelace"]);
        assert_eq!(names("q=7400%20123").await, ["Grace Hopper"]);
        assert_eq!(names("q=shop-77").await, ["Grace Hopper"]);
        assert_eq!(names("q=50%25_").await, ["Alan 50%_off"]);
        assert_eq!(names("q=%25").await, ["Alan 50%_off"]);
        assert_eq!(names("q=nobody").await, Vec::<String>::new());
        assert_eq!(names("q=a&status=pending").await, ["Ada Lovelace"]);
        assert_eq!(ada["status"], "pending");
    }

    async fn external_refs_are_unique_per_key(app) {
        let mut body = order_body("Ada");
        body["external_ref"] = json!("PO-9");
        app.create_order_as(&app.admin_key, &body).await;
        let before = app.snapshot().await;
        let again = app.post("/orders", &app.admin_key, &body).send().await.unwrap();
        let problem = assert_problem(again, 409).await;
        assert!(problem["detail"].as_str().unwrap().contains("PO-9"));
        assert_eq!(app.snapshot().await, before);

        let (_, other) = app.create_key("shop", "integration").await;
        let order = app.create_order_as(&other, &body).await;
        assert_eq!(order["external_ref"], "PO-9");
    }
}

/// On SQLite, reads have connections of their own: while the one writer connection
/// waits for the database's write lock (held here by another process's transaction),
/// reading an order and listing orders still answer at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_do_not_queue_behind_a_waiting_write_on_sqlite() {
    use std::time::{Duration, Instant};

    let app = spawn_app_without_worker(DbKind::Sqlite).await.unwrap();
    let id = app.create_order("Edsger Dijkstra").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Someone else takes the write lock and keeps it while we read.
    let txn = hold_write_lock(&app).await;

    let change = {
        let (client, url, key) = (
            app.client.clone(),
            app.url(&format!("/orders/{id}/status")),
            app.admin_key.clone(),
        );
        tokio::spawn(async move {
            client
                .patch(url)
                .bearer_auth(key)
                .json(&json!({"status": "confirmed"}))
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    assert_eq!(
        app.get(&format!("/orders/{id}"), &app.admin_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.get("/orders", &app.admin_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(800),
        "reads waited {waited:?} behind the write"
    );
    if change.is_finished() {
        let response = change.await.unwrap();
        panic!(
            "the change should still wait for the lock: {} {}",
            response.status(),
            response.text().await.unwrap()
        );
    }

    txn.rollback().await.unwrap();
    assert_eq!(change.await.unwrap().status(), 200);
    assert_eq!(app.get_order(&id).await["status"], "confirmed");
}

/// Group commit on SQLite: requests that arrive while the writer waits are committed
/// together, and each still succeeds or fails on its own. Another connection holds the
/// write lock while 30 valid status changes, 5 forbidden ones and 3 creations with one
/// external_ref pile up; once it lets go, they take two transactions at most (the one
/// that was waiting, then all the rest), and the answers, histories and texts are what
/// they would be one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_arrive_together_share_a_commit_and_fail_one_by_one_on_sqlite() {
    let app = spawn_app_without_worker(DbKind::Sqlite).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..35 {
        let order = app.create_order(&format!("Customer {n}")).await;
        ids.push(order["id"].as_str().unwrap().to_owned());
    }
    let before = scrape(&app.client, &app.url("")).await;

    let lock = hold_write_lock(&app).await;

    let send = |request: reqwest::RequestBuilder| {
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    let mut changes = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        // Pending → delivered skips a step: refused.
        let status = if n < 30 { "confirmed" } else { "delivered" };
        let path = format!("/orders/{id}/status");
        changes.push(send(app.patch(
            &path,
            &app.admin_key,
            &json!({"status": status}),
        )));
    }
    let mut body = order_body("Twin");
    body["external_ref"] = json!("TWIN-1");
    let creations: Vec<_> = (0..3)
        .map(|_| send(app.post("/orders", &app.admin_key, &body)))
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    lock.rollback().await.unwrap();

    for (n, change) in changes.into_iter().enumerate() {
        let response = change.await.unwrap();
        let expected = if n < 30 { 200 } else { 409 };
        assert_eq!(response.status(), expected, "change {n}");
    }
    let mut created = Vec::new();
    for creation in creations {
        created.push(creation.await.unwrap().status().as_u16());
    }
    created.sort_unstable();
    assert_eq!(created, [201, 409, 409]);

    for (n, id) in ids.iter().enumerate() {
        let history: Vec<Value> = events(&app, id)
            .await
            .iter()
            .map(|e| e["to"].clone())
            .collect();
        let texts = app
            .get_json(&format!("/orders/{id}/notifications"), &app.admin_key)
            .await;
        if n < 30 {
            assert_eq!(history, ["pending", "confirmed"], "order {n}");
            assert_eq!(texts["items"].as_array().unwrap().len(), 1, "order {n}");
        } else {
            assert_eq!(history, ["pending"], "order {n}");
            assert!(texts["items"].as_array().unwrap().is_empty(), "order {n}");
        }
    }
    let twins = app.get_json("/orders?q=TWIN-1", &app.admin_key).await;
    assert_eq!(twins["items"].as_array().unwrap().len(), 1);

    let after = scrape(&app.client, &app.url("")).await;
    let grew = |series| metric(&after, series) - metric(&before, series);
    assert_eq!(grew("order_notify_batched_writes_total"), 31.0);
    let batches = grew("order_notify_write_batches_total");
    assert!(
        (1.0..=2.0).contains(&batches),
        "{batches} transactions for 31 writes"
    );
}

both_databases! {
    async fn an_edit_corrects_an_order_records_what_changed_and_texts_nobody(app) {
        let mut stream = crate::sse::SseClient::open(app.get("/events", &app.admin_key)).await;
        assert_eq!(stream.next().await.event, "ready");
        let order = app.create_order("Ada").await;
        let id = order["id"].as_str().unwrap();
        assert_eq!(app.change_status(id, "confirmed").await.status(), StatusCode::OK);
        let text_before = app.wait_for_text(id, &["sent"]).await;
        for _ in 0..4 {
            stream.next_change().await; // created, confirmed, its text queued and sent
        }

        let path = format!("/orders/{id}");
        let response = app
            .patch(&path, &app.admin_key, &json!({
                "customer_name": " Ada King ",
                "phone": "+31 6 1234 5699",
                "items": [{"name": "Calzone", "quantity": 1}, {"name": "Tiramisu", "quantity": 2}]
            }))
            .header("If-Match", "\"v2\"")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let edited: Value = response.json().await.unwrap();
        assert_eq!(edited["customer_name"], "Ada King");
        assert_eq!(edited["phone"], "+31612345699");
        assert_eq!(edited["items"], json!([{"name": "Calzone", "quantity": 1}, {"name": "Tiramisu", "quantity": 2}]));
        assert_eq!((edited["status"].clone(), edited["version"].clone()), (json!("confirmed"), json!(3)));
        assert_eq!(edited["last_notification"]["id"], text_before["id"]);
        assert_eq!(app.get_order(id).await, edited, "what was answered is what was kept");

        let history = events(&app, id).await;
        let last = history.last().unwrap();
        assert_eq!((last["from"].clone(), last["to"].clone()), (json!("confirmed"), json!("confirmed")));
        assert_eq!(last["changed"], json!(["customer_name", "phone", "items"]));
        assert_eq!(last["actor"], "ORDER_NOTIFY_ADMIN_KEY");
        assert_eq!(history[1]["changed"], json!([]), "a status change names no fields");

        let news = stream.next_change().await;
        assert_eq!(news.event, "order");
        assert_eq!((news.json()["order_id"].clone(), news.json()["version"].clone()), (json!(id), json!(3)));

        // No text: the customer hears of statuses, and "Notify customer" uses the new number.
        let texts = app.get_json(&format!("/orders/{id}/notifications"), &app.admin_key).await;
        assert_eq!(texts["items"].as_array().unwrap().len(), 1);
        let notify = app.post(&format!("/orders/{id}/notifications"), &app.admin_key, &json!({})).send().await.unwrap();
        assert_eq!(notify.status(), StatusCode::ACCEPTED);
        let notified: Value = notify.json().await.unwrap();
        assert_eq!(notified["recipient"], "+31612345699");
        let sent = app.wait_for_text(id, &["sent"]).await;
        assert_eq!(sent["id"], notified["id"]);

        // Giving a field the value it has changes nothing.
        let before = app.snapshot().await;
        let same = app.patch(&path, &app.admin_key, &json!({"phone": "+31612345699"})).send().await.unwrap();
        assert_eq!(same.status(), StatusCode::OK);
        assert_eq!(same.json::<Value>().await.unwrap()["version"], 3);
        assert_eq!(app.snapshot().await, before);
    }

    async fn a_bad_edit_is_refused_and_changes_nothing(app) {
        let (_, other) = app.create_key("pos", "integration").await;
        let order = app.create_order("Grace").await;
        let id = order["id"].as_str().unwrap();
        let path = format!("/orders/{id}");
        let before = app.snapshot().await;
        for (body, field) in [
            (json!({}), "body"),
            (json!({"phone": null}), "phone"),
            (json!({"phone": "12"}), "phone"),
            (json!({"customer_name": " "}), "customer_name"),
            (json!({"items": []}), "items"),
            (json!({"status": "delivered"}), "status"),
            (json!({"customer_name": "Grace", "items": [{"name": "Pie", "quantity": 0}]}), "items[0].quantity"),
            (json!({"customer_name": "Gr\u{202E}ace"}), "customer_name"),
            (json!({"items": [{"name": "Pie\u{200B}", "quantity": 1}]}), "items[0].name"),
            (json!({"customer_name": "Grace\u{2029}Hopper"}), "customer_name"),
        ] {
            let response = app.patch(&path, &app.admin_key, &body).send().await.unwrap();
            let problem = assert_problem(response, 422).await;
            assert_eq!(error_fields(&problem), [field], "{body}: {problem}");
        }
        let stale = app.patch(&path, &app.admin_key, &json!({"customer_name": "Grace H"})).header("If-Match", "\"v9\"").send().await.unwrap();
        let problem = assert_problem(stale, 412).await;
        assert!(problem["detail"].as_str().unwrap().contains("\"v1\""), "{problem}");

        let hidden = app.patch(&path, &other, &json!({"customer_name": "Mallory"})).send().await.unwrap();
        assert_problem(hidden, 404).await;
        let missing = format!("/orders/{}", uuid::Uuid::now_v7());
        let unknown = app.patch(&missing, &app.admin_key, &json!({"customer_name": "Nobody"})).send().await.unwrap();
        assert_problem(unknown, 404).await;
        assert_eq!(app.snapshot().await, before);
    }

    async fn names_and_items_refuse_hidden_characters_but_keep_joiners(app) {
        let before = app.snapshot().await;
        // A right-to-left override makes "Mallory\u{202E}gpj.exe" read differently on
        // the board; a zero-width space hides words; a tag character smuggles text.
        for (name, item) in [
            ("Mallory\u{202E}gpj.exe", "Pie"),
            ("Ada", "Pie\u{200B}zza"),
            ("Ada\u{E0041}\u{E0042}", "Pie"),
            ("\u{2066}Ada\u{2069}", "Pie"),
            ("Ada", "Soup\u{2028}Bread"),
            ("\u{200D}", "Pie"),
        ] {
            let body = json!({"customer_name": name, "phone": "+31 6 1234 5678",
                              "items": [{"name": item, "quantity": 1}], "notify": true});
            let response = app.post("/orders", &app.admin_key, &body).send().await.unwrap();
            let problem = assert_problem(response, 422).await;
            let field = if name == "Ada" { "items[0].name" } else { "customer_name" };
            assert_eq!(error_fields(&problem), [field], "{body}: {problem}");
        }
        assert_eq!(app.snapshot().await, before, "nothing was kept or queued");

        let persian = "می\u{200C}خواهم";
        let chef = "Chef 👩\u{200D}🍳";
        let body = json!({"customer_name": persian, "phone": "+31 6 1234 5678",
                          "items": [{"name": chef, "quantity": 1}]});
        let created = app.create_order_as(&app.admin_key, &body).await;
        assert_eq!(created["customer_name"], persian);
        assert_eq!(created["items"][0]["name"], chef);
    }

    async fn order_ref_is_what_the_texts_call_the_order(app) {
        let mut body = order_body("Ada");
        body["notify"] = json!(true);
        let created = app.create_order_as(&app.admin_key, &body).await;
        let id = created["id"].as_str().unwrap();
        let code = format!("#{}", id.replace('-', "")[26..].to_uppercase());
        assert_eq!(created["order_ref"], code.as_str(), "{created}");
        let text = app.latest_text(id).await;
        assert!(text["body"].as_str().unwrap().contains(&code), "{text}");
        assert_eq!(app.get_json(&format!("/orders/{id}"), &app.admin_key).await["order_ref"], code.as_str());

        body["external_ref"] = json!("POS-1042");
        let created = app.create_order_as(&app.admin_key, &body).await;
        assert_eq!(created["order_ref"], "POS-1042");
        let text = app.latest_text(created["id"].as_str().unwrap()).await;
        assert!(text["body"].as_str().unwrap().contains("order POS-1042"), "{text}");
        let listed = app.get_json("/orders", &app.admin_key).await;
        assert_eq!(listed["items"][0]["order_ref"], "POS-1042");
    }

    async fn a_repeated_edit_is_answered_once(app) {
        let order = app.create_order("Alan").await;
        let path = format!("/orders/{}", order["id"].as_str().unwrap());
        let body = json!({"customer_name": "Alan T"});
        let first = app.patch(&path, &app.admin_key, &body).header("Idempotency-Key", "edit-1").send().await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        let first: Value = first.json().await.unwrap();
        let again = app.patch(&path, &app.admin_key, &body).header("Idempotency-Key", "edit-1").send().await.unwrap();
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.json::<Value>().await.unwrap(), first);
        let other = app.patch(&path, &app.admin_key, &json!({"customer_name": "Alan M"})).header("Idempotency-Key", "edit-1").send().await.unwrap();
        assert_problem(other, 422).await;
        assert_eq!(events(&app, order["id"].as_str().unwrap()).await.len(), 2, "one edit recorded");
    }
}

both_databases! {
    async fn costly_numbers_and_other_countries_are_refused_on_phone(app) {
        let before = app.snapshot().await;
        for phone in ["+44 909 879 0000", "+1 900 555 0123", "+979 123456789", "+881 612345678", "+870 773111632", "+800 12345678", "+33 810 12 34 56"] {
            let mut body = order_body("Mallory");
            body["phone"] = json!(phone);
            let refused = app.post("/orders", &app.admin_key, &body).send().await.unwrap();
            let problem = assert_problem(refused, 422).await;
            assert_eq!(error_fields(&problem), ["phone"], "{phone}: {problem}");
            assert!(problem.to_string().contains("not sent to premium-rate, shared-cost or non-geographic"), "{phone}: {problem}");
        }
        let order = app.create_order("Ada").await;
        let id = order["id"].as_str().unwrap();
        let edit = app.patch(&format!("/orders/{id}"), &app.admin_key, &json!({"phone": "+44 909 879 0000"})).send().await.unwrap();
        assert_eq!(error_fields(&assert_problem(edit, 422).await), ["phone"]);
        assert_eq!(app.get_order(id).await["phone"], order["phone"]);
        assert_eq!(app.snapshot().await["order_rows"], before["order_rows"].as_u64().unwrap() + 1);

        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[("ORDER_NOTIFY_DEFAULT_REGION", "NL")]).await.unwrap();
        let mut us = order_body("Grace");
        us["phone"] = json!("+1 415 555 2671");
        let problem = assert_problem(app.post("/orders", &app.admin_key, &us).send().await.unwrap(), 422).await;
        assert_eq!(error_fields(&problem), ["phone"]);
        assert!(problem.to_string().contains("texts to US numbers are not enabled"), "{problem}");
        let mut dutch = order_body("Grace");
        dutch["phone"] = json!("06 1234 5678");
        assert_eq!(app.create_order_as(&app.admin_key, &dutch).await["phone"], "+31612345678");
    }
}
