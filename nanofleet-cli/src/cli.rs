//! The command line, as clap reads it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use nanofleet_host::manifest::{Cpus, Destination, Filesystem, Memory, Network, Overrides};

/// Run NanoFleet MCP plugins on this machine: install them in Docker, link them to agents,
/// keep them running.
#[derive(Debug, Parser)]
#[command(
    name = "nanofleet",
    version,
    propagate_version = true,
    after_help = "Errors are printed as `error: …` on stderr with exit status 1; usage errors \
                  exit with 2.\nRun `nanofleet <command> --help` for the details of a command."
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, also read from the environment.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Where the host keeps its state (store and secret key)
    /// [default: $XDG_DATA_HOME/nanofleet or ~/.local/share/nanofleet]
    #[arg(long, global = true, env = "NANOFLEET_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The host API URL given to plugins as NANO_API_URL [default: http://nanofleet-api:3000;
    /// for `serve`, http://GATEWAY:PORT, where it listens for plugins]
    #[arg(long, global = true, env = "NANOFLEET_API_URL", value_name = "URL")]
    pub api_url: Option<String>,

    /// This host's name among hosts sharing one Docker engine (lowercase letters, digits,
    /// `-`): it owns only the containers and volumes named and labelled for it; `default`
    /// keeps NanoFleet's names [default: default]
    #[arg(long, global = true, env = "NANOFLEET_INSTANCE", value_name = "NAME")]
    pub instance: Option<String>,

    /// The engine that runs plugins: `docker` (one engine, at DOCKER_HOST or the default
    /// socket) or `swarm` (a Docker Swarm, through the manager at DOCKER_HOST)
    #[arg(
        long,
        global = true,
        env = "NANOFLEET_ENGINE",
        value_name = "ENGINE",
        default_value = "docker"
    )]
    pub engine: nanofleet_host::runtime::Engine,

    /// Development mode: publish plugin ports on 127.0.0.1 and write loopback URLs into
    /// agents' .mcp.json, for agents running outside Docker
    #[arg(
        long,
        global = true,
        env = "NANOFLEET_DEV",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub dev: bool,

    /// How long a started plugin may take to list its tools [default: 30]
    #[arg(
        long,
        global = true,
        env = "NANOFLEET_READY_TIMEOUT",
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub ready_timeout: Option<u64>,

    /// Talk to a running `nanofleet serve` at this http:// or https:// URL instead of the
    /// local store and engine (install, ls, tools, ui, rm, restart, upgrade, enable,
    /// disable, logs, agents, keys, config, tokens, audit, policy).
    /// The API token is read from NANOFLEET_TOKEN or --token-file
    #[arg(long, global = true, env = "NANOFLEET_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// A file holding the server's API token, for --server. Else the token is read from the
    /// NANOFLEET_TOKEN environment variable; there is no --token option, because the command
    /// line is visible to every user of the machine (ps)
    #[arg(long, global = true, env = "NANOFLEET_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Log what the host does on stderr: -v for each step, -vv for details, -vvv for
    /// everything. RUST_LOG (e.g. `nanofleet_host=debug`) takes precedence. `serve` logs
    /// each step without it
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a plugin crate: two tools, tests (in-process and end-to-end), a README and CI
    New(NewArgs),
    /// Build a plugin crate into a FROM scratch image (static binary, non-root, the manifest
    /// and tool list as labels)
    Build(BuildArgs),
    /// Show a plugin image's manifest, tools, labels, size and digest, from its labels alone
    Inspect(InspectArgs),
    /// Build, install and link a plugin for development; rebuild and upgrade it when its
    /// sources change, until Ctrl-C, then remove what was created
    Dev(DevArgs),
    /// Check plugin manifests and report every problem
    #[command(after_help = VALIDATE_AFTER_HELP)]
    Validate(ValidateArgs),
    /// Install a plugin and wait until it lists its tools
    #[command(after_help = SOURCE_HELP)]
    Install(InstallArgs),
    /// List installed plugins
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// List an installed plugin's tools, with their descriptions and input schemas
    Tools(ToolsArgs),
    /// Print a URL that opens a plugin's web UI through the host (a fresh UI session), or
    /// open it in the browser with --open
    #[command(after_help = UI_AFTER_HELP)]
    Ui(UiArgs),
    /// Uninstall a plugin: its container and links go; its data volume stays unless --purge
    #[command(visible_alias = "uninstall")]
    Rm(RmArgs),
    /// Restart a plugin, whatever state its container is in
    Restart(NameArgs),
    /// Replace an installed plugin by another version; the old one serves until the new
    /// one is ready
    #[command(after_help = SOURCE_HELP)]
    Upgrade(UpgradeArgs),
    /// Start a disabled plugin, now and whenever the host reconciles
    Enable(NameArgs),
    /// Stop a plugin and keep it stopped; its links stay
    Disable(NameArgs),
    /// Make the engine and the agents' .mcp.json match the store, once
    Reconcile(JsonArg),
    /// Print a plugin's log
    Logs(LogsArgs),
    /// Register agents and link them to plugins
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Set the API keys plugins require (values are stored encrypted, never printed)
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create, list and revoke scoped API tokens (`read` or `operate`), for `--server` and
    /// the API
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Show the audit log: every mutating call through the API, who made it, when, and
    /// its result
    Audit(AuditArgs),
    /// Show and change a plugin's typed settings (its manifest's `config`); a change
    /// recreates the plugin with the new values
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show or set the operator's policy: the most memory, CPU and processes any plugin may
    /// get, and whether unrestricted network or spawning may be granted at all
    Policy(PolicyArgs),
    /// Call a plugin's tool as an agent would
    Call(CallArgs),
    /// Run the host: its HTTP API (for the dashboard, `--server` and plugins' callbacks) and
    /// the reconciler, until SIGINT or SIGTERM
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(ServeArgs),
    /// Print a shell completion script
    #[command(after_help = COMPLETIONS_AFTER_HELP)]
    Completions(CompletionsArgs),
}

