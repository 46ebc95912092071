//! What the NanoFleet host injects into the plugin container, read and checked in one go.
//!
//! The host sets [`NANO_API_URL`], [`NANO_INTERNAL_TOKEN`] and [`NANO_PLUGIN_ID`]. The
//! `NANOFLEET_*` variables are this SDK's own knobs for operators. Every one of these is
//! optional here; code that needs one asks with [`PluginEnv::require_internal_token`] and
//! friends, which explain what is missing.
//!
//! The plugin's own variables, the ones its manifest lists in `requiredEnvVars` (an API key,
//! say), are read too when the environment is read for a plugin ([`PluginEnv::from_env_for`],
//! which [`serve`](crate::serve) uses): each one that is unset is a problem, so a plugin does not
//! start without them. Tools read them with [`PluginEnv::var`] rather than `std::env::var`, so
//! that tests can supply them ([`crate::testing::TestClient::builder`]).
//!
//! [`PluginEnv::from_env`] reports every problem at once rather than the first, so a
//! misconfigured container is fixed in one round trip:
//!
//! ```
//! use nanofleet_sdk::env::PluginEnv;
//!
//! let err = PluginEnv::from_lookup(|name| match name {
//!     "NANO_API_URL" => Some("nanofleet-api:3000".into()),
//!     "NANOFLEET_MCP_ADDR" => Some("8080".into()),
//!     _ => None,
//! })
//! .unwrap_err();
//! assert_eq!(err.problems.len(), 2);
//! ```
//!
//! The value of [`NANO_INTERNAL_TOKEN`] never appears in an error; other values do, quoted,
//! because seeing the bad value is the quickest way to fix it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::env::VarError;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::identity::InternalToken;
use crate::manifest::Manifest;

use nanofleet_contracts::names::SECRETS_DIR;

pub use nanofleet_contracts::env::{
    NANO_API_URL, NANO_INTERNAL_TOKEN, NANO_PLUGIN_ID, NANOFLEET_ALLOWED_HOSTS, NANOFLEET_DATA_DIR,
    NANOFLEET_MCP_ADDR, NANOFLEET_REQUIRE_AGENT_SIGNATURE, NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN,
    NANOFLEET_UI_ADDR,
};

/// Every variable the SDK reads for itself; any other is the plugin's own.
pub const SDK_VARIABLES: [&str; 9] = [
    NANO_API_URL,
    NANO_INTERNAL_TOKEN,
    NANO_PLUGIN_ID,
    NANOFLEET_REQUIRE_AGENT_SIGNATURE,
    NANOFLEET_DATA_DIR,
    NANOFLEET_MCP_ADDR,
    NANOFLEET_UI_ADDR,
    NANOFLEET_ALLOWED_HOSTS,
    NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN,
];

const PLUGIN_ID_MAX_LEN: usize = 255;
/// Longest stretch of a bad value quoted back in a message.
const QUOTE_MAX_CHARS: usize = 80;

/// The plugin's environment, validated. Unset (or empty) variables are `None`, `false` or empty.
#[derive(Debug, Clone, Default)]
pub struct PluginEnv {
    /// [`NANO_API_URL`]: an `http://` or `https://` URL without a trailing slash.
    pub api_url: Option<String>,
    /// [`NANO_INTERNAL_TOKEN`].
    pub internal_token: Option<InternalToken>,
    /// [`NANO_PLUGIN_ID`].
    pub plugin_id: Option<String>,
    /// [`NANOFLEET_REQUIRE_AGENT_SIGNATURE`]; when `true`, [`internal_token`](Self::internal_token)
    /// is guaranteed to be set.
    pub require_agent_signature: bool,
    /// [`NANOFLEET_DATA_DIR`].
    pub data_dir: Option<PathBuf>,
    /// [`NANOFLEET_MCP_ADDR`].
    pub mcp_addr: Option<SocketAddr>,
    /// [`NANOFLEET_UI_ADDR`].
    pub ui_addr: Option<SocketAddr>,
    /// [`NANOFLEET_ALLOWED_HOSTS`], lowercased: `host` or `host:port` entries, or just `"*"`.
    pub allowed_hosts: Vec<String>,
    /// [`NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN`].
    pub accept_unverified_ui_token: bool,
    /// The plugin's own variables by name: those its manifest lists in `requiredEnvVars`, read
    /// by [`PluginEnv::from_env_for`], plus any set with [`PluginEnv::with_var`]. Read them with
    /// [`PluginEnv::var`].
    pub vars: BTreeMap<String, String>,
}

