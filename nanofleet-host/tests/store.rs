//! The host store: schema, CRUD, links, encrypted secrets, the key file, concurrency.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use nanofleet_host::manifest::Manifest;
use nanofleet_host::store::{
    AgentRecord, Desired, PluginRecord, SECRET_KEY_FILE, STORE_FILE, SecretKey, Status, Store,
    StoreError,
};
use nanofleet_sdk::identity::InternalToken;
use serde_json::json;

const TOKEN: &str = "tok-0123456789-abcdefghijklmnop-secret";
const API_VALUE: &str = "sk-live-plaintext-that-must-not-leak-4242";

fn token() -> InternalToken {
    InternalToken::new(TOKEN.to_owned()).expect("valid token")
}

fn plugin(name: &str) -> PluginRecord {
    PluginRecord::new(Manifest::new(
        name,
        "0.1.0",
        format!("nanofleet/{name}:0.1.0"),
        8080,
    ))
}

fn agent(id: &str, dir: &str) -> AgentRecord {
    AgentRecord::new(id, format!("Agent {id}"), dir)
}

fn open(dir: &Path, key: &SecretKey) -> Store {
    Store::open_with_key(dir, key).expect("open store")
}

/// The bytes of the database and its WAL, where committed data may still sit.
///
/// A store that was just dropped closes its connection on its own thread, and SQLite then
/// checkpoints the WAL into the database and deletes it: a file listed here may be gone when it
/// is read, its contents already in the database file.
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with(STORE_FILE) {
            match std::fs::read(entry.path()) {
                Ok(content) => bytes.extend(content),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("read {}: {e}", entry.path().display()),
            }
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn migrations_apply_to_an_empty_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("nested/data");
    let store = open(&data, &SecretKey::generate());
    assert_eq!(store.path(), data.join(STORE_FILE));
    assert!(store.list_plugins().await.expect("list").is_empty());
    assert!(store.list_agents().await.expect("list").is_empty());
    assert!(store.list_links().await.expect("list").is_empty());
    assert!(store.api_key_names().await.expect("list").is_empty());
    drop(store);

    let conn = rusqlite::Connection::open(data.join(STORE_FILE)).expect("raw open");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, 8);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
    let dir_mode = std::fs::metadata(&data).expect("meta").permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
}

/// A plugin installed with `--egress` before permissions existed holds unrestricted network
/// afterwards, recorded as granted beyond its manifest; others hold what their manifest says.
#[tokio::test]
async fn a_store_from_before_permissions_keeps_each_plugins_egress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::generate();
    {
        let store = open(dir.path(), &key);
        for name in ["with-egress", "without"] {
            store
                .put_plugin(&plugin(name), &token())
                .await
                .expect("put");
        }
    }
    let conn = rusqlite::Connection::open(dir.path().join(STORE_FILE)).expect("raw open");
    conn.execute_batch(
        "ALTER TABLE plugins DROP COLUMN replicas;
         ALTER TABLE plugins DROP COLUMN overrides;
         ALTER TABLE plugins DROP COLUMN allowed_more;
         UPDATE plugins SET egress = 1 WHERE name = 'with-egress';
         DROP TABLE plugin_config;
         ALTER TABLE agents DROP COLUMN client;
         DROP TABLE api_tokens;
         DROP TABLE audit_log;
         PRAGMA user_version = 3;",
    )
    .expect("back to schema 3");
    drop(conn);

    let store = open(dir.path(), &key);
    let with = store
        .get_plugin("with-egress")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(
        with.permissions().network,
        nanofleet_host::manifest::Network::Unrestricted
    );
    assert_eq!(with.allowed_more.len(), 1, "{:?}", with.allowed_more);
    let without = store
        .get_plugin("without")
        .await
        .expect("get")
        .expect("kept");
    assert!(without.overrides.is_empty() && without.allowed_more.is_empty());
    assert_eq!(
        without.permissions().network,
        nanofleet_host::manifest::Network::None
    );
}

