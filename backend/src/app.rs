//! Builds the running service from settings: database, first-start key, HTTP server
//! with its middleware, routes, API docs and the dashboard's static files.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_files::{Files, NamedFile};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::{Method, header};
use actix_web::middleware::{Compress, Logger, Next, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};
use utoipa_swagger_ui::SwaggerUi;

use crate::config::{Settings, redact_url};
use crate::demo;
use crate::http::connections::ConnectionCounts;
use crate::http::events::StreamSlots;
use crate::http::problem::ApiError;
use crate::http::rate_limit::RateLimiter;
use crate::http::{AppState, auth, headers, metrics, openapi, request_id, routes};
use crate::live::LiveHub;
use crate::metrics::Metrics;
use crate::service::Services;
use crate::store;
use crate::store::writer::Writer;

/// The store for a process on `db`: its reads (on SQLite the engine's read
/// connections, on PostgreSQL the pool) and its writer, counting into `metrics`.
fn storage(
    settings: &Settings,
    db: &DatabaseConnection,
    metrics: &Arc<Metrics>,
) -> Result<(Arc<dyn store::Reads>, Writer), StartError> {
    let reads =
        store::read_pool(db, &settings.database_url).map_err(|source| StartError::Database {
            url: redact_url(&settings.database_url),
            source,
        })?;
    let writer = Writer::new(
        db.clone(),
        &settings.database_url,
        &settings.db_pool,
        metrics.clone(),
    )
    .map_err(StartError::Writer)?;
    Ok((reads, writer))
}

/// Starts a worker in this process that sends what `outbox` announces (and polls for
/// the rest), with a writer of its own (a process that serves no API).
pub fn start_worker(
    settings: Arc<Settings>,
    db: DatabaseConnection,
    outbox: Arc<Notify>,
    metrics: Arc<Metrics>,
) -> Result<RunningWorker, StartError> {
    let (reads, writer) = storage(&settings, &db, &metrics)?;
    let services = Services::new(reads, writer, outbox, metrics, settings.clone());
    start_worker_with(settings, services)
}

/// Starts a worker on `services`: it claims and records through their writer, waits
/// on their outbox bell and records its sends in their figures; the sandbox provider
/// keeps its outbox through them too.
fn start_worker_with(
    settings: Arc<Settings>,
    services: Services,
) -> Result<RunningWorker, StartError> {
    let providers = settings
        .sms
        .sender(
            settings.public_url.as_deref(),
            Arc::new(services.clone()),
            settings.sms_breaker,
        )
        .map_err(StartError::Provider)?;
    let dispatcher = crate::delivery::webhooks::Dispatcher::new(services.clone(), settings.clone())
        .map_err(StartError::Webhooks)?;
    let worker = crate::delivery::Worker::new(services, Arc::new(providers), settings);
    let (stop, stopping) = watch::channel(false);
    Ok(RunningWorker {
        task: tokio::spawn(worker.run(stopping.clone())),
        webhooks: tokio::spawn(dispatcher.run(stopping)),
        stop,
    })
}

/// A worker task and the switch that stops it.
pub struct RunningWorker {
    pub(crate) task: tokio::task::JoinHandle<()>,
    /// The webhook dispatcher beside it, stopped with it.
    webhooks: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl RunningWorker {
    /// Stops it gracefully: it claims nothing more, lets the texts in flight finish and
    /// hands back its leases. Returns when it has.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await
            && e.is_panic()
        {
            log::error!("the worker panicked: {e}");
        }
        if let Err(e) = self.webhooks.await
            && e.is_panic()
        {
            log::error!("the webhook dispatcher panicked: {e}");
        }
    }