impl PluginEnv {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_source(read_process_env)
    }

    /// Reads variables through `lookup` instead of the process environment, which is how tests
    /// and embedders supply them. `lookup` returns `None` for an unset variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        Self::from_source(|name| lookup(name).map_or(Raw::Unset, Raw::Value))
    }

    /// Reads the process environment for the plugin described by `manifest`: the variables
    /// above, and every variable the manifest lists in `requiredEnvVars`, each of which must be
    /// set (and not empty). Every problem is reported at once, missing variables included.
    pub fn from_env_for(manifest: &Manifest) -> Result<Self, EnvError> {
        Self::from_source_for(read_process_env, manifest)
    }

    /// [`PluginEnv::from_env_for`], reading variables through `lookup`.
    pub fn from_lookup_for(
        manifest: &Manifest,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, EnvError> {
        Self::from_source_for(|name| lookup(name).map_or(Raw::Unset, Raw::Value), manifest)
    }

    fn from_source_for(
        source: impl Fn(&str) -> Raw,
        manifest: &Manifest,
    ) -> Result<Self, EnvError> {
        let (env, mut problems) = Self::read(&source);
        let mut env = env;
        // The configuration's variables (`NANO_CONFIG_*`): each value is checked against its
        // setting here, so that every bad or missing one is named with the other problems.
        for (key, setting) in manifest.config.iter() {
            let name = crate::config::env_var(key);
            match source(&name) {
                Raw::Value(value) => {
                    if let Err(reason) = setting.parse_text(&value) {
                        problems.push(EnvProblem::new(
                            name.clone(),
                            format!("(setting `{key}`) {reason}"),
                        ));
                    }
                    env.vars.insert(name, value);
                }
                Raw::Unset if setting.required && setting.default.is_none() => {
                    problems.push(EnvProblem::new(
                        name,
                        format!(
                            "is not set: the plugin's required setting `{key}` has no value;                              the NanoFleet host sets it from `nanofleet config set {} {key}=…`",
                            manifest.name
                        ),
                    ));
                }
                Raw::Unset => {}
                Raw::NotUnicode => problems.push(EnvProblem::new(name, "is not valid UTF-8")),
            }
        }
        for name in &manifest.required_env_vars {
            match source(name) {
                Raw::Value(value) if !value.is_empty() => {
                    env.vars.insert(name.clone(), value);
                }
                Raw::Value(_) | Raw::Unset => problems.push(missing_required(name)),
                Raw::NotUnicode => {
                    problems.push(EnvProblem::new(name.clone(), "is not valid UTF-8"))
                }
            }
        }
        EnvError::from_problems(problems).map_or(Ok(env), Err)
    }

    fn from_source(source: impl Fn(&str) -> Raw) -> Result<Self, EnvError> {
        let (env, problems) = Self::read(&source);
        EnvError::from_problems(problems).map_or(Ok(env), Err)
    }

    fn read(source: &impl Fn(&str) -> Raw) -> (Self, Vec<EnvProblem>) {
        let mut reader = Reader {
            source,
            problems: Vec::new(),
        };
        let env = Self {
            api_url: reader.parse(NANO_API_URL, parse_api_url),
            internal_token: reader.parse(NANO_INTERNAL_TOKEN, parse_internal_token),
            plugin_id: reader.parse(NANO_PLUGIN_ID, parse_plugin_id),
            require_agent_signature: reader
                .parse(NANOFLEET_REQUIRE_AGENT_SIGNATURE, parse_bool)
                .unwrap_or(false),
            data_dir: reader.parse(NANOFLEET_DATA_DIR, |v| Ok(PathBuf::from(v))),
            mcp_addr: reader.parse(NANOFLEET_MCP_ADDR, parse_socket_addr),
            ui_addr: reader.parse(NANOFLEET_UI_ADDR, parse_socket_addr),
            allowed_hosts: reader
                .parse(NANOFLEET_ALLOWED_HOSTS, parse_allowed_hosts)
                .unwrap_or_default(),
            accept_unverified_ui_token: reader
                .parse(NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN, parse_bool)
                .unwrap_or(false),
            vars: BTreeMap::new(),
        };
        // Only when the token is absent: a present but invalid one is already reported.
        if env.require_agent_signature && reader.is_unset(NANO_INTERNAL_TOKEN) {
            reader.problems.push(EnvProblem::new(
                NANO_INTERNAL_TOKEN,
                format!(
                    "is not set, but {NANOFLEET_REQUIRE_AGENT_SIGNATURE} is on: agent signatures \
                     are checked with the internal token; set {NANO_INTERNAL_TOKEN} (the \
                     NanoFleet host sets it in the plugin container) or turn the requirement off"
                ),
            ));
        }
        (env, reader.problems)
    }

    /// The plugin's own variable `name` (see [`vars`](Self::vars)), or `None` when it is not
    /// there.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The plugin's own variable `name`, or an error saying it is not set and how to set it.
    pub fn require_var(&self, name: &str) -> Result<&str, EnvError> {
        self.var(name)
            .ok_or_else(|| EnvError::single(missing_required(name)))
    }

    /// Sets the plugin's own variable `name` to `value`, as tests and embedders supply them.
    #[must_use = "`with_var` returns the changed environment"]
    pub fn with_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// The internal token, or an error explaining how to provide it.
    pub fn require_internal_token(&self) -> Result<&InternalToken, EnvError> {
        self.internal_token
            .as_ref()
            .ok_or_else(|| EnvError::single(missing_internal_token()))
    }

    /// The NanoFleet API's base URL, or an error explaining how to provide it.
    pub fn require_api_url(&self) -> Result<&str, EnvError> {
        self.api_url.as_deref().ok_or_else(|| {
            EnvError::single(EnvProblem::new(
                NANO_API_URL,
                "is not set: the NanoFleet host sets it in the plugin container \
                 (http://nanofleet-api:3000); set it yourself to run outside the host",
            ))
        })
    }

    /// The plugin's id, or an error explaining how to provide it.
    pub fn require_plugin_id(&self) -> Result<&str, EnvError> {
        self.plugin_id.as_deref().ok_or_else(|| {
            EnvError::single(EnvProblem::new(
                NANO_PLUGIN_ID,
                "is not set: the NanoFleet host sets it to the plugin's name; set it yourself \
                 to run outside the host",
            ))
        })
    }

    /// Whether [`allowed_hosts`](Self::allowed_hosts) is the `*` wildcard.
    pub fn allows_any_host(&self) -> bool {
        self.allowed_hosts.iter().any(|host| host == "*")
    }
}

