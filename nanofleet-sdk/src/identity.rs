//! The plugin's internal token, agent signatures and dashboard UI tokens.
//!
//! The NanoFleet host gives every installed plugin a secret, `NANO_INTERNAL_TOKEN`
//! ([`InternalToken`]). Everything in this module is keyed with it, so a host and a plugin that
//! share the token can vouch for each other without talking.
//!
//! # Agent signatures (`agent_sig`)
//!
//! Agents reach a plugin at `http://nanofleet-plugin-<name>:<port>/mcp?agent_id=<id>`. NanoFleet
//! itself trusts that id blindly; a host that also appends `&agent_sig=<signature>` lets the
//! plugin check that the id was handed out by the host ([`sign_agent`], [`verify_agent`]).
//!
//! ```text
//! signature = "v1." || base64url_nopad(HMAC-SHA256(key, msg))
//! key       = the bytes of NANO_INTERNAL_TOKEN, exactly as found in the environment
//! msg       = "nanofleet-agent-v1" || 0x00 || plugin_id || 0x00 || agent_id
//! ```
//!
//! `plugin_id` and `agent_id` are their UTF-8 bytes. `base64url_nopad` is the URL-safe alphabet
//! of RFC 4648 §5 without `=` padding, so a signature is always `v1.` followed by 43 characters
//! and needs no escaping in a query string. Verifiers reject non-canonical encodings.
//!
//! A signature does not expire. What ends an agent's access is its link: the host also writes
//! `&agent_link=<id>` ([`AGENT_LINK_PARAM`]), drawn afresh for every link, and the server
//! serves a signed request only while that is the agent's current link as the host reports it
//! (see [`nanofleet_contracts::callback`]; answers are kept for a few seconds).
//!
//! # UI tokens (`nf_token`)
//!
//! The host proxies a plugin's web UI and appends `?nf_token=<token>`. Ours is a short-lived
//! token the plugin verifies offline ([`mint_ui_token`], [`verify_ui_token`]):
//!
//! ```text
//! ui_token    = "v1." || payload_b64 || "." || base64url_nopad(HMAC-SHA256(key, msg))
//! payload_b64 = base64url_nopad(JSON payload)
//! msg         = "nanofleet-ui-v1" || 0x00 || payload_b64   (the ASCII text, not the JSON)
//! payload     = {"plg": plugin_id, "iat": unix_seconds, "exp": unix_seconds,
//!                "sub": "dashboard user" (optional, may be absent or null),
//!                "nonce": base64url_nopad(16 random bytes)}
//! ```
//!
//! A verifier checks, in this order: the whole token is at most [`MAX_UI_TOKEN_LEN`] bytes; the
//! MAC (in constant time, before looking at the payload); the payload parses; `exp - iat` is
//! between 0 and one hour; `plg` is its own plugin id; `iat` is at most 30 seconds in the future
//! (clock skew between host and plugin); and `now < exp`, with no leeway. Unknown payload fields
//! are ignored so later versions can add some.
//!
//! The distinct `nanofleet-agent-v1` / `nanofleet-ui-v1` prefixes keep a value minted for one
//! purpose from ever verifying as the other.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Query parameters on the MCP endpoint: the calling agent's id, the host's signature of it
/// (see [`sign_agent`]), and the link the URL was written for (checked with the host, so that
/// an unlinked agent's URL stops working).
pub use nanofleet_contracts::names::{
    AGENT_ID_PARAM, AGENT_LINK_PARAM, AGENT_SIG_PARAM as AGENT_SIGNATURE_PARAM,
};

/// Query parameter carrying the UI token on requests the host proxies to the plugin's UI.
pub const UI_TOKEN_PARAM: &str = "nf_token";

/// How long a UI token lives unless the host asks otherwise.
pub const DEFAULT_UI_TOKEN_TTL: Duration = Duration::from_secs(5 * 60);

/// The longest lifetime a UI token may have; [`mint_ui_token`] clamps to it and
/// [`verify_ui_token`] rejects anything longer as malformed.
pub const MAX_UI_TOKEN_TTL: Duration = Duration::from_secs(60 * 60);

/// The longest UI token [`verify_ui_token`] looks at; longer input is rejected before decoding.
pub const MAX_UI_TOKEN_LEN: usize = 4096;

