//! The `nanofleet` command, run as a real process: each test has its own data directory and
//! instance. The engine-backed tests use support's hello image and clean up whatever
//! happens; the others run with `DOCKER_HOST` pointing nowhere, to prove they need no engine.

use nanofleet_host::names;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nanofleet_host::{
    runtime::Runtime,
    store::{PluginRecord, SECRET_KEY_ENV, Store},
};
use nanofleet_sdk::{identity::InternalToken, manifest::Manifest};
use nanofleet_test_support::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_nanofleet");
const NO_ENGINE: &str = "unix:///nonexistent/docker.sock";

/// A data directory, an instance and a scratch directory for one test.
struct Cli {
    dir: tempfile::TempDir,
    instance: String,
    /// `DOCKER_HOST` for every command, when set.
    docker_host: Option<String>,
}

impl Cli {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            instance: format!("cli-test-{:08x}", rand::random::<u32>()),
            docker_host: None,
        }
    }

    /// A test that must not need the engine: it points at a socket that does not exist.
    fn without_engine() -> Self {
        Self {
            docker_host: Some(NO_ENGINE.into()),
            ..Self::new()
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--instance")
            .arg(&self.instance)
            .args(args)
            .env_remove(SECRET_KEY_ENV)
            .env_remove("NANOFLEET_DATA_DIR")
            .env_remove("NANOFLEET_API_URL")
            .env_remove("NANOFLEET_INSTANCE")
            .env_remove("NANOFLEET_DEV")
            .env_remove("NANOFLEET_READY_TIMEOUT")
            .stdin(Stdio::null());
        if let Some(host) = &self.docker_host {
            command.env("DOCKER_HOST", host);
        }
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().expect("nanofleet runs"))
    }

    fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nanofleet starts");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).expect("write stdin");
        drop(stdin);
        Run(child.wait_with_output().expect("nanofleet runs"))
    }

    /// [`run`](Self::run) off the async workers, for the engine-backed tests.
    async fn run_async(&self, args: &[&str]) -> Run {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || Run(command.output().expect("nanofleet runs")))
            .await
            .expect("join")
    }

    fn workspace(&self, agent: &str) -> PathBuf {
        let path = self.path(&format!("agents/{agent}"));
        std::fs::create_dir_all(&path).expect("workspace");
        path
    }
}

/// A finished command.
struct Run(Output);

impl Run {
    fn code(&self) -> Option<i32> {
        self.0.status.code()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout()))
    }

    #[track_caller]
    fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "exit status\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

fn write(path: &Path, contents: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, contents).expect("write");
}

fn good_manifest(name: &str) -> String {
    Manifest::new(name, "0.1.0", format!("nanofleet/{name}:0.1.0"), 8080).to_json_pretty()
}

fn broken_manifest() -> String {
    json!({"name": "Bad Name", "version": "one", "image": "", "mcpPort": 80}).to_string()
}

fn mcp_servers(workspace: &Path) -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(workspace.join(".mcp.json")).unwrap_or_else(|_| "{}".into());
    let doc: Value = serde_json::from_str(&text).expect(".mcp.json is JSON");
    doc["mcpServers"].as_object().cloned().unwrap_or_default()
}

/// Every byte under `dir`, to look for a secret in.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            bytes.extend(all_bytes(&path));
        } else {
            bytes.extend(std::fs::read(&path).expect("read"));
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Without an engine
// ---------------------------------------------------------------------------------------------

#[test]
fn validate_reports_every_manifest_and_exits_by_the_worst() {
    let cli = Cli::without_engine();
    write(
        &cli.path("plugins/good/manifest.json"),
        good_manifest("good-one"),
    );
    write(&cli.path("plugins/broken/manifest.json"), broken_manifest());
    let plugins = cli.path("plugins");
    let plugins = plugins.to_str().expect("utf-8 path");

    let run = cli.run(&["validate", plugins]);
    run.expect_code(1);
    let text = run.stdout();
    assert!(
        text.contains("good/manifest.json: ok (good-one 0.1.0)"),
        "{text}"
    );
    assert!(text.contains("broken/manifest.json:"), "{text}");
    assert!(text.contains("error at name"), "{text}");

    let run = cli.run(&["validate", "--json", plugins]);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["candidates"].as_array().map(Vec::len), Some(2));
    assert!(
        report["errors"].as_u64().is_some_and(|n| n >= 3),
        "{report}"
    );
    assert!(report["warnings"].is_u64(), "{report}");

    let good = cli.path("plugins/good");
    cli.run(&["validate", good.to_str().expect("utf-8")])
        .expect_code(0);
    let run = cli.run(&["validate", "--json", good.to_str().expect("utf-8")]);
    run.expect_code(0);
    assert_eq!(run.json()["errors"], 0);
}

#[test]
fn validate_a_missing_path_or_a_bad_flag() {
    let cli = Cli::without_engine();
    let missing = cli.path("no/such/manifest.json");
    let run = cli.run(&["validate", missing.to_str().expect("utf-8")]);
    run.expect_code(1);
    assert!(
        run.stdout().contains("no such file or directory"),
        "{}",
        run.stdout()
    );

    let run = cli.run(&["validate", "--bogus", "x"]);
    run.expect_code(2);
    assert!(run.stderr().contains("--bogus"), "{}", run.stderr());
    cli.run(&["validate"]).expect_code(2);
}

