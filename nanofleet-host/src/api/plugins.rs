//! `/api/plugins`: install, list, inspect, remove, restart, upgrade, enable, disable, logs, and
//! the UI session the dashboard frames a plugin's UI with.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::{
    Extension, Json,
    body::{Body, Bytes},
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt as _;
use nanofleet_sdk::identity::{UI_TOKEN_PARAM, mint_ui_token};
use nanofleet_sdk::manifest::{Manifest, Network, Overrides, Permissions};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiState,
    auth::Principal,
    error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody},
    trust::check_manifest_url,
};
use crate::{
    Host, HostError, InstallOptions,
    discovery::{self, Source},
    labels,
    runtime::{ContainerState, LogOptions},
    store::{Desired, PluginRecord, Status},
};

/// The default and largest number of log lines one request returns before following.
const DEFAULT_TAIL: usize = 100;
const MAX_TAIL: usize = 10_000;

/// What to install (or upgrade to): exactly one of `manifest`, `url` or `image`.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstallRequest {
    /// The manifest itself (`manifest.json` as JSON).
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<serde_json::Value>,
    /// An `http://` or `https://` URL serving the manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// An image whose `com.nanofleet.manifest` label holds the manifest; the image run is
    /// this reference, whatever the label's `image` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Grant unrestricted network whatever the manifest declares (recorded as a widening).
    /// Default `false`.
    #[serde(default)]
    pub egress: bool,
    /// Pull the image when it is not on this machine. Default `false`.
    #[serde(default)]
    pub pull: bool,
    /// Changes to the manifest's permissions for this install: `network`, `filesystem`,
    /// `spawn`, `memory`, `cpus`, `pids`. On an upgrade, the fields given replace the earlier
    /// overrides.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub overrides: Overrides,
    /// Allow the grant to exceed what the manifest declares (or, on an upgrade, what the
    /// plugin held). Default `false`: such an install is refused with the list of widenings.
    #[serde(default)]
    pub allow_more: bool,
    /// Values for the plugin's settings (its manifest's `config`), by key; a string is read as
    /// the setting's text form when the setting is not a string. An install missing a
    /// required one is refused with the list (`missing_config`). On an upgrade, values set
    /// before are kept unless given here.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: nanofleet_sdk::manifest::config::ConfigValues,
    /// How many copies of the plugin run behind its name: default 1, on an upgrade as
    /// before. More than one needs a plugin without a data volume (`filesystem: none`) and a
    /// host on Swarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

// By hand: configuration values may be secrets, so only their keys are shown.
impl std::fmt::Debug for InstallRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallRequest")
            .field("url", &self.url)
            .field("image", &self.image)
            .field("has_manifest", &self.manifest.is_some())
            .field("egress", &self.egress)
            .field("pull", &self.pull)
            .field("overrides", &self.overrides)
            .field("allow_more", &self.allow_more)
            .field("config_keys", &self.config.keys().collect::<Vec<_>>())
            .field("replicas", &self.replicas)
            .finish()
    }
}

/// An installed plugin as the API shows it. Built field by field from the store's record:
/// no token, API key value or other secret can travel with it. The command line prints the
/// same type in both its modes (`--server` or not).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    /// The plugin's name, its id on the host.
    pub name: String,
    /// The manifest it was installed from.
    #[schema(value_type = Object)]
    pub manifest: Manifest,
    /// What the user wants: `running` or `stopped`.
    #[schema(value_type = String)]
    pub desired: Desired,
    /// What the host last observed: `installing`, `running`, `stopped`, `error`, `upgrading`.
    #[schema(value_type = String)]
    pub status: Status,
    /// Why the status is what it is.
    pub status_message: Option<String>,
    /// The MCP tools the plugin lists, as `tools/list` returned them.
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<serde_json::Value>,
    /// Whether the plugin may reach anywhere (its granted network is `true`).
    pub egress: bool,
    /// The permissions the plugin runs with: its manifest's, with the operator's overrides.
    #[schema(value_type = Object)]
    pub permissions: Permissions,
    /// The operator's overrides of the manifest's permissions.
    #[schema(value_type = Object)]
    pub overrides: Overrides,
    /// The widenings past the manifest the operator accepted (`allowMore`), one sentence each.
    pub allowed_more: Vec<String>,
    /// Whether the plugin refuses unsigned agent ids.
    pub require_signature: bool,
    /// How many copies of it run behind its name.
    pub replicas: u32,
    /// Where the dashboard frames the plugin's UI, when it has one: call
    /// `POST /api/plugins/{name}/ui-session` for a URL to load.
    pub ui_path: Option<String>,
    /// When it was installed (Unix seconds).
    pub created_at: i64,
    /// When its record last changed (Unix seconds).
    pub updated_at: i64,
    /// The agents linked to it, by id.
    #[serde(default)]
    pub linked_agents: Vec<String>,
    /// Its container as the engine reports it; `null` when the engine could not be asked.
    #[serde(default)]
    pub container: Option<ContainerInfo>,
}

