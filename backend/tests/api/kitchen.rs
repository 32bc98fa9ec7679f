//! What the kitchen display works with: the time promised to the customer (`eta`,
//! told in texts as `{eta}` in the configured time zone), the kitchen's notes, the
//! order's code, search by what people remember, and `GET /settings`.

use crate::helpers::*;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A time `minutes` from now, to the second, as RFC 3339 with an offset of +05:30 (a
/// client far from the kitchen's zone, so the zone of the text is the server's).
fn in_minutes(minutes: i64) -> (DateTime<Utc>, String) {
    let at = (Utc::now() + Duration::minutes(minutes)).trunc_subsecs(0);
    let offset = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
    (at, at.with_timezone(&offset).to_rfc3339())
}

/// `HH:MM` in Amsterdam, as a text should tell `at`.
fn amsterdam(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Amsterdam)
        .format("%H:%M")
        .to_string()
}

fn parsed(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

async fn history(app: &TestApp, id: &str) -> Vec<Value> {
    let body = app
        .get_json(&format!("/orders/{id}/events"), &app.admin_key)
        .await;
    body["items"].as_array().unwrap().clone()
}

async fn patch_status(app: &TestApp, id: &str, body: Value) -> Value {
    let response = app
        .patch(&format!("/orders/{id}/status"), &app.admin_key, &body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn found(app: &TestApp, q: &str) -> Vec<String> {
    let url = format!(
        "/orders?q={}",
        url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
    );
    let page = app.get_json(&url, &app.admin_key).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["customer_name"].as_str().unwrap().to_owned())
        .collect()
}

both_databases! {
    async fn a_promised_time_is_kept_recorded_and_told_in_the_kitchens_zone(app) {
        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[("ORDER_NOTIFY_TIMEZONE", "Europe/Amsterdam")]).await.unwrap();

        // Taken in with a promised time and notes; the order shows both.
        let (first, first_raw) = in_minutes(40);
        let mut body = order_body("Ada Lovelace");
        body["eta"] = json!(first_raw);
        body["notes"] = json!("  Ring bell 3\nNo peanuts  ");
        let order = app.create_order_as(&app.admin_key, &body).await;
        let id = order["id"].as_str().unwrap();
        assert_eq!(parsed(&order["eta"]), first);
        assert_eq!(order["notes"], "Ring bell 3\nNo peanuts");
        assert_eq!(app.get_order(id).await["eta"], order["eta"]);

        // Confirmed "ready in 20 minutes": the text tells the new time on Amsterdam's clocks.
        let (ready, ready_raw) = in_minutes(20);
        let changed = patch_status(&app, id, json!({"status": "confirmed", "eta": ready_raw})).await;
        assert_eq!(parsed(&changed["order"]["eta"]), ready);
        let text = changed["notification"]["body"].as_str().unwrap().to_owned();
        assert!(text.contains(&format!("Expected: {}.", amsterdam(ready))), "{text}");

        // Delayed by 15 more minutes: the delay's text tells the later time.
        let later = ready + Duration::minutes(15);
        let changed = patch_status(&app, id, json!({"status": "delayed", "eta": later.to_rfc3339()})).await;
        let text = changed["notification"]["body"].as_str().unwrap().to_owned();
        assert!(text.contains(&format!("New time: {}.", amsterdam(later))), "{text}");

        // Pushed back again while delayed: only the time changes, and nobody is texted.
        let texts_before = app.get_json(&format!("/orders/{id}/notifications"), &app.admin_key).await;
        let latest = later + Duration::minutes(10);
        let again = patch_status(&app, id, json!({"status": "delayed", "eta": latest.to_rfc3339()})).await;
        assert_eq!(again["notification"], Value::Null);
        assert_eq!(parsed(&again["order"]["eta"]), latest);
        assert_eq!(again["order"]["version"], 4);
        let texts_after = app.get_json(&format!("/orders/{id}/notifications"), &app.admin_key).await;
        assert_eq!(texts_after["items"].as_array().unwrap().len(), texts_before["items"].as_array().unwrap().len());

        // The same time again changes nothing at all.
        let same = patch_status(&app, id, json!({"status": "delayed", "eta": latest.to_rfc3339()})).await;
        assert_eq!(same["order"]["version"], 4);

        // Every change of the promise is in the history, with the time it set.
        let steps = history(&app, id).await;
        let promised: Vec<(Value, Value, DateTime<Utc>)> = steps
            .iter()
            .map(|s| (s["to"].clone(), s["changed"].clone(), parsed(&s["eta"])))
            .collect();
        assert_eq!(promised, [
            (json!("pending"), json!([]), first),
            (json!("confirmed"), json!(["eta"]), ready),
            (json!("delayed"), json!(["eta"]), later),
            (json!("delayed"), json!(["eta"]), latest),
        ]);
        assert_eq!(steps[3]["from"], "delayed");

        // Withdrawn with `null`: texts say "soon".
        let cleared = patch_status(&app, id, json!({"status": "confirmed", "eta": null})).await;
        assert_eq!(cleared["order"]["eta"], Value::Null);
        let text = cleared["notification"]["body"].as_str().unwrap();
        assert!(text.contains("Expected: soon."), "{text}");
        let last = history(&app, id).await.pop().unwrap();
        assert_eq!((last["changed"].clone(), last["eta"].clone()), (json!(["eta"]), Value::Null));

        // A status change that says nothing of the time keeps it.
        let (kept, kept_raw) = in_minutes(25);
        let other = app.create_order_as(&app.admin_key, &json!({
            "customer_name": "Grace", "phone": "+31 6 1234 5678",
            "items": [{"name": "Soup", "quantity": 1}], "eta": kept_raw
        })).await;
        let other_id = other["id"].as_str().unwrap();
        let confirmed = patch_status(&app, other_id, json!({"status": "confirmed"})).await;
        assert_eq!(parsed(&confirmed["order"]["eta"]), kept);
        assert_eq!(history(&app, other_id).await[1]["changed"], json!([]));
    }

    async fn the_server_tells_texts_in_utc_unless_a_zone_is_set(app) {
        let (ready, ready_raw) = in_minutes(20);
        let order = app.create_order("Ada").await;
        let id = order["id"].as_str().unwrap();
        let changed = patch_status(&app, id, json!({"status": "confirmed", "eta": ready_raw})).await;
        let utc = ready.format("%H:%M").to_string();
        let text = changed["notification"]["body"].as_str().unwrap();
        assert!(text.contains(&format!("Expected: {utc}.")), "{text}");
        let preview = app.post("/templates/preview", &app.admin_key, &json!({"body": "At {eta}", "order_id": id})).send().await.unwrap();
        assert_eq!(preview.status(), StatusCode::OK);
        assert_eq!(preview.json::<Value>().await.unwrap()["text"], format!("At {utc}"));
    }

    async fn bad_times_and_notes_are_refused_and_change_nothing(app) {
        let order = app.create_order("Ada").await;
        let id = order["id"].as_str().unwrap();
        let before = app.snapshot().await;
        let (_, too_late) = in_minutes(8 * 24 * 60);
        let (_, too_early) = in_minutes(-90);
        let bad_etas = [json!("tomorrow at six"), json!("2026-11-30T19:45:00"), json!(too_late), json!(too_early), json!(42)];
        for eta in &bad_etas {
            let mut body = order_body("Grace");
            body["eta"] = eta.clone();
            let problem = assert_problem(app.post("/orders", &app.admin_key, &body).send().await.unwrap(), 422).await;
            assert_eq!(error_fields(&problem), ["eta"], "{eta}: {problem}");
            let status = app.patch(&format!("/orders/{id}/status"), &app.admin_key, &json!({"status": "confirmed", "eta": eta})).send().await.unwrap();
            assert_eq!(error_fields(&assert_problem(status, 422).await), ["eta"], "{eta}");
            let edit = app.patch(&format!("/orders/{id}"), &app.admin_key, &json!({"eta": eta})).send().await.unwrap();
            assert_eq!(error_fields(&assert_problem(edit, 422).await), ["eta"], "{eta}");
        }
        let bad_notes = [json!("x".repeat(501)), json!("Ring \u{202E}3 lleb"), json!("line\r\nbreak"), json!("bell\u{7}"), json!(["a"])];
        for notes in &bad_notes {
            let mut body = order_body("Grace");
            body["notes"] = notes.clone();
            let problem = assert_problem(app.post("/orders", &app.admin_key, &body).send().await.unwrap(), 422).await;
            assert_eq!(error_fields(&problem), ["notes"], "{notes}: {problem}");
            let edit = app.patch(&format!("/orders/{id}"), &app.admin_key, &json!({"notes": notes})).send().await.unwrap();
            assert_eq!(error_fields(&assert_problem(edit, 422).await), ["notes"], "{notes}");
        }
        assert_eq!(app.snapshot().await, before);

        // 500 characters over several lines are fine; blank notes are none.
        let mut body = order_body("Grace");
        body["notes"] = json!(format!("{}\n{}", "a".repeat(250), "b".repeat(249)));
        assert_eq!(app.create_order_as(&app.admin_key, &body).await["notes"].as_str().unwrap().chars().count(), 500);
        body["notes"] = json!(" \n ");
        assert_eq!(app.create_order_as(&app.admin_key, &body).await["notes"], Value::Null);
    }

    async fn notes_and_times_are_corrected_like_other_details(app) {
        let order = app.create_order("Ada").await;
        let id = order["id"].as_str().unwrap();
        let path = format!("/orders/{id}");
        let (eta, eta_raw) = in_minutes(30);
        let response = app.patch(&path, &app.admin_key, &json!({"notes": "Side door", "eta": eta_raw}))
            .header("If-Match", "\"v1\"").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let edited: Value = response.json().await.unwrap();
        assert_eq!((edited["notes"].clone(), parsed(&edited["eta"]), edited["version"].clone()), (json!("Side door"), eta, json!(2)));
        let last = history(&app, id).await.pop().unwrap();
        assert_eq!(last["changed"], json!(["notes", "eta"]));
        assert_eq!(parsed(&last["eta"]), eta);

        // `null` clears each; a stale version is refused and changes nothing.
        let stale = app.patch(&path, &app.admin_key, &json!({"notes": null})).header("If-Match", "\"v1\"").send().await.unwrap();
        assert_problem(stale, 412).await;
        let cleared: Value = app.patch(&path, &app.admin_key, &json!({"notes": null, "eta": null})).send().await.unwrap().json().await.unwrap();
        assert_eq!((cleared["notes"].clone(), cleared["eta"].clone(), cleared["version"].clone()), (Value::Null, Value::Null, json!(3)));
        assert_eq!(history(&app, id).await.pop().unwrap()["changed"], json!(["notes", "eta"]));
        // Clearing what is already clear changes nothing.
        let again: Value = app.patch(&path, &app.admin_key, &json!({"notes": ""})).send().await.unwrap().json().await.unwrap();
        assert_eq!(again["version"], 3);

        // An integration key corrects its own orders only.
        let (_, pos) = app.create_key("pos", "integration").await;
        let other = app.patch(&path, &pos, &json!({"notes": "mine now"})).send().await.unwrap();
        assert_problem(other, 404).await;
    }

    async fn search_finds_an_order_by_what_people_remember(app) {
        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[("ORDER_NOTIFY_DEFAULT_REGION", "NL"), ("ORDER_NOTIFY_ALLOWED_COUNTRIES", "*")]).await.unwrap();
        let mut body = order_body("Zoë Ångström");
        body["phone"] = json!("+31 6 1234 5601");
        body["items"] = json!([{"name": "Poké bowl", "quantity": 1}]);
        body["notes"] = json!("Blue door on Keizersgracht");
        let zoe = app.create_order_as(&app.admin_key, &body).await;
        let mut body = order_body("Zoe Baker");
        body["phone"] = json!("+44 7400 123456");
        body["items"] = json!([{"name": "Bagel", "quantity": 2}]);
        app.create_order_as(&app.admin_key, &body).await;
        let mut body = order_body("Alan Turing");
        body["phone"] = json!("+31 6 1234 5699");
        body["external_ref"] = json!("SHOP-77");
        app.create_order_as(&app.admin_key, &body).await;

        let code = zoe["order_ref"].as_str().unwrap();
        assert_eq!(found(&app, code).await, ["Zoë Ångström"], "the code as the text gives it");
        assert_eq!(found(&app, &code[1..]).await, ["Zoë Ångström"], "without #");
        assert_eq!(found(&app, &code[1..].to_lowercase()).await, ["Zoë Ångström"], "in lower case");
        assert_eq!(found(&app, "0612345601").await, ["Zoë Ångström"], "the national number");
        assert_eq!(found(&app, "06-12 34 56 01").await, ["Zoë Ångström"]);
        assert_eq!(found(&app, "+31612345601").await, ["Zoë Ångström"]);
        assert_eq!(found(&app, "07400 123456").await, ["Zoe Baker"], "a UK number written nationally");
        assert_eq!(found(&app, "angstrom").await, ["Zoë Ångström"], "without accents");
        assert_eq!(found(&app, "zoe").await, ["Zoe Baker", "Zoë Ångström"]);
        assert_eq!(found(&app, "ZOË").await, ["Zoe Baker", "Zoë Ångström"]);
        assert_eq!(found(&app, "poke").await, ["Zoë Ångström"], "an item");
        assert_eq!(found(&app, "bagel").await, ["Zoe Baker"]);
        assert_eq!(found(&app, "keizersgracht").await, ["Zoë Ångström"], "the notes");
        assert_eq!(found(&app, "shop-77").await, ["Alan Turing"]);
        assert_eq!(found(&app, "nobody").await, Vec::<String>::new());

        // A corrected name and items are found by their new words, not the old ones.
        let id = zoe["id"].as_str().unwrap();
        let edit = app.patch(&format!("/orders/{id}"), &app.admin_key, &json!({"customer_name": "Chloé Dupont", "items": [{"name": "Crêpe", "quantity": 1}]})).send().await.unwrap();
        assert_eq!(edit.status(), StatusCode::OK);
        assert_eq!(found(&app, "chloe").await, ["Chloé Dupont"]);
        assert_eq!(found(&app, "crepe").await, ["Chloé Dupont"]);
        assert_eq!(found(&app, "angstrom").await, Vec::<String>::new());
        assert_eq!(found(&app, code).await, ["Chloé Dupont"]);
    }

    async fn the_dashboard_reads_the_settings_it_works_with(app) {
        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[
            ("ORDER_NOTIFY_DEFAULT_REGION", "NL"),
            ("ORDER_NOTIFY_ALLOWED_COUNTRIES", "NL,BE"),
            ("ORDER_NOTIFY_TIMEZONE", "Europe/Amsterdam"),
            ("ORDER_NOTIFY_TEXTS_PER_RECIPIENT_PER_HOUR", "12"),
        ]).await.unwrap();
        let (_, staff) = app.create_key("tablet", "staff").await;
        let settings = app.get_json("/settings", &staff).await;
        assert_eq!(settings, json!({
            "default_region": "NL",
            "allowed_countries": ["NL", "BE"],
            "timezone": "Europe/Amsterdam",
            "auto_notify": true,
            "sms_provider": "sandbox",
            "sms_providers": ["sandbox"],
            "texts_per_recipient_per_hour": 12
        }));
        let (_, pos) = app.create_key("pos", "integration").await;
        assert_problem(app.get("/settings", &pos).send().await.unwrap(), 403).await;
        let anonymous = app.client.get(app.url("/settings")).send().await.unwrap();
        assert_problem(anonymous, 401).await;
    }
}