#[tokio::test]
async fn the_policy_is_kept_and_defaults_to_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::generate();
    let policy = nanofleet_host::policy::Policy {
        max_memory: Some(nanofleet_host::manifest::Memory(512 << 20)),
        max_pids: Some(64),
        forbid_unrestricted_network: true,
        ..Default::default()
    };
    {
        let store = open(dir.path(), &key);
        assert_eq!(store.policy().await.expect("read"), Default::default());
        store.set_policy(&policy).await.expect("set");
    }
    let store = open(dir.path(), &key);
    assert_eq!(store.policy().await.expect("read"), policy);
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::generate();
    {
        let store = open(dir.path(), &key);
        store
            .put_plugin(&plugin("notes"), &token())
            .await
            .expect("put");
        store
            .put_agent(&agent("a1", "/srv/a1"))
            .await
            .expect("agent");
        store.link("a1", "notes").await.expect("link");
        store
            .set_api_key("OPENAI_API_KEY", API_VALUE)
            .await
            .expect("key");
        store
            .record_message("notes", "a1", "hello")
            .await
            .expect("msg");
    }
    // Opening twice also proves a second open skips applied migrations.
    let store = open(dir.path(), &key);
    assert_eq!(
        store
            .get_plugin("notes")
            .await
            .expect("get")
            .map(|p| p.name),
        Some("notes".to_owned())
    );
    assert_eq!(
        store
            .plugin_token("notes")
            .await
            .expect("token")
            .map(|t| t.expose_secret().to_owned()),
        Some(TOKEN.to_owned())
    );
    assert_eq!(store.links_of_agent("a1").await.expect("links"), ["notes"]);
    let values = store
        .api_key_values(&["OPENAI_API_KEY".to_owned()])
        .await
        .expect("values");
    assert_eq!(
        values.get("OPENAI_API_KEY").map(String::as_str),
        Some(API_VALUE)
    );
    assert_eq!(store.messages_for_agent("a1").await.expect("msgs").len(), 1);
}

/// Defect 12.9: a truncated store was taken for a new one, and the next reconcile removed every
/// plugin's container as an orphan. A key file beside no database is damage: refused.
#[test]
fn a_lost_or_truncated_store_is_refused_not_recreated() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Store::open(dir.path()).expect("first open creates the store and its key"));
    let db = dir.path().join(STORE_FILE);
    for wal in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("{STORE_FILE}{wal}")));
    }

    std::fs::write(&db, b"").expect("truncate");
    let Err(err) = Store::open(dir.path()) else {
        panic!("a truncated store is refused")
    };
    assert!(matches!(err, StoreError::Lost { .. }), "{err}");
    assert!(err.to_string().contains("Nothing was changed"), "{err}");
    assert_eq!(
        std::fs::metadata(&db).expect("kept").len(),
        0,
        "the file is left alone"
    );

    std::fs::remove_file(&db).expect("rm");
    let Err(err) = Store::open(dir.path()) else {
        panic!("a missing store is refused")
    };
    assert!(matches!(err, StoreError::Lost { .. }), "{err}");
    assert!(!db.exists(), "nothing was created");

    // Starting afresh on purpose: the key moved away too.
    std::fs::remove_file(dir.path().join(nanofleet_host::store::SECRET_KEY_FILE)).expect("rm key");
    Store::open(dir.path()).expect("a fresh start");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::generate();
    drop(open(dir.path(), &key));
    let conn = rusqlite::Connection::open(dir.path().join(STORE_FILE)).expect("raw open");
    conn.pragma_update(None, "user_version", 99)
        .expect("bump version");
    drop(conn);

    let err = Store::open_with_key(dir.path(), &key).expect_err("too new");
    assert!(
        matches!(
            err,
            StoreError::TooNew {
                found: 99,
                known: 8,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("newer than this host knows"), "{message}");
}

#[tokio::test]
async fn plugin_crud() {
    let store = Store::open_in_memory_for_tests().expect("store");
    let mut record = plugin("kanban");
    record.overrides.network = Some(nanofleet_host::manifest::Network::Unrestricted);
    record.overrides.memory = Some(nanofleet_host::manifest::Memory(64 << 20));
    record.allowed_more = vec!["network unrestricted where none was declared".into()];
    record.status_message = Some("pulling".into());
    store.put_plugin(&record, &token()).await.expect("put");

    let got = store
        .get_plugin("kanban")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.manifest, record.manifest);
    assert_eq!(
        (got.desired, got.status, got.require_signature),
        (Desired::Running, Status::Installing, true)
    );
    assert_eq!(got.overrides, record.overrides);
    assert_eq!(got.allowed_more, record.allowed_more);
    assert_eq!(
        got.permissions().network,
        nanofleet_host::manifest::Network::Unrestricted
    );
    assert_eq!(got.status_message.as_deref(), Some("pulling"));
    assert!(got.created_at > 0 && got.updated_at >= got.created_at);

    store
        .set_status("kanban", Status::Error, Some("probe failed"))
        .await
        .expect("status");
    store
        .set_desired("kanban", Desired::Stopped)
        .await
        .expect("desired");
    let tools = vec![json!({"name": "add_task", "inputSchema": {"type": "object"}})];
    store
        .set_tools("kanban", tools.clone())
        .await
        .expect("tools");
    let got = store
        .get_plugin("kanban")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        (got.status, got.desired, got.status_message.as_deref()),
        (Status::Error, Desired::Stopped, Some("probe failed"))
    );
    assert_eq!(got.tools, tools);
    store
        .set_status("kanban", Status::Stopped, None)
        .await
        .expect("status");
    let got = store.get_plugin("kanban").await.expect("get");
    assert_eq!(got.and_then(|p| p.status_message), None);

    store
        .put_plugin(&plugin("alpha"), &token())
        .await
        .expect("put");
    let names: Vec<String> = store
        .list_plugins()
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["alpha", "kanban"]);

    assert!(store.delete_plugin("kanban").await.expect("delete"));
    assert!(!store.delete_plugin("kanban").await.expect("delete again"));
    assert!(store.get_plugin("kanban").await.expect("get").is_none());
    assert!(store.plugin_token("kanban").await.expect("token").is_none());
}

