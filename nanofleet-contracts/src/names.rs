//! The names of what a host creates on the engine, and the URL an agent reaches a plugin at.
//!
//! These are NanoFleet's conventions: an agent's `.mcp.json` names the container, so a plugin
//! installed by any NanoFleet host is reachable at the same URL.

/// The Docker network plugins and agents share.
pub const NETWORK: &str = "nanofleet-net";

/// The prefix of every plugin container's name.
pub const CONTAINER_PREFIX: &str = "nanofleet-plugin-";

/// The container name of a plugin in the default instance (see [`Instance::container_name`]
/// for any instance): also its DNS name on [`NETWORK`].
///
/// ```
/// assert_eq!(nanofleet_contracts::names::container_name("notes"), "nanofleet-plugin-notes");
/// ```
pub fn container_name(plugin: &str) -> String {
    format!("{CONTAINER_PREFIX}{plugin}")
}

/// The name a new version of a plugin starts under during an upgrade, before it takes over
/// [`container_name`]; one left behind by an interrupted upgrade serves nobody.
pub fn staging_container_name(plugin: &str) -> String {
    format!("{}-next", container_name(plugin))
}

/// The data volume of a plugin in the default instance (see [`Instance::volume_name`]),
/// mounted at [`DATA_DIR`].
pub fn volume_name(plugin: &str) -> String {
    format!("{}-data", container_name(plugin))
}

/// Where a plugin's data volume is mounted inside its container.
pub const DATA_DIR: &str = "/data";

/// Where a plugin finds the secrets the host hands over as files rather than in its
/// environment (on Docker Swarm, the internal token and API keys): one file per variable,
/// named like it (`/run/secrets/NANO_INTERNAL_TOKEN`). A variable set in the environment
/// wins over its file.
pub const SECRETS_DIR: &str = "/run/secrets";

/// The numeric `uid:gid` a plugin runs as: the user of the images `nanofleet build` makes
/// (who owns their `/data`, and so a fresh data volume) and of the containers the host starts.
pub const PLUGIN_USER: &str = "65532:65532";

/// Parses `uid` or `uid:gid`, numeric, neither of them 0. Names are refused: a scratch image
/// has no user database to resolve them against, and a numeric id cannot silently mean root.
///
/// ```
/// use nanofleet_contracts::names::parse_non_root_user;
///
/// assert_eq!(parse_non_root_user("65532:65532"), Ok((65532, 65532)));
/// assert_eq!(parse_non_root_user("1000"), Ok((1000, 1000)));
/// assert!(parse_non_root_user("0:0").is_err() && parse_non_root_user("nobody").is_err());
/// ```
///
/// # Errors
///
/// A sentence naming the value and the expected form.
pub fn parse_non_root_user(user: &str) -> Result<(u32, u32), String> {
    let (uid, gid) = user.split_once(':').unwrap_or((user, user));
    let parse = |s: &str| s.parse::<u32>().ok().filter(|id| *id != 0);
    match (parse(uid), parse(gid)) {
        (Some(uid), Some(gid)) => Ok((uid, gid)),
        _ => Err(format!(
            "user `{}` is not a numeric non-root `uid:gid`: use e.g. `{PLUGIN_USER}`",
            user.escape_debug()
        )),
    }
}

/// A host instance: several hosts can share one engine (a development host beside the real
/// one, a test run beside both), and each owns only the containers and volumes named and
/// labelled ([`crate::labels::INSTANCE`]) for it.
///
/// The default instance keeps NanoFleet's names (`nanofleet-plugin-<name>`, its volume
/// `nanofleet-plugin-<name>-data`), so an agent's `.mcp.json` reaches a plugin any NanoFleet
/// host installed. Every other instance appends `.<instance>` to each name. Plugin names and
/// instance names have no `.`, so no two instances' names can ever be the same: instance `b`
/// can neither take instance `a`'s container nor mount its data.
///
/// ```
/// use nanofleet_contracts::names::Instance;
///
/// let default = Instance::default();
/// assert_eq!(default.container_name("notes"), "nanofleet-plugin-notes");
/// assert_eq!(default.volume_name("notes"), "nanofleet-plugin-notes-data");
///
/// let dev = Instance::new("dev").unwrap();
/// assert_eq!(dev.container_name("notes"), "nanofleet-plugin-notes.dev");
/// assert_eq!(dev.volume_name("notes"), "nanofleet-plugin-notes-data.dev");
/// assert_eq!(dev.plugin_base_url("notes", 8080), "http://nanofleet-plugin-notes.dev:8080/mcp");
/// assert!(Instance::new("Dev").is_err() && Instance::new("a.b").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Instance(String);

/// The longest instance name: it ends up in a DNS name, a label and messages.
pub const MAX_INSTANCE_LEN: usize = 32;

/// An instance name that breaks [`Instance::new`]'s rule; the message says which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceError(String);

impl std::fmt::Display for InstanceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InstanceError {}

