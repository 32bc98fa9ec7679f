//! What a customer's reply means: STOP (and its usual synonyms) opts out of texts,
//! START opts back in; anything else is a message for the kitchen, not for us.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
}

const STOP_WORDS: [&str; 7] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
];
const START_WORDS: [&str; 4] = ["START", "UNSTOP", "YES", "SUBSCRIBE"];

impl Keyword {
    /// The keyword a reply starts with, ignoring case, spaces and punctuation after it.
    pub fn of_reply(text: &str) -> Option<Keyword> {
        let first = text.split_whitespace().next()?;
        let word: String = first
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_uppercase();
        if STOP_WORDS.contains(&word.as_str()) {
            Some(Keyword::Stop)
        } else if START_WORDS.contains(&word.as_str()) {
            Some(Keyword::Start)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_start_are_read_in_any_case_with_trailing_text() {
        for reply in [
            "STOP",
            "stop",
            " Stop. ",
            "STOP please",
            "unsubscribe",
            "Quit!",
            "stopall",
        ] {
            assert_eq!(Keyword::of_reply(reply), Some(Keyword::Stop), "{reply}");
        }
        for reply in ["START", "start", "Yes", "unstop"] {
            assert_eq!(Keyword::of_reply(reply), Some(Keyword::Start), "{reply}");
        }
        for reply in ["", "Where is my pizza?", "Don't stop", "stopping by later"] {
            assert_eq!(Keyword::of_reply(reply), None, "{reply}");
        }
    }
}