/// A plugin's container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInfo {
    /// The container's name (`nanofleet-plugin-<name>`).
    pub name: String,
    /// Whether it runs now.
    pub running: bool,
    /// The engine's state word (`running`, `exited`, `restarting`, …), or `missing` when the
    /// engine has no container for the plugin: the reconciler creates it again.
    pub state: String,
}

impl ContainerInfo {
    fn of(state: Option<ContainerState>, name: String) -> Self {
        match state {
            Some(c) => Self {
                name: c.name,
                running: c.running,
                state: c.status,
            },
            None => Self {
                name,
                running: false,
                state: "missing".to_owned(),
            },
        }
    }
}

impl PluginInfo {
    /// The record alone: no links, no container.
    fn from_record(record: PluginRecord) -> Self {
        let ui_path = record
            .manifest
            .ui_port
            .map(|_| format!("/api/plugins/{}/ui/", record.name));
        let permissions = record.permissions();
        Self {
            egress: permissions.network == Network::Unrestricted,
            permissions,
            overrides: record.overrides,
            allowed_more: record.allowed_more,
            name: record.name,
            manifest: record.manifest,
            desired: record.desired,
            status: record.status,
            status_message: record.status_message,
            tools: record.tools,
            require_signature: record.require_signature,
            replicas: record.replicas,
            ui_path,
            created_at: record.created_at,
            updated_at: record.updated_at,
            linked_agents: Vec::new(),
            container: None,
        }
    }

    /// `record` with its links and, when the engine answers, its container.
    pub async fn of(host: &Host, record: PluginRecord) -> Result<Self, HostError> {
        let container_name = host.config().instance.container_name(&record.name);
        let container = host
            .runtime()
            .inspect(&container_name)
            .await
            .ok()
            .map(|state| ContainerInfo::of(state, container_name));
        // This plugin's links alone (an index search), not every link of the fleet.
        let linked_agents = host.store().agents_of_plugin(&record.name).await?;
        Ok(Self {
            linked_agents,
            container,
            ..Self::from_record(record)
        })
    }

    /// Every installed plugin, by name, with its links and, when the engine answers, its
    /// container: one store query for each and one engine call for all.
    pub async fn list(host: &Host) -> Result<Vec<Self>, HostError> {
        let plugins = host.store().list_plugins().await?;
        let mut links: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for link in host.store().list_links().await? {
            links.entry(link.plugin).or_default().push(link.agent_id);
        }
        let instance = &host.config().instance;
        // An engine that does not answer leaves every container unknown, not missing.
        let mut containers: Option<BTreeMap<String, ContainerState>> =
            host.runtime().list_managed().await.ok().map(|all| {
                all.into_iter()
                    .filter(|c| {
                        instance.owns(c.instance.as_deref())
                            && c.name == instance.container_name(&c.plugin)
                    })
                    .map(|c| (c.plugin.clone(), c))
                    .collect()
            });
        Ok(plugins
            .into_iter()
            .map(|record| {
                let container = containers.as_mut().map(|all| {
                    ContainerInfo::of(
                        all.remove(&record.name),
                        instance.container_name(&record.name),
                    )
                });
                Self {
                    linked_agents: links.remove(&record.name).unwrap_or_default(),
                    container,
                    ..Self::from_record(record)
                }
            })
            .collect())
    }
}

/// `{"plugins": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PluginList {
    /// Every installed plugin, by name.
    pub plugins: Vec<PluginInfo>,
}

/// Options of `DELETE /api/plugins/{name}`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UninstallQuery {
    /// Also remove the plugin's data volume. Default `false`.
    #[serde(default)]
    pub purge: bool,
}

/// Options of `GET /api/plugins/{name}/logs`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// How many of the last lines to send (default 100, at most 10000).
    pub tail: Option<usize>,
    /// Keep the response open and send new lines until the container stops.
    #[serde(default)]
    pub follow: bool,
    /// Only lines written at or after this time, in Unix seconds.
    pub since: Option<i64>,
    /// Start each line with the engine's RFC 3339 timestamp of it and a space.
    #[serde(default)]
    pub timestamps: bool,
}

/// A URL the dashboard loads in a sandboxed iframe to show a plugin's UI.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UiSession {
    /// The URL to load, relative to the host: `/api/plugins/{name}/ui/?nf_token=...`.
    pub url: String,
    /// The UI token alone, for clients that build URLs themselves.
    pub token: String,
    /// When the token stops working (Unix seconds); ask for a new session before.
    pub expires_at: u64,
}

