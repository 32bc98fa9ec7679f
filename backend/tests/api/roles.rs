//! The role matrix (each role × each route) and integration keys' isolation.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

/// A request to one route, made valid for the caller (an order it may use).
async fn call(
    app: &TestApp,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> u16 {
    let mut request = app.client.request(method, app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

both_databases! {
    async fn each_role_reaches_exactly_its_routes(app) {
        let (_, staff) = app.create_key("kitchen", "staff").await;
        let (_, integration) = app.create_key("shop", "integration").await;
        let admin = app.admin_key.clone();
        for (role, key) in [("admin", admin.as_str()), ("staff", staff.as_str()), ("integration", integration.as_str())] {
            let order = app.create_order_as(key, &order_body(role)).await;
            let id = order["id"].as_str().unwrap();
            let (victim, _) = app.create_key("victim", "staff").await;
            let keys_allowed = role == "admin";
            let staff_allowed = role != "integration";
            let expectations: Vec<(Method, String, Option<Value>, u16)> = vec![
                (Method::GET, "/orders".into(), None, 200),
                (Method::POST, "/orders".into(), Some(order_body("x")), 201),
                (Method::GET, format!("/orders/{id}"), None, 200),
                (Method::PATCH, format!("/orders/{id}/status"), Some(json!({"status": "confirmed"})), 200),
                (Method::GET, format!("/orders/{id}/events"), None, 200),
                (Method::GET, format!("/orders/{id}/notifications"), None, 200),
                (Method::POST, format!("/orders/{id}/notifications"), Some(json!({})), 202),
                (Method::GET, "/keys".into(), None, if keys_allowed { 200 } else { 403 }),
                (Method::POST, "/keys".into(), Some(json!({"name": "n", "role": "staff"})), if keys_allowed { 201 } else { 403 }),
                (Method::DELETE, format!("/keys/{victim}"), None, if keys_allowed { 204 } else { 403 }),
                (Method::GET, "/templates".into(), None, if staff_allowed { 200 } else { 403 }),
                (Method::GET, "/sandbox/messages".into(), None, if staff_allowed { 200 } else { 403 }),
                (Method::GET, "/notifications".into(), None, if staff_allowed { 200 } else { 403 }),
                (Method::GET, "/opt-outs".into(), None, if keys_allowed { 200 } else { 403 }),
                (Method::POST, "/templates/preview".into(), Some(json!({"body": "Hi {first_name}"})), if staff_allowed { 200 } else { 403 }),
                (Method::PUT, "/templates/delayed".into(), Some(json!({"body": "Sorry {first_name}"})), if keys_allowed { 200 } else { 403 }),
            ];
            for (method, path, body, expected) in expectations {
                let anonymous = call(&app, None, method.clone(), &path, body.clone()).await;
                assert_eq!(anonymous, 401, "no key: {method} {path}");
                let status = call(&app, Some(key), method.clone(), &path, body).await;
                assert_eq!(status, expected, "{role}: {method} {path}");
            }
        }
    }

    async fn integrations_see_only_their_own_orders(app) {
        let (_, shop_a) = app.create_key("shop A", "integration").await;
        let (_, shop_b) = app.create_key("shop B", "integration").await;
        let (_, staff) = app.create_key("kitchen", "staff").await;
        let mine = app.create_order_as(&shop_a, &order_body("A's customer")).await;
        let theirs = app.create_order_as(&shop_b, &order_body("B's customer")).await;
        let by_staff = app.create_order_as(&staff, &order_body("walk-in")).await;
        let mine_id = mine["id"].as_str().unwrap();

        let before = app.snapshot().await;
        for response in [
            app.get(&format!("/orders/{mine_id}"), &shop_b).send().await.unwrap(),
            app.get(&format!("/orders/{mine_id}/events"), &shop_b).send().await.unwrap(),
            app.patch(&format!("/orders/{mine_id}/status"), &shop_b, &json!({"status": "cancelled"})).send().await.unwrap(),
        ] {
            let problem = assert_problem(response, 404).await;
            assert!(!problem.to_string().contains("A's customer"));
        }
        let staff_order = by_staff["id"].as_str().unwrap();
        assert_problem(app.get(&format!("/orders/{staff_order}"), &shop_a).send().await.unwrap(), 404).await;
        assert_eq!(app.snapshot().await, before);

        let list = |key: String| {
            let app = &app;
            async move {
                let page = app.get_json("/orders", &key).await;
                let mut names: Vec<String> = page["items"].as_array().unwrap().iter()
                    .map(|o| o["customer_name"].as_str().unwrap().to_owned()).collect();
                names.sort();
                names
            }
        };
        assert_eq!(list(shop_a.clone()).await, ["A's customer"]);
        assert_eq!(list(shop_b.clone()).await, ["B's customer"]);
        assert_eq!(list(staff.clone()).await, ["A's customer", "B's customer", "walk-in"]);
        assert_eq!(list(app.admin_key.clone()).await, ["A's customer", "B's customer", "walk-in"]);
        let search = app.get_json("/orders?q=customer", &shop_a).await;
        assert_eq!(search["items"].as_array().unwrap().len(), 1);

        // Staff may change any order, including an integration's.
        let theirs_id = theirs["id"].as_str().unwrap();
        let response = app.patch(&format!("/orders/{theirs_id}/status"), &staff, &json!({"status": "confirmed"})).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
}