/// Where the UI comes from, for `ui`'s help.
const UI_AFTER_HELP: &str = "\
A plugin's UI is served through a running `nanofleet serve` (its UI proxy): with --server,
that server; without, the `serve` running on this machine's data directory, whose address
and token are read from the data directory.

The URL carries a UI token for this plugin alone, valid for a few minutes: anyone holding it
can use the plugin's UI until then, so do not share it.";

/// How to install completions, for `completions`' help.
const COMPLETIONS_AFTER_HELP: &str = "\
Examples:
  nanofleet completions bash > ~/.local/share/bash-completion/completions/nanofleet
  nanofleet completions zsh > \"${fpath[1]}/_nanofleet\"
  nanofleet completions fish > ~/.config/fish/completions/nanofleet.fish";

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print only the plugins' names, one per line
    #[arg(long, short = 'q', conflicts_with = "json")]
    pub quiet: bool,
    /// Print JSON on stdout instead of text
    #[arg(long)]
    pub json: bool,
}

/// `tools`.
#[derive(Debug, Args)]
pub struct ToolsArgs {
    /// The plugin
    pub plugin: String,
    /// Print the tools as JSON, as the plugin lists them (`tools/list`)
    #[arg(long)]
    pub json: bool,
}

/// `ui`.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// The plugin
    pub plugin: String,
    /// Open the URL in the default browser instead of printing it
    #[arg(long)]
    pub open: bool,
    /// Print the URL, its token and when it expires as JSON
    #[arg(long, conflicts_with = "open")]
    pub json: bool,
}

/// How `serve` listens and authenticates, for its help.
const SERVE_AFTER_HELP: &str = "\
The API listens on --listen and on the gateway of the plugins' internal network (same port),
where plugins call back; unless --api-url is given, plugins get NANO_API_URL=http://GATEWAY:PORT.

The dashboard is at the same address (`/`): sign in there with the token. Another origin may
frame it and plugin UIs only if named with --frame-ancestor.

Every /api route needs `Authorization: Bearer <token>`. The token is created on the first
start, printed once on stderr and kept in DATA_DIR/api-token (mode 0600). Other commands use
it with `--server`:
  NANOFLEET_TOKEN=<token> nanofleet --server http://127.0.0.1:8787 ls