#[tokio::test]
async fn replacing_a_plugin_keeps_its_links_and_creation_time() {
    let store = Store::open_in_memory_for_tests().expect("store");
    store
        .put_plugin(&plugin("notes"), &token())
        .await
        .expect("put");
    store.put_agent(&agent("a1", "/w/a1")).await.expect("agent");
    store.link("a1", "notes").await.expect("link");
    let before = store.get_plugin("notes").await.expect("get").expect("row");

    let mut upgraded = plugin("notes");
    upgraded.manifest.version = "0.2.0".into();
    upgraded.status = Status::Upgrading;
    let new_token = InternalToken::generate();
    store
        .put_plugin(&upgraded, &new_token)
        .await
        .expect("replace");

    let after = store.get_plugin("notes").await.expect("get").expect("row");
    assert_eq!(after.manifest.version, "0.2.0");
    assert_eq!(after.status, Status::Upgrading);
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(
        store.agents_of_plugin("notes").await.expect("links"),
        ["a1"]
    );
    let stored = store
        .plugin_token("notes")
        .await
        .expect("token")
        .expect("some");
    assert_eq!(stored.expose_secret(), new_token.expose_secret());
}

#[tokio::test]
async fn invalid_plugin_records_are_refused() {
    let store = Store::open_in_memory_for_tests().expect("store");
    let mut bad = plugin("Bad Name");
    let err = store
        .put_plugin(&bad, &token())
        .await
        .expect_err("bad name");
    assert!(matches!(err, StoreError::InvalidPlugin { .. }), "{err:?}");
    bad = plugin("notes");
    bad.name = "other".into();
    let err = store
        .put_plugin(&bad, &token())
        .await
        .expect_err("mismatch");
    assert!(err.to_string().contains("manifest's name"), "{err}");
    for result in [
        store.set_status("ghost", Status::Running, None).await,
        store.set_desired("ghost", Desired::Running).await,
        store.set_tools("ghost", Vec::new()).await,
    ] {
        assert!(
            matches!(result, Err(StoreError::UnknownPlugin { ref name }) if name == "ghost"),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn agent_crud() {
    let store = Store::open_in_memory_for_tests().expect("store");
    store.put_agent(&agent("b", "/w/b")).await.expect("put");
    store.put_agent(&agent("a", "/w/a")).await.expect("put");
    assert_eq!(
        store.get_agent("a").await.expect("get"),
        Some(agent("a", "/w/a"))
    );
    store
        .put_agent(&AgentRecord::new("a", "Renamed", "/w/new"))
        .await
        .expect("update");
    let ids: Vec<(String, String)> = store
        .list_agents()
        .await
        .expect("list")
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    assert_eq!(
        ids,
        [
            ("a".to_owned(), "Renamed".to_owned()),
            ("b".to_owned(), "Agent b".to_owned())
        ]
    );
    assert!(store.delete_agent("a").await.expect("delete"));
    assert!(!store.delete_agent("a").await.expect("delete again"));
    assert_eq!(store.get_agent("a").await.expect("get"), None);
}

#[tokio::test]
async fn invalid_agents_are_refused() {
    let store = Store::open_in_memory_for_tests().expect("store");
    for (record, needle) in [
        (agent("", "/w"), "empty"),
        (agent("a", "relative/dir"), "absolute"),
        (agent("a\nb", "/w"), "control"),
        (agent(&"x".repeat(129), "/w"), "at most 128"),
        (agent(" padded", "/w"), "white space"),
        (agent("ali\u{200B}ce", "/w"), "invisible character U+200B"),
        (agent("evil\u{202E}txt", "/w"), "invisible character U+202E"),
    ] {
        let err = store.put_agent(&record).await.expect_err(needle);
        assert!(err.to_string().contains(needle), "{err}");
    }
}

/// Defect 12.8: two agents registered on one workspace overwrote each other's entries while
/// the store said both were linked.
#[tokio::test]
async fn two_agents_cannot_share_a_workspace() {
    let store = Store::open_in_memory_for_tests().expect("store");
    store
        .put_agent(&agent("a1", "/w/shared"))
        .await
        .expect("first");
    for path in ["/w/shared", "/w/shared/"] {
        let err = store
            .put_agent(&agent("a2", path))
            .await
            .expect_err("a second agent on the same workspace");
        assert!(err.to_string().contains("\"a1\"'s already"), "{err}");
    }
    // The same agent may register again, and another workspace is fine.
    store
        .put_agent(&agent("a1", "/w/shared"))
        .await
        .expect("again");
    store
        .put_agent(&agent("a2", "/w/other"))
        .await
        .expect("own workspace");
}

/// One rule for both sides: the host stores exactly the ids every plugin accepts in its URL
/// (before, the host took ids of 129 to 256 bytes and ids with surrounding spaces that every
/// plugin then refused).
#[tokio::test]
async fn the_host_stores_exactly_the_ids_plugins_accept() {
    let store = Store::open_in_memory_for_tests().expect("store");
    let long = "x".repeat(nanofleet_contracts::agent_id::MAX_LEN);
    let too_long = "x".repeat(nanofleet_contracts::agent_id::MAX_LEN + 1);
    let longer = "x".repeat(256);
    for id in [
        "alice",
        "3f1c2d4e-0000-4000-8000-000000000001",
        "zoë",
        long.as_str(),
        too_long.as_str(),
        longer.as_str(),
        " alice",
        "alice ",
        "a\tb",
        "a\u{200D}b",
        "a\u{2066}b",
        "\u{FEFF}a",
    ]
    .into_iter()
    .enumerate()
    {
        let (n, id) = id;
        let stored = store
            .put_agent(&agent(id, &format!("/w/{n}")))
            .await
            .is_ok();
        let accepted = nanofleet_sdk::AgentId::new(id).is_ok();
        assert_eq!(
            stored, accepted,
            "{id:?}: stored {stored}, accepted by plugins {accepted}"
        );
    }
}

#[tokio::test]
async fn links() {
    let store = Store::open_in_memory_for_tests().expect("store");
    for name in ["notes", "kanban"] {
        store
            .put_plugin(&plugin(name), &token())
            .await
            .expect("put");
    }
    for id in ["a1", "a2"] {
        store
            .put_agent(&agent(id, &format!("/w/{id}")))
            .await
            .expect("agent");
    }
    assert!(store.link("a1", "notes").await.expect("link"));
    assert!(!store.link("a1", "notes").await.expect("idempotent"));
    store.link("a1", "kanban").await.expect("link");
    store.link("a2", "notes").await.expect("link");

    assert_eq!(
        store.links_of_agent("a1").await.expect("of agent"),
        ["kanban", "notes"]
    );
    assert_eq!(
        store.agents_of_plugin("notes").await.expect("of plugin"),
        ["a1", "a2"]
    );
    let all: Vec<(String, String)> = store
        .list_links()
        .await
        .expect("all")
        .into_iter()
        .map(|l| (l.agent_id, l.plugin))
        .collect();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], ("a1".to_owned(), "kanban".to_owned()));

    assert!(store.unlink("a1", "notes").await.expect("unlink"));
    assert!(!store.unlink("a1", "notes").await.expect("unlink again"));
    assert_eq!(
        store.links_of_agent("a1").await.expect("of agent"),
        ["kanban"]
    );
}

#[tokio::test]
async fn linking_unknown_agents_or_plugins_fails() {
    let store = Store::open_in_memory_for_tests().expect("store");
    store
        .put_plugin(&plugin("notes"), &token())
        .await
        .expect("put");
    store.put_agent(&agent("a1", "/w")).await.expect("agent");
    let err = store.link("ghost", "notes").await.expect_err("no agent");
    assert!(
        matches!(err, StoreError::UnknownAgent { ref id } if id == "ghost"),
        "{err:?}"
    );
    let err = store.link("a1", "ghost").await.expect_err("no plugin");
    assert!(
        matches!(err, StoreError::UnknownPlugin { ref name } if name == "ghost"),
        "{err:?}"
    );
    assert!(store.list_links().await.expect("links").is_empty());
}

#[tokio::test]
async fn deleting_a_plugin_or_agent_removes_its_links() {
    let store = Store::open_in_memory_for_tests().expect("store");
    for name in ["notes", "kanban"] {
        store
            .put_plugin(&plugin(name), &token())
            .await
            .expect("put");
    }
    for id in ["a1", "a2"] {
        store
            .put_agent(&agent(id, &format!("/w/{id}")))
            .await
            .expect("agent");
        store.link(id, "notes").await.expect("link");
        store.link(id, "kanban").await.expect("link");
    }
    store
        .record_message("notes", "a1", "hi")
        .await
        .expect("msg");

    assert!(store.delete_plugin("notes").await.expect("delete"));
    assert!(
        store
            .agents_of_plugin("notes")
            .await
            .expect("links")
            .is_empty()
    );
    assert_eq!(store.list_links().await.expect("links").len(), 2);
    // Messages outlive the plugin that sent them.
    assert_eq!(store.messages_for_agent("a1").await.expect("msgs").len(), 1);

    assert!(store.delete_agent("a1").await.expect("delete"));
    assert!(store.links_of_agent("a1").await.expect("links").is_empty());
    assert!(
        store
            .messages_for_agent("a1")
            .await
            .expect("msgs")
            .is_empty()
    );
    assert_eq!(
        store.agents_of_plugin("kanban").await.expect("links"),
        ["a2"]
    );
}

/// Defect 12.12: a plugin could fill the host's message store without limit, and reading an
/// agent's messages returned everything at once.
#[tokio::test]
async fn messages_are_kept_within_budgets_and_read_in_pages() {
    use nanofleet_host::store::{
        MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES_PER_AGENT, MAX_MESSAGES_PER_AGENT,
    };
    let store = Store::open_in_memory_for_tests().expect("store");
    store
        .put_plugin(&plugin("notes"), &token())
        .await
        .expect("put");
    store.put_agent(&agent("a1", "/w")).await.expect("agent");
    store.put_agent(&agent("a2", "/w2")).await.expect("agent");
    store
        .record_message("notes", "a2", "keep me")
        .await
        .expect("msg");

    // Count: the newest MAX_MESSAGES_PER_AGENT stay.
    for n in 0..MAX_MESSAGES_PER_AGENT + 5 {
        store
            .record_message("notes", "a1", &format!("m{n}"))
            .await
            .expect("msg");
    }
    let kept = store.messages_for_agent("a1").await.expect("msgs");
    assert_eq!(kept.len(), MAX_MESSAGES_PER_AGENT);
    assert_eq!(kept[0].content, "m5");
    assert_eq!(
        kept.last().map(|m| m.content.as_str()),
        Some(format!("m{}", MAX_MESSAGES_PER_AGENT + 4).as_str())
    );

    // Bytes: large messages push the oldest out before the budget is passed.
    let big = "x".repeat(MAX_MESSAGE_BYTES);
    for _ in 0..(MAX_MESSAGE_BYTES_PER_AGENT / MAX_MESSAGE_BYTES) + 10 {
        store
            .record_message("notes", "a1", &big)
            .await
            .expect("big");
    }
    let kept = store.messages_for_agent("a1").await.expect("msgs");
    let bytes: usize = kept.iter().map(|m| m.content.len()).sum();
    assert!(bytes <= MAX_MESSAGE_BYTES_PER_AGENT, "{bytes}");
    assert!(
        kept.len() >= MAX_MESSAGE_BYTES_PER_AGENT / MAX_MESSAGE_BYTES - 1,
        "{}",
        kept.len()
    );
    // Another agent's messages are untouched.
    assert_eq!(store.messages_for_agent("a2").await.expect("msgs").len(), 1);

    // Pages: in order, none twice, none missed.
    let all: Vec<i64> = kept.iter().map(|m| m.id).collect();
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.messages_page("a1", after, 7).await.expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        after = page.last().map_or(after, |m| m.id);
        seen.extend(page.into_iter().map(|m| m.id));
    }
    assert_eq!(seen, all);
}

