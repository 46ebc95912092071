//! The command line every plugin binary answers: `serve` (the default), `manifest`, `--help`.

use std::process::ExitCode;

use crate::{AgentId, Error, Plugin, env::PluginEnv};

const HELP: &str = "\
USAGE:
    {bin} [serve]      Serve MCP on 0.0.0.0:<mcpPort> (and the UI on <uiPort>) until SIGTERM
    {bin} stdio --agent <id> [--data-dir <dir>]
                       Serve MCP on stdin/stdout for one agent (a local MCP client starts it);
                       the agent's data lives in <dir> (or NANOFLEET_DATA_DIR)
    {bin} manifest     Print manifest.json and exit
    {bin} tools        Print the tools (as tools/list reports them) as JSON and exit
    {bin} --help       Print this help

ENVIRONMENT (set by the NanoFleet host in the plugin container):
    NANO_API_URL                          The host's API, for callbacks
    NANO_INTERNAL_TOKEN                   This install's secret (callbacks, signatures, nf_token)
    NANO_PLUGIN_ID                        The plugin's id on the host
    NANOFLEET_REQUIRE_AGENT_SIGNATURE=1   Refuse requests without a valid agent_sig
    NANOFLEET_DATA_DIR                    Where per-agent data lives (default /data)
    NANOFLEET_MCP_ADDR, NANOFLEET_UI_ADDR Listen addresses (default 0.0.0.0:<port>)
    NANOFLEET_ALLOWED_HOSTS               Extra Host names accepted on /mcp, or *
    NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN=1  Accept NanoFleet's own nf_token unchecked
    RUST_LOG                              Log filter (default info,rmcp=warn: one line per tool call)
";

/// The help text: the commands, the variables every plugin reads, and this plugin's own
/// required variables when the plugin could be built (`Err` carries why it could not).
fn help_text(bin: &str, plugin: Result<&Plugin, &Error>) -> String {
    let mut text = HELP.replace("{bin}", bin);
    text.push_str("\nPLUGIN ENVIRONMENT (this plugin's requiredEnvVars; `serve` refuses to start while one is unset):\n");
    match plugin {
        Ok(plugin) if plugin.manifest().required_env_vars.is_empty() => {
            text.push_str("    (none)\n");
        }
        Ok(plugin) => {
            for name in &plugin.manifest().required_env_vars {
                text.push_str("    ");
                text.push_str(name);
                text.push('\n');
            }
        }
        Err(e) => {
            text.push_str("    (unknown: the plugin could not be built: ");
            text.push_str(&e.to_string().replace('\n', "\n    "));
            text.push_str(")\n");
        }
    }
    text
}

/// Runs a plugin binary: builds the plugin with `build` and acts on the command line.
///
/// `main` is one line: `fn main() -> std::process::ExitCode { nanofleet_sdk::cli::run(build) }`.
/// Errors are printed to stderr as sentences and give exit code 1; a wrong command gives 2.
pub fn run(build: impl FnOnce() -> Result<Plugin, Error>) -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let bin = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map_or_else(|| "plugin".to_owned(), |n| n.to_string_lossy().into_owned());
    let command = args.get(1).map(String::as_str);
    if matches!(command, Some("--help" | "-h" | "help")) {
        return emit(&help_text(&bin, build().as_ref()));
    }
    let stdio = if command == Some("stdio") {
        match StdioArgs::parse(&args[2..]) {
            Ok(stdio) => Some(stdio),
            Err(message) => {
                eprintln!("error: {message}; see `{bin} --help`");
                return ExitCode::from(2);
            }
        }
    } else {
        if let Some(extra) = args.get(2) {
            eprintln!("error: unexpected argument `{extra}`; see `{bin} --help`");
            return ExitCode::from(2);
        }
        None
    };
    let plugin = match build() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Some("manifest") => emit(&format!("{}\n", plugin.manifest().to_json_pretty())),
        Some("tools") => match serde_json::to_string_pretty(plugin.tools()) {
            Ok(text) => emit(&format!("{text}\n")),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        None | Some("serve") => serve_blocking(plugin),
        Some("stdio") => match stdio {
            Some(args) => stdio_blocking(plugin, args),
            None => ExitCode::from(2),
        },
        Some(other) => {
            eprintln!("error: unknown command `{other}`; see `{bin} --help`");
            ExitCode::from(2)
        }
    }
}