SIGINT or SIGTERM stops accepting connections, lets requests in flight finish (10 s at most)
and exits with 0.";

/// Exit status of `validate`, for its help.
const VALIDATE_AFTER_HELP: &str = "\
Sources:
  PATH            a manifest file, or a directory searched for manifest.json and *.nanofleet.json
  http(s)://…     a manifest served over HTTP or HTTPS
  image:REF       the com.nanofleet.manifest label of a local image (needs the Docker engine)
  REPO:TAG        the same, written as docker users do (nanofleet/notes:0.1.0, or @sha256:…),
                  when no file of that name exists

Exit status:
  0  no errors (warnings allowed)
  1  at least one manifest has errors, or a source could not be read
  2  usage problem (bad arguments) or the report could not be written";

/// Where install and upgrade read a manifest from, for their help.
const SOURCE_HELP: &str = "\
Sources:
  PATH            a manifest file, or a directory holding exactly one manifest
  http(s)://…     a manifest served over HTTP or HTTPS
  image:REF       the com.nanofleet.manifest label of a local image; that image is run
  REPO:TAG        the same, written as docker users do (nanofleet/notes:0.1.0, or @sha256:…),
                  when no file of that name exists";

/// `policy`: shows the policy; with any option, changes those fields first.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The most memory a plugin may get, e.g. 1GiB (`none`: no maximum)
    #[arg(long, value_name = "SIZE|none", value_parser = parse_optional_memory)]
    pub max_memory: Option<Maximum<Memory>>,
    /// The most CPUs a plugin may get, e.g. 2 (`none`: no maximum)
    #[arg(long, value_name = "CPUS|none", value_parser = parse_optional_cpus)]
    pub max_cpus: Option<Maximum<Cpus>>,
    /// The most processes and threads a plugin may get (`none`: no maximum)
    #[arg(long, value_name = "N|none", value_parser = parse_optional_pids)]
    pub max_pids: Option<Maximum<u32>>,
    /// Refuse plugins granted unrestricted network (`"network": true`)
    #[arg(long, value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub forbid_unrestricted_network: Option<bool>,
    /// Refuse plugins granted child processes (`"process": {"spawn": true}`)
    #[arg(long, value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub forbid_spawn: Option<bool>,
    /// Print the policy as JSON
    #[arg(long)]
    pub json: bool,
}

/// A maximum of the policy as given on the command line: a value, or `none` for no maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Maximum<T>(pub Option<T>);

fn parse_optional_memory(text: &str) -> Result<Maximum<Memory>, String> {
    if text == "none" {
        return Ok(Maximum(None));
    }
    parse_memory(text).map(|m| Maximum(Some(m)))
}

fn parse_optional_cpus(text: &str) -> Result<Maximum<Cpus>, String> {
    if text == "none" {
        return Ok(Maximum(None));
    }
    parse_cpus(text).map(|c| Maximum(Some(c)))
}

fn parse_optional_pids(text: &str) -> Result<Maximum<u32>, String> {
    if text == "none" {
        return Ok(Maximum(None));
    }
    match text.trim().parse::<u32>() {
        Ok(n) if n >= 8 => Ok(Maximum(Some(n))),
        _ => Err(format!(
            "`{text}` is not a number of processes of at least 8"
        )),
    }
}

/// `--json` alone.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON on stdout instead of text
    #[arg(long)]
    pub json: bool,
}

/// `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files, directories, http(s):// URLs, image:REF or REPO:TAG
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    /// Print the report as JSON: {"candidates": [...], "errors": n, "warnings": n}
    #[arg(long)]
    pub json: bool,
}

