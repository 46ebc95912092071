//! `nanofleet dev`: the edit–run loop for a plugin author.
//!
//! Builds the crate (a fast release profile), installs it on the local engine in development
//! mode (ports published on loopback), registers and links a development agent, and prints the
//! MCP client configuration to paste into a client. Then, until Ctrl-C, it rebuilds when a
//! source file changes and upgrades the plugin in place (the old version serves until the new
//! one lists its tools; a build that fails leaves the old one running). At the end it removes
//! everything it created: the plugin, its data volume, the agent, its own store and images.
//!
//! The URL printed stays the same across upgrades: it points at a small proxy this command
//! runs on loopback, which forwards to whatever port the current container was published on.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::TryStreamExt as _;
use nanofleet_build::{
    CargoOutput, PluginBuild, PluginImage, Profile, ToolChanges,
    cargo::locate,
    image::{remove_tag, tag_image},
};
use nanofleet_contracts::{ImageRef, manifest::Manifest};
use nanofleet_host::{Host, HostConfig, InstallOptions, store::AgentRecord};
use serde_json::{Value, json};

use crate::{
    cli::DevArgs,
    cmd::build::{cargo_build, engine, report},
    context::Context,
    error::CliError,
    output::{self, clean, note},
};

/// What a development session created, so that it can remove exactly that.
struct Session {
    host: Host,
    plugin: String,
    agent: String,
    data_dir: PathBuf,
    images: Vec<String>,
}

/// The loopback address the current container's MCP port is published on.
type Upstream = Arc<RwLock<Option<SocketAddr>>>;

/// Runs the loop (or, with `--once`, one build and install).
pub async fn run(ctx: &Context, args: &DevArgs) -> Result<u8, CliError> {
    let docker = engine().await?;
    let mut cargo = cargo_build(&args.krate).profile(Profile::Dev);
    cargo.output = CargoOutput::Inherit;
    let krate = tokio::task::spawn_blocking({
        let cargo = cargo.clone();
        move || locate(&cargo)
    })
    .await
    .map_err(|e| CliError::new(e.to_string()))??;

    // A store and an instance of its own: a development session never touches the plugins
    // of the host this machine runs, and removing it removes only what it made.
    let mut config: HostConfig = ctx.config().clone();
    config.data_dir = ctx.config().data_dir.join("dev").join(&krate.package);
    config.publish_loopback = true;
    config.require_signatures = true;
    if config.instance.is_default() {
        config.instance = dev_instance(&krate.package);
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        CliError::new(format!(
            "cannot create {}: {e}",
            clean(&config.data_dir.display().to_string())
        ))
    })?;
    let host = Host::open(
        config.clone(),
        Arc::new(nanofleet_host::runtime::DockerRuntime::connect()?),
    )
    .await?;

    let started = Instant::now();
    let first = build(&docker, &cargo, 1).await?;
    report(&first.0, started);
    let mut session = Session {
        host: host.clone(),
        plugin: first.1.name.clone(),
        agent: args.agent.clone(),
        data_dir: config.data_dir.clone(),
        images: vec![first.1.image.clone()],
    };
    let outcome = serve(
        &mut session,
        args,
        &docker,
        &cargo,
        &krate.package_dir,
        first,
    )
    .await;
    if args.once && outcome.is_ok() {
        note(format!(
            "left running (--once); remove it with: nanofleet --data-dir {} --instance {} rm --purge {}",
            clean(&config.data_dir.display().to_string()),
            clean(config.instance.name()),
            clean(&session.plugin)
        ));
        return outcome;
    }
    note("removing what this session created…");
    let cleaned = cleanup(&session, &docker).await;
    match (outcome, cleaned) {
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
        (Ok(code), Ok(())) => {
            note("done");
            Ok(code)
        }
    }
}

/// Builds and tags the image for development generation `generation`; returns the image and
/// the manifest to install, which names that generation's own tag (so an upgrade always
/// starts the new binary).
async fn build(
    docker: &nanofleet_host::runtime::DockerRuntime,
    cargo: &nanofleet_build::CargoBuild,
    generation: u32,
) -> Result<(PluginImage, Manifest), CliError> {
    let mut image =
        super::build::build_with_progress(docker, &PluginBuild::new(cargo.clone())).await?;
    let reference = ImageRef::parse(&image.tag).map_err(|v| CliError::new(v.to_string()))?;
    let tag = reference.with_tag(&format!("dev-{generation}"));
    tag_image(docker, image.id.as_str(), &tag).await?;
    image.tags.push(tag.clone());
    let mut manifest = image.manifest.clone();
    manifest.image = tag;
    Ok((image, manifest))
}

