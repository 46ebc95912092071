//! A plugin: its [`Manifest`], its tools and optional state and UI, assembled once at start-up
//! by [`PluginBuilder`], and the rmcp [`ServerHandler`] that serves them.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

// Logging is deprecated from protocol 2026-07-28 (SEP-2577); older clients still set levels.
#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams,
        CompleteRequestParams, CompleteResult, CreateTaskResult, GetPromptRequestParams,
        GetPromptResponse, GetPromptResult, GetTaskParams, GetTaskResult, Implementation,
        InputRequiredResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
        ListToolsResult, PaginatedRequestParams, PromptsCapability, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, Reference, ResourceContents, ResourcesCapability,
        ServerCapabilities, ServerConfig, SubscribeRequestParams, TASKS_EXTENSION_ID,
        Tool as McpTool, UnsubscribeRequestParams, UpdateTaskParams,
    },
    service::RequestContext,
};

#[cfg(feature = "host-api")]
use crate::api::NanoApi;
#[cfg(feature = "store")]
use crate::store::{Store, StoreError};
#[cfg(feature = "ui")]
use crate::ui::Ui;
use crate::{
    agent::AgentId,
    ask::InputRound,
    completion::{self, Completion},
    config::{AnyConfig, ConfigType},
    env::PluginEnv,
    error::{BuildProblem, Error},
    logging::{Client, LogLevels},
    manifest::{Manifest, rules},
    paging::page,
    prompt::{Prompt, PromptFailure, Prompts},
    requirements::{Requirements, StateType},
    resource::{ReadFailure, Resource, ResourceTemplate, Resources},
    server::SessionRoute,
    subscription::Subscriptions,
    task::Tasks,
    tool::{ErasedHandler, Tool, ToolCall, is_valid_input_schema},
};

/// The default data directory inside a NanoFleet plugin container (a named volume).
pub const DEFAULT_DATA_DIR: &str = "/data";

/// How long asking the host about an agent's link may hold a request up.
#[cfg(feature = "host-api")]
const LINK_LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A plugin ready to serve: built by [`Plugin::builder`], run by [`crate::serve`] or driven
/// in-process by [`crate::testing::TestClient`].
#[derive(Clone)]
pub struct Plugin {
    pub(crate) def: Arc<Definition>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.def.manifest.name)
            .field("tools", &self.def.tools.len())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Definition {
    pub(crate) manifest: Manifest,
    pub(crate) tools: Vec<McpTool>,
    pub(crate) handlers: HashMap<String, ErasedHandler>,
    pub(crate) resources: Resources,
    pub(crate) prompts: Prompts,
    pub(crate) state: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    #[cfg(feature = "ui")]
    pub(crate) ui: Option<Ui>,
    pub(crate) instructions: Option<String>,
    #[cfg(feature = "store")]
    pub(crate) uses_store: bool,
    #[cfg(feature = "host-api")]
    pub(crate) requires_host_api: bool,
    /// The tools whose calls may run as tasks.
    pub(crate) task_tools: std::collections::HashSet<String>,
    /// The state types handlers take, with who takes them: checked at start.
    pub(crate) required_states: Vec<(String, StateType)>,
    /// The plugin's configuration type, read from the environment at start.
    pub(crate) config: Option<ConfigType>,
    /// The tools whose structured results are wrapped as `{"result": ...}`.
    #[cfg(feature = "testing")]
    pub(crate) wrapped_outputs: std::collections::HashSet<String>,
}

/// State values that take the place of the plugin's own, by type.
pub(crate) type StateMap = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

