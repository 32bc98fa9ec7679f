//! Keyset pagination cursors: an opaque token for "after this row", so pages stay stable
//! while rows are added.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::problem::ApiError;

const CURSOR_TAG: &str = "seq:";

pub fn encode_cursor(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_TAG}{seq}"))
}

pub fn decode_cursor(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(CURSOR_TAG)?.parse().ok()
}

/// Reads the `limit` query parameter: 1 to `max`, `default` when absent.
pub fn parse_limit(raw: Option<&str>, default: u64, max: u64) -> Result<u64, ApiError> {
    match raw {
        None => Ok(default),
        Some(raw) => match raw.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::field(
                "limit",
                format!("must be a whole number from 1 to {max}"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("42"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("seq:x")), None);
        assert_eq!(decode_cursor("!!!"), None);
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(parse_limit(None, 50, 200).unwrap(), 50);
        assert_eq!(parse_limit(Some("200"), 50, 200).unwrap(), 200);
        assert!(parse_limit(Some("0"), 50, 200).is_err());
        assert!(parse_limit(Some("201"), 50, 200).is_err());
        assert!(parse_limit(Some("ten"), 50, 200).is_err());
    }
}