/// How far in the future a UI token's `iat` may be, to absorb clock drift between containers.
const UI_TOKEN_CLOCK_SKEW_SECS: u64 = 30;

const FORMAT_PREFIX: &str = "v1.";
const AGENT_DOMAIN: &[u8] = b"nanofleet-agent-v1";
const UI_DOMAIN: &[u8] = b"nanofleet-ui-v1";
const MAC_LEN: usize = 32;
/// Unpadded base64 of [`MAC_LEN`] bytes.
const MAC_B64_LEN: usize = 43;

/// The secret NanoFleet injects as `NANO_INTERNAL_TOKEN`, one per plugin install.
///
/// It authenticates the host's callbacks to the plugin and the plugin's calls to the host, and
/// keys [agent signatures](sign_agent) and [UI tokens](mint_ui_token). The type does its best to
/// stay out of logs: `Debug` prints `InternalToken(<redacted>)` and there is no `Display` or
/// `Serialize`; reach for [`expose_secret`](Self::expose_secret) only where the raw value is
/// really needed.
#[derive(Clone)]
pub struct InternalToken(String);

impl InternalToken {
    /// The shortest token accepted, in bytes. A NanoFleet UUID (36) and
    /// [`generate`](Self::generate)'s output (43) are well above it.
    pub const MIN_LEN: usize = 16;

    /// The longest token accepted, in bytes; it travels in every callback's headers.
    pub const MAX_LEN: usize = 1024;

    /// Wraps a token read from the environment or configuration.
    ///
    /// The token must be printable ASCII without spaces (it is sent as an HTTP bearer token) and
    /// between [`MIN_LEN`](Self::MIN_LEN) and [`MAX_LEN`](Self::MAX_LEN) bytes long.
    pub fn new(secret: String) -> Result<Self, TokenFormatError> {
        if secret.is_empty() {
            return Err(TokenFormatError::Empty);
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenFormatError::InvalidCharacter);
        }
        match secret.len() {
            len if len < Self::MIN_LEN => Err(TokenFormatError::TooShort { len }),
            len if len > Self::MAX_LEN => Err(TokenFormatError::TooLong { len }),
            _ => Ok(Self(secret)),
        }
    }

    /// Generates a fresh token: 256 random bits as 43 characters of unpadded base64url.
    #[must_use]
    pub fn generate() -> Self {
        // The thread RNG is a CSPRNG seeded from the OS, which is what a secret needs.
        let bytes: [u8; 32] = rand::random();
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Returns the raw secret.
    ///
    /// Only for handing the token to where it must go verbatim: the plugin container's
    /// environment or an `Authorization: Bearer` header. Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Tells whether `candidate` is this token, comparing in constant time.
    ///
    /// The comparison time does not depend on where the bytes differ, so a caller cannot guess
    /// the token byte by byte. It does leak whether the lengths differ, which is harmless: the
    /// length of a NanoFleet token is public (a UUID, or 43 characters for ours).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }

    fn keyed_mac(&self) -> HmacSha256 {
        // HMAC hashes long keys and pads short ones, so no key length is invalid.
        HmacSha256::new_from_slice(self.0.as_bytes()).expect("HMAC accepts keys of any length")
    }
}

impl fmt::Debug for InternalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InternalToken(<redacted>)")
    }
}

/// Why a string was refused as an [`InternalToken`]. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFormatError {
    /// The token is the empty string.
    #[error("the internal token is empty")]
    Empty,
    /// The token has a byte outside printable, non-space ASCII.
    #[error(
        "the internal token contains whitespace, a control character or non-ASCII text; \
         it must be printable ASCII, such as a UUID or base64url text"
    )]
    InvalidCharacter,
    /// The token is shorter than [`InternalToken::MIN_LEN`].
    #[error(
        "the internal token is {len} bytes long, too short to be a secret; it must be at least \
         16 bytes (NanoFleet issues 36-character UUIDs)"
    )]
    TooShort {
        /// The length of the refused token, in bytes.
        len: usize,
    },
    /// The token is longer than [`InternalToken::MAX_LEN`].
    #[error("the internal token is {len} bytes long; it must be at most 1024 bytes")]
    TooLong {
        /// The length of the refused token, in bytes.
        len: usize,
    },
}