/// The store a plugin starts with instead of the one in its data directory, if any.
#[derive(Default)]
pub(crate) struct Stores(#[cfg(feature = "store")] pub(crate) Option<Store>);

impl Plugin {
    /// Starts declaring a plugin described by `manifest`.
    pub fn builder(manifest: Manifest) -> PluginBuilder {
        PluginBuilder {
            manifest,
            tools: Vec::new(),
            resources: Vec::new(),
            resource_templates: Vec::new(),
            prompts: Vec::new(),
            state: HashMap::new(),
            #[cfg(feature = "ui")]
            ui: None,
            instructions: None,
            #[cfg(feature = "store")]
            uses_store: false,
            #[cfg(feature = "host-api")]
            requires_host_api: false,
            config: None,
            config_problems: Vec::new(),
        }
    }

    /// The plugin's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.def.manifest
    }

    /// The tools as `tools/list` reports them.
    pub fn tools(&self) -> &[McpTool] {
        &self.def.tools
    }

    /// Whether a tool uses the per-agent store (so the plugin needs a data directory).
    pub fn uses_store(&self) -> bool {
        #[cfg(feature = "store")]
        {
            self.def.uses_store
        }
        #[cfg(not(feature = "store"))]
        {
            false
        }
    }

    /// Binds the plugin to its environment: what `serve` does before listening, and what tests
    /// do to run a plugin in-process.
    pub fn start(&self, env: PluginEnv) -> Result<Arc<Running>, Error> {
        Running::new(
            Arc::clone(&self.def),
            env,
            Stores::default(),
            StateMap::new(),
            None,
        )
    }

    /// Like [`Plugin::start`], for a process that serves one agent (stdio, see
    /// [`crate::stdio`]): every request is for `agent`, unless its `_meta` names another, which
    /// is refused.
    pub fn start_as(&self, env: PluginEnv, agent: AgentId) -> Result<Arc<Running>, Error> {
        Running::new(
            Arc::clone(&self.def),
            env,
            Stores::default(),
            StateMap::new(),
            Some(agent),
        )
    }

    /// Like [`Plugin::start`], with `store` in place of the one in the data directory (tests,
    /// applications that manage storage themselves).
    #[cfg(feature = "store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "store")))]
    pub fn start_with_store(&self, env: PluginEnv, store: Store) -> Result<Arc<Running>, Error> {
        Running::new(
            Arc::clone(&self.def),
            env,
            Stores(Some(store)),
            StateMap::new(),
            None,
        )
    }

    /// Like [`Plugin::start`], with `state` values taking the place of the plugin's own of the
    /// same types (the test client's).
    #[cfg(feature = "testing")]
    pub(crate) fn start_with_state(
        &self,
        env: PluginEnv,
        store: Stores,
        state: StateMap,
    ) -> Result<Arc<Running>, Error> {
        Running::new(Arc::clone(&self.def), env, store, state, None)
    }
}

/// Declares a plugin. Tools are registered here, once; nothing is rebuilt per request.
#[must_use]
pub struct PluginBuilder {
    manifest: Manifest,
    tools: Vec<Tool>,
    resources: Vec<Resource>,
    resource_templates: Vec<ResourceTemplate>,
    prompts: Vec<Prompt>,
    state: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    #[cfg(feature = "ui")]
    ui: Option<Ui>,
    instructions: Option<String>,
    #[cfg(feature = "store")]
    uses_store: bool,
    #[cfg(feature = "host-api")]
    requires_host_api: bool,
    config: Option<ConfigType>,
    /// Why the configuration type cannot declare settings, if it cannot.
    config_problems: Vec<String>,
}

