//! `nanofleet serve` run as a real process, and the other commands talking to it with
//! `--server`: each test has its own data directory and instance, and the remote commands
//! run with `DOCKER_HOST` pointing nowhere, to prove they go through the API only.

mod common;

use nanofleet_host::names;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{NO_ENGINE, Serve, free_port, nanofleet};
use nanofleet_host::runtime::Runtime;
use nanofleet_sdk::manifest::Manifest;
use nanofleet_test_support::*;
use serde_json::Value;

/// The commands of a client machine: its own (unused) data directory, no engine, and the
/// server's URL and token in the environment.
struct Client {
    dir: tempfile::TempDir,
    server: String,
    token: String,
}

impl Client {
    fn new(server: String, token: String) -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            server,
            token,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = nanofleet(&self.dir.path().join("client-data"), "client", args);
        command
            .env("NANOFLEET_SERVER", &self.server)
            .env("NANOFLEET_TOKEN", &self.token)
            .env("DOCKER_HOST", NO_ENGINE);
        command
    }

    async fn run(&self, args: &[&str]) -> Run {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || Run(command.output().expect("nanofleet runs")))
            .await
            .expect("join")
    }

    async fn run_with_stdin(&self, args: &[&str], input: &'static [u8]) -> Run {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || {
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("nanofleet starts");
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(input).expect("write stdin");
            drop(stdin);
            Run(child.wait_with_output().expect("nanofleet runs"))
        })
        .await
        .expect("join")
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }
}

/// A finished command.
struct Run(Output);

impl Run {
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
            self.0.status.code(),
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

fn mcp_servers(workspace: &Path) -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(workspace.join(".mcp.json")).unwrap_or_else(|_| "{}".into());
    let doc: Value = serde_json::from_str(&text).expect(".mcp.json is JSON");
    doc["mcpServers"].as_object().cloned().unwrap_or_default()
}

fn find<'a>(list: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|item| item[key] == value)
}

// ---------------------------------------------------------------------------------------------
// Without an engine or a server
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn remote_mode_reports_what_is_wrong_in_one_line() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let client = Client::new(closed.clone(), "a-token-of-some-length-0123456789".into());

    let run = client.run(&["ls"]).await;
    run.expect_code(1);
    let stderr = run.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: cannot reach the nanofleet server at ")
            && stderr.contains(&closed),
        "{stderr}"
    );

    // https:// is spoken: the client opens TLS naming the server (which hangs up here).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hello = std::thread::spawn(move || {
        use std::io::Read as _;
        let (mut socket, _) = listener.accept().expect("accept");
        let mut hello = vec![0; 2048];
        let n = socket.read(&mut hello).expect("read");
        hello.truncate(n);
        hello
    });
    let https = format!("https://localhost:{port}");
    let run = client.run(&["--server", &https, "ls"]).await;
    run.expect_code(1);
    let hello = hello.join().expect("hello");
    assert_eq!(
        hello.first(),
        Some(&22),
        "a TLS handshake record: {hello:?}"
    );
    assert_eq!(hello.get(5), Some(&1), "a ClientHello: {hello:?}");
    assert!(hello.windows(9).any(|w| w == b"localhost"), "{hello:?}");
    assert!(
        run.stderr()
            .starts_with("error: cannot reach the nanofleet server at "),
        "{}",
        run.stderr()
    );
    let run = client.run(&["--server", "ftp://127.0.0.1:1", "ls"]).await;
    run.expect_code(2);
    assert!(
        run.stderr().contains("http:// or https://"),
        "{}",
        run.stderr()
    );

    let mut command = client.command(&["keys", "ls"]);
    command.env_remove("NANOFLEET_TOKEN");
    let run = tokio::task::spawn_blocking(move || Run(command.output().expect("runs")))
        .await
        .expect("join");
    run.expect_code(2);
    assert!(run.stderr().contains("NANOFLEET_TOKEN"), "{}", run.stderr());

    for local_only in [
        &["reconcile"][..],
        &["call", "p", "t", "--agent", "a"],
        &["serve"],
    ] {
        let run = client.run(local_only).await;
        run.expect_code(2);
        assert!(
            run.stderr().contains("--server"),
            "{local_only:?}: {}",
            run.stderr()
        );
    }

    // `validate` needs no server and no state, with --server or without.
    write(
        &client.path("m/manifest.json"),
        Manifest::new("fine", "0.1.0", "nanofleet/fine:0.1.0", 8080).to_json_pretty(),
    );
    let manifest = client.path("m/manifest.json");
    client
        .run(&["validate", manifest.to_str().expect("utf-8")])
        .await
        .expect_code(0);

    let help = client.run(&["serve", "--help"]).await;
    help.expect_code(0);
    assert!(help.stdout().contains("--listen"), "{}", help.stdout());
    let help = client.run(&["--help"]).await.stdout();
    assert!(
        help.contains("--server") && help.contains("ps"),
        "the help says why there is no --token: {help}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_without_an_engine_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = nanofleet(
        &dir.path().join("data"),
        "serve-no-engine",
        &["serve", "--listen", "127.0.0.1:0"],
    );
    command.env("DOCKER_HOST", NO_ENGINE);
    let run = tokio::task::spawn_blocking(move || Run(command.output().expect("runs")))
        .await
        .expect("join");
    run.expect_code(1);
    assert!(
        run.stderr().starts_with("error: cannot reach"),
        "{}",
        run.stderr()
    );
    assert!(
        !dir.path().join("data/api-token").exists(),
        "no token is made for a server that never ran"
    );
}