    /// Ends it at once, as a crash would: what it was sending keeps its lease.
    pub fn abort(&self) {
        self.task.abort();
        self.webhooks.abort();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Provider(crate::sms::ProviderError),
    #[error("{0}")]
    Webhooks(String),
    #[error("cannot open the database at {url}: {source}")]
    Database { url: String, source: sea_orm::DbErr },
    #[error("cannot start the database writer: {0}")]
    Writer(store::StorageError),
    #[error("cannot apply migrations: {0}")]
    Migration(sea_orm::DbErr),
    #[error("cannot prepare API keys: {0}")]
    Keys(sea_orm::DbErr),
    #[error("cannot add demo orders: {0}")]
    Demo(sea_orm::DbErr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Connects to the configured database and brings its schema up to date.
pub async fn open_database(settings: &Settings) -> Result<DatabaseConnection, StartError> {
    let db = store::connect_with(&settings.database_url, &settings.db_pool)
        .await
        .map_err(|source| StartError::Database {
            url: redact_url(&settings.database_url),
            source,
        })?;
    store::migrate(&db).await.map_err(StartError::Migration)?;
    Ok(db)
}

/// The use cases on `db`, for a command that runs beside the service (`keys`): its
/// writes go through a writer of its own.
pub fn services_for(
    settings: Arc<Settings>,
    db: DatabaseConnection,
) -> Result<Services, StartError> {
    let metrics = Arc::new(Metrics::default());
    let (reads, writer) = storage(&settings, &db, &metrics)?;
    Ok(Services::new(
        reads,
        writer,
        Arc::new(Notify::new()),
        metrics,
        settings,
    ))
}

/// A first admin key, created when no key exists at all, and the sign-in link for it.
pub struct FirstStartKey {
    pub secret: String,
    pub sign_in_link: String,
}

/// Prepares keys and sample data: the ORDER_NOTIFY_ADMIN_KEY key, a first admin key on
/// an empty database, and demo orders when asked for.
pub async fn prepare(
    db: &DatabaseConnection,
    settings: &Settings,
) -> Result<Option<FirstStartKey>, StartError> {
    if let Some(secret) = &settings.admin_key {
        store::keys::ensure_env_admin_key(db, secret.expose())
            .await
            .map_err(StartError::Keys)?;
    }
    let mut first = None;
    if store::keys::count_active(db)
        .await
        .map_err(StartError::Keys)?
        == 0
    {
        let (_, secret) = store::keys::create_first_key(db)
            .await
            .map_err(StartError::Keys)?;
        let sign_in_link = format!("{}/#key={secret}", settings.base_url());
        first = Some(FirstStartKey {
            secret,
            sign_in_link,
        });
    }
    if settings.demo {
        demo::seed(db, settings).await.map_err(StartError::Demo)?;
    }
    Ok(first)
}

/// A server bound to its port, ready to run.
pub struct Application {
    port: u16,
    server: Server,
    services: Services,
    events: Arc<LiveHub>,
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and builds the server around `db`.
    pub fn build(
        settings: Arc<Settings>,
        db: DatabaseConnection,
    ) -> Result<Application, StartError> {
        let addr = settings.bind.to_string();
        let listener = TcpListener::bind(settings.bind).map_err(|source| StartError::Bind {
            addr: addr.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(settings.bind.port());
        let limiter = RateLimiter::new(settings.rate_limit, settings.rate_limit_burst);
        let outbox = Arc::new(Notify::new());
        let metrics = Arc::new(Metrics::default());
        let (reads, writer) = storage(&settings, &db, &metrics)?;
        let events = LiveHub::start(&db, reads.clone());
        let services = Services::new(reads, writer, outbox, metrics.clone(), settings.clone());
        spawn_housekeeping(services.clone());
        let for_worker = services.clone();
        let services_data = web::Data::new(services.clone());
        let access_rules = web::Data::new(routes::access_rules());
        let settings_streams = settings.streams_per_key;
        let connections = ConnectionCounts::new(
            settings.connections_per_address,
            settings.trusted_proxies.clone(),
            metrics.clone(),
        );
        let state = web::Data::new(AppState {
            services,
            settings,
            limiter,
            metrics: metrics.clone(),
            events: events.clone(),
            streams: Arc::new(StreamSlots::new(settings_streams)),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(services_data.clone())
                .app_data(access_rules.clone())
                .wrap(from_fn(auth::authenticate))
                .wrap(
                    Logger::new("%{client}xi \"%{request_line}xi\" %s %b %Dms %{x-request-id}i")
                        .custom_request_replace("client", auth::loggable_client)
                        .custom_request_replace("request_line", auth::loggable_request_line),
                )
                .wrap(from_fn(metrics::measure))
                .wrap(from_fn(request_id::assign))
                .wrap(from_fn(headers::protect))
                .configure(configure)
                .configure(|cfg| configure_static(cfg, state.settings.static_dir.clone()))
                .default_service(fn_service(answer_not_found))
        })
        .on_connect(move |connection, data| connections.on_connect(connection, data))
        // A request head must arrive within 5 s (then 408), as its body must within
        // 15 s (`http::body::BODY_DEADLINE`): nobody holds a connection by trickling.
        .client_request_timeout(std::time::Duration::from_secs(5))
        .listen(listener)
        .map_err(|source| StartError::Bind { addr, source })?
        .shutdown_timeout(10)
        // `run_until` handles the signals, so the event streams end first.
        .disable_signals()
        .run();
        Ok(Application {
            port,
            server,
            services: for_worker,
            events,
        })
    }

    /// Starts the worker beside this server: it shares the server's writer (on SQLite,
    /// one writer and its commits for both), hears the outbox bell the use cases ring,
    /// and records its sends where `/metrics` reads them.
    pub fn start_worker(&self, settings: Arc<Settings>) -> Result<RunningWorker, StartError> {
        start_worker_with(settings, self.services.clone())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from elsewhere (tests, signal handlers of embedders).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through [`Application::handle`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until `signal` resolves; then ends the event streams (which would
    /// otherwise hold the shutdown for its whole timeout), stops accepting and finishes
    /// the requests in flight.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = std::pin::pin!(self.server);
        tokio::select! {
            result = &mut server => return result,
            () = signal => {}
        }
        self.events.close();
        // The command is sent at once; the server future (polled below) carries it out.
        drop(handle.stop(true));
        server.await
    }
}

/// `/healthz`, `/readyz` and `/metrics` for a `worker` process (which serves no API),
/// on `settings.metrics_bind`, showing the figures of the worker that records into
/// `metrics`. Stopped by its handle.
pub fn operations_server(
    settings: Arc<Settings>,
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    addr: std::net::SocketAddr,
) -> Result<Server, StartError> {
    let bind_error = |source| StartError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    let (reads, writer) = storage(&settings, &db, &metrics)?;
    let services = web::Data::new(Services::new(
        reads,
        writer,
        Arc::new(Notify::new()),
        metrics,
        settings,
    ));
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(services.clone())
            .wrap(from_fn(request_id::assign))
            .wrap(from_fn(headers::protect))
            .configure(|cfg| routes::register(cfg, routes::operations()))
            .default_service(fn_service(answer_not_found))
    })
    .workers(1)
    .listen(listener)
    .map_err(bind_error)?
    .disable_signals()
    .run())
}

/// Every ten minutes forgets what has expired (`Services::tidy_up`).
fn spawn_housekeeping(services: Services) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            services.tidy_up().await;
        }
    });
}