/// `install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Where the manifest is: a path, an http(s):// URL, image:REF or REPO:TAG
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Grant unrestricted network whatever the manifest declares (short for `--network true`
    /// with the widening allowed; it is recorded)
    #[arg(long)]
    pub egress: bool,
    /// Pull the image when it is not on this machine
    #[arg(long)]
    pub pull: bool,
    /// How many copies run behind the plugin's name (default 1; on upgrade, as before). More
    /// than one needs a plugin without a data volume (`--filesystem none`) and `--engine swarm`
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=32))]
    pub replicas: Option<u32>,
    /// Changes to the manifest's permissions for this install
    #[command(flatten)]
    pub permissions: PermissionArgs,
    /// Values for the plugin's settings
    #[command(flatten)]
    pub config: ConfigValueArgs,
    /// Print the installed plugin as JSON
    #[arg(long)]
    pub json: bool,
}

/// `--config KEY=VALUE`, for install and upgrade.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Settings (the manifest's `config`)")]
pub struct ConfigValueArgs {
    /// A setting's value; repeat for each. `--config KEY` alone reads the value from stdin
    /// (not echoed at a terminal), for a secret that should not be on the command line
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub values: Vec<String>,
}

/// `tokens …`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token; its value is printed once, on stdout, and never again
    Create(TokenCreateArgs),
    /// List the tokens (names, scopes, last use; never values)
    #[command(visible_alias = "list")]
    Ls(JsonArg),
    /// Revoke a token: it stops working at once
    Revoke(TokenNameArgs),
}

/// `tokens create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The token's name: letters, digits, `-`, `_`, `.`
    #[arg(long)]
    pub name: String,
    /// `read` (GET routes and read-only tools) or `operate` (everything but tokens)
    #[arg(long, value_parser = ["read", "operate"])]
    pub scope: String,
    /// Print the token and its record as JSON
    #[arg(long)]
    pub json: bool,
}

/// `tokens revoke`.
#[derive(Debug, Args)]
pub struct TokenNameArgs {
    /// The token's name
    pub name: String,
    /// Print what was revoked as JSON
    #[arg(long)]
    pub json: bool,
}

/// `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// How many entries, newest first
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print JSON on stdout instead of text
    #[arg(long)]
    pub json: bool,
}

/// `config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// List a plugin's settings with the values it runs with (sensitive ones hidden)
    #[command(visible_alias = "list")]
    Ls(ConfigLsArgs),
    /// Set settings of a plugin, then recreate it with the new values
    #[command(after_help = "\
Examples:
  nanofleet config set weather base_url=https://api.example.com days=5
  nanofleet config set weather api_token          (type the value, then Enter)
  printf %s \"$TOKEN\" | nanofleet config set weather api_token

Every value is checked against the setting (type, allowed values, bounds) before any is
stored. A value given without `=` is read from stdin; only one such key per command.")]
    Set(ConfigSetArgs),
    /// Remove the values of settings (their defaults apply again), then recreate the plugin
    Rm(ConfigRmArgs),
}

/// `config ls`.
#[derive(Debug, Args)]
pub struct ConfigLsArgs {
    /// The plugin
    pub plugin: String,
    /// Print JSON on stdout instead of text
    #[arg(long)]
    pub json: bool,
}

/// `config set`.
#[derive(Debug, Args)]
pub struct ConfigSetArgs {
    /// The plugin
    pub plugin: String,
    /// KEY=VALUE, or KEY alone to read the value from stdin
    #[arg(required = true, value_name = "KEY[=VALUE]")]
    pub values: Vec<String>,
    /// Print the settings as JSON afterwards
    #[arg(long)]
    pub json: bool,
}

/// `config rm`.
#[derive(Debug, Args)]
pub struct ConfigRmArgs {
    /// The plugin
    pub plugin: String,
    /// The settings whose values go
    #[arg(required = true, value_name = "KEY")]
    pub keys: Vec<String>,
    /// Print the settings as JSON afterwards
    #[arg(long)]
    pub json: bool,
}