// ---------------------------------------------------------------------------------------------
// Against the real engine
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn serve_runs_the_api_and_the_reconciler_for_remote_commands() {
    let rt = runtime().await;
    hello_image().await;
    kanban_image().await;
    let name = unique_plugin();
    let board = unique_plugin();
    with_cleanup(&rt, &[&name, &board], async {
        let host_dir = tempfile::tempdir().expect("tempdir");
        let data_dir = host_dir.path().join("data");
        let instance = format!("cli-server-{:08x}", rand::random::<u32>());

        let mut serve = Serve::start(&data_dir, &instance);
        serve.wait_healthy().await;
        let token = serve
            .token()
            .unwrap_or_else(|| panic!("a fresh data dir prints the token:\n{}", serve.stderr()));
        let log = serve.stderr();
        assert!(
            log.contains(&format!("listening on http://127.0.0.1:{}", serve.port)),
            "{log}"
        );
        assert_eq!(
            log.matches("listening on ").count(),
            2,
            "loopback and the gateway: {log}"
        );
        assert_eq!(
            log.matches(&token).count(),
            1,
            "the token is shown once: {log}"
        );

        let client = Client::new(serve.url(), token.clone());
        write(
            &client.path("hello/manifest.json"),
            Manifest::new(&name, "0.1.0", HELLO_IMAGE, 8080)
                .with_description("hello, for CLI server tests")
                .to_json_pretty(),
        );
        let source = client.path("hello");
        let run = client
            .run(&["install", source.to_str().expect("utf-8")])
            .await;
        run.expect_code(0);
        let progress = run.stderr();
        assert!(
            progress.contains(&format!("installing {name} 0.1.0 from {HELLO_IMAGE} on ")),
            "{progress}"
        );
        assert!(progress.contains("1 tool: greet"), "{progress}");
        assert!(!progress.contains("warning"), "{progress}");

        // Defect 12.10: an offline command on the data directory `serve` uses is refused (it
        // would recreate every container with its own NANO_API_URL), pointing at --server.
        let offline = nanofleet(&data_dir, &instance, &["reconcile"]);
        let offline = tokio::task::spawn_blocking(move || {
            let mut offline = offline;
            Run(offline.output().expect("runs"))
        })
        .await
        .expect("join");
        offline.expect_code(1);
        assert!(
            offline.stderr().contains("`nanofleet serve` is running")
                && offline.stderr().contains("--server"),
            "{}",
            offline.stderr()
        );

        // Installing it again says so, as locally.
        let run = client
            .run(&["install", source.to_str().expect("utf-8")])
            .await;
        run.expect_code(1);
        assert!(
            run.stderr()
                .starts_with(&format!("error: plugin `{name}` is already installed")),
            "{}",
            run.stderr()
        );

        let run = client.run(&["ls", "--json"]).await;
        run.expect_code(0);
        let listed = run.json();
        let plugin = find(&listed, "name", &name).unwrap_or_else(|| panic!("{listed}"));
        assert_eq!(plugin["status"], "running", "{plugin}");
        assert_eq!(plugin["tools"][0]["name"], "greet", "{plugin}");
        assert!(!run.stdout().contains(&token));
        let table = client.run(&["ls"]).await.stdout();
        assert!(
            table.contains(&name) && table.contains("running") && !table.contains('*'),
            "{table}"
        );

        // Agents: the server writes the workspace's .mcp.json.
        let ws = client.path("agents/a");
        std::fs::create_dir_all(&ws).expect("workspace");
        let ws_arg = ws.to_str().expect("utf-8");
        client
            .run(&["agents", "add", "a", "--workspace", ws_arg])
            .await
            .expect_code(0);
        client
            .run(&["agents", "link", "a", &name])
            .await
            .expect_code(0);
        assert!(mcp_servers(&ws).contains_key(&name), "linked");
        let agents = client.run(&["agents", "ls", "--json"]).await.json();
        let agent = find(&agents, "id", "a").unwrap_or_else(|| panic!("{agents}"));
        assert_eq!(agent["plugins"][0], name.as_str(), "{agent}");
        let listed = client.run(&["ls", "--json"]).await.json();
        let plugin = find(&listed, "name", &name).unwrap_or_else(|| panic!("{listed}"));
        assert_eq!(plugin["linkedAgents"][0], "a", "{plugin}");

        // Keys: set from stdin, listed by name only.
        let secret = b"s3cret-value-for-cli-server\n";
        client
            .run_with_stdin(&["keys", "set", "CLI_SERVER_TEST_KEY"], secret)
            .await
            .expect_code(0);
        let run = client.run(&["keys", "ls"]).await;
        run.expect_code(0);
        assert!(
            run.stdout().contains("CLI_SERVER_TEST_KEY"),
            "{}",
            run.stdout()
        );
        let keys = client.run(&["keys", "ls", "--json"]).await;
        assert_eq!(
            find(&keys.json(), "name", "CLI_SERVER_TEST_KEY").map(|k| k["set"].clone()),
            Some(Value::Bool(true))
        );
        for run in [&run, &keys] {
            assert!(!run.stdout().contains("s3cret") && !run.stderr().contains("s3cret"));
        }

        let run = client.run(&["logs", &name, "--tail", "50"]).await;
        run.expect_code(0);
        assert!(run.stdout().contains("serving"), "{}", run.stdout());
        // Since a time: an hour back has the start; a time to come has nothing yet.
        let run = client
            .run(&["logs", &name, "--since", "1h", "--timestamps"])
            .await;
        run.expect_code(0);
        let first = run.stdout().lines().next().unwrap_or_default().to_owned();
        let stamp = first.split_whitespace().next().unwrap_or_default();
        assert!(
            stamp.parse::<jiff::Timestamp>().is_ok(),
            "a timestamp starts each line: {first}"
        );
        let run = client
            .run(&["logs", &name, "--since", "2037-01-01T00:00:00Z"])
            .await;
        run.expect_code(0);
        assert_eq!(run.stdout(), "", "nothing was written after 2037 yet");

        // Tools, from the server, as the plugin listed them.
        let run = client.run(&["tools", &name, "--json"]).await;
        run.expect_code(0);
        assert_eq!(run.json()[0]["name"], "greet", "{}", run.stdout());
        let run = client.run(&["tools", &name]).await;
        run.expect_code(0);
        assert!(
            run.stdout().contains("greet") && run.stdout().contains("name*"),
            "{}",
            run.stdout()
        );
        let run = client.run(&["ls", "-q"]).await;
        run.expect_code(0);
        assert_eq!(run.stdout(), format!("{name}\n"));

        // One operations layer: every listing says the same through the server and from the
        // data directory itself (reading needs no ownership of it), byte for byte.
        for args in [
            vec!["ls", "--json"],
            vec!["ls"],
            vec!["ls", "-q"],
            vec!["agents", "ls", "--json"],
            vec!["agents", "ls"],
            vec!["keys", "ls", "--json"],
            vec!["keys", "ls"],
            vec!["tools", &name, "--json"],
            vec!["tools", &name],
            vec!["config", "ls", &name, "--json"],
            vec!["policy", "--json"],
            vec!["tokens", "ls", "--json"],
            vec!["tools", "no-such-plugin"],
            vec!["config", "ls", "no-such-plugin"],
        ] {
            let remote = client.run(&args).await;
            let mut local = nanofleet(&data_dir, &instance, &args);
            let local = tokio::task::spawn_blocking(move || Run(local.output().expect("runs")))
                .await
                .expect("join");
            assert_eq!(
                (remote.0.status.code(), remote.stdout(), remote.stderr()),
                (local.0.status.code(), local.stdout(), local.stderr()),
                "`nanofleet {}` differs with --server (left) and without (right)",
                args.join(" ")
            );
        }

        // A plugin UI: a fresh session URL that opens the page, from the server, or from
        // the `serve` found on this machine's data directory without --server.
        write(
            &client.path("board/manifest.json"),
            Manifest::new(&board, "0.1.0", KANBAN_IMAGE, 8080)
                .with_ui(
                    8081,
                    nanofleet_sdk::manifest::Sidebar::new(
                        "kanban",
                        "Kanban",
                        Manifest::default_sidebar_route(&board),
                    ),
                )
                .to_json_pretty(),
        );
        let board_source = client.path("board");
        client
            .run(&["install", board_source.to_str().expect("utf-8")])
            .await
            .expect_code(0);
        let run = client.run(&["ui", &board, "--json"]).await;
        run.expect_code(0);
        let session = run.json();
        let remote_url = session["url"].as_str().expect("url").to_owned();
        assert!(
            remote_url.starts_with(&format!(
                "{}/api/plugins/{board}/ui/?nf_token=",
                serve.url()
            )),
            "{session}"
        );
        let mut local = nanofleet(&data_dir, &instance, &["ui", &board]);
        local.env("DOCKER_HOST", NO_ENGINE);
        let local = tokio::task::spawn_blocking(move || Run(local.output().expect("runs")))
            .await
            .expect("join");
        local.expect_code(0);
        let local_url = local.stdout().trim().to_owned();
        assert_ne!(local_url, remote_url, "each session is fresh");
        let http = nanofleet_sdk::http::client().expect("an HTTP client");
        for url in [&remote_url, &local_url] {
            let page = http.get(url.as_str()).send().await.expect("the UI answers");
            assert_eq!(page.status(), 200, "{url}");
            let html = page.text().await.expect("body");
            assert!(html.to_lowercase().contains("<html"), "{html}");
        }
        // --open hands the URL to the platform's opener (here a stand-in for xdg-open).
        let bin = client.path("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let opened = client.path("opened.txt");
        let opener = bin.join("xdg-open");
        write(
            &opener,
            format!("#!/bin/sh\nprintf %s \"$1\" > '{}'\n", opened.display()),
        );
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let mut command = client.command(&["ui", &board, "--open"]);
        command.env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
        let run = tokio::task::spawn_blocking(move || Run(command.output().expect("runs")))
            .await
            .expect("join");
        run.expect_code(0);
        let deadline = Instant::now() + Duration::from_secs(10);
        let handed = loop {
            match std::fs::read_to_string(&opened) {
                Ok(text) if !text.is_empty() => break text,
                _ if Instant::now() > deadline => panic!("xdg-open was not run: {}", run.stderr()),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        assert!(
            handed.contains(&format!("/api/plugins/{board}/ui/?nf_token=")),
            "{handed}"
        );
        // A plugin without a UI says so.
        let run = client.run(&["ui", &name]).await;
        run.expect_code(1);
        assert!(run.stderr().starts_with("error: "), "{}", run.stderr());
        assert!(run.stderr().contains("UI"), "{}", run.stderr());
        client.run(&["rm", &board, "--purge"]).await.expect_code(0);

        // The reconciler runs inside serve: a removed container comes back.
        let container = names::Instance::new(instance.as_str())
            .expect("instance")
            .container_name(&name);
        rt.remove(&container).await.expect("docker rm -f");
        let removed = Instant::now();
        loop {
            let state = rt.inspect(&container).await.expect("inspect");
            if state.is_some_and(|s| s.running) {
                break;
            }
            assert!(
                removed.elapsed() < Duration::from_secs(30),
                "the container was not recreated within 30 s:\n{}",
                serve.stderr()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }

        // A wrong token is refused, in one line.
        let stranger = Client::new(serve.url(), "not-the-token-0123456789abcdef".into());
        let run = stranger.run(&["ls"]).await;
        run.expect_code(1);
        assert!(
            run.stderr()
                .starts_with("error: the server refused the token"),
            "{}",
            run.stderr()
        );
        assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());

        // Errors read as locally.
        let run = client.run(&["agents", "unlink", "a", "not-linked"]).await;
        run.expect_code(1);
        assert!(run.stderr().contains("was not linked"), "{}", run.stderr());
        let run = client.run(&["restart", "no-such-plugin"]).await;
        run.expect_code(1);
        assert!(
            run.stderr().contains("`no-such-plugin` is not installed"),
            "{}",
            run.stderr()
        );

        let run = client.run(&["rm", &name, "--purge"]).await;
        run.expect_code(0);
        assert!(run.stderr().contains("data volume"), "{}", run.stderr());
        let listed = client.run(&["ls", "--json"]).await.json();
        assert!(find(&listed, "name", &name).is_none(), "{listed}");
        assert!(!mcp_servers(&ws).contains_key(&name), "rm unlinks");
        client
            .run(&["keys", "rm", "CLI_SERVER_TEST_KEY"])
            .await
            .expect_code(0);
        client.run(&["agents", "rm", "a"]).await.expect_code(0);

        let status = serve.terminate().await;
        assert_eq!(status.code(), Some(0), "{}", serve.stderr());

        // A second start keeps the token and never shows it again.
        let mut again = Serve::start(&data_dir, &instance);
        again.wait_healthy().await;
        assert!(again.token().is_none(), "{}", again.stderr());
        assert!(!again.stderr().contains(&token));
        Client::new(again.url(), token)
            .run(&["ls"])
            .await
            .expect_code(0);
        let status = again.terminate().await;
        assert_eq!(status.code(), Some(0), "{}", again.stderr());
    })
    .await;
}
