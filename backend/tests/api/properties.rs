//! Property tests over the order workflow, idempotency and the outbox: random sequences
//! of requests against the real app (SQLite, no worker, so queued texts stay put) are
//! compared with a small model after every step.
//!
//! Invariants: an accepted status change writes exactly one history event and, when the
//! customer is texted, exactly one queued text; setting the current status writes
//! nothing; a rejected request (a transition the
//! rules forbid, a stale `If-Match`, an invalid status) writes nothing; a replayed
//! `Idempotency-Key` answers the same and writes nothing.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{DbKind, TestApp, order_body, spawn_app_without_worker};
use order_notify::store::entities::{notifications, order_events, orders};

const STATUSES: [&str; 5] = ["pending", "confirmed", "delayed", "delivered", "cancelled"];

fn allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("pending", "confirmed" | "delayed" | "cancelled")
            | ("confirmed", "delayed" | "delivered" | "cancelled")
            | ("delayed", "confirmed" | "delivered" | "cancelled")
    )
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        notify: bool,
        keyed: bool,
    },
    Change {
        order: usize,
        to: usize,
        /// `Some(false)`: don't text.
        notify: Option<bool>,
        /// `Some(true)`: the order's current ETag; `Some(false)`: a stale one.
        if_match: Option<bool>,
        keyed: bool,
    },
    Invalid {
        order: usize,
    },
    Notify {
        order: usize,
    },
    /// Sends an earlier keyed request again, exactly.
    Replay {
        which: usize,
    },
    /// Something an abuser would try, which must be refused with 422 and change
    /// nothing: a hidden character in a name or an item, a costly or non-geographic
    /// number, a text of one's own longer than 10 SMS.
    Abusive {
        what: usize,
        hidden: usize,
        order: usize,
    },
}

/// Characters a line of free text refuses (Unicode Cf, and the line separator).
const HIDDEN: [char; 10] = [
    '\u{202E}',
    '\u{200B}',
    '\u{2066}',
    '\u{FEFF}',
    '\u{00AD}',
    '\u{2028}',
    '\u{E0041}',
    '\u{061C}',
    '\u{2060}',
    '\u{200E}',
];

/// Numbers that are never texted: premium rate, shared cost, non-geographic.
const COSTLY: [&str; 5] = [
    "+44 909 879 0000",
    "+1 900 555 0100",
    "+979 123 456 789",
    "+881 6 1234 5678",
    "+800 1234 5678",
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (any::<bool>(), any::<bool>()).prop_map(|(notify, keyed)| Op::Create { notify, keyed }),
        6 => (0..8usize, 0..5usize, prop::option::of(any::<bool>()), prop::option::weighted(0.4, prop::bool::weighted(0.7)), any::<bool>())
            .prop_map(|(order, to, notify, if_match, keyed)| Op::Change { order, to, notify: notify.filter(|n| !n), if_match, keyed }),
        1 => (0..8usize).prop_map(|order| Op::Invalid { order }),
        1 => (0..8usize).prop_map(|order| Op::Notify { order }),
        2 => (0..8usize).prop_map(|which| Op::Replay { which }),
        2 => (0..5usize, 0..HIDDEN.len(), 0..8usize).prop_map(|(what, hidden, order)| Op::Abusive { what, hidden, order }),
    ]
}

#[derive(Clone, Debug)]
struct ModelOrder {
    id: String,
    status: &'static str,
    version: i64,
}

#[derive(Default)]
struct Model {
    orders: Vec<ModelOrder>,
    events: u64,
    texts: u64,
    /// Keyed requests sent so far: (method, path, key, body, status, answer).
    keyed: Vec<(reqwest::Method, String, String, Value, StatusCode, Value)>,
}

