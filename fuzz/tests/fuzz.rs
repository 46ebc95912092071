//! Every parser of outside input, fed its corpus and then mutations of it for a time budget:
//! no input may panic, and each target's properties must hold. See the crate docs.

use std::{
    cell::Cell,
    path::PathBuf,
    time::{Duration, Instant, SystemTime},
};

use arbtest::arbitrary::{Result as ArbResult, Unstructured};
use nanofleet_sdk::identity::{self, InternalToken};

/// The time each target runs for, after its corpus.
fn budget() -> Duration {
    let ms = std::env::var("NANOFLEET_FUZZ_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    Duration::from_millis(ms)
}

/// The inputs kept for `target`.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let inputs: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    assert!(
        !inputs.is_empty(),
        "no corpus for `{target}` in {}",
        dir.display()
    );
    inputs
}

/// Fragments that steer mutations towards the interesting parts of JSON, URLs and ids.
const FRAGMENTS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"\\u0000",
    b"\\ud800",
    b"\xe2\x80\x8b",
    b"\xe2\x80\xae",
    b"\xef\xbb\xbf",
    b"\xff",
    b"%00",
    b"?agent_id=",
    b"&",
    b"=",
    b"/",
    b"@sha256:",
    b"nf1.",
    b"\"mcpServers\"",
    b"\"jsonrpc\":\"2.0\"",
    b"\"method\":\"tools/call\"",
    b"\"params\":{}",
];

/// One mutation of a corpus input, chosen by `u`.
fn mutate(inputs: &[Vec<u8>], u: &mut Unstructured<'_>) -> ArbResult<Vec<u8>> {
    let mut data = u.choose(inputs)?.clone();
    for _ in 0..u.int_in_range(1..=8)? {
        let at = if data.is_empty() {
            0
        } else {
            u.int_in_range(0..=data.len() - 1)?
        };
        match u.int_in_range(0..=5)? {
            0 if !data.is_empty() => data[at] ^= 1 << u.int_in_range(0..=7)?,
            1 => data.insert(at, u.arbitrary()?),
            2 if !data.is_empty() => {
                let end = (at + u.int_in_range(1..=16)?).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let fragment = u.choose(FRAGMENTS)?;
                data.splice(at..at, fragment.iter().copied());
            }
            4 => {
                let other = u.choose(inputs)?;
                if !other.is_empty() {
                    let from = u.int_in_range(0..=other.len() - 1)?;
                    let to = (from + u.int_in_range(1..=64)?).min(other.len());
                    data.splice(at..at, other[from..to].iter().copied());
                }
            }
            _ => {
                let n = u.int_in_range(1..=4)?;
                for _ in 0..n {
                    data.insert(at, u.arbitrary()?);
                }
            }
        }
    }
    Ok(data)
}