impl PluginBuilder {
    /// Adds a tool.
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Adds a resource at a fixed URI (`resources/list`, `resources/read`).
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resources.push(resource);
        self
    }

    /// Adds a resource template (`resources/templates/list`; `resources/read` of a matching
    /// URI).
    pub fn resource_template(mut self, template: ResourceTemplate) -> Self {
        self.resource_templates.push(template);
        self
    }

    /// Adds a prompt (`prompts/list`, `prompts/get`).
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompts.push(prompt);
        self
    }

    /// Adds shared state, reachable from handlers as [`State<T>`](crate::tool::State).
    /// One value per type.
    pub fn state<T: Send + Sync + 'static>(mut self, state: T) -> Self {
        self.state.insert(TypeId::of::<T>(), Arc::new(state));
        self
    }

    /// Declares the plugin's typed configuration: the settings of `T` go into the manifest's
    /// `config` section, the values are read from the environment when the plugin starts, and
    /// tools take them as [`Config<T>`](crate::config::Config). See [`crate::config`].
    pub fn config<T>(mut self) -> Self
    where
        T: schemars::JsonSchema + serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        match crate::config::schema_of::<T>() {
            Ok(schema) => self.manifest.config = schema,
            Err(problems) => self.config_problems = problems,
        }
        self.config = Some(ConfigType::of::<T>());
        self
    }

    /// Serves a web UI on the manifest's `uiPort`; see [`crate::ui`].
    #[cfg(feature = "ui")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ui")))]
    pub fn ui(mut self, ui: Ui) -> Self {
        self.ui = Some(ui);
        self
    }

    /// Instructions for the model, sent in the `initialize` result. Defaults to the manifest's
    /// description.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.instructions = Some(text.into());
        self
    }

    /// Declares that tools use the per-agent store, so it is opened (and its directory checked)
    /// at start-up rather than on the first call.
    #[cfg(feature = "store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "store")))]
    pub fn uses_store(mut self) -> Self {
        self.uses_store = true;
        self
    }

    /// Declares that tools call the host's API ([`NanoApi`]), so `NANO_API_URL` and
    /// `NANO_INTERNAL_TOKEN` are checked at start-up, with an error naming what is missing,
    /// rather than at the first call.
    #[cfg(feature = "host-api")]
    #[cfg_attr(docsrs, doc(cfg(feature = "host-api")))]
    pub fn requires_host_api(mut self) -> Self {
        self.requires_host_api = true;
        self
    }

    /// Checks the manifest and every tool, reporting all problems at once.
    pub fn build(self) -> Result<Plugin, Error> {
        // What the handlers' types need (`FromToolCall::requirements`), with who needs it.
        let needs: Vec<(String, &Requirements)> = self
            .tools
            .iter()
            .map(|t| (format!("tool `{}`", t.name), &t.requirements))
            .chain(
                self.resources
                    .iter()
                    .map(|r| (format!("resource `{}`", r.uri), &r.requirements)),
            )
            .chain(self.resource_templates.iter().map(|r| {
                (
                    format!("resource template `{}`", r.template.source),
                    &r.requirements,
                )
            }))
            .chain(
                self.prompts
                    .iter()
                    .map(|p| (format!("prompt `{}`", p.name), &p.requirements)),
            )
            .collect();
        let mut all = Requirements::default();
        let mut required_states = Vec::new();
        let mut config_problems: Vec<BuildProblem> = self
            .config_problems
            .iter()
            .map(|p| BuildProblem::new(p.clone()))
            .collect();
        for (who, needs) in &needs {
            all.extend(needs);
            required_states.extend(needs.states.iter().map(|s| (who.clone(), s.clone())));
            for wanted in &needs.configs {
                if self.config.as_ref().map(|c| c.id) != Some(wanted.id) {
                    config_problems.push(BuildProblem::new(match &self.config {
                        Some(declared) => format!(
                            "{who} takes `Config<{}>`, but the plugin's configuration is `{}`",
                            wanted.name, declared.name
                        ),
                        None => format!(
                            "{who} takes `Config<{}>`, but the plugin declares no                              configuration: add `config = {}` to `#[plugin(...)]` (or call                              `PluginBuilder::config`)",
                            wanted.name,
                            wanted.name.rsplit("::").next().unwrap_or(wanted.name)
                        ),
                    }));
                }
            }
        }
        drop(needs);
        #[cfg(feature = "store")]
        let uses_store = self.uses_store || all.store;
        #[cfg(feature = "host-api")]
        let requires_host_api = self.requires_host_api || all.host_api;
        let mut problems: Vec<BuildProblem> = self
            .manifest
            .validate()
            .errors()
            .map(|d| BuildProblem::new(format!("manifest {d}")))
            .collect();
        problems.append(&mut config_problems);
        let mut handlers = HashMap::new();
        let mut task_tools = std::collections::HashSet::new();
        #[cfg(feature = "testing")]
        let mut wrapped_outputs = std::collections::HashSet::new();
        let mut tools = Vec::with_capacity(self.tools.len());
        let mut apps: Vec<(String, String)> = Vec::new();
        for tool in self.tools {
            if let Err(v) = rules::check_tool_name(&tool.name) {
                problems.push(BuildProblem::new(format!(
                    "tool `{}`: {}",
                    tool.name, v.message
                )));
            }
            if tool.description.trim().is_empty() {
                problems.push(BuildProblem::new(format!(
                    "tool `{}` has no description: the model chooses tools by it",
                    tool.name
                )));
            }
            let Some(handler) = tool.handler.clone() else {
                problems.push(BuildProblem::new(format!(
                    "tool `{}` has no handler",
                    tool.name
                )));
                continue;
            };
            let input = tool.input_schema.clone().unwrap_or_default();
            if !is_valid_input_schema(&input) {
                problems.push(BuildProblem::new(format!(
                    "tool `{}`: the input schema must describe an object (MCP passes arguments \
                     by name); use a struct for the arguments",
                    tool.name
                )));
            }
            if handlers.insert(tool.name.to_string(), handler).is_some() {
                problems.push(BuildProblem::new(format!(
                    "tool `{}` is declared twice",
                    tool.name
                )));
                continue;
            }
            #[cfg(feature = "testing")]
            if tool.wrap_output {
                wrapped_outputs.insert(tool.name.to_string());
            }
            if tool.task {
                task_tools.insert(tool.name.to_string());
            }
            for icon in &tool.icons {
                if let Err(v) = rules::check_icon(icon) {
                    problems.push(BuildProblem::new(format!(
                        "tool `{}`: {}",
                        tool.name, v.message
                    )));
                }
            }
            let mut mcp = McpTool::new(tool.name.clone(), tool.description.clone(), input);
            mcp.title = tool.title.clone();
            if !tool.icons.is_empty() {
                mcp.icons = Some(
                    tool.icons
                        .iter()
                        .map(|src| rmcp::model::Icon::new(src.clone()))
                        .collect(),
                );
            }
            mcp.output_schema = tool.output_schema.clone();
            if tool.annotations != Default::default() {
                mcp.annotations = Some(tool.annotations.clone());
            }
            if let Some(uri) = &tool.app {
                mcp.meta = Some(rmcp::model::MetaObject(crate::app::tool_meta(uri)));
                apps.push((tool.name.to_string(), uri.to_string()));
            }
            tools.push(mcp);
        }
        let mut resource_problems = Vec::new();
        let resources = Resources::build(
            self.resources,
            self.resource_templates,
            &mut resource_problems,
        );
        for (tool, uri) in &apps {
            if !crate::app::is_app_uri(uri) {
                resource_problems.push(format!(
                    "tool `{tool}`: its app `{uri}` is not a `ui://` URI"
                ));
            } else if !resources.has_fixed(uri) {
                resource_problems.push(format!(
                    "tool `{tool}`: its app `{uri}` is no resource of the plugin; declare it \
                     with `#[resource(uri = \"{uri}\")]` (or `Resource::new`)"
                ));
            }
        }
        let prompts = Prompts::build(self.prompts, &mut resource_problems);
        problems.extend(resource_problems.into_iter().map(BuildProblem::new));
        if !problems.is_empty() {
            return Err(Error::InvalidPlugin(problems));
        }
        Ok(Plugin {
            def: Arc::new(Definition {
                instructions: self
                    .instructions
                    .or_else(|| Some(self.manifest.description.clone()).filter(|d| !d.is_empty())),
                manifest: self.manifest,
                tools,
                handlers,
                resources,
                prompts,
                state: self.state,
                #[cfg(feature = "ui")]
                ui: self.ui,
                #[cfg(feature = "store")]
                uses_store,
                #[cfg(feature = "host-api")]
                requires_host_api,
                required_states,
                config: self.config,
                task_tools,
                #[cfg(feature = "testing")]
                wrapped_outputs,
            }),
        })
    }
}