/// The operator's changes to a manifest's `permissions`, for install and upgrade. Narrowing
/// needs nothing; granting more than the manifest declares needs --allow-more.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Permissions (narrow what the manifest declares)")]
pub struct PermissionArgs {
    /// Network beyond the internal one: `false` (none), `true` (anywhere) or a
    /// comma-separated allow-list of HOST:PORT (`*.example.com:443` for a domain)
    #[arg(long, value_name = "false|true|HOST:PORT,…", value_parser = parse_network)]
    pub network: Option<Network>,
    /// The data volume at /data
    #[arg(long, value_name = "read-write|read-only|none", value_parser = parse_filesystem)]
    pub filesystem: Option<Filesystem>,
    /// Whether the plugin may start child processes
    #[arg(long, value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub spawn: Option<bool>,
    /// Memory limit, e.g. 128MiB or 1GiB
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    pub memory: Option<Memory>,
    /// CPU limit in CPUs, e.g. 0.5
    #[arg(long, value_name = "CPUS", value_parser = parse_cpus)]
    pub cpus: Option<Cpus>,
    /// Most processes and threads at once
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(8..))]
    pub pids: Option<u32>,
    /// Grant what these options (or, on upgrade, the new manifest) ask for even where it is
    /// more than the manifest declares or the plugin held; recorded with the plugin
    #[arg(long)]
    pub allow_more: bool,
}

impl PermissionArgs {
    /// The overrides these options give.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            network: self.network.clone(),
            filesystem: self.filesystem,
            spawn: self.spawn,
            memory: self.memory,
            cpus: self.cpus,
            pids: self.pids,
        }
    }
}

/// `--network`: `false`/`none`, `true`/`any`, or a list of destinations, each checked.
pub fn parse_network(text: &str) -> Result<Network, String> {
    match text.trim() {
        "false" | "none" => return Ok(Network::None),
        "true" | "any" | "unrestricted" => return Ok(Network::Unrestricted),
        _ => {}
    }
    let list: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() {
        return Err("give `false`, `true` or HOST:PORT destinations".into());
    }
    for entry in &list {
        Destination::parse(entry).map_err(|v| v.to_string())?;
    }
    Ok(Network::Allow(list))
}

fn parse_filesystem(text: &str) -> Result<Filesystem, String> {
    Filesystem::parse(text.trim())
        .ok_or_else(|| format!("`{text}`: use read-write, read-only or none"))
}

/// `--memory`, `--max-memory`: a size with a binary unit.
pub fn parse_memory(text: &str) -> Result<Memory, String> {
    let memory = Memory::parse(text).map_err(|v| v.to_string())?;
    memory.check().map_err(|v| v.to_string())?;
    Ok(memory)
}

/// `--cpus`, `--max-cpus`: a positive number of CPUs.
pub fn parse_cpus(text: &str) -> Result<Cpus, String> {
    let cpus: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of CPUs, e.g. 0.5"))?;
    let cpus = Cpus::from_cpus(cpus).map_err(|v| v.to_string())?;
    cpus.check().map_err(|v| v.to_string())?;
    Ok(cpus)
}

/// `upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Where the new manifest is: a path, an http(s):// URL, image:REF or REPO:TAG
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Pull the image when it is not on this machine
    #[arg(long)]
    pub pull: bool,
    /// How many copies run behind the plugin's name (default 1; on upgrade, as before). More
    /// than one needs a plugin without a data volume (`--filesystem none`) and `--engine swarm`
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=32))]
    pub replicas: Option<u32>,
    /// Changes to the permissions; overrides given at install stay unless named again
    #[command(flatten)]
    pub permissions: PermissionArgs,
    /// Values for the new version's settings; values set before stay unless named again
    #[command(flatten)]
    pub config: ConfigValueArgs,
    /// Print the upgraded plugin as JSON
    #[arg(long)]
    pub json: bool,
}

/// `rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// The plugin
    pub name: String,
    /// Also remove the plugin's data volume: its data is gone for good
    #[arg(long)]
    pub purge: bool,
    /// Print what was removed as JSON
    #[arg(long)]
    pub json: bool,
}

/// A command on one plugin.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The plugin
    pub name: String,
    /// Print the plugin as JSON afterwards
    #[arg(long)]
    pub json: bool,
}

