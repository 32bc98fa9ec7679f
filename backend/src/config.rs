//! Every setting of the service in one place: its default, where it may come from
//! (environment over an optional TOML file), and what a valid value looks like.
//! Nothing else in the crate reads the environment. Each SMS provider reads its own
//! section through the same sources (`sms::Plugin`), so adding one changes nothing here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use phonenumber::country;

pub use crate::domain::Secret;
use crate::domain::{AllowedCountries, PhonePolicy};
use crate::net::TrustedProxies;
pub use crate::setting::ConfigError;
use crate::setting::{Source, parse_http_url};
pub use crate::sms::Providers;
pub use crate::sms::failover::BreakerSettings;
pub use crate::sms::messagebird::Settings as MessageBirdSettings;
pub use crate::sms::twilio::Settings as TwilioSettings;

/// The sender shown on the customer's phone: an alphanumeric name of up to 11
/// characters (with at least one letter) or a phone number in international form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Originator(String);

impl Originator {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        let digits = value.strip_prefix('+').unwrap_or(value);
        let is_number =
            !digits.is_empty() && digits.len() <= 15 && digits.chars().all(|c| c.is_ascii_digit());
        let is_name = !value.is_empty()
            && value.len() <= 11
            && value.chars().all(|c| c.is_ascii_alphanumeric())
            && value.chars().any(|c| c.is_ascii_alphabetic());
        if is_number || is_name {
            Ok(Originator(value.to_owned()))
        } else {
            Err(format!(
                "expected up to 11 letters or digits (with at least one letter) or a phone number of up to 15 digits, got {value:?}"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: SocketAddr,
    /// Where a `worker` process answers `/metrics`, `/healthz` and `/readyz` (it serves
    /// nothing else; `serve` has them on `bind`).
    pub metrics_bind: Option<SocketAddr>,
    pub database_url: String,
    pub admin_key: Option<Secret>,
    pub public_url: Option<String>,
    /// Every SMS provider's settings section, and which providers send the texts.
    pub sms: Providers,
    /// When a sending provider counts as down and is skipped, and for how long.
    pub sms_breaker: BreakerSettings,
    pub sms_originator: Originator,
    pub default_region: Option<country::Id>,
    /// The countries whose numbers may be texted (`*`: any); premium-rate, shared-cost
    /// and non-geographic numbers never are.
    pub allowed_countries: AllowedCountries,
    pub auto_notify: bool,
    /// Whether webhook endpoints may point at private, loopback or link-local addresses.
    pub webhooks_allow_private_networks: bool,
    /// The zone whose clocks texts tell times in (`{eta}`).
    pub timezone: chrono_tz::Tz,
    /// Texts one number may get in any rolling hour; 0 turns the limit off.
    pub texts_per_recipient_per_hour: u32,
    /// Texts one integration key may cause per UTC day; 0 turns the limit off.
    pub texts_per_key_per_day: u32,
    /// `GET /events` streams one key may hold open on one process.
    pub streams_per_key: usize,
    /// Proxies whose `X-Forwarded-For` names the client (`ORDER_NOTIFY_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// Open connections one client address may hold; 0 = no cap.
    pub connections_per_address: usize,
    pub retry_max_attempts: u32,
    pub retry_base: Duration,
    pub send_concurrency: usize,
    /// Texts per second one worker hands to the provider at most (evenly spaced), so a
    /// provider's cap is respected; `None` sends as fast as the concurrency allows.
    pub send_rate_limit: Option<u32>,
    pub lease: Duration,
    pub db_pool: PoolSettings,
    pub static_dir: Option<PathBuf>,
    pub demo: bool,
    /// Requests per second each API key (or, without one, each client address) may make
    /// on average; 0 turns rate limiting off.
    pub rate_limit: u32,
    /// How many requests above the average a client may make in a burst.
    pub rate_limit_burst: u32,
    pub log_filter: String,
}

/// The PostgreSQL connection pool (SQLite always uses its one connection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// Connections per process; PostgreSQL's `max_connections` must cover every
    /// instance's pool.
    pub max_connections: u32,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// How long a request waits for a free connection before it fails with 503.
    pub acquire_timeout: Duration,
    /// SQLite only: `true` syncs every commit to disk (a committed change survives a
    /// power cut); `false` (NORMAL) only at checkpoints (it survives a crash of the
    /// process, not of the machine).
    pub sqlite_full_sync: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
            sqlite_full_sync: true,
        }
    }
}