/// Reads only [`NANO_INTERNAL_TOKEN`] from the process environment, for callers that need
/// nothing else and should not fail on unrelated variables.
pub(crate) fn internal_token_from_env() -> Result<InternalToken, EnvError> {
    let value = match read_process_env(NANO_INTERNAL_TOKEN) {
        Raw::Value(value) if !value.is_empty() => value,
        Raw::NotUnicode => return Err(EnvError::single(not_unicode(NANO_INTERNAL_TOKEN))),
        Raw::Value(_) | Raw::Unset => return Err(EnvError::single(missing_internal_token())),
    };
    parse_internal_token(&value)
        .map_err(|message| EnvError::single(EnvProblem::new(NANO_INTERNAL_TOKEN, message)))
}

fn missing_internal_token() -> EnvProblem {
    EnvProblem::new(
        NANO_INTERNAL_TOKEN,
        "is not set: the NanoFleet host sets it in the plugin container; set it yourself to run \
         outside the host",
    )
}

fn missing_required(name: &str) -> EnvProblem {
    EnvProblem::new(
        name.to_owned(),
        "is not set: the plugin's manifest lists it in requiredEnvVars, and the plugin does not \
         start without it; set it in the plugin's settings on the NanoFleet host, or in the \
         environment when running the plugin yourself",
    )
}

fn not_unicode(name: &'static str) -> EnvProblem {
    EnvProblem::new(name, "is not valid UTF-8")
}

/// One variable as found in the environment.
enum Raw {
    Unset,
    Value(String),
    NotUnicode,
}

/// A variable from the process environment or, when the environment lacks it, from its
/// file in [`SECRETS_DIR`] (how a Swarm host hands over the internal token and API keys).
fn read_process_env(name: &str) -> Raw {
    match std::env::var(name) {
        Ok(value) => Raw::Value(value),
        Err(VarError::NotPresent) => read_secret_file(Path::new(SECRETS_DIR), name),
        Err(VarError::NotUnicode(_)) => Raw::NotUnicode,
    }
}

