//! The HTTP API without a container engine: a fake [`Runtime`] stands in where a route needs
//! one, and a small axum server stands in for a plugin's UI. Defects 6, 7 and 10 of
//! ../shared/research/nanofleet-host.md each have a test here that fails on that behaviour.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    os::unix::fs::PermissionsExt as _,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use futures::StreamExt as _;
use http_body_util::BodyExt as _;
use nanofleet_host::{
    Host, HostConfig,
    api::{self, ApiConfig, BearerToken, ImagePolicy, StoreMessages},
    labels,
    runtime::{
        BoxFut, BoxStream, ContainerSpec, ContainerState, Runtime, RuntimeError, RuntimeEvent,
    },
    store::{AgentRecord, PluginRecord, Store},
};
use nanofleet_sdk::{
    identity::{InternalToken, mint_ui_token, verify_ui_token},
    manifest::{Manifest, Sidebar},
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

// ---------------------------------------------------------------------------------------------
// A fake engine
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct FakeRuntime {
    reachable: bool,
    label: Option<String>,
    /// Container name → its state.
    containers: Mutex<BTreeMap<String, ContainerState>>,
    pulls: Mutex<Vec<String>>,
}

fn unreachable_engine() -> RuntimeError {
    RuntimeError::Unreachable {
        engine: "the fake engine",
        endpoint: "nowhere".into(),
        hint: "it is a test".into(),
    }
}

impl FakeRuntime {
    fn check(&self) -> Result<(), RuntimeError> {
        if self.reachable {
            Ok(())
        } else {
            Err(unreachable_engine())
        }
    }
}

impl Runtime for FakeRuntime {
    fn ping(&self) -> BoxFut<'_, Result<(), RuntimeError>> {
        Box::pin(async { self.check() })
    }
    fn ensure_network(&self) -> BoxFut<'_, Result<(), RuntimeError>> {
        Box::pin(async { Err(unreachable_engine()) })
    }
    fn create_and_start<'a>(
        &'a self,
        _spec: &'a ContainerSpec,
    ) -> BoxFut<'a, Result<ContainerState, RuntimeError>> {
        Box::pin(async { Err(unreachable_engine()) })
    }
    fn start<'a>(&'a self, _name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(async { Err(unreachable_engine()) })
    }
    fn stop<'a>(&'a self, _name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(async { Ok(()) })
    }
    fn remove<'a>(&'a self, _name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(async { Ok(()) })
    }
    fn rename<'a>(&'a self, _f: &'a str, _t: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(async { Err(unreachable_engine()) })
    }
    fn list_managed(&self) -> BoxFut<'_, Result<Vec<ContainerState>, RuntimeError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn inspect<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFut<'a, Result<Option<ContainerState>, RuntimeError>> {
        Box::pin(async move { Ok(self.containers.lock().expect("lock").get(name).cloned()) })
    }
    fn logs<'a>(
        &'a self,
        _name: &'a str,
        _options: nanofleet_host::runtime::LogOptions,
    ) -> BoxFut<'a, Result<Vec<String>, RuntimeError>> {
        Box::pin(async { Err(unreachable_engine()) })
    }
    fn follow_logs<'a>(
        &'a self,
        _name: &'a str,
        _options: nanofleet_host::runtime::LogOptions,
    ) -> BoxFut<'a, Result<BoxStream<'static, Result<String, RuntimeError>>, RuntimeError>> {
        Box::pin(async { Err(unreachable_engine()) })
    }
    fn remove_volume<'a>(
        &'a self,
        _instance: &'a nanofleet_host::names::Instance,
        _plugin: &'a str,
    ) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(async { Ok(()) })
    }
    fn image_exists<'a>(&'a self, _image: &'a str) -> BoxFut<'a, Result<bool, RuntimeError>> {
        Box::pin(async { self.check().map(|()| true) })
    }
    fn image_label<'a>(
        &'a self,
        _image: &'a str,
        key: &'a str,
    ) -> BoxFut<'a, Result<Option<String>, RuntimeError>> {
        let label = (key == labels::IMAGE_MANIFEST)
            .then(|| self.label.clone())
            .flatten();
        Box::pin(async move { self.check().map(|()| label) })
    }
    fn pull<'a>(
        &'a self,
        image: &'a str,
        _progress: &'a (dyn Fn(String) + Send + Sync),
    ) -> BoxFut<'a, Result<(), RuntimeError>> {
        self.pulls.lock().expect("lock").push(image.to_owned());
        Box::pin(async { Ok(()) })
    }
    fn events(
        &self,
    ) -> BoxFut<'_, Result<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>, RuntimeError>>
    {
        Box::pin(async { Err(unreachable_engine()) })
    }
    fn remove_network_if_unused(&self) -> BoxFut<'_, Result<(), RuntimeError>> {
        Box::pin(async { Ok(()) })
    }
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

struct App {
    router: Router,
    host: Host,
    runtime: Arc<FakeRuntime>,
    token: String,
    dir: tempfile::TempDir,
}

async fn app_with(runtime: FakeRuntime, tweak: impl FnOnce(&mut ApiConfig)) -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = Arc::new(runtime);
    let store = Store::open_in_memory_for_tests().expect("store");
    let host = Host::with_store(
        HostConfig::new(dir.path().join("host")),
        Arc::clone(&runtime) as Arc<dyn Runtime>,
        store,
    );
    let mut config = ApiConfig::new(dir.path().join("host"));
    config.max_body_bytes = 64 * 1024;
    config.proxy_timeout = Duration::from_secs(5);
    tweak(&mut config);
    let (auth, created) = BearerToken::load_or_create(&config.data_dir).expect("token");
    let token = created.expect("a new token is shown once");
    let messages = Arc::new(StoreMessages::new(host.store().clone()));
    let router = api::router(host.clone(), Arc::new(auth), messages, config);
    App {
        router,
        host,
        runtime,
        token,
        dir,
    }
}

async fn app() -> App {
    app_with(FakeRuntime::default(), |_| {}).await
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
    fn code(&self) -> String {
        serde_json::from_str::<Value>(&self.text)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

impl App {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// A request with the API token, and a JSON body when given.
    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        self.call_as(Some(&self.token.clone()), method, uri, body)
            .await
    }

    async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).expect("request")).await
    }

    fn workspace(&self, agent: &str) -> String {
        let path = self.dir.path().join("agents").join(agent);
        std::fs::create_dir_all(&path).expect("workspace");
        path.display().to_string()
    }

    /// A plugin straight into the store (no container), with its token.
    async fn plugin(&self, name: &str, ui_port: Option<u16>) -> InternalToken {
        let mut manifest = Manifest::new(name, "0.1.0", format!("acme/{name}:0.1.0"), 8080);
        if let Some(port) = ui_port {
            manifest = manifest.with_ui(
                port,
                Sidebar::new("box", name, Manifest::default_sidebar_route(name)),
            );
        }
        let token = InternalToken::generate();
        self.host
            .store()
            .put_plugin(&PluginRecord::new(manifest), &token)
            .await
            .expect("put plugin");
        token
    }

    /// [`plugin`](Self::plugin), recorded as running (not an install interrupted by a crash,
    /// which reconcile would roll back).
    async fn running_plugin(&self, name: &str) {
        self.plugin(name, None).await;
        self.host
            .store()
            .set_status(name, nanofleet_host::store::Status::Running, None)
            .await
            .expect("status");
    }

    async fn agent(&self, id: &str) {
        let ws = self.workspace(id);
        self.host
            .register_agent(AgentRecord::new(id, id, ws))
            .await
            .expect("agent");
    }
}