const PREFIX: &str = "ORDER_NOTIFY_";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://order-notify.db?mode=rwc";
/// The shortest secret accepted for `ORDER_NOTIFY_ADMIN_KEY`: long enough that guessing
/// it is hopeless even without rate limits.
const MIN_ADMIN_KEY_CHARS: usize = 24;

/// The keys a settings file may hold besides the SMS providers' own: the variables
/// without the prefix, in lower case.
const FILE_KEYS: &[&str] = &[
    "bind",
    "metrics_bind",
    "database_url",
    "admin_key",
    "public_url",
    "sms_provider",
    "sms_breaker_failures",
    "sms_breaker_cooldown_ms",
    "sms_originator",
    "default_region",
    "allowed_countries",
    "auto_notify",
    "webhooks_allow_private_networks",
    "timezone",
    "texts_per_recipient_per_hour",
    "texts_per_key_per_day",
    "streams_per_key",
    "trusted_proxies",
    "connections_per_address",
    "retry_max_attempts",
    "retry_base_ms",
    "send_concurrency",
    "send_rate_limit",
    "lease_secs",
    "db_pool_size",
    "db_connect_timeout_secs",
    "db_acquire_timeout_secs",
    "sqlite_synchronous",
    "static_dir",
    "demo",
    "rate_limit",
    "rate_limit_burst",
    "rust_log",
];

/// Where each raw value came from, so an error can name what the operator wrote.
struct Sources<'a> {
    env: &'a HashMap<String, String>,
    file: HashMap<String, String>,
    file_name: String,
}

impl Source for Sources<'_> {
    fn get(&self, key: &str) -> Option<(String, String)> {
        let var = self.variable(key);
        if let Some(value) = self.env.get(&var) {
            return Some((var, value.clone()));
        }
        if key == "database_url"
            && let Some(value) = self.env.get("DATABASE_URL")
        {
            return Some(("DATABASE_URL".to_owned(), value.clone()));
        }
        if key == "rust_log"
            && let Some(value) = self.env.get("RUST_LOG")
        {
            return Some(("RUST_LOG".to_owned(), value.clone()));
        }
        self.file
            .get(key)
            .map(|value| (format!("{key} (in {})", self.file_name), value.clone()))
    }

    fn variable(&self, key: &str) -> String {
        format!("{PREFIX}{}", key.to_uppercase())
    }
}

/// `*`, or ISO country codes separated by commas (`NL, BE`).
fn parse_countries(raw: &str) -> Result<AllowedCountries, String> {
    if raw == "*" {
        return Ok(AllowedCountries::Any);
    }
    let mut ids = Vec::new();
    for code in raw.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let id = code
            .to_ascii_uppercase()
            .parse::<country::Id>()
            .map_err(|_| {
                format!("expected * or two-letter ISO country codes such as NL,BE, got {code:?}")
            })?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(format!(
            "expected * or two-letter ISO country codes such as NL,BE, got {raw:?}"
        ));
    }
    Ok(AllowedCountries::Only(ids))
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {raw:?}")),
    }
}

fn parse_range(raw: &str, min: u64, max: u64, unit: &str) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number of {unit} from {min} to {max}, got {raw:?}"
        )),
    }
}

fn parse_database_url(raw: &str) -> Result<String, String> {
    let known = ["sqlite:", "postgres://", "postgresql://"];
    if known.iter().any(|prefix| raw.starts_with(prefix)) {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "expected a sqlite://… or postgres://… URL, got {:?}",
            redact_url(raw)
        ))
    }
}

/// Hides a password in a URL so an error message can show the rest.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// Turns a TOML document into the same flat `key → text` form the environment has.
fn read_file(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("--config", format!("cannot read {shown}: {e}")))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ConfigError::new(
            "--config",
            format!("{shown} is not valid TOML: {}", e.message()),
        )
    })?;
    let mut values = HashMap::new();
    for (key, value) in table {
        if !FILE_KEYS.contains(&key.as_str()) && !Providers::keys().any(|k| k == key) {
            return Err(ConfigError::new(
                format!("{key} (in {shown})"),
                "unknown setting; expected one of the variables without ORDER_NOTIFY_, in lower case",
            ));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(ConfigError::new(
                    format!("{key} (in {shown})"),
                    format!(
                        "expected a string, number or boolean, got {}",
                        other.type_str()
                    ),
                ));
            }
        };
        values.insert(key, text);
    }
    Ok(values)
}

