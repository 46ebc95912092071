//! Agents' client configs (`.mcp.json`, nanobot's `config.json`, codex's `config.toml`,
//! VS Code's `.vscode/mcp.json`): ownership, atomicity, concurrency, permissions, URLs.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nanofleet_host::linking::{
    Client, Credentials, LinkError, LinkTarget, MCP_JSON, NANOBOT_TOOL_TIMEOUT_SECS, SyncOutcome,
    agent_url, sync_client_config, sync_mcp_json,
};
use serde_json::{Value, json};

fn managed(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

fn target(plugin: &str) -> LinkTarget {
    LinkTarget::new(
        plugin,
        agent_url(
            &nanofleet_host::names::plugin_base_url(plugin, 8080),
            "agent-1",
            None,
        ),
    )
}

fn read_json(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join(MCP_JSON)).expect("read .mcp.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn names(outcome: &[String]) -> Vec<&str> {
    outcome.iter().map(String::as_str).collect()
}

#[test]
fn creates_the_file_from_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = sync_mcp_json(
        dir.path(),
        &managed(&["notes"]),
        &[target("notes"), target("kanban")],
    )
    .expect("sync");
    assert!(outcome.changed);
    assert_eq!(names(&outcome.added), ["kanban", "notes"]);

    let text = std::fs::read_to_string(dir.path().join(MCP_JSON)).expect("read");
    assert!(text.ends_with("}\n"), "trailing newline: {text:?}");
    assert!(
        text.starts_with("{\n  \"mcpServers\": {\n    \"kanban\": {"),
        "{text}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json"),
        json!({"mcpServers": {
            "notes": {"type": "http", "url": "http://nanofleet-plugin-notes:8080/mcp?agent_id=agent-1"},
            "kanban": {"type": "http", "url": "http://nanofleet-plugin-kanban:8080/mcp?agent_id=agent-1"},
        }})
    );
}

#[test]
fn nothing_to_link_creates_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = sync_mcp_json(dir.path(), &managed(&["notes"]), &[]).expect("sync");
    assert_eq!(outcome, SyncOutcome::default());
    assert!(!dir.path().join(MCP_JSON).exists());
}

#[test]
fn keeps_foreign_entries_and_top_level_keys_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mine = r#"{"command":"npx","args":["-y","@acme/x"],"env":{"Z":"1","A":2.50}}"#;
    let original = format!(
        r#"{{"zeta": [1, 2],
  "mcpServers": {{"mine": {mine}, "notes": {{"type":"http","url":"http://old"}}}},
  "alpha": {{"b": 1, "a": 2}}}}"#
    );
    std::fs::write(dir.path().join(MCP_JSON), &original).expect("write");

    let outcome = sync_mcp_json(
        dir.path(),
        &managed(&["notes", "kanban"]),
        &[target("notes"), target("kanban")],
    )
    .expect("sync");
    assert_eq!(names(&outcome.updated), ["notes"]);
    assert_eq!(names(&outcome.added), ["kanban"]);

    let text = std::fs::read_to_string(dir.path().join(MCP_JSON)).expect("read");
    // The user's entry keeps its exact text: compact, key order, the number as written.
    assert!(text.contains(mine), "{text}");
    // Top-level keys keep their order and values.
    let zeta = text.find("\"zeta\"").expect("zeta");
    let servers = text.find("\"mcpServers\"").expect("servers");
    let alpha = text.find("\"alpha\"").expect("alpha");
    assert!(zeta < servers && servers < alpha, "{text}");
    assert!(text.contains(r#"{"b": 1, "a": 2}"#), "{text}");
    let value = read_json(dir.path());
    assert_eq!(value["zeta"], json!([1, 2]));
    assert_eq!(
        value["mcpServers"]["notes"]["url"],
        json!("http://nanofleet-plugin-notes:8080/mcp?agent_id=agent-1")
    );
}

#[test]
fn unlink_removes_only_host_owned_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = managed(&["notes", "kanban"]);
    sync_mcp_json(dir.path(), &all, &[target("notes"), target("kanban")]).expect("link");
    // The user adds a server of their own, and one whose name the host does not manage.
    let mut value = read_json(dir.path());
    value["mcpServers"]["mine"] = json!({"command": "mine"});
    std::fs::write(
        dir.path().join(MCP_JSON),
        serde_json::to_string(&value).expect("json"),
    )
    .expect("write");

    let outcome = sync_mcp_json(dir.path(), &all, &[target("kanban")]).expect("unlink");
    assert_eq!(names(&outcome.removed), ["notes"]);
    assert!(outcome.added.is_empty() && outcome.updated.is_empty());
    let servers = read_json(dir.path())["mcpServers"].clone();
    let keys: BTreeSet<&str> = servers
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["kanban", "mine"]));

    let outcome = sync_mcp_json(dir.path(), &all, &[]).expect("unlink all");
    assert_eq!(names(&outcome.removed), ["kanban"]);
    assert_eq!(
        read_json(dir.path())["mcpServers"],
        json!({"mine": {"command": "mine"}})
    );
}

