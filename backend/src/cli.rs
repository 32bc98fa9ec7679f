//! The `order-notify` command line: serve (the default), migrate, keys, openapi.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use uuid::Uuid;

use crate::app::{self, Application};
use crate::config::Settings;
use crate::domain::{Actor, Role, parse_key_name};
use crate::http::openapi;
use crate::service::{KeySource, RevokeKeyError, Services};

#[derive(Parser, Debug)]
#[command(
    name = "order-notify",
    version,
    about = "Order dashboard and JSON API that texts customers when their order changes status"
)]
pub struct Cli {
    /// A TOML file with settings (the environment variables' names without
    /// ORDER_NOTIFY_, in lower case); the environment wins over it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Add sample orders when the database has none (same as ORDER_NOTIFY_DEMO=1).
    #[arg(long, global = true)]
    pub demo: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP API and dashboard, with a worker that sends texts (the default).
    Serve {
        /// Only the API: texts are sent by `order-notify worker` processes.
        #[arg(long)]
        no_worker: bool,
    },
    /// Only send texts (for running API and workers apart).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the OpenAPI description (YAML, or JSON with --json).
    Openapi {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key and print its secret (only the secret goes to stdout).
    Create {
        #[arg(long)]
        name: String,
        /// admin, staff or integration
        #[arg(long)]
        role: Role,
    },
    /// List active keys (never their secrets).
    List,
    /// Revoke a key by its id.
    Revoke { id: Uuid },
}

impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        &Role::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// Parses the command line, runs the command and says how it went.
pub fn run() -> ExitCode {
    // Before anything opens a database (sqlx's connections and ours share one SQLite).
    let sqlite_prepared = crate::store::sqlite::prepare_process();
    let cli = Cli::parse();
    if let Some(Command::Openapi { json }) = cli.command {
        let doc = if json {
            openapi::spec().to_pretty_json().unwrap_or_default() + "\n"
        } else {
            openapi::yaml()
        };
        print!("{doc}");
        return ExitCode::SUCCESS;
    }
    let mut settings = match Settings::from_env(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("order-notify: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    settings.demo |= cli.demo;
    env_logger::Builder::new()
        .parse_filters(&settings.log_filter)
        .format(write_log_line)
        .init();
    if !sqlite_prepared {
        log::warn!(
            "SQLite was in use before start-up could configure it; it runs as configured by default"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("order-notify: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = cli.command.unwrap_or(Command::Serve { no_worker: false });
    match runtime.block_on(execute(command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("order-notify: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, settings: Settings) -> anyhow::Result<()> {
    let db = app::open_database(&settings).await?;
    match command {
        Command::Serve { no_worker } => serve(settings, db, !no_worker).await,
        Command::Worker => {
            let settings = Arc::new(settings);
            let outbox = Arc::new(tokio::sync::Notify::new());
            let metrics: Arc<crate::metrics::Metrics> = Arc::default();
            let operations = match settings.metrics_bind {
                Some(addr) => {
                    let server = app::operations_server(
                        settings.clone(),
                        db.clone(),
                        metrics.clone(),
                        addr,
                    )?;
                    log::info!("worker figures at http://{addr}/metrics");
                    let handle = server.handle();
                    tokio::spawn(server);
                    Some(handle)
                }
                None => None,
            };
            let mut worker = app::start_worker(settings, db, outbox, metrics)?;
            tokio::select! {
                _ = &mut worker.task => anyhow::bail!("the worker stopped"),
                _ = shutdown_signal() => log::info!("worker stopping"),
            }
            worker.stop().await;
            if let Some(operations) = operations {
                operations.stop(true).await;
            }
            Ok(())
        }
        Command::Migrate => {
            println!("migrations applied");
            Ok(())
        }
        Command::Keys { command } => {
            manage_keys(command, &app::services_for(Arc::new(settings), db)?).await
        }
        Command::Openapi { .. } => unreachable!("handled before the settings are read"),
    }
}

async fn serve(
    settings: Settings,
    db: sea_orm::DatabaseConnection,
    with_worker: bool,
) -> anyhow::Result<()> {
    let first = app::prepare(&db, &settings).await?;
    let settings = Arc::new(settings);
    let server = Application::build(settings.clone(), db)?;
    let worker = if with_worker {
        Some(server.start_worker(settings.clone())?)
    } else {
        None
    };
    log::info!(
        "order-notify listening on {} (SMS provider: {}, dashboard: {})",
        settings.base_url(),
        settings.sms.priority().join(", then "),
        match &settings.static_dir {
            Some(dir) => dir.display().to_string(),
            None => "not built".to_owned(),
        }
    );
    for warning in settings.sms.warnings() {
        log::warn!("{warning}");
    }
    if let Some(first) = first {
        // Printed, not logged: the secret must not end up in log files, and this is
        // the only time it is shown.
        println!(
            "\nCreated the first admin key. It is shown only this once; keep it safe:\n\n    {}\n",
            first.secret
        );
        println!("Sign in to the dashboard: {}\n", first.sign_in_link);
    }
    // SIGTERM or SIGINT: the event streams end, the server stops accepting and finishes
    // the requests in flight; then the worker finishes its sends and hands back its
    // leases.
    server.run_until(shutdown_signal()).await?;
    if let Some(worker) = worker {
        worker.stop().await;
    }
    log::info!("order-notify stopped");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (what orchestrators send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn manage_keys(command: KeysCommand, services: &Services) -> anyhow::Result<()> {
    let by = Actor {
        key_id: None,
        name: "command line".to_owned(),
        role: crate::domain::Role::Admin,
    };
    match command {
        KeysCommand::Create { name, role } => {
            let name =
                parse_key_name(&name).map_err(|e| anyhow::anyhow!("--name {}", e.message))?;
            let (key, secret) = services.create_key(&by, name, role, KeySource::Cli).await?;
            eprintln!(
                "Created {} key {:?} ({}). Its secret is shown only this once:",
                key.role, key.name, key.id
            );
            println!("{secret}");
        }
        KeysCommand::List => {
            println!(
                "{:<36}  {:<11}  {:<8}  {:<20}  NAME",
                "ID", "ROLE", "PREFIX", "LAST USED"
            );
            for key in services.keys().await? {
                let last_used = key
                    .last_used_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_else(|| "never".to_owned());
                println!(
                    "{:<36}  {:<11}  {:<8}  {:<20}  {}",
                    key.id, key.role, key.prefix, last_used, key.name
                );
            }
        }
        KeysCommand::Revoke { id } => match services.revoke_key(&by, id).await {
            Ok(()) => println!("revoked key {id}"),
            Err(RevokeKeyError::NotFound(_)) => anyhow::bail!("there is no active key {id}"),
            Err(RevokeKeyError::LastAdmin) => {
                anyhow::bail!("key {id} is the last admin key; create another admin key first")
            }
            Err(RevokeKeyError::FromConfiguration) => anyhow::bail!(
                "key {id} is set by ORDER_NOTIFY_ADMIN_KEY; change or unset that setting to retire it"
            ),
            Err(RevokeKeyError::Storage(e)) => return Err(e.into()),
        },
    }
    Ok(())
}

/// `[time level target request_id] message`: a line written while a request is handled
/// carries that request's id, so `grep <id>` finds all of its lines.
fn write_log_line(
    buf: &mut env_logger::fmt::Formatter,
    record: &log::Record<'_>,
) -> std::io::Result<()> {
    use std::io::Write;
    let time = buf.timestamp_millis();
    match crate::http::request_id::current() {
        Some(id) => writeln!(
            buf,
            "[{time} {} {} {id}] {}",
            record.level(),
            record.target(),
            record.args()
        ),
        None => writeln!(
            buf,
            "[{time} {} {}] {}",
            record.level(),
            record.target(),
            record.args()
        ),
    }
}