#[test]
fn keys_take_values_from_stdin_and_never_show_them() {
    let cli = Cli::without_engine();
    let secret = "s3cr3t-VALUE-0f9c2e";

    let run = cli.run_with_stdin(
        &["keys", "set", "CLI_TEST_KEY"],
        format!("{secret}\n").as_bytes(),
    );
    run.expect_code(0);
    assert!(!run.stdout().contains(secret) && !run.stderr().contains(secret));

    let run = cli.run(&["keys", "ls"]);
    run.expect_code(0);
    assert!(run.stdout().contains("CLI_TEST_KEY"), "{}", run.stdout());
    let run = cli.run(&["keys", "ls", "--json"]);
    run.expect_code(0);
    assert_eq!(run.json()[0]["name"], "CLI_TEST_KEY");
    assert!(!run.stdout().contains(secret));
    assert!(
        !contains(&all_bytes(&cli.data_dir()), secret.as_bytes()),
        "the value is in the data directory in clear"
    );

    // Nothing on stdin, or only a newline: refused, and nothing changes.
    for input in [&b""[..], b"\n"] {
        let run = cli.run_with_stdin(&["keys", "set", "CLI_EMPTY"], input);
        run.expect_code(1);
        assert!(
            run.stderr()
                .starts_with("error: no value for API key CLI_EMPTY"),
            "{}",
            run.stderr()
        );
    }
    // A bad name is refused before anything is read.
    cli.run(&["keys", "set", "lower case"]).expect_code(2);
    cli.run(&["keys", "set", "NANO_INTERNAL_TOKEN"])
        .expect_code(2);

    cli.run(&["keys", "rm", "CLI_TEST_KEY"]).expect_code(0);
    let run = cli.run(&["keys", "ls", "--json"]);
    assert_eq!(run.json(), json!([]));
    let run = cli.run(&["keys", "rm", "CLI_TEST_KEY"]);
    run.expect_code(1);
    assert!(
        run.stderr().contains("no API key named `CLI_TEST_KEY`"),
        "{}",
        run.stderr()
    );
}

#[test]
fn agents_link_and_unlink_rewrite_mcp_json_without_an_engine() {
    let cli = Cli::without_engine();
    let plugin = format!("cli-agents-{:08x}", rand::random::<u32>());
    // A plugin in the store, as an install leaves it; linking needs no container.
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        let store = Store::open(&cli.data_dir()).expect("store");
        let manifest: Manifest = serde_json::from_str(&good_manifest(&plugin)).expect("manifest");
        store
            .put_plugin(&PluginRecord::new(manifest), &InternalToken::generate())
            .await
            .expect("put plugin");
    });
    drop(runtime);

    let ws = cli.workspace("ada");
    let ws_arg = ws.to_str().expect("utf-8");
    cli.run(&[
        "agents",
        "add",
        "ada",
        "--workspace",
        ws_arg,
        "--name",
        "Ada",
    ])
    .expect_code(0);
    let run = cli.run(&["agents", "ls", "--json"]);
    run.expect_code(0);
    let agents = run.json();
    assert_eq!(agents[0]["id"], "ada");
    assert_eq!(agents[0]["name"], "Ada");
    assert_eq!(agents[0]["plugins"], json!([]));

    let run = cli.run(&["agents", "link", "ada", &plugin]);
    run.expect_code(0);
    assert!(run.stderr().contains(".mcp.json"), "{}", run.stderr());
    assert!(
        run.stderr().contains(&format!("added {plugin}")),
        "{}",
        run.stderr()
    );
    let servers = mcp_servers(&ws);
    let url = servers[&plugin]["url"].as_str().expect("url");
    assert!(url.contains("agent_id=ada&agent_sig=v1."), "{url}");
    let run = cli.run(&["agents", "ls"]);
    assert!(run.stdout().contains(&plugin), "{}", run.stdout());

    // Unknown names are errors a person can act on.
    let run = cli.run(&["agents", "link", "nobody", &plugin]);
    run.expect_code(1);
    assert!(run.stderr().contains("nobody"), "{}", run.stderr());

    let run = cli.run(&["agents", "unlink", "ada", &plugin]);
    run.expect_code(0);
    assert!(
        run.stderr().contains(&format!("removed {plugin}")),
        "{}",
        run.stderr()
    );
    assert!(!mcp_servers(&ws).contains_key(&plugin));
    cli.run(&["agents", "unlink", "ada", &plugin])
        .expect_code(1);

    cli.run(&["agents", "rm", "ada"]).expect_code(0);
    assert_eq!(cli.run(&["agents", "ls", "--json"]).json(), json!([]));
}

#[test]
fn an_unreachable_engine_is_one_line_naming_the_socket() {
    let cli = Cli::without_engine();
    // Listing reads the store: it works without the engine (each container's state is then
    // unknown, and said to be), as the API's listing does.
    cli.run(&["ls", "--json"]).expect_code(0);
    assert_eq!(cli.run(&["ls", "--json"]).json(), json!([]));
    for args in [&["reconcile"][..], &["logs", "x"], &["rm", "x"]] {
        let run = cli.run(args);
        run.expect_code(1);
        let stderr = run.stderr();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: cannot reach the Docker engine"),
            "{stderr}"
        );
        assert!(stderr.contains("/nonexistent/docker.sock"), "{stderr}");
        assert!(run.stdout().is_empty());
    }
}

