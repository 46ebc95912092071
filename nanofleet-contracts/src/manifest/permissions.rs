//! What a plugin may do besides answering MCP calls: the manifest's `permissions`.
//!
//! ```json
//! "permissions": {
//!   "network": { "allow": ["api.example.com:443", "*.example.org:443"] },
//!   "filesystem": "read-only",
//!   "process": { "spawn": false },
//!   "resources": { "memory": "128MiB", "cpus": 0.5, "pids": 64 }
//! }
//! ```
//!
//! Every field is optional and its absence is the narrowest setting, except the data volume,
//! which stays writable as it always was: no network beyond the internal one, no child
//! processes, the host's default resources. The host *enforces* what is declared here (each
//! plugin runs in its own container), where other plugin systems only ask for consent; the
//! operator may narrow any of it per install, and widen it only by saying so (`--allow-more`).
//!
//! The same types carry an operator's narrowing ([`Overrides`]) and what a host granted in the
//! end, so one set of rules says what "wider" means ([`Permissions::widenings_over`]).

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::Diagnostics;
use super::rules::{self, RuleViolation};

/// The most destinations one allow-list may name.
pub const MAX_ALLOWED_DESTINATIONS: usize = 64;

/// The smallest memory limit the engine accepts for a container (Docker refuses less than
/// 6 MiB).
pub const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;

/// What a plugin may do beyond answering MCP calls; see the [module](self).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    /// Where the plugin may open connections beyond the host's internal network.
    #[serde(default, skip_serializing_if = "Network::is_none")]
    pub network: Network,
    /// How the plugin's data volume (`/data`) is mounted.
    #[serde(default, skip_serializing_if = "Filesystem::is_default")]
    pub filesystem: Filesystem,
    /// Whether the plugin may start processes.
    #[serde(default, skip_serializing_if = "Process::is_default")]
    pub process: Process,
    /// Memory, CPU and processes the plugin asks for.
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
}

impl Permissions {
    /// Whether every field has its default, so that the manifest can leave `permissions` out.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Every way `self` is wider than `base`, one sentence each; empty when `self` stays
    /// within `base`. Resources missing on one side are compared as `defaults` gives them.
    pub fn widenings_over(&self, base: &Self, defaults: &ResourceLimits) -> Vec<String> {
        let mut wider = Vec::new();
        if let Some(why) = self.network.widening_over(&base.network) {
            wider.push(why);
        }
        if self.filesystem.rank() > base.filesystem.rank() {
            wider.push(format!(
                "filesystem {} where {} was declared",
                self.filesystem, base.filesystem
            ));
        }
        if self.process.spawn && !base.process.spawn {
            wider.push("process.spawn where it was not declared".into());
        }
        let (mine, theirs) = (
            self.resources.resolve(defaults),
            base.resources.resolve(defaults),
        );
        if mine.memory_bytes > theirs.memory_bytes {
            wider.push(format!(
                "memory {} above {}",
                Memory(mine.memory_bytes),
                Memory(theirs.memory_bytes)
            ));
        }
        if mine.milli_cpus > theirs.milli_cpus {
            wider.push(format!(
                "cpus {} above {}",
                Cpus(mine.milli_cpus),
                Cpus(theirs.milli_cpus)
            ));
        }
        if mine.pids > theirs.pids {
            wider.push(format!("pids {} above {}", mine.pids, theirs.pids));
        }
        wider
    }

    /// These permissions with `overrides` applied, field by field.
    #[must_use]
    pub fn with_overrides(&self, overrides: &Overrides) -> Self {
        let mut out = self.clone();
        if let Some(network) = &overrides.network {
            out.network = network.clone();
        }
        if let Some(filesystem) = overrides.filesystem {
            out.filesystem = filesystem;
        }
        if let Some(spawn) = overrides.spawn {
            out.process.spawn = spawn;
        }
        if let Some(memory) = overrides.memory {
            out.resources.memory = Some(memory);
        }
        if let Some(cpus) = overrides.cpus {
            out.resources.cpus = Some(cpus);
        }
        if let Some(pids) = overrides.pids {
            out.resources.pids = Some(pids);
        }
        out
    }

