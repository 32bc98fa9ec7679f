//! SMS counting (`SmsText::new`) on any text: the encoding, the characters and the
//! segments agree with each other and with the rules stated in `domain/sms.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use order_notify::domain::{Encoding, SmsText};

/// (units in a single message, units per part of a long one)
fn limits(encoding: Encoding) -> (usize, usize) {
    match encoding {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    }
}

fn is_gsm(c: char) -> bool {
    SmsText::new(c.to_string()).encoding() == Encoding::Gsm7
}

fn check(body: &str) -> SmsText {
    let text = SmsText::new(body);
    assert_eq!(text.body(), body);
    let units = text.characters();
    let chars = body.chars().count();

    // GSM-7 exactly when every character is in the GSM alphabet, and then each
    // character takes its own septets (one, or two for the extension table);
    // otherwise UCS-2, counted in UTF-16 units.
    let non_gsm = text.non_gsm_characters();
    assert_eq!(text.encoding() == Encoding::Gsm7, non_gsm.is_empty());
    match text.encoding() {
        Encoding::Gsm7 => {
            let per_char: usize = body
                .chars()
                .map(|c| SmsText::new(c.to_string()).characters())
                .sum();
            assert_eq!(units, per_char);
            assert!(chars <= units && units <= 2 * chars);
        }
        Encoding::Ucs2 => assert_eq!(units, body.encode_utf16().count()),
    }

    // The characters that keep it out of GSM-7: each non-GSM character, once, in the
    // order they first appear.
    let mut last_position = None;
    for c in &non_gsm {
        assert!(!is_gsm(*c), "{c:?} is listed but is GSM");
        let position = body.find(*c).expect("a listed character is in the text");
        assert!(
            last_position < Some(position),
            "{non_gsm:?} is not in text order"
        );
        last_position = Some(position);
    }
    assert!(
        body.chars()
            .filter(|c| !is_gsm(*c))
            .all(|c| non_gsm.contains(&c))
    );

    // Segments: one up to the single-message limit (an empty text too); beyond it,
    // parts of `part` units that never split a character of two units, so every part
    // but the last holds `part` or `part - 1` units.
    let (single, part) = limits(text.encoding());
    let segments = text.segments();
    if units <= single {
        assert_eq!(segments, 1, "{units} units");
    } else {
        assert!(segments >= 2);
        assert!(
            segments >= units.div_ceil(part),
            "{units} units in {segments}"
        );
        assert!(
            segments <= units.div_ceil(part - 1),
            "{units} units in {segments}"
        );
        if units == chars {
            // Every character is one unit: nothing to keep together.
            assert_eq!(segments, units.div_ceil(part), "{units} units");
        }
    }
    text
}

fuzz_target!(|input: (u16, &str)| {
    let (split, body) = input;
    let text = check(body);

    // A prefix in the same encoding never needs more segments.
    let mut at = usize::from(split) % (body.len() + 1);
    while !body.is_char_boundary(at) {
        at -= 1;
    }
    let prefix = check(&body[..at]);
    if prefix.encoding() == text.encoding() {
        assert!(prefix.segments() <= text.segments());
        assert!(prefix.characters() <= text.characters());
    }
});