/// A plugin bound to its environment: what every request is served from.
pub struct Running {
    pub(crate) def: Arc<Definition>,
    pub(crate) env: PluginEnv,
    data_dir: PathBuf,
    #[cfg(feature = "store")]
    store: std::sync::OnceLock<Result<Store, String>>,
    #[cfg(feature = "host-api")]
    nano_api: std::sync::OnceLock<Result<NanoApi, String>>,
    /// What the host said about agents' links; see [`crate::links`].
    links: crate::links::LinkCache,
    info: ServerConfig,
    /// State that takes the place of the plugin's own, by type.
    state_overrides: StateMap,
    /// The `logging/setLevel` of each client.
    log_levels: LogLevels,
    /// The one agent this process serves (stdio), if so.
    fixed_agent: Option<AgentId>,
    /// Who is subscribed to which resource.
    subscriptions: Subscriptions,
    /// The tasks tools run as.
    tasks: Tasks,
    /// The configuration value, when the plugin declares one.
    config: Option<AnyConfig>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("plugin", &self.def.manifest.name)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Running {
    fn new(
        def: Arc<Definition>,
        env: PluginEnv,
        stores: Stores,
        state_overrides: StateMap,
        fixed_agent: Option<AgentId>,
    ) -> Result<Arc<Self>, Error> {
        if env.require_agent_signature && env.internal_token.is_none() {
            return Err(Error::Config(
                "NANOFLEET_REQUIRE_AGENT_SIGNATURE is set but NANO_INTERNAL_TOKEN is not: \
                 signatures cannot be checked without the token"
                    .into(),
            ));
        }
        let data_dir = env
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let config = match &def.config {
            Some(config) => {
                Some((config.load)(&def.manifest.config, &env.vars).map_err(Error::Config)?)
            }
            None => None,
        };
        #[allow(deprecated)] // logging: see `Context::log`
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_logging()
            .build();
        // Only what is served is advertised.
        if !def.resources.is_empty() {
            let mut resources = ResourcesCapability::default();
            // Served to clients with a channel for notifications (see `crate::subscription`).
            resources.subscribe = Some(true);
            capabilities.resources = Some(resources);
        }
        if !def.prompts.is_empty() {
            capabilities.prompts = Some(PromptsCapability::default());
        }
        if def.prompts.completes() || def.resources.completes() {
            capabilities.completions = Some(Default::default());
        }
        if !def.task_tools.is_empty() {
            capabilities
                .extensions
                .get_or_insert_with(Default::default)
                .insert(TASKS_EXTENSION_ID.to_owned(), Default::default());
        }
        let mut implementation =
            Implementation::new(def.manifest.name.clone(), def.manifest.version.clone());
        // The manifest's icon is the server's, for clients that show one per server.
        if let Some(icon) = &def.manifest.icon {
            implementation.icons = Some(vec![rmcp::model::Icon::new(icon.clone())]);
        }
        let mut info = ServerConfig::new(capabilities).with_server_info(implementation);
        if let Some(text) = &def.instructions {
            info = info.with_instructions(text.clone());
        }
        let running = Arc::new(Self {
            def,
            env,
            data_dir,
            #[cfg(feature = "store")]
            store: stores
                .0
                .map(|s| std::sync::OnceLock::from(Ok(s)))
                .unwrap_or_default(),
            #[cfg(feature = "host-api")]
            nano_api: std::sync::OnceLock::new(),
            links: crate::links::LinkCache::default(),
            info,
            state_overrides,
            log_levels: LogLevels::default(),
            fixed_agent,
            subscriptions: Subscriptions::default(),
            tasks: Tasks::default(),
            config,
        });
        #[cfg(not(feature = "store"))]
        let _ = stores;
        #[cfg(feature = "store")]
        if running.def.uses_store {
            running.store().map_err(|e| Error::Config(e.to_string()))?;
        }
        let missing: Vec<BuildProblem> = running
            .def
            .required_states
            .iter()
            .filter(|(_, state)| {
                !running.state_overrides.contains_key(&state.id)
                    && !running.def.state.contains_key(&state.id)
            })
            .map(|(who, state)| {
                BuildProblem::new(format!(
                    "{who} takes `State<{}>`, but the plugin has no state of that type: give it \
                     one with `PluginBuilder::state` (in tests, `TestClientBuilder::state`)",
                    state.name
                ))
            })
            .collect();
        if !missing.is_empty() {
            return Err(Error::InvalidPlugin(missing));
        }
        #[cfg(feature = "host-api")]
        if running.def.requires_host_api {
            running.nano_api().map_err(Error::Config)?;
        }
        Ok(running)
    }

    /// The plugin's store, opened on first use.
    #[cfg(feature = "store")]
    pub(crate) fn store(&self) -> Result<Store, StoreError> {
        match self
            .store
            .get_or_init(|| Store::open(&self.data_dir).map_err(|e| e.to_string()))
        {
            Ok(s) => Ok(s.clone()),
            Err(msg) => Err(StoreError::Worker(msg.clone())),
        }
    }

    #[cfg(feature = "host-api")]
    pub(crate) fn nano_api(&self) -> Result<NanoApi, String> {
        self.nano_api
            .get_or_init(|| NanoApi::from_env(&self.env).map_err(|e| e.to_string()))
            .clone()
    }

    /// Whether `agent`, whose signature was verified, may be served with the `link` its URL
    /// (or `_meta`) names: asks the host, within the limits [`crate::links`] describes.
    pub(crate) async fn check_link(
        &self,
        agent: &AgentId,
        link: Option<&str>,
    ) -> Result<(), crate::links::Refusal> {
        #[cfg(feature = "host-api")]
        {
            // Without an API URL (a plugin run by hand, NanoFleet's host) there is no one to ask.
            let Ok(api) = self.nano_api() else {
                return Ok(());
            };
            let api = api.with_timeout(LINK_LOOKUP_TIMEOUT);
            self.links
                .check(agent.as_str(), link, || async move {
                    crate::links::ask_host(&api, agent.as_str()).await
                })
                .await
        }
        #[cfg(not(feature = "host-api"))]
        {
            let _ = (agent, link, &self.links);
            Ok(())
        }
    }

    /// The one agent this process serves, when it serves one (stdio).
    pub(crate) fn fixed_agent(&self) -> Option<&AgentId> {
        self.fixed_agent.as_ref()
    }

    pub(crate) fn log_levels(&self) -> &LogLevels {
        &self.log_levels
    }

    pub(crate) fn subscriptions(&self) -> &Subscriptions {
        &self.subscriptions
    }

    pub(crate) fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let key = TypeId::of::<T>();
        self.state_overrides
            .get(&key)
            .or_else(|| self.def.state.get(&key))
            .and_then(|s| Arc::clone(s).downcast::<T>().ok())
    }