/// Defect 12.6: a user's own entry named like an installed plugin was deleted on register,
/// without the agent being linked. Only entries the host wrote are the host's.
#[test]
fn a_users_entry_sharing_a_plugins_name_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = json!({"mcpServers": {
        "notes": {"command": "notes", "args": ["stdio", "--agent", "me"]},
        "kanban": {"type": "http", "url": "https://kanban.example/mcp"},
        "hello": {"type": "http", "url": "http://nanofleet-plugin-hello:8080/mcp?agent_id=agent-1",
                  "headers": {"Authorization": "Bearer mine"}},
    }});
    std::fs::write(dir.path().join(MCP_JSON), users.to_string()).expect("write");
    let outcome =
        sync_mcp_json(dir.path(), &managed(&["notes", "kanban", "hello"]), &[]).expect("sync");
    assert!(!outcome.changed, "{outcome:?}");
    assert_eq!(read_json(dir.path()), users);

    // What the host wrote itself still goes when unlinked.
    let all = managed(&["notes", "kanban", "hello", "board"]);
    sync_mcp_json(dir.path(), &all, &[target("board")]).expect("link");
    let outcome = sync_mcp_json(dir.path(), &all, &[]).expect("unlink");
    assert_eq!(names(&outcome.removed), ["board"]);
    assert_eq!(read_json(dir.path()), users);
}

#[test]
fn a_second_sync_changes_nothing_and_does_not_rewrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = managed(&["notes"]);
    let wanted = [target("notes")];
    assert!(
        sync_mcp_json(dir.path(), &all, &wanted)
            .expect("first")
            .changed
    );
    let path = dir.path().join(MCP_JSON);
    let before = std::fs::metadata(&path).expect("meta");
    let bytes = std::fs::read(&path).expect("read");

    std::thread::sleep(std::time::Duration::from_millis(20));
    let outcome = sync_mcp_json(dir.path(), &all, &wanted).expect("second");
    assert_eq!(outcome, SyncOutcome::default());
    let after = std::fs::metadata(&path).expect("meta");
    assert_eq!(before.ino(), after.ino(), "the file was replaced");
    assert_eq!(before.mtime_nsec(), after.mtime_nsec());
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
}

#[test]
fn a_reformatted_but_equal_file_is_not_rewritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(MCP_JSON);
    let url = target("notes").url;
    let compact = format!(r#"{{"mcpServers":{{"notes":{{"url":"{url}","type":"http"}}}}}}"#);
    std::fs::write(&path, &compact).expect("write");
    let outcome =
        sync_mcp_json(dir.path(), &managed(&["notes"]), &[target("notes")]).expect("sync");
    assert!(!outcome.changed);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), compact);
}

#[test]
fn malformed_files_are_errors_and_stay_unchanged() {
    for bad in [
        "{ \"mcpServers\": { not json",
        "[1, 2]",
        r#"{"mcpServers": []}"#,
        r#"{"mcpServers": null}"#,
        r#"{"mcpServers": {"a": 1, "a": 2}}"#,
        "{\"a\": 1}\u{0}",
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(MCP_JSON);
        std::fs::write(&path, bad).expect("write");
        let err =
            sync_mcp_json(dir.path(), &managed(&["notes"]), &[target("notes")]).expect_err(bad);
        assert!(matches!(err, LinkError::Malformed { .. }), "{bad}: {err:?}");
        let message = err.to_string();
        assert!(message.contains("left untouched"), "{message}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), bad);
    }
}

#[test]
fn invalid_utf8_is_an_error_and_stays_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(MCP_JSON);
    std::fs::write(&path, b"{\"x\": \"\xff\"}").expect("write");
    let err = sync_mcp_json(dir.path(), &managed(&[]), &[target("notes")]).expect_err("utf8");
    assert!(err.to_string().contains("not UTF-8"), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), b"{\"x\": \"\xff\"}");
}