/// Why an agent signature was refused. Never contains the token or the expected signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature is not `v1.` followed by 43 base64url characters.
    #[error(
        "the agent signature is malformed: expected `v1.` followed by 43 base64url characters, \
         as produced by the NanoFleet host"
    )]
    Malformed,
    /// The signature is well formed but was not made for this plugin, agent id and token.
    #[error(
        "the agent signature does not match the agent id: the id was altered, or the host \
         signed it with another internal token or for another plugin"
    )]
    Mismatch,
}

/// Signs an agent id for this plugin, giving the value of [`AGENT_SIGNATURE_PARAM`].
///
/// The exact format is in the [module docs](self). `plugin_id` is part of the message so a
/// signature cannot be replayed against another plugin even if two installs shared a token.
pub fn sign_agent(token: &InternalToken, plugin_id: &str, agent_id: &str) -> String {
    let tag = agent_mac(token, plugin_id, agent_id)
        .finalize()
        .into_bytes();
    format!("{FORMAT_PREFIX}{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Checks that `signature` is [`sign_agent`]'s output for this token, plugin and agent id.
///
/// The MAC comparison runs in constant time.
pub fn verify_agent(
    token: &InternalToken,
    plugin_id: &str,
    agent_id: &str,
    signature: &str,
) -> Result<(), SignatureError> {
    let tag = signature
        .strip_prefix(FORMAT_PREFIX)
        .and_then(decode_mac)
        .ok_or(SignatureError::Malformed)?;
    agent_mac(token, plugin_id, agent_id)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)
}

fn agent_mac(token: &InternalToken, plugin_id: &str, agent_id: &str) -> HmacSha256 {
    // NUL separators cannot be confused with the id bytes of a fixed plugin id: for one
    // plugin_id, distinct agent ids always give distinct messages.
    let mut mac = token.keyed_mac();
    mac.update(AGENT_DOMAIN);
    mac.update(&[0]);
    mac.update(plugin_id.as_bytes());
    mac.update(&[0]);
    mac.update(agent_id.as_bytes());
    mac
}

/// Decodes a base64url MAC, refusing anything that is not exactly one canonical encoding.
fn decode_mac(text: &str) -> Option<[u8; MAC_LEN]> {
    // Checking the length first bounds the work done on attacker-sized input.
    if text.len() != MAC_B64_LEN {
        return None;
    }
    URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()
}

/// What a verified UI token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiClaims {
    /// The plugin the token was minted for (always the verifier's own id once verified).
    pub plugin_id: String,
    /// The dashboard user the host minted the token for, if it said.
    pub subject: Option<String>,
    /// When the token was minted, in seconds since the Unix epoch.
    pub issued_at: u64,
    /// When the token stops being valid, in seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Why a UI token was refused. Never contains the internal token or a MAC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UiTokenError {
    /// The token is not in the `v1.<payload>.<mac>` format, is too long, or its payload is not
    /// valid (bad JSON, missing fields, a lifetime over an hour).
    #[error(
        "the UI token is malformed: expected `v1.<payload>.<mac>` as minted by the NanoFleet \
         host, at most 4096 bytes and valid for at most an hour"
    )]
    Malformed,
    /// The MAC does not match: the token was altered or minted with another internal token.
    #[error(
        "the UI token's signature is invalid: it was altered or minted with another internal \
         token; open the plugin again from the NanoFleet dashboard"
    )]
    BadSignature,
    /// The token is genuine but was minted for another plugin.
    #[error("the UI token was issued for plugin `{actual}`, not `{expected}`")]
    WrongPlugin {
        /// This plugin's id.
        expected: String,
        /// The plugin id in the token.
        actual: String,
    },
    /// The token's lifetime is over.
    #[error(
        "the UI token expired at {expired_at} (Unix time); reload the plugin page in the \
         NanoFleet dashboard to get a fresh one"
    )]
    Expired {
        /// The token's `exp`, in seconds since the Unix epoch.
        expired_at: u64,
    },
    /// The token claims to be minted more than 30 seconds in the future.
    #[error(
        "the UI token is dated {issued_at} (Unix time), in the future; check that the host's \
         and the plugin container's clocks agree"
    )]
    NotYetValid {
        /// The token's `iat`, in seconds since the Unix epoch.
        issued_at: u64,
    },
}

