//! The manifest rules as pure functions on single values, one definition shared by
//! [`Manifest::validate`](super::Manifest::validate), the `#[plugin]` proc macro (which points
//! each violation at the token it is about) and the host.

use std::fmt;

pub use crate::env::{INJECTED as INJECTED_ENV_VARS, RESERVED_PREFIX as RESERVED_ENV_PREFIX};

/// The longest plugin name the host accepts.
pub const MAX_PLUGIN_NAME_LEN: usize = 64;

/// The longest MCP tool name accepted.
pub const MAX_TOOL_NAME_LEN: usize = 64;

/// Names the host uses for itself, which no plugin may take: `nanofleet` is the host's own
/// entry in an agent's client config (its MCP server), `nanofleet-host` that server's name
/// and the sender of its messages to agents, the others name the host's pages and routes
/// (`/api`, `/mcp`, `/ui`, the dashboard) or read as the host in listings and logs.
pub const RESERVED_PLUGIN_NAMES: [&str; 10] = [
    "nanofleet",
    "nanofleet-host",
    "host",
    "api",
    "mcp",
    "ui",
    "dashboard",
    "admin",
    "system",
    "internal",
];

/// The longest `icon` accepted, in bytes: a `data:` URI of a small SVG or PNG fits, a photo
/// does not (the manifest travels in every listing).
pub const MAX_ICON_LEN: usize = 64 * 1024;

/// The lowest port a plugin may listen on: below it the container would need root.
pub const MIN_PORT: u32 = 1024;

/// The highest TCP port.
pub const MAX_PORT: u32 = 65535;

pub use crate::image::{ImageRef, check_image_ref, parse_image_ref};

/// Why a value breaks a rule, and how to fix it when that can be said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleViolation {
    /// What is wrong, as one lowercase sentence without a trailing period.
    pub message: String,
    /// How to fix it, when a fix can be suggested.
    pub hint: Option<String>,
}

impl RuleViolation {
    /// A violation without a hint.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    /// Attaches a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for RuleViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleViolation {}

// ---------------------------------------------------------------------------------------------
// Plugin name
// ---------------------------------------------------------------------------------------------

/// Checks a plugin name: non-empty, `^[a-z0-9-]+$`, at most 64 characters, no leading or
/// trailing `-`. Reports the first problem; see [`plugin_name_violations`] for all of them.
pub fn check_plugin_name(name: &str) -> Result<(), RuleViolation> {
    match plugin_name_violations(name).into_iter().next() {
        Some(violation) => Err(violation),
        None => Ok(()),
    }
}

/// Every way a plugin name breaks the rules of [`check_plugin_name`].
pub fn plugin_name_violations(name: &str) -> Vec<RuleViolation> {
    if name.is_empty() {
        return vec![
            RuleViolation::new("the plugin name is empty")
                .with_hint("use lowercase letters, digits and `-`, e.g. `my-plugin`"),
        ];
    }
    let hint = name_hint(name);
    let mut violations = Vec::new();
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        violations.push(
            RuleViolation::new(format!(
                "the plugin name `{name}` contains {}: only lowercase letters, digits and `-` \
                 are allowed",
                describe_char(bad)
            ))
            .with_hint(hint.clone()),
        );
    }
    let len = name.chars().count();
    if len > MAX_PLUGIN_NAME_LEN {
        violations.push(
            RuleViolation::new(format!(
                "the plugin name is {len} characters long, more than {MAX_PLUGIN_NAME_LEN}"
            ))
            .with_hint(hint.clone()),
        );
    }
    if name.starts_with('-') || name.ends_with('-') {
        violations.push(
            RuleViolation::new(format!("the plugin name `{name}` starts or ends with `-`"))
                .with_hint(hint),
        );
    }
    if RESERVED_PLUGIN_NAMES.contains(&name) {
        violations.push(
            RuleViolation::new(format!(
                "the plugin name `{name}` is reserved: the host uses it for itself"
            ))
            .with_hint(format!("choose another, e.g. `{name}-plugin`")),
        );
    }
    violations
}