    pub(crate) fn config<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.config
            .as_ref()
            .and_then(|c| Arc::clone(c).downcast::<T>().ok())
    }

    /// Whether `tool`'s structured results are wrapped as `{"result": ...}`.
    #[cfg(feature = "testing")]
    pub(crate) fn wraps_output(&self, tool: &str) -> bool {
        self.def.wrapped_outputs.contains(tool)
    }

    /// The plugin's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.def.manifest
    }

    /// The environment the plugin runs with.
    pub fn env(&self) -> &PluginEnv {
        &self.env
    }
}

/// The one log line of a tool call (at INFO, target `nanofleet_sdk::call`): the tool, the
/// calling agent when there is one, how long the call took and how it ended (`ok`,
/// `tool_error` for an `isError` result, `protocol_error` for a refused call). The arguments
/// and results are not logged: they may hold an agent's data.
fn log_call(
    tool: &str,
    agent: Option<&AgentId>,
    elapsed: Duration,
    outcome: &Result<CallToolResult, ErrorData>,
) {
    let outcome = match outcome {
        Ok(result) if result.is_error == Some(true) => "tool_error",
        Ok(_) => "ok",
        Err(_) => "protocol_error",
    };
    tracing::info!(
        target: "nanofleet_sdk::call",
        tool,
        agent = agent.map(|a| tracing::field::display(a.as_str())),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        outcome,
        "tool call"
    );
}

