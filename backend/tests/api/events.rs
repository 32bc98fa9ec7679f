//! `GET /events`: live order and text changes as Server-Sent Events, resumable with
//! `Last-Event-ID`, scoped like the rest of the API, opened by header or stream token.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::sse::{Event, SseClient};

async fn open(app: &TestApp, key: &str) -> SseClient {
    let mut stream = SseClient::open(app.get("/events", key)).await;
    let ready = stream.next().await;
    assert_eq!(ready.event, "ready");
    assert!(ready.id.is_some(), "ready carries the position");
    stream
}

fn id_position(event: &Event) -> (i64, i64) {
    let id = event.id.as_deref().expect("an id");
    let (txid, row) = id.split_once('-').expect("txid-id");
    (txid.parse().unwrap(), row.parse().unwrap())
}

async fn stream_token(app: &TestApp, key: &str) -> String {
    let response = app
        .client
        .post(app.url("/events/token"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert!(body["expires_at"].is_string());
    body["token"].as_str().unwrap().to_owned()
}

both_databases! {
    async fn a_stream_shows_orders_and_their_texts_as_they_change(app) {
        let mut stream = open(&app, &app.admin_key).await;
        let figures = scrape(&app.client, &app.address).await;
        assert!(figures.lines().any(|l| l == "order_notify_event_streams 1"), "{figures}");
        let order = app.create_order("Grace Hopper").await;
        let id = order["id"].as_str().unwrap();

        let created = stream.next_change().await;
        assert_eq!(created.event, "order");
        let data = created.json();
        assert_eq!(data["order_id"], id);
        assert_eq!(data["status"], "pending");
        assert_eq!(data["version"], 1);

        assert_eq!(app.change_status(id, "confirmed").await.status(), StatusCode::OK);
        let confirmed = stream.next_change().await;
        assert_eq!(confirmed.event, "order");
        assert_eq!(confirmed.json()["status"], "confirmed");
        assert_eq!(confirmed.json()["version"], 2);
        let queued = stream.next_change().await;
        assert_eq!(queued.event, "notification");
        assert_eq!(queued.json()["order_id"], id);
        assert_eq!(queued.json()["state"], "queued");
        // The claim is not announced; the outcome is.
        let sent = stream.next_change().await;
        assert_eq!(sent.event, "notification");
        assert_eq!(sent.json()["state"], "sent");
        assert_eq!(sent.json()["notification_id"], queued.json()["notification_id"]);

        let positions: Vec<_> = [&created, &confirmed, &queued, &sent].into_iter().map(id_position).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        // A refused change announces nothing.
        assert_eq!(app.change_status(id, "pending").await.status(), StatusCode::CONFLICT);
        assert_eq!(stream.next_within(Duration::from_millis(600)).await, None);
    }

    async fn a_client_that_reconnects_gets_what_it_missed_once(app) {
        let first = app.create_order("Alan Turing").await;
        let mut stream = open(&app, &app.admin_key).await;
        app.change_status(first["id"].as_str().unwrap(), "confirmed").await;
        // On PostgreSQL the creation may still arrive after `ready`: a change is held
        // back while any transaction older than it is open (other tests' included).
        while stream.next_change().await.json()["status"] != "confirmed" {}
        let resume_from = stream.last_event_id.clone().unwrap();
        drop(stream);

        // Changes while away: a new order, then the first one delivered.
        let second = app.create_order("Joan Clarke").await;
        app.change_status(first["id"].as_str().unwrap(), "delivered").await;
        // The worker sends both texts meanwhile; once it has, nothing changes between
        // the two reads below, so both must give the same events.
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let texts = app.get(&format!("/orders/{}/notifications", first["id"].as_str().unwrap()), &app.admin_key)
                .send().await.unwrap().json::<serde_json::Value>().await.unwrap();
            let items = texts["items"].as_array().unwrap();
            if items.len() == 2 && items.iter().all(|t| t["state"] == "sent") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the texts were never sent: {texts}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let mut resumed = SseClient::open(
            app.get("/events", &app.admin_key).header("Last-Event-ID", &resume_from),
        )
        .await;
        let ready = resumed.next().await;
        assert_eq!(ready.event, "ready");
        assert_eq!(ready.id.as_deref(), Some(resume_from.as_str()));
        let mut missed = Vec::new();
        while let Some(event) = resumed.next_within(Duration::from_millis(800)).await {
            missed.push(event);
        }
        let orders: Vec<(String, String)> = missed
            .iter()
            .filter(|e| e.event == "order")
            .map(|e| (e.json()["order_id"].as_str().unwrap().to_owned(), e.json()["status"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            orders,
            [
                (second["id"].as_str().unwrap().to_owned(), "pending".to_owned()),
                (first["id"].as_str().unwrap().to_owned(), "delivered".to_owned()),
            ],
            "{missed:?}"
        );
        // Nothing it had already seen comes again, and the order holds.
        assert!(missed.iter().all(|e| e.id.as_deref() != Some(resume_from.as_str())));
        let positions: Vec<_> = missed.iter().map(id_position).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");

        // The same through the query parameter, which EventSource users need.
        let mut by_query = SseClient::open(
            app.get(&format!("/events?last_event_id={resume_from}"), &app.admin_key),
        )
        .await;
        by_query.next().await;
        let mut replayed = Vec::new();
        while let Some(event) = by_query.next_within(Duration::from_millis(800)).await {
            replayed.push(event);
        }
        assert_eq!(replayed, missed);
    }

    async fn a_position_the_server_does_not_hold_asks_the_client_to_reload(app) {
        app.create_order("Ada Lovelace").await;
        for bad in ["junk", "0-999999"] {
            let mut stream = SseClient::open(
                app.get("/events", &app.admin_key).header("Last-Event-ID", bad),
            )
            .await;
            assert_eq!(stream.next().await.event, "reset", "{bad}");
            assert_eq!(stream.next().await.event, "ready", "{bad}");
        }
        let problem = assert_problem(
            app.get("/events?last_event_id=yesterday", &app.admin_key).send().await.unwrap(),
            422,
        )
        .await;
        assert_eq!(error_fields(&problem), ["last_event_id"]);
        let problem = assert_problem(
            app.get("/events?since=1", &app.admin_key).send().await.unwrap(),
            422,
        )
        .await;
        assert!(problem["detail"].as_str().unwrap().contains("since"), "{problem}");
    }

    async fn integration_keys_hear_only_of_their_own_orders(app) {
        let (_, integration) = app.create_key("shop", "integration").await;
        let mut theirs = open(&app, &integration).await;
        let mut everything = open(&app, &app.admin_key).await;

        let other = app.create_order("Walk-in").await;
        let own = app.create_order_as(&integration, &order_body("Web shop customer")).await;
        app.patch(
            &format!("/orders/{}/status", own["id"].as_str().unwrap()),
            &integration,
            &json!({"status": "confirmed", "notify": false}),
        )
        .send()
        .await
        .unwrap();

        let first = theirs.next_change().await;
        assert_eq!(first.json()["order_id"], own["id"]);
        assert_eq!(first.json()["status"], "pending");
        let second = theirs.next_change().await;
        assert_eq!(second.json()["order_id"], own["id"]);
        assert_eq!(second.json()["status"], "confirmed");
        assert_eq!(theirs.next_within(Duration::from_millis(600)).await, None);

        assert_eq!(everything.next_change().await.json()["order_id"], other["id"]);
        assert_eq!(everything.next_change().await.json()["order_id"], own["id"]);
    }

    async fn a_stream_token_opens_the_stream_and_nothing_else(app) {
        let (key_id, staff) = app.create_key("till", "staff").await;
        let token = stream_token(&app, &staff).await;
        assert!(token.starts_with("ons_"), "{token}");
        let mut stream = SseClient::open(app.client.get(app.url(&format!("/events?token={token}")))).await;
        assert_eq!(stream.next().await.event, "ready");
        app.create_order("Barbara Liskov").await;
        assert_eq!(stream.next_change().await.event, "order");
        // Reusable until it expires (EventSource reconnects with the same URL).
        SseClient::open(app.client.get(app.url(&format!("/events?token={token}")))).await;

        for (path, what) in [
            (format!("/orders?token={token}"), "an API route"),
            ("/events?token=ons_madeup".to_owned(), "an unknown token"),
            (format!("/events?token={staff}"), "a key where a token belongs"),
        ] {
            let response = app.client.get(app.url(&path)).send().await.unwrap();
            assert_problem(response, 401).await;
            let _ = what;
        }
        let response = app
            .client
            .post(app.url(&format!("/events/token?token={token}")))
            .send()
            .await
            .unwrap();
        assert_problem(response, 401).await;
        // One credential per request: a good key beside a bad token (or the reverse)
        // is refused, not resolved by picking one.
        for (authorization, query) in [
            (format!("Bearer {staff}"), "ons_madeup"),
            (format!("Bearer {staff}"), ""),
            ("Bearer not-a-key".to_owned(), token.as_str()),
            (String::new(), token.as_str()),
        ] {
            let response = app.client.get(app.url(&format!("/events?token={query}")))
                .header("Authorization", authorization).send().await.unwrap();
            let problem = assert_problem(response, 401).await;
            assert!(problem["detail"].as_str().unwrap().contains("not both"), "{problem}");
        }

        // Expired tokens and tokens of revoked keys open nothing.
        let expired = stream_token(&app, &staff).await;
        let past = order_notify::store::now() - chrono::Duration::seconds(1);
        app.db
            .execute_raw(Statement::from_sql_and_values(
                app.db.get_database_backend(),
                if app.kind == DbKind::Postgres {
                    "UPDATE stream_tokens SET expires_at = $1 WHERE token_hash = $2"
                } else {
                    "UPDATE stream_tokens SET expires_at = ? WHERE token_hash = ?"
                },
                [past.into(), order_notify::domain::hash_secret(&expired).into()],
            ))
            .await
            .unwrap();
        let response = app.client.get(app.url(&format!("/events?token={expired}"))).send().await.unwrap();
        let problem = assert_problem(response, 401).await;
        assert!(problem["detail"].as_str().unwrap().contains("POST /events/token"), "{problem}");

        let response = app.revoke_key(&key_id).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let response = app.client.get(app.url(&format!("/events?token={token}"))).send().await.unwrap();
        assert_problem(response, 401).await;
        // Stored as a hash only.
        let stored = app
            .db
            .query_all_raw(Statement::from_string(
                app.db.get_database_backend(),
                "SELECT token_hash FROM stream_tokens",
            ))
            .await
            .unwrap();
        assert!(!stored.is_empty());
        for row in stored {
            let hash: String = row.try_get("", "token_hash").unwrap();
            assert_eq!(hash.len(), 64);
            assert_ne!(hash, token);
        }
    }

    async fn revoking_a_key_ends_its_streams_at_once(app) {
        let (key_id, staff) = app.create_key("till", "staff").await;
        let mut revoked = open(&app, &staff).await;
        let mut other = open(&app, &app.admin_key).await;
        let response = app.revoke_key(&key_id).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        // Well before the 15 s heartbeat would notice.
        assert!(revoked.ends_within(Duration::from_secs(2)).await, "the revoked key's stream is still open");
        app.create_order("After the revocation").await;
        assert_eq!(other.next_change().await.json()["status"], "pending");
    }

    async fn the_stream_needs_a_key(app) {
        assert_problem(app.client.get(app.url("/events")).send().await.unwrap(), 401).await;
        assert_problem(app.client.post(app.url("/events/token")).send().await.unwrap(), 401).await;
        assert_problem(app.get("/events", "onk_wrong").send().await.unwrap(), 401).await;
    }
}

both_databases! {
    async fn one_key_holds_a_bounded_number_of_streams(app) {
        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[("ORDER_NOTIFY_STREAMS_PER_KEY", "2")]).await.unwrap();
        let _first = open(&app, &app.admin_key).await;
        let _second = open(&app, &app.admin_key).await;
        let third = app.get("/events", &app.admin_key).send().await.unwrap();
        assert!(third.headers().contains_key("retry-after"));
        let problem = assert_problem(third, 429).await;
        assert_eq!(problem["type"], "/problems/stream-limit");
        // Another key has places of its own.
        let (_, tablet) = app.create_key("tablet", "staff").await;
        let _theirs = open(&app, &tablet).await;
    }
}