    /// Checks the rules of every field, reporting at `path` (`permissions`).
    pub fn validate_into(&self, path: &str, diagnostics: &mut Diagnostics) {
        if let Network::Allow(list) = &self.network {
            check_allow_list(&format!("{path}.network.allow"), list, diagnostics);
        }
        let resources = format!("{path}.resources");
        if let Some(memory) = self.resources.memory
            && let Err(v) = memory.check()
        {
            diagnostics.error(format!("{resources}.memory"), v.message, v.hint);
        }
        if let Some(cpus) = self.resources.cpus
            && let Err(v) = cpus.check()
        {
            diagnostics.error(format!("{resources}.cpus"), v.message, v.hint);
        }
        if self.resources.pids == Some(0) {
            diagnostics.error(
                format!("{resources}.pids"),
                "pids is 0: the plugin could not even run its own process",
                Some("ask for at least 16, or leave it out for the host's default".into()),
            );
        }
    }
}

/// Where a plugin may connect beyond the internal network.
///
/// In JSON: `false` (or absent) for nowhere, `true` for anywhere, `{"allow": [...]}` for the
/// destinations listed, each `host:port` where the host is a name, a `*.` wildcard name, an
/// IPv4 address or a bracketed IPv6 address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Network {
    /// No connection beyond the internal network (plugins and the host's callback API).
    #[default]
    None,
    /// Connections to these destinations only (`host:port` each).
    Allow(Vec<String>),
    /// Connections anywhere.
    Unrestricted,
}

impl Network {
    /// Whether this is [`Network::None`].
    pub fn is_none(&self) -> bool {
        matches!(self, Self::None)
    }

    fn rank(&self) -> u8 {
        match self {
            Self::None => 0,
            Self::Allow(_) => 1,
            Self::Unrestricted => 2,
        }
    }

    /// Why `self` reaches further than `base`, if it does.
    fn widening_over(&self, base: &Self) -> Option<String> {
        match (self, base) {
            (Self::Allow(mine), Self::Allow(theirs)) => {
                let extra: Vec<&str> = mine
                    .iter()
                    .filter(|d| !theirs.iter().any(|t| same_destination(t, d)))
                    .map(String::as_str)
                    .collect();
                (!extra.is_empty()).then(|| format!("network to {}", extra.join(", ")))
            }
            _ if self.rank() > base.rank() => {
                Some(format!("network {self} where {base} was declared"))
            }
            _ => None,
        }
    }
}

fn same_destination(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Allow(list) => write!(f, "allow {}", list.join(", ")),
            Self::Unrestricted => f.write_str("unrestricted"),
        }
    }
}

/// The JSON shape of [`Network`].
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum NetworkRepr {
    Flag(bool),
    Allow(AllowRepr),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowRepr {
    allow: Vec<String>,
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::None => NetworkRepr::Flag(false),
            Self::Unrestricted => NetworkRepr::Flag(true),
            Self::Allow(allow) => NetworkRepr::Allow(AllowRepr {
                allow: allow.clone(),
            }),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match NetworkRepr::deserialize(deserializer)? {
            NetworkRepr::Flag(false) => Self::None,
            NetworkRepr::Flag(true) => Self::Unrestricted,
            NetworkRepr::Allow(AllowRepr { allow }) => Self::Allow(allow),
        })
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Network {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Network".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`false`: no egress; `true`: unrestricted; `{\"allow\": [\"host:port\", …]}`: those destinations only",
            "oneOf": [
                { "type": "boolean" },
                {
                    "type": "object",
                    "properties": { "allow": { "type": "array", "items": { "type": "string" } } },
                    "required": ["allow"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// How the data volume is mounted at `/data`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Filesystem {
    /// Read and written (the default).
    #[default]
    ReadWrite,
    /// Read only: the plugin reads data placed there, writes nothing.
    ReadOnly,
    /// No data volume at all.
    None,
}

impl Filesystem {
    /// Every value, in the order of [`Filesystem::as_str`]'s words in messages.
    pub const ALL: [Self; 3] = [Self::ReadWrite, Self::ReadOnly, Self::None];

    /// Whether this is the default, [`Filesystem::ReadWrite`].
    pub fn is_default(&self) -> bool {
        *self == Self::ReadWrite
    }

    /// The JSON word: `read-write`, `read-only` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadWrite => "read-write",
            Self::ReadOnly => "read-only",
            Self::None => "none",
        }
    }

    /// The value for a JSON word, or `None`.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == word)
    }

    fn rank(self) -> u8 {
        match self {
            Self::None => 0,
            Self::ReadOnly => 1,
            Self::ReadWrite => 2,
        }
    }
}

impl fmt::Display for Filesystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the plugin may start processes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Process {
    /// `true` lets the plugin start child processes; without it, creating a process fails
    /// (threads are unaffected).
    #[serde(default)]
    pub spawn: bool,
}

impl Process {
    /// Whether this is the default (no spawning).
    pub fn is_default(&self) -> bool {
        !self.spawn
    }
}

/// What a plugin asks for; each absent field is the host's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// Memory limit, e.g. `"128MiB"`; no swap on top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// CPU limit in CPUs, e.g. `0.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    /// Most processes and threads at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u32>,
}

