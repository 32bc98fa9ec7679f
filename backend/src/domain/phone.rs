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
    /// Premium-rate, shared-cost and non-geographic numbers: a text to one can cost the
    /// sender far more than a text, or reach no person at all.
    #[error(
        "{0} is a {1} number; texts are not sent to premium-rate, shared-cost or non-geographic numbers"
    )]
    CostlyRange(String, &'static str),
    #[error("texts to {0} numbers are not enabled (ORDER_NOTIFY_ALLOWED_COUNTRIES)")]
    CountryNotEnabled(String),
}

/// The countries whose numbers texts may go to (`ORDER_NOTIFY_ALLOWED_COUNTRIES`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedCountries {
    Any,
    Only(Vec<country::Id>),
}

impl AllowedCountries {
    fn admits(&self, id: country::Id) -> bool {
        match self {
            AllowedCountries::Any => true,
            AllowedCountries::Only(ids) => ids.contains(&id),
        }
    }
}

/// How the numbers people type are read and which of them texts may go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhonePolicy {
    /// The country of numbers written without `+` (`ORDER_NOTIFY_DEFAULT_REGION`).
    pub default_region: Option<country::Id>,
    pub allowed: AllowedCountries,
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
        // And the number must stand on its own as it is stored and texted: a national
        // spelling can pass on the region's rules while its E.164 form is invalid (the
        // fuzz target found Brazil's "9090000)90000" → +559000090000), and would then be
        // refused when read back.
        let stands_alone = || {
            phonenumber::parse(None, &e164).is_ok_and(|again| {
                phonenumber::is_valid(&again)
                    && again.format().mode(phonenumber::Mode::E164).to_string() == e164
            })
        };
        if !phonenumber::is_valid(&number) || e164.len() > 16 || !stands_alone() {
            return Err(PhoneError::Invalid(trimmed.to_owned()));
        }
        Ok(PhoneNumber(e164))
    }

    /// Parses a customer's number as [`PhoneNumber::parse`] does, then refuses one that
    /// texts must not go to: premium-rate, shared-cost and non-geographic numbers
    /// whatever the policy, and numbers of countries it does not allow.
    pub fn accept(raw: &str, policy: &PhonePolicy) -> Result<Self, PhoneError> {
        let phone = PhoneNumber::parse(raw, policy.default_region)?;
        let number = phonenumber::parse(None, &phone.0)
            .map_err(|_| PhoneError::Unparseable(shorten(raw.trim())))?;
        let costly = match number.number_type(&phonenumber::metadata::DATABASE) {
            phonenumber::Type::PremiumRate => Some("premium-rate"),
            phonenumber::Type::SharedCost => Some("shared-cost"),
            _ => None,
        };
        if let Some(kind) = costly {
            return Err(PhoneError::CostlyRange(phone.0, kind));
        }
        // International networks (+800, +808, +870, +881, +882, +883, +888, +979) belong
        // to no country.
        let Some(country) = number.country().id() else {
            return Err(PhoneError::CostlyRange(phone.0, "non-geographic"));
        };
        if !policy.allowed.admits(country) {
            return Err(PhoneError::CountryNotEnabled(country.as_ref().to_owned()));
        }
        Ok(phone)
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

    fn policy(allowed: AllowedCountries) -> PhonePolicy {
        PhonePolicy {
            default_region: None,
            allowed,
        }
    }

    #[test]
    fn costly_and_non_geographic_numbers_are_refused_whatever_the_policy() {
        let any = policy(AllowedCountries::Any);
        for (raw, kind) in [
            ("+44 909 879 0000", "premium-rate"),
            ("+1 900 555 0123", "premium-rate"),
            ("+31 906 1234567", "premium-rate"),
            ("+44 845 464 0000", "premium-rate"),
            ("+33 810 12 34 56", "shared-cost"),
            ("+49 180 1234567", "shared-cost"),
            ("+979 123456789", "premium-rate"),
            ("+881 612345678", "non-geographic"),
            ("+870 773111632", "non-geographic"),
            ("+800 12345678", "non-geographic"),
        ] {
            match PhoneNumber::accept(raw, &any) {
                Err(PhoneError::CostlyRange(_, found)) => assert_eq!(found, kind, "{raw}"),
                other => panic!("{raw}: expected a {kind} refusal, got {other:?}"),
            }
        }
        for raw in ["+31612345678", "+44 7911 123456", "+1 415 555 2671"] {
            assert!(PhoneNumber::accept(raw, &any).is_ok(), "{raw}");
        }
    }

    #[test]
    fn only_allowed_countries_are_texted() {
        let nl_be = policy(AllowedCountries::Only(vec![
            country::Id::NL,
            country::Id::BE,
        ]));
        assert!(PhoneNumber::accept("+31612345678", &nl_be).is_ok());
        assert!(PhoneNumber::accept("+32 470 12 34 56", &nl_be).is_ok());
        let refused = PhoneNumber::accept("+1 415 555 2671", &nl_be).unwrap_err();
        assert_eq!(refused, PhoneError::CountryNotEnabled("US".to_owned()));
        assert_eq!(
            refused.to_string(),
            "texts to US numbers are not enabled (ORDER_NOTIFY_ALLOWED_COUNTRIES)"
        );
    }

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
        // Valid by Brazil's national rules, invalid as the +55 number it would be stored
        // as: refused, so what is stored always reads back as itself.
        assert!(matches!(
            PhoneNumber::parse("9090000)90000", Some("BR".parse().unwrap())),
            Err(PhoneError::Invalid(_))
        ));
        assert!(PhoneNumber::parse("+559000090000", None).is_err());
    }
}
