//! Reading one setting: where its raw value comes from (a [`Source`], which `config`
//! builds from the environment and the settings file), how common kinds of value are
//! checked, and the one-line error that names what the operator wrote. `config` reads
//! the service's own settings through it, and each SMS provider its own section
//! (`sms::Plugin`), so a new provider's settings need no change in `config`.

use crate::domain::Secret;

/// Why the settings could not be built; `Display` is the one line the operator sees.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name}: {message}")]
pub struct ConfigError {
    /// The variable (or file key) that was wrong.
    pub name: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            name: name.into(),
            message: message.into(),
        }
    }
}

/// Where settings come from. A setting is named by its key: the variable without
/// `ORDER_NOTIFY_`, in lower case, as a settings file writes it (`twilio_auth_token`).
pub trait Source {
    /// The raw value of `key`, if set, and the name to blame when it is wrong (the
    /// variable, or the key and the file it is in).
    fn get(&self, key: &str) -> Option<(String, String)>;

    /// The variable an operator sets for `key` (`ORDER_NOTIFY_TWILIO_AUTH_TOKEN`).
    fn variable(&self, key: &str) -> String;
}

impl dyn Source + '_ {
    /// A non-empty value, or `None` when unset or set to the empty string.
    pub fn optional(&self, key: &str) -> Option<(String, String)> {
        self.get(key).filter(|(_, value)| !value.trim().is_empty())
    }

    /// The value of `key` read by `parse`, or `default` when it is not set.
    pub fn parsed<T>(
        &self,
        key: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.optional(key) {
            None => Ok(default),
            Some((name, value)) => {
                parse(value.trim()).map_err(|message| ConfigError::new(name, message))
            }
        }
    }

    /// A secret (a key, a token), or `None` when it is not set.
    pub fn secret(&self, key: &str) -> Result<Option<Secret>, ConfigError> {
        self.parsed(key, None, |raw| Ok(Some(Secret::new(raw))))
    }

    /// An http(s) URL without its trailing `/`, or `default`.
    pub fn http_url(&self, key: &str, default: &str) -> Result<String, ConfigError> {
        self.parsed(key, default.to_owned(), parse_http_url)
    }

    /// The error for a setting that must be set when `provider` sends the texts.
    pub fn required_for(&self, key: &str, provider: &str) -> ConfigError {
        ConfigError::new(
            self.variable(key),
            format!("required when ORDER_NOTIFY_SMS_PROVIDER is {provider}"),
        )
    }
}

/// An http(s) URL with a host, given back without its trailing `/`.
pub fn parse_http_url(raw: &str) -> Result<String, String> {
    let url =
        url::Url::parse(raw).map_err(|e| format!("expected an http(s) URL, got {raw:?} ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("expected an http(s) URL, got {raw:?}"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// "a", "a or b", "a, b or c": the choices an error message offers.
pub fn one_of(choices: &[&str]) -> String {
    match choices {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_read_as_a_list() {
        assert_eq!(one_of(&["a"]), "a");
        assert_eq!(one_of(&["a", "b"]), "a or b");
        assert_eq!(one_of(&["a", "b", "c"]), "a, b or c");
    }

    #[test]
    fn urls_need_http_and_a_host() {
        assert_eq!(
            parse_http_url("https://x.example/").unwrap(),
            "https://x.example"
        );
        for bad in ["ftp://x", "not a url", "mailto:x@y", "http://"] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
    }
}