#[tokio::test]
async fn messages() {
    let store = Store::open_in_memory_for_tests().expect("store");
    store
        .put_plugin(&plugin("notes"), &token())
        .await
        .expect("put");
    store.put_agent(&agent("a1", "/w")).await.expect("agent");
    let first = store
        .record_message("notes", "a1", "one")
        .await
        .expect("msg");
    let second = store
        .record_message("notes", "a1", "two")
        .await
        .expect("msg");
    assert!(second > first);
    let got: Vec<String> = store
        .messages_for_agent("a1")
        .await
        .expect("msgs")
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(got, ["one", "two"]);
    assert!(matches!(
        store.record_message("notes", "ghost", "x").await,
        Err(StoreError::UnknownAgent { .. })
    ));
    assert!(matches!(
        store.record_message("ghost", "a1", "x").await,
        Err(StoreError::UnknownPlugin { .. })
    ));
    let huge = "x".repeat(nanofleet_host::store::MAX_MESSAGE_BYTES + 1);
    assert!(matches!(
        store.record_message("notes", "a1", &huge).await,
        Err(StoreError::MessageTooLarge { .. })
    ));
}

#[tokio::test]
async fn api_keys_round_trip_and_list_names_only() {
    let store = Store::open_in_memory_for_tests().expect("store");
    store
        .set_api_key("OPENAI_API_KEY", API_VALUE)
        .await
        .expect("set");
    store
        .set_api_key("GITHUB_TOKEN", "ghp_1")
        .await
        .expect("set");
    store
        .set_api_key("GITHUB_TOKEN", "ghp_2")
        .await
        .expect("update");

    assert_eq!(
        store.api_key_names().await.expect("names"),
        ["GITHUB_TOKEN", "OPENAI_API_KEY"]
    );
    let wanted = ["GITHUB_TOKEN".to_owned(), "ABSENT".to_owned()];
    let values = store.api_key_values(&wanted).await.expect("values");
    assert_eq!(values.len(), 1);
    assert_eq!(
        values.get("GITHUB_TOKEN").map(String::as_str),
        Some("ghp_2")
    );
    assert_eq!(
        store.missing_api_keys(&wanted).await.expect("missing"),
        ["ABSENT"]
    );

    assert!(store.delete_api_key("GITHUB_TOKEN").await.expect("delete"));
    assert!(
        !store
            .delete_api_key("GITHUB_TOKEN")
            .await
            .expect("delete again")
    );
    let again = ["GITHUB_TOKEN".to_owned(), "GITHUB_TOKEN".to_owned()];
    assert_eq!(
        store.missing_api_keys(&again).await.expect("missing"),
        ["GITHUB_TOKEN"]
    );
}