/// Runs `check` on the corpus of `target`, then on mutations for [`budget`]; prints how many.
fn fuzz(target: &str, check: impl Fn(&[u8])) {
    let inputs = corpus(target);
    for input in &inputs {
        check(input);
    }
    let runs = Cell::new(0u64);
    let started = Instant::now();
    let test = arbtest::arbtest(|u| {
        let input = mutate(&inputs, u)?;
        check(&input);
        runs.set(runs.get() + 1);
        Ok(())
    })
    // A mutation takes a few dozen decisions: more entropy would only cost time to generate.
    .size_max(1024);
    // A failure prints its seed; `NANOFLEET_FUZZ_SEED=0x...` replays that one input.
    match std::env::var("NANOFLEET_FUZZ_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
    {
        Some(seed) => test.seed(seed),
        None => test.budget(budget()),
    };
    eprintln!(
        "fuzz {target}: {} corpus inputs, {} mutated inputs in {:.1} s",
        inputs.len(),
        runs.get(),
        started.elapsed().as_secs_f64()
    );
}

fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

fn token() -> InternalToken {
    InternalToken::new("a-plugin-token-of-at-least-32-bytes-0123456789".to_owned()).expect("token")
}

#[test]
fn manifest_json() {
    use nanofleet_contracts::manifest::Manifest;
    fuzz("manifest_json", |input| {
        let parsed = Manifest::parse_json(&text(input));
        if parsed.diagnostics.has_errors() {
            return;
        }
        // Accepted means valid, and the same manifest again after a round trip.
        let manifest = parsed
            .manifest
            .expect("accepted without errors means a manifest");
        {
            assert!(
                !manifest.validate().has_errors(),
                "{manifest:?} passed parse_json with errors"
            );
            let json = serde_json::to_string(&manifest).expect("serializes");
            let again = Manifest::parse_json(&json)
                .manifest
                .expect("what was accepted is accepted again");
            assert_eq!(again, manifest);
        }
    });
}

#[test]
fn agent_id() {
    use nanofleet_contracts::agent_id;
    fuzz("agent_id", |input| {
        let id = text(input);
        let host = agent_id::check(&id);
        let plugin = nanofleet_sdk::AgentId::new(&id);
        // One rule: the host stores exactly what every plugin accepts.
        assert_eq!(
            host.is_ok(),
            plugin.is_ok(),
            "{id:?}: {host:?} vs {plugin:?}"
        );
        if host.is_ok() {
            assert!(id.len() <= agent_id::MAX_LEN && id.trim() == id, "{id:?}");
        }
    });
}

#[test]
fn agent_signature() {
    let token = token();
    fuzz("agent_signature", |input| {
        // plugin \n agent \n signature
        let input = text(input);
        let mut parts = input.splitn(3, '\n');
        let (plugin, agent, signature) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let genuine = identity::sign_agent(&token, plugin, agent);
        let verdict = identity::verify_agent(&token, plugin, agent, signature);
        assert_eq!(verdict.is_ok(), signature == genuine, "{input:?}");
        assert!(identity::verify_agent(&token, plugin, agent, &genuine).is_ok());
    });
}

#[test]
fn ui_token() {
    let token = token();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    fuzz("ui_token", |input| {
        let candidate = text(input);
        // Anything but a token minted with the plugin's token is refused, without a panic.
        let verdict = identity::verify_ui_token(&token, "kanban", &candidate, now);
        if let Ok(claims) = verdict {
            assert_eq!(claims.plugin_id, "kanban");
        }
        let subject = candidate.chars().take(40).collect::<String>();
        let minted = identity::mint_ui_token(
            &token,
            "kanban",
            Some(&subject),
            Duration::from_secs(60),
            now,
        );
        let claims = identity::verify_ui_token(&token, "kanban", &minted, now)
            .unwrap_or_else(|e| panic!("{subject:?}: {e}"));
        assert_eq!(claims.subject.as_deref(), Some(subject.as_str()));
    });
}

#[test]
fn mcp_json() {
    use nanofleet_host::linking::{LinkTarget, MCP_JSON, agent_url, sync_mcp_json};
    let dir = tempfile::tempdir().expect("tempdir");
    let managed = ["notes".to_owned(), "kanban".to_owned()].into();
    let wanted = [LinkTarget::new(
        "notes",
        agent_url("http://nanofleet-plugin-notes:8080", "agent-1", None),
    )];
    fuzz("mcp_json", |input| {
        let path = dir.path().join(MCP_JSON);
        std::fs::write(&path, input).expect("write");
        let before: Option<serde_json::Value> = serde_json::from_slice(input).ok();
        match sync_mcp_json(dir.path(), &managed, &wanted) {
            Ok(_) => {
                let written = std::fs::read(&path).expect("read");
                let shown = || {
                    format!(
                        "from {:?} the host wrote {:?}",
                        String::from_utf8_lossy(input),
                        String::from_utf8_lossy(&written)
                    )
                };
                // JSON's grammar holds. (A lone surrogate escape such as "\ud800" in the user's
                // own entries is kept as written: JSON's grammar allows it, Node's JSON.parse
                // reads it, serde_json's `Value` does not.)
                if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&written) {
                    panic!("not JSON ({e}): {}", shown());
                }
                let url = wanted[0].url.as_str();
                let Ok(after) = serde_json::from_slice::<serde_json::Value>(&written) else {
                    assert!(
                        String::from_utf8_lossy(&written).contains(url),
                        "the entry is missing: {}",
                        shown()
                    );
                    return;
                };
                assert_eq!(after["mcpServers"]["notes"]["url"], url, "{}", shown());
                // Every entry of the user's that the host does not manage is kept as it was.
                if let Some(servers) = before
                    .as_ref()
                    .and_then(|b| b.get("mcpServers"))
                    .and_then(|s| s.as_object())
                {
                    for (name, entry) in servers {
                        if name != "notes" && name != "kanban" {
                            assert_eq!(&after["mcpServers"][name], entry, "{name}: {}", shown());
                        }
                    }
                }
            }
            // A refused file is left exactly as it was.
            Err(_) => assert_eq!(std::fs::read(&path).expect("read"), input),
        }
    });
}