impl Settings {
    /// Builds the settings from the process environment and an optional file.
    pub fn from_env(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Settings::load(&env, file)
    }

    /// Builds the settings from the given variables (over the file, if any) and checks
    /// every value, so a bad one stops the start before anything runs.
    pub fn load(
        env: &HashMap<String, String>,
        file: Option<&Path>,
    ) -> Result<Settings, ConfigError> {
        let sources = Sources {
            env,
            file: match file {
                Some(path) => read_file(path)?,
                None => HashMap::new(),
            },
            file_name: file.map(|p| p.display().to_string()).unwrap_or_default(),
        };
        let sources: &dyn Source = &sources;

        let bind = sources.parsed("bind", SocketAddr::from(([127, 0, 0, 1], 8080)), |raw| {
            raw.parse().map_err(|_| {
                format!("expected an address and port such as 127.0.0.1:8080, got {raw:?}")
            })
        })?;
        let metrics_bind = sources.parsed("metrics_bind", None, |raw| {
            raw.parse().map(Some).map_err(|_| {
                format!("expected an address and port such as 0.0.0.0:9090, got {raw:?}")
            })
        })?;
        let database_url = sources.parsed(
            "database_url",
            DEFAULT_DATABASE_URL.to_owned(),
            parse_database_url,
        )?;
        let admin_key = sources.parsed("admin_key", None, |raw| {
            if raw.chars().count() < MIN_ADMIN_KEY_CHARS {
                Err(format!(
                    "must be at least {MIN_ADMIN_KEY_CHARS} characters long"
                ))
            } else if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err("must not contain spaces or control characters".to_owned())
            } else {
                Ok(Some(Secret::new(raw)))
            }
        })?;
        let public_url = sources.parsed("public_url", None, |raw| parse_http_url(raw).map(Some))?;
        let sms_originator = sources.parsed(
            "sms_originator",
            Originator("NomNom".to_owned()),
            Originator::parse,
        )?;
        let default_region = sources.parsed("default_region", None, |raw| {
            raw.to_ascii_uppercase()
                .parse::<country::Id>()
                .map(Some)
                .map_err(|_| {
                    format!("expected a two-letter ISO country code such as NL, got {raw:?}")
                })
        })?;
        let allowed_default = match default_region {
            Some(region) => AllowedCountries::Only(vec![region]),
            None => AllowedCountries::Any,
        };
        let allowed_countries =
            sources.parsed("allowed_countries", allowed_default, parse_countries)?;
        let auto_notify = sources.parsed("auto_notify", true, parse_bool)?;
        let webhooks_allow_private_networks =
            sources.parsed("webhooks_allow_private_networks", false, parse_bool)?;
        let timezone = sources.parsed("timezone", chrono_tz::UTC, |raw| {
            raw.parse::<chrono_tz::Tz>().map_err(|_| {
                format!(
                    "expected an IANA time zone name such as Europe/Amsterdam or UTC, got {raw:?}"
                )
            })
        })?;
        let texts_per_recipient_per_hour =
            sources.parsed("texts_per_recipient_per_hour", 10, |raw| {
                parse_range(raw, 0, 10_000, "texts")
            })? as u32;
        let texts_per_key_per_day = sources.parsed("texts_per_key_per_day", 5000, |raw| {
            parse_range(raw, 0, 10_000_000, "texts")
        })? as u32;
        let streams_per_key = sources.parsed("streams_per_key", 20, |raw| {
            parse_range(raw, 1, 10_000, "streams")
        })? as usize;
        let trusted_proxies = sources.parsed(
            "trusted_proxies",
            TrustedProxies::default(),
            TrustedProxies::parse,
        )?;
        let connections_per_address = sources.parsed("connections_per_address", 256, |raw| {
            parse_range(raw, 0, 1_000_000, "connections")
        })? as usize;
        let retry_max_attempts = sources.parsed("retry_max_attempts", 8, |raw| {
            parse_range(raw, 1, 100, "attempts")
        })? as u32;
        let retry_base = Duration::from_millis(sources.parsed("retry_base_ms", 2000, |raw| {
            parse_range(raw, 1, 600_000, "milliseconds")
        })?);
        let send_concurrency = sources.parsed("send_concurrency", 32, |raw| {
            parse_range(raw, 1, 10_000, "texts")
        })? as usize;
        let send_rate_limit = sources.parsed("send_rate_limit", 0, |raw| {
            parse_range(raw, 0, 100_000, "texts per second")
        })? as u32;
        let send_rate_limit = (send_rate_limit > 0).then_some(send_rate_limit);
        let lease = Duration::from_secs(sources.parsed("lease_secs", 30, |raw| {
            parse_range(raw, 1, 86_400, "seconds")
        })?);
        let pool_defaults = PoolSettings::default();
        let db_pool = PoolSettings {
            max_connections: sources.parsed(
                "db_pool_size",
                u64::from(pool_defaults.max_connections),
                |raw| parse_range(raw, 1, 1_000, "connections"),
            )? as u32,
            connect_timeout: Duration::from_secs(sources.parsed(
                "db_connect_timeout_secs",
                pool_defaults.connect_timeout.as_secs(),
                |raw| parse_range(raw, 1, 600, "seconds"),
            )?),
            acquire_timeout: Duration::from_secs(sources.parsed(
                "db_acquire_timeout_secs",
                pool_defaults.acquire_timeout.as_secs(),
                |raw| parse_range(raw, 1, 600, "seconds"),
            )?),
            sqlite_full_sync: sources.parsed("sqlite_synchronous", true, |raw| {
                match raw.to_ascii_lowercase().as_str() {
                    "full" => Ok(true),
                    "normal" => Ok(false),
                    _ => Err(format!("expected full or normal, got {raw:?}")),
                }
            })?,
        };