/// The payload of a UI token, as read back by [`verify_ui_token`].
#[derive(Deserialize)]
struct UiPayload {
    plg: String,
    iat: u64,
    exp: u64,
    #[serde(default)]
    sub: Option<String>,
    // Only there to make every token unique; read so a payload without one is refused.
    #[allow(dead_code)]
    nonce: String,
}

/// Mints a UI token (the value of [`UI_TOKEN_PARAM`]) for `plugin_id`, valid from `now` for
/// `ttl`.
///
/// `ttl` is rounded up to whole seconds and clamped to [`MAX_UI_TOKEN_TTL`]; a zero `ttl` gives
/// a token that is already expired. `subject` names the dashboard user, for the plugin's
/// information. Keep `plugin_id` and `subject` short: verifiers refuse tokens over
/// [`MAX_UI_TOKEN_LEN`] bytes.
pub fn mint_ui_token(
    token: &InternalToken,
    plugin_id: &str,
    subject: Option<&str>,
    ttl: Duration,
    now: SystemTime,
) -> String {
    let issued_at = unix_seconds(now);
    let payload = ui_payload_json(plugin_id, subject, issued_at, issued_at + ttl_seconds(ttl));
    let payload_b64 = URL_SAFE_NO_PAD.encode(payload);
    let tag = ui_mac(token, &payload_b64).finalize().into_bytes();
    format!(
        "{FORMAT_PREFIX}{payload_b64}.{}",
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// Verifies a UI token minted by [`mint_ui_token`] for this plugin and returns its claims.
///
/// The MAC is checked (in constant time) before the payload is even decoded, then the payload's
/// plugin id, lifetime and dates, as described in the [module docs](self).
pub fn verify_ui_token(
    token: &InternalToken,
    plugin_id: &str,
    ui_token: &str,
    now: SystemTime,
) -> Result<UiClaims, UiTokenError> {
    if ui_token.len() > MAX_UI_TOKEN_LEN {
        return Err(UiTokenError::Malformed);
    }
    let (payload_b64, mac_b64) = ui_token
        .strip_prefix(FORMAT_PREFIX)
        .and_then(|rest| rest.split_once('.'))
        .ok_or(UiTokenError::Malformed)?;
    let tag = decode_mac(mac_b64).ok_or(UiTokenError::Malformed)?;
    ui_mac(token, payload_b64)
        .verify_slice(&tag)
        .map_err(|_| UiTokenError::BadSignature)?;

    let claims = parse_ui_payload(payload_b64)?;
    if claims.plugin_id != plugin_id {
        return Err(UiTokenError::WrongPlugin {
            expected: plugin_id.to_owned(),
            actual: claims.plugin_id,
        });
    }
    check_ui_dates(&claims, unix_seconds(now))?;
    Ok(claims)
}

fn ui_mac(token: &InternalToken, payload_b64: &str) -> HmacSha256 {
    let mut mac = token.keyed_mac();
    mac.update(UI_DOMAIN);
    mac.update(&[0]);
    mac.update(payload_b64.as_bytes());
    mac
}

fn ui_payload_json(plugin_id: &str, subject: Option<&str>, iat: u64, exp: u64) -> String {
    // Built as a `Value` rather than through `Serialize` so there is no fallible step at all.
    let mut payload = Map::new();
    payload.insert("plg".into(), Value::from(plugin_id));
    payload.insert("iat".into(), Value::from(iat));
    payload.insert("exp".into(), Value::from(exp));
    if let Some(subject) = subject {
        payload.insert("sub".into(), Value::from(subject));
    }
    let nonce: [u8; 16] = rand::random();
    payload.insert("nonce".into(), Value::from(URL_SAFE_NO_PAD.encode(nonce)));
    Value::Object(payload).to_string()
}

fn parse_ui_payload(payload_b64: &str) -> Result<UiClaims, UiTokenError> {
    let json = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| UiTokenError::Malformed)?;
    let payload: UiPayload = serde_json::from_slice(&json).map_err(|_| UiTokenError::Malformed)?;
    let lifetime = payload
        .exp
        .checked_sub(payload.iat)
        .ok_or(UiTokenError::Malformed)?;
    if lifetime > MAX_UI_TOKEN_TTL.as_secs() {
        return Err(UiTokenError::Malformed);
    }
    Ok(UiClaims {
        plugin_id: payload.plg,
        subject: payload.sub,
        issued_at: payload.iat,
        expires_at: payload.exp,
    })
}

fn check_ui_dates(claims: &UiClaims, now: u64) -> Result<(), UiTokenError> {
    if claims.issued_at > now.saturating_add(UI_TOKEN_CLOCK_SKEW_SECS) {
        return Err(UiTokenError::NotYetValid {
            issued_at: claims.issued_at,
        });
    }
    if now >= claims.expires_at {
        return Err(UiTokenError::Expired {
            expired_at: claims.expires_at,
        });
    }
    Ok(())
}

/// Whole seconds of `ttl`, rounded up so a sub-second ttl is not silently zero, at most an hour.
fn ttl_seconds(ttl: Duration) -> u64 {
    let ttl = ttl.min(MAX_UI_TOKEN_TTL);
    ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)
}