/// The rmcp handler: one per HTTP request in stateless mode, so it is only an `Arc` clone.
#[derive(Clone)]
pub(crate) struct McpHandler(pub(crate) Arc<Running>);

impl McpHandler {
    /// The request as handlers see it, with the agent it is for; a request whose `_meta`
    /// identity is refused (forged, or another agent than its URL's) fails here.
    async fn request(&self, context: RequestContext<RoleServer>) -> Result<ToolCall, ErrorData> {
        let agent = crate::caller::resolve(&context, &self.0).await?;
        Ok(ToolCall {
            ctx: context,
            plugin: Arc::clone(&self.0),
            agent,
            task: None,
            round: None,
        })
    }

    /// Reads `uri` for the call's agent, with the error MCP specifies for each failure.
    async fn read(&self, uri: &str, call: ToolCall) -> Result<Vec<ResourceContents>, ErrorData> {
        match self.0.def.resources.read(uri, call).await {
            Ok(contents) => Ok(contents),
            // -32002, as MCP specifies for an unknown resource.
            Err(ReadFailure::NotFound) => Err(ErrorData::resource_not_found(
                format!("no resource at `{uri}`"),
                Some(serde_json::json!({ "uri": uri })),
            )),
            Err(ReadFailure::InvalidUri(why)) => Err(ErrorData::invalid_params(
                format!("cannot read `{uri}`: {why}"),
                Some(serde_json::json!({ "uri": uri })),
            )),
            Err(ReadFailure::Failed(message)) => Err(ErrorData::internal_error(
                message,
                Some(serde_json::json!({ "uri": uri })),
            )),
        }
    }
}