#[test]
fn the_policy_is_shown_set_and_checked_without_an_engine() {
    let cli = Cli::without_engine();
    let run = cli.run(&["policy", "--json"]);
    run.expect_code(0);
    assert_eq!(
        run.json(),
        json!({"forbidUnrestrictedNetwork": false, "forbidSpawn": false})
    );
    let run = cli.run(&[
        "policy",
        "--max-memory",
        "512MiB",
        "--max-pids",
        "128",
        "--forbid-unrestricted-network",
        "true",
    ]);
    run.expect_code(0);
    assert!(
        run.stdout().contains("max memory:            512MiB"),
        "{}",
        run.stdout()
    );
    assert!(run.stderr().contains("policy updated"), "{}", run.stderr());
    let run = cli.run(&["policy", "--json"]);
    assert_eq!(
        run.json(),
        json!({"maxMemory": "512MiB", "maxPids": 128, "forbidUnrestrictedNetwork": true, "forbidSpawn": false})
    );
    // Below what a container needs: a usage error, and the policy stays.
    let run = cli.run(&["policy", "--max-memory", "1MiB"]);
    run.expect_code(2);
    assert!(run.stderr().contains("below the 6MiB"), "{}", run.stderr());
    let run = cli.run(&["policy", "--max-memory", "none", "--json"]);
    run.expect_code(0);
    assert_eq!(run.json()["maxMemory"], Value::Null);
    // Install options are checked before anything is read.
    let run = cli.run(&["install", "x", "--network", "api.example.com"]);
    run.expect_code(2);
    assert!(run.stderr().contains("has no port"), "{}", run.stderr());
    cli.run(&["install", "x", "--filesystem", "readonly"])
        .expect_code(2);
}