/// The largest secret file read: tokens and API keys are far smaller, and a bound keeps a
/// wrong mount from being read into memory whole.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// `dir/name` as a variable's value. Only names a variable can have are looked up, so no
/// name reaches outside `dir`. A missing, unreadable or oversized file counts as unset, and
/// the caller reports the variable as missing.
fn read_secret_file(dir: &Path, name: &str) -> Raw {
    use std::io::Read as _;
    let valid_name =
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid_name {
        return Raw::Unset;
    }
    let Ok(file) = std::fs::File::open(dir.join(name)) else {
        return Raw::Unset;
    };
    let mut bytes = Vec::new();
    match file.take(MAX_SECRET_FILE_BYTES + 1).read_to_end(&mut bytes) {
        Ok(n) if n as u64 <= MAX_SECRET_FILE_BYTES => match String::from_utf8(bytes) {
            Ok(value) => Raw::Value(value),
            Err(_) => Raw::NotUnicode,
        },
        _ => Raw::Unset,
    }
}

/// Parses variables one by one, collecting problems instead of stopping at the first.
struct Reader<'a, F> {
    source: &'a F,
    problems: Vec<EnvProblem>,
}

impl<F: Fn(&str) -> Raw> Reader<'_, F> {
    /// Parses `name` if it is set and non-empty; records a problem and returns `None` if the
    /// value is invalid. `parse` returns the message's predicate, such as "is not a number".
    fn parse<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = match (self.source)(name) {
            Raw::Value(value) if !value.is_empty() => value,
            Raw::Value(_) | Raw::Unset => return None,
            Raw::NotUnicode => {
                self.problems.push(not_unicode(name));
                return None;
            }
        };
        parse(&value)
            .map_err(|message| self.problems.push(EnvProblem::new(name, message)))
            .ok()
    }

    fn is_unset(&self, name: &str) -> bool {
        match (self.source)(name) {
            Raw::Unset => true,
            Raw::Value(value) => value.is_empty(),
            Raw::NotUnicode => false,
        }
    }
}

/// The one `NANO_API_URL` rule, shared with the host.
fn parse_api_url(value: &str) -> Result<String, String> {
    nanofleet_contracts::env::parse_api_url(value).map_err(|e| e.to_string())
}

fn parse_internal_token(value: &str) -> Result<InternalToken, String> {
    // The message comes from `TokenFormatError`, which never includes the token itself.
    InternalToken::new(value.to_owned()).map_err(|err| format!("is not usable: {err}"))
}

fn parse_plugin_id(value: &str) -> Result<String, String> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if value.len() > PLUGIN_ID_MAX_LEN || !value.chars().all(valid_char) {
        return Err(format!(
            "is not a valid plugin name ({}): expected the plugin's name from its manifest, \
             made of letters, digits, `-`, `_` and `.` (at most {PLUGIN_ID_MAX_LEN} characters)",
            quote(value)
        ));
    }
    Ok(value.to_owned())
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(format!(
            "is not a boolean ({}): use 1, true or yes to turn it on, 0, false or no to turn it off",
            quote(value)
        )),
    }
}

fn parse_socket_addr(value: &str) -> Result<SocketAddr, String> {
    value.trim().parse().map_err(|_| {
        format!(
            "is not a socket address ({}): expected an IP address and a port such as \
             0.0.0.0:8080 or [::]:8080 (host names are not resolved)",
            quote(value)
        )
    })
}

fn parse_allowed_hosts(value: &str) -> Result<Vec<String>, String> {
    let entries: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    if entries.contains(&"*") {
        return if entries.len() == 1 {
            Ok(vec!["*".to_owned()])
        } else {
            Err(format!(
                "mixes `*` with host names ({}): use `*` alone to accept any host, or list \
                 the host names",
                quote(value)
            ))
        };
    }
    if let Some(bad) = entries.iter().find(|entry| !is_host_entry(entry)) {
        return Err(format!(
            "has an invalid entry ({}): list host names or IP addresses, optionally with \
             :port, separated by commas, such as `my-plugin.example.com,10.0.0.5:8080`, or use \
             `*` alone to accept any host",
            quote(bad)
        ));
    }
    Ok(entries
        .iter()
        .map(|entry| entry.to_ascii_lowercase())
        .collect())
}

/// Whether `entry` looks like the value of a `Host` header: a name, IPv4 or bracketed IPv6
/// address, optionally with a port. Loose on purpose; it only has to catch typos such as a URL.
fn is_host_entry(entry: &str) -> bool {
    entry
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '[' | ']'))
        && !entry.starts_with(':')
}

