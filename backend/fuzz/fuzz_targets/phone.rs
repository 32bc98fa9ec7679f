//! Phone numbers (`PhoneNumber::parse`) on anything a person might type, with and
//! without a default region: what is accepted is E.164, and E.164 reads back as itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use order_notify::domain::{AllowedCountries, PhoneError, PhoneNumber, PhonePolicy};

/// Default regions to read national numbers with; `None` as when none is configured.
const REGIONS: [Option<&str>; 12] = [
    None,
    Some("NL"),
    Some("GB"),
    Some("US"),
    Some("DE"),
    Some("FR"),
    Some("IT"),
    Some("IN"),
    Some("BR"),
    Some("JP"),
    Some("AU"),
    Some("RU"),
];

fuzz_target!(|input: (u8, &str)| {
    let (region, raw) = input;
    let region =
        REGIONS[usize::from(region) % REGIONS.len()].map(|r| r.parse().expect("a known region"));
    let trimmed = raw.trim();
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");

    let phone = match PhoneNumber::parse(raw, region) {
        Ok(phone) => phone,
        Err(PhoneError::Empty) => {
            assert!(trimmed.is_empty());
            return;
        }
        Err(PhoneError::NeedsCountryCode) => {
            assert!(region.is_none() && !international);
            return;
        }
        Err(PhoneError::Unparseable(_) | PhoneError::Invalid(_)) => {
            assert!(!trimmed.is_empty());
            return;
        }
        Err(e @ (PhoneError::CostlyRange(..) | PhoneError::CountryNotEnabled(_))) => {
            panic!("parse reads numbers; only accept applies the sending policy: {e}")
        }
    };
    assert!(!trimmed.is_empty() && trimmed.len() <= 40);
    assert!(
        trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || " +()-./".contains(c)),
        "only digits and the punctuation between them: {raw:?}"
    );
    assert!(
        region.is_some() || international,
        "a national number without a region"
    );

    // E.164 form: a plus, then 2 to 15 digits, the country code first (never 0). (The
    // numbering plans phonenumber checks against allow longer national numbers, e.g.
    // Germany's +4973909221970005; this target found that, and parse now refuses them.)
    let e164 = phone.as_str();
    let digits = e164.strip_prefix('+').expect("E.164 starts with +");
    assert!(digits.len() >= 2 && digits.len() <= 15, "{e164}");
    assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{e164}");
    assert!(!digits.starts_with('0'), "{e164}");

    // It reads back as itself, whatever the default region, and so does its display.
    assert_eq!(
        PhoneNumber::parse(e164, None).as_ref(),
        Ok(&phone),
        "{raw:?}"
    );
    assert_eq!(
        PhoneNumber::parse(e164, region).as_ref(),
        Ok(&phone),
        "{raw:?}"
    );
    assert_eq!(phone.to_string(), e164);

    // With every country allowed, accepting it refuses only costly ranges, and keeps
    // the number as parsed.
    let any = PhonePolicy {
        default_region: region,
        allowed: AllowedCountries::Any,
    };
    match PhoneNumber::accept(raw, &any) {
        Ok(accepted) => assert_eq!(accepted, phone, "{raw:?}"),
        Err(PhoneError::CostlyRange(number, _)) => assert_eq!(number, e164, "{raw:?}"),
        Err(other) => panic!("{raw:?}: {other}"),
    }
});