async fn serve(
    session: &mut Session,
    args: &DevArgs,
    docker: &nanofleet_host::runtime::DockerRuntime,
    cargo: &nanofleet_build::CargoBuild,
    package_dir: &Path,
    (image, manifest): (PluginImage, Manifest),
) -> Result<u8, CliError> {
    let host = session.host.clone();
    if host.store().get_plugin(&manifest.name).await?.is_some() {
        // Left by a session that was killed: start from nothing.
        host.uninstall(&manifest.name, true).await?;
    }
    note(format!("installing {} …", clean(&manifest.image)));
    host.install(manifest.clone(), InstallOptions::default())
        .await?;
    let workspace = session.data_dir.join("agents").join(&session.agent);
    std::fs::create_dir_all(&workspace)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", workspace.display())))?;
    host.register_agent(AgentRecord::new(
        &session.agent,
        "development agent",
        &workspace,
    ))
    .await?;
    host.link(&session.agent, &manifest.name).await?;

    let upstream: Upstream = Arc::new(RwLock::new(None));
    let query = refresh_upstream(&workspace, &manifest.name, &upstream)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| CliError::new(format!("cannot listen on 127.0.0.1: {e}")))?;
    let proxy_addr = listener
        .local_addr()
        .map_err(|e| CliError::new(e.to_string()))?;
    let url = format!("http://{proxy_addr}/mcp?{query}");
    let proxy = tokio::spawn(run_proxy(listener, Arc::clone(&upstream)));

    let config = json!({ "mcpServers": { manifest.name.clone(): { "type": "http", "url": url } } });
    output::line(format!(
        "ready: plugin `{}` with {} for agent `{}`",
        manifest.name,
        output::plural(image.tools.len(), "tool", "tools"),
        session.agent
    ))?;
    output::line(format!("url: {url}"))?;
    output::line("client config (.mcp.json):")?;
    output::json(&config)?;
    if args.once {
        proxy.abort();
        return Ok(0);
    }
    note("watching for changes; Ctrl-C stops and removes everything");

    let mut tools = image.tools;
    let mut seen = snapshot(package_dir);
    let mut generation = 1;
    let interval = Duration::from_millis(args.poll_ms);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            () = tokio::time::sleep(interval) => {}
        }
        let now = snapshot(package_dir);
        if now == seen {
            continue;
        }
        seen = now;
        generation += 1;
        note(format!(
            "change detected: rebuilding (generation {generation})"
        ));
        let started = Instant::now();
        let rebuilt = tokio::select! {
            _ = &mut stop => break,
            rebuilt = build(docker, cargo, generation) => rebuilt,
        };
        let (image, manifest) = match rebuilt {
            Ok(built) => built,
            Err(e) => {
                note(format!(
                    "error: {}; the previous version keeps running",
                    e.message
                ));
                continue;
            }
        };
        report(&image, started);
        session.images.push(manifest.image.clone());
        let changes = ToolChanges::between(&tools, &image.tools);
        match host
            .upgrade(manifest.clone(), InstallOptions::default())
            .await
        {
            Ok(_) => {
                refresh_upstream(&workspace, &manifest.name, &upstream)?;
                tools = image.tools;
                output::line(format!("upgraded: generation {generation}, {}", changes))?;
                // Older generations' tags serve nobody now.
                let current = manifest.image.clone();
                for old in session.images.iter().filter(|t| **t != current) {
                    untag(docker, old).await;
                }
                session.images.retain(|t| *t == current);
            }
            Err(e) => note(format!(
                "error: the new version did not start, the previous one keeps running: {}",
                CliError::from(e).message
            )),
        }
    }
    proxy.abort();
    Ok(0)
}

/// Reads the URL the host wrote into the agent's `.mcp.json`, points the proxy at its
/// address, and returns its query (agent id and signature), which stays the same.
fn refresh_upstream(
    workspace: &Path,
    plugin: &str,
    upstream: &Upstream,
) -> Result<String, CliError> {
    let path = workspace.join(nanofleet_host::linking::MCP_JSON);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))?;
    let document: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::new(format!("{} is not JSON: {e}", path.display())))?;
    let url = document["mcpServers"][plugin]["url"]
        .as_str()
        .ok_or_else(|| CliError::new(format!("{} has no URL for {plugin}", path.display())))?;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| CliError::new(format!("unexpected plugin URL {url}")))?;
    let (authority, path_query) = rest.split_once('/').unwrap_or((rest, ""));
    let addr: SocketAddr = authority
        .parse()
        .map_err(|_| CliError::new(format!("the plugin URL {url} is not a loopback address")))?;
    let query = path_query.split_once('?').map_or("", |(_, q)| q).to_owned();
    if let Ok(mut slot) = upstream.write() {
        *slot = Some(addr);
    }
    Ok(query)
}

/// The modification times of the package's sources (everything under the package directory
/// but `target/` and hidden directories).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || (current == dir && name == "target") {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if let Ok(modified) = meta.modified() {
                files.insert(entry.path(), modified);
            }
        }
    }
    files
}