#[test]
fn every_command_has_help() {
    let cli = Cli::without_engine();
    let commands: &[&[&str]] = &[
        &[],
        &["validate"],
        &["install"],
        &["ls"],
        &["rm"],
        &["restart"],
        &["upgrade"],
        &["enable"],
        &["disable"],
        &["reconcile"],
        &["logs"],
        &["agents"],
        &["agents", "add"],
        &["agents", "ls"],
        &["agents", "rm"],
        &["agents", "link"],
        &["agents", "unlink"],
        &["keys"],
        &["keys", "set"],
        &["keys", "ls"],
        &["keys", "rm"],
        &["policy"],
        &["call"],
        &["tools"],
        &["ui"],
        &["completions"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let run = cli.run(&args);
        run.expect_code(0);
        assert!(
            run.stdout().contains("Usage: nanofleet"),
            "{args:?}: {}",
            run.stdout()
        );
    }
    let help = cli.run(&["validate", "--help"]).stdout();
    assert!(
        help.contains("Exit status:") && help.contains("2  usage"),
        "{help}"
    );
    cli.run(&["frobnicate"]).expect_code(2);
    cli.run(&["call", "p", "t", "--agent", "a", "--args", "[1]"])
        .expect_code(2);
}

// ---------------------------------------------------------------------------------------------
// Against the real engine
// ---------------------------------------------------------------------------------------------

fn hello_manifest(name: &str) -> String {
    Manifest::new(name, "0.1.0", HELLO_IMAGE, 8080)
        .with_description("hello, for CLI tests")
        .to_json_pretty()
}

#[tokio::test(flavor = "multi_thread")]
async fn install_ls_call_logs_rm_against_the_engine() {
    let rt = runtime().await;
    hello_image().await;
    let name = unique_plugin();
    with_cleanup(&rt, &[&name], async {
        let cli = Cli::new();
        write(&cli.path("hello/manifest.json"), hello_manifest(&name));
        let source = cli.path("hello");

        let run = cli
            .run_async(&["install", source.to_str().expect("utf-8")])
            .await;
        run.expect_code(0);
        let progress = run.stderr();
        assert!(
            progress.contains(&format!("installing {name} 0.1.0 from {HELLO_IMAGE}")),
            "{progress}"
        );
        assert!(
            progress.contains("ready in ") && progress.contains("1 tool: greet"),
            "{progress}"
        );

        // The readiness probe alone logs six lines after `serving`, so the tail is wider
        // than 5.
        let run = cli.run_async(&["logs", &name, "--tail", "50"]).await;
        run.expect_code(0);
        assert!(run.stdout().contains("serving"), "{}", run.stdout());
        let run = cli.run_async(&["logs", &name, "--tail", "1"]).await;
        assert_eq!(run.stdout().lines().count(), 1, "{}", run.stdout());

        let run = cli.run_async(&["ls", "--json"]).await;
        run.expect_code(0);
        let listed = run.json();
        let plugin = listed
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == name.as_str()))
            .unwrap_or_else(|| panic!("{name} not listed: {listed}"));
        assert_eq!(plugin["status"], "running", "{plugin}");
        assert_eq!(plugin["tools"][0]["name"], "greet", "{plugin}");
        assert_eq!(plugin["container"]["running"], true, "{plugin}");
        assert!(
            !run.stdout().to_lowercase().contains("token"),
            "a listing must carry no token"
        );
        let table = cli.run_async(&["ls"]).await.stdout();
        assert!(
            table.contains(&name) && table.contains("running"),
            "{table}"
        );

        // Linked to an installed plugin, the agent's .mcp.json lists it.
        let ws = cli.workspace("a");
        cli.run_async(&[
            "agents",
            "add",
            "a",
            "--workspace",
            ws.to_str().expect("utf-8"),
        ])
        .await
        .expect_code(0);
        cli.run_async(&["agents", "link", "a", &name])
            .await
            .expect_code(0);
        assert!(mcp_servers(&ws).contains_key(&name));

        let run = cli
            .run_async(&[
                "call",
                &name,
                "greet",
                "--agent",
                "a",
                "--args",
                r#"{"name":"Ada"}"#,
            ])
            .await;
        run.expect_code(0);
        assert_eq!(run.stdout(), "Hello, Ada! (asked by agent a)\n");
        let run = cli
            .run_async(&[
                "call",
                &name,
                "greet",
                "--agent",
                "a",
                "--args",
                r#"{"name":" "}"#,
                "--json",
            ])
            .await;
        run.expect_code(1);
        assert_eq!(run.json()["isError"], true);

        let run = cli.run_async(&["reconcile"]).await;
        run.expect_code(0);
        assert_eq!(run.stdout(), "nothing to do\n");

        let run = cli.run_async(&["rm", &name]).await;
        run.expect_code(0);
        assert!(run.stderr().contains("data volume"), "{}", run.stderr());
        let listed = cli.run_async(&["ls", "--json"]).await.json();
        assert!(
            !listed
                .as_array()
                .is_some_and(|all| all.iter().any(|p| p["name"] == name.as_str())),
            "{listed}"
        );
        let left: Vec<String> = rt
            .list_managed()
            .await
            .expect("list")
            .into_iter()
            .filter(|c| c.plugin == name)
            .map(|c| c.name)
            .collect();
        assert!(left.is_empty(), "containers left: {left:?}");
        assert!(
            rt.inspect(
                &names::Instance::new(cli.instance.as_str())
                    .expect("instance")
                    .container_name(&name)
            )
            .await
            .expect("inspect")
            .is_none()
        );
        assert!(!mcp_servers(&ws).contains_key(&name), "rm unlinks");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn install_refuses_broken_manifests_and_missing_keys() {
    let rt = runtime().await;
    let name = unique_plugin();
    with_cleanup(&rt, &[&name], async {
        let cli = Cli::new();
        write(&cli.path("broken/manifest.json"), broken_manifest());
        let run = cli
            .run_async(&["install", cli.path("broken").to_str().expect("utf-8")])
            .await;
        run.expect_code(1);
        let stderr = run.stderr();
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(
            stderr.contains("error at name") && stderr.contains("error at mcpPort"),
            "{stderr}"
        );

        let manifest = Manifest::new(&name, "0.1.0", HELLO_IMAGE, 8080)
            .with_required_env_vars(["CLI_TEST_NEEDED"])
            .to_json_pretty();
        write(&cli.path("keyed/manifest.json"), manifest);
        let run = cli
            .run_async(&[
                "install",
                cli.path("keyed/manifest.json").to_str().expect("utf-8"),
            ])
            .await;
        run.expect_code(1);
        let stderr = run.stderr();
        assert!(stderr.contains("CLI_TEST_NEEDED"), "{stderr}");
        assert!(
            stderr.contains("nanofleet keys set CLI_TEST_NEEDED"),
            "{stderr}"
        );
        assert!(cli.run_async(&["ls", "--json"]).await.json() == json!([]));
    })
    .await;
}

/// A full disk for the store: the process may not grow any file past the store's present
/// size (`ulimit -f`, with `SIGXFSZ` ignored so writes fail with `EFBIG` as on a full disk).
/// The write is refused with a sentence, and what was stored before is all there, readable
/// and writable once there is room again.
#[test]
fn a_full_disk_refuses_the_write_and_loses_nothing() {
    let cli = Cli::without_engine();
    let ws = cli.workspace("a");
    cli.run(&[
        "agents",
        "add",
        "a",
        "--workspace",
        ws.to_str().expect("utf-8"),
    ])
    .expect_code(0);
    cli.run_with_stdin(&["keys", "set", "SMALL_KEY"], b"small\n")
        .expect_code(0);
    let largest = std::fs::read_dir(cli.data_dir())
        .expect("data dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0);
    let blocks = largest.div_ceil(1024) + 4;
    let value: String = (0..60 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();

    let command = cli.command(&[]);
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut full = Command::new("bash");
    full.arg("-c")
        .arg(format!(
            r#"trap "" XFSZ; ulimit -f {blocks}; exec "$0" "$@""#
        ))
        .arg(BIN)
        .args(&args)
        .args(["keys", "set", "BIG_KEY"])
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in command.get_envs() {
        if value.is_none() {
            full.env_remove(key);
        }
    }
    let mut child = full.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{value}\n").as_bytes())
        .expect("write");
    let run = Run(child.wait_with_output().expect("wait"));
    run.expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains("nothing was changed") && stderr.contains("has room"),
        "the refusal says why: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Nothing lost, nothing half-written, and writes work again once there is room.
    let keys = cli.run(&["keys", "ls", "--json"]);
    keys.expect_code(0);
    let names: Vec<String> = keys
        .json()
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|k| k["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["SMALL_KEY"]);
    let agents = cli.run(&["agents", "ls", "--json"]);
    agents.expect_code(0);
    assert_eq!(agents.json()[0]["id"], "a");
    cli.run_with_stdin(&["keys", "set", "BIG_KEY"], format!("{value}\n").as_bytes())
        .expect_code(0);
}

/// The probe's manifest with its settings (`ProbeConfig` in tests/probe).
fn probe_manifest(name: &str) -> String {
    let mut manifest =
        serde_json::to_value(Manifest::new(name, "0.1.0", PROBE_IMAGE, 8080)).expect("manifest");
    manifest["config"] = json!({
        "greeting": {"type": "string", "required": true, "description": "What show_config says"},
        "secret": {"type": "string", "required": true, "sensitive": true},
        "repeat": {"type": "integer", "default": 1, "min": 1, "max": 5}
    });
    manifest.to_string()
}

impl Cli {
    /// [`run_with_stdin`](Self::run_with_stdin) off the async workers.
    async fn run_with_stdin_async(&self, args: &[&str], input: &str) -> Run {
        let mut command = self.command(args);
        let input = input.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("nanofleet starts");
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(input.as_bytes()).expect("write stdin");
            drop(stdin);
            Run(child.wait_with_output().expect("nanofleet runs"))
        })
        .await
        .expect("join")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_are_required_read_from_stdin_hidden_and_changed() {
    let rt = runtime().await;
    probe_image().await;
    let name = unique_plugin();
    with_cleanup(&rt, &[&name], async {
        let cli = Cli::new();
        write(&cli.path("probe/manifest.json"), probe_manifest(&name));
        let source = cli.path("probe/manifest.json");
        let source = source.to_str().expect("utf-8");
        let secret = format!("cli-s3cret-{:012x}", rand::random::<u64>() >> 16);

        let run = cli
            .run_async(&["install", source, "--config", "greeting=hi"])
            .await;
        run.expect_code(1);
        assert!(
            run.stderr()
                .contains("required settings without a value: secret"),
            "{}",
            run.stderr()
        );
        assert!(cli.run_async(&["ls", "--json"]).await.json() == json!([]));
        // Usage mistakes, before anything is read or installed.
        cli.run_async(&["install", source, "--config", "Bad-Key=1"])
            .await
            .expect_code(2);
        cli.run_async(&["install", source, "--config", "a", "--config", "b"])
            .await
            .expect_code(2);

        let run = cli
            .run_with_stdin_async(
                &[
                    "install",
                    source,
                    "--config",
                    "greeting=hi",
                    "--config",
                    "secret",
                ],
                &format!("{secret}\n"),
            )
            .await;
        run.expect_code(0);
        assert!(!run.stdout().contains(&secret) && !run.stderr().contains(&secret));

        let run = cli.run_async(&["config", "ls", &name]).await;
        run.expect_code(0);
        let table = run.stdout();
        assert!(
            table.contains("(hidden)") && table.contains("hi"),
            "{table}"
        );
        assert!(table.contains("What show_config says"), "{table}");
        let run = cli.run_async(&["config", "ls", &name, "--json"]).await;
        let settings = run.json()["settings"].clone();
        assert_eq!(settings[2]["key"], "secret");
        assert_eq!(settings[2]["source"], "set");
        assert!(settings[2].get("value").is_none(), "{settings}");

        let run = cli
            .run_async(&["config", "set", &name, "repeat=3", "greeting=yo"])
            .await;
        run.expect_code(0);
        let run = cli
            .run_async(&["call", &name, "show_config", "--agent", "cli-agent"])
            .await;
        run.expect_code(0);
        assert!(run.stdout().contains("yo yo yo"), "{}", run.stdout());

        let run = cli.run_async(&["config", "set", &name, "repeat=9"]).await;
        run.expect_code(1);
        assert!(
            run.stderr().contains("`repeat`: it is above the maximum 5"),
            "{}",
            run.stderr()
        );
        let run = cli.run_async(&["config", "rm", &name, "secret"]).await;
        run.expect_code(1);
        assert!(
            run.stderr()
                .contains("required settings without a value: secret"),
            "{}",
            run.stderr()
        );
        let run = cli.run_async(&["config", "rm", &name, "repeat"]).await;
        run.expect_code(0);
        let run = cli
            .run_async(&["call", &name, "show_config", "--agent", "cli-agent"])
            .await;
        assert!(
            run.stdout().contains("yo") && !run.stdout().contains("yo yo"),
            "{}",
            run.stdout()
        );

        for args in [
            vec!["ls", "--json"],
            vec!["ls"],
            vec!["logs", &name, "--tail", "200"],
        ] {
            let run = cli.run_async(&args).await;
            assert!(!run.stdout().contains(&secret), "{args:?} shows the secret");
        }
        assert!(
            !contains(&all_bytes(&cli.data_dir()), secret.as_bytes()),
            "the secret is in the data directory in clear"
        );
    })
    .await;
}

const LONG_TOOL: &str = "summarise_every_note_of_the_agent_in_one_paragraph_x";

#[test]
fn agents_get_their_plugins_in_their_clients_files() {
    let cli = Cli::without_engine();
    let plugin = format!("cli-nb-{:08x}", rand::random::<u32>());
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        let store = Store::open(&cli.data_dir()).expect("store");
        let manifest: Manifest = serde_json::from_str(&good_manifest(&plugin)).expect("manifest");
        let mut record = PluginRecord::new(manifest);
        // A name nanobot's `mcp_<plugin>_` prefix pushes past 64 characters.
        record.tools = vec![json!({"name": LONG_TOOL, "inputSchema": {"type": "object"}})];
        store
            .put_plugin(&record, &InternalToken::generate())
            .await
            .expect("put plugin");
    });
    drop(runtime);

    let home = cli.workspace("nanobot-home");
    let home_arg = home.to_str().expect("utf-8");
    cli.run(&[
        "agents",
        "add",
        "nb",
        "--workspace",
        home_arg,
        "--client",
        "cursor",
    ])
    .expect_code(2);
    cli.run(&[
        "agents",
        "add",
        "nb",
        "--workspace",
        home_arg,
        "--client",
        "nanobot",
    ])
    .expect_code(0);
    let linked = cli.run(&["agents", "link", "nb", &plugin]);
    linked.expect_code(0);
    assert!(
        linked.stderr().contains("warning: nanobot sees tool")
            && linked.stderr().contains(LONG_TOOL),
        "the long tool name is warned about: {}",
        linked.stderr()
    );
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("config.json")).expect("config.json"),
    )
    .expect("json");
    let entry = &config["tools"]["mcpServers"][&plugin];
    assert_eq!(entry["type"], "streamableHttp", "{config}");
    assert!(
        entry["url"]
            .as_str()
            .is_some_and(|u| u.contains("agent_id=nb")),
        "{config}"
    );
    assert!(!home.join(".mcp.json").exists());
    let listed = cli.run(&["agents", "ls", "--json"]);
    assert_eq!(listed.json()[0]["client"], "nanobot");
    assert!(cli.run(&["agents", "ls"]).stdout().contains("nanobot"));

    // Back to Claude Code: the entry moves to .mcp.json and leaves config.json.
    cli.run(&["agents", "add", "nb", "--workspace", home_arg])
        .expect_code(0);
    assert!(mcp_servers(&home).contains_key(&plugin));
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("config.json")).expect("config.json"),
    )
    .expect("json");
    assert!(
        config["tools"]["mcpServers"].get(&plugin).is_none(),
        "{config}"
    );

    // codex, then VS Code: each client's own file, the previous one cleared.
    cli.run(&[
        "agents",
        "add",
        "nb",
        "--workspace",
        home_arg,
        "--client",
        "codex",
    ])
    .expect_code(0);
    let codex = std::fs::read_to_string(home.join(".codex/config.toml")).expect("config.toml");
    assert!(
        codex.contains(&format!("[mcp_servers.{plugin}]")),
        "{codex}"
    );
    assert!(codex.contains("agent_id=nb"), "{codex}");
    assert!(!mcp_servers(&home).contains_key(&plugin));
    cli.run(&[
        "agents",
        "add",
        "nb",
        "--workspace",
        home_arg,
        "--client",
        "vscode",
    ])
    .expect_code(0);
    let vscode: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join(".vscode/mcp.json")).expect("mcp.json"),
    )
    .expect("json");
    assert_eq!(vscode["servers"][&plugin]["type"], "http", "{vscode}");
    let codex = std::fs::read_to_string(home.join(".codex/config.toml")).expect("config.toml");
    assert!(!codex.contains(&plugin), "{codex}");
    let shown = cli.run(&["agents", "ls", "--json"]);
    assert_eq!(shown.json()[0]["client"], "vscode");
}