impl Resources {
    /// Whether nothing is asked for.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The limits these resources come to, `defaults` filling what is not asked for.
    pub fn resolve(&self, defaults: &ResourceLimits) -> ResourceLimits {
        ResourceLimits {
            memory_bytes: self.memory.map_or(defaults.memory_bytes, |m| m.0),
            milli_cpus: self.cpus.map_or(defaults.milli_cpus, |c| c.0),
            pids: self.pids.map_or(defaults.pids, u64::from),
        }
    }
}

/// Resolved resource limits: no field optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResourceLimits {
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// CPU in thousandths of a CPU.
    pub milli_cpus: u32,
    /// Processes and threads.
    pub pids: u64,
}

impl Default for ResourceLimits {
    /// What a plugin gets when it asks for nothing: 256 MiB, one CPU, 256 processes.
    fn default() -> Self {
        Self {
            memory_bytes: 256 * 1024 * 1024,
            milli_cpus: 1000,
            pids: 256,
        }
    }
}

/// A memory size in bytes, written `"256MiB"`, `"1GiB"`, `"512m"` (Docker's units are
/// binary: `k`, `m`, `g` mean KiB, MiB, GiB) or as a number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Memory(pub u64);

impl Memory {
    /// Reads `"256MiB"`, `"512m"`, `"1GiB"`, `"1048576"`.
    ///
    /// # Errors
    ///
    /// A sentence saying what is wrong with `text`, and how it is written instead.
    pub fn parse(text: &str) -> Result<Self, RuleViolation> {
        let bad = || {
            RuleViolation::new(format!("`{text}` is not a memory size"))
                .with_hint("write a whole number and a unit, e.g. \"256MiB\" or \"1GiB\"")
        };
        let trimmed = text.trim();
        let digits_end = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (digits, unit) = trimmed.split_at(digits_end);
        let number: u64 = digits.parse().map_err(|_| bad())?;
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            _ => return Err(bad()),
        };
        number.checked_mul(factor).map(Self).ok_or_else(|| {
            RuleViolation::new(format!("`{text}` is more memory than any machine has"))
                .with_hint("e.g. \"1GiB\"")
        })
    }

    /// Checks the engine's minimum.
    ///
    /// # Errors
    ///
    /// When the size is below [`MIN_MEMORY_BYTES`].
    pub fn check(self) -> Result<(), RuleViolation> {
        if self.0 < MIN_MEMORY_BYTES {
            return Err(RuleViolation::new(format!(
                "memory {self} is below the 6MiB a container needs"
            ))
            .with_hint("ask for at least \"16MiB\""));
        }
        Ok(())
    }
}

impl fmt::Display for Memory {
    /// The largest binary unit that divides the size exactly: `256MiB`, `1GiB`, `1000B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, factor) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= factor && self.0.is_multiple_of(factor) {
                return write!(f, "{}{unit}", self.0 / factor);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for Memory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Memory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Self::parse(&text).map_err(serde::de::Error::custom),
            Value::Number(n) => n.as_u64().map(Self).ok_or_else(|| {
                serde::de::Error::custom("a memory size in bytes is a whole positive number")
            }),
            _ => Err(serde::de::Error::custom(
                "expected a memory size such as \"256MiB\"",
            )),
        }
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Memory {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Memory".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A memory size: \"256MiB\", \"1GiB\", \"512m\" or a number of bytes",
            "type": ["string", "integer"]
        })
    }
}

/// A CPU limit, kept in thousandths of a CPU and written as a number of CPUs (`0.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cpus(pub u32);

