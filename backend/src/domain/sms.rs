//! What a text costs and how a handset sees it: GSM-7 when every character is in the
//! GSM 03.38 alphabet (extension characters take two septets), UCS-2 otherwise (counted
//! in UTF-16 units, so an emoji takes two), and the segments a long text is split into.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub enum Encoding {
    #[serde(rename = "GSM-7")]
    Gsm7,
    #[serde(rename = "UCS-2")]
    Ucs2,
}

impl std::str::FromStr for Encoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "GSM-7" => Ok(Encoding::Gsm7),
            "UCS-2" => Ok(Encoding::Ucs2),
            other => Err(format!("unknown encoding {other:?}")),
        }
    }
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }

    /// Units that fit in a text sent as a single message.
    fn single_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// Units per part of a long text: the rest of each part holds the header that lets
    /// the handset join the parts.
    fn part_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }
}

/// The GSM 03.38 basic alphabet: one septet each.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: an escape septet plus one, so two each.
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

/// Septets each ASCII character takes in GSM-7 (0: GSM-7 cannot carry it), worked out
/// from the two tables when compiling. Most texts are ASCII, and looking every one of
/// their characters up in the 128-character alphabet was 1.4 % of the writer's time in
/// a status change.
const ASCII_UNITS: [u8; 128] = ascii_units();

const fn ascii_units() -> [u8; 128] {
    let mut units = [0u8; 128];
    // In UTF-8 every byte of a non-ASCII character is 0x80 or above, so the bytes
    // below it are exactly the tables' ASCII characters.
    let basic = GSM_BASIC.as_bytes();
    let mut i = 0;
    while i < basic.len() {
        if basic[i] < 0x80 {
            units[basic[i] as usize] = 1;
        }
        i += 1;
    }
    let extension = GSM_EXTENSION.as_bytes();
    let mut i = 0;
    while i < extension.len() {
        if extension[i] < 0x80 && units[extension[i] as usize] == 0 {
            units[extension[i] as usize] = 2;
        }
        i += 1;
    }
    units
}

/// Septets a character takes in GSM-7, or `None` when GSM-7 cannot carry it.
fn gsm_units(c: char) -> Option<usize> {
    if c.is_ascii() {
        return match ASCII_UNITS[c as usize] {
            0 => None,
            units => Some(usize::from(units)),
        };
    }
    gsm_units_in_tables(c)
}

/// [`gsm_units`] by looking in the tables themselves.
fn gsm_units_in_tables(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The most SMS one text may take. A longer one costs more than any order update is
/// worth, and usually means a template or an order went wrong (an item list pasted
/// 140 times).
pub const MAX_SEGMENTS: usize = 10;

/// A rendered text with the facts the provider will bill by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsText {
    body: String,
    encoding: Encoding,
    units: usize,
    segments: usize,
}

impl SmsText {
    pub fn new(body: impl Into<String>) -> SmsText {
        let body = body.into();
        let gsm: Option<Vec<usize>> = body.chars().map(gsm_units).collect();
        let (encoding, widths) = match gsm {
            Some(widths) => (Encoding::Gsm7, widths),
            None => (Encoding::Ucs2, body.chars().map(char::len_utf16).collect()),
        };
        let units = widths.iter().sum();
        let segments = count_segments(&widths, encoding);
        SmsText {
            body,
            encoding,
            units,
            segments,
        }
    }

    pub fn body(&self) -> &str {
        &self.body
    }