#[test]
fn an_empty_file_counts_as_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(MCP_JSON), "\n").expect("write");
    let outcome = sync_mcp_json(dir.path(), &managed(&[]), &[target("notes")]).expect("sync");
    assert_eq!(names(&outcome.added), ["notes"]);
}

#[test]
fn symlinks_missing_workspaces_and_duplicates_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let elsewhere = dir.path().join("elsewhere.json");
    std::fs::write(&elsewhere, "{}").expect("write");
    let workspace = dir.path().join("ws");
    std::fs::create_dir(&workspace).expect("mkdir");
    std::os::unix::fs::symlink(&elsewhere, workspace.join(MCP_JSON)).expect("symlink");
    let err = sync_mcp_json(&workspace, &managed(&[]), &[target("notes")]).expect_err("symlink");
    assert!(matches!(err, LinkError::NotARegularFile { .. }), "{err:?}");
    assert_eq!(std::fs::read_to_string(&elsewhere).expect("read"), "{}");

    let err = sync_mcp_json(
        &dir.path().join("missing"),
        &managed(&[]),
        &[target("notes")],
    )
    .expect_err("missing");
    assert!(matches!(err, LinkError::NoWorkspace { .. }), "{err:?}");

    let err = sync_mcp_json(
        dir.path(),
        &managed(&[]),
        &[target("notes"), target("notes")],
    )
    .expect_err("duplicate");
    assert!(matches!(err, LinkError::DuplicateTarget { .. }), "{err:?}");
}

#[test]
fn permissions_are_preserved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(MCP_JSON);
    std::fs::write(&path, "{}").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    sync_mcp_json(dir.path(), &managed(&[]), &[target("notes")]).expect("sync");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);

    // A new file gets what any program creating a file would get.
    let fresh = tempfile::tempdir().expect("tempdir");
    sync_mcp_json(fresh.path(), &managed(&[]), &[target("notes")]).expect("sync");
    let control = fresh.path().join("control");
    std::fs::File::create(&control).expect("create");
    let mode_of = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o7777;
    assert_eq!(mode_of(&fresh.path().join(MCP_JSON)), mode_of(&control));
}

#[test]
fn no_temporary_file_is_left_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    sync_mcp_json(dir.path(), &managed(&[]), &[target("notes")]).expect("sync");
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, [".mcp.json", ".mcp.json.lock"]);
}

