//! A customer's mobile number, always held in E.164 form (`+31612345678`).

use std::fmt;

use phonenumber::country;

/// A phone number that `phonenumber` accepted as valid, stored in E.164 form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumber(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number needs a country code (for example +31 6 1234 5678)")]
    NeedsCountryCode,
    #[error("{0:?} is not a phone number")]
    Unparseable(String),
    #[error("{0:?} is not a valid phone number for its country")]
    Invalid(String),
}

impl PhoneNumber {
    /// Parses what a person typed. Numbers without a leading `+` are read as numbers of
    /// `default_region` (ORDER_NOTIFY_DEFAULT_REGION); without a region they are refused,
    /// because guessing a country would text a stranger.
    pub fn parse(raw: &str, default_region: Option<country::Id>) -> Result<Self, PhoneError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // Digits and the punctuation people write between them; no letters (the parser
        // would read "1-800-FLOWERS" as digits, and a text cannot reach an extension).
        if trimmed.len() > 40
            || !trimmed
                .chars()
                .all(|c| c.is_ascii_digit() || " +()-./".contains(c))
        {
            return Err(PhoneError::Unparseable(shorten(trimmed)));
        }
        // `00` is the international prefix almost everywhere; the parser only knows it
        // when it is told a region.
        let spelled = match trimmed.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => trimmed.to_owned(),
        };
        if !spelled.starts_with('+') && default_region.is_none() {
            return Err(PhoneError::NeedsCountryCode);
        }
        let number = phonenumber::parse(default_region, &spelled)
            .map_err(|_| PhoneError::Unparseable(trimmed.to_owned()))?;
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        // E.164 allows 15 digits at most; some national plans in the parser allow more.
        if !phonenumber::is_valid(&number) || e164.len() > 16 {
            return Err(PhoneError::Invalid(trimmed.to_owned()));
        }
        Ok(PhoneNumber(e164))
    }

    /// Rebuilds a number that was validated before it was stored.
    pub fn from_trusted(e164: String) -> Self {
        PhoneNumber(e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn shorten(raw: &str) -> String {
    raw.chars().take(20).collect()
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nl() -> Option<country::Id> {
        Some("NL".parse().unwrap())
    }

    #[test]
    fn international_numbers_become_e164_in_any_spelling() {
        for raw in [
            "+31612345678",
            "+31 6 12345678",
            " +31 (0)6-1234 5678 ",
            "0031612345678",
        ] {
            let phone = PhoneNumber::parse(raw, nl()).unwrap();
            assert_eq!(phone.as_str(), "+31612345678", "{raw}");
        }
        let us = PhoneNumber::parse("+1 (415) 555-2671", None).unwrap();
        assert_eq!(us.as_str(), "+14155552671");
        let dialled = PhoneNumber::parse("0031 6 12 34 56 78", None).unwrap();
        assert_eq!(
            dialled.as_str(),
            "+31612345678",
            "00 works without a region"
        );
    }

    #[test]
    fn national_numbers_use_the_default_region() {
        assert_eq!(
            PhoneNumber::parse("06 1234 5678", nl()).unwrap().as_str(),
            "+31612345678"
        );
        let gb = Some("GB".parse().unwrap());
        assert_eq!(
            PhoneNumber::parse("07400 123456", gb).unwrap().as_str(),
            "+447400123456"
        );
    }

    #[test]
    fn national_numbers_without_a_region_are_refused() {
        assert_eq!(
            PhoneNumber::parse("0612345678", None),
            Err(PhoneError::NeedsCountryCode)
        );
    }

    #[test]
    fn garbage_and_impossible_numbers_are_refused() {
        assert_eq!(PhoneNumber::parse("   ", nl()), Err(PhoneError::Empty));
        assert!(matches!(
            PhoneNumber::parse("call me", nl()),
            Err(PhoneError::Unparseable(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("+31 12", None),
            Err(PhoneError::Invalid(_) | PhoneError::Unparseable(_))
        ));
        assert!(PhoneNumber::parse("+999 123456789", None).is_err());
        assert!(matches!(
            PhoneNumber::parse(&"1".repeat(60), nl()),
            Err(PhoneError::Unparseable(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("+3161234\u{0}5678", nl()),
            Err(PhoneError::Unparseable(_))
        ));
        // Letters are not digits, even where keypads say they are; found by the fuzz
        // target, as was a German number of 16 digits, more than E.164 allows.
        for raw in ["+1 800 FLOWERS", "+31 6 1234 5678 ext 2", "!73909BB19Q000l"] {
            assert!(
                matches!(
                    PhoneNumber::parse(raw, Some("DE".parse().unwrap())),
                    Err(PhoneError::Unparseable(_))
                ),
                "{raw}"
            );
        }
        assert!(matches!(
            PhoneNumber::parse("73909221970005", Some("DE".parse().unwrap())),
            Err(PhoneError::Invalid(_))
        ));
    }
}