/// `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The plugin
    pub name: String,
    /// How many of the last lines to print
    #[arg(long, short = 'n', value_name = "N", default_value_t = 100)]
    pub tail: usize,
    /// Keep printing new lines until Ctrl-C or the container stops
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only lines written since then: a duration back from now (30s, 10m, 2h, 1d) or a
    /// time (2026-12-05T08:00:00Z)
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<i64>,
    /// Start each line with the time it was written (RFC 3339, UTC)
    #[arg(long, short = 't')]
    pub timestamps: bool,
}

/// `--since`: `30s`, `10m`, `2h`, `1d` back from now, or an RFC 3339 time; Unix seconds.
pub fn parse_since(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let bad = || {
        format!(
            "`{text}` is neither a duration (30s, 10m, 2h, 1d) nor a time such as \
             2026-12-05T08:00:00Z"
        )
    };
    if let Ok(time) = text.parse::<jiff::Timestamp>() {
        return Ok(time.as_second());
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let back = number.checked_mul(seconds).ok_or_else(bad)?;
    Ok(jiff::Timestamp::now().as_second().saturating_sub(back))
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address the API listens on for people and tools; port 0 picks a free port
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Seconds between full reconcile passes; a container that dies or vanishes is seen at
    /// once from the engine's events
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub reconcile_interval: u64,
    /// The port of the egress proxy on the internal network's gateway, through which plugins
    /// with a network allow-list reach their destinations [default: the API's port + 1; a
    /// free one when the API's port is 0]
    #[arg(long, value_name = "PORT")]
    pub egress_port: Option<u16>,
    /// An origin besides this server's own that may frame its dashboard and plugin UIs
    /// (an application embedding them in its own pages), e.g. `https://app.example.com`;
    /// repeat for each, or separate them with commas in the environment variable
    #[arg(
        long = "frame-ancestor",
        value_name = "ORIGIN",
        env = "NANOFLEET_FRAME_ANCESTORS",
        value_delimiter = ',',
        value_parser = parse_frame_ancestor
    )]
    pub frame_ancestors: Vec<nanofleet_host::api::FrameAncestor>,
}

fn parse_frame_ancestor(text: &str) -> Result<nanofleet_host::api::FrameAncestor, String> {
    nanofleet_host::api::FrameAncestor::parse(text)
}

/// `new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits and `-` (also the crate's name)
    pub name: String,
    /// Where to create it [default: ./NAME]
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// Add a web UI (a page the dashboard shows in its sidebar)
    #[arg(long)]
    pub ui: bool,
    /// The image repository, e.g. ghcr.io/acme/NAME [default: NAME]
    #[arg(long, value_name = "REPOSITORY")]
    pub image: Option<String>,
}

/// Which crate to build, shared by `build` and `dev`.
#[derive(Debug, Args)]
pub struct CrateArgs {
    /// The plugin crate's directory (or its Cargo.toml) [default: .]
    pub path: Option<PathBuf>,
    /// The package, when PATH is a workspace of several
    #[arg(long, short = 'p', value_name = "PACKAGE")]
    pub package: Option<String>,
    /// The binary target, when the package has several
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
}

/// `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The crate
    #[command(flatten)]
    pub krate: CrateArgs,
    /// Another reference to tag the image as (repeatable); it is always tagged as its
    /// manifest's `image` and as REPOSITORY:dev
    #[arg(long, short = 't', value_name = "REF")]
    pub tag: Vec<String>,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// An image reference, or the name of an installed plugin
    pub target: String,
    /// Print everything as JSON
    #[arg(long)]
    pub json: bool,
}

/// `dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// The crate
    #[command(flatten)]
    pub krate: CrateArgs,
    /// The development agent's id
    #[arg(long, value_name = "ID", default_value = "dev")]
    pub agent: String,
    /// How often to look for changed sources, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub poll_ms: u64,
    /// Build, install, print the client config and exit (leaving the plugin installed), instead
    /// of watching
    #[arg(long)]
    pub once: bool,
}