#[test]
fn concurrent_syncs_lose_nothing_and_readers_never_see_a_partial_file() {
    const WRITERS: usize = 16;
    const ROUNDS: usize = 12;
    let dir = tempfile::tempdir().expect("tempdir");
    let workspace = Arc::new(dir.path().to_owned());
    std::fs::write(
        workspace.join(MCP_JSON),
        r#"{"mcpServers": {"mine": {"command": "mine"}}, "theme": "dark"}"#,
    )
    .expect("seed");

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (workspace, done) = (Arc::clone(&workspace), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut reads = 0usize;
            while !done.load(Ordering::Relaxed) {
                let text = std::fs::read_to_string(workspace.join(MCP_JSON)).expect("read");
                let value: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("partial file seen ({e}): {text:?}"));
                assert_eq!(value["mcpServers"]["mine"], json!({"command": "mine"}));
                assert_eq!(value["theme"], json!("dark"));
                reads += 1;
            }
            reads
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let workspace = Arc::clone(&workspace);
            std::thread::spawn(move || {
                // Each writer owns one plugin: linking and unlinking it must never disturb
                // the others' entries.
                let plugin = format!("p{i}");
                let own = managed(&[&plugin]);
                for round in 0..ROUNDS {
                    let wanted = if round % 2 == 0 || round == ROUNDS - 1 {
                        vec![LinkTarget::new(
                            &plugin,
                            format!("http://p{i}/mcp?r={round}"),
                        )]
                    } else {
                        Vec::new()
                    };
                    sync_mcp_json(&workspace, &own, &wanted).expect("sync");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer");
    }
    done.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("reader");
    assert!(reads > 0);

    let value = read_json(&workspace);
    let servers = value["mcpServers"].as_object().expect("object");
    assert_eq!(servers.len(), WRITERS + 1);
    for i in 0..WRITERS {
        assert_eq!(
            servers[&format!("p{i}")],
            json!({"type": "http", "url": format!("http://p{i}/mcp?r={}", ROUNDS - 1)})
        );
    }
    assert_eq!(value["theme"], json!("dark"));
}

#[test]
fn the_signature_is_appended_when_given() {
    let base = "http://nanofleet-plugin-notes:8080/mcp";
    assert_eq!(
        agent_url(base, "agent-1", None),
        "http://nanofleet-plugin-notes:8080/mcp?agent_id=agent-1"
    );
    let signature = "v1.AbC-_0123456789";
    let credentials = |link| Credentials { signature, link };
    assert_eq!(
        agent_url(base, "agent-1", Some(credentials(Some("0f3a9c")))),
        format!("{base}?agent_id=agent-1&agent_sig={signature}&agent_link=0f3a9c")
    );
    // An agent that is not linked: signed, and the plugin refuses it for want of a link.
    assert_eq!(
        agent_url(base, "agent-1", Some(credentials(None))),
        format!("{base}?agent_id=agent-1&agent_sig={signature}")
    );
    assert_eq!(
        agent_url("http://127.0.0.1:9000/mcp?debug=1", "a", None),
        "http://127.0.0.1:9000/mcp?debug=1&agent_id=a"
    );
}

#[test]
fn agent_ids_are_percent_encoded() {
    let id = "ada & bob=1?#/+%é日本";
    let credentials = Credentials {
        signature: "v1.x",
        link: None,
    };
    let url = agent_url(
        "http://nanofleet-plugin-notes:8080/mcp",
        id,
        Some(credentials),
    );
    assert_eq!(
        url,
        "http://nanofleet-plugin-notes:8080/mcp?agent_id=ada%20%26%20bob%3D1%3F%23%2F%2B%25%C3%A9%E6%97%A5%E6%9C%AC&agent_sig=v1.x"
    );
    // Any query decoder gets the exact id back.
    let parsed = reqwest::Url::parse(&url).expect("url");
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("agent_id".to_owned(), id.to_owned()),
            ("agent_sig".to_owned(), "v1.x".to_owned())
        ]
    );
}

fn read_nanobot(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("config.json")).expect("read config.json");
    serde_json::from_str(&text).expect("valid JSON")
}

/// nanobot's `config.json`: servers under `tools.mcpServers` in nanobot's shape, the plugin
/// range in `tools.ssrfWhitelist` while host entries are there, and everything else the
/// user wrote (other settings, own servers, own whitelist ranges) kept byte for byte.
#[test]
fn a_nanobot_config_gets_its_servers_and_exactly_the_plugin_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = r#"{
  "agents": {"defaults": {"model": "anthropic/claude-opus-4-5"}},
  "tools": {
    "ssrfWhitelist": ["100.64.0.0/10"],
    "mcpServers": {
      "mine": {"command": "npx", "args": ["-y", "my-server"]}
    },
    "exec": {"timeout": 60}
  }
}
"#;
    std::fs::write(dir.path().join("config.json"), original).expect("write");
    let reach = Some("172.18.0.0/16");
    let outcome = sync_client_config(
        Client::Nanobot,
        dir.path(),
        &managed(&["notes"]),
        &[target("notes")],
        reach,
    )
    .expect("sync");
    assert_eq!(names(&outcome.added), ["notes"]);
    let config = read_nanobot(dir.path());
    assert_eq!(
        config["tools"]["mcpServers"]["notes"],
        json!({
            "type": "streamableHttp",
            "url": target("notes").url,
            "toolTimeout": NANOBOT_TOOL_TIMEOUT_SECS
        })
    );
    assert_eq!(
        config["tools"]["ssrfWhitelist"],
        json!(["100.64.0.0/10", "172.18.0.0/16"])
    );
    assert_eq!(config["tools"]["mcpServers"]["mine"]["command"], "npx");
    assert_eq!(config["tools"]["exec"], json!({"timeout": 60}));
    assert_eq!(
        config["agents"]["defaults"]["model"],
        "anthropic/claude-opus-4-5"
    );
    assert!(
        !dir.path().join(".mcp.json").exists(),
        "a nanobot agent gets no .mcp.json"
    );

    // Again: nothing to change, the file is not rewritten.
    let again = sync_client_config(
        Client::Nanobot,
        dir.path(),
        &managed(&["notes"]),
        &[target("notes")],
        reach,
    )
    .expect("sync");
    assert!(!again.changed);

    // Unlinked: our entry and our range go; the user's stay, as they were.
    let outcome = sync_client_config(
        Client::Nanobot,
        dir.path(),
        &managed(&["notes"]),
        &[],
        reach,
    )
    .expect("sync");
    assert_eq!(names(&outcome.removed), ["notes"]);
    let config = read_nanobot(dir.path());
    assert_eq!(config["tools"]["ssrfWhitelist"], json!(["100.64.0.0/10"]));
    assert!(config["tools"]["mcpServers"].get("notes").is_none());
    assert_eq!(config["tools"]["mcpServers"]["mine"]["command"], "npx");
}