/// The client a subscription is held for: its session, or the one client of a stdio process.
/// A stateless HTTP client has no channel a notification could travel on.
fn subscriber(context: &RequestContext<RoleServer>) -> Result<String, ErrorData> {
    let Some(parts) = context.extensions.get::<http::request::Parts>() else {
        return Ok("stdio".to_owned());
    };
    match parts.extensions.get::<SessionRoute>() {
        Some(SessionRoute(id)) => Ok(id.clone()),
        None => Err(ErrorData::invalid_request(
            "resource subscriptions need a channel for notifications, and this client has \
             none: it is served statelessly because its initialize declared neither sampling \
             nor elicitation. Declare one to get a session, or read the resource again instead",
            None,
        )),
    }
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        self.0.info.clone()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.0.def.tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let started = Instant::now();
        let as_task = self.0.def.task_tools.contains(request.name.as_ref())
            && context
                .client_capabilities()
                .is_some_and(|caps| caps.supports_tasks());
        // The questions of this run and the answers its retry carries (protocol 2026-07-28,
        // or a task's); other calls have no round to keep.
        let round = (as_task
            || request.input_responses.is_some()
            || context.meta.protocol_version().is_some())
        .then(|| Arc::new(InputRound::new(request.input_responses.clone())));
        let mut call = self.request(context).await?;
        call.round = round.clone();
        let agent = call.extract::<Option<AgentId>>().ok().flatten();
        if as_task
            && self.0.tasks.has_room()
            && let Some(handler) = self.0.def.handlers.get(request.name.as_ref())
        {
            let handler = Arc::clone(handler);
            let (name, arguments) = (request.name.clone(), request.arguments.clone());
            let owner = agent.clone();
            let task = self
                .0
                .tasks
                .spawn(owner.clone(), move |task, cancel| async move {
                    let mut call = call;
                    call.task = Some(task);
                    // The call's own request has been answered: the task's cancellation is its own.
                    call.ctx.ct = cancel;
                    let started = Instant::now();
                    let result = handler(arguments, call).await;
                    log_call(
                        &name,
                        owner.as_ref(),
                        started.elapsed(),
                        &Ok(result.clone()),
                    );
                    result
                });
            return Ok(CallToolResponse::Task(CreateTaskResult::new(task)));
        }
        let outcome = match self.0.def.handlers.get(request.name.as_ref()) {
            Some(handler) => Ok(handler(request.arguments, call).await),
            None => Err(ErrorData::invalid_params(
                format!("unknown tool `{}`", request.name),
                Some(serde_json::json!({
                    "tools": self.0.def.tools.iter().map(|t| t.name.as_ref()).collect::<Vec<_>>()
                })),
            )),
        };
        log_call(&request.name, agent.as_ref(), started.elapsed(), &outcome);
        // A tool that asked the client this round is answered with the questions; the client
        // retries with the answers, and the tool runs again (see `crate::ask`).
        if let Some(questions) = round.as_ref().and_then(|r| r.questions()) {
            return Ok(CallToolResponse::InputRequired(InputRequiredResult::new(
                Some(questions),
                None,
            )));
        }
        outcome.map(Into::into)
    }

    fn get_tool(&self, name: &str) -> Option<McpTool> {
        self.0.def.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let (items, next) = page(self.0.def.resources.listed(), request.as_ref())?;
        let mut result = ListResourcesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let (items, next) = page(self.0.def.resources.listed_templates(), request.as_ref())?;
        let mut result = ListResourceTemplatesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let call = self.request(context).await?;
        let contents = self.read(&request.uri, call).await?;
        Ok(ReadResourceResult::new(contents).into())
    }

    /// The state of one of the calling agent's tasks; see [`crate::task`].
    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let agent = crate::caller::resolve(&context, &self.0).await?.ok();
        let tasks = self.0.tasks.owned_by(&request.task_id, agent.as_ref())?;
        Ok(GetTaskResult::new(tasks.get_task(&request.task_id)?))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let agent = crate::caller::resolve(&context, &self.0).await?.ok();
        let tasks = self.0.tasks.owned_by(&request.task_id, agent.as_ref())?;
        tasks.update_task(&request.task_id, request.input_responses)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let agent = crate::caller::resolve(&context, &self.0).await?.ok();
        let tasks = self.0.tasks.owned_by(&request.task_id, agent.as_ref())?;
        tasks.cancel_task(&request.task_id)
    }

    /// Subscribes the client to a resource it can read; see [`crate::subscription`].
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let client = subscriber(&context)?;
        let peer = context.peer.clone();
        let call = self.request(context).await?;
        let agent = call.agent.clone().ok();
        let uri = request.uri;
        // What the agent cannot read, it cannot watch: the read decides, the same way.
        self.read(&uri, call).await?;
        self.0
            .subscriptions
            .subscribe(&uri, client, agent, peer)
            .map_err(|why| ErrorData::invalid_request(why, None))
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let client = subscriber(&context)?;
        self.0.subscriptions.unsubscribe(&request.uri, &client);
        Ok(())
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let (items, next) = page(self.0.def.prompts.listed(), request.as_ref())?;
        let mut result = ListPromptsResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let prompts = &self.0.def.prompts;
        let Some((prompt, handler)) = prompts.find(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown prompt `{}`", request.name),
                Some(serde_json::json!({ "prompts": prompts.names() })),
            ));
        };
        let call = self.request(context).await?;
        match handler(request.arguments.unwrap_or_default(), call).await {
            Ok(messages) => {
                let mut result = GetPromptResult::new(messages);
                result.description = Some(prompt.description.to_string());
                Ok(result.into())
            }
            Err(PromptFailure::InvalidArguments(why)) => Err(ErrorData::invalid_params(
                format!("prompt `{}`: {why}", request.name),
                None,
            )),
            Err(PromptFailure::Failed(message)) => Err(ErrorData::internal_error(message, None)),
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let def = &self.0.def;
        let argument = request.argument.name;
        let (what, arguments, completers) = match &request.r#ref {
            Reference::Prompt(reference) => {
                let Some((prompt, _)) = def.prompts.find(&reference.name) else {
                    return Err(ErrorData::invalid_params(
                        format!("unknown prompt `{}`", reference.name),
                        None,
                    ));
                };
                let names = prompt.arguments.iter().map(|a| a.name.clone()).collect();
                (
                    format!("prompt `{}`", reference.name),
                    names,
                    &prompt.completers,
                )
            }
            Reference::Resource(reference) => {
                let Some(template) = def.resources.template(&reference.uri) else {
                    return Err(ErrorData::invalid_params(
                        format!("no resource template `{}`", reference.uri),
                        None,
                    ));
                };
                let names = template
                    .variables()
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                (
                    format!("resource template `{}`", reference.uri),
                    names,
                    &template.completers,
                )
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("cannot complete for {other:?}: a `ref/prompt` or `ref/resource` is"),
                    None,
                ));
            }
        };
        let arguments: Vec<String> = arguments;
        if !arguments.contains(&argument) {
            return Err(ErrorData::invalid_params(
                format!("{what} has no argument `{argument}`"),
                Some(serde_json::json!({ "arguments": arguments })),
            ));
        }
        // An argument without a completion function has no suggestions.
        let Some(complete) = completers.get(&argument) else {
            return Ok(completion::result(Vec::new()));
        };
        let call = self.request(context).await?;
        let typed = Completion::new(
            argument,
            request.argument.value,
            request.context.and_then(|c| c.arguments),
        );
        complete(typed, call)
            .await
            .map(completion::result)
            .map_err(|message| ErrorData::internal_error(message, None))
    }

    /// Remembered for the client that asked (see [`crate::logging`]); [`Context::log`]
    /// then drops messages below the level. An anonymous request without a session has no
    /// later requests to apply it to: it is accepted and changes nothing.
    ///
    /// [`Context::log`]: crate::Context::log
    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let agent = crate::caller::resolve(&context, &self.0).await?.ok();
        let parts = context.extensions.get::<http::request::Parts>();
        if let Some(client) = Client::of(parts, agent.as_ref()) {
            self.0.log_levels.set(client, request.level.into());
        }
        Ok(())
    }
}
