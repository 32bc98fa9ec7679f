//! The query parameters the list routes share: comma-separated filters, a bounded
//! `limit` and a keyset `cursor` (so pages stay stable while rows are added).
//! Every bad parameter is collected, so one 422 names them all.

use std::fmt::Display;
use std::str::FromStr;

use serde::Deserialize;
use utoipa::IntoParams;

use super::problem::ApiError;
use crate::domain::ValidationError;
use crate::service::Page;

/// A cursor is the position (row sequence number) the previous page ended at, in
/// decimal: a page starts after it, so any such number is a valid place to start, and
/// the OpenAPI document can say exactly what a cursor looks like (`^[0-9]{1,18}$`).
pub fn encode_cursor(seq: i64) -> String {
    seq.to_string()
}

pub fn decode_cursor(cursor: &str) -> Option<i64> {
    if cursor.is_empty() || cursor.len() > 18 || !cursor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    cursor.parse().ok()
}

/// The cursor of the page that starts after `next` (the last row's position, when
/// more rows follow).
pub fn next_cursor(next: Option<i64>) -> Option<String> {
    next.map(encode_cursor)
}

/// A page's size when the request names none, and the largest it may name.
const DEFAULT_PAGE: u64 = 50;
const MAX_PAGE: u64 = 200;

/// The parameters of a list that is only paged: `limit` and `cursor`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

impl PageParams {
    /// The page asked for; 422 naming every bad parameter.
    pub fn page(self) -> Result<Page, ApiError> {
        let mut query = QueryParser::default();
        let page = query.page(self.limit.as_deref(), self.cursor.as_deref());
        query.finish()?;
        Ok(page)
    }
}

/// Reads a list route's parameters, remembering every one that is wrong.
#[derive(Default)]
pub struct QueryParser {
    errors: Vec<ValidationError>,
}

impl QueryParser {
    /// A comma-separated list (`pending,confirmed`); spaces around names and empty
    /// entries are ignored (exactly what the OpenAPI pattern of these parameters allows).
    pub fn list<T>(&mut self, field: &str, raw: Option<&str>) -> Vec<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        let mut values = Vec::new();
        for name in raw
            .iter()
            .flat_map(|s| s.split(','))
            .map(|s| s.trim_matches(' '))
            .filter(|s| !s.is_empty())
        {
            match name.parse::<T>() {
                Ok(value) => values.push(value),
                Err(e) => self.errors.push(ValidationError::new(field, e.to_string())),
            }
        }
        values
    }

    /// `limit`: 1 to `max`, `default` when absent (or wrong).
    pub fn limit(&mut self, raw: Option<&str>, default: u64, max: u64) -> u64 {
        match raw.map(str::parse::<u64>) {
            None => default,
            Some(Ok(n)) if (1..=max).contains(&n) => n,
            Some(_) => {
                self.errors.push(ValidationError::new(
                    "limit",
                    format!("must be a whole number from 1 to {max}"),
                ));
                default
            }
        }
    }

    /// `limit` (1 to 200, default 50) and `cursor`, as every paged list takes them.
    pub fn page(&mut self, limit: Option<&str>, cursor: Option<&str>) -> Page {
        Page {
            limit: self.limit(limit, DEFAULT_PAGE, MAX_PAGE),
            from: self.cursor(cursor),
        }
    }

    /// `cursor`: a `next_cursor` this server gave out.
    pub fn cursor(&mut self, raw: Option<&str>) -> Option<i64> {
        let raw = raw?;
        let seq = decode_cursor(raw);
        if seq.is_none() {
            self.errors.push(ValidationError::new(
                "cursor",
                "must be the next_cursor of an earlier page (digits only)",
            ));
        }
        seq
    }

    pub fn push(&mut self, error: ValidationError) {
        self.errors.push(error);
    }

    /// 422 naming every bad parameter, if there was one.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderStatus;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("0"), Some(0));
        assert_eq!(
            decode_cursor("999999999999999999"),
            Some(999_999_999_999_999_999)
        );
        for forged in [
            "",
            "-1",
            "+1",
            " 1",
            "1e3",
            "0x10",
            "1234567890123456789",
            "!!!",
        ] {
            assert_eq!(decode_cursor(forged), None, "{forged:?}");
        }
        assert_eq!(
            next_cursor(Some(7)).as_deref().and_then(decode_cursor),
            Some(7)
        );
        assert_eq!(next_cursor(None), None);
    }

    #[test]
    fn limits_are_bounded() {
        let mut query = QueryParser::default();
        assert_eq!(query.limit(None, 50, 200), 50);
        assert_eq!(query.limit(Some("200"), 50, 200), 200);
        assert!(query.finish().is_ok());
        for bad in ["0", "201", "ten"] {
            let mut query = QueryParser::default();
            query.limit(Some(bad), 50, 200);
            assert!(query.finish().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let mut query = QueryParser::default();
        let statuses: Vec<OrderStatus> =
            query.list("status", Some("pending, ,shipped,confirmed,lost"));
        assert_eq!(statuses, [OrderStatus::Pending, OrderStatus::Confirmed]);
        query.cursor(Some("bogus"));
        match query.finish() {
            Err(ApiError::Validation(errors)) => {
                let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["status", "status", "cursor"]);
            }
            other => panic!("expected 422, got {other:?}"),
        }
    }
}