        let sms = Providers::load(sources)?;
        let breaker = BreakerSettings::default();
        let sms_breaker = BreakerSettings {
            failures: sources.parsed("sms_breaker_failures", breaker.failures, |raw| {
                parse_range(raw, 1, 1_000, "failures in a row").map(|n| n as u32)
            })?,
            cooldown: Duration::from_millis(sources.parsed(
                "sms_breaker_cooldown_ms",
                breaker.cooldown.as_millis() as u64,
                |raw| parse_range(raw, 1, 3_600_000, "milliseconds"),
            )?),
        };
        if let (None, Some(secret)) = (&public_url, sms.callback_secrets().next()) {
            return Err(ConfigError::new(
                sources.variable("public_url"),
                format!(
                    "is required when {} is set: a provider signs the URL it calls, and that URL is built from this one alone",
                    sources.variable(secret)
                ),
            ));
        }

        let static_dir = match sources.optional("static_dir") {
            Some((name, raw)) => {
                let path = PathBuf::from(raw.trim());
                if !path.join("index.html").is_file() {
                    return Err(ConfigError::new(
                        name,
                        format!(
                            "expected a folder holding index.html, got {:?}",
                            path.display()
                        ),
                    ));
                }
                Some(path)
            }
            None => Some(PathBuf::from("frontend/dist")).filter(|p| p.join("index.html").is_file()),
        };
        let demo = sources.parsed("demo", false, parse_bool)?;
        let rate_limit = sources.parsed("rate_limit", 100, |raw| {
            parse_range(raw, 0, 1_000_000, "requests per second")
        })? as u32;
        let rate_limit_burst = sources.parsed("rate_limit_burst", 200, |raw| {
            parse_range(raw, 1, 1_000_000, "requests")
        })? as u32;
        let log_filter = sources.parsed("rust_log", "info".to_owned(), |raw| Ok(raw.to_owned()))?;

