//! An order: the parts a person or an order system types in, each checked once at the
//! edge (the customer's name, the items, the caller's own reference), the order as
//! kept, its history, and the version a change may be conditioned on.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{OrderStatus, PhoneNumber, Role, SmsText, Template, TemplateValues};

/// One reason an input was refused, tied to the field it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ValidationError {
    /// The field's path in the request, such as `items[2].quantity`.
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

const MAX_NAME_CHARS: usize = 100;
const MAX_ITEM_NAME_CHARS: usize = 100;
const MAX_ITEMS: usize = 50;
const MAX_QUANTITY: i64 = 999;
const MAX_EXTERNAL_REF_CHARS: usize = 100;
const MAX_NOTES_CHARS: usize = 500;
/// How far back a promised time may lie when it is set (a clock a little behind, a
/// form sent a little late); an older one is a mistake, not a promise.
const ETA_PAST_SLACK: Duration = Duration::hours(1);
/// How far ahead a promised time may lie (an order for the weekend).
const ETA_HORIZON: Duration = Duration::days(7);

/// Invisible formatting characters (Unicode category Cf, as of Unicode 15): bidi
/// embeddings, overrides and isolates, zero-width spaces, word joiners, the byte-order
/// mark, soft hyphens, tag characters … They can make a name read differently on the
/// board than in a text, or hide words; a line of free text refuses them. The two
/// joiners (U+200C, U+200D) are not here: Persian and Indic names need them, and so do
/// emoji sequences such as 👩‍🍳.
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200B}'),
    ('\u{200E}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// The line and paragraph separators (U+2028, U+2029): line breaks by another name.
const SEPARATORS: (char, char) = ('\u{2028}', '\u{2029}');

/// The joiners a line may hold, though they show nothing by themselves.
const JOINERS: (char, char) = ('\u{200C}', '\u{200D}');

fn in_range(c: char, (first, last): (char, char)) -> bool {
    (first..=last).contains(&c)
}

/// A character a line of free text refuses: a control character, an invisible
/// formatting character, or a line or paragraph separator.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || in_range(c, SEPARATORS)
        || FORMAT_CHARACTERS.iter().any(|&range| in_range(c, range))
}

/// A character class (without its brackets) of the ranges, for an OpenAPI `pattern`.
/// Characters beyond the Basic Multilingual Plane are written as themselves (a `\u`
/// escape there would mean half a surrogate pair).
fn pattern_class(ranges: &[(char, char)]) -> String {
    fn escape(c: char) -> String {
        if (c as u32) <= 0xFFFF {
            format!("\\u{:04x}", c as u32)
        } else {
            c.to_string()
        }
    }
    ranges
        .iter()
        .map(|&(first, last)| match first == last {
            true => escape(first),
            false => format!("{}-{}", escape(first), escape(last)),
        })
        .collect()
}

/// The [`is_hidden`] characters as ranges; with `line_breaks`, all but `\n`.
fn hidden_ranges(line_breaks: bool) -> Vec<(char, char)> {
    let mut hidden = match line_breaks {
        true => vec![('\u{0}', '\u{9}'), ('\u{B}', '\u{1F}')],
        false => vec![('\u{0}', '\u{1F}')],
    };
    hidden.extend([('\u{7F}', '\u{9F}'), SEPARATORS]);
    hidden.extend_from_slice(FORMAT_CHARACTERS);
    hidden
}

/// The OpenAPI `pattern` of a line of free text, made from the same tables the parser
/// uses: only characters that are not [`is_hidden`], with at least one that is neither
/// a space nor a joiner.
pub fn line_pattern() -> String {
    let hidden = pattern_class(&hidden_ranges(false));
    let joiners = pattern_class(&[JOINERS]);
    format!("^[^{hidden}]*[^\\s{hidden}{joiners}][^{hidden}]*$")
}

/// The OpenAPI `pattern` of [`Notes`]: no [`is_hidden`] character but the line break.
pub fn notes_pattern() -> String {
    format!("^[^{}]*$", pattern_class(&hidden_ranges(true)))
}