#[test]
fn tokens_are_shown_once_kept_hashed_and_revoked() {
    let cli = Cli::without_engine();
    let run = cli.run(&["tokens", "create", "--name", "ci", "--scope", "read"]);
    run.expect_code(0);
    let token = run.stdout().trim().to_owned();
    assert!(token.starts_with("nft_"), "{token}");
    assert!(run.stderr().contains("shown this once"), "{}", run.stderr());

    let listed = cli.run(&["tokens", "ls", "--json"]);
    listed.expect_code(0);
    assert_eq!(listed.json()[0]["name"], "ci");
    assert_eq!(listed.json()[0]["scope"], "read");
    assert!(!listed.stdout().contains(&token));
    assert!(
        !contains(&all_bytes(&cli.data_dir()), token.as_bytes()),
        "the token is in the data directory in clear"
    );

    let again = cli.run(&["tokens", "create", "--name", "ci", "--scope", "operate"]);
    again.expect_code(1);
    assert!(again.stderr().contains("exists"), "{}", again.stderr());
    cli.run(&["tokens", "create", "--name", "x", "--scope", "admin"])
        .expect_code(2);

    cli.run(&["tokens", "revoke", "ci"]).expect_code(0);
    let gone = cli.run(&["tokens", "revoke", "ci"]);
    gone.expect_code(1);
    assert!(
        gone.stderr().contains("no token named `ci`"),
        "{}",
        gone.stderr()
    );
    assert_eq!(cli.run(&["tokens", "ls", "--json"]).json(), json!([]));
    assert_eq!(cli.run(&["audit", "--json"]).json(), json!([]));
}