/// The plugin's manifest, from whichever form the request used.
async fn resolve_manifest(
    state: &ApiState,
    request: &InstallRequest,
) -> Result<Manifest, ApiError> {
    let forms = [
        request.manifest.is_some(),
        request.url.is_some(),
        request.image.is_some(),
    ];
    if forms.iter().filter(|set| **set).count() != 1 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "give exactly one of `manifest`, `url` or `image`",
        ));
    }
    if let Some(value) = &request.manifest {
        return Manifest::parse_value(value)
            .into_result()
            .map(|(m, _warnings)| m)
            .map_err(ApiError::invalid_manifest);
    }
    if let Some(url) = &request.url {
        check_manifest_url(url)?;
        let report =
            discovery::discover(&[Source::Url(url.clone())], state.host.runtime().as_ref()).await;
        let candidate = report.candidates.into_iter().next().ok_or_else(|| {
            ApiError::internal("discovery returned nothing", &"no candidate for a URL")
        })?;
        return match candidate.manifest {
            Some(m) if !candidate.diagnostics.has_errors() => Ok(m),
            _ => Err(ApiError::invalid_manifest(candidate.diagnostics)),
        };
    }
    let image = request.image.as_deref().unwrap_or_default();
    if image.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "`image` is empty",
        ));
    }
    // A reference the engine would reject (or read as an option: `--privileged`) is the
    // client's mistake, said as such, not an engine error.
    if let Err(violation) = nanofleet_contracts::image::parse_image_ref(image) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_image",
            format!("`image`: {violation}"),
        ));
    }
    // Checked before anything is pulled: a refused image never reaches this machine.
    state.config.image_policy.enforce(image)?;
    let runtime = state.host.runtime();
    if request.pull && !runtime.image_exists(image).await? {
        let progress = |line: String| tracing::info!(image, "{line}");
        runtime.pull(image, &progress).await?;
    }
    let Some(text) = runtime.image_label(image, labels::IMAGE_MANIFEST).await? else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_manifest_label",
            format!(
                "image `{image}` has no {} label; send the manifest itself instead",
                labels::IMAGE_MANIFEST
            ),
        ));
    };
    let mut manifest = Manifest::parse_json(&text)
        .into_result()
        .map(|(m, _)| m)
        .map_err(ApiError::invalid_manifest)?;
    manifest.image = image.to_owned();
    Ok(manifest)
}

impl InstallRequest {
    /// The host's options for this request: everything but the manifest's source.
    pub fn options(&self) -> InstallOptions {
        InstallOptions {
            egress: self.egress,
            pull: self.pull,
            overrides: self.overrides.clone(),
            allow_more: self.allow_more,
            config: self.config.clone(),
            replicas: self.replicas,
        }
    }
}