impl Cpus {
    /// From a number of CPUs, rounded to the thousandth.
    ///
    /// # Errors
    ///
    /// When `cpus` is not a positive finite number of at most 1,024.
    pub fn from_cpus(cpus: f64) -> Result<Self, RuleViolation> {
        if !(cpus.is_finite() && cpus > 0.0 && cpus <= 1024.0) {
            return Err(RuleViolation::new(format!(
                "cpus {cpus} is not a number of CPUs from 0.001 to 1024"
            ))
            .with_hint("e.g. 0.5 for half a CPU"));
        }
        // In range by the check above, so the cast neither truncates nor wraps.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let milli = (cpus * 1000.0).round() as u32;
        Ok(Self(milli))
    }

    /// Checks that the limit is at least a thousandth of a CPU.
    ///
    /// # Errors
    ///
    /// When it is zero.
    pub fn check(self) -> Result<(), RuleViolation> {
        if self.0 == 0 {
            return Err(RuleViolation::new("cpus rounds to 0").with_hint("ask for at least 0.001"));
        }
        Ok(())
    }

    /// The limit in CPUs.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 1000.0
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_f64())
    }
}

impl Serialize for Cpus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let cpus = f64::deserialize(deserializer)?;
        Self::from_cpus(cpus).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Cpus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Cpus".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number of CPUs, e.g. 0.5",
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1024
        })
    }
}

/// An operator's changes to what a manifest declares, for one install. Each field left `None`
/// keeps the manifest's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Overrides {
    /// Network: `false`, `true` or `{"allow": [...]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Object>))]
    pub network: Option<Network>,
    /// The data volume: `read-write`, `read-only` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<String>))]
    pub filesystem: Option<Filesystem>,
    /// Whether the plugin may start processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawn: Option<bool>,
    /// Memory limit, e.g. `"128MiB"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<String>))]
    pub memory: Option<Memory>,
    /// CPU limit in CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<f64>))]
    pub cpus: Option<Cpus>,
    /// Most processes and threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u32>,
}

impl Overrides {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Destinations
// ---------------------------------------------------------------------------------------------

/// One allow-list entry, parsed: the host part and the port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// What the entry names.
    pub host: DestinationHost,
    /// The port.
    pub port: u16,
}

/// The host part of a [`Destination`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DestinationHost {
    /// An address.
    Ip(IpAddr),
    /// A DNS name, lowercase, without a trailing dot.
    Name(String),
    /// `*.suffix`: every name under `suffix` (not `suffix` itself).
    Wildcard(String),
}

impl Destination {
    /// Reads `host:port`, `*.domain:port`, `1.2.3.4:port` or `[::1]:port`.
    ///
    /// # Errors
    ///
    /// What is wrong with the entry, with an example.
    pub fn parse(entry: &str) -> Result<Self, RuleViolation> {
        let example = "write `host:port`, e.g. \"api.example.com:443\", \"*.example.com:443\" or \"10.0.0.5:8080\"";
        let Some((host, port)) = entry.rsplit_once(':') else {
            return Err(RuleViolation::new(format!("`{entry}` has no port")).with_hint(example));
        };
        let port: u16 = match port.parse() {
            Ok(port) if port > 0 => port,
            _ => {
                return Err(RuleViolation::new(format!(
                    "`{entry}`: `{port}` is not a port from 1 to 65535"
                ))
                .with_hint(example));
            }
        };
        let host = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let ip: std::net::Ipv6Addr = v6.parse().map_err(|_| {
                RuleViolation::new(format!("`{entry}`: `{v6}` is not an IPv6 address"))
                    .with_hint(example)
            })?;
            DestinationHost::Ip(IpAddr::V6(ip))
        } else if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
            DestinationHost::Ip(IpAddr::V4(ip))
        } else if let Some(suffix) = host.strip_prefix("*.") {
            check_dns_name(entry, suffix, example)?;
            DestinationHost::Wildcard(suffix.to_ascii_lowercase())
        } else {
            check_dns_name(entry, host, example)?;
            DestinationHost::Name(host.trim_end_matches('.').to_ascii_lowercase())
        };
        Ok(Self { host, port })
    }

    /// Whether a connection to `name` (a DNS name, lowercase or not) on `port` is allowed by
    /// this entry. Addresses written as names never match a name entry.
    pub fn allows_name(&self, name: &str, port: u16) -> bool {
        if port != self.port {
            return false;
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match &self.host {
            DestinationHost::Name(allowed) => *allowed == name,
            DestinationHost::Wildcard(suffix) => name
                .strip_suffix(suffix.as_str())
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
            DestinationHost::Ip(_) => false,
        }
    }

    /// Whether a connection to the address `ip` on `port` is allowed by this entry.
    pub fn allows_ip(&self, ip: IpAddr, port: u16) -> bool {
        port == self.port && self.host == DestinationHost::Ip(ip)
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            DestinationHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            DestinationHost::Ip(ip) => write!(f, "{ip}:{}", self.port),
            DestinationHost::Name(name) => write!(f, "{name}:{}", self.port),
            DestinationHost::Wildcard(suffix) => write!(f, "*.{suffix}:{}", self.port),
        }
    }
}