/// Commands log nothing of their own unless asked (`-v`, RUST_LOG): what they did is said
/// once, in their own words.
#[test]
fn steps_are_logged_with_v_and_only_then() {
    let cli = Cli::without_engine();
    let first = cli.run(&["-v", "agents", "ls"]);
    first.expect_code(0);
    assert!(
        first.stderr().contains("INFO") && first.stderr().contains("secret key"),
        "-v logs each step: {}",
        first.stderr()
    );
    let workspace = cli.workspace("quiet");
    let quiet = cli.run(&[
        "agents",
        "add",
        "q",
        "--workspace",
        workspace.to_str().expect("utf-8"),
    ]);
    quiet.expect_code(0);
    assert!(!quiet.stderr().contains("INFO"), "{}", quiet.stderr());
}

/// The shell's own completion machinery loads the script: bash registers it for `nanofleet`;
/// zsh and fish get theirs; an unknown shell is a usage error.
#[test]
fn completions_load_in_bash() {
    let cli = Cli::without_engine();
    let run = cli.run(&["completions", "bash"]);
    run.expect_code(0);
    let script = cli.path("nanofleet.bash");
    write(&script, run.stdout());
    let bash = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p nanofleet",
            script.display()
        ))
        .output()
        .expect("bash runs");
    let registered = String::from_utf8_lossy(&bash.stdout);
    assert!(
        bash.status.success() && registered.contains("nanofleet"),
        "{registered}{}",
        String::from_utf8_lossy(&bash.stderr)
    );
    for command in ["install", "agents", "tools", "completions"] {
        assert!(run.stdout().contains(command), "{command} is completed");
    }
    for (shell, marker) in [
        ("zsh", "#compdef nanofleet"),
        ("fish", "complete -c nanofleet"),
    ] {
        let run = cli.run(&["completions", shell]);
        run.expect_code(0);
        assert!(run.stdout().contains(marker), "{shell}: {}", run.stdout());
    }
    cli.run(&["completions", "tcsh"]).expect_code(2);
}