#[test]
fn image_ref() {
    use nanofleet_contracts::{image::parse_image_ref, uri_template};
    fuzz("image_ref", |input| {
        let reference = text(input);
        if let Ok(parsed) = parse_image_ref(&reference) {
            // A reference accepted is one the engine cannot read as an option.
            assert!(!reference.starts_with('-'), "{reference:?}");
            assert!(!parsed.name().is_empty());
        }
        let _ = uri_template::parse(&reference);
    });
}

#[test]
fn plugin_http() {
    use axum::{body::Body, http::Request};
    use http_body_util::BodyExt as _;
    use nanofleet_sdk::{
        Manifest, Plugin,
        testing::TestClient,
        tool::{NoArgs, Tool, ToolCall},
    };
    use tower::ServiceExt as _;

    let plugin = Plugin::builder(Manifest::new("probe", "0.1.0", "probe:0.1.0", 8080))
        .tool(
            Tool::new("echo", "Echoes.").handler(|_: NoArgs, call: ToolCall| async move {
                format!("{:?}", call.agent().ok())
            }),
        )
        .tool(Tool::new("noop", "Nothing.").handler(|_: NoArgs, _: ToolCall| async { "" }))
        .build()
        .expect("plugin");
    let client = TestClient::new(&plugin).expect("client");
    let router = client.router();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    fuzz("plugin_http", |input| {
        let request = Request::post("/mcp?agent_id=fuzz")
            .header("host", "localhost")
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25")
            .body(Body::from(input.to_vec()))
            .expect("request");
        let status = runtime.block_on(async {
            let response = router.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            // Read the whole answer: a streamed body is part of the handling.
            let _ =
                tokio::time::timeout(Duration::from_secs(5), response.into_body().collect()).await;
            status
        });
        assert!(
            !status.is_server_error(),
            "{status} for {:?}",
            String::from_utf8_lossy(input)
        );
    });
}