/// Writes to stdout; a closed pipe (`plugin tools | head`) is not a crash.
fn emit(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `stdio --agent <id> [--data-dir <dir>]`.
#[derive(Debug, PartialEq, Eq)]
struct StdioArgs {
    agent: AgentId,
    data_dir: Option<std::path::PathBuf>,
}

impl StdioArgs {
    fn parse(args: &[String]) -> Result<Self, String> {
        let (mut agent, mut data_dir) = (None, None);
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (flag.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next().cloned())
                    .ok_or_else(|| format!("`{name}` needs a value"))
            };
            match name {
                "--agent" => {
                    let raw = value()?;
                    agent = Some(AgentId::new(&raw).map_err(|e| format!("`--agent`: {e}"))?);
                }
                "--data-dir" => data_dir = Some(std::path::PathBuf::from(value()?)),
                other => return Err(format!("unexpected argument `{other}` for `stdio`")),
            }
        }
        let agent = agent
            .ok_or_else(|| "`stdio` serves one agent: name it with `--agent <id>`".to_owned())?;
        Ok(Self { agent, data_dir })
    }
}

fn stdio_blocking(plugin: Plugin, args: StdioArgs) -> ExitCode {
    crate::server::init_tracing();
    let mut env = match PluginEnv::from_env_for(plugin.manifest()) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.data_dir.is_some() {
        env.data_dir = args.data_dir;
    }
    if env.data_dir.is_none() && plugin.uses_store() {
        eprintln!(
            "error: this plugin keeps each agent's data in a directory: name it with `--data-dir <dir>` (or NANOFLEET_DATA_DIR)"
        );
        return ExitCode::from(2);
    }
    block_on(crate::stdio::serve_stdio(&plugin, env, args.agent))
}

fn serve_blocking(plugin: Plugin) -> ExitCode {
    block_on(crate::serve(plugin))
}

/// Runs a serving future on a multi-threaded runtime; its error, printed, is exit code 1.
fn block_on(serving: impl std::future::Future<Output = Result<(), Error>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serving) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Manifest,
        tool::{NoArgs, Tool, ToolCall},
    };

    fn plugin(required: &[&str]) -> Result<Plugin, Error> {
        let manifest =
            Manifest::new("p", "0.1.0", "p:0.1.0", 8080).with_required_env_vars(required.to_vec());
        Plugin::builder(manifest)
            .tool(
                Tool::new("t", "Does nothing.").handler(|_: NoArgs, _: ToolCall| async { "done" }),
            )
            .build()
    }

    #[test]
    fn help_lists_the_plugins_required_variables_after_the_common_ones() {
        let plugin = plugin(&["OPENAI_API_KEY", "REGION"]).expect("valid");
        let help = help_text("p", Ok(&plugin));
        assert!(help.starts_with("USAGE:\n    p [serve]"), "{help}");
        let common = help.find("NANO_INTERNAL_TOKEN").expect("common variables");
        let own = help.find("PLUGIN ENVIRONMENT").expect("own variables");
        assert!(common < own, "{help}");
        let section = &help[own..];
        assert!(
            section.contains("\n    OPENAI_API_KEY\n    REGION\n"),
            "{help}"
        );
    }

    #[test]
    fn help_says_when_there_is_nothing_of_the_plugins_own_or_it_cannot_be_known() {
        let plugin = plugin(&[]).expect("valid");
        assert!(help_text("p", Ok(&plugin)).ends_with("\n    (none)\n"));
        let err = plugin_with_a_bad_tool();
        let help = help_text("p", Err(&err));
        assert!(
            help.contains("(unknown: the plugin could not be built"),
            "{help}"
        );
    }

    #[test]
    fn stdio_takes_an_agent_and_a_data_dir_in_either_form() {
        let parse = |args: &[&str]| {
            StdioArgs::parse(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
        };
        let parsed = parse(&["--agent", "ada", "--data-dir=/tmp/d"]).expect("valid");
        assert_eq!(parsed.agent.as_str(), "ada");
        assert_eq!(
            parsed.data_dir.as_deref(),
            Some(std::path::Path::new("/tmp/d"))
        );
        assert_eq!(parse(&["--agent=ada"]).expect("valid").data_dir, None);
        for (args, needle) in [
            (&[][..], "name it with `--agent <id>`"),
            (&["--agent"][..], "`--agent` needs a value"),
            (&["--agent", ""][..], "`--agent`:"),
            (
                &["--agent", "a", "--verbose"][..],
                "unexpected argument `--verbose`",
            ),
        ] {
            let err = parse(args).expect_err(needle);
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    fn plugin_with_a_bad_tool() -> Error {
        Plugin::builder(Manifest::new("p", "0.1.0", "p:0.1.0", 8080))
            .tool(Tool::new("Bad-Name", "x").handler(|_: NoArgs, _: ToolCall| async { "" }))
            .build()
            .expect_err("invalid tool name")
    }
}