/// Every command that prints data or a result prints JSON with `--json`; `install` takes an
/// image reference as docker users type it, reading the manifest from its label.
#[tokio::test(flavor = "multi_thread")]
async fn every_command_prints_json_and_install_takes_an_image_reference() {
    let rt = runtime().await;
    hello_image().await;
    let name = unique_plugin();
    let image = format!("nanofleet-test/hello-labelled:{name}");
    with_cleanup(&rt, &[&name], async {
        let cli = Cli::new();
        // The hello binary, labelled with a manifest as `nanofleet build` labels images.
        let binary = tokio::task::spawn_blocking(|| cargo_build_static("hello"))
            .await
            .expect("join")
            .expect("hello builds");
        let manifest = Manifest::new(&name, "0.1.0", &image, 8080).with_description("labelled");
        let mut build = nanofleet_build::ImageBuild::new(&image, binary);
        build.labels = std::collections::BTreeMap::from([
            (
                nanofleet_host::labels::MANAGED_BY.to_owned(),
                TEST_IMAGE_LABEL.to_owned(),
            ),
            (
                nanofleet_host::labels::IMAGE_MANIFEST.to_owned(),
                manifest.to_json_pretty(),
            ),
        ]);
        nanofleet_build::build_image(&rt, &build)
            .await
            .expect("image builds");

        let json = |run: Run| -> Value {
            run.expect_code(0);
            run.json()
        };
        let installed = json(cli.run_async(&["install", &image, "--json"]).await);
        assert_eq!(installed["name"], name.as_str(), "{installed}");
        assert_eq!(
            installed["manifest"]["image"],
            image.as_str(),
            "{installed}"
        );

        let listed = json(cli.run_async(&["ls", "--json"]).await);
        assert_eq!(listed[0]["name"], name.as_str(), "{listed}");
        let quiet = cli.run_async(&["ls", "-q"]).await;
        quiet.expect_code(0);
        assert_eq!(quiet.stdout(), format!("{name}\n"));
        let tools = json(cli.run_async(&["tools", &name, "--json"]).await);
        assert_eq!(tools[0]["name"], "greet", "{tools}");
        assert!(
            tools[0]["inputSchema"]["properties"]["name"].is_object(),
            "{tools}"
        );
        let inspected = json(cli.run_async(&["inspect", &name, "--json"]).await);
        assert!(inspected.is_object(), "{inspected}");

        let ws = cli.workspace("a");
        let ws_arg = ws.to_str().expect("utf-8");
        let added = json(
            cli.run_async(&["agents", "add", "a", "--workspace", ws_arg, "--json"])
                .await,
        );
        assert_eq!(added["id"], "a", "{added}");
        let linked = json(
            cli.run_async(&["agents", "link", "a", &name, "--json"])
                .await,
        );
        assert_eq!(linked["plugins"], json!([name]), "{linked}");
        assert_eq!(
            linked["configPath"],
            ws.join(".mcp.json").to_str().expect("utf-8"),
            "{linked}"
        );
        let agents = json(cli.run_async(&["agents", "ls", "--json"]).await);
        assert_eq!(agents[0]["plugins"], json!([name]), "{agents}");

        let called = json(
            cli.run_async(&[
                "call",
                &name,
                "greet",
                "--agent",
                "a",
                "--args",
                r#"{"name":"Ada"}"#,
                "--json",
            ])
            .await,
        );
        assert_eq!(called["isError"], false, "{called}");

        let key = cli.run_with_stdin(&["keys", "set", "CLI_JSON_KEY", "--json"], b"v4lue\n");
        key.expect_code(0);
        assert_eq!(key.json()["set"], true);
        assert!(!key.stdout().contains("v4lue"));
        let keys = json(cli.run_async(&["keys", "ls", "--json"]).await);
        assert_eq!(keys[0]["name"], "CLI_JSON_KEY", "{keys}");
        let removed = json(
            cli.run_async(&["keys", "rm", "CLI_JSON_KEY", "--json"])
                .await,
        );
        assert_eq!(removed["removed"], true, "{removed}");

        for verb in ["restart", "disable", "enable"] {
            let record = json(cli.run_async(&[verb, &name, "--json"]).await);
            assert_eq!(record["name"], name.as_str(), "{verb}: {record}");
        }
        let settings = json(cli.run_async(&["config", "ls", &name, "--json"]).await);
        assert!(settings.is_object() || settings.is_array(), "{settings}");
        let policy = json(cli.run_async(&["policy", "--json"]).await);
        assert!(policy.is_object(), "{policy}");
        let reconciled = json(cli.run_async(&["reconcile", "--json"]).await);
        assert_eq!(reconciled["failed"], 0, "{reconciled}");
        let token = json(
            cli.run_async(&[
                "tokens", "create", "--name", "j", "--scope", "read", "--json",
            ])
            .await,
        );
        assert!(token["token"].is_string(), "{token}");
        json(cli.run_async(&["tokens", "ls", "--json"]).await);
        let revoked = json(cli.run_async(&["tokens", "revoke", "j", "--json"]).await);
        assert_eq!(revoked["revoked"], "j", "{revoked}");
        json(cli.run_async(&["audit", "--json"]).await);

        write(
            &cli.path("next/manifest.json"),
            Manifest::new(&name, "0.2.0", &image, 8080).to_json_pretty(),
        );
        let next = cli.path("next");
        let validated = json(
            cli.run_async(&["validate", next.to_str().expect("utf-8"), "--json"])
                .await,
        );
        assert_eq!(validated["errors"], 0, "{validated}");
        let upgraded = json(
            cli.run_async(&["upgrade", next.to_str().expect("utf-8"), "--json"])
                .await,
        );
        assert_eq!(upgraded["manifest"]["version"], "0.2.0", "{upgraded}");

        let unlinked = json(
            cli.run_async(&["agents", "unlink", "a", &name, "--json"])
                .await,
        );
        assert_eq!(unlinked["plugins"], json!([]), "{unlinked}");
        let gone = json(cli.run_async(&["agents", "rm", "a", "--json"]).await);
        assert_eq!(gone["removed"], "a", "{gone}");
        let uninstalled = json(cli.run_async(&["rm", &name, "--purge", "--json"]).await);
        assert_eq!(uninstalled["removed"], name.as_str(), "{uninstalled}");
        assert_eq!(uninstalled["volumeRemoved"], true, "{uninstalled}");

        // An image reference that is not on this machine: one clear error, nothing installed.
        let missing = cli
            .run_async(&["install", "nanofleet-test/never-built:0.0.1"])
            .await;
        missing.expect_code(1);
        assert!(
            missing.stderr().contains("never-built"),
            "{}",
            missing.stderr()
        );
        assert_eq!(json(cli.run_async(&["ls", "--json"]).await), json!([]));
    })
    .await;
    let _ = rt
        .docker()
        .remove_image(
            &image,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
}

/// At a terminal (a real pty, from util-linux's `script`), a key's value is read without
/// being echoed, and stored.
#[test]
fn a_key_typed_at_a_terminal_is_not_echoed() {
    let cli = Cli::without_engine();
    let command = format!(
        "{BIN} --data-dir '{}' --instance {} keys set TTY_TYPED_KEY",
        cli.data_dir().display(),
        cli.instance
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("DOCKER_HOST", NO_ENGINE)
        .env_remove(SECRET_KEY_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdin = child.stdin.take().expect("stdin");
    // After the prompt is up: typed, as a person would.
    std::thread::sleep(std::time::Duration::from_millis(500));
    stdin.write_all(b"s3cret-typed-value\n").expect("type");
    let run = Run(child.wait_with_output().expect("script ends"));
    let screen = run.stdout();
    assert!(run.code() == Some(0), "{screen}{}", run.stderr());
    assert!(screen.contains("value (not shown)"), "{screen}");
    assert!(!screen.contains("s3cret"), "the value was echoed: {screen}");
    let keys = cli.run(&["keys", "ls", "--json"]);
    keys.expect_code(0);
    assert_eq!(keys.json()[0]["name"], "TTY_TYPED_KEY", "{}", keys.stdout());
}