fn check_dns_name(entry: &str, name: &str, example: &str) -> Result<(), RuleViolation> {
    let name = name.trim_end_matches('.');
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        let hint = if name.contains('*') {
            "a wildcard is written only at the start, as `*.example.com:443`".to_owned()
        } else {
            example.to_owned()
        };
        return Err(RuleViolation::new(format!(
            "`{entry}`: `{name}` is not a DNS name or an address"
        ))
        .with_hint(hint));
    }
    Ok(())
}

fn check_allow_list(path: &str, list: &[String], diagnostics: &mut Diagnostics) {
    if list.is_empty() {
        diagnostics.warning(
            path,
            "the allow-list is empty: the plugin reaches nothing beyond the internal network",
            Some("write `\"network\": false` to say so, or list destinations".into()),
        );
    }
    if list.len() > MAX_ALLOWED_DESTINATIONS {
        diagnostics.error(
            path,
            format!(
                "{} destinations, more than {MAX_ALLOWED_DESTINATIONS}",
                list.len()
            ),
            Some("use a `*.domain:port` wildcard, or `\"network\": true`".into()),
        );
    }
    for (index, entry) in list.iter().enumerate() {
        let here = format!("{path}[{index}]");
        match Destination::parse(entry) {
            Err(v) => diagnostics.error(here, v.message, v.hint),
            Ok(_) if list[..index].iter().any(|e| same_destination(e, entry)) => {
                diagnostics.error(here, format!("`{entry}` is listed twice"), None);
            }
            Ok(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading untrusted JSON
// ---------------------------------------------------------------------------------------------

const FIELDS: [&str; 4] = ["network", "filesystem", "process", "resources"];
const RESOURCE_FIELDS: [&str; 3] = ["memory", "cpus", "pids"];

/// Reads `permissions` from untrusted JSON at `path`, reporting every type error; the rules
/// are checked later by [`Permissions::validate_into`]. `None` when a field had the wrong type.
pub(super) fn read(
    path: &str,
    value: &Value,
    diagnostics: &mut Diagnostics,
) -> Option<Permissions> {
    let Value::Object(object) = value else {
        diagnostics.error(
            path,
            format!("expected an object, found {}", super::parse::kind(value)),
            Some("e.g. {\"network\": false, \"filesystem\": \"read-only\"}".into()),
        );
        return None;
    };
    warn_unknown(path, object, &FIELDS, diagnostics);
    let network = object.get("network").map_or(Some(Network::None), |v| {
        read_network(&format!("{path}.network"), v, diagnostics)
    });
    let filesystem = object
        .get("filesystem")
        .map_or(Some(Filesystem::default()), |v| {
            let here = format!("{path}.filesystem");
            let word = v.as_str().and_then(Filesystem::parse);
            if word.is_none() {
                diagnostics.error(
                    here,
                    format!(
                        "expected \"read-write\", \"read-only\" or \"none\", found {}",
                        describe(v)
                    ),
                    None,
                );
            }
            word
        });
    let process = object.get("process").map_or(Some(Process::default()), |v| {
        let here = format!("{path}.process");
        match v {
            Value::Object(p) => {
                warn_unknown(&here, p, &["spawn"], diagnostics);
                match p.get("spawn") {
                    None => Some(Process::default()),
                    Some(Value::Bool(spawn)) => Some(Process { spawn: *spawn }),
                    Some(other) => {
                        diagnostics.error(
                            format!("{here}.spawn"),
                            format!("expected a boolean, found {}", describe(other)),
                            None,
                        );
                        None
                    }
                }
            }
            other => {
                diagnostics.error(
                    here,
                    format!("expected an object, found {}", describe(other)),
                    Some("e.g. {\"spawn\": true}".into()),
                );
                None
            }
        }
    });
    let resources = object
        .get("resources")
        .map_or(Some(Resources::default()), |v| {
            read_resources(&format!("{path}.resources"), v, diagnostics)
        });
    Some(Permissions {
        network: network?,
        filesystem: filesystem?,
        process: process?,
        resources: resources?,
    })
}

fn read_network(path: &str, value: &Value, diagnostics: &mut Diagnostics) -> Option<Network> {
    match value {
        Value::Bool(false) => Some(Network::None),
        Value::Bool(true) => Some(Network::Unrestricted),
        Value::Object(object) => {
            warn_unknown(path, object, &["allow"], diagnostics);
            let here = format!("{path}.allow");
            match object.get("allow") {
                Some(Value::Array(items)) => {
                    let mut list = Vec::with_capacity(items.len());
                    let mut ok = true;
                    for (index, item) in items.iter().enumerate() {
                        match item {
                            Value::String(s) => list.push(s.clone()),
                            other => {
                                ok = false;
                                diagnostics.error(
                                    format!("{here}[{index}]"),
                                    format!(
                                        "expected a string \"host:port\", found {}",
                                        describe(other)
                                    ),
                                    None,
                                );
                            }
                        }
                    }
                    ok.then_some(Network::Allow(list))
                }
                Some(other) => {
                    diagnostics.error(
                        here,
                        format!(
                            "expected an array of \"host:port\", found {}",
                            describe(other)
                        ),
                        None,
                    );
                    None
                }
                None => {
                    diagnostics.error(
                        here,
                        "missing `allow`",
                        Some("list destinations: {\"allow\": [\"api.example.com:443\"]}".into()),
                    );
                    None
                }
            }
        }
        other => {
            diagnostics.error(
                path,
                format!(
                    "expected false, true or {{\"allow\": [...]}}, found {}",
                    describe(other)
                ),
                None,
            );
            None
        }
    }
}

fn read_resources(path: &str, value: &Value, diagnostics: &mut Diagnostics) -> Option<Resources> {
    let Value::Object(object) = value else {
        diagnostics.error(
            path,
            format!("expected an object, found {}", describe(value)),
            Some("e.g. {\"memory\": \"128MiB\", \"cpus\": 0.5, \"pids\": 64}".into()),
        );
        return None;
    };
    warn_unknown(path, object, &RESOURCE_FIELDS, diagnostics);
    let mut ok = true;
    let mut fail = |diagnostics: &mut Diagnostics, key: &str, v: RuleViolation| {
        ok = false;
        diagnostics.error(format!("{path}.{key}"), v.message, v.hint);
    };
    let memory = match object.get("memory") {
        None => None,
        Some(Value::String(text)) => match Memory::parse(text) {
            Ok(m) => Some(m),
            Err(v) => {
                fail(diagnostics, "memory", v);
                None
            }
        },
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().map(Memory),
        Some(other) => {
            fail(
                diagnostics,
                "memory",
                RuleViolation::new(format!("expected a memory size, found {}", describe(other)))
                    .with_hint("e.g. \"256MiB\""),
            );
            None
        }
    };
    let cpus = match object.get("cpus") {
        None => None,
        Some(Value::Number(n)) => match n.as_f64().map(Cpus::from_cpus) {
            Some(Ok(c)) => Some(c),
            Some(Err(v)) => {
                fail(diagnostics, "cpus", v);
                None
            }
            None => None,
        },
        Some(other) => {
            let hint = other
                .as_str()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .map_or_else(
                    || "e.g. 0.5".to_owned(),
                    |n| format!("remove the quotes: {n}"),
                );
            fail(
                diagnostics,
                "cpus",
                RuleViolation::new(format!(
                    "expected a number of CPUs, found {}",
                    describe(other)
                ))
                .with_hint(hint),
            );
            None
        }
    };
    let pids = match object.get("pids") {
        None => None,
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(p) => Some(p),
            None => {
                fail(
                    diagnostics,
                    "pids",
                    RuleViolation::new(format!("expected a whole number of processes, found {n}")),
                );
                None
            }
        },
        Some(other) => {
            fail(
                diagnostics,
                "pids",
                RuleViolation::new(format!("expected a number, found {}", describe(other))),
            );
            None
        }
    };
    ok.then_some(Resources { memory, cpus, pids })
}

fn warn_unknown(
    path: &str,
    object: &Map<String, Value>,
    known: &[&str],
    diagnostics: &mut Diagnostics,
) {
    for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
        let hint = rules::closest(key, known).map(|k| format!("did you mean `{k}`?"));
        diagnostics.warning(
            format!("{path}.{key}"),
            format!("unknown field `{key}`, ignored"),
            hint,
        );
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        other => super::parse::kind(other).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::manifest::Level;

    fn read_ok(value: Value) -> (Option<Permissions>, Vec<(Level, String)>) {
        let mut diagnostics = Diagnostics::new();
        let read = read("permissions", &value, &mut diagnostics);
        if let Some(p) = &read {
            p.validate_into("permissions", &mut diagnostics);
        }
        let located = diagnostics
            .iter()
            .map(|d| (d.level, d.path.clone()))
            .collect();
        (read, located)
    }

    #[test]
    fn every_field_round_trips_through_json() {
        let full = json!({
            "network": {"allow": ["api.example.com:443", "*.example.org:443", "10.0.0.5:8080", "[::1]:80"]},
            "filesystem": "read-only",
            "process": {"spawn": true},
            "resources": {"memory": "128MiB", "cpus": 0.5, "pids": 64}
        });
        let (read, problems) = read_ok(full.clone());
        assert_eq!(problems, []);
        let serde: Permissions = serde_json::from_value(full.clone()).unwrap_or_default();
        assert_eq!(read.as_ref(), Some(&serde));
        assert_eq!(serde_json::to_value(&serde).ok(), Some(full));
    }

    #[test]
    fn defaults_are_the_narrowest_and_serialize_to_nothing() {
        let (read, problems) = read_ok(json!({}));
        assert_eq!(problems, []);
        let read = read.unwrap_or_default();
        assert!(read.is_default());
        assert_eq!(read.network, Network::None);
        assert_eq!(read.filesystem, Filesystem::ReadWrite);
        assert!(!read.process.spawn);
        assert_eq!(serde_json::to_string(&read).ok().as_deref(), Some("{}"));
        let unrestricted: Permissions =
            serde_json::from_value(json!({"network": true})).unwrap_or_default();
        assert_eq!(unrestricted.network, Network::Unrestricted);
    }

    #[test]
    fn every_type_error_is_reported_at_its_path() {
        let (read, problems) = read_ok(json!({
            "network": {"allow": ["a:1", 2]},
            "filesystem": "readonly",
            "process": {"spawn": "yes"},
            "resources": {"memory": "lots", "cpus": "0.5", "pids": -1},
            "netwrk": false
        }));
        assert!(read.is_none());
        assert_eq!(
            problems,
            [
                (Level::Warning, "permissions.netwrk".into()),
                (Level::Error, "permissions.network.allow[1]".into()),
                (Level::Error, "permissions.filesystem".into()),
                (Level::Error, "permissions.process.spawn".into()),
                (Level::Error, "permissions.resources.memory".into()),
                (Level::Error, "permissions.resources.cpus".into()),
                (Level::Error, "permissions.resources.pids".into()),
            ]
        );
    }

    #[test]
    fn rules_are_checked_after_types() {
        let (read, problems) = read_ok(json!({
            "network": {"allow": ["api.example.com", "x:0", "a..b:1", "ok.example:443", "OK.example:443", "*.x*y:1"]},
            "resources": {"memory": "1MiB", "pids": 0}
        }));
        assert!(read.is_some());
        let paths: Vec<&str> = problems.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "permissions.network.allow[0]",
                "permissions.network.allow[1]",
                "permissions.network.allow[2]",
                "permissions.network.allow[4]",
                "permissions.network.allow[5]",
                "permissions.resources.memory",
                "permissions.resources.pids",
            ]
        );
    }

    #[test]
    fn memory_sizes_read_like_docker_and_print_exactly() {
        for (text, bytes) in [
            ("256MiB", 256 << 20),
            ("512m", 512 << 20),
            ("1GiB", 1 << 30),
            ("1g", 1 << 30),
            ("64k", 64 << 10),
            ("1048576", 1 << 20),
        ] {
            assert_eq!(Memory::parse(text).ok(), Some(Memory(bytes)), "{text}");
        }
        for bad in [
            "",
            "MiB",
            "1.5GiB",
            "-1m",
            "12 parsecs",
            "99999999999999999999g",
        ] {
            assert!(Memory::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Memory(256 << 20).to_string(), "256MiB");
        assert_eq!(Memory(1 << 30).to_string(), "1GiB");
        assert_eq!(Memory(1000).to_string(), "1000B");
    }

    #[test]
    fn destinations_match_by_name_wildcard_and_address() {
        let named = Destination::parse("API.example.com:443").ok();
        assert!(
            named
                .as_ref()
                .is_some_and(|d| d.allows_name("api.example.com", 443))
        );
        assert!(
            named
                .as_ref()
                .is_some_and(|d| d.allows_name("api.example.com.", 443))
        );
        assert!(
            named
                .as_ref()
                .is_some_and(|d| !d.allows_name("api.example.com", 80))
        );
        assert!(
            named
                .as_ref()
                .is_some_and(|d| !d.allows_name("evil-api.example.com", 443))
        );
        assert!(named.as_ref().is_some_and(|d| {
            !d.allows_ip("93.184.216.34".parse().unwrap_or(IpAddr::from([0; 4])), 443)
        }));

        let wildcard = Destination::parse("*.example.org:443").ok();
        assert!(
            wildcard
                .as_ref()
                .is_some_and(|d| d.allows_name("a.b.example.org", 443))
        );
        assert!(
            wildcard
                .as_ref()
                .is_some_and(|d| !d.allows_name("example.org", 443))
        );
        assert!(
            wildcard
                .as_ref()
                .is_some_and(|d| !d.allows_name("badexample.org", 443))
        );

        let ip = Destination::parse("10.0.0.5:8080").ok();
        assert!(
            ip.as_ref()
                .is_some_and(|d| d.allows_ip(IpAddr::from([10, 0, 0, 5]), 8080))
        );
        assert!(
            ip.as_ref()
                .is_some_and(|d| !d.allows_ip(IpAddr::from([10, 0, 0, 6]), 8080))
        );
        assert!(
            ip.as_ref()
                .is_some_and(|d| !d.allows_name("10.0.0.5", 8080))
        );
        let v6 = Destination::parse("[::1]:80").ok();
        assert_eq!(v6.map(|d| d.to_string()).as_deref(), Some("[::1]:80"));
    }

    #[test]
    fn widenings_name_each_dimension() {
        let defaults = ResourceLimits::default();
        let base: Permissions = serde_json::from_value(json!({
            "network": {"allow": ["a.example:443"]},
            "filesystem": "read-only",
            "resources": {"memory": "128MiB"}
        }))
        .unwrap_or_default();
        assert_eq!(base.widenings_over(&base, &defaults), Vec::<String>::new());
        let narrower = base.with_overrides(&Overrides {
            network: Some(Network::None),
            filesystem: Some(Filesystem::None),
            memory: Some(Memory(64 << 20)),
            ..Overrides::default()
        });
        assert_eq!(
            narrower.widenings_over(&base, &defaults),
            Vec::<String>::new()
        );
        let wider = base.with_overrides(&Overrides {
            network: Some(Network::Allow(vec![
                "a.example:443".into(),
                "b.example:443".into(),
            ])),
            filesystem: Some(Filesystem::ReadWrite),
            spawn: Some(true),
            memory: Some(Memory(512 << 20)),
            cpus: Some(Cpus(2000)),
            pids: Some(1000),
        });
        assert_eq!(
            wider.widenings_over(&base, &defaults),
            [
                "network to b.example:443",
                "filesystem read-write where read-only was declared",
                "process.spawn where it was not declared",
                "memory 512MiB above 128MiB",
                "cpus 2 above 1",
                "pids 1000 above 256",
            ]
        );
        let unrestricted = base.with_overrides(&Overrides {
            network: Some(Network::Unrestricted),
            ..Overrides::default()
        });
        assert_eq!(
            unrestricted.widenings_over(&base, &defaults),
            ["network unrestricted where allow a.example:443 was declared"]
        );
    }

    #[test]
    fn overrides_refuse_unknown_fields() {
        assert!(serde_json::from_value::<Overrides>(json!({"spawn": true})).is_ok());
        assert!(serde_json::from_value::<Overrides>(json!({"spwan": true})).is_err());
    }
}
