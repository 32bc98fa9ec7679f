//! `spawn_app`: the real service on a random port with a fresh database, plus the
//! small vocabulary the tests speak (create an order, change a status, read a problem).

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use order_notify::app::{self, Application};
use order_notify::config::Settings;
use order_notify::store::entities::{
    api_keys, idempotency_records, notifications, order_events, orders, templates,
};
use reqwest::{Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

/// The server the PostgreSQL tests create their databases on; override it with
/// ORDER_NOTIFY_TEST_POSTGRES_URL (a URL to an existing database, such as `postgres`).
pub fn postgres_admin_url() -> String {
    std::env::var("ORDER_NOTIFY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Whether anything listens at the server's address; a quick TCP probe, so a machine
/// without PostgreSQL skips at once instead of waiting out connection retries.
fn postgres_reachable(admin_url: &str) -> Result<(), String> {
    let url = url::Url::parse(admin_url).map_err(|e| e.to_string())?;
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(5432);
    let addresses = (host, port).to_socket_addrs().map_err(|e| e.to_string())?;
    let mut last_error = "no address".to_owned();
    for address in addresses {
        match TcpStream::connect_timeout(&address, Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(last_error)
}

/// The same server, another database.
fn postgres_url_for(name: &str) -> String {
    let mut url =
        url::Url::parse(&postgres_admin_url()).expect("ORDER_NOTIFY_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// Runs each test body once on SQLite and once on PostgreSQL, as `name::sqlite` and
/// `name::postgres`, so the two backends cannot drift apart.
macro_rules! both_databases {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $app = $crate::helpers::spawn_app($crate::helpers::DbKind::Sqlite).await.unwrap();
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some($app) = $crate::helpers::spawn_app($crate::helpers::DbKind::Postgres).await else {
                        return;
                    };
                    $body
                }
            }
        )*
    };
}
pub(crate) use both_databases;

/// A database that exists for one test and is removed after it.
pub enum TestDb {
    Sqlite {
        url: String,
        _dir: tempfile::TempDir,
    },
    Postgres {
        url: String,
        name: String,
    },
}

impl TestDb {
    /// A fresh database, or `None` when PostgreSQL is not reachable and not required.
    pub async fn create(kind: DbKind) -> Option<TestDb> {
        match kind {
            DbKind::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary folder");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                Some(TestDb::Sqlite { url, _dir: dir })
            }
            DbKind::Postgres => {
                let admin_url = postgres_admin_url();
                if let Err(e) = postgres_reachable(&admin_url) {
                    if std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                        panic!(
                            "REQUIRE_POSTGRES=1 but PostgreSQL at {admin_url} is unreachable: {e}"
                        );
                    }
                    // Written past the test harness's capture, so the skip is seen.
                    let _ = writeln!(
                        std::io::stderr(),
                        "skipped: no PostgreSQL ({admin_url}: {e})"
                    );
                    return None;
                }
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .expect("connect to PostgreSQL");
                let name = format!("order_notify_test_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create a test database");
                admin.close().await.ok();
                let url = postgres_url_for(&name);
                Some(TestDb::Postgres { url, name })
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name, .. } = self {
            let name = name.clone();
            // Drop runs inside the test's runtime, which cannot block on async work:
            // a thread with its own runtime removes the database.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    if let Ok(admin) = Database::connect(postgres_admin_url()).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        admin.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// An admin key (set through ORDER_NOTIFY_ADMIN_KEY).
    pub admin_key: String,
    /// A direct connection for checking what was (not) written.
    pub db: DatabaseConnection,
    pub kind: DbKind,
    pub settings: Arc<Settings>,
    server: actix_web::dev::ServerHandle,
    worker: Option<app::RunningWorker>,
    _test_db: TestDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sending the stop command is synchronous; nothing needs to wait for it.
        drop(self.server.stop(false));
        if let Some(worker) = &self.worker {
            worker.abort();
        }
    }
}

/// The outbox drills send hundreds of texts to a handful of numbers, so the hourly limit
/// per number is off in tests; the limit's own tests set it (an empty value: the
/// default).
pub const PER_NUMBER: (&str, &str) = ("ORDER_NOTIFY_TEXTS_PER_RECIPIENT_PER_HOUR", "0");

pub fn settings_for(url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = HashMap::from([
        ("ORDER_NOTIFY_BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("ORDER_NOTIFY_DATABASE_URL".to_owned(), url.to_owned()),
        (PER_NUMBER.0.to_owned(), PER_NUMBER.1.to_owned()),
    ]);
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Settings::load(&env, None).expect("valid test settings")
}

pub async fn spawn_app(kind: DbKind) -> Option<TestApp> {
    spawn_app_with(kind, &[]).await
}

pub async fn spawn_app_with(kind: DbKind, extra: &[(&str, &str)]) -> Option<TestApp> {
    spawn(kind, extra, true).await
}

/// The API alone, as `serve --no-worker` runs it: queued texts stay queued.
pub async fn spawn_app_without_worker(kind: DbKind) -> Option<TestApp> {
    spawn(kind, &[], false).await
}

async fn spawn(kind: DbKind, extra: &[(&str, &str)], with_worker: bool) -> Option<TestApp> {
    let test_db = TestDb::create(kind).await?;
    let admin_key = format!("test-admin-{}", uuid::Uuid::new_v4().simple());
    // Rate limiting is off unless a test turns it on: the tests fire requests in bursts.
    let mut vars = vec![
        ("ORDER_NOTIFY_ADMIN_KEY", admin_key.as_str()),
        ("ORDER_NOTIFY_RATE_LIMIT", "0"),
    ];
    vars.extend_from_slice(extra);
    let settings = settings_for(test_db.url(), &vars);
    let db = app::open_database(&settings)
        .await
        .expect("open the test database");
    let first = app::prepare(&db, &settings).await.expect("prepare keys");
    assert!(
        first.is_none(),
        "no first-start key when ORDER_NOTIFY_ADMIN_KEY is set"
    );
    let settings = Arc::new(settings);
    let application = Application::build(settings.clone(), db).expect("build the app");
    let worker = with_worker.then(|| {
        application
            .start_worker(settings.clone())
            .expect("start the worker")
    });
    let address = format!("http://127.0.0.1:{}", application.port());
    let server = application.handle();
    tokio::spawn(application.run_until_stopped());
    let inspect = order_notify::store::connect(test_db.url())
        .await
        .expect("inspection connection");
    Some(TestApp {
        address,
        client: reqwest::Client::new(),
        admin_key,
        db: inspect,
        kind,
        settings,
        server,
        worker,
        _test_db: test_db,
    })
}

/// A valid order body; tests change what they need.
pub fn order_body(name: &str) -> Value {
    json!({
        "customer_name": name,
        "phone": "+31 6 1234 5678",
        "items": [{"name": "Margherita", "quantity": 2}, {"name": "Cola", "quantity": 1}]
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn get(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(key)
    }

    /// GETs a path that must answer 200 and returns its JSON.
    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        let response = self.get(path, key).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    pub fn post(&self, path: &str, key: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(key).json(body)
    }

    pub fn patch(&self, path: &str, key: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .patch(self.url(path))
            .bearer_auth(key)
            .json(body)
    }

    pub async fn create_order_as(&self, key: &str, body: &Value) -> Value {
        let response = self.post("/orders", key, body).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{:?}",
            response.text().await
        );
        response.json().await.unwrap()
    }

    pub async fn create_order(&self, name: &str) -> Value {
        self.create_order_as(&self.admin_key, &order_body(name))
            .await
    }

    pub async fn change_status(&self, id: &str, status: &str) -> Response {
        self.patch(
            &format!("/orders/{id}/status"),
            &self.admin_key,
            &json!({"status": status}),
        )
        .send()
        .await
        .unwrap()
    }

    pub async fn get_order(&self, id: &str) -> Value {
        let response = self
            .get(&format!("/orders/{id}"), &self.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The newest text about an order.
    pub async fn latest_text(&self, order_id: &str) -> Value {
        self.get_json(
            &format!("/orders/{order_id}/notifications"),
            &self.admin_key,
        )
        .await["items"][0]
            .clone()
    }

    /// Waits (15 s at most) until the newest text about an order is in one of `states`
    /// (the worker moves it along on its own), and returns it.
    pub async fn wait_for_text(&self, order_id: &str, states: &[&str]) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.latest_text(order_id).await;
            if states.iter().any(|state| text["state"] == *state) {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the text never became {states:?}: {text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Confirms a new order and waits until its text is settled (sent or failed): how
    /// the provider tests see what the provider made of one text.
    pub async fn confirm_and_settle(&self) -> Value {
        let order = self.create_order("Ada Lovelace").await;
        let id = order["id"].as_str().unwrap();
        self.change_status(id, "confirmed").await;
        self.wait_for_text(id, &["sent", "failed"]).await
    }

    pub async fn create_key(&self, name: &str, role: &str) -> (String, String) {
        let response = self
            .post(
                "/keys",
                &self.admin_key,
                &json!({"name": name, "role": role}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["key"].as_str().unwrap().to_owned(),
        )
    }

    /// `DELETE /keys/{id}` with the admin key.
    pub async fn revoke_key(&self, id: &str) -> Response {
        self.client
            .delete(self.url(&format!("/keys/{id}")))
            .bearer_auth(&self.admin_key)
            .send()
            .await
            .unwrap()
    }

    /// Everything a failed request must leave untouched: every order as the API shows
    /// it (with its latest text's id), and the row counts of every table.
    pub async fn snapshot(&self) -> Value {
        let mut orders = self.get_json("/orders?limit=200", &self.admin_key).await;
        // The worker moves texts along on its own; which text is the latest is what a
        // request could have changed.
        for order in orders["items"].as_array_mut().into_iter().flatten() {
            order["last_notification"] = order["last_notification"]["id"].clone();
        }
        json!({
            "orders": orders,
            "order_rows": orders::Entity::find().count(&self.db).await.unwrap(),
            "event_rows": order_events::Entity::find().count(&self.db).await.unwrap(),
            "key_rows": api_keys::Entity::find().count(&self.db).await.unwrap(),
            "idempotency_rows": idempotency_records::Entity::find().count(&self.db).await.unwrap(),
            "template_rows": templates::Entity::find().count(&self.db).await.unwrap(),
            "notification_rows": notifications::Entity::find().count(&self.db).await.unwrap(),
        })
    }
}

/// Asserts an RFC 9457 problem response with this status and returns its body.
pub async fn assert_problem(response: Response, status: u16) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of {}",
        response.url()
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("a JSON problem body");
    assert_eq!(body["status"], status, "{body}");
    for member in ["type", "title", "detail"] {
        assert!(
            body[member].as_str().is_some_and(|s| !s.is_empty()),
            "problem member {member} missing: {body}"
        );
    }
    body
}

/// The fields named in a 422 problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The built `order-notify` binary, run in `dir` with nothing from this environment but
/// PATH (and RUST_LOG=warn): what a test that needs a real process starts from.
pub fn order_notify_command(dir: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_order-notify"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env(PER_NUMBER.0, PER_NUMBER.1);
    command
}

/// A loopback address with a port nobody is listening on, for a child process to bind.
pub fn free_local_address() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// Waits (up to 20 s) until a server process at `base` answers `/readyz` with 200.
pub async fn wait_until_ready(client: &reqwest::Client, base: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process that is killed when the test ends, however it ends (a panicking
/// test must not leave a server running, holding the test's output open).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Creates an order on a server process at `base` (one started from the binary, not a
/// `TestApp`); panics unless it answers 201, and returns the order.
pub async fn create_order_at(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    name: &str,
    phone: &str,
    notify: bool,
) -> Value {
    let response = client
        .post(format!("{base}/orders"))
        .bearer_auth(key)
        .json(&json!({"customer_name": name, "phone": phone,
                      "items": [{"name": "Soup", "quantity": 1}], "notify": notify}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "POST {base}/orders");
    response.json().await.unwrap()
}

/// MessageBird's answer to a text it accepted, given after `delay`.
pub fn messagebird_accepted(delay: Duration) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(201)
        .set_body_json(json!({"id": "mb-1", "recipients": {"totalCount": 1}}))
        .set_delay(delay)
}

/// A MessageBird stand-in that accepts every text after `delay`.
pub async fn messagebird_accepting_after(delay: Duration) -> wiremock::MockServer {
    let provider = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/messages"))
        .respond_with(messagebird_accepted(delay))
        .mount(&provider)
        .await;
    provider
}

/// The value of one Prometheus sample, such as `order_notify_queue_depth` or
/// `order_notify_notifications{state="sent"}`; 0 when the line is absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// `GET {base}/metrics`, checked to be Prometheus text.
pub async fn scrape(client: &reqwest::Client, base: &str) -> String {
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {base}/metrics");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// Sends SIGTERM and waits (at most `wait`) for the process to exit.
pub async fn terminate(
    child: &mut std::process::Child,
    wait: Duration,
) -> std::process::ExitStatus {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = std::time::Instant::now() + wait;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the process did not stop within {wait:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether python3 can import `module` (a provider's official library, for a contract
/// test). Without it the test is skipped, saying what to install (`pip install …`),
/// unless the variable `require` is 1 (CI), which fails it.
pub fn python_can_import(module: &str, install: &str, require: &str) -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var(require).is_ok_and(|v| v == "1") {
            panic!("{require}=1 but python3 cannot import {module} (pip install {install})");
        }
        eprintln!("skipped: python3 cannot import {module} (pip install {install})");
    }
    found
}

/// Runs a Python `script` with `args` (JSON) as its one argument, off the async
/// runtime; its standard output, once it has succeeded.
pub async fn run_python(script: &'static str, args: Value) -> String {
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", script, &args.to_string()])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Verifies calls with Bird's official SDK (`client.webhooks.unwrap`, which also checks
/// each event against Bird's own models): prints each event's type, or raises.
pub const BIRD_SDK_UNWRAP: &str = r#"
import json, sys
from bird import Bird
args = json.loads(sys.argv[1])
client = Bird(webhook_secret=args["secret"])
for call in args["calls"]:
    event = client.webhooks.unwrap(call["body"].encode(), call["headers"])
    print(event.root.type)
"#;