#[test]
fn a_nanobot_config_from_nothing_and_a_snake_case_whitelist() {
    let dir = tempfile::tempdir().expect("tempdir");
    sync_client_config(
        Client::Nanobot,
        dir.path(),
        &managed(&["notes"]),
        &[target("notes")],
        Some("127.0.0.0/8"),
    )
    .expect("sync");
    let config = read_nanobot(dir.path());
    assert_eq!(config["tools"]["ssrfWhitelist"], json!(["127.0.0.0/8"]));
    sync_client_config(
        Client::Nanobot,
        dir.path(),
        &managed(&["notes"]),
        &[],
        Some("127.0.0.0/8"),
    )
    .expect("sync");
    let config = read_nanobot(dir.path());
    assert_eq!(
        config,
        json!({"tools": {"mcpServers": {}}}),
        "nothing of ours is left"
    );

    // The user spelled the list in snake_case (nanobot reads both): that list is the one kept.
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"tools": {"ssrf_whitelist": ["10.0.0.0/8"]}}"#,
    )
    .expect("write");
    sync_client_config(
        Client::Nanobot,
        dir.path(),
        &managed(&["notes"]),
        &[target("notes")],
        Some("127.0.0.0/8"),
    )
    .expect("sync");
    let config = read_nanobot(dir.path());
    assert_eq!(
        config["tools"]["ssrf_whitelist"],
        json!(["10.0.0.0/8", "127.0.0.0/8"])
    );
    assert!(config["tools"].get("ssrfWhitelist").is_none());

    // A `tools` that is not an object is the user's mistake: refused, the file untouched.
    let broken = r#"{"tools": ["not", "an", "object"]}"#;
    std::fs::write(dir.path().join("config.json"), broken).expect("write");
    let err = sync_client_config(
        Client::Nanobot,
        dir.path(),
        &managed(&["notes"]),
        &[target("notes")],
        Some("127.0.0.0/8"),
    )
    .expect_err("refused");
    assert!(
        err.to_string().contains("`tools` must be a JSON object"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.json")).expect("read"),
        broken
    );
}

/// Every line of `original` is in `text`, in the same order: what the user wrote is kept as
/// written, with the host's lines among them.
fn assert_lines_kept(original: &str, text: &str) {
    let mut lines = text.lines();
    for line in original.lines() {
        assert!(
            lines.any(|l| l == line),
            "`{line}` is not kept in its place:\n{text}"
        );
    }
}

fn sync(client: Client, dir: &Path, managed_names: &[&str], wanted: &[&str]) -> SyncOutcome {
    let wanted: Vec<LinkTarget> = wanted.iter().map(|p| target(p)).collect();
    sync_client_config(client, dir, &managed(managed_names), &wanted, None).expect("sync")
}

/// codex's `config.toml`: a `[mcp_servers.<plugin>]` table with the URL per linked plugin;
/// comments, other settings and the user's own servers (with their sub-tables) stay as
/// written; unlinking takes out exactly the host's tables.
#[test]
fn a_codex_config_keeps_comments_and_the_users_servers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let codex = dir.path().join(".codex");
    std::fs::create_dir(&codex).expect("mkdir");
    let original = r#"# my codex settings
model = "gpt-5-codex"   # the default model