/// A hint for a bad plugin name: the nearest valid name when one can be derived.
fn name_hint(name: &str) -> String {
    let suggestion = sanitize_plugin_name(name);
    if suggestion.is_empty() || suggestion == name {
        "use lowercase letters, digits and `-`, e.g. `my-plugin`".to_owned()
    } else {
        format!("try `{suggestion}`")
    }
}

/// Lowercases `name`, turns every run of other characters into one `-`, trims `-` from both
/// ends and truncates to the maximum length. May return an empty string.
fn sanitize_plugin_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    // Only ASCII was pushed, so byte truncation cannot split a character.
    out.truncate(MAX_PLUGIN_NAME_LEN);
    out.trim_end_matches('-').to_owned()
}

/// The default route of a plugin's sidebar page: `/plugins/{name}/ui`.
pub fn default_sidebar_route(name: &str) -> String {
    format!("/plugins/{name}/ui")
}

// ---------------------------------------------------------------------------------------------
// Version
// ---------------------------------------------------------------------------------------------

/// Checks that `version` is a semantic version such as `1.2.3` or `0.1.0-beta.1`.
pub fn check_version(version: &str) -> Result<(), RuleViolation> {
    let Err(err) = semver::Version::parse(version) else {
        return Ok(());
    };
    let violation = RuleViolation::new(format!("`{version}` is not a semantic version: {err}"));
    Err(match version_suggestion(version) {
        Some(fixed) => violation.with_hint(format!("try `{fixed}`")),
        None => violation.with_hint("use MAJOR.MINOR.PATCH, e.g. `0.1.0`"),
    })
}

/// Repairs the two usual mistakes, a `v` prefix and missing components, when that is enough.
fn version_suggestion(version: &str) -> Option<String> {
    let trimmed = version.trim();
    let bare = trimmed.strip_prefix(['v', 'V']).unwrap_or(trimmed);
    // Padding `1.0-beta` to `1.0-beta.0` would change the pre-release, not fix the core.
    let candidate = if bare.contains(['-', '+']) {
        bare.to_owned()
    } else {
        match bare.matches('.').count() {
            0 => format!("{bare}.0.0"),
            1 => format!("{bare}.0"),
            _ => bare.to_owned(),
        }
    };
    (candidate != version && semver::Version::parse(&candidate).is_ok()).then_some(candidate)
}

/// Checks `minHostVersion`: a semver requirement such as `>=0.4` or `^1.2`.
pub fn check_host_version_requirement(requirement: &str) -> Result<(), RuleViolation> {
    parse_host_version_requirement(requirement).map(drop)
}

fn parse_host_version_requirement(requirement: &str) -> Result<semver::VersionReq, RuleViolation> {
    semver::VersionReq::parse(requirement).map_err(|err| {
        RuleViolation::new(format!(
            "`{requirement}` is not a version requirement: {err}"
        ))
        .with_hint("e.g. \">=0.4\" for host 0.4.0 and later")
    })
}

/// Whether the host version `host` satisfies the plugin's `minHostVersion`.
///
/// # Errors
///
/// A sentence naming both versions when it does not, or when `requirement` does not parse.
pub fn check_host_version(requirement: &str, host: &semver::Version) -> Result<(), RuleViolation> {
    let parsed = parse_host_version_requirement(requirement)?;
    if parsed.matches(host) {
        return Ok(());
    }
    Err(RuleViolation::new(format!(
        "the plugin needs host version {requirement}, and this host is {host}"
    ))
    .with_hint("upgrade the host, or install an older version of the plugin"))
}