/// Trims and checks a line of free text: not empty, not too long, nothing hidden
/// (see [`is_hidden`]).
fn parse_line(field: &str, raw: &str, max_chars: usize) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    if !trimmed
        .chars()
        .any(|c| !c.is_whitespace() && !in_range(c, JOINERS))
    {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() || in_range(c, SEPARATORS))
    {
        return Err(ValidationError::new(
            field,
            "must not contain control characters such as line breaks",
        ));
    }
    if let Some(c) = trimmed.chars().find(|&c| is_hidden(c)) {
        return Err(ValidationError::new(
            field,
            format!(
                "must not contain invisible formatting characters such as bidi overrides or zero-width spaces (found U+{:04X})",
                c as u32
            ),
        ));
    }
    Ok(trimmed.to_owned())
}

/// The name the kitchen calls the customer by, and the texts greet them with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerName(String);

impl CustomerName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_line("customer_name", raw, MAX_NAME_CHARS).map(CustomerName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The calling system's own id for the order, unique per API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalRef(String);

impl ExternalRef {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_line("external_ref", raw, MAX_EXTERNAL_REF_CHARS).map(ExternalRef)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// What the kitchen must know about an order that is not an item: allergies, the
/// address, "ring bell 3". Up to 500 characters over as many lines as needed; nothing
/// hidden (see [`is_hidden`]) but the line breaks themselves (`\n`; a carriage return
/// is refused as the other control characters are).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notes(String);

impl Notes {
    /// Trims and checks notes; blank notes are no notes (`None`).
    pub fn parse(raw: &str) -> Result<Option<Notes>, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.chars().count() > MAX_NOTES_CHARS {
            return Err(ValidationError::new(
                "notes",
                format!("must be at most {MAX_NOTES_CHARS} characters"),
            ));
        }
        if let Some(c) = trimmed.chars().find(|&c| c != '\n' && is_hidden(c)) {
            return Err(ValidationError::new(
                "notes",
                format!(
                    "must not contain control or invisible formatting characters other than line breaks (found U+{:04X})",
                    c as u32
                ),
            ));
        }
        Ok(Some(Notes(trimmed.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The time the customer was promised the order: an RFC 3339 time with its offset,
/// kept to the second, no more than an hour before `now` and at most a week after it.
pub fn parse_eta(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ValidationError> {
    let eta = DateTime::parse_from_rfc3339(raw.trim())
        .map_err(|_| {
            ValidationError::new(
                "eta",
                "must be a date and time in RFC 3339 form with its offset, such as 2026-11-30T19:45:00+01:00",
            )
        })?
        .with_timezone(&Utc)
        .trunc_subsecs(0);
    if eta < now - ETA_PAST_SLACK {
        return Err(ValidationError::new(
            "eta",
            "must not be more than an hour in the past",
        ));
    }
    if eta > now + ETA_HORIZON {
        return Err(ValidationError::new(
            "eta",
            "must be at most 7 days from now",
        ));
    }
    Ok(eta)
}

/// One line of an order: what and how many.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderItem {
    #[schema(min_length = 1, max_length = 100, example = "Margherita")]
    pub name: String,
    #[schema(minimum = 1, maximum = 999, example = 2)]
    pub quantity: u32,
}

/// The items of an order: at least one, at most fifty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderItems(Vec<OrderItem>);

impl OrderItems {
    /// Checks every item and reports every problem at once, each with its index.
    pub fn parse(raw: &[(String, i64)]) -> Result<Self, Vec<ValidationError>> {
        if raw.is_empty() {
            return Err(vec![ValidationError::new(
                "items",
                "must list at least one item",
            )]);
        }
        if raw.len() > MAX_ITEMS {
            return Err(vec![ValidationError::new(
                "items",
                format!("must list at most {MAX_ITEMS} items"),
            )]);
        }
        let mut items = Vec::with_capacity(raw.len());
        let mut errors = Vec::new();
        for (index, (name, quantity)) in raw.iter().enumerate() {
            let name = parse_line(&format!("items[{index}].name"), name, MAX_ITEM_NAME_CHARS);
            let quantity = match *quantity {
                q if q < 1 => Err(ValidationError::new(
                    format!("items[{index}].quantity"),
                    "must be at least 1",
                )),
                q if q > MAX_QUANTITY => Err(ValidationError::new(
                    format!("items[{index}].quantity"),
                    format!("must be at most {MAX_QUANTITY}"),
                )),
                q => Ok(q as u32),
            };
            match (name, quantity) {
                (Ok(name), Ok(quantity)) => items.push(OrderItem { name, quantity }),
                (name, quantity) => errors.extend(name.err().into_iter().chain(quantity.err())),
            }
        }
        if errors.is_empty() {
            Ok(OrderItems(items))
        } else {
            Err(errors)
        }
    }

    /// Rebuilds items that were validated before they were stored.
    pub fn from_trusted(items: Vec<OrderItem>) -> Self {
        OrderItems(items)
    }

    pub fn as_slice(&self) -> &[OrderItem] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<OrderItem> {
        self.0
    }
}

/// An order as kept: what was ordered, by whom, and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub seq: i64,
    pub id: Uuid,
    pub external_ref: Option<String>,
    pub customer_name: String,
    pub phone: PhoneNumber,
    pub items: OrderItems,
    pub status: OrderStatus,
    /// The time the customer was promised the order, if one was.
    pub eta: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub version: i32,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An order as it arrives, already parsed into domain types.
#[derive(Clone, Debug)]
pub struct NewOrder {
    pub customer_name: CustomerName,
    pub phone: PhoneNumber,
    pub items: OrderItems,
    pub external_ref: Option<ExternalRef>,
    pub notes: Option<Notes>,
    pub eta: Option<DateTime<Utc>>,
}

/// Who did something, as written into the history.
#[derive(Clone, Debug)]
pub struct Actor {
    pub key_id: Option<Uuid>,
    pub name: String,
    /// What the actor may do (the command line and the demo act as admins).
    pub role: Role,
}

/// Which orders a caller may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Only orders created by this key (integration keys).
    CreatedBy(Uuid),
}

/// Which orders a list shows, one page at a time.
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    pub statuses: Vec<OrderStatus>,
    pub search: Option<OrderSearch>,
    pub limit: u64,
    /// Only orders older than this position (the decoded cursor).
    pub before_seq: Option<i64>,
}

/// What `q` looks for in the orders: the folded text (see [`fold`]) in the name, the
/// references, the items and the notes; and, when it has digits, the phone number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderSearch {
    /// The search folded as [`search_text`] folds the orders.
    pub text: String,
    /// The digits a phone number would contain, with a national trunk prefix (a
    /// leading `0`) left off; `None` with fewer than three.
    pub digits: Option<String>,
    /// The number in E.164 when the search reads as one (nationally written, with the
    /// default region).
    pub phone: Option<String>,
}

impl OrderSearch {
    pub fn new(raw: &str, default_region: Option<phonenumber::country::Id>) -> OrderSearch {
        let raw = raw.trim();
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let national = digits.trim_start_matches('0');
        let looks_like_number = raw
            .chars()
            .all(|c| c.is_ascii_digit() || " +-./()".contains(c));
        let phone = looks_like_number
            .then(|| PhoneNumber::parse(raw, default_region).ok())
            .flatten()
            .map(PhoneNumber::into_string);
        OrderSearch {
            text: fold(raw),
            // Only a search written as a number is looked for among the phone numbers:
            // the digits scattered through an order's code ("#3F2B94") or a street
            // ("Keizersgracht 123a") would otherwise find whoever's number holds them.
            digits: (looks_like_number && national.len() >= 3).then(|| national.to_owned()),
            phone,
        }
    }
}

/// Text as search compares it: canonically decomposed, without its combining marks,
/// in lower case ("Zoë" and "ZOE" both give "zoe").
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    text.nfkd()
        .filter(|&c| !is_combining_mark(c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// What search looks through for an order, folded: its name, its reference as texts
/// give it (`#af9473`), its own reference, its items and its notes, a line each.
pub fn search_text(
    customer_name: &str,
    external_ref: Option<&str>,
    id: Uuid,
    items: &[OrderItem],
    notes: Option<&str>,
) -> String {
    let mut lines = vec![customer_name, external_ref.unwrap_or_default()];
    let short = super::short_ref(id);
    lines.push(&short);
    lines.extend(items.iter().map(|item| item.name.as_str()));
    lines.extend(notes);
    fold(&lines.join("\n"))
}

/// One step of an order's history: who moved it from where to where, or corrected
/// which of its details, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Where the entry stands among all orders' history (a page ends at one).
    pub seq: i64,
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub actor: String,
    pub at: DateTime<Utc>,
    /// The details this step changed: those an edit corrected (its `from` and `to` are
    /// the status it kept), or `eta` when a status change also set the promised time.
    pub changed: Vec<OrderField>,
    /// The promised time right after this step.
    pub eta: Option<DateTime<Utc>>,
}

/// A detail of an order that can be corrected after it was taken in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderField {
    CustomerName,
    Phone,
    Items,
    Notes,
    Eta,
}

impl OrderField {
    pub const ALL: [OrderField; 5] = [
        OrderField::CustomerName,
        OrderField::Phone,
        OrderField::Items,
        OrderField::Notes,
        OrderField::Eta,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderField::CustomerName => "customer_name",
            OrderField::Phone => "phone",
            OrderField::Items => "items",
            OrderField::Notes => "notes",
            OrderField::Eta => "eta",
        }
    }

    pub fn parse(raw: &str) -> Option<OrderField> {
        OrderField::ALL.into_iter().find(|f| f.as_str() == raw)
    }
}

/// A correction to an order's details: only the fields given change. The status is
/// not among them; it changes only along its transitions.
#[derive(Clone, Debug, Default)]
pub struct OrderEdit {
    pub customer_name: Option<CustomerName>,
    pub phone: Option<PhoneNumber>,
    pub items: Option<OrderItems>,
    /// `Some(None)` clears the notes.
    pub notes: Option<Option<Notes>>,
    /// `Some(None)` withdraws the promised time.
    pub eta: Option<Option<DateTime<Utc>>>,
}

impl OrderEdit {
    /// The fields this edit would really change on `order` (giving a field its current
    /// value changes nothing).
    pub fn changes(&self, order: &Order) -> Vec<OrderField> {
        let mut changed = Vec::new();
        if self
            .customer_name
            .as_ref()
            .is_some_and(|name| name.as_str() != order.customer_name)
        {
            changed.push(OrderField::CustomerName);
        }
        if self
            .phone
            .as_ref()
            .is_some_and(|phone| *phone != order.phone)
        {
            changed.push(OrderField::Phone);
        }
        if self
            .items
            .as_ref()
            .is_some_and(|items| *items != order.items)
        {
            changed.push(OrderField::Items);
        }
        if self
            .notes
            .as_ref()
            .is_some_and(|notes| notes.as_ref().map(Notes::as_str) != order.notes.as_deref())
        {
            changed.push(OrderField::Notes);
        }
        if self.eta.is_some_and(|eta| eta != order.eta) {
            changed.push(OrderField::Eta);
        }
        changed
    }

    /// `order` with this edit applied (the version and times are the store's).
    pub fn applied_to(&self, order: &Order) -> Order {
        let mut edited = order.clone();
        if let Some(name) = &self.customer_name {
            edited.customer_name = name.as_str().to_owned();
        }
        if let Some(phone) = &self.phone {
            edited.phone = phone.clone();
        }
        if let Some(items) = &self.items {
            edited.items = items.clone();
        }
        if let Some(notes) = &self.notes {
            edited.notes = notes.as_ref().map(|n| n.as_str().to_owned());
        }
        if let Some(eta) = self.eta {
            edited.eta = eta;
        }
        edited
    }
}

impl Order {
    /// How texts name this order (`{order_ref}`): its `external_ref`, else `#` and the
    /// last six hex digits of its id.
    pub fn order_ref(&self) -> String {
        super::template::order_ref(self.external_ref.as_deref(), self.id)
    }

    /// The text `template` gives for this order as it is now, its times told in `zone`.
    pub fn render(&self, template: &Template, zone: Tz) -> SmsText {
        let values = TemplateValues::new(
            &self.customer_name,
            self.external_ref.as_deref(),
            self.id,
            self.items.as_slice(),
            self.status,
        )
        .with_eta(self.eta, zone);
        template.render(&values)
    }

    /// What search looks through for this order (see [`search_text`]).
    pub fn search_text(&self) -> String {
        search_text(
            &self.customer_name,
            self.external_ref.as_deref(),
            self.id,
            self.items.as_slice(),
            self.notes.as_deref(),
        )
    }

    /// Its version as an entity tag: `"v<version>"` (the API's `ETag`).
    pub fn etag(&self) -> String {
        version_tag(self.version)
    }
}

/// A version as an entity tag: `"v<version>"`.
pub fn version_tag(version: i32) -> String {
    format!("\"v{version}\"")
}

/// A condition on the version a change applies to (`If-Match`): any of these entity
/// tags, compared strongly (a weak tag `W/"v3"` never matches), or `*` for any version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfMatch(String);

impl IfMatch {
    pub fn new(tags: impl Into<String>) -> Self {
        IfMatch(tags.into())
    }

    pub fn matches(&self, version: i32) -> bool {
        tag_list_matches(&self.0, &version_tag(version), false)
    }
}

/// Whether a comma-separated list of entity tags (`If-Match`, `If-None-Match`) names
/// `current`; `*` names anything. Weak tags count only when `allow_weak` (RFC 9110:
/// strong comparison for `If-Match`, weak for `If-None-Match`).
pub fn tag_list_matches(list: &str, current: &str, allow_weak: bool) -> bool {
    list.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag == current || (allow_weak && tag.strip_prefix("W/") == Some(current))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_search_written_as_a_number_looks_among_phone_numbers() {
        let nl = Some(phonenumber::country::Id::NL);
        let number = OrderSearch::new("06-12 34 56 01", nl);
        assert_eq!(number.digits.as_deref(), Some("612345601"));
        assert_eq!(number.phone.as_deref(), Some("+31612345601"));
        assert_eq!(
            OrderSearch::new("(020) 555", nl).digits.as_deref(),
            Some("20555")
        );
        for words in ["#3F2B94", "3f2b94", "Keizersgracht 123a", "table 4567"] {
            let search = OrderSearch::new(words, nl);
            assert_eq!(search.digits, None, "{words}");
            assert_eq!(search.phone, None, "{words}");
            assert_eq!(search.text, fold(words.trim()), "{words}");
        }
        assert_eq!(
            OrderSearch::new("12", nl).digits,
            None,
            "fewer than three digits"
        );
    }

    #[test]
    fn hidden_characters_are_refused_and_joiners_kept() {
        let mut refused = 0;
        for &(first, last) in FORMAT_CHARACTERS {
            for c in first..=last {
                let error = CustomerName::parse(&format!("A{c}da")).unwrap_err();
                assert!(
                    error.message.contains("invisible formatting"),
                    "U+{:04X}: {}",
                    c as u32,
                    error.message
                );
                refused += 1;
            }
        }
        assert_eq!(
            refused, 168,
            "every Cf character of Unicode 15 (170) but the two joiners"
        );
        for separator in ['\u{2028}', '\u{2029}'] {
            let error = CustomerName::parse(&format!("A{separator}da")).unwrap_err();
            assert!(error.message.contains("line breaks"), "{}", error.message);
        }
        let item = OrderItems::parse(&[("Pie\u{202E}".to_owned(), 1)]).unwrap_err();
        assert_eq!(item[0].field, "items[0].name");
        assert!(ExternalRef::parse("A-1\u{200B}").is_err());
        // Persian with a zero-width non-joiner, an emoji with a zero-width joiner.
        for kept in ["می\u{200C}خواهم", "Zoë 👩\u{200D}🍳"] {
            assert_eq!(CustomerName::parse(kept).unwrap().as_str(), kept);
        }
        assert_eq!(
            CustomerName::parse(" \u{200D} ").unwrap_err().message,
            "must not be empty"
        );
        assert!(is_hidden('\u{FEFF}') && is_hidden('\u{7}') && !is_hidden('\u{200D}'));
    }

    #[test]
    fn entity_tags_match_by_strong_comparison_for_if_match() {
        let current = "\"v3\"";
        let check = |list: &str, weak| tag_list_matches(list, current, weak);
        assert!(check("\"v3\"", false));
        assert!(check("\"v1\", \"v3\"", false));
        assert!(check("*", false));
        assert!(!check("\"v2\"", false));
        assert!(!check("W/\"v3\"", false));
        assert!(check("W/\"v3\"", true));
        assert!(!check("v3", false));
        assert!(IfMatch::new("\"v2\", \"v3\"").matches(3));
        assert!(!IfMatch::new("W/\"v3\"").matches(3));
        assert_eq!(version_tag(7), "\"v7\"");
    }

    fn item(name: &str, quantity: i64) -> (String, i64) {
        (name.to_owned(), quantity)
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            CustomerName::parse("  Ada Lovelace ").unwrap().as_str(),
            "Ada Lovelace"
        );
        assert_eq!(CustomerName::parse("Zoë 😀").unwrap().as_str(), "Zoë 😀");
        assert_eq!(CustomerName::parse(" ").unwrap_err().field, "customer_name");
        assert!(CustomerName::parse(&"a".repeat(100)).is_ok());
        assert!(CustomerName::parse(&"a".repeat(101)).is_err());
        assert!(CustomerName::parse("Ada\nLovelace").is_err());
    }

    #[test]
    fn items_need_a_name_and_a_positive_quantity() {
        let items = OrderItems::parse(&[item(" Pizza ", 2), item("Cola", 1)]).unwrap();
        assert_eq!(
            items.as_slice(),
            &[
                OrderItem {
                    name: "Pizza".into(),
                    quantity: 2
                },
                OrderItem {
                    name: "Cola".into(),
                    quantity: 1
                }
            ]
        );
        assert!(OrderItems::parse(&[item("Pizza", 999)]).is_ok());
    }

    #[test]
    fn every_bad_item_is_reported_with_its_index() {
        let errors = OrderItems::parse(&[
            item("Pizza", 0),
            item("", 1),
            item("", -3),
            item("Soup", 1000),
        ])
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "items[0].quantity",
                "items[1].name",
                "items[2].name",
                "items[2].quantity",
                "items[3].quantity"
            ]
        );
    }

    #[test]
    fn an_order_has_between_one_and_fifty_items() {
        assert_eq!(OrderItems::parse(&[]).unwrap_err()[0].field, "items");
        let many: Vec<_> = (0..51).map(|i| item(&format!("dish {i}"), 1)).collect();
        assert_eq!(OrderItems::parse(&many).unwrap_err()[0].field, "items");
        assert!(OrderItems::parse(&many[..50]).is_ok());
    }

    #[test]
    fn external_refs_are_trimmed_lines() {
        assert_eq!(ExternalRef::parse(" PO-1 ").unwrap().into_string(), "PO-1");
        assert!(ExternalRef::parse("").is_err());
        assert!(ExternalRef::parse(&"x".repeat(101)).is_err());
    }
}
