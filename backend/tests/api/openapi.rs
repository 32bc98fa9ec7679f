use std::path::PathBuf;

use order_notify::http::openapi;
use serde_json::Value;

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml")
}

#[test]
fn the_checked_in_openapi_yaml_is_what_the_code_generates() {
    let generated = openapi::yaml();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(checked_in(), &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(checked_in()).unwrap_or_default();
    assert!(
        on_disk == generated,
        "openapi.yaml is stale: run `cargo run -q -- openapi > openapi.yaml` (or UPDATE_OPENAPI=1 cargo test)"
    );
}

#[test]
fn every_route_but_health_metrics_and_webhooks_needs_a_key_and_documents_401() {
    let spec: Value = serde_json::to_value(openapi::spec()).unwrap();
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let health = path == "/healthz" || path == "/readyz" || path == "/metrics";
            let webhook = path.starts_with("/webhooks/");
            assert_eq!(
                operation["security"].is_array(),
                !health && !webhook,
                "{method} {path}"
            );
            // Webhooks answer 401 to a bad provider signature.
            assert_eq!(
                operation["responses"]["401"].is_object(),
                !health,
                "{method} {path}"
            );
            let writes_json = operation["requestBody"]["content"]["application/json"].is_object();
            // A provider's signed JSON is read as it was signed (raw), not as our API's
            // JSON bodies are: no 415 or 422, only 400 for what is not its event.
            let statuses: &[&str] = if webhook {
                &["400", "413"]
            } else {
                &["400", "413", "415", "422"]
            };
            for status in statuses {
                if writes_json {
                    assert!(
                        operation["responses"][status].is_object(),
                        "{method} {path} lacks {status}"
                    );
                }
            }
        }
    }
    assert_eq!(operations, 37);
}

#[test]
fn every_message_an_endpoint_can_receive_is_described_with_its_signature_headers() {
    let spec: Value = serde_json::to_value(openapi::spec()).unwrap();
    let hooks = spec["webhooks"].as_object().unwrap();
    let mut names: Vec<&str> = hooks.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "customer.opted_in",
            "customer.opted_out",
            "notification.delivered",
            "notification.failed",
            "notification.sent",
            "order.created",
            "order.status_changed",
            "order.updated",
        ]
    );
    for (name, item) in hooks {
        let post = &item["post"];
        let headers: Vec<&str> = post["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            headers,
            ["webhook-id", "webhook-timestamp", "webhook-signature"],
            "{name}"
        );
        let schema = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap();
        let target = spec.pointer(schema.trim_start_matches('#')).unwrap();
        assert!(target["properties"]["type"].is_object(), "{name}: {target}");
        assert!(target["properties"]["data"].is_object(), "{name}: {target}");
    }
}