/// Installs a plugin and waits until it lists its tools.
#[utoipa::path(
    post, path = "/api/plugins", tag = "plugins",
    request_body = InstallRequest,
    responses(
        (status = 201, description = "installed and running", body = PluginInfo),
        (status = 400, description = "malformed JSON or URL", body = ErrorBody),
        (status = 403, description = "image refused by the host's image policy, permissions wider than the manifest without allowMore (`permissions_widened`), or past the operator's policy (`refused_by_policy`)", body = ErrorBody),
        (status = 409, description = "already installed", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 422, description = "invalid manifest (with diagnostics), missing API keys or required settings (with the list), or settings that do not fit", body = ErrorBody),
        (status = 503, description = "container engine unreachable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn install(
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<InstallRequest>,
) -> Result<(StatusCode, Json<PluginInfo>), ApiError> {
    let manifest = resolve_manifest(&state, &request).await?;
    state.config.image_policy.enforce(&manifest.image)?;
    let record = state.host.install(manifest, request.options()).await?;
    Ok((
        StatusCode::CREATED,
        Json(PluginInfo::of(&state.host, record).await?),
    ))
}

/// Lists the installed plugins.
#[utoipa::path(
    get, path = "/api/plugins", tag = "plugins",
    responses((status = 200, body = PluginList), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Json<PluginList>, ApiError> {
    Ok(Json(PluginList {
        plugins: PluginInfo::list(&state.host).await?,
    }))
}

/// One installed plugin.
#[utoipa::path(
    get, path = "/api/plugins/{name}", tag = "plugins",
    params(("name" = String, Path, description = "plugin name")),
    responses((status = 200, body = PluginInfo), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PluginInfo>, ApiError> {
    let record = state.host.plugin(&name).await?;
    Ok(Json(PluginInfo::of(&state.host, record).await?))
}

/// Uninstalls a plugin; `?purge=true` also removes its data.
#[utoipa::path(
    delete, path = "/api/plugins/{name}", tag = "plugins",
    params(("name" = String, Path, description = "plugin name"), UninstallQuery),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn uninstall(
    State(state): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<UninstallQuery>,
) -> Result<StatusCode, ApiError> {
    state.host.uninstall(&name, query.purge).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restarts a plugin, whatever state its container is in.
#[utoipa::path(
    post, path = "/api/plugins/{name}/restart", tag = "plugins",
    params(("name" = String, Path, description = "plugin name")),
    responses((status = 200, body = PluginInfo), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn restart(
    State(state): State<ApiState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PluginInfo>, ApiError> {
    let record = state.host.restart(&name).await?;
    Ok(Json(PluginInfo::of(&state.host, record).await?))
}

/// Upgrades a plugin (same body forms as install); the old version serves until the new one
/// is ready.
#[utoipa::path(
    post, path = "/api/plugins/{name}/upgrade", tag = "plugins",
    params(("name" = String, Path, description = "plugin name")),
    request_body = InstallRequest,
    responses(
        (status = 200, body = PluginInfo),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn upgrade(
    State(state): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<InstallRequest>,
) -> Result<Json<PluginInfo>, ApiError> {
    // 404 before fetching anything for a plugin that is not there.
    state.host.plugin(&name).await?;
    let manifest = resolve_manifest(&state, &request).await?;
    if manifest.name != name {
        return Err(crate::HostError::NameMismatch {
            installed: name,
            given: manifest.name,
        }
        .into());
    }
    state.config.image_policy.enforce(&manifest.image)?;
    let record = state.host.upgrade(manifest, request.options()).await?;
    Ok(Json(PluginInfo::of(&state.host, record).await?))
}

/// Starts a plugin and keeps it running across host restarts.
#[utoipa::path(
    post, path = "/api/plugins/{name}/enable", tag = "plugins",
    params(("name" = String, Path, description = "plugin name")),
    responses((status = 200, body = PluginInfo), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn enable(
    State(state): State<ApiState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PluginInfo>, ApiError> {
    let record = state.host.set_enabled(&name, true).await?;
    Ok(Json(PluginInfo::of(&state.host, record).await?))
}

/// Stops a plugin and keeps it stopped; its links stay.
#[utoipa::path(
    post, path = "/api/plugins/{name}/disable", tag = "plugins",
    params(("name" = String, Path, description = "plugin name")),
    responses((status = 200, body = PluginInfo), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn disable(
    State(state): State<ApiState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PluginInfo>, ApiError> {
    let record = state.host.set_enabled(&name, false).await?;
    Ok(Json(PluginInfo::of(&state.host, record).await?))
}

/// The plugin container's output as `text/plain` lines; with `follow=true` the response
/// stays open until the container stops or the client goes away.
#[utoipa::path(
    get, path = "/api/plugins/{name}/logs", tag = "plugins",
    params(("name" = String, Path, description = "plugin name"), LogsQuery),
    responses(
        (status = 200, description = "log lines", content_type = "text/plain", body = String),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn logs(
    State(state): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> Result<Response, ApiError> {
    state.host.plugin(&name).await?;
    let options = LogOptions {
        tail: query.tail.unwrap_or(DEFAULT_TAIL).min(MAX_TAIL),
        since: query.since,
        timestamps: query.timestamps,
    };
    let container = state.host.config().instance.container_name(&name);
    let runtime = state.host.runtime();
    let body = if query.follow {
        let lines = runtime.follow_logs(&container, options).await?;
        // Dropping the body (client gone) drops the stream, which ends the engine request.
        Body::from_stream(lines.map(|line| match line {
            Ok(line) => Ok(Bytes::from(with_newline(line))),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }))
    } else {
        let lines = runtime.logs(&container, options).await?;
        Body::from(lines.into_iter().map(with_newline).collect::<String>())
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

fn with_newline(mut line: String) -> String {
    if !line.ends_with('\n') {
        line.push('\n');
    }
    line
}

/// A short-lived URL for the dashboard's sandboxed iframe (see the UI proxy's docs): the URL
/// carries a UI token for this plugin, which the proxy accepts instead of the host's auth.
#[utoipa::path(
    post, path = "/api/plugins/{name}/ui-session", tag = "plugins",
    params(("name" = String, Path, description = "plugin name")),
    responses(
        (status = 200, body = UiSession),
        (status = 404, description = "unknown plugin, or a plugin without a UI", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn ui_session(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<UiSession>, ApiError> {
    let (_, token) = super::proxy::ui_plugin(&state, &name).await?;
    let now = SystemTime::now();
    let ttl = state.config.ui_token_ttl;
    let minted = mint_ui_token(&token, &name, Some(&principal.subject), ttl, now);
    let expires_at = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
        + ttl.as_secs()
        + u64::from(ttl.subsec_nanos() > 0);
    Ok(Json(UiSession {
        url: format!("/api/plugins/{name}/ui/?{UI_TOKEN_PARAM}={minted}"),
        token: minted,
        expires_at,
    }))
}