        Ok(Settings {
            bind,
            metrics_bind,
            database_url,
            admin_key,
            public_url,
            sms,
            sms_breaker,
            sms_originator,
            default_region,
            allowed_countries,
            auto_notify,
            webhooks_allow_private_networks,
            timezone,
            texts_per_recipient_per_hour,
            texts_per_key_per_day,
            streams_per_key,
            trusted_proxies,
            connections_per_address,
            retry_max_attempts,
            retry_base,
            send_concurrency,
            send_rate_limit,
            lease,
            db_pool,
            static_dir,
            demo,
            rate_limit,
            rate_limit_burst,
            log_filter,
        })
    }

    /// How customers' numbers are read, and which of them may be texted.
    pub fn phone_policy(&self) -> PhonePolicy {
        PhonePolicy {
            default_region: self.default_region,
            allowed: self.allowed_countries.clone(),
        }
    }

    /// The address people and providers should use to reach this server.
    pub fn base_url(&self) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = match self.bind.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("http://{host}:{}", self.bind.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn messagebird(s: &Settings) -> &MessageBirdSettings {
        s.sms.section().expect("MessageBird is registered")
    }

    fn twilio(s: &Settings) -> &TwilioSettings {
        s.sms.section().expect("Twilio is registered")
    }

    fn error_for(pairs: &[(&str, &str)]) -> ConfigError {
        Settings::load(&env(pairs), None).unwrap_err()
    }

    #[test]
    fn no_configuration_gives_the_contract_defaults() {
        let s = Settings::load(&env(&[]), None).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://order-notify.db?mode=rwc");
        assert!(s.admin_key.is_none() && s.public_url.is_none() && s.default_region.is_none());
        assert_eq!(s.allowed_countries, AllowedCountries::Any);
        assert_eq!(s.sms.chosen(), "sandbox");
        assert_eq!(s.sms_originator.as_str(), "NomNom");
        assert!(s.auto_notify);
        assert_eq!(s.timezone, chrono_tz::UTC);
        assert_eq!(s.texts_per_recipient_per_hour, 10);
        assert_eq!(s.texts_per_key_per_day, 5000);
        assert_eq!(s.streams_per_key, 20);
        assert_eq!(s.trusted_proxies, TrustedProxies::default(), "nobody");
        assert_eq!(s.connections_per_address, 256);
        assert_eq!(s.retry_max_attempts, 8);
        assert_eq!(s.retry_base, Duration::from_millis(2000));
        assert_eq!(s.send_concurrency, 32);
        assert_eq!(s.send_rate_limit, None, "0 means no limit");
        assert_eq!(s.lease, Duration::from_secs(30));
        assert_eq!(s.db_pool, PoolSettings::default());
        assert_eq!(s.db_pool.max_connections, 16);
        assert_eq!(messagebird(&s).base_url, "https://rest.messagebird.com");
        assert_eq!(twilio(&s).base_url, "https://api.twilio.com");
        assert_eq!(s.log_filter, "info");
        assert_eq!((s.rate_limit, s.rate_limit_burst), (100, 200));
        assert!(!s.demo);
        assert_eq!(s.base_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn every_variable_is_read() {
        let s = Settings::load(
            &env(&[
                ("ORDER_NOTIFY_BIND", "0.0.0.0:9000"),
                ("ORDER_NOTIFY_METRICS_BIND", "0.0.0.0:9090"),
                ("ORDER_NOTIFY_DATABASE_URL", "postgres://u:pw@db/orders"),
                ("ORDER_NOTIFY_ADMIN_KEY", "an-admin-secret-of-enough-length"),
                ("ORDER_NOTIFY_PUBLIC_URL", "https://orders.example.com/"),
                ("ORDER_NOTIFY_SMS_PROVIDER", "twilio"),
                ("ORDER_NOTIFY_SMS_ORIGINATOR", "+31612345678"),
                ("ORDER_NOTIFY_DEFAULT_REGION", "nl"),
                ("ORDER_NOTIFY_ALLOWED_COUNTRIES", "nl, be,NL"),
                ("ORDER_NOTIFY_AUTO_NOTIFY", "false"),
                ("ORDER_NOTIFY_TIMEZONE", "Europe/Amsterdam"),
                ("ORDER_NOTIFY_TEXTS_PER_RECIPIENT_PER_HOUR", "0"),
                ("ORDER_NOTIFY_TEXTS_PER_KEY_PER_DAY", "200"),
                ("ORDER_NOTIFY_STREAMS_PER_KEY", "3"),
                ("ORDER_NOTIFY_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7"),
                ("ORDER_NOTIFY_CONNECTIONS_PER_ADDRESS", "0"),
                ("ORDER_NOTIFY_RETRY_MAX_ATTEMPTS", "3"),
                ("ORDER_NOTIFY_RETRY_BASE_MS", "250"),
                ("ORDER_NOTIFY_SEND_CONCURRENCY", "4"),
                ("ORDER_NOTIFY_SEND_RATE_LIMIT", "50"),
                ("ORDER_NOTIFY_LEASE_SECS", "60"),
                ("ORDER_NOTIFY_DB_POOL_SIZE", "40"),
                ("ORDER_NOTIFY_DB_CONNECT_TIMEOUT_SECS", "3"),
                ("ORDER_NOTIFY_DB_ACQUIRE_TIMEOUT_SECS", "2"),
                ("ORDER_NOTIFY_SQLITE_SYNCHRONOUS", "NORMAL"),
                ("ORDER_NOTIFY_MESSAGEBIRD_BASE_URL", "http://127.0.0.1:9999"),
                ("ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY", "sign"),
                (
                    "ORDER_NOTIFY_TWILIO_ACCOUNT_SID",
                    "AC0123456789abcdef0123456789abcdef",
                ),
                ("ORDER_NOTIFY_TWILIO_AUTH_TOKEN", "token"),
                ("ORDER_NOTIFY_TWILIO_BASE_URL", "http://127.0.0.1:9998"),
                ("ORDER_NOTIFY_DEMO", "1"),
                ("ORDER_NOTIFY_RATE_LIMIT", "0"),
                ("ORDER_NOTIFY_RATE_LIMIT_BURST", "5"),
                ("RUST_LOG", "debug"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(s.bind.port(), 9000);
        assert_eq!(s.metrics_bind.map(|a| a.port()), Some(9090));
        assert_eq!(s.database_url, "postgres://u:pw@db/orders");
        assert_eq!(
            s.admin_key.as_ref().unwrap().expose(),
            "an-admin-secret-of-enough-length"
        );
        assert_eq!(s.base_url(), "https://orders.example.com");
        assert_eq!(s.sms.chosen(), "twilio");
        assert_eq!(s.sms_originator.as_str(), "+31612345678");
        assert_eq!(s.default_region, Some(country::Id::NL));
        assert_eq!(
            s.allowed_countries,
            AllowedCountries::Only(vec![country::Id::NL, country::Id::BE])
        );
        assert!(!s.auto_notify);
        assert_eq!(s.timezone, chrono_tz::Europe::Amsterdam);
        assert_eq!(s.texts_per_recipient_per_hour, 0, "off");
        assert_eq!(s.texts_per_key_per_day, 200);
        assert_eq!(s.streams_per_key, 3);
        assert!(s.trusted_proxies.contains("192.168.1.7".parse().unwrap()));
        assert!(!s.trusted_proxies.contains("192.168.1.8".parse().unwrap()));
        assert_eq!(s.connections_per_address, 0, "no cap");
        assert_eq!((s.retry_max_attempts, s.send_concurrency), (3, 4));
        assert_eq!(s.send_rate_limit, Some(50));
        assert_eq!(s.retry_base, Duration::from_millis(250));
        assert_eq!(s.lease, Duration::from_secs(60));
        assert_eq!(
            s.db_pool,
            PoolSettings {
                max_connections: 40,
                connect_timeout: Duration::from_secs(3),
                acquire_timeout: Duration::from_secs(2),
                sqlite_full_sync: false,
            }
        );
        assert_eq!(messagebird(&s).base_url, "http://127.0.0.1:9999");
        let signing_key = messagebird(&s).signing_key.as_ref().unwrap();
        assert_eq!(signing_key.expose(), "sign");
        assert_eq!(twilio(&s).base_url, "http://127.0.0.1:9998");
        assert_eq!(
            twilio(&s).account_sid.as_deref(),
            Some("AC0123456789abcdef0123456789abcdef")
        );
        assert_eq!(twilio(&s).auth_token.as_ref().unwrap().expose(), "token");
        assert!(s.demo);
        assert_eq!(s.log_filter, "debug");
        assert_eq!((s.rate_limit, s.rate_limit_burst), (0, 5));
    }

    #[test]
    fn texts_go_to_the_default_region_unless_countries_are_given() {
        let only_nl = Settings::load(&env(&[("ORDER_NOTIFY_DEFAULT_REGION", "NL")]), None).unwrap();
        assert_eq!(
            only_nl.allowed_countries,
            AllowedCountries::Only(vec![country::Id::NL])
        );
        let any = Settings::load(
            &env(&[
                ("ORDER_NOTIFY_DEFAULT_REGION", "NL"),
                ("ORDER_NOTIFY_ALLOWED_COUNTRIES", "*"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(any.phone_policy().allowed, AllowedCountries::Any);
        assert_eq!(any.phone_policy().default_region, Some(country::Id::NL));
    }

    #[test]
    fn database_url_falls_back_to_the_generic_variable() {
        let s = Settings::load(&env(&[("DATABASE_URL", "postgres://db/x")]), None).unwrap();
        assert_eq!(s.database_url, "postgres://db/x");
        let s = Settings::load(
            &env(&[
                ("DATABASE_URL", "postgres://db/x"),
                ("ORDER_NOTIFY_DATABASE_URL", "sqlite://a.db"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(s.database_url, "sqlite://a.db");
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let cases = [
            ("ORDER_NOTIFY_BIND", "localhost"),
            ("ORDER_NOTIFY_DATABASE_URL", "mysql://x"),
            ("ORDER_NOTIFY_ADMIN_KEY", "short"),
            ("ORDER_NOTIFY_METRICS_BIND", "9090"),
            ("ORDER_NOTIFY_PUBLIC_URL", "ftp://x"),
            ("ORDER_NOTIFY_SMS_PROVIDER", "pigeon"),
            ("ORDER_NOTIFY_SMS_ORIGINATOR", "Birdie NomNom Foods"),
            ("ORDER_NOTIFY_DEFAULT_REGION", "Netherlands"),
            ("ORDER_NOTIFY_ALLOWED_COUNTRIES", "NL,Mars"),
            ("ORDER_NOTIFY_ALLOWED_COUNTRIES", ","),
            ("ORDER_NOTIFY_AUTO_NOTIFY", "sometimes"),
            ("ORDER_NOTIFY_TIMEZONE", "CET+1"),
            ("ORDER_NOTIFY_TIMEZONE", "Europe/Atlantis"),
            ("ORDER_NOTIFY_TEXTS_PER_RECIPIENT_PER_HOUR", "many"),
            ("ORDER_NOTIFY_TEXTS_PER_KEY_PER_DAY", "-1"),
            ("ORDER_NOTIFY_STREAMS_PER_KEY", "0"),
            ("ORDER_NOTIFY_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local"),
            ("ORDER_NOTIFY_CONNECTIONS_PER_ADDRESS", "some"),
            ("ORDER_NOTIFY_RETRY_MAX_ATTEMPTS", "0"),
            ("ORDER_NOTIFY_RETRY_BASE_MS", "-5"),
            ("ORDER_NOTIFY_SEND_CONCURRENCY", "lots"),
            ("ORDER_NOTIFY_LEASE_SECS", "0"),
            ("ORDER_NOTIFY_DB_POOL_SIZE", "0"),
            ("ORDER_NOTIFY_DB_CONNECT_TIMEOUT_SECS", "soon"),
            ("ORDER_NOTIFY_DB_ACQUIRE_TIMEOUT_SECS", "601"),
            ("ORDER_NOTIFY_SQLITE_SYNCHRONOUS", "off"),
            ("ORDER_NOTIFY_MESSAGEBIRD_BASE_URL", "not a url"),
            ("ORDER_NOTIFY_TWILIO_ACCOUNT_SID", "123"),
            ("ORDER_NOTIFY_TWILIO_BASE_URL", "mailto:x@y"),
            ("ORDER_NOTIFY_STATIC_DIR", "/nonexistent/dist"),
            ("ORDER_NOTIFY_DEMO", "maybe"),
            ("ORDER_NOTIFY_RATE_LIMIT", "-1"),
            ("ORDER_NOTIFY_RATE_LIMIT_BURST", "0"),
        ];
        for (var, value) in cases {
            let error = error_for(&[(var, value)]);
            assert_eq!(error.name, var, "{var}={value}: {error}");
            assert!(!error.to_string().contains('\n'), "one line: {error}");
        }
    }

    #[test]
    fn provider_credentials_are_required_for_their_provider() {
        assert_eq!(
            error_for(&[("ORDER_NOTIFY_SMS_PROVIDER", "messagebird")]).name,
            "ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY"
        );
        assert_eq!(
            error_for(&[("ORDER_NOTIFY_SMS_PROVIDER", "twilio")]).name,
            "ORDER_NOTIFY_TWILIO_ACCOUNT_SID"
        );
        assert_eq!(
            error_for(&[
                ("ORDER_NOTIFY_SMS_PROVIDER", "twilio"),
                (
                    "ORDER_NOTIFY_TWILIO_ACCOUNT_SID",
                    "AC0123456789abcdef0123456789abcdef"
                )
            ])
            .name,
            "ORDER_NOTIFY_TWILIO_AUTH_TOKEN"
        );
        let ok = Settings::load(
            &env(&[
                ("ORDER_NOTIFY_SMS_PROVIDER", "messagebird"),
                ("ORDER_NOTIFY_MESSAGEBIRD_ACCESS_KEY", "k"),
            ]),
            None,
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn a_callback_secret_needs_the_public_url() {
        let twilio = [
            ("ORDER_NOTIFY_SMS_PROVIDER", "twilio"),
            (
                "ORDER_NOTIFY_TWILIO_ACCOUNT_SID",
                "AC0123456789abcdef0123456789abcdef",
            ),
            ("ORDER_NOTIFY_TWILIO_AUTH_TOKEN", "token"),
        ];
        let error = error_for(&twilio);
        assert_eq!(error.name, "ORDER_NOTIFY_PUBLIC_URL");
        assert!(
            error.message.contains("ORDER_NOTIFY_TWILIO_AUTH_TOKEN"),
            "{}",
            error.message
        );
        // A MessageBird signing key needs it too, whichever provider sends.
        let error = error_for(&[("ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY", "k")]);
        assert_eq!(error.name, "ORDER_NOTIFY_PUBLIC_URL");
        assert!(
            error
                .message
                .contains("ORDER_NOTIFY_MESSAGEBIRD_SIGNING_KEY")
        );
        let with_url = [
            &twilio[..],
            &[("ORDER_NOTIFY_PUBLIC_URL", "https://orders.example.com")],
        ]
        .concat();
        assert!(Settings::load(&env(&with_url), None).is_ok());
    }

    #[test]
    fn originators_are_names_or_numbers() {
        for good in [
            "NomNom",
            "Birdie2",
            "ABCDEFGHIJK",
            "+31612345678",
            "3197010",
        ] {
            assert!(Originator::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ABCDEFGHIJKL",
            "Nom Nom",
            "Nöm",
            "+1234567890123456",
            "12-34",
        ] {
            assert!(Originator::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_file_sets_keys_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("order-notify.toml");
        std::fs::write(&path, "bind = \"127.0.0.1:9100\"\nsend_concurrency = 7\nauto_notify = false\nsms_originator = \"Kitchen\"\ntwilio_base_url = \"http://127.0.0.1:9997\"\n").unwrap();
        let s = Settings::load(
            &env(&[("ORDER_NOTIFY_SMS_ORIGINATOR", "Birdie")]),
            Some(&path),
        )
        .unwrap();
        assert_eq!(s.bind.port(), 9100);
        assert_eq!(s.send_concurrency, 7);
        assert!(!s.auto_notify);
        assert_eq!(s.sms_originator.as_str(), "Birdie");
        assert_eq!(
            twilio(&s).base_url,
            "http://127.0.0.1:9997",
            "a provider's key"
        );

        std::fs::write(&path, "send_concurrency = 0\n").unwrap();
        let error = Settings::load(&env(&[]), Some(&path)).unwrap_err();
        assert!(error.name.starts_with("send_concurrency (in "), "{error}");

        std::fs::write(&path, "sned_concurrency = 3\n").unwrap();
        let error = Settings::load(&env(&[]), Some(&path)).unwrap_err();
        assert!(error.to_string().contains("unknown setting"), "{error}");

        std::fs::write(&path, "bind = [").unwrap();
        assert_eq!(
            Settings::load(&env(&[]), Some(&path)).unwrap_err().name,
            "--config"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let s = Settings::load(
            &env(&[("ORDER_NOTIFY_ADMIN_KEY", "an-admin-secret-of-enough-length")]),
            None,
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("an-admin-secret"));
        assert_eq!(
            redact_url("postgres://u:hunter2@db/x"),
            "postgres://u:***@db/x"
        );
    }
}
