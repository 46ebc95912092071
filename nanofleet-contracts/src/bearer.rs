//! `Authorization: Bearer <token>`: how every credential in the system travels (the internal
//! token, the host's API token, the fleet's MCP token).

/// The authentication scheme, as written in headers this crate's users send.
pub const SCHEME: &str = "Bearer";

/// `Bearer <token>`, the header value for `token`.
pub fn header_value(token: &str) -> String {
    format!("{SCHEME} {token}")
}

/// The credentials of a `Bearer` authorization value, the scheme matched case-insensitively as
/// RFC 9110 §11.1 requires and surrounding blanks trimmed. `None` for another scheme; an empty
/// slice for a bare `Bearer`, which callers refuse.
///
/// ```
/// use nanofleet_contracts::bearer::token;
///
/// assert_eq!(token(b"Bearer abc"), Some(&b"abc"[..]));
/// assert_eq!(token(b"bearer   abc "), Some(&b"abc"[..]));
/// assert_eq!(token(b"BearerX abc"), None);
/// assert_eq!(token(b"Basic abc"), None);
/// ```
pub fn token(value: &[u8]) -> Option<&[u8]> {
    const LOWER: &[u8] = b"bearer";
    let (scheme, rest) = value.split_at_checked(LOWER.len())?;
    if !scheme.eq_ignore_ascii_case(LOWER) {
        return None;
    }
    match rest.first() {
        None => Some(rest),
        Some(b' ') => Some(rest.trim_ascii()),
        // `BearerX ...` is another scheme that merely starts with the same letters.
        Some(_) => None,
    }
}

/// [`token`] for a header read as text: `None` for another scheme or an empty token.
pub fn token_str(value: &str) -> Option<&str> {
    token(value.as_bytes())
        .filter(|t| !t.is_empty())
        .and_then(|t| std::str::from_utf8(t).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_blanks() {
        assert_eq!(token(b"Bearer"), Some(&b""[..]));
        assert_eq!(token(b"Bearer "), Some(&b""[..]));
        assert_eq!(token(b"BEARER\tx"), None);
        assert_eq!(token(b""), None);
        assert_eq!(token_str("Bearer "), None);
        assert_eq!(token_str("bearer t0k"), Some("t0k"));
        assert_eq!(header_value("t"), "Bearer t");
    }
}