/// Every API route (authenticated by the middleware in `Application::build`), with the error handlers that turn actix's own extractor failures
/// into problem+json.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(|err, req| {
        ApiError::BadRequest(format!("{} is not a valid path here: {err}.", req.path())).into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|err, _| {
        ApiError::field("query", format!("The query string is not valid: {err}.")).into()
    }))
    .configure(|cfg| routes::register(cfg, routes::all()))
    .route("/openapi.json", web::get().to(openapi_json))
    .service(
        SwaggerUi::new("/swagger-ui/{_:.*}")
            .config(utoipa_swagger_ui::Config::from("/openapi.json")),
    );
}

/// `GET /openapi.json`: the API's description, the same bytes for every request.
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(openapi::json())
}

/// The default service of both servers: a 404 problem for any path no route matched.
async fn answer_not_found(req: ServiceRequest) -> Result<ServiceResponse, actix_web::Error> {
    let (req, _) = req.into_parts();
    let response = not_found(&req);
    Ok(ServiceResponse::new(req, response))
}

fn not_found(req: &HttpRequest) -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::NotFound(format!(
        "Nothing is at {}.",
        req.path()
    )))
}

fn wants_html(req: &HttpRequest) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD)
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

/// Serves the built dashboard at `/`: its files as they are, and `index.html` for any
/// other page a browser navigates to (the SPA routes in the browser). Compressed, with
/// the caching and security headers of [`dashboard_headers`].
fn configure_static(cfg: &mut web::ServiceConfig, dir: Option<PathBuf>) {
    let Some(dir) = dir else {
        cfg.route("/", web::get().to(no_dashboard));
        return;
    };
    let index = dir.join("index.html");
    let files = Files::new("/", dir)
        .index_file("index.html")
        .default_handler(fn_service(move |req: ServiceRequest| {
            let index = index.clone();
            async move {
                let (req, _) = req.into_parts();
                if !wants_html(&req) {
                    let response = not_found(&req);
                    return Ok(ServiceResponse::new(req, response));
                }
                let file = NamedFile::open_async(&index).await?;
                let response = file.into_response(&req);
                Ok(ServiceResponse::new(req, response))
            }
        }));
    cfg.service(
        web::scope("")
            .wrap(from_fn(dashboard_headers))
            .wrap(Compress::default())
            .service(files),
    );
}

/// The dashboard may load code, styles and data only from this server (no inline script,
/// no third party), and may not be framed.
const DASHBOARD_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Vite names every file under `assets/` by its content's hash, so those are cached for a
/// year; `index.html` (and anything else) is revalidated on every load, so a new build
/// reaches browsers at once.
async fn dashboard_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let hashed_asset = req.path().starts_with("/assets/");
    let mut response = next.call(req).await?;
    let cache = if hashed_asset && response.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, cache),
        (header::CONTENT_SECURITY_POLICY, DASHBOARD_CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    Ok(response)
}

/// What `/` shows when the dashboard has not been built.
async fn no_dashboard() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            "<!doctype html><meta charset=utf-8><title>order-notify</title>\
         <h1>order-notify is running</h1>\
         <p>The dashboard has not been built (see <code>frontend/</code>). \
         The API is described at <a href=\"/swagger-ui/\">/swagger-ui/</a> \
         and <a href=\"/openapi.json\">/openapi.json</a>.</p>",
        )
}