/// Seconds since the Unix epoch; a clock set before 1970 reads as the epoch.
fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";
    const PLUGIN: &str = "notes";
    const AGENT: &str = "agent-42";
    /// Pinned once: changing it breaks every host and plugin already deployed.
    const KNOWN_SIGNATURE: &str = "v1.rEvlL1xTT0cEL_rWfircTpLdRSCLGhobGByYJ0QDoaQ";

    fn token() -> InternalToken {
        InternalToken::new(TOKEN.to_owned()).expect("valid test token")
    }

    fn other_token() -> InternalToken {
        InternalToken::new("fedcba9876543210fedcba9876543210".to_owned()).expect("valid token")
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// Changes one byte of an ASCII string to another ASCII byte.
    fn with_byte_changed(text: &str, index: usize) -> String {
        let mut bytes = text.as_bytes().to_vec();
        bytes[index] ^= 0x01;
        String::from_utf8(bytes).expect("still ASCII")
    }

    /// Changes one character of a base64 string to another base64url character.
    fn with_char_changed(text: &str, index: usize) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect()
    }

    #[test]
    fn token_accepts_uuid_and_generated_tokens() {
        assert!(InternalToken::new("3f2b8c1e-9a4d-4e5f-8b6a-1c2d3e4f5a6b".to_owned()).is_ok());
        let generated = InternalToken::generate();
        assert_eq!(generated.expose_secret().len(), 43);
        assert!(InternalToken::new(generated.expose_secret().to_owned()).is_ok());
        assert_ne!(
            generated.expose_secret(),
            InternalToken::generate().expose_secret()
        );
    }

    #[test]
    fn token_rejects_bad_forms() {
        let new = |s: &str| InternalToken::new(s.to_owned()).map(|_| ());
        assert_eq!(new(""), Err(TokenFormatError::Empty));
        assert_eq!(new("short"), Err(TokenFormatError::TooShort { len: 5 }));
        assert_eq!(
            new("0123456789abcde"),
            Err(TokenFormatError::TooShort { len: 15 })
        );
        assert!(new("0123456789abcdef").is_ok());
        for bad in [
            "0123456789 abcdef",
            "0123456789abcdef\n",
            "\t0123456789abcdef",
            "0123456789abcdef\u{7f}",
            "0123456789abcdefé",
        ] {
            assert_eq!(new(bad), Err(TokenFormatError::InvalidCharacter), "{bad:?}");
        }
        assert_eq!(
            new(&"a".repeat(1025)),
            Err(TokenFormatError::TooLong { len: 1025 })
        );
    }

    #[test]
    fn token_errors_and_debug_never_show_the_secret() {
        let secret = "s3cr3t-s3cr3t-s3cr3t";
        let token = InternalToken::new(secret.to_owned()).expect("valid");
        assert_eq!(format!("{token:?}"), "InternalToken(<redacted>)");
        assert!(!format!("{token:#?}").contains(secret));
        let err = InternalToken::new(format!("{secret} x")).expect_err("has a space");
        assert!(!err.to_string().contains(secret));
    }

    #[test]
    fn token_matches_only_itself() {
        let token = token();
        assert!(token.matches(TOKEN.as_bytes()));
        assert!(!token.matches(b""));
        assert!(!token.matches(&TOKEN.as_bytes()[1..]));
        assert!(!token.matches(with_byte_changed(TOKEN, 31).as_bytes()));
        assert!(!token.matches(format!("{TOKEN}x").as_bytes()));
    }

    #[test]
    fn agent_signature_roundtrip() {
        let signature = sign_agent(&token(), PLUGIN, AGENT);
        assert!(signature.starts_with("v1."));
        assert_eq!(signature.len(), 3 + 43);
        assert_eq!(verify_agent(&token(), PLUGIN, AGENT, &signature), Ok(()));
    }

    #[test]
    fn agent_signature_known_answer() {
        // Recomputed from the format spec with hmac directly, independent of `agent_mac`.
        let mut mac = HmacSha256::new_from_slice(TOKEN.as_bytes()).expect("any key length");
        mac.update(b"nanofleet-agent-v1\0notes\0agent-42");
        let expected = format!("v1.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));

        assert_eq!(sign_agent(&token(), PLUGIN, AGENT), expected);
        assert_eq!(expected, KNOWN_SIGNATURE);
    }

    #[test]
    fn agent_signature_rejects_any_single_byte_change() {
        let token = token();
        let signature = sign_agent(&token, PLUGIN, AGENT);
        for i in 0..PLUGIN.len() {
            let plugin = with_byte_changed(PLUGIN, i);
            assert_eq!(
                verify_agent(&token, &plugin, AGENT, &signature),
                Err(SignatureError::Mismatch)
            );
        }
        for i in 0..AGENT.len() {
            let agent = with_byte_changed(AGENT, i);
            assert_eq!(
                verify_agent(&token, PLUGIN, &agent, &signature),
                Err(SignatureError::Mismatch)
            );
        }
        for i in 0..signature.len() {
            let tampered = if i < 3 {
                with_byte_changed(&signature, i)
            } else {
                with_char_changed(&signature, i)
            };
            assert!(
                verify_agent(&token, PLUGIN, AGENT, &tampered).is_err(),
                "change at {i} accepted"
            );
        }
    }

    #[test]
    fn agent_signature_from_another_token_fails() {
        let signature = sign_agent(&other_token(), PLUGIN, AGENT);
        assert_eq!(
            verify_agent(&token(), PLUGIN, AGENT, &signature),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn agent_signature_is_not_a_ui_mac() {
        // Same key, different domain prefix: the two formats never cross-verify.
        let signature = sign_agent(&token(), PLUGIN, AGENT);
        let forged = format!("v1.{AGENT}.{}", &signature[3..]);
        assert_eq!(
            verify_ui_token(&token(), PLUGIN, &forged, at(0)),
            Err(UiTokenError::BadSignature)
        );
    }

    #[test]
    fn agent_signature_malformed_inputs() {
        let token = token();
        let valid = sign_agent(&token, PLUGIN, AGENT);
        let body = &valid[3..];
        let huge = format!("v1.{}", "A".repeat(1 << 20));
        let cases = [
            String::new(),
            "v1.".to_owned(),
            body.to_owned(),
            format!("v2.{body}"),
            format!("V1.{body}"),
            format!("v1.{}", &body[..42]),
            format!("v1.{body}A"),
            format!("v1.{body}="),
            format!("v1.{}*", &body[..42]),
            format!("v1.{}+", &body[..42]),
            format!(" {valid}"),
            format!("v1.{}", "é".repeat(21)),
            huge,
        ];
        for case in &cases {
            assert_eq!(
                verify_agent(&token, PLUGIN, AGENT, case),
                Err(SignatureError::Malformed),
                "{case:.60?}"
            );
        }
    }

    #[test]
    fn agent_signature_rejects_non_canonical_base64() {
        let token = token();
        let valid = sign_agent(&token, PLUGIN, AGENT);
        // 32 bytes in 43 characters leave 2 spare bits in the last one; setting them gives a
        // string that decodes to the same bytes only with a lenient decoder.
        let last = valid.as_bytes()[valid.len() - 1];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let index = alphabet.iter().position(|&c| c == last).expect("base64url");
        let sloppy = alphabet[index | 0b11] as char;
        let tampered = format!("{}{sloppy}", &valid[..valid.len() - 1]);
        assert!(verify_agent(&token, PLUGIN, AGENT, &tampered).is_err());
    }

    #[test]
    fn signature_errors_never_show_secrets() {
        let token = token();
        let expected = sign_agent(&token, PLUGIN, AGENT);
        for err in [SignatureError::Malformed, SignatureError::Mismatch] {
            let message = err.to_string();
            assert!(!message.contains(TOKEN));
            assert!(!message.contains(&expected[3..]));
        }
    }

    #[test]
    fn ui_token_roundtrip() {
        let token = token();
        let ui = mint_ui_token(
            &token,
            PLUGIN,
            Some("alice"),
            DEFAULT_UI_TOKEN_TTL,
            at(1_000),
        );
        assert!(ui.starts_with("v1."));
        let claims = verify_ui_token(&token, PLUGIN, &ui, at(1_010)).expect("valid");
        assert_eq!(
            claims,
            UiClaims {
                plugin_id: PLUGIN.to_owned(),
                subject: Some("alice".to_owned()),
                issued_at: 1_000,
                expires_at: 1_300,
            }
        );
        let anonymous = mint_ui_token(&token, PLUGIN, None, DEFAULT_UI_TOKEN_TTL, at(1_000));
        let claims = verify_ui_token(&token, PLUGIN, &anonymous, at(1_000)).expect("valid");
        assert_eq!(claims.subject, None);
    }

    #[test]
    fn ui_tokens_are_unique() {
        let token = token();
        let a = mint_ui_token(&token, PLUGIN, None, DEFAULT_UI_TOKEN_TTL, at(1_000));
        let b = mint_ui_token(&token, PLUGIN, None, DEFAULT_UI_TOKEN_TTL, at(1_000));
        assert_ne!(a, b);
    }

    #[test]
    fn ui_token_expires_exactly_at_exp() {
        let token = token();
        let ui = mint_ui_token(&token, PLUGIN, None, Duration::from_secs(60), at(1_000));
        assert!(verify_ui_token(&token, PLUGIN, &ui, at(1_059)).is_ok());
        assert_eq!(
            verify_ui_token(&token, PLUGIN, &ui, at(1_060)),
            Err(UiTokenError::Expired { expired_at: 1_060 })
        );
        assert_eq!(
            verify_ui_token(&token, PLUGIN, &ui, at(99_999)),
            Err(UiTokenError::Expired { expired_at: 1_060 })
        );
    }

    #[test]
    fn ui_token_tolerates_30s_of_clock_skew() {
        let token = token();
        let ui = mint_ui_token(&token, PLUGIN, None, DEFAULT_UI_TOKEN_TTL, at(1_000));
        assert!(verify_ui_token(&token, PLUGIN, &ui, at(970)).is_ok());
        assert_eq!(
            verify_ui_token(&token, PLUGIN, &ui, at(969)),
            Err(UiTokenError::NotYetValid { issued_at: 1_000 })
        );
    }

    #[test]
    fn ui_token_for_another_plugin_is_refused() {
        let token = token();
        let ui = mint_ui_token(&token, "chat", None, DEFAULT_UI_TOKEN_TTL, at(1_000));
        assert_eq!(
            verify_ui_token(&token, PLUGIN, &ui, at(1_000)),
            Err(UiTokenError::WrongPlugin {
                expected: PLUGIN.to_owned(),
                actual: "chat".to_owned(),
            })
        );
    }

    #[test]
    fn ui_token_with_another_key_is_refused() {
        let ui = mint_ui_token(
            &other_token(),
            PLUGIN,
            None,
            DEFAULT_UI_TOKEN_TTL,
            at(1_000),
        );
        assert_eq!(
            verify_ui_token(&token(), PLUGIN, &ui, at(1_000)),
            Err(UiTokenError::BadSignature)
        );
    }

    #[test]
    fn ui_token_with_tampered_payload_is_refused() {
        let token = token();
        let ui = mint_ui_token(&token, PLUGIN, None, DEFAULT_UI_TOKEN_TTL, at(1_000));
        let (payload_b64, mac_b64) = ui[3..].split_once('.').expect("two parts");
        let mut payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload_b64).expect("base64"))
                .expect("json");
        payload["exp"] = Value::from(1_000 + 3_600);
        let forged_payload = URL_SAFE_NO_PAD.encode(payload.to_string());
        let forged = format!("v1.{forged_payload}.{mac_b64}");
        assert_eq!(
            verify_ui_token(&token, PLUGIN, &forged, at(2_000)),
            Err(UiTokenError::BadSignature)
        );
    }

    #[test]
    fn ui_token_truncated_or_garbled_is_refused() {
        let token = token();
        let ui = mint_ui_token(&token, PLUGIN, None, DEFAULT_UI_TOKEN_TTL, at(1_000));
        for len in 0..ui.len() {
            assert!(
                verify_ui_token(&token, PLUGIN, &ui[..len], at(1_000)).is_err(),
                "prefix of {len} bytes accepted"
            );
        }
        for case in [
            String::new(),
            "v1.".to_owned(),
            "v1..".to_owned(),
            ui[3..].to_owned(),
            format!("v2.{}", &ui[3..]),
            format!("{ui}.extra"),
            format!("{ui}A"),
            format!("v1.{}", "A".repeat(MAX_UI_TOKEN_LEN)),
            "v1.é.é".to_owned(),
        ] {
            assert_eq!(
                verify_ui_token(&token, PLUGIN, &case, at(1_000)),
                Err(UiTokenError::Malformed),
                "{case:.60?}"
            );
        }
    }

    /// Mints a token around an arbitrary payload, as a compromised or buggy host could.
    fn mint_raw(token: &InternalToken, payload: &str) -> String {
        let payload_b64 = URL_SAFE_NO_PAD.encode(payload);
        let tag = ui_mac(token, &payload_b64).finalize().into_bytes();
        format!("v1.{payload_b64}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    #[test]
    fn ui_token_with_bad_payload_is_malformed() {
        let token = token();
        for payload in [
            "not json",
            "[]",
            r#"{"plg":"notes","iat":1000,"exp":1300}"#,
            r#"{"plg":"notes","iat":1000,"nonce":"x"}"#,
            r#"{"plg":"notes","iat":"1000","exp":1300,"nonce":"x"}"#,
            r#"{"plg":"notes","iat":1000,"exp":999,"nonce":"x"}"#,
            r#"{"plg":"notes","iat":1000,"exp":4601,"nonce":"x"}"#,
            r#"{"plg":"notes","iat":-1,"exp":300,"nonce":"x"}"#,
        ] {
            assert_eq!(
                verify_ui_token(&token, PLUGIN, &mint_raw(&token, payload), at(1_000)),
                Err(UiTokenError::Malformed),
                "{payload}"
            );
        }
        let lenient = r#"{"plg":"notes","iat":1000,"exp":4600,"sub":null,"nonce":"x","new":1}"#;
        assert!(verify_ui_token(&token, PLUGIN, &mint_raw(&token, lenient), at(1_000)).is_ok());
    }

    #[test]
    fn mint_clamps_and_rounds_ttl() {
        let token = token();
        let long = mint_ui_token(&token, PLUGIN, None, Duration::from_secs(86_400), at(0));
        let claims = verify_ui_token(&token, PLUGIN, &long, at(0)).expect("clamped, valid");
        assert_eq!(claims.expires_at, 3_600);
        let short = mint_ui_token(&token, PLUGIN, None, Duration::from_millis(1), at(0));
        let claims = verify_ui_token(&token, PLUGIN, &short, at(0)).expect("rounded up");
        assert_eq!(claims.expires_at, 1);
        let zero = mint_ui_token(&token, PLUGIN, None, Duration::ZERO, at(0));
        assert!(matches!(
            verify_ui_token(&token, PLUGIN, &zero, at(0)),
            Err(UiTokenError::Expired { .. })
        ));
    }

    #[test]
    fn ui_token_errors_never_show_secrets() {
        let token = token();
        let ui = mint_ui_token(&token, PLUGIN, None, DEFAULT_UI_TOKEN_TTL, at(1_000));
        let mac = ui.rsplit_once('.').expect("mac").1;
        let errors = [
            verify_ui_token(&token, PLUGIN, &ui, at(5_000)),
            verify_ui_token(&token, "chat", &ui, at(1_000)),
            verify_ui_token(&token, PLUGIN, &ui, at(0)),
            verify_ui_token(&other_token(), PLUGIN, &ui, at(1_000)),
            verify_ui_token(&token, PLUGIN, &ui[1..], at(1_000)),
        ];
        for err in errors {
            let message = err.expect_err("refused").to_string();
            assert!(!message.contains(TOKEN), "{message}");
            assert!(!message.contains(mac), "{message}");
        }
    }

    #[test]
    fn clock_before_epoch_reads_as_epoch() {
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(unix_seconds(before), 0);
    }
}