#[tokio::test]
async fn api_key_names_and_values_are_checked() {
    let store = Store::open_in_memory_for_tests().expect("store");
    for name in ["", "1ABC", "my-key", "NANO_INTERNAL_TOKEN", "NANO_ANYTHING"] {
        let err = store.set_api_key(name, "v").await.expect_err(name);
        assert!(
            matches!(err, StoreError::InvalidApiKeyName { .. }),
            "{name}: {err:?}"
        );
    }
    let err = store
        .set_api_key("NANO_X", "v")
        .await
        .expect_err("reserved");
    assert!(err.to_string().contains("reserved"), "{err}");
    for value in ["", "a\0b"] {
        let err = store
            .set_api_key("KEY", value)
            .await
            .expect_err("bad value");
        assert!(
            matches!(err, StoreError::InvalidApiKeyValue { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("KEY"));
    }
}

#[tokio::test]
async fn the_database_file_holds_no_plaintext_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), &SecretKey::generate());
    store
        .put_plugin(&plugin("notes"), &token())
        .await
        .expect("put");
    store
        .set_api_key("OPENAI_API_KEY", API_VALUE)
        .await
        .expect("set");
    // Committed data may be in the WAL only: it is part of the file set searched.
    let bytes = database_bytes(dir.path());
    assert!(
        contains(&bytes, b"OPENAI_API_KEY"),
        "the search must see the rows"
    );
    assert!(!contains(&bytes, API_VALUE.as_bytes()));
    assert!(!contains(&bytes, TOKEN.as_bytes()));
    drop(store);
    let bytes = database_bytes(dir.path());
    assert!(!contains(&bytes, API_VALUE.as_bytes()));
    assert!(!contains(&bytes, TOKEN.as_bytes()));
}