// ---------------------------------------------------------------------------------------------
// Auth
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn healthz_is_open_and_every_api_route_wants_the_token() {
    let app = app().await;
    let health = app.call_as(None, Method::GET, "/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["status"], "ok");

    for (method, uri) in [
        (Method::GET, "/api/plugins"),
        (Method::POST, "/api/plugins"),
        (Method::GET, "/api/agents"),
        (Method::GET, "/api/keys"),
        (Method::PUT, "/api/keys/X"),
        (Method::DELETE, "/api/plugins/x"),
        (Method::GET, "/api/plugins/x/logs"),
        (Method::POST, "/api/plugins/x/ui-session"),
        (Method::GET, "/api/plugins/x/ui/"),
    ] {
        for token in [None, Some("wrong-token-wrong-token-wrong-token")] {
            let reply = app.call_as(token, method.clone(), uri, None).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} {token:?}"
            );
            assert_eq!(reply.code(), "unauthorized");
            assert_eq!(
                reply
                    .headers
                    .get(header::WWW_AUTHENTICATE)
                    .map(|v| v.as_bytes()),
                Some(&b"Bearer"[..]),
                "{method} {uri}"
            );
        }
    }
    // Lower-case scheme works; the right token gets through.
    let ok = app
        .send(
            Request::get("/api/plugins")
                .header(header::AUTHORIZATION, format!("bearer {}", app.token))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

/// The dashboard's page and assets need no token (the page signs in itself), and carry a
/// policy: their own script only, framed by this origin alone.
#[tokio::test]
async fn the_dashboard_is_served_with_its_policy() {
    let app = app().await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
    ] {
        let request = Request::builder()
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        let header = |name: &str| reply.headers[name].to_str().expect("ascii").to_owned();
        assert!(header("content-type").starts_with(kind), "{path}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header("x-frame-options"), "SAMEORIGIN", "{path}");
    }
    let page = app
        .send(
            Request::builder()
                .uri("/")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    // No inline script: the policy would refuse it.
    assert!(!page.text.contains("<script>"), "{}", page.text);
    assert!(page.text.contains(r#"<script src="/dashboard/app.js""#));
}

#[tokio::test]
async fn the_api_token_file_is_private_created_once_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (_, first) = BearerToken::load_or_create(&data).expect("create");
    let first = first.expect("shown when created");
    assert!(first.len() >= 43, "at least 256 bits");
    let path = data.join(api::auth::API_TOKEN_FILE);
    let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (_, again) = BearerToken::load_or_create(&data).expect("load");
    assert_eq!(again, None, "an existing token is never shown again");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read").trim(),
        first,
        "same token"
    );

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = BearerToken::load_or_create(&data).expect_err("too open");
    assert!(err.to_string().contains("chmod 600"), "{err}");
    assert!(
        !err.to_string().contains(&first),
        "the error shows no token"
    );
}

// ---------------------------------------------------------------------------------------------
// Agents, links, keys
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn agents_and_links_work_and_refuse_unknowns() {
    let app = app().await;
    app.plugin("notes", None).await;
    let ws = app.workspace("ada");
    let body = json!({"id": "ada", "name": "Ada", "workspaceDir": ws});
    let created = app
        .call(Method::POST, "/api/agents", Some(body.clone()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let again = app.call(Method::POST, "/api/agents", Some(body)).await;
    assert_eq!(again.status, StatusCode::OK);

    let linked = app
        .call(Method::PUT, "/api/agents/ada/links/notes", None)
        .await;
    assert_eq!(linked.status, StatusCode::NO_CONTENT, "{}", linked.text);
    let mcp = std::fs::read_to_string(std::path::Path::new(&ws).join(".mcp.json")).expect("mcp");
    assert!(mcp.contains("nanofleet-plugin-notes"), "{mcp}");
    let list = app.call(Method::GET, "/api/agents", None).await.json();
    assert_eq!(list["agents"][0]["id"], "ada");
    assert_eq!(list["agents"][0]["plugins"], json!(["notes"]));
    let one = app.call(Method::GET, "/api/agents/ada", None).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(
        one.json(),
        list["agents"][0],
        "one agent as the list has it"
    );
    assert_eq!(
        app.call(Method::GET, "/api/agents/nobody", None)
            .await
            .code(),
        "agent_not_found"
    );
    // The client file as it is on disk, for the dashboard.
    let config = app
        .call(Method::GET, "/api/agents/ada/client-config", None)
        .await;
    assert_eq!(config.status, StatusCode::OK, "{}", config.text);
    assert_eq!(config.json()["client"], "claude-code");
    assert_eq!(config.json()["content"], mcp.as_str());
    let unknown = app
        .call(Method::GET, "/api/agents/nobody/client-config", None)
        .await;
    assert_eq!(unknown.code(), "agent_not_found");

    for (method, uri, code) in [
        (
            Method::PUT,
            "/api/agents/ada/links/nope",
            "plugin_not_found",
        ),
        (
            Method::PUT,
            "/api/agents/nobody/links/notes",
            "agent_not_found",
        ),
        (
            Method::DELETE,
            "/api/agents/nobody/links/notes",
            "agent_not_found",
        ),
        (Method::DELETE, "/api/agents/nobody", "agent_not_found"),
        (
            Method::GET,
            "/api/agents/nobody/messages",
            "agent_not_found",
        ),
    ] {
        let reply = app.call(method.clone(), uri, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(reply.code(), code, "{method} {uri}");
    }

    let unlinked = app
        .call(Method::DELETE, "/api/agents/ada/links/notes", None)
        .await;
    assert_eq!(unlinked.status, StatusCode::NO_CONTENT);
    let twice = app
        .call(Method::DELETE, "/api/agents/ada/links/notes", None)
        .await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);
    assert_eq!(twice.code(), "link_not_found");
    let mcp = std::fs::read_to_string(std::path::Path::new(&ws).join(".mcp.json")).expect("mcp");
    assert!(!mcp.contains("nanofleet-plugin-notes"), "{mcp}");

    let messages = app
        .call(Method::GET, "/api/agents/ada/messages", None)
        .await;
    assert_eq!(messages.json(), json!({"messages": [], "next": null}));

    let relative = json!({"id": "bob", "name": "Bob", "workspaceDir": "relative/dir"});
    let refused = app.call(Method::POST, "/api/agents", Some(relative)).await;
    assert!(refused.status.is_client_error(), "{}", refused.text);
    assert_eq!(
        app.call(Method::DELETE, "/api/agents/ada", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

/// Defect 12.5: with an unreadable `.mcp.json`, registering and linking failed yet the agent and
/// the link were stored; an agent whose workspace was deleted could not be removed.
#[tokio::test]
async fn a_failed_register_or_link_changes_nothing_and_a_vanished_workspace_does_not_block_removal()
{
    let app = app().await;
    app.plugin("notes", None).await;
    let ws = app.workspace("cy");
    // A directory where the file should be: it can be neither read nor replaced.
    std::fs::create_dir_all(std::path::Path::new(&ws).join(".mcp.json")).expect("dir");
    let body = json!({"id": "cy", "name": "Cy", "workspaceDir": ws});
    let refused = app.call(Method::POST, "/api/agents", Some(body)).await;
    assert!(!refused.status.is_success(), "{}", refused.text);
    assert_eq!(app.host.store().get_agent("cy").await.expect("get"), None);

    // A registered agent whose file then breaks: the link fails and is not kept.
    let ws = app.workspace("dee");
    let body = json!({"id": "dee", "name": "Dee", "workspaceDir": ws});
    let created = app.call(Method::POST, "/api/agents", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let file = std::path::Path::new(&ws).join(".mcp.json");
    let _ = std::fs::remove_file(&file);
    std::fs::create_dir_all(&file).expect("dir");
    let link = app
        .call(Method::PUT, "/api/agents/dee/links/notes", None)
        .await;
    assert!(!link.status.is_success(), "{}", link.text);
    let links = app.host.store().links_of_agent("dee").await.expect("links");
    assert!(links.is_empty(), "{links:?}");

    // The workspace deleted: the agent can still be removed.
    std::fs::remove_dir_all(&ws).expect("rm");
    let removed = app.call(Method::DELETE, "/api/agents/dee", None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    assert_eq!(app.host.store().get_agent("dee").await.expect("get"), None);
}

/// Defect 12.3: uninstall deleted the store row first and stopped at the first agent it could
/// not rewrite, leaving `.mcp.json` entries no reconcile ever removed. Removal is now a desired
/// state whose cleanup finishes before the record goes, resumed by the next pass.
#[tokio::test]
async fn a_failed_uninstall_is_finished_by_the_next_reconcile() {
    let app = app().await;
    app.running_plugin("notes").await;
    let mut files = Vec::new();
    for id in ["b1", "b2"] {
        let ws = app.workspace(id);
        let body = json!({"id": id, "name": id, "workspaceDir": ws});
        let created = app.call(Method::POST, "/api/agents", Some(body)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let linked = app
            .call(Method::PUT, &format!("/api/agents/{id}/links/notes"), None)
            .await;
        assert_eq!(linked.status, StatusCode::NO_CONTENT, "{}", linked.text);
        files.push(std::path::Path::new(&ws).join(".mcp.json"));
    }
    // b2's file is replaced by something the host cannot rewrite.
    let kept = std::fs::read_to_string(&files[1]).expect("read");
    std::fs::remove_file(&files[1]).expect("rm");
    std::fs::create_dir_all(&files[1]).expect("dir");

    let failed = app.call(Method::DELETE, "/api/plugins/notes", None).await;
    assert!(!failed.status.is_success(), "{}", failed.text);
    // Nothing is lost: the plugin is still known, as being removed, and b2 still linked.
    let store = app.host.store();
    assert!(store.get_plugin("notes").await.expect("get").is_some());
    assert_eq!(store.removal("notes").await.expect("removal"), Some(false));
    assert_eq!(store.links_of_agent("b2").await.expect("links"), ["notes"]);
    // b1 was cleaned before the failure.
    let b1 = std::fs::read_to_string(&files[0]).expect("read");
    assert!(!b1.contains("nanofleet-plugin-notes"), "{b1}");
    assert!(store.links_of_agent("b1").await.expect("links").is_empty());
    // Nobody can link it meanwhile.
    let relink = app
        .call(Method::PUT, "/api/agents/b1/links/notes", None)
        .await;
    assert!(!relink.status.is_success(), "{}", relink.text);

    // The file is repaired; the next pass finishes the removal.
    std::fs::remove_dir(&files[1]).expect("rmdir");
    std::fs::write(&files[1], kept).expect("write");
    let report = app.host.reconcile().await.expect("reconcile");
    assert!(
        report
            .actions
            .contains(&nanofleet_host::host::Action::Removed("notes".into())),
        "{:?}",
        report.actions
    );
    assert!(store.get_plugin("notes").await.expect("get").is_none());
    let b2 = std::fs::read_to_string(&files[1]).expect("read");
    assert!(!b2.contains("nanofleet-plugin-notes"), "{b2}");
}

/// Defect 12.4: one agent's broken workspace stopped the reconcile pass for every agent after
/// it, on every pass.
#[tokio::test]
async fn one_broken_workspace_does_not_stop_reconcile_for_the_others() {
    let app = app().await;
    app.running_plugin("notes").await;
    let mut workspaces = Vec::new();
    for id in ["a1", "a2", "a3"] {
        let ws = app.workspace(id);
        let body = json!({"id": id, "name": id, "workspaceDir": ws});
        let created = app.call(Method::POST, "/api/agents", Some(body)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        app.host.store().link(id, "notes").await.expect("link");
        workspaces.push(ws);
    }
    // The first agent's file becomes a directory; the others' files are lost.
    let first = std::path::Path::new(&workspaces[0]).join(".mcp.json");
    let _ = std::fs::remove_file(&first);
    std::fs::create_dir_all(&first).expect("dir");
    for ws in &workspaces[1..] {
        let _ = std::fs::remove_file(std::path::Path::new(ws).join(".mcp.json"));
    }
    let report = app
        .host
        .reconcile()
        .await
        .expect("the pass itself completes");
    let failed: Vec<_> = report
        .actions
        .iter()
        .filter(|a| matches!(a, nanofleet_host::host::Action::AgentFailed { agent, .. } if agent == "a1"))
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", report.actions);
    for ws in &workspaces[1..] {
        let mcp = std::fs::read_to_string(std::path::Path::new(ws).join(".mcp.json"))
            .unwrap_or_else(|e| panic!("{ws}: {e}; {:?}", report.actions));
        assert!(mcp.contains("nanofleet-plugin-notes"), "{mcp}");
    }
}

#[tokio::test]
async fn keys_are_set_listed_by_name_and_removed() {
    let app = app().await;
    let secret = "sk-live-0123456789-very-secret";
    let set = app
        .call(
            Method::PUT,
            "/api/keys/OPENAI_API_KEY",
            Some(json!({"value": secret})),
        )
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.text);
    let list = app.call(Method::GET, "/api/keys", None).await;
    assert_eq!(list.json(), json!({"keys": ["OPENAI_API_KEY"]}));
    assert!(!list.text.contains(secret));

    let bad = app
        .call(
            Method::PUT,
            "/api/keys/not%20a%20name",
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert_eq!(bad.code(), "invalid_api_key_name");

    assert_eq!(
        app.call(Method::DELETE, "/api/keys/OPENAI_API_KEY", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let gone = app
        .call(Method::DELETE, "/api/keys/OPENAI_API_KEY", None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.code(), "key_not_found");
}

// ---------------------------------------------------------------------------------------------
// Caller mistakes are 4xx, with stable codes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_wrong_type_and_oversized_bodies_are_4xx() {
    let app = app().await;
    let raw = |content_type: Option<&str>, body: String| {
        let mut b = Request::post("/api/agents")
            .header(header::AUTHORIZATION, format!("Bearer {}", app.token));
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(Body::from(body)).expect("request")
    };
    let cases = [
        (
            Some("application/json"),
            "{".to_owned(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            None,
            "{}".to_owned(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Some("text/plain"),
            "{}".to_owned(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Some("application/json"),
            r#"{"id": 1}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            Some("application/json"),
            format!(r#"{{"id": "{}"}}"#, "x".repeat(100 * 1024)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let reply = app.send(raw(content_type, body)).await;
        assert_eq!(reply.status, status, "{content_type:?}: {}", reply.text);
        assert_eq!(reply.code(), code);
    }
    let install = app
        .call(Method::POST, "/api/plugins", Some(json!({})))
        .await;
    assert_eq!(install.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(install.code(), "invalid_body");
    let both = json!({"url": "http://x/m.json", "image": "x"});
    let install = app.call(Method::POST, "/api/plugins", Some(both)).await;
    assert_eq!(install.code(), "invalid_body");
    let bad_query = app
        .call(Method::GET, "/api/plugins/x/logs?tail=many", None)
        .await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_query.code(), "invalid_query");
    let unknown_route = app.call(Method::GET, "/api/nothing-here", None).await;
    assert_eq!(unknown_route.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown_route.code(), "route_not_found");
    let wrong_method = app.call(Method::PATCH, "/api/plugins", None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn unknown_plugins_are_404_everywhere() {
    let app = app().await;
    let install_body = json!({"manifest": {"name": "nope", "version": "0.1.0", "image": "x/y:1", "mcpPort": 8080}});
    for (method, uri, body) in [
        (Method::GET, "/api/plugins/nope", None),
        (Method::DELETE, "/api/plugins/nope", None),
        (Method::POST, "/api/plugins/nope/restart", None),
        (Method::POST, "/api/plugins/nope/enable", None),
        (Method::POST, "/api/plugins/nope/disable", None),
        (
            Method::POST,
            "/api/plugins/nope/upgrade",
            Some(install_body),
        ),
        (Method::GET, "/api/plugins/nope/logs", None),
        (Method::POST, "/api/plugins/nope/ui-session", None),
        (Method::GET, "/api/plugins/nope/ui/", None),
    ] {
        let reply = app.call(method.clone(), uri, body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {uri}: {}",
            reply.text
        );
        assert_eq!(reply.code(), "plugin_not_found", "{method} {uri}");
    }
}

#[tokio::test]
async fn an_invalid_manifest_is_422_with_every_diagnostic() {
    let app = app().await;
    let manifest = json!({"name": "Bad Name", "version": "x", "image": "", "mcpPort": 80});
    let reply = app
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({"manifest": manifest})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert_eq!(reply.code(), "invalid_manifest");
    let diagnostics = reply.json()["diagnostics"]
        .as_array()
        .cloned()
        .expect("diagnostics");
    let paths: Vec<String> = diagnostics
        .iter()
        .filter_map(|d| d["path"].as_str().map(str::to_owned))
        .collect();
    for field in ["name", "image", "mcpPort"] {
        assert!(paths.iter().any(|p| p == field), "{field} in {paths:?}");
    }
}

#[tokio::test]
async fn missing_api_keys_are_422_with_the_list() {
    let app = app().await;
    let manifest = Manifest::new("needy", "0.1.0", "acme/needy:1", 8080)
        .with_required_env_vars(["OPENAI_API_KEY", "OTHER_KEY"]);
    let reply = app
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({"manifest": manifest})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert_eq!(reply.code(), "missing_api_keys");
    assert_eq!(
        reply.json()["missing"],
        json!(["OPENAI_API_KEY", "OTHER_KEY"])
    );
}

#[tokio::test]
async fn replicas_are_refused_with_why_before_anything_runs() {
    let app = app().await;
    let stateful = Manifest::new("copies", "0.1.0", "acme/copies:1", 8080);
    let reply = app
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({"manifest": stateful, "replicas": 2})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("keeps no local state"),
        "{}",
        reply.text
    );

    // Without a data volume, the single engine still runs one copy and says what would.
    let reply = app
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({"manifest": stateful, "replicas": 2,
                        "overrides": {"filesystem": "none"}})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert!(reply.text.contains("--engine swarm"), "{}", reply.text);

    let reply = app
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({"manifest": stateful, "replicas": 0})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert!(reply.text.contains("out of range"), "{}", reply.text);
    let listed = app.call(Method::GET, "/api/plugins", None).await;
    assert_eq!(listed.json()["plugins"], json!([]), "nothing was recorded");
}

#[tokio::test]
async fn permissions_past_the_manifest_or_the_policy_are_403_before_anything_runs() {
    let app = app().await;
    let manifest = Manifest::new("asker", "0.1.0", "acme/asker:1", 8080);
    let wider = app
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({"manifest": manifest, "overrides": {"spawn": true, "network": true}})),
        )
        .await;
    assert_eq!(wider.status, StatusCode::FORBIDDEN, "{}", wider.text);
    assert_eq!(wider.code(), "permissions_widened");
    let message = wider.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("process.spawn") && message.contains("network unrestricted"),
        "{message}"
    );

    let unknown = app
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({"manifest": manifest, "overrides": {"swap": "1GiB"}})),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );

    let bad_policy = app
        .call(
            Method::PUT,
            "/api/policy",
            Some(json!({"maxMemory": "1MiB"})),
        )
        .await;
    assert_eq!(
        bad_policy.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad_policy.text
    );
    assert_eq!(bad_policy.code(), "invalid_policy");
    let policy =
        json!({"maxMemory": "64MiB", "forbidUnrestrictedNetwork": true, "forbidSpawn": false});
    let set = app
        .call(Method::PUT, "/api/policy", Some(policy.clone()))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(
        app.call(Method::GET, "/api/policy", None).await.json(),
        policy
    );

    // The default 256MiB is past a 64MiB maximum, even with nothing asked for.
    let refused = app
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({"manifest": manifest})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.code(), "refused_by_policy");
    let listed = app.call(Method::GET, "/api/plugins", None).await;
    assert_eq!(listed.json(), json!({"plugins": []}));

    let too_old = app
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({"manifest": manifest.clone().with_min_host_version(">=99")})),
        )
        .await;
    assert_eq!(
        too_old.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        too_old.text
    );
    assert_eq!(too_old.code(), "host_too_old");
}

#[tokio::test]
async fn an_unreachable_engine_is_503() {
    let app = app().await;
    let manifest = Manifest::new("lonely", "0.1.0", "acme/lonely:1", 8080);
    let reply = app
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({"manifest": manifest})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert_eq!(reply.code(), "engine_unavailable");
    assert!(
        app.host
            .store()
            .get_plugin("lonely")
            .await
            .expect("store")
            .is_none()
    );
}

#[tokio::test]
async fn image_installs_read_the_manifest_label() {
    let runtime = FakeRuntime {
        reachable: true,
        label: Some(r#"{"name": "Nope!"}"#.into()),
        ..FakeRuntime::default()
    };
    let app = app_with(runtime, |_| {}).await;
    let reply = app
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({"image": "acme/x:1"})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert_eq!(reply.code(), "invalid_manifest");

    let unlabelled = app_with(
        FakeRuntime {
            reachable: true,
            ..FakeRuntime::default()
        },
        |_| {},
    )
    .await;
    let reply = unlabelled
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({"image": "acme/x:1"})),
        )
        .await;
    assert_eq!(reply.code(), "no_manifest_label", "{}", reply.text);
}

/// An image reference the engine would refuse, or take for an option, is the client's
/// mistake (400 naming the rule), not an engine error (it was a 502 `engine_error`).
#[tokio::test]
async fn malformed_image_references_are_refused_before_the_engine() {
    let app = app_with(
        FakeRuntime {
            reachable: true,
            label: Some(r#"{"name": "x"}"#.into()),
            ..FakeRuntime::default()
        },
        |_| {},
    )
    .await;
    for image in [
        "--privileged",
        "acme/x:1\n",
        "acme/\u{7}x",
        "Acme/X:1",
        "acme/x:",
    ] {
        let reply = app
            .call(
                Method::POST,
                "/api/plugins",
                Some(json!({ "image": image })),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{image:?}: {}",
            reply.text
        );
        assert_eq!(reply.code(), "invalid_image", "{image:?}: {}", reply.text);
    }
}

/// Defect 10: NanoFleet installed any image from any manifest URL.
#[tokio::test]
async fn defect_10_the_image_policy_refuses_untrusted_images_before_pulling() {
    let runtime = FakeRuntime {
        reachable: true,
        ..FakeRuntime::default()
    };
    let app = app_with(runtime, |c| {
        c.image_policy = ImagePolicy::All(vec![
            ImagePolicy::AllowRepositories(vec!["ghcr.io/acme/".into()]),
            ImagePolicy::RequireDigest,
        ]);
    })
    .await;
    for image in ["evil.example/miner:latest", "ghcr.io/acme/kanban:1.0"] {
        let manifest = Manifest::new("kanban", "0.1.0", image, 8080);
        let reply = app
            .call(
                Method::POST,
                "/api/plugins",
                Some(json!({"manifest": manifest})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{image}: {}",
            reply.text
        );
        assert_eq!(reply.code(), "image_not_allowed");
        let by_image = app
            .call(
                Method::POST,
                "/api/plugins",
                Some(json!({"image": image, "pull": true})),
            )
            .await;
        assert_eq!(
            by_image.status,
            StatusCode::FORBIDDEN,
            "{image}: {}",
            by_image.text
        );
    }
    assert!(
        app.runtime.pulls.lock().expect("lock").is_empty(),
        "nothing pulled"
    );

    // Upgrades are held to the same policy.
    app.plugin("kanban", None).await;
    let manifest = Manifest::new("kanban", "0.2.0", "evil.example/miner:2", 8080);
    let reply = app
        .call(
            Method::POST,
            "/api/plugins/kanban/upgrade",
            Some(json!({"manifest": manifest})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);

    for url in [
        "file:///etc/passwd",
        "ftp://example.com/m.json",
        "gopher://x",
    ] {
        let reply = app
            .call(Method::POST, "/api/plugins", Some(json!({"url": url})))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(reply.code(), "unsupported_url");
    }
}

// ---------------------------------------------------------------------------------------------
// Internal callbacks and secrets
// ---------------------------------------------------------------------------------------------

/// Issue defect 7: a signature never expires, so the URL also names its link, and the link is
/// what unlinking, relinking and moving the agent to another workspace replace. The plugin
/// asks `/internal/agents/{id}` which link is current (the SDK's side is tested in the SDK).
#[tokio::test]
async fn unlinking_relinking_and_moving_replace_the_link_an_old_url_names() {
    let app = app().await;
    let token = app.plugin("alpha", None).await;
    // Running, not an install a crash interrupted (which reconcile would roll back).
    app.host
        .store()
        .set_status("alpha", nanofleet_host::store::Status::Running, None)
        .await
        .expect("status");
    app.agent("x").await;
    app.host.link("x", "alpha").await.expect("link");
    let url_of = |workspace: &str| -> Option<String> {
        let text = std::fs::read_to_string(Path::new(workspace).join(".mcp.json")).ok()?;
        let doc: Value = serde_json::from_str(&text).expect("json");
        doc["mcpServers"]["alpha"]["url"]
            .as_str()
            .map(str::to_owned)
    };
    let link_in = |url: &str| -> String {
        reqwest::Url::parse(url)
            .expect("url")
            .query_pairs()
            .find(|(k, _)| k == "agent_link")
            .map(|(_, v)| v.into_owned())
            .expect("the URL names its link")
    };
    let current = || async {
        let reply = app
            .call_as(
                Some(token.expose_secret()),
                Method::GET,
                "/internal/agents/x",
                None,
            )
            .await;
        (reply.status == StatusCode::OK)
            .then(|| reply.json()["link"].as_str().expect("link").to_owned())
    };
    let first_ws = app.workspace("x");
    let first = link_in(&url_of(&first_ws).expect("linked"));
    assert_eq!(first.len(), 32, "{first}");
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
    assert_eq!(current().await.as_deref(), Some(first.as_str()));

    // Writing the file again (a reconcile, a restart) keeps the link.
    app.host.reconcile().await.expect("reconcile");
    assert_eq!(link_in(&url_of(&first_ws).expect("linked")), first);

    // Unlinked: the host says so; linked again: another link.
    app.host.unlink("x", "alpha").await.expect("unlink");
    assert_eq!(current().await, None);
    app.host.link("x", "alpha").await.expect("link");
    let second = link_in(&url_of(&first_ws).expect("linked"));
    assert_ne!(second, first);
    assert_eq!(current().await.as_deref(), Some(second.as_str()));

    // Moved to another workspace: the old URL's link is replaced and the old file loses the
    // host's entry (keeping the user's own).
    let old_doc = Path::new(&first_ws).join(".mcp.json");
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&old_doc).expect("read")).expect("json");
    doc["mcpServers"]["mine"] = json!({"command": "my-own-server"});
    std::fs::write(&old_doc, doc.to_string()).expect("write");
    let moved_ws = app.workspace("x-moved");
    app.host
        .register_agent(AgentRecord::new("x", "x", &moved_ws))
        .await
        .expect("move");
    let third = link_in(&url_of(&moved_ws).expect("linked in the new workspace"));
    assert_ne!(third, second);
    assert_eq!(current().await.as_deref(), Some(third.as_str()));
    assert_eq!(
        url_of(&first_ws),
        None,
        "the old workspace keeps no URL of the host's"
    );
    let old: Value =
        serde_json::from_str(&std::fs::read_to_string(&old_doc).expect("read")).expect("json");
    assert_eq!(old["mcpServers"]["mine"]["command"], "my-own-server");
    // Registering again in the same place changes nothing.
    app.host
        .register_agent(AgentRecord::new("x", "x", &moved_ws))
        .await
        .expect("again");
    assert_eq!(current().await.as_deref(), Some(third.as_str()));
}

/// Defect 7: NanoFleet's internal tokens were unscoped (any plugin read every agent).
#[tokio::test]
async fn defect_7_internal_callbacks_are_authenticated_and_scoped() {
    let app = app().await;
    let token_a = app.plugin("alpha", None).await;
    let token_b = app.plugin("beta", None).await;
    app.agent("x").await;
    app.agent("y").await;
    app.host.link("x", "beta").await.expect("link");
    app.host.link("y", "alpha").await.expect("link");
    let a = token_a.expose_secret();
    let b = token_b.expose_secret();

    for token in [
        None,
        Some("not-a-plugin-token-at-all"),
        Some(app.token.as_str()),
    ] {
        let reply = app
            .call_as(token, Method::GET, "/internal/agents", None)
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(reply.headers.contains_key(header::WWW_AUTHENTICATE));
    }
    // A plugin token is not an admin token.
    let admin = app.call_as(Some(a), Method::GET, "/api/agents", None).await;
    assert_eq!(admin.status, StatusCode::UNAUTHORIZED);

    let link_y = app
        .host
        .store()
        .link_id("y", "alpha")
        .await
        .expect("store")
        .expect("linked");
    let link_x = app
        .host
        .store()
        .link_id("x", "beta")
        .await
        .expect("store")
        .expect("linked");
    let list = app
        .call_as(Some(a), Method::GET, "/internal/agents", None)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.json(),
        json!({"agents": [{"id": "y", "name": "y", "link": link_y}]})
    );
    let list_b = app
        .call_as(Some(b), Method::GET, "/internal/agents", None)
        .await;
    assert_eq!(
        list_b.json(),
        json!({"agents": [{"id": "x", "name": "x", "link": link_x}]})
    );

    let own = app
        .call_as(Some(a), Method::GET, "/internal/agents/y", None)
        .await;
    assert_eq!(own.json(), json!({"id": "y", "name": "y", "link": link_y}));
    for uri in ["/internal/agents/x", "/internal/agents/nobody"] {
        let reply = app.call_as(Some(a), Method::GET, uri, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(reply.code(), "agent_not_found");
    }
    let body = || Some(json!({"content": "hello"}));
    let foreign = app
        .call_as(Some(a), Method::POST, "/internal/agents/x/messages", body())
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let sent = app
        .call_as(Some(a), Method::POST, "/internal/agents/y/messages", body())
        .await;
    assert_eq!(sent.status, StatusCode::NO_CONTENT, "{}", sent.text);
    let too_big = json!({"content": "x".repeat(nanofleet_host::store::MAX_MESSAGE_BYTES + 1)});
    let reply = app
        .call_as(
            Some(a),
            Method::POST,
            "/internal/agents/y/messages",
            Some(too_big),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text
    );
    assert_eq!(reply.code(), "message_too_large");

    let x_messages = app
        .call(Method::GET, "/api/agents/x/messages", None)
        .await
        .json();
    assert_eq!(x_messages["messages"], json!([]));
    let y_messages = app
        .call(Method::GET, "/api/agents/y/messages", None)
        .await
        .json();
    assert_eq!(y_messages["messages"][0]["content"], "hello");
    assert_eq!(y_messages["messages"][0]["plugin"], "alpha");
    assert_eq!(y_messages["next"], serde_json::Value::Null);
    // Pages: `limit` bounds one, `next` leads to the following one.
    for n in 0..3 {
        let body = Some(json!({ "content": format!("more {n}") }));
        let sent = app
            .call_as(Some(a), Method::POST, "/internal/agents/y/messages", body)
            .await;
        assert_eq!(sent.status, StatusCode::NO_CONTENT, "{}", sent.text);
    }
    let first = app
        .call(Method::GET, "/api/agents/y/messages?limit=2", None)
        .await
        .json();
    assert_eq!(first["messages"].as_array().map(Vec::len), Some(2));
    let next = first["next"].as_i64().expect("a next page");
    let rest = app
        .call(
            Method::GET,
            &format!("/api/agents/y/messages?after={next}&limit=2"),
            None,
        )
        .await
        .json();
    assert_eq!(rest["messages"][0]["content"], "more 1", "{rest}");
    assert_eq!(rest["messages"][1]["content"], "more 2", "{rest}");
    assert_eq!(rest["next"], serde_json::Value::Null);
    let bad = app
        .call(Method::GET, "/api/agents/y/messages?limit=lots", None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    for reply in [&list, &list_b, &own] {
        assert!(
            !reply.text.contains(a) && !reply.text.contains(b),
            "{}",
            reply.text
        );
    }
}

/// Defect 7 (second half): NanoFleet returned internal tokens in plugin listings.
#[tokio::test]
async fn defect_7_no_listing_carries_a_token_or_key_value() {
    let app = app().await;
    let token_a = app.plugin("alpha", Some(8081)).await;
    let token_b = app.plugin("beta", None).await;
    app.agent("x").await;
    app.host.link("x", "alpha").await.expect("link");
    let key_value = "sk-do-not-leak-7f3a9c";
    app.host
        .store()
        .set_api_key("SOME_KEY", key_value)
        .await
        .expect("key");
    let secrets = [
        token_a.expose_secret().to_owned(),
        token_b.expose_secret().to_owned(),
        key_value.to_owned(),
        app.token.clone(),
    ];
    let mut replies = Vec::new();
    for uri in [
        "/api/plugins",
        "/api/plugins/alpha",
        "/api/plugins/beta",
        "/api/agents",
        "/api/keys",
        "/api/agents/x/messages",
        "/api/openapi.json",
    ] {
        let reply = app.call(Method::GET, uri, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        replies.push((uri, reply.text));
    }
    let internal = app
        .call_as(
            Some(token_a.expose_secret()),
            Method::GET,
            "/internal/agents",
            None,
        )
        .await;
    replies.push(("/internal/agents", internal.text));
    for (uri, text) in &replies {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{uri} leaks a secret: {text}"
            );
        }
    }
    let listed = app.call(Method::GET, "/api/plugins", None).await.json();
    assert_eq!(listed["plugins"].as_array().map(Vec::len), Some(2));
    assert_eq!(listed["plugins"][0]["uiPath"], "/api/plugins/alpha/ui/");
}

// ---------------------------------------------------------------------------------------------
// The UI proxy, against a stand-in plugin UI
// ---------------------------------------------------------------------------------------------

/// What the stand-in UI saw of the last request.
#[derive(Default, Clone)]
struct Seen {
    uri: String,
    headers: HeaderMap,
    body_len: usize,
}

/// A plugin UI on 127.0.0.1: `/echo` records the request; `/slow` sends a first chunk, then
/// waits for `release` before the rest; `/upload` counts the body as it streams in.
async fn stand_in_ui(seen: Arc<Mutex<Seen>>, release: Arc<tokio::sync::Notify>) -> SocketAddr {
    use axum::{extract::Request as AxumRequest, routing::any};
    let echo_seen = Arc::clone(&seen);
    let upload_seen = Arc::clone(&seen);
    let echo = move |req: AxumRequest| {
        let seen = Arc::clone(&echo_seen);
        async move {
            let mut s = seen.lock().expect("lock");
            s.uri = req.uri().to_string();
            s.headers = req.headers().clone();
            (
                [
                    (header::SET_COOKIE, "session=evil; Path=/"),
                    (header::CONNECTION, "x-private"),
                    (header::HeaderName::from_static("x-private"), "hop"),
                    (header::CONTENT_TYPE, "text/html"),
                ],
                "<p>plugin page</p>",
            )
        }
    };
    let app = Router::new()
        .route("/", any(echo.clone()))
        .route("/{*rest}", any(echo))
        .route(
            "/slow",
            any(move || {
                let release = Arc::clone(&release);
                async move {
                    let stream = futures::stream::once(async {
                        Ok::<_, std::io::Error>(Bytes::from("first,"))
                    })
                    .chain(futures::stream::once(async move {
                        release.notified().await;
                        Ok(Bytes::from("rest"))
                    }));
                    Body::from_stream(stream)
                }
            }),
        )
        .route(
            "/upload",
            any(move |req: AxumRequest| {
                let seen = Arc::clone(&upload_seen);
                async move {
                    let mut stream = req.into_body().into_data_stream();
                    let mut total = 0;
                    while let Some(Ok(chunk)) = stream.next().await {
                        total += chunk.len();
                    }
                    seen.lock().expect("lock").body_len = total;
                    total.to_string()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn running(plugin: &str, ui_port: u16, addr: SocketAddr) -> ContainerState {
    ContainerState {
        plugin: plugin.into(),
        id: "fake".into(),
        name: nanofleet_host::names::container_name(plugin),
        running: true,
        version: None,
        config_hash: None,
        published: BTreeMap::from([(ui_port, addr)]),
        ip: None,
        status: "running".into(),
        exit_code: None,
        instance: None,
    }
}

/// Defect 6: NanoFleet proxied `/ui/*` with no auth and a token the plugin could not verify.
#[tokio::test]
async fn defect_6_the_ui_proxy_wants_auth_and_hands_the_plugin_a_fresh_verifiable_token() {
    let app = app().await;
    let token = app.plugin("board", Some(8081)).await;
    let other = app.plugin("other", Some(8081)).await;
    app.plugin("headless", None).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let addr = stand_in_ui(Arc::clone(&seen), Arc::new(tokio::sync::Notify::new())).await;

    // Not running yet: 502 with a JSON body.
    let down = app.call(Method::GET, "/api/plugins/board/ui/", None).await;
    assert_eq!(down.status, StatusCode::BAD_GATEWAY, "{}", down.text);
    assert_eq!(down.code(), "plugin_unavailable");

    app.runtime.containers.lock().expect("lock").insert(
        nanofleet_host::names::container_name("board"),
        running("board", 8081, addr),
    );

    // No auth, a wrong token, a token of another plugin, an expired one: 401.
    let now = SystemTime::now();
    let foreign = mint_ui_token(&other, "other", None, Duration::from_secs(60), now);
    let expired = mint_ui_token(
        &token,
        "board",
        None,
        Duration::ZERO,
        now - Duration::from_secs(10),
    );
    for query in [
        String::new(),
        "?nf_token=forged".to_owned(),
        format!("?nf_token={foreign}"),
        format!("?nf_token={expired}"),
    ] {
        let uri = format!("/api/plugins/board/ui/echo{query}");
        let reply = app.call_as(None, Method::GET, &uri, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(reply.code(), "unauthorized");
    }
    assert!(
        seen.lock().expect("lock").uri.is_empty(),
        "nothing reached the plugin"
    );

    // A UI session from the dashboard works without the Bearer header, as an iframe would.
    let session = app
        .call(Method::POST, "/api/plugins/board/ui-session", None)
        .await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.text);
    let session = session.json();
    let url = session["url"].as_str().expect("url").to_owned();
    let session_token = session["token"].as_str().expect("token").to_owned();
    assert!(url.starts_with("/api/plugins/board/ui/?nf_token="), "{url}");
    let page = app.call_as(None, Method::GET, &url, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.text, "<p>plugin page</p>");

    // A relative request from the page, with cookies and credentials that must not pass.
    let request = Request::post(format!(
        "/api/plugins/board/ui/echo/a%2Fb?x=1&nf_token={session_token}&y=two%20words"
    ))
    .header(header::COOKIE, "dashboard=secret")
    .header("x-custom", "kept")
    .header(header::CONNECTION, "x-drop-me")
    .header("x-drop-me", "1")
    .header(header::CONTENT_TYPE, "application/json")
    .body(Body::from("{}"))
    .expect("request");
    let reply = app.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let s = seen.lock().expect("lock").clone();
    let upstream = reqwest::Url::parse(&format!("http://x{}", s.uri)).expect("uri");
    assert_eq!(upstream.path(), "/echo/a%2Fb");
    let pairs: Vec<(String, String)> = upstream.query_pairs().into_owned().collect();
    let tokens: Vec<&String> = pairs
        .iter()
        .filter(|(k, _)| k == "nf_token")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(tokens.len(), 1, "exactly one nf_token: {pairs:?}");
    assert_ne!(tokens[0], &session_token, "a fresh token, not the caller's");
    let claims = verify_ui_token(&token, "board", tokens[0], SystemTime::now())
        .expect("the plugin verifies the minted token");
    assert_eq!(claims.subject.as_deref(), Some("admin"));
    assert!(pairs.contains(&("x".into(), "1".into())));
    assert!(pairs.contains(&("y".into(), "two words".into())));
    for dropped in ["cookie", "authorization", "x-drop-me", "connection"] {
        assert!(!s.headers.contains_key(dropped), "{dropped} was forwarded");
    }
    assert_eq!(
        s.headers.get("x-custom").map(|v| v.as_bytes()),
        Some(&b"kept"[..])
    );

    // The response: no plugin cookie, no hop-by-hop header, the sandbox policy.
    assert!(!reply.headers.contains_key(header::SET_COOKIE));
    assert!(!reply.headers.contains_key("x-private"));
    let csp: Vec<&str> = reply
        .headers
        .get_all(header::CONTENT_SECURITY_POLICY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        csp.iter().any(|c| c.starts_with("sandbox allow-scripts")),
        "{csp:?}"
    );
    assert!(!csp.iter().any(|c| c.contains("allow-same-origin")));
    assert_eq!(
        reply
            .headers
            .get(header::REFERRER_POLICY)
            .map(|v| v.as_bytes()),
        Some(&b"no-referrer"[..])
    );

    // The Bearer header works too, and is not forwarded.
    let bearer = app
        .call(Method::GET, "/api/plugins/board/ui/echo", None)
        .await;
    assert_eq!(bearer.status, StatusCode::OK);
    assert!(
        !seen
            .lock()
            .expect("lock")
            .headers
            .contains_key("authorization")
    );

    // /ui redirects to /ui/ with the query; a plugin without a UI is 404.
    let redirect = app
        .call(Method::GET, "/api/plugins/board/ui?a=b", None)
        .await;
    assert_eq!(redirect.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        redirect.headers.get(header::LOCATION).map(|v| v.as_bytes()),
        Some(&b"/api/plugins/board/ui/?a=b"[..])
    );
    let headless = app
        .call(Method::GET, "/api/plugins/headless/ui/", None)
        .await;
    assert_eq!(headless.status, StatusCode::NOT_FOUND);
    assert_eq!(headless.code(), "no_ui");

    // CORS preflight from the sandboxed (opaque-origin) page.
    let preflight = app
        .send(
            Request::options("/api/plugins/board/ui/echo")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_ui_proxy_streams_both_ways() {
    let app = app().await;
    app.plugin("stream", Some(8081)).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let release = Arc::new(tokio::sync::Notify::new());
    let addr = stand_in_ui(Arc::clone(&seen), Arc::clone(&release)).await;
    app.runtime.containers.lock().expect("lock").insert(
        nanofleet_host::names::container_name("stream"),
        running("stream", 8081, addr),
    );

    // The first chunk arrives while the plugin has not finished its response.
    let response = app
        .router
        .clone()
        .oneshot(
            Request::get("/api/plugins/stream/ui/slow")
                .header(header::AUTHORIZATION, format!("Bearer {}", app.token))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    let first = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .expect("first chunk before the upstream finished")
        .expect("a chunk")
        .expect("ok");
    assert_eq!(&first[..], b"first,");
    release.notify_one();
    let rest = body.next().await.expect("rest").expect("ok");
    assert_eq!(&rest[..], b"rest");

    // A request body 4x over max_body_bytes streams through to the plugin.
    let size = 4 * 64 * 1024 + 17;
    let chunks = futures::stream::iter((0..size / 4096 + 1).map(move |i| {
        Ok::<_, std::io::Error>(Bytes::from(vec![
            b'a';
            if i < size / 4096 {
                4096
            } else {
                size % 4096
            }
        ]))
    }));
    let reply = app
        .send(
            Request::post("/api/plugins/stream/ui/upload")
                .header(header::AUTHORIZATION, format!("Bearer {}", app.token))
                .body(Body::from_stream(chunks))
                .expect("request"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.text, size.to_string());
    assert_eq!(seen.lock().expect("lock").body_len, size);
}

// ---------------------------------------------------------------------------------------------
// OpenAPI
// ---------------------------------------------------------------------------------------------

/// Every route of the brief, as `METHOD path`: the document must list each, and the router
/// must serve each route the document lists.
const EXPECTED_ROUTES: &[&str] = &[
    "GET /healthz",
    "GET /api/openapi.json",
    "GET /api/plugins",
    "POST /api/plugins",
    "GET /api/plugins/{name}",
    "DELETE /api/plugins/{name}",
    "POST /api/plugins/{name}/restart",
    "POST /api/plugins/{name}/upgrade",
    "POST /api/plugins/{name}/enable",
    "POST /api/plugins/{name}/disable",
    "GET /api/plugins/{name}/logs",
    "POST /api/plugins/{name}/ui-session",
    "GET /api/plugins/{name}/ui",
    "GET /api/plugins/{name}/ui/{path}",
    "POST /api/plugins/{name}/ui/{path}",
    "GET /api/agents",
    "POST /api/agents",
    "GET /api/agents/{id}",
    "DELETE /api/agents/{id}",
    "PUT /api/agents/{id}/links/{plugin}",
    "DELETE /api/agents/{id}/links/{plugin}",
    "GET /api/agents/{id}/messages",
    "PUT /api/keys/{name}",
    "GET /api/keys",
    "DELETE /api/keys/{name}",
    "GET /api/policy",
    "PUT /api/policy",
    "GET /internal/agents",
    "GET /internal/agents/{id}",
    "POST /internal/agents/{id}/messages",
];

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_the_router_serves_each() {
    let app = app().await;
    let reply = app
        .call_as(None, Method::GET, "/api/openapi.json", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in ["get", "head", "post", "put", "patch", "delete", "options"] {
            if item.get(method).is_some() {
                documented.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    for route in EXPECTED_ROUTES {
        assert!(
            documented.iter().any(|d| d == route),
            "{route} is not documented"
        );
    }
    assert_eq!(
        api::openapi().paths.paths.len(),
        paths.len(),
        "one document"
    );

    // Each documented route is served: never the router's fallback nor 405.
    app.plugin("p", Some(8081)).await;
    for route in &documented {
        let (method, path) = route.split_once(' ').expect("route");
        let uri = path
            .replace("{name}", "p")
            .replace("{plugin}", "p")
            .replace("{id}", "a")
            .replace("{path}", "x");
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let reply = app.call(method, &uri, None).await;
        assert_ne!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{route}");
        if reply.status == StatusCode::NOT_FOUND {
            assert_ne!(
                reply.code(),
                "route_not_found",
                "{route} is documented but not served"
            );
            assert!(
                !reply.text.is_empty() || route.starts_with("HEAD"),
                "{route}: empty 404"
            );
        }
    }
}

/// Scoped tokens: shown once, kept hashed, refused what their scope does not cover (the
/// refusal names the scope missing), unable to manage tokens, dead once revoked; and every
/// mutating call, refused ones included, in the audit log once.
#[tokio::test]
async fn scoped_tokens_are_enforced_and_every_mutating_call_is_audited() {
    let app = app().await;
    let mut mutating = 0;
    let mut created = Vec::new();
    for (name, scope) in [("reader", "read"), ("ops", "operate")] {
        let reply = app
            .call(
                Method::POST,
                "/api/tokens",
                Some(json!({"name": name, "scope": scope})),
            )
            .await;
        mutating += 1;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let body = reply.json();
        assert_eq!(body["scope"], scope);
        let token = body["token"].as_str().expect("token").to_owned();
        assert!(token.starts_with("nft_") && token.len() > 40, "{token}");
        created.push(token);
    }
    let (reader, ops) = (created[0].clone(), created[1].clone());
    let taken = app
        .call(
            Method::POST,
            "/api/tokens",
            Some(json!({"name": "ops", "scope": "read"})),
        )
        .await;
    mutating += 1;
    assert_eq!(taken.code(), "invalid_token", "{}", taken.text);

    let listed = app
        .call_as(Some(&reader), Method::GET, "/api/plugins", None)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let refused = app
        .call_as(
            Some(&reader),
            Method::PUT,
            "/api/keys/SOME_KEY",
            Some(json!({"value": "v"})),
        )
        .await;
    mutating += 1;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.code(), "insufficient_scope");
    assert!(
        refused.text.contains("scope `read`") && refused.text.contains("needs scope `operate`"),
        "{}",
        refused.text
    );
    assert!(
        app.host
            .store()
            .api_key_names()
            .await
            .expect("names")
            .is_empty(),
        "nothing was set"
    );

    let set = app
        .call_as(
            Some(&ops),
            Method::PUT,
            "/api/keys/SOME_KEY",
            Some(json!({"value": "v"})),
        )
        .await;
    mutating += 1;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.text);
    let minted = app
        .call_as(
            Some(&ops),
            Method::POST,
            "/api/tokens",
            Some(json!({"name": "more", "scope": "operate"})),
        )
        .await;
    mutating += 1;
    assert_eq!(minted.status, StatusCode::FORBIDDEN, "{}", minted.text);
    assert_eq!(minted.code(), "operator_only");

    // Listings never carry a token's value; the store keeps only hashes.
    let tokens = app.call(Method::GET, "/api/tokens", None).await;
    assert_eq!(tokens.status, StatusCode::OK);
    let listed_tokens = tokens.json();
    let names: Vec<&str> = listed_tokens["tokens"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["ops", "reader"]);
    let audit = app.call(Method::GET, "/api/audit?limit=100", None).await;
    for text in [&tokens.text, &audit.text, &listed.text] {
        assert!(!text.contains(&reader) && !text.contains(&ops), "{text}");
    }

    let entries = audit.json()["entries"].as_array().expect("entries").clone();
    assert_eq!(entries.len(), mutating, "{entries:?}");
    let seen: Vec<(String, String, u64)> = entries
        .iter()
        .rev()
        .map(|e| {
            (
                e["who"].as_str().unwrap_or_default().to_owned(),
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let expected = [
        ("admin", "POST /api/tokens", 201),
        ("admin", "POST /api/tokens", 201),
        ("admin", "POST /api/tokens", 422),
        ("token:reader", "PUT /api/keys/SOME_KEY", 403),
        ("token:ops", "PUT /api/keys/SOME_KEY", 204),
        ("token:ops", "POST /api/tokens", 403),
    ]
    .map(|(w, a, s)| (w.to_owned(), a.to_owned(), s));
    assert_eq!(seen, expected);

    let revoked = app.call(Method::DELETE, "/api/tokens/reader", None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    let dead = app
        .call_as(Some(&reader), Method::GET, "/api/plugins", None)
        .await;
    assert_eq!(dead.status, StatusCode::UNAUTHORIZED, "{}", dead.text);
    let again = app.call(Method::DELETE, "/api/tokens/reader", None).await;
    assert_eq!(again.code(), "token_not_found");
}

/// One JSON-RPC call to the fleet's MCP server at `/mcp`, as `token`.
async fn mcp(app: &App, token: Option<&str>, method: &str, params: Value) -> Reply {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri("/mcp")
        .header(header::HOST, "localhost")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    app.send(builder.body(Body::from(body.to_string())).expect("request"))
        .await
}

async fn mcp_tool(app: &App, token: &str, tool: &str, arguments: Value) -> Value {
    let reply = mcp(
        app,
        Some(token),
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{tool}: {}", reply.text);
    reply.json()["result"].clone()
}

/// The fleet as an MCP server: authenticated like the API, tools annotated exactly, read
/// tokens refused the tools that change anything (naming the scope), errors naming what
/// exists, every change audited, and no token or key value in any answer.
#[tokio::test]
async fn the_fleet_answers_mcp_with_scoped_and_audited_tools() {
    let app = app().await;
    let messages = Arc::new(StoreMessages::new(app.host.store().clone()));
    if let Err(e) = nanofleet_host::api::mcp::plugin(app.host.clone(), Default::default(), messages)
    {
        panic!("the fleet's MCP server does not build: {e}");
    }
    let mut tokens = Vec::new();
    for (name, scope) in [("reader", "read"), ("ops", "operate")] {
        let reply = app
            .call(
                Method::POST,
                "/api/tokens",
                Some(json!({"name": name, "scope": scope})),
            )
            .await;
        tokens.push(reply.json()["token"].as_str().expect("token").to_owned());
    }
    let (reader, ops) = (tokens[0].clone(), tokens[1].clone());

    let anonymous = mcp(&app, None, "tools/list", json!({})).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.text
    );

    let listed = mcp(&app, Some(&reader), "tools/list", json!({})).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let tools = listed.json()["result"]["tools"].clone();
    let tool = |name: &str| {
        tools
            .as_array()
            .and_then(|all| all.iter().find(|t| t["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no tool {name}: {tools}"))
    };
    for name in [
        "list_plugins",
        "inspect_plugin",
        "plugin_logs",
        "plugin_config",
        "list_agents",
        "agent_client_config",
        "list_api_keys",
        "host_status",
    ] {
        assert_eq!(tool(name)["annotations"]["readOnlyHint"], true, "{name}");
        assert!(tool(name)["outputSchema"].is_object(), "{name}");
    }
    for name in [
        "uninstall_plugin",
        "remove_agent",
        "unlink_agent",
        "disable_plugin",
    ] {
        assert_eq!(tool(name)["annotations"]["destructiveHint"], true, "{name}");
    }
    assert_eq!(
        tool("restart_plugin")["annotations"]["idempotentHint"],
        true
    );
    assert_ne!(tool("install_plugin")["annotations"]["readOnlyHint"], true);

    let templates = mcp(&app, Some(&reader), "resources/templates/list", json!({})).await;
    let uris: Vec<String> = templates.json()["result"]["resourceTemplates"]
        .as_array()
        .expect("templates")
        .iter()
        .filter_map(|t| t["uriTemplate"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        uris,
        [
            "nanofleet://plugins/{name}/manifest",
            "nanofleet://plugins/{name}/tools",
            "nanofleet://agents/{agent}/client-config"
        ]
    );
    let neither = mcp_tool(
        &app,
        &ops,
        "install_plugin",
        json!({"url": "ftp://example.com/manifest.json"}),
    )
    .await;
    assert_eq!(neither["isError"], true, "{neither}");
    let unknown = mcp(
        &app,
        Some(&reader),
        "resources/read",
        json!({"uri": "nanofleet://plugins/nope/manifest"}),
    )
    .await;
    assert_eq!(unknown.json()["error"]["code"], -32002, "{}", unknown.text);

    let plugins = mcp_tool(&app, &reader, "list_plugins", json!({})).await;
    assert_eq!(
        plugins["structuredContent"],
        json!({"plugins": []}),
        "{plugins}"
    );

    let refused = mcp_tool(
        &app,
        &reader,
        "set_api_key",
        json!({"name": "FLEET_KEY", "value": "fleet-key-value-123"}),
    )
    .await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("tool `set_api_key` needs scope `operate`"),
        "{refused}"
    );
    let set = mcp_tool(
        &app,
        &ops,
        "set_api_key",
        json!({"name": "FLEET_KEY", "value": "fleet-key-value-123"}),
    )
    .await;
    assert_ne!(set["isError"], true, "{set}");
    let keys = mcp_tool(&app, &reader, "list_api_keys", json!({})).await;
    assert_eq!(
        keys["structuredContent"]["keys"],
        json!(["FLEET_KEY"]),
        "{keys}"
    );

    // A destructive tool on something that does not exist says what does.
    let missing = mcp_tool(&app, &ops, "uninstall_plugin", json!({"name": "nope"})).await;
    assert_eq!(missing["isError"], true, "{missing}");
    assert!(
        missing
            .to_string()
            .contains("no plugin `nope` is installed; none is"),
        "{missing}"
    );
    let workspace = app.dir.path().join("ws-ada");
    std::fs::create_dir_all(&workspace).expect("workspace");
    let registered = mcp_tool(
        &app,
        &ops,
        "register_agent",
        json!({"id": "ada", "workspace": workspace, "client": "nanobot"}),
    )
    .await;
    assert_ne!(registered["isError"], true, "{registered}");
    let gone = mcp_tool(&app, &ops, "remove_agent", json!({"agent": "bob"})).await;
    assert!(
        gone.to_string()
            .contains("no agent `bob` is registered; registered: ada"),
        "{gone}"
    );
    let agents = mcp_tool(&app, &reader, "list_agents", json!({})).await;
    assert_eq!(
        agents["structuredContent"]["agents"][0]["client"],
        "nanobot"
    );
    for text in ["first task", "second task", "third task"] {
        let sent = mcp_tool(
            &app,
            &ops,
            "send_agent_message",
            json!({"agent": "ada", "text": text}),
        )
        .await;
        assert_ne!(sent["isError"], true, "{sent}");
    }
    let page = mcp_tool(
        &app,
        &reader,
        "agent_message_history",
        json!({"agent": "ada", "limit": 2}),
    )
    .await;
    let first = page["structuredContent"].clone();
    assert_eq!(first["messages"][0]["text"], "first task", "{first}");
    assert_eq!(first["messages"][1]["from"], "nanofleet-host", "{first}");
    let rest = mcp_tool(
        &app,
        &reader,
        "agent_message_history",
        json!({"agent": "ada", "after": first["next"]}),
    )
    .await;
    assert_eq!(
        rest["structuredContent"]["messages"][0]["text"],
        "third task"
    );
    assert_eq!(rest["structuredContent"]["next"], Value::Null);

    // Every call of a tool that changes anything is in the audit log, once, with its outcome.
    let audit = app.call(Method::GET, "/api/audit?limit=100", None).await;
    let actions: Vec<(String, String, u64)> = audit.json()["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .rev()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("MCP ")))
        .map(|e| {
            (
                e["who"].as_str().unwrap_or_default().to_owned(),
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let expected = [
        ("token:ops", "MCP install_plugin", 422),
        ("token:reader", "MCP set_api_key", 403),
        ("token:ops", "MCP set_api_key", 200),
        ("token:ops", "MCP uninstall_plugin", 422),
        ("token:ops", "MCP register_agent", 200),
        ("token:ops", "MCP remove_agent", 422),
        ("token:ops", "MCP send_agent_message", 200),
        ("token:ops", "MCP send_agent_message", 200),
        ("token:ops", "MCP send_agent_message", 200),
    ]
    .map(|(w, a, s)| (w.to_owned(), a.to_owned(), s));
    assert_eq!(actions, expected);

    for text in [
        &listed.text,
        &audit.text,
        &keys.to_string(),
        &agents.to_string(),
    ] {
        for secret in [&reader, &ops, "fleet-key-value-123"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