/// Quotes a user-supplied value for a message, escaping control characters and shortening it.
fn quote(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(QUOTE_MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

/// One thing wrong with the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProblem {
    variable: Cow<'static, str>,
    message: String,
}

impl EnvProblem {
    fn new(variable: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            message: message.into(),
        }
    }

    /// The variable at fault, such as `NANO_API_URL`.
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// What is wrong and what a valid value looks like, phrased to follow the variable's name
    /// (`is not set: ...`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for EnvProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.variable, self.message)
    }
}

/// Everything wrong with the plugin's environment; `Display` lists one problem per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    /// The problems, in the order the variables are read. Never empty.
    pub problems: Vec<EnvProblem>,
}

impl EnvError {
    fn single(problem: EnvProblem) -> Self {
        Self {
            problems: vec![problem],
        }
    }

    fn from_problems(problems: Vec<EnvProblem>) -> Option<Self> {
        (!problems.is_empty()).then_some(Self { problems })
    }

    /// Whether one of the problems is about `variable`.
    pub fn mentions(&self, variable: &str) -> bool {
        self.problems.iter().any(|p| p.variable == variable)
    }
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            fmt::Display::fmt(problem, f)?;
        }
        Ok(())
    }
}

impl std::error::Error for EnvError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TOKEN: &str = "3f2b8c1e-9a4d-4e5f-8b6a-1c2d3e4f5a6b";

    const ALL_VARIABLES: [&str; 9] = SDK_VARIABLES;

    #[test]
    fn secret_files_are_read_by_name_within_their_directory_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("API_KEY"), "sk-1\n").expect("write");
        std::fs::write(
            dir.path().join("HUGE"),
            vec![b'a'; MAX_SECRET_FILE_BYTES as usize + 1],
        )
        .expect("write");
        std::fs::write(dir.path().join("BINARY"), [0xff, 0xfe]).expect("write");
        // Exactly the file's bytes: a trailing newline is part of what was stored.
        assert!(matches!(read_secret_file(dir.path(), "API_KEY"), Raw::Value(v) if v == "sk-1\n"));
        assert!(matches!(
            read_secret_file(dir.path(), "MISSING"),
            Raw::Unset
        ));
        assert!(matches!(read_secret_file(dir.path(), "HUGE"), Raw::Unset));
        assert!(matches!(
            read_secret_file(dir.path(), "BINARY"),
            Raw::NotUnicode
        ));
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).expect("mkdir");
        for name in ["../API_KEY", "", "A/B", "."] {
            assert!(
                matches!(read_secret_file(&outside, name), Raw::Unset),
                "{name}"
            );
        }
    }

    fn env(vars: &[(&str, &str)]) -> Result<PluginEnv, EnvError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        PluginEnv::from_lookup(|name| vars.get(name).cloned())
    }

    fn problem(vars: &[(&str, &str)], variable: &str) -> String {
        let err = env(vars).expect_err("invalid environment");
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(err.problems[0].variable(), variable);
        err.to_string()
    }

    #[test]
    fn empty_environment_is_valid_and_empty() {
        let env = env(&[]).expect("valid");
        assert_eq!(env.api_url, None);
        assert!(env.internal_token.is_none());
        assert_eq!(env.plugin_id, None);
        assert!(!env.require_agent_signature);
        assert_eq!(env.data_dir, None);
        assert_eq!(env.mcp_addr, None);
        assert_eq!(env.ui_addr, None);
        assert!(env.allowed_hosts.is_empty());
        assert!(!env.allows_any_host());
        assert!(!env.accept_unverified_ui_token);
    }

    #[test]
    fn empty_strings_are_unset() {
        let vars: Vec<(&str, &str)> = ALL_VARIABLES.iter().map(|name| (*name, "")).collect();
        let env = env(&vars).expect("valid");
        assert!(env.api_url.is_none() && env.internal_token.is_none() && env.plugin_id.is_none());
        assert!(!env.require_agent_signature);
    }

    #[test]
    fn full_environment() {
        let env = env(&[
            (NANO_API_URL, "http://nanofleet-api:3000/"),
            (NANO_INTERNAL_TOKEN, TOKEN),
            (NANO_PLUGIN_ID, "notes"),
            (NANOFLEET_REQUIRE_AGENT_SIGNATURE, "yes"),
            (NANOFLEET_DATA_DIR, "/data"),
            (NANOFLEET_MCP_ADDR, "127.0.0.1:8811"),
            (NANOFLEET_UI_ADDR, "[::]:8812"),
            (NANOFLEET_ALLOWED_HOSTS, "Notes.Example.com, 10.0.0.5:8811,"),
            (NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN, "TRUE"),
        ])
        .expect("valid");
        assert_eq!(env.api_url.as_deref(), Some("http://nanofleet-api:3000"));
        assert_eq!(
            env.internal_token
                .as_ref()
                .map(InternalToken::expose_secret),
            Some(TOKEN)
        );
        assert_eq!(env.plugin_id.as_deref(), Some("notes"));
        assert!(env.require_agent_signature);
        assert_eq!(env.data_dir, Some(PathBuf::from("/data")));
        assert_eq!(env.mcp_addr, Some("127.0.0.1:8811".parse().expect("addr")));
        assert_eq!(env.ui_addr, Some("[::]:8812".parse().expect("addr")));
        assert_eq!(env.allowed_hosts, ["notes.example.com", "10.0.0.5:8811"]);
        assert!(env.accept_unverified_ui_token);
        assert_eq!(env.require_api_url(), Ok("http://nanofleet-api:3000"));
        assert_eq!(env.require_plugin_id(), Ok("notes"));
        assert!(env.require_internal_token().is_ok());
    }

    #[test]
    fn api_url_forms() {
        for (value, expected) in [
            ("http://nanofleet-api:3000", "http://nanofleet-api:3000"),
            ("https://api.example.com/", "https://api.example.com"),
            (
                "http://10.0.0.1:3000/nanofleet//",
                "http://10.0.0.1:3000/nanofleet",
            ),
            (" http://host:1 ", "http://host:1"),
        ] {
            let env = env(&[(NANO_API_URL, value)]).expect(value);
            assert_eq!(env.api_url.as_deref(), Some(expected));
        }
        for value in [
            "nanofleet-api:3000",
            "ftp://host",
            "http://",
            "not a url",
            "http://host:3000?x=1",
            "http://host:3000/#frag",
        ] {
            let message = problem(&[(NANO_API_URL, value)], NANO_API_URL);
            assert!(message.contains("http://nanofleet-api:3000"), "{message}");
        }
    }

    #[test]
    fn api_url_with_credentials_is_refused_without_quoting_them() {
        let message = problem(&[(NANO_API_URL, "http://user:hunter2@host")], NANO_API_URL);
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn bad_values_are_quoted() {
        let message = problem(&[(NANO_API_URL, "ftp://files")], NANO_API_URL);
        assert!(message.contains(r#""ftp://files""#), "{message}");
        let long = "x".repeat(500);
        let message = problem(&[(NANOFLEET_MCP_ADDR, &long)], NANOFLEET_MCP_ADDR);
        assert!(message.len() < 400, "{message}");
        let message = problem(&[(NANOFLEET_MCP_ADDR, "a\nb")], NANOFLEET_MCP_ADDR);
        assert!(message.contains(r#""a\nb""#), "{message}");
    }

    #[test]
    fn internal_token_forms_never_leak() {
        for value in [
            "short-secret",
            "has a space in it, long enough",
            "tab\tinside-a-long-enough-token",
            "unicode-é-long-enough-token",
        ] {
            let message = problem(&[(NANO_INTERNAL_TOKEN, value)], NANO_INTERNAL_TOKEN);
            assert!(!message.contains(value), "{message}");
            assert!(
                message.starts_with("NANO_INTERNAL_TOKEN is not usable"),
                "{message}"
            );
        }
    }

    #[test]
    fn token_never_appears_anywhere() {
        let secret = "leaky secret that is long";
        let err = env(&[
            (NANO_INTERNAL_TOKEN, secret),
            (NANO_API_URL, "bogus"),
            (NANOFLEET_REQUIRE_AGENT_SIGNATURE, "maybe"),
        ])
        .expect_err("invalid");
        assert_eq!(err.problems.len(), 3);
        assert!(!err.to_string().contains(secret));
        assert!(!format!("{err:?}").contains(secret));

        let ok = env(&[(NANO_INTERNAL_TOKEN, TOKEN)]).expect("valid");
        assert!(!format!("{ok:?}").contains(TOKEN));
    }

    #[test]
    fn plugin_id_forms() {
        for value in ["notes", "nanofleet-chat", "my_plugin.v2"] {
            let env = env(&[(NANO_PLUGIN_ID, value)]).expect(value);
            assert_eq!(env.plugin_id.as_deref(), Some(value));
        }
        let too_long = "p".repeat(256);
        for value in [
            "has space",
            "slash/name",
            "new\nline",
            "é",
            too_long.as_str(),
        ] {
            problem(&[(NANO_PLUGIN_ID, value)], NANO_PLUGIN_ID);
        }
    }

    #[test]
    fn booleans() {
        for (value, expected) in [
            ("1", true),
            ("true", true),
            ("Yes", true),
            (" TRUE ", true),
            ("0", false),
            ("false", false),
            ("NO", false),
        ] {
            let env = env(&[
                (NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN, value),
                (NANOFLEET_REQUIRE_AGENT_SIGNATURE, value),
                (NANO_INTERNAL_TOKEN, TOKEN),
            ])
            .expect(value);
            assert_eq!(env.accept_unverified_ui_token, expected, "{value}");
            assert_eq!(env.require_agent_signature, expected, "{value}");
        }
        for name in [
            NANOFLEET_REQUIRE_AGENT_SIGNATURE,
            NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN,
        ] {
            for value in ["on", "2", "ja", " "] {
                let message = problem(&[(name, value), (NANO_INTERNAL_TOKEN, TOKEN)], name);
                assert!(message.contains("1, true or yes"), "{message}");
            }
        }
    }

    #[test]
    fn data_dir() {
        let env = env(&[(NANOFLEET_DATA_DIR, "relative/dir")]).expect("valid");
        assert_eq!(env.data_dir, Some(PathBuf::from("relative/dir")));
    }

    #[test]
    fn socket_addresses() {
        let env = env(&[
            (NANOFLEET_MCP_ADDR, "0.0.0.0:8080"),
            (NANOFLEET_UI_ADDR, " [::1]:9 "),
        ])
        .expect("valid");
        assert_eq!(env.mcp_addr, Some("0.0.0.0:8080".parse().expect("addr")));
        assert_eq!(env.ui_addr, Some("[::1]:9".parse().expect("addr")));
        for name in [NANOFLEET_MCP_ADDR, NANOFLEET_UI_ADDR] {
            for value in [
                "8080",
                "localhost:8080",
                "0.0.0.0",
                "0.0.0.0:99999",
                "::1:80",
            ] {
                let message = problem(&[(name, value)], name);
                assert!(message.contains("0.0.0.0:8080"), "{message}");
            }
        }
    }

    #[test]
    fn allowed_hosts() {
        let any = env(&[(NANOFLEET_ALLOWED_HOSTS, " * ")]).expect("valid");
        assert_eq!(any.allowed_hosts, ["*"]);
        assert!(any.allows_any_host());
        let list = env(&[(NANOFLEET_ALLOWED_HOSTS, "a.local,[::1]:80,,b_c")]).expect("valid");
        assert_eq!(list.allowed_hosts, ["a.local", "[::1]:80", "b_c"]);
        assert!(!list.allows_any_host());
        let blank = env(&[(NANOFLEET_ALLOWED_HOSTS, " , ")]).expect("valid");
        assert!(blank.allowed_hosts.is_empty());
        for value in [
            "*,a.local",
            "http://a.local",
            "a.local/path",
            "a b",
            "*.example.com",
            ":80",
        ] {
            problem(&[(NANOFLEET_ALLOWED_HOSTS, value)], NANOFLEET_ALLOWED_HOSTS);
        }
    }

    #[test]
    fn required_signature_needs_a_token() {
        let message = problem(
            &[(NANOFLEET_REQUIRE_AGENT_SIGNATURE, "1")],
            NANO_INTERNAL_TOKEN,
        );
        assert!(
            message.contains(NANOFLEET_REQUIRE_AGENT_SIGNATURE),
            "{message}"
        );
        // An invalid token is reported once, not also as missing.
        let err = env(&[
            (NANOFLEET_REQUIRE_AGENT_SIGNATURE, "1"),
            (NANO_INTERNAL_TOKEN, "short"),
        ])
        .expect_err("invalid");
        assert_eq!(err.problems.len(), 1, "{err}");
        assert!(env(&[(NANOFLEET_REQUIRE_AGENT_SIGNATURE, "0")]).is_ok());
    }

    #[test]
    fn every_problem_is_reported_one_per_line() {
        let err = env(&[
            (NANO_API_URL, "nope"),
            (NANO_INTERNAL_TOKEN, "x"),
            (NANO_PLUGIN_ID, "a b"),
            (NANOFLEET_REQUIRE_AGENT_SIGNATURE, "perhaps"),
            (NANOFLEET_MCP_ADDR, "80"),
            (NANOFLEET_UI_ADDR, "81"),
            (NANOFLEET_ALLOWED_HOSTS, "http://x"),
            (NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN, "sure"),
        ])
        .expect_err("invalid");
        let variables: Vec<&str> = err.problems.iter().map(EnvProblem::variable).collect();
        assert_eq!(
            variables,
            [
                NANO_API_URL,
                NANO_INTERNAL_TOKEN,
                NANO_PLUGIN_ID,
                NANOFLEET_REQUIRE_AGENT_SIGNATURE,
                NANOFLEET_MCP_ADDR,
                NANOFLEET_UI_ADDR,
                NANOFLEET_ALLOWED_HOSTS,
                NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN,
            ]
        );
        let text = err.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8, "{text}");
        for (line, variable) in lines.iter().zip(&variables) {
            assert!(line.starts_with(variable), "{line}");
        }
        assert!(err.mentions(NANO_PLUGIN_ID));
        assert!(!err.mentions(NANOFLEET_DATA_DIR));
    }

    #[test]
    fn require_accessors_explain_what_to_do() {
        let env = PluginEnv::default();
        assert_eq!(
            env.require_internal_token().expect_err("unset").to_string(),
            "NANO_INTERNAL_TOKEN is not set: the NanoFleet host sets it in the plugin container; \
             set it yourself to run outside the host"
        );
        let url = env.require_api_url().expect_err("unset");
        assert!(url.mentions(NANO_API_URL));
        assert!(url.to_string().starts_with("NANO_API_URL is not set"));
        let id = env.require_plugin_id().expect_err("unset");
        assert!(id.to_string().starts_with("NANO_PLUGIN_ID is not set"));
    }

    #[test]
    fn required_variables_are_read_and_every_missing_one_is_reported_with_the_rest() {
        let manifest = Manifest::new("p", "0.1.0", "p:0.1.0", 8080)
            .with_required_env_vars(["API_KEY", "REGION", "MODEL"]);
        let vars: HashMap<&str, &str> = [
            ("MODEL", "small"),
            ("REGION", ""),
            (NANOFLEET_MCP_ADDR, "80"),
        ]
        .into();
        let err =
            PluginEnv::from_lookup_for(&manifest, |name| vars.get(name).map(|v| (*v).to_owned()))
                .expect_err("two are missing");
        let variables: Vec<&str> = err.problems.iter().map(EnvProblem::variable).collect();
        assert_eq!(variables, [NANOFLEET_MCP_ADDR, "API_KEY", "REGION"]);
        let text = err.to_string();
        assert!(
            text.contains("API_KEY is not set: the plugin's manifest lists it in requiredEnvVars"),
            "{text}"
        );
        assert!(text.contains("REGION is not set"), "{text}");

        let env = PluginEnv::from_lookup_for(&manifest, |name| {
            manifest
                .required_env_vars
                .iter()
                .any(|required| required == name)
                .then(|| format!("{name}-value"))
        })
        .expect("all set");
        assert_eq!(env.var("API_KEY"), Some("API_KEY-value"));
        assert_eq!(env.require_var("MODEL"), Ok("MODEL-value"));
        assert_eq!(env.var("OTHER"), None);
        let missing = env.require_var("OTHER").expect_err("not required, not set");
        assert!(missing.mentions("OTHER"), "{missing}");
        // Plain `from_lookup` does not know the plugin's variables.
        let plain = PluginEnv::from_lookup(|name| (name == "API_KEY").then(|| "k".to_owned()));
        assert!(plain.expect("valid").vars.is_empty());
    }

    #[test]
    fn with_var_supplies_a_variable() {
        let env = PluginEnv::default().with_var("API_KEY", "k");
        assert_eq!(env.var("API_KEY"), Some("k"));
    }

    #[test]
    fn non_unicode_values_are_reported() {
        let err = PluginEnv::from_source(|name| {
            if name == NANOFLEET_DATA_DIR {
                Raw::NotUnicode
            } else {
                Raw::Unset
            }
        })
        .expect_err("invalid");
        assert_eq!(err.to_string(), "NANOFLEET_DATA_DIR is not valid UTF-8");
    }
}