#[tokio::test]
async fn a_wrong_key_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), &SecretKey::generate());
    store
        .set_api_key("OPENAI_API_KEY", API_VALUE)
        .await
        .expect("set");
    drop(store);

    let err = Store::open_with_key(dir.path(), &SecretKey::generate()).expect_err("wrong key");
    assert!(matches!(err, StoreError::WrongSecretKey { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("the secret key does not match the one the store was written with"),
        "{message}"
    );
    assert!(!message.contains(API_VALUE));
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_decrypt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::generate();
    let store = open(dir.path(), &key);
    store.set_api_key("KEY_A", "value-a").await.expect("set");
    store.set_api_key("KEY_B", "value-b").await.expect("set");
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join(STORE_FILE)).expect("raw open");
    conn.execute(
        "UPDATE api_keys SET (nonce, ciphertext) =
             (SELECT nonce, ciphertext FROM api_keys WHERE name = 'KEY_A')
         WHERE name = 'KEY_B'",
        [],
    )
    .expect("swap");
    drop(conn);

    let store = open(dir.path(), &key);
    let err = store
        .api_key_values(&["KEY_B".to_owned()])
        .await
        .expect_err("swapped");
    assert!(matches!(err, StoreError::WrongSecretKey { .. }), "{err:?}");
}