async fn counts(app: &TestApp) -> (u64, u64, u64) {
    (
        orders::Entity::find().count(&app.db).await.unwrap(),
        order_events::Entity::find().count(&app.db).await.unwrap(),
        notifications::Entity::find().count(&app.db).await.unwrap(),
    )
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: &Value,
    headers: &[(&str, String)],
) -> (StatusCode, Value, bool) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.admin_key)
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body, replayed)
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let app = spawn_app_without_worker(DbKind::Sqlite).await.unwrap();
    let mut model = Model::default();
    for (step, op) in ops.into_iter().enumerate() {
        let before = counts(&app).await;
        let context = format!("step {step}: {op:?}");
        match op {
            Op::Create { notify, keyed } => {
                let mut body = order_body("Property Customer");
                body["notify"] = json!(notify);
                let key = format!("create-{step}-{}", uuid::Uuid::new_v4());
                let headers = if keyed {
                    vec![("Idempotency-Key", key.clone())]
                } else {
                    vec![]
                };
                let (status, answer, _) =
                    send(&app, reqwest::Method::POST, "/orders", &body, &headers).await;
                prop_assert_eq!(status, StatusCode::CREATED, "{}", context);
                model.orders.push(ModelOrder {
                    id: answer["id"].as_str().unwrap().to_owned(),
                    status: "pending",
                    version: 1,
                });
                model.events += 1;
                model.texts += u64::from(notify);
                if keyed {
                    model.keyed.push((
                        reqwest::Method::POST,
                        "/orders".to_owned(),
                        key,
                        body,
                        status,
                        answer,
                    ));
                }
            }
            Op::Change {
                order,
                to,
                notify,
                if_match,
                keyed,
            } => {
                if model.orders.is_empty() {
                    continue;
                }
                let index = order % model.orders.len();
                let current = model.orders[index].clone();
                let target = STATUSES[to];
                let mut body = json!({"status": target});
                if let Some(notify) = notify {
                    body["notify"] = json!(notify);
                }
                let mut headers = vec![];
                if let Some(fresh) = if_match {
                    let version = if fresh {
                        current.version
                    } else {
                        current.version + 7
                    };
                    headers.push(("If-Match", format!("\"v{version}\"")));
                }
                let key = format!("change-{step}-{}", uuid::Uuid::new_v4());
                if keyed {
                    headers.push(("Idempotency-Key", key.clone()));
                }
                let path = format!("/orders/{}/status", current.id);
                let (status, answer, _) =
                    send(&app, reqwest::Method::PATCH, &path, &body, &headers).await;
                if if_match == Some(false) {
                    prop_assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{}", context);
                } else if current.status == target {
                    // Setting the status it already has changes (and texts) nothing.
                    prop_assert_eq!(status, StatusCode::OK, "{}", context);
                    prop_assert_eq!(
                        answer["order"]["version"].as_i64(),
                        Some(current.version),
                        "{}",
                        context
                    );
                    prop_assert!(answer["notification"].is_null(), "{} {}", context, answer);
                } else if allowed(current.status, target) {
                    prop_assert_eq!(status, StatusCode::OK, "{} {}", context, answer);
                    let order = &mut model.orders[index];
                    order.status = STATUSES[to];
                    order.version += 1;
                    prop_assert_eq!(
                        answer["order"]["version"].as_i64(),
                        Some(order.version),
                        "{}",
                        context
                    );
                    model.events += 1;
                    let texted = notify != Some(false);
                    model.texts += u64::from(texted);
                    prop_assert_eq!(
                        answer["notification"].is_object(),
                        texted,
                        "{} {}",
                        context,
                        answer
                    );
                } else {
                    prop_assert_eq!(status, StatusCode::CONFLICT, "{}", context);
                }
                // A refused request frees its key (idempotency.rs tests that): only
                // answered ones are replayed.
                if keyed && status.is_success() {
                    model
                        .keyed
                        .push((reqwest::Method::PATCH, path, key, body, status, answer));
                }
            }
            Op::Invalid { order } => {
                if model.orders.is_empty() {
                    continue;
                }
                let id = &model.orders[order % model.orders.len()].id;
                let (status, _, _) = send(
                    &app,
                    reqwest::Method::PATCH,
                    &format!("/orders/{id}/status"),
                    &json!({"status": "shipped"}),
                    &[],
                )
                .await;
                prop_assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{}", context);
            }
            Op::Notify { order } => {
                if model.orders.is_empty() {
                    continue;
                }
                let id = &model.orders[order % model.orders.len()].id;
                let (status, _, _) = send(
                    &app,
                    reqwest::Method::POST,
                    &format!("/orders/{id}/notifications"),
                    &json!({}),
                    &[],
                )
                .await;
                prop_assert_eq!(status, StatusCode::ACCEPTED, "{}", context);
                model.texts += 1;
            }
            Op::Abusive {
                what,
                hidden,
                order,
            } => {
                let mallory = format!("Mal{}lory", HIDDEN[hidden]);
                let (method, path, body) = match what {
                    0 => {
                        let mut body = order_body(&mallory);
                        body["notify"] = json!(true);
                        (reqwest::Method::POST, "/orders".to_owned(), body)
                    }
                    1 => {
                        let mut body = order_body("Property Customer");
                        body["items"][0]["name"] = json!(mallory);
                        (reqwest::Method::POST, "/orders".to_owned(), body)
                    }
                    2 => {
                        let mut body = order_body("Property Customer");
                        body["phone"] = json!(COSTLY[hidden % COSTLY.len()]);
                        body["notify"] = json!(true);
                        (reqwest::Method::POST, "/orders".to_owned(), body)
                    }
                    _ if model.orders.is_empty() => continue,
                    3 => {
                        let id = &model.orders[order % model.orders.len()].id;
                        let body = json!({"customer_name": mallory});
                        (reqwest::Method::PATCH, format!("/orders/{id}"), body)
                    }
                    _ => {
                        let id = &model.orders[order % model.orders.len()].id;
                        let body = json!({"body": "x".repeat(153 * 10 + 1)});
                        (
                            reqwest::Method::POST,
                            format!("/orders/{id}/notifications"),
                            body,
                        )
                    }
                };
                let (status, answer, _) = send(&app, method, &path, &body, &[]).await;
                prop_assert_eq!(
                    status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{}: {}",
                    context,
                    answer
                );
            }
            Op::Replay { which } => {
                if model.keyed.is_empty() {
                    continue;
                }
                let (method, path, key, body, status, answer) =
                    model.keyed[which % model.keyed.len()].clone();
                let (again, replayed_answer, replayed) =
                    send(&app, method, &path, &body, &[("Idempotency-Key", key)]).await;
                prop_assert_eq!(again, status, "{}", context);
                prop_assert_eq!(&replayed_answer, &answer, "{}", context);
                prop_assert!(replayed, "{}: no Idempotent-Replayed header", context);
            }
        }
        let after = counts(&app).await;
        prop_assert_eq!(
            after,
            (model.orders.len() as u64, model.events, model.texts),
            "{} (before: {:?})",
            context,
            before
        );
    }
    Ok(())
}

#[test]
fn random_request_sequences_keep_the_workflow_the_outbox_and_idempotency_invariants() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(op(), 1..30), |ops| {
        runtime.block_on(run(ops))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