/// Checks a plugin's `icon`: an `https://` URL or a `data:image/…` URI, at most
/// [`MAX_ICON_LEN`] bytes.
pub fn check_icon(icon: &str) -> Result<(), RuleViolation> {
    let hint = "use an https:// URL or a data:image/svg+xml;base64,… URI";
    if icon.len() > MAX_ICON_LEN {
        return Err(RuleViolation::new(format!(
            "the icon is {} bytes, more than {MAX_ICON_LEN}",
            icon.len()
        ))
        .with_hint("link a URL instead of embedding a large image"));
    }
    if let Some(rest) = icon.strip_prefix("data:") {
        if !rest.starts_with("image/") || !rest.contains(',') {
            return Err(RuleViolation::new(
                "the icon's data URI is not an image (`data:image/…,…`)",
            )
            .with_hint(hint));
        }
        return Ok(());
    }
    let Some(rest) = icon.strip_prefix("https://") else {
        let scheme = icon
            .split_once(':')
            .map_or("no scheme", |(scheme, _)| scheme);
        return Err(RuleViolation::new(format!(
            "the icon `{icon}` is not an https URL ({scheme}): dashboards load icons over https only"
        ))
        .with_hint(hint));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || icon.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            RuleViolation::new(format!("the icon `{icon}` is not a URL with a host"))
                .with_hint(hint),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/// Checks that `port` is within 1024–65535.
///
/// Takes a `u32` so that callers holding a literal such as `70000` can report it as written.
pub fn check_port(port: u32) -> Result<(), RuleViolation> {
    if (MIN_PORT..=MAX_PORT).contains(&port) {
        return Ok(());
    }
    let violation = RuleViolation::new(format!("port {port} is outside {MIN_PORT}–{MAX_PORT}"));
    Err(if port < MIN_PORT {
        violation.with_hint("ports below 1024 need root inside the container; use one such as 8080")
    } else {
        violation.with_hint("the highest TCP port is 65535; use one such as 8080")
    })
}

// ---------------------------------------------------------------------------------------------
// Environment variables
// ---------------------------------------------------------------------------------------------

/// Checks that `name` is a portable environment variable name: `^[A-Za-z_][A-Za-z0-9_]*$`.
pub fn check_env_var_name(name: &str) -> Result<(), RuleViolation> {
    if name.is_empty() {
        return Err(RuleViolation::new("the environment variable name is empty")
            .with_hint("use letters, digits and `_`, e.g. `OPENAI_API_KEY`"));
    }
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if first_ok && rest_ok {
        return Ok(());
    }
    let violation = RuleViolation::new(format!(
        "`{name}` is not a valid environment variable name: use letters, digits and `_`, not \
         starting with a digit"
    ));
    let suggestion = sanitize_env_var_name(name);
    Err(if suggestion.is_empty() {
        violation.with_hint("e.g. `OPENAI_API_KEY`")
    } else {
        violation.with_hint(format!("try `{suggestion}`"))
    })
}

/// Checks that `name` is not in the `NANO_` namespace the host injects into every container.
pub fn check_env_var_not_reserved(name: &str) -> Result<(), RuleViolation> {
    if !name.starts_with(RESERVED_ENV_PREFIX) {
        return Ok(());
    }
    Err(RuleViolation::new(format!(
        "`{name}` is reserved: names starting with `{RESERVED_ENV_PREFIX}` belong to the host"
    ))
    .with_hint(format!(
        "the host injects {} into every plugin; do not list them",
        INJECTED_ENV_VARS.join(", ")
    )))
}

/// Uppercases `name` and maps every other character to `_`, prefixing `_` before a digit.
fn sanitize_env_var_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out.chars().all(|c| c == '_') {
        out.clear();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Tool names
// ---------------------------------------------------------------------------------------------

/// Checks an MCP tool name: `^[a-z][a-z0-9_]*$`, at most 64 characters.
pub fn check_tool_name(name: &str) -> Result<(), RuleViolation> {
    if name.is_empty() {
        return Err(RuleViolation::new("the tool name is empty")
            .with_hint("use lowercase letters, digits and `_`, e.g. `add_task`"));
    }
    let len = name.chars().count();
    let starts_ok = name.starts_with(|c: char| c.is_ascii_lowercase());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let violation = if !starts_ok || !rest_ok {
        RuleViolation::new(format!(
            "the tool name `{name}` must start with a lowercase letter and contain only \
             lowercase letters, digits and `_`"
        ))
    } else if len > MAX_TOOL_NAME_LEN {
        RuleViolation::new(format!(
            "the tool name is {len} characters long, more than {MAX_TOOL_NAME_LEN}"
        ))
    } else {
        return Ok(());
    };
    let suggestion = sanitize_tool_name(name);
    Err(if suggestion.is_empty() || suggestion == name {
        violation.with_hint("use lowercase letters, digits and `_`, e.g. `add_task`")
    } else {
        violation.with_hint(format!("try `{suggestion}`"))
    })
}

/// Snake-cases `name` as well as can be done without knowing word boundaries: lowercases,
/// maps other characters to `_`, drops leading non-letters, truncates.
fn sanitize_tool_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() && !out.ends_with('_') {
            // `addTask` becomes `add_task`, the usual intent.
            out.push('_');
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let start = out
        .find(|c: char| c.is_ascii_lowercase())
        .unwrap_or(out.len());
    let mut out = out.split_off(start);
    // Only ASCII was pushed, so byte truncation cannot split a character.
    out.truncate(MAX_TOOL_NAME_LEN);
    out.trim_end_matches('_').to_owned()
}

// ---------------------------------------------------------------------------------------------
// Did you mean
// ---------------------------------------------------------------------------------------------

/// The candidate closest to `word`, if one is close enough to be a plausible typo.
///
/// Case, `_` and `-` are ignored, so `mcp_port`, `mcpport` and `MCP-PORT` all find `mcpPort`;
/// beyond that up to a third of the word's length may differ (at least one edit).
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = normalize_for_match(word);
    candidates
        .iter()
        .filter_map(|&candidate| {
            let normalized = normalize_for_match(candidate);
            let budget = (word.len().max(normalized.len()) / 3).max(1);
            let distance = bounded_edit_distance(&word, &normalized, budget)?;
            Some((distance, candidate))
        })
        // `min_by_key` keeps the first of equals, so earlier candidates win ties.
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn normalize_for_match(s: &str) -> Vec<char> {
    s.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The edit distance between `a` and `b`, if it is at most `budget`.
///
/// Optimal string alignment: a Levenshtein distance that also counts swapping two neighbours
/// as one edit, the most common typo (`nmae`).
fn bounded_edit_distance(a: &[char], b: &[char], budget: usize) -> Option<usize> {
    // Also keeps a huge unknown key from costing `len × len` work.
    if a.len().abs_diff(b.len()) > budget {
        return None;
    }
    let width = b.len() + 1;
    let mut before = vec![0; width];
    let mut previous: Vec<usize> = (0..width).collect();
    let mut current = vec![0; width];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let substitution = previous[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut distance = substitution.min(previous[j] + 1).min(current[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                distance = distance.min(before[j - 2] + 1);
            }
            current[j] = distance;
        }
        // Rotate the rows: `before` ← `previous` ← `current`; the oldest is reused.
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous.last().copied().filter(|d| *d <= budget)
}

/// Names a character for a message, spelling out the invisible ones.
pub(crate) fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\t' => "a tab".to_owned(),
        '\n' | '\r' => "a line break".to_owned(),
        c if c.is_whitespace() || c.is_control() => format!("the character U+{:04X}", u32::from(c)),
        c => format!("`{c}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint_of<T>(result: Result<T, RuleViolation>) -> Option<String> {
        result.err().and_then(|v| v.hint)
    }

    #[test]
    fn plugin_names() {
        for ok in ["kanban", "a", "my-plugin-2", "0day", &"a".repeat(64)] {
            assert_eq!(check_plugin_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Kanban",
            "my_plugin",
            "-a",
            "a-",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            assert!(check_plugin_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plugin_name_reports_every_problem() {
        let name = format!("-{}", "A".repeat(70));
        assert_eq!(plugin_name_violations(&name).len(), 3);
    }

    #[test]
    fn plugin_name_hint_suggests_a_sanitised_name() {
        assert_eq!(
            hint_of(check_plugin_name("My Plugin!")).as_deref(),
            Some("try `my-plugin`")
        );
        assert_eq!(
            hint_of(check_plugin_name("--x--")).as_deref(),
            Some("try `x`")
        );
        let generic = hint_of(check_plugin_name("___")).unwrap_or_default();
        assert!(generic.contains("e.g. `my-plugin`"), "{generic}");
    }

    #[test]
    fn versions() {
        for ok in ["0.1.0", "1.2.3-beta.1", "1.0.0+build.5"] {
            assert_eq!(check_version(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            hint_of(check_version("v1.2.3")).as_deref(),
            Some("try `1.2.3`")
        );
        assert_eq!(
            hint_of(check_version("1.0")).as_deref(),
            Some("try `1.0.0`")
        );
        assert_eq!(hint_of(check_version("2")).as_deref(), Some("try `2.0.0`"));
        assert!(hint_of(check_version("latest")).is_some_and(|h| h.contains("MAJOR")));
    }

    #[test]
    fn ports() {
        assert!(check_port(1024).is_ok());
        assert!(check_port(65535).is_ok());
        for bad in [0, 80, 1023, 65536, 70000] {
            assert!(check_port(bad).is_err(), "{bad}");
        }
        assert!(check_port(70000).is_err_and(|v| v.message.contains("70000")));
    }

    #[test]
    fn env_var_names() {
        for ok in ["A", "_", "OPENAI_API_KEY", "lower_ok", "_1"] {
            assert_eq!(check_env_var_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "É"] {
            assert!(check_env_var_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            hint_of(check_env_var_name("api-key")).as_deref(),
            Some("try `API_KEY`")
        );
        assert_eq!(
            hint_of(check_env_var_name("1X")).as_deref(),
            Some("try `_1X`")
        );
    }

    #[test]
    fn reserved_env_vars() {
        assert!(check_env_var_not_reserved("NANO_API_URL").is_err());
        assert!(check_env_var_not_reserved("NANO_ANYTHING").is_err());
        assert!(check_env_var_not_reserved("NANOFLEET_X").is_ok());
        assert!(check_env_var_not_reserved("nano_x").is_ok());
        let hint = hint_of(check_env_var_not_reserved("NANO_X")).unwrap_or_default();
        for injected in INJECTED_ENV_VARS {
            assert!(hint.contains(injected), "{hint}");
        }
    }

    #[test]
    fn tool_names() {
        for ok in ["add", "add_task", "a1", &"a".repeat(64)] {
            assert_eq!(check_tool_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Add",
            "1add",
            "_add",
            "add-task",
            "add task",
            &"a".repeat(65),
        ] {
            assert!(check_tool_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            hint_of(check_tool_name("addTask")).as_deref(),
            Some("try `add_task`")
        );
        assert_eq!(
            hint_of(check_tool_name("add-task")).as_deref(),
            Some("try `add_task`")
        );
    }

    #[test]
    fn closest_finds_plausible_typos_only() {
        let fields = [
            "name",
            "mcpPort",
            "uiPort",
            "requiredEnvVars",
            "description",
        ];
        assert_eq!(closest("mcp_port", &fields), Some("mcpPort"));
        assert_eq!(closest("mcpport", &fields), Some("mcpPort"));
        assert_eq!(closest("uiport", &fields), Some("uiPort"));
        assert_eq!(closest("descripton", &fields), Some("description"));
        assert_eq!(
            closest("required_env_vars", &fields),
            Some("requiredEnvVars")
        );
        assert_eq!(closest("nmae", &fields), Some("name"));
        assert_eq!(closest("color", &fields), None);
        assert_eq!(closest("", &fields), None);
        assert_eq!(closest(&"x".repeat(100_000), &fields), None);
    }

    #[test]
    fn default_route() {
        assert_eq!(default_sidebar_route("kanban"), "/plugins/kanban/ui");
    }
}