#[test]
fn the_key_file_is_created_private_and_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::load_or_create(dir.path()).expect("create");
    let path = dir.path().join(SECRET_KEY_FILE);
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        SecretKey::from_base64(&text).is_ok(),
        "file holds base64 of 32 bytes"
    );
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);

    // The second load reads the same key: a store written with one opens with the other.
    drop(open(dir.path(), &key));
    let again = SecretKey::load_or_create(dir.path()).expect("reuse");
    assert!(Store::open_with_key(dir.path(), &again).is_ok());
}

#[test]
fn a_world_readable_key_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    SecretKey::load_or_create(dir.path()).expect("create");
    let path = dir.path().join(SECRET_KEY_FILE);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let err = SecretKey::load_or_create(dir.path()).expect_err("0644");
    assert!(
        matches!(err, StoreError::SecretKeyPermissions { mode: 0o644, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("chmod 600"), "{message}");
}

#[test]
fn a_malformed_key_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(SECRET_KEY_FILE);
    std::fs::write(&path, "dG9vIHNob3J0\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let err = SecretKey::load_or_create(dir.path()).expect_err("short key");
    let message = err.to_string();
    assert!(message.contains(SECRET_KEY_FILE), "{message}");
    assert!(message.contains("not 32"), "{message}");
}

#[tokio::test]
async fn open_reads_or_creates_the_key_file() {
    if std::env::var_os(nanofleet_host::store::SECRET_KEY_ENV).is_some() {
        eprintln!("skipped: the environment sets the key, so the key file is not used");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("first open");
    store.set_api_key("K", "v").await.expect("set");
    drop(store);
    assert!(dir.path().join(SECRET_KEY_FILE).is_file());
    let store = Store::open(dir.path()).expect("second open");
    let values = store
        .api_key_values(&["K".to_owned()])
        .await
        .expect("values");
    assert_eq!(values.get("K").map(String::as_str), Some("v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_land() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::generate();
    // Two handles on one file: writers contend on SQLite's lock, not only on the mutex.
    let stores = [open(dir.path(), &key), open(dir.path(), &key)];
    stores[0]
        .put_plugin(&plugin("notes"), &token())
        .await
        .expect("put");

    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("agent-{i}");
            store.put_agent(&agent(&id, &format!("/w/{id}"))).await?;
            store.link(&id, "notes").await?;
            store
                .set_api_key(&format!("KEY_{i}"), &format!("value-{i}"))
                .await?;
            store
                .set_status("notes", Status::Running, Some(&id))
                .await?;
            Ok::<_, StoreError>(())
        }));
    }
    for task in tasks {
        task.await.expect("join").expect("write");
    }
    assert_eq!(stores[1].list_agents().await.expect("agents").len(), 20);
    assert_eq!(
        stores[0]
            .agents_of_plugin("notes")
            .await
            .expect("links")
            .len(),
        20
    );
    let names: Vec<String> = (0..20).map(|i| format!("KEY_{i}")).collect();
    let values = stores[1].api_key_values(&names).await.expect("values");
    assert_eq!(values.len(), 20);
    assert_eq!(values.get("KEY_7").map(String::as_str), Some("value-7"));
}

/// A plugin whose manifest declares a plain, a sensitive and a defaulted setting.
fn configured(name: &str) -> PluginRecord {
    let mut record = plugin(name);
    record.manifest.config = serde_json::from_value(json!({
        "region": {"type": "string"},
        "api_token": {"type": "string", "required": true, "sensitive": true},
        "retries": {"type": "integer", "default": 3, "min": 0, "max": 10}
    }))
    .expect("schema");
    record
}