impl Instance {
    /// An instance named `name`: 1 to [`MAX_INSTANCE_LEN`] lowercase letters, digits and `-`,
    /// not starting or ending with `-` (it becomes part of DNS names, where case does not
    /// tell names apart). `default` is the default instance.
    ///
    /// # Errors
    ///
    /// [`InstanceError`] naming the rule `name` breaks.
    pub fn new(name: impl Into<String>) -> Result<Self, InstanceError> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= MAX_INSTANCE_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if ok {
            Ok(Self(name))
        } else {
            Err(InstanceError(format!(
                "`{}` is not a valid instance name: use 1 to {MAX_INSTANCE_LEN} lowercase \
                 letters, digits and `-` (not first or last)",
                name.escape_debug()
            )))
        }
    }

    /// The instance's name, as its containers and volumes are labelled.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// Whether this is the default instance, which keeps NanoFleet's names.
    pub fn is_default(&self) -> bool {
        self.0 == crate::labels::DEFAULT_INSTANCE
    }

    /// Whether an object labelled with `label` (or with none: objects from before instance
    /// labels are the default instance's) belongs to this instance.
    pub fn owns(&self, label: Option<&str>) -> bool {
        label.unwrap_or(crate::labels::DEFAULT_INSTANCE) == self.0
    }

    fn qualify(&self, name: String) -> String {
        if self.is_default() {
            name
        } else {
            format!("{name}.{}", self.0)
        }
    }

    /// The container name of `plugin` in this instance: also its DNS name on [`NETWORK`].
    pub fn container_name(&self, plugin: &str) -> String {
        self.qualify(container_name(plugin))
    }

    /// The name the new version of `plugin` starts under during an upgrade.
    pub fn staging_container_name(&self, plugin: &str) -> String {
        self.qualify(staging_container_name(plugin))
    }

    /// The data volume of `plugin` in this instance.
    pub fn volume_name(&self, plugin: &str) -> String {
        self.qualify(volume_name(plugin))
    }

    /// The URL an agent uses to reach `plugin` of this instance on [`NETWORK`], without the
    /// agent's query.
    pub fn plugin_base_url(&self, plugin: &str, mcp_port: u16) -> String {
        format!(
            "http://{}:{mcp_port}{MCP_PATH}",
            self.container_name(plugin)
        )
    }
}

impl Default for Instance {
    fn default() -> Self {
        Self(crate::labels::DEFAULT_INSTANCE.to_owned())
    }
}

impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Instance {
    type Err = InstanceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// The MCP endpoint path every plugin serves.
pub const MCP_PATH: &str = "/mcp";

/// The query parameter that names the calling agent.
pub const AGENT_ID_PARAM: &str = "agent_id";

/// The query parameter carrying the agent's signature, when the host signs identities.
pub const AGENT_SIG_PARAM: &str = "agent_sig";

/// The query parameter naming the link the URL was written for: an opaque id the host draws
/// afresh each time it links an agent to a plugin (and again when the agent moves to another
/// workspace). A plugin that checks signatures also checks that this is the agent's current
/// link, as the host's callback API reports it ([`crate::callback::Agent::link`]), so a URL
/// left behind by an unlink or in an old workspace stops working.
pub const AGENT_LINK_PARAM: &str = "agent_link";

/// The longest link id a plugin accepts, in bytes; the host's are 32 hex digits.
pub const MAX_LINK_ID_LEN: usize = 64;

/// Whether `link` has the form of a link id: 1 to [`MAX_LINK_ID_LEN`] characters of
/// `A-Z a-z 0-9 - _`, so it travels in a query string unescaped.
///
/// ```
/// use nanofleet_contracts::names::is_link_id;
///
/// assert!(is_link_id("0f3a9c2e5b7d4e1f8a6c3b2d1e0f9a8b"));
/// assert!(!is_link_id(""));
/// assert!(!is_link_id("a b"));
/// ```
pub fn is_link_id(link: &str) -> bool {
    (1..=MAX_LINK_ID_LEN).contains(&link.len())
        && link
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The URL an agent uses to reach a plugin on [`NETWORK`], without the agent's query.
///
/// ```
/// assert_eq!(
///     nanofleet_contracts::names::plugin_base_url("notes", 8080),
///     "http://nanofleet-plugin-notes:8080/mcp"
/// );
/// ```
pub fn plugin_base_url(plugin: &str, mcp_port: u16) -> String {
    format!("http://{}:{mcp_port}{MCP_PATH}", container_name(plugin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_instances_share_a_name() {
        let plugins = [
            "notes",
            "notes-next",
            "a",
            "a-b",
            "b",
            "dev",
            "plugin-notes",
            "x--y",
        ];
        let instances = ["default", "dev", "a", "b", "a-b", "next", "data", "x"];
        let mut seen = std::collections::BTreeMap::new();
        for instance in instances {
            let instance = Instance::new(instance).expect("valid");
            for plugin in plugins {
                for (kind, name) in [
                    ("container", instance.container_name(plugin)),
                    ("container", instance.staging_container_name(plugin)),
                    ("volume", instance.volume_name(plugin)),
                ] {
                    let owner = (instance.name().to_owned(), plugin);
                    if let Some(other) = seen.insert((kind, name.clone()), owner.clone())
                        && other.0 != owner.0
                    {
                        panic!("{kind} {name} is both {other:?}'s and {owner:?}'s");
                    }
                }
            }
        }
    }

    #[test]
    fn instance_names_are_dns_safe_and_dotless() {
        for good in ["default", "dev", "ci-1", "a", &"x".repeat(MAX_INSTANCE_LEN)] {
            assert!(Instance::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Dev",
            "a.b",
            "a_b",
            "-a",
            "a-",
            "a b",
            "é",
            &"x".repeat(MAX_INSTANCE_LEN + 1),
        ] {
            let err = Instance::new(bad).expect_err(bad);
            assert!(err.to_string().contains("instance name"), "{err}");
        }
        assert!(Instance::default().is_default());
        assert!(Instance::default().owns(None));
        assert!(!Instance::new("dev").expect("valid").owns(None));
    }
}
