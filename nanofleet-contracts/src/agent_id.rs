//! The agent-id rule, one for the host (which stores ids and writes them into plugin URLs) and
//! for every plugin (which reads them from each request): an id the host accepts is one every
//! plugin accepts.
//!
//! An id is 1 to [`MAX_LEN`] bytes of UTF-8, without control characters, without white space
//! at either end, and without invisible characters (zero-width spaces and joiners, bidi
//! overrides and isolates, the BOM, soft hyphens, variation selectors, tag characters): two ids
//! that look the same in a log, a dashboard or a terminal are the same id.

use std::fmt;

/// The longest agent id, in bytes. NanoFleet's ids are UUIDs (36 bytes); the limit leaves room
/// for other schemes while keeping ids cheap to store, log and carry in a URL.
pub const MAX_LEN: usize = 128;

/// Why a text is not an agent id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalid {
    /// Empty.
    Empty,
    /// Longer than [`MAX_LEN`] bytes.
    TooLong {
        /// The length given, in bytes.
        len: usize,
    },
    /// A control character.
    ControlCharacter,
    /// White space at the start or the end.
    SurroundingWhitespace,
    /// A character that shows as nothing (or reorders what follows).
    Invisible {
        /// The character.
        ch: char,
    },
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Empty => f.write_str("the id is empty"),
            Invalid::TooLong { len } => {
                write!(
                    f,
                    "the id is {len} bytes long; at most {MAX_LEN} are accepted"
                )
            }
            Invalid::ControlCharacter => f.write_str("the id contains a control character"),
            Invalid::SurroundingWhitespace => f.write_str("the id starts or ends with white space"),
            Invalid::Invisible { ch } => write!(
                f,
                "the id contains the invisible character U+{:04X}",
                u32::from(*ch)
            ),
        }
    }
}

impl std::error::Error for Invalid {}

/// Checks `id` against the rule.
pub fn check(id: &str) -> Result<(), Invalid> {
    if id.is_empty() {
        return Err(Invalid::Empty);
    }
    if id.len() > MAX_LEN {
        return Err(Invalid::TooLong { len: id.len() });
    }
    if id.chars().any(char::is_control) {
        return Err(Invalid::ControlCharacter);
    }
    if id.trim() != id {
        return Err(Invalid::SurroundingWhitespace);
    }
    if let Some(ch) = id.chars().find(|c| is_invisible(*c)) {
        return Err(Invalid::Invisible { ch });
    }
    Ok(())
}

/// Format characters and other code points that render as nothing: the ones that make two
/// different ids look alike, or text after them read in another order.
fn is_invisible(ch: char) -> bool {
    matches!(
        ch,
        '\u{00AD}'                      // soft hyphen
            | '\u{034F}'                // combining grapheme joiner
            | '\u{061C}'                // Arabic letter mark
            | '\u{115F}' | '\u{1160}'   // Hangul fillers
            | '\u{17B4}' | '\u{17B5}'   // Khmer inherent vowels
            | '\u{180B}'..='\u{180F}'   // Mongolian selectors and vowel separator
            | '\u{200B}'..='\u{200F}'   // zero-width space, joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}'   // bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}'   // word joiner, invisible operators, bidi isolates
            | '\u{3164}'                // Hangul filler
            | '\u{FE00}'..='\u{FE0F}'   // variation selectors
            | '\u{FEFF}'                // BOM, zero-width no-break space
            | '\u{FFA0}'                // half-width Hangul filler
            | '\u{FFF0}'..='\u{FFF8}'   // unassigned specials
            | '\u{1D173}'..='\u{1D17A}' // musical formatting
            | '\u{E0000}'..='\u{E0FFF}' // tags, variation selectors supplement
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_ids_pass() {
        for id in [
            "3f1c2d4e-0000-4000-8000-000000000001",
            "alice",
            "agent:7",
            "zoë",
            "a b",
        ] {
            assert_eq!(check(id), Ok(()), "{id}");
        }
        assert_eq!(check(&"a".repeat(MAX_LEN)), Ok(()));
    }

    #[test]
    fn each_rule_names_what_is_wrong() {
        assert_eq!(check(""), Err(Invalid::Empty));
        assert_eq!(
            check(&"a".repeat(MAX_LEN + 1)),
            Err(Invalid::TooLong { len: MAX_LEN + 1 })
        );
        assert_eq!(check("a\nb"), Err(Invalid::ControlCharacter));
        assert_eq!(check(" alice"), Err(Invalid::SurroundingWhitespace));
        assert_eq!(check("alice "), Err(Invalid::SurroundingWhitespace));
        for ch in [
            '\u{200B}',
            '\u{200D}',
            '\u{202E}',
            '\u{2066}',
            '\u{FEFF}',
            '\u{E0041}',
        ] {
            let id = format!("ali{ch}ce");
            assert_eq!(check(&id), Err(Invalid::Invisible { ch }), "{id:?}");
        }
        assert!(
            Invalid::Invisible { ch: '\u{202E}' }
                .to_string()
                .contains("U+202E")
        );
    }
}