#[tokio::test]
async fn configuration_values_are_stored_with_the_record_and_sensitive_ones_sealed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), &SecretKey::generate());
    let values: nanofleet_host::manifest::config::ConfigValues = [
        ("region".to_owned(), json!("eu-west")),
        ("api_token".to_owned(), json!(API_VALUE)),
        ("retries".to_owned(), json!(5)),
    ]
    .into();
    store
        .put_plugin_with_config(&configured("cfg"), &token(), &values)
        .await
        .expect("put");
    assert_eq!(store.plugin_config("cfg").await.expect("read"), values);
    assert!(
        !contains(&database_bytes(dir.path()), API_VALUE.as_bytes()),
        "a sensitive value is in the database in clear"
    );
    assert!(contains(&database_bytes(dir.path()), b"eu-west"));

    // Replacing the record alone keeps the values; replacing the values replaces all of them.
    store
        .put_plugin(&configured("cfg"), &token())
        .await
        .expect("put");
    assert_eq!(store.plugin_config("cfg").await.expect("read"), values);
    let fewer: nanofleet_host::manifest::config::ConfigValues =
        [("api_token".to_owned(), json!("other"))].into();
    store
        .set_plugin_config("cfg", fewer.clone())
        .await
        .expect("set");
    assert_eq!(store.plugin_config("cfg").await.expect("read"), fewer);

    // What the manifest does not declare, or does not allow, is not stored; nothing changes.
    for bad in [
        json!({"regoin": "x"}),
        json!({"retries": 11}),
        json!({"retries": "3"}),
    ] {
        let bad: nanofleet_host::manifest::config::ConfigValues =
            serde_json::from_value(bad).expect("values");
        let err = store
            .set_plugin_config("cfg", bad)
            .await
            .expect_err("refused");
        assert!(matches!(err, StoreError::InvalidConfig { .. }), "{err}");
    }
    assert_eq!(store.plugin_config("cfg").await.expect("read"), fewer);
    let err = store
        .set_plugin_config("nope", fewer.clone())
        .await
        .expect_err("no such plugin");
    assert!(matches!(err, StoreError::UnknownPlugin { .. }), "{err}");

    // Deleting the plugin deletes its values.
    assert!(store.delete_plugin("cfg").await.expect("delete"));
    assert!(store.plugin_config("cfg").await.expect("read").is_empty());
}

/// A sealed value copied into another plugin's row does not decrypt there: it is bound to
/// its plugin and key.
#[tokio::test]
async fn a_sealed_setting_moved_to_another_row_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::generate();
    let store = open(dir.path(), &key);
    let values: nanofleet_host::manifest::config::ConfigValues =
        [("api_token".to_owned(), json!(API_VALUE))].into();
    for name in ["one", "two"] {
        store
            .put_plugin_with_config(&configured(name), &token(), &values)
            .await
            .expect("put");
    }
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join(STORE_FILE)).expect("raw open");
    conn.execute(
        "UPDATE plugin_config SET nonce = (SELECT nonce FROM plugin_config WHERE plugin = 'one'),
             ciphertext = (SELECT ciphertext FROM plugin_config WHERE plugin = 'one')
         WHERE plugin = 'two'",
        [],
    )
    .expect("swap");
    drop(conn);
    let store = open(dir.path(), &key);
    assert_eq!(store.plugin_config("one").await.expect("read"), values);
    let err = store.plugin_config("two").await.expect_err("refused");
    assert!(matches!(err, StoreError::WrongSecretKey { .. }), "{err}");
}

/// The client an agent runs is kept, and changing it (another file) draws new link ids, as a
/// move to another workspace does: URLs left in the old file stop working.
#[tokio::test]
async fn an_agents_client_is_kept_and_changing_it_renews_its_links() {
    use nanofleet_host::linking::Client;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), &SecretKey::generate());
    store
        .put_plugin(&plugin("notes"), &token())
        .await
        .expect("put");
    let nanobot = agent("nb", "/agents/nb").with_client(Client::Nanobot);
    store.put_agent(&nanobot).await.expect("put agent");
    store.link("nb", "notes").await.expect("link");
    let got = store.get_agent("nb").await.expect("get").expect("there");
    assert_eq!(got.client, Client::Nanobot);
    assert_eq!(got.config_path(), Path::new("/agents/nb/config.json"));
    let before = store.link_id("nb", "notes").await.expect("id");

    store.put_agent(&nanobot).await.expect("same again");
    assert_eq!(store.link_id("nb", "notes").await.expect("id"), before);
    store
        .put_agent(&agent("nb", "/agents/nb"))
        .await
        .expect("to claude-code");
    let after = store.link_id("nb", "notes").await.expect("id");
    assert_ne!(after, before, "a new file gets new link ids");
    let listed = store.list_agents().await.expect("list");
    assert_eq!(listed[0].client, Client::ClaudeCode);
}