/// Forwards every request to the current container, streaming the response (SSE included).
async fn run_proxy(listener: tokio::net::TcpListener, upstream: Upstream) {
    // Not `Client::new()`, which panics where the system has no CA certificates.
    let client = match nanofleet_sdk::http::client_builder().no_proxy().build() {
        Ok(client) => client,
        Err(e) => {
            crate::output::note(format!("warning: the dev proxy cannot start: {e}"));
            return;
        }
    };
    let app = Router::new()
        .fallback(forward)
        .with_state((client, upstream));
    let _ = axum::serve(listener, app).await;
}

async fn forward(
    State((client, upstream)): State<(reqwest::Client, Upstream)>,
    request: Request,
) -> Response {
    let target = upstream.read().ok().and_then(|slot| *slot);
    let Some(addr) = target else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the plugin is starting").into_response();
    };
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 8 * 1024 * 1024).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name.as_str()) && name != header::HOST {
            headers.append(name.clone(), value.clone());
        }
    }
    let sent = client
        .request(parts.method, format!("http://{addr}{path}"))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let upstream_response = match sent {
        Ok(response) => response,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("the plugin did not answer: {e}"),
            )
                .into_response();
        }
    };
    let mut response = Response::builder().status(upstream_response.status());
    for (name, value) in upstream_response.headers() {
        if !is_hop_by_hop(name.as_str()) {
            response = response.header(name, value);
        }
    }
    let stream = upstream_response
        .bytes_stream()
        .map_err(std::io::Error::other);
    response
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
    )
}

async fn untag(docker: &nanofleet_host::runtime::DockerRuntime, tag: &str) {
    if let Err(e) = remove_tag(docker, tag).await {
        note(format!("warning: {e}"));
    }
}

/// Removes the plugin (and its data), the agent, the session's store and its image tags.
async fn cleanup(
    session: &Session,
    docker: &nanofleet_host::runtime::DockerRuntime,
) -> Result<(), CliError> {
    let mut problems = Vec::new();
    if let Err(e) = session.host.uninstall(&session.plugin, true).await
        && !matches!(e, nanofleet_host::HostError::NotInstalled(_))
    {
        problems.push(CliError::from(e).message);
    }
    if let Err(e) = session.host.remove_agent(&session.agent).await
        && !matches!(e, nanofleet_host::HostError::UnknownAgent(_))
    {
        problems.push(CliError::from(e).message);
    }
    for tag in &session.images {
        untag(docker, tag).await;
    }
    if let Err(e) = std::fs::remove_dir_all(&session.data_dir) {
        problems.push(format!("cannot remove {}: {e}", session.data_dir.display()));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(format!(
            "some of what the session created could not be removed: {}",
            problems.join("; ")
        )))
    }
}

/// The instance a development session of `package` runs under: `dev-<package>`, made a valid
/// instance name (a crate may be called `My_Plugin`; an instance name is a DNS label).
fn dev_instance(package: &str) -> nanofleet_host::names::Instance {
    let mut name: String = format!("dev-{package}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(nanofleet_host::names::MAX_INSTANCE_LEN);
    let name = name.trim_end_matches('-');
    nanofleet_host::names::Instance::new(name).unwrap_or_else(|_| {
        nanofleet_host::names::Instance::new("dev").expect("`dev` is an instance name")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_name_becomes_an_instance_name() {
        assert_eq!(dev_instance("notes").name(), "dev-notes");
        assert_eq!(dev_instance("My_Plugin").name(), "dev-my-plugin");
        let long = dev_instance(&"x".repeat(80));
        assert_eq!(long.name().len(), nanofleet_host::names::MAX_INSTANCE_LEN);
        assert_eq!(dev_instance("a_").name(), "dev-a");
    }

    #[test]
    fn snapshots_see_edits_and_ignore_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("src")).expect("src");
        std::fs::create_dir_all(dir.path().join("target/debug")).expect("target");
        std::fs::write(dir.path().join("src/lib.rs"), "a").expect("write");
        let before = snapshot(dir.path());
        std::fs::write(dir.path().join("target/debug/x"), "b").expect("write");
        assert_eq!(snapshot(dir.path()), before, "target/ is not a source");
        std::fs::write(dir.path().join("src/new.rs"), "c").expect("write");
        assert_ne!(snapshot(dir.path()), before);
    }

    #[test]
    fn the_upstream_comes_from_the_written_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(".mcp.json"),
            r#"{"mcpServers":{"p":{"url":"http://127.0.0.1:4321/mcp?agent_id=dev&agent_sig=s"}}}"#,
        )
        .expect("write");
        let upstream: Upstream = Arc::new(RwLock::new(None));
        let query = refresh_upstream(dir.path(), "p", &upstream).expect("read");
        assert_eq!(query, "agent_id=dev&agent_sig=s");
        assert_eq!(
            *upstream.read().expect("lock"),
            Some("127.0.0.1:4321".parse().expect("addr"))
        );
        assert!(refresh_upstream(dir.path(), "other", &upstream).is_err());
    }
}