    pub fn into_body(self) -> String {
        self.body
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Characters as the handset counts them: septets for GSM-7, UTF-16 units for UCS-2.
    pub fn characters(&self) -> usize {
        self.units
    }

    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Why this text is not sent, when it takes more than [`MAX_SEGMENTS`] SMS.
    pub fn too_long(&self) -> Option<String> {
        (self.segments > MAX_SEGMENTS).then(|| {
            format!(
                "The text would take {} SMS; at most {MAX_SEGMENTS} are sent.",
                self.segments
            )
        })
    }

    /// The characters that keep this text out of GSM-7, each once, in order.
    pub fn non_gsm_characters(&self) -> Vec<char> {
        let mut found = Vec::new();
        for c in self.body.chars().filter(|c| gsm_units(*c).is_none()) {
            if !found.contains(&c) {
                found.push(c);
            }
        }
        found
    }
}

/// Packs characters into parts without splitting one (an escape pair or a surrogate
/// pair never straddles two parts, as handsets require).
fn count_segments(widths: &[usize], encoding: Encoding) -> usize {
    let total: usize = widths.iter().sum();
    if total == 0 {
        return 1;
    }
    if total <= encoding.single_limit() {
        return 1;
    }
    let limit = encoding.part_limit();
    let mut parts = 1;
    let mut used = 0;
    for &width in widths {
        if used + width > limit {
            parts += 1;
            used = 0;
        }
        used += width;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ascii_character_takes_the_septets_the_tables_give_it() {
        for byte in 0..=127u8 {
            let c = char::from(byte);
            assert_eq!(gsm_units(c), gsm_units_in_tables(c), "{c:?}");
        }
        // Both kinds and neither are among them.
        assert_eq!(gsm_units('a'), Some(1));
        assert_eq!(gsm_units('\n'), Some(1));
        assert_eq!(gsm_units('{'), Some(2));
        assert_eq!(gsm_units('`'), None);
        assert_eq!(gsm_units('\t'), None);
    }

    #[test]
    fn the_gsm_tables_have_their_standard_sizes() {
        // 128 positions, one of which is the escape to the extension table.
        assert_eq!(GSM_BASIC.chars().count(), 127);
        assert_eq!(GSM_EXTENSION.chars().count(), 10);
    }

    #[test]
    fn plain_text_is_one_gsm_segment_up_to_160() {
        let text = SmsText::new("Hi Ada, your order is confirmed.");
        assert_eq!(text.encoding(), Encoding::Gsm7);
        assert_eq!(text.characters(), 32);
        assert_eq!(text.segments(), 1);
        assert_eq!(SmsText::new("a".repeat(160)).segments(), 1);
        assert_eq!(SmsText::new("a".repeat(161)).segments(), 2);
        assert_eq!(SmsText::new("a".repeat(306)).segments(), 2);
        assert_eq!(SmsText::new("a".repeat(307)).segments(), 3);
        assert_eq!(SmsText::new("").segments(), 1);
    }

    #[test]
    fn accented_letters_in_the_gsm_alphabet_stay_gsm() {
        let text = SmsText::new("Até já… João");
        assert_eq!(text.encoding(), Encoding::Ucs2, "á, … and ã are not GSM");
        assert_eq!(text.non_gsm_characters(), vec!['á', '…', 'ã']);
        let gsm = SmsText::new("Café für Åsa: Ñ, ü, é, ß, £5 @ 12:00, ¿Qué?");
        assert_eq!(gsm.encoding(), Encoding::Gsm7);
    }

    #[test]
    fn extension_characters_count_twice_and_move_the_160_boundary() {
        let text = SmsText::new(format!("{}€", "a".repeat(158)));
        assert_eq!(text.encoding(), Encoding::Gsm7);
        assert_eq!(text.characters(), 160);
        assert_eq!(text.segments(), 1);
        let over = SmsText::new(format!("{}€", "a".repeat(159)));
        assert_eq!(over.characters(), 161);
        assert_eq!(over.segments(), 2);
        assert_eq!(SmsText::new("{[|]}").characters(), 10);
    }

    #[test]
    fn an_escape_pair_never_straddles_two_parts() {
        // 152 plain septets then € (2): the pair does not fit in part one's 153.
        let text = SmsText::new(format!("{}€{}", "a".repeat(152), "b".repeat(10)));
        assert_eq!(text.characters(), 164);
        assert_eq!(text.segments(), 2);
        let text = SmsText::new(format!("{}€{}", "a".repeat(152), "b".repeat(152)));
        // Part one: 152 a's; part two: € + 151 b's = 153; part three: 1 b.
        assert_eq!(text.characters(), 306);
        assert_eq!(text.segments(), 3);
    }

    #[test]
    fn an_emoji_forces_ucs2_and_counts_two_units() {
        let text = SmsText::new("Your pizza is on its way 🍕");
        assert_eq!(text.encoding(), Encoding::Ucs2);
        assert_eq!(text.characters(), 27);
        assert_eq!(text.segments(), 1);
        assert_eq!(text.non_gsm_characters(), vec!['🍕']);
        assert_eq!(SmsText::new("a".repeat(70)).segments(), 1);
        assert_eq!(SmsText::new(format!("{}🍕", "a".repeat(68))).segments(), 1);
        assert_eq!(SmsText::new(format!("{}🍕", "a".repeat(69))).segments(), 2);
        // A surrogate pair is not split: 66 units then 🍕 (2) starts part two.
        assert_eq!(
            SmsText::new(format!("{}🍕{}", "a".repeat(66), "b".repeat(66))).segments(),
            3
        );
    }

    #[test]
    fn a_1000_character_text_is_counted_in_parts() {
        let gsm = SmsText::new("x".repeat(1000));
        assert_eq!(
            (gsm.encoding(), gsm.characters(), gsm.segments()),
            (Encoding::Gsm7, 1000, 7)
        );
        let ucs = SmsText::new("ж".repeat(1000));
        assert_eq!(
            (ucs.encoding(), ucs.characters(), ucs.segments()),
            (Encoding::Ucs2, 1000, 15)
        );
    }
}