/// `call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// The plugin (omit it with --url)
    pub plugin: String,
    /// The tool
    pub tool: Option<String>,
    /// The agent id to call as (signed as the host signs linked agents' URLs); with --url,
    /// added to the URL as agent_id unless the URL has one
    #[arg(long, value_name = "ID", required_unless_present = "url")]
    pub agent: Option<String>,
    /// Call the plugin at this MCP URL (e.g. http://127.0.0.1:8080/mcp?agent_id=dev, a plugin
    /// running locally) instead of an installed one; then the only positional is the tool
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The tool's arguments, a JSON object, e.g. '{"name":"Ada"}'
    #[arg(long, value_name = "JSON")]
    pub args: Option<String>,
    /// Print the whole CallToolResult as JSON
    #[arg(long)]
    pub json: bool,
}

/// `agents …`.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Register an agent (or update its name and workspace)
    Add(AgentAddArgs),
    /// List agents with the plugins linked to each
    #[command(visible_alias = "list")]
    Ls(JsonArg),
    /// Unregister an agent; the host's entries leave its .mcp.json
    Rm(AgentIdArgs),
    /// Link an agent to a plugin: the plugin is added to the agent's .mcp.json
    Link(LinkArgs),
    /// Unlink an agent from a plugin: the plugin leaves the agent's .mcp.json
    Unlink(LinkArgs),
}

/// `agents add`.
#[derive(Debug, Args)]
pub struct AgentAddArgs {
    /// The agent's id, sent to plugins as agent_id
    pub id: String,
    /// The agent's workspace directory, where its client's file lives (.mcp.json; for
    /// nanobot, its home directory holding config.json)
    #[arg(long, value_name = "DIR")]
    pub workspace: PathBuf,
    /// A name for people [default: the id]
    #[arg(long)]
    pub name: Option<String>,
    /// The MCP client the agent runs, which decides the file written and its shape
    #[arg(long, value_name = "claude-code|nanobot|codex|vscode", default_value = "claude-code", value_parser = parse_client)]
    pub client: nanofleet_host::linking::Client,
    /// Print the agent as JSON afterwards
    #[arg(long)]
    pub json: bool,
}

fn parse_client(text: &str) -> Result<nanofleet_host::linking::Client, String> {
    nanofleet_host::linking::Client::parse(text).ok_or_else(|| {
        let known: Vec<&str> = nanofleet_host::linking::Client::ALL
            .iter()
            .map(|c| c.as_str())
            .collect();
        format!(
            "`{text}` is not a client this host writes for: {}",
            known.join(", ")
        )
    })
}

/// `agents rm`.
#[derive(Debug, Args)]
pub struct AgentIdArgs {
    /// The agent's id
    pub id: String,
    /// Print what was removed as JSON
    #[arg(long)]
    pub json: bool,
}

/// `agents link` and `agents unlink`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The agent's id
    pub agent: String,
    /// The plugin
    pub plugin: String,
    /// Print the agent's links and its client file afterwards, as JSON
    #[arg(long)]
    pub json: bool,
}

/// `keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Set an API key; the value is read from stdin, never from the command line
    #[command(after_help = "\
Examples:
  nanofleet keys set OPENAI_API_KEY            (type the value, then Enter)
  printf %s \"$TOKEN\" | nanofleet keys set GITHUB_TOKEN
  nanofleet keys set CERT < cert.pem

From a pipe or file the whole input is the value, less one trailing newline.")]
    Set(KeyNameArgs),
    /// List the names of the API keys set (never their values)
    #[command(visible_alias = "list")]
    Ls(JsonArg),
    /// Remove an API key
    Rm(KeyNameArgs),
}

/// A command on one API key.
#[derive(Debug, Args)]
pub struct KeyNameArgs {
    /// The key's name, an environment variable name such as OPENAI_API_KEY
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Print the result as JSON (never the value)
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn since_takes_durations_and_times() {
        let now = jiff::Timestamp::now().as_second();
        let ten_minutes = parse_since("10m").expect("10m");
        assert!((now - 600 - 2..=now - 600 + 2).contains(&ten_minutes));
        assert_eq!(parse_since("2026-12-05T08:00:00Z"), Ok(1_796_457_600));
        for bad in [
            "",
            "m",
            "10",
            "10y",
            "-5m",
            "yesterday",
            "99999999999999999999s",
        ] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