[mcp_servers.docs]
# the docs server I run myself
command = "npx"
args = ["-y", "docs-mcp"]

[mcp_servers.docs.env]
DOCS_TOKEN_FILE = "/run/secrets/docs"

[profiles.fast]
model = "gpt-5-mini"
"#;
    std::fs::write(codex.join("config.toml"), original).expect("write");
    let outcome = sync(
        Client::Codex,
        dir.path(),
        &["notes", "kanban"],
        &["notes", "kanban"],
    );
    assert_eq!(names(&outcome.added), ["kanban", "notes"]);
    let text = std::fs::read_to_string(codex.join("config.toml")).expect("read");
    assert_lines_kept(original, &text);
    let doc: toml_edit::DocumentMut = text.parse().expect("valid TOML");
    assert_eq!(
        doc["mcp_servers"]["notes"]["url"].as_str(),
        Some(target("notes").url.as_str())
    );
    assert!(
        text.contains("\n[mcp_servers.notes]\nurl = "),
        "one table per server, the way codex writes them:\n{text}"
    );

    // Again: nothing to change, and the file is not rewritten.
    assert!(
        !sync(
            Client::Codex,
            dir.path(),
            &["notes", "kanban"],
            &["notes", "kanban"]
        )
        .changed
    );

    // Unlinking kanban removes its table and nothing else; a user's server sharing a
    // managed name (`docs` is a stdio server) stays.
    let outcome = sync(
        Client::Codex,
        dir.path(),
        &["notes", "kanban", "docs"],
        &["notes"],
    );
    assert_eq!(names(&outcome.removed), ["kanban"]);
    let text = std::fs::read_to_string(codex.join("config.toml")).expect("read");
    assert_lines_kept(original, &text);
    assert!(!text.contains("kanban"), "{text}");
    assert!(text.contains("[mcp_servers.notes]"), "{text}");

    // A user's own setting added to our table makes it theirs: kept on unlink.
    let edited = text.replace(
        "[mcp_servers.notes]\n",
        "[mcp_servers.notes]\nbearer_token_env_var = \"NOTES_TOKEN\"\n",
    );
    std::fs::write(codex.join("config.toml"), &edited).expect("write");
    let outcome = sync(Client::Codex, dir.path(), &["notes"], &[]);
    assert!(outcome.removed.is_empty(), "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(codex.join("config.toml")).expect("read"),
        edited
    );
}

#[test]
fn a_codex_config_is_made_when_needed_and_refused_when_broken() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing to link: no directory, no file.
    let outcome = sync(Client::Codex, dir.path(), &["notes"], &[]);
    assert!(!outcome.changed);
    assert!(!dir.path().join(".codex").exists());

    sync(Client::Codex, dir.path(), &["notes"], &["notes"]);
    let path = dir.path().join(".codex/config.toml");
    let text = std::fs::read_to_string(&path).expect("read");
    let doc: toml_edit::DocumentMut = text.parse().expect("valid TOML");
    assert_eq!(
        doc["mcp_servers"]["notes"]["url"].as_str(),
        Some(target("notes").url.as_str())
    );
    assert!(
        !text.contains("[mcp_servers]\n"),
        "no empty parent table:\n{text}"
    );

    // Broken TOML: refused with where, the file untouched.
    let broken = "[mcp_servers.notes\nurl = 1\n";
    std::fs::write(&path, broken).expect("write");
    let err = sync_client_config(
        Client::Codex,
        dir.path(),
        &managed(&["notes"]),
        &[target("notes")],
        None,
    )
    .expect_err("refused");
    assert!(matches!(err, LinkError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), broken);

    // `mcp_servers` that is not a table is refused too.
    std::fs::write(&path, "mcp_servers = 3\n").expect("write");
    let err = sync_client_config(
        Client::Codex,
        dir.path(),
        &managed(&["notes"]),
        &[target("notes")],
        None,
    )
    .expect_err("refused");
    assert!(
        err.to_string().contains("`mcp_servers` must be a table"),
        "{err}"
    );

    // An inline servers' table gets inline entries.
    std::fs::write(&path, "mcp_servers = { mine = { command = \"x\" } }\n").expect("write");
    sync(Client::Codex, dir.path(), &["notes"], &["notes"]);
    let doc: toml_edit::DocumentMut = std::fs::read_to_string(&path)
        .expect("read")
        .parse()
        .expect("valid TOML");
    assert_eq!(doc["mcp_servers"]["mine"]["command"].as_str(), Some("x"));
    assert_eq!(
        doc["mcp_servers"]["notes"]["url"].as_str(),
        Some(target("notes").url.as_str())
    );
}