/// The host API's request bodies (and the one query a caller writes freely): the first byte of
/// an input picks the route (`'0'` + its index in `ROUTES`), the rest is the body. The host
/// runs on a store in memory and an engine that cannot be reached, with one plugin and one
/// agent recorded, so every route gets past its lookups to its decoding. No input may make the
/// host panic or answer `500`; every answer but a success is the API's JSON error, and a `503`
/// is only ever the unreachable engine.
#[test]
fn host_api() {
    use axum::{
        body::Body,
        http::{Method, Request, StatusCode, header},
    };
    use http_body_util::BodyExt as _;
    use nanofleet_host::{
        Host, HostConfig,
        api::{self, ApiConfig, BearerToken, StoreMessages},
        manifest::Manifest,
        runtime::{Offline, Runtime, RuntimeError},
        store::{AgentRecord, PluginRecord, Status, Store},
    };
    use std::sync::Arc;
    use tower::ServiceExt as _;

    /// Method, path, and whether the plugin's token (not the admin's) authenticates it.
    const ROUTES: &[(&str, &str, bool)] = &[
        ("POST", "/api/plugins", false),
        ("POST", "/api/plugins/probe/upgrade", false),
        ("POST", "/api/agents", false),
        ("PUT", "/api/keys/FUZZ_KEY", false),
        ("POST", "/internal/agents/a1/messages", true),
        ("PUT", "/api/agents/a1/links/probe", false),
        ("GET", "/api/agents/a1/messages?", false),
    ];

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let workspaces = dir.path().join("workspaces");
    let ws = workspaces.join("a1");
    std::fs::create_dir_all(&ws).expect("workspace");
    let (router, admin, plugin_token) = runtime.block_on(async {
        let engine: Arc<dyn Runtime> = Arc::new(Offline::new(RuntimeError::Unreachable {
            engine: "the Docker engine",
            endpoint: "unix:///fuzz/none.sock".into(),
            hint: "no engine while fuzzing".into(),
        }));
        let store = Store::open_in_memory_for_tests().expect("store");
        let host = Host::with_store(HostConfig::new(dir.path().join("host")), engine, store);
        let token = InternalToken::generate();
        let manifest = Manifest::new("probe", "0.1.0", "acme/probe:0.1.0", 8080);
        let store = host.store();
        store
            .put_plugin(&PluginRecord::new(manifest), &token)
            .await
            .expect("plugin");
        store
            .set_status("probe", Status::Running, None)
            .await
            .expect("status");
        host.register_agent(AgentRecord::new("a1", "a1", ws.clone()))
            .await
            .expect("agent");
        let config = ApiConfig::new(dir.path().join("host"));
        let (auth, created) = BearerToken::load_or_create(&config.data_dir).expect("api token");
        let admin = created.expect("a new token");
        let messages = Arc::new(StoreMessages::new(host.store().clone()));
        let router = api::router(host, Arc::new(auth), messages, config);
        (router, admin, token)
    });

    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u64>::new());
    fuzz("host_api", |input| {
        let Some((&selector, body)) = input.split_first() else {
            return;
        };
        let (method, path, as_plugin) =
            ROUTES[usize::from(selector.wrapping_sub(b'0')) % ROUTES.len()];
        // A body that would register an agent on a real directory elsewhere on this machine
        // is not sent: the host writes `.mcp.json` into the workspace it is given.
        if path == "/api/agents"
            && let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(body)
            && let Some(serde_json::Value::String(dir)) = fields.get("workspaceDir")
            && !std::path::Path::new(dir).starts_with(&workspaces)
        {
            return;
        }
        let (uri, body) = if method == "GET" {
            // The query is the input: percent-encode what a URI cannot carry.
            let query: String = body
                .iter()
                .map(|&b| {
                    if b.is_ascii_alphanumeric() || b"=&-_.~%".contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            (format!("{path}{query}"), Vec::new())
        } else {
            (path.to_owned(), body.to_vec())
        };
        let bearer = if as_plugin {
            plugin_token.expose_secret().to_owned()
        } else {
            admin.clone()
        };
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(&uri)
            .header(header::HOST, "localhost")
            .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("request");
        let (status, text) = runtime.block_on(async {
            let response = router.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        });
        *statuses.borrow_mut().entry(status.as_u16()).or_default() += 1;
        let shown = String::from_utf8_lossy(input);
        assert_ne!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{method} {uri} {shown:?}: {text}"
        );
        if !status.is_success() {
            let error: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                panic!("{method} {uri} {shown:?}: {status} not JSON ({e}): {text}")
            });
            let code = error["code"].as_str().unwrap_or_default();
            assert!(!code.is_empty(), "{method} {uri} {shown:?}: {text}");
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(
                    code, "engine_unavailable",
                    "{method} {uri} {shown:?}: {text}"
                );
            }
        }
    });
    // The inputs got past authentication to the handlers: some succeeded, some reached the
    // (unreachable) engine, some were refused for what they held.
    let statuses = statuses.into_inner();
    eprintln!("fuzz host_api: answers by status {statuses:?}");
    for status in [204, 503, 400, 422] {
        assert!(
            statuses.contains_key(&status),
            "no {status} answer: {statuses:?}"
        );
    }
}