/// A client directory that is a symbolic link would take the host's writes out of the
/// workspace: refused, nothing written on either side of the link.
#[test]
fn a_linked_client_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(".vscode")).expect("symlink");
    let err = sync_client_config(
        Client::VsCode,
        dir.path(),
        &managed(&["notes"]),
        &[target("notes")],
        None,
    )
    .expect_err("refused");
    assert!(matches!(err, LinkError::NotADirectory { .. }), "{err}");
    assert_eq!(
        std::fs::read_dir(elsewhere.path())
            .expect("read dir")
            .count(),
        0
    );
}

/// VS Code's `.vscode/mcp.json` is JSON with comments: the comments, trailing commas and
/// `inputs` the user wrote stay; entries go under `servers` with `type: "http"`.
#[test]
fn a_vscode_config_keeps_comments_and_trailing_commas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vscode = dir.path().join(".vscode");
    std::fs::create_dir(&vscode).expect("mkdir");
    let original = r#"{
  // Servers for this workspace.
  "servers": {
    "github": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/", // hosted
    },
  },
  /* prompted once */
  "inputs": [
    {"type": "promptString", "id": "token", "password": true},
  ],
}
"#;
    std::fs::write(vscode.join("mcp.json"), original).expect("write");
    let outcome = sync(Client::VsCode, dir.path(), &["notes"], &["notes"]);
    assert_eq!(names(&outcome.added), ["notes"]);
    let text = std::fs::read_to_string(vscode.join("mcp.json")).expect("read");
    for kept in [
        "// Servers for this workspace.",
        "// hosted",
        "/* prompted once */",
        r#"{"type": "promptString", "id": "token", "password": true},"#,
    ] {
        assert!(text.contains(kept), "{kept} is kept:\n{text}");
    }
    let value = jsonc_parser::cst::CstRootNode::parse(&text, &Default::default())
        .expect("valid JSONC")
        .to_serde_value()
        .expect("a value");
    assert_eq!(
        value["servers"]["notes"],
        json!({"type": "http", "url": target("notes").url})
    );
    assert_eq!(
        value["servers"]["github"]["url"],
        "https://api.githubcopilot.com/mcp/"
    );

    assert!(!sync(Client::VsCode, dir.path(), &["notes"], &["notes"]).changed);

    let outcome = sync(Client::VsCode, dir.path(), &["notes"], &[]);
    assert_eq!(names(&outcome.removed), ["notes"]);
    let text = std::fs::read_to_string(vscode.join("mcp.json")).expect("read");
    assert!(!text.contains("notes"), "{text}");
    assert!(
        text.contains("// hosted") && text.contains("/* prompted once */"),
        "{text}"
    );

    // From nothing: the directory and a file VS Code reads.
    let fresh = tempfile::tempdir().expect("tempdir");
    sync(Client::VsCode, fresh.path(), &["notes"], &["notes"]);
    let text = std::fs::read_to_string(fresh.path().join(".vscode/mcp.json")).expect("read");
    let value: Value = serde_json::from_str(&text).expect("plain JSON when we wrote it all");
    assert_eq!(value["servers"]["notes"]["type"], "http");

    // Duplicate keys and a `servers` that is not an object are refused, untouched.
    for (broken, says) in [
        (r#"{"servers": {"a": {}, "a": {}}}"#, "duplicate key `a`"),
        (r#"{"servers": []}"#, "`servers` must be an object"),
        (r#"{"servers": {"#, "Unterminated object on line 1"),
    ] {
        std::fs::write(fresh.path().join(".vscode/mcp.json"), broken).expect("write");
        let err = sync_client_config(
            Client::VsCode,
            fresh.path(),
            &managed(&["notes"]),
            &[target("notes")],
            None,
        )
        .expect_err("refused");
        assert!(err.to_string().contains(says), "{broken}: {err}");
        assert_eq!(
            std::fs::read_to_string(fresh.path().join(".vscode/mcp.json")).expect("read"),
            broken
        );
    }
}
