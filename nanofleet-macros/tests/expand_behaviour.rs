//! A plugin declared with the macros, driven through the SDK's in-process MCP client: what a
//! model sees (`tools/list`) and what calls do.

use std::sync::atomic::{AtomicU64, Ordering};

use nanofleet_sdk::{
    AgentId, AgentStore, Context, NanoApi, ToolError,
    env::PluginEnv,
    plugin,
    rmcp::model::Tool,
    testing::{TestClient, result_text},
    tool::State,
};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Debug, Serialize, JsonSchema)]
struct Note {
    id: u64,
    text: String,
}

/// A structured result that is already an object: not wrapped.
#[derive(Debug, Serialize, JsonSchema)]
struct Stats {
    /// How many calls the plugin has served.
    calls: u64,
}

#[derive(Default)]
struct Notes {
    calls: AtomicU64,
}

impl Notes {
    const DEFAULT_LIMIT: u32 = 10;
}

/// A value of the plugin's own that the SDK supplies, because it implements `FromToolCall`:
/// the caller's agent id, shouted.
struct Shout(String);

impl nanofleet_sdk::tool::FromToolCall for Shout {
    fn from_tool_call(call: &nanofleet_sdk::ToolCall) -> Result<Self, ToolError> {
        Ok(Shout(call.agent()?.as_str().to_uppercase()))
    }
}

/// Names decide nothing: a type of the plugin's own called `Context` is an argument like any
/// other, since it does not implement `FromToolCall`.
mod mine {
    /// Where a note was written.
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    pub struct Context {
        /// The place.
        pub place: String,
    }
}

/// Per-agent notes.
#[plugin(
    name = "notes",
    image = "nanofleet/notes:0.1.0",
    mcp_port = 8080,
    ui_port = 8081,
    sidebar(icon = "notebook", label = "Notes"),
    required_env_vars = ["NOTES_KEY"],
    author = "Alice",
)]
impl Notes {
    /// Saves a note for the calling agent.
    #[tool(destructive = false)]
    async fn add_note(
        &self,
        store: AgentStore,
        /// The note's text.
        text: String,
    ) -> Result<u64, ToolError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(store.collection::<String>("notes").insert(&text).await?)
    }

    /// Lists the calling agent's notes.
    #[tool(read_only, idempotent = true)]
    async fn list_notes(&self, store: AgentStore) -> Result<Vec<Note>, ToolError> {
        let notes = store.collection::<String>("notes").list().await?;
        Ok(notes
            .into_iter()
            .map(|(id, text)| Note { id, text })
            .collect())
    }

    /// Finds notes containing some words.
    #[tool(name = "search", title = "Search notes", open_world = false)]
    async fn find(
        store: AgentStore,
        /// Words to look for.
        query: String,
        /// At most this many notes.
        #[arg(default = Self::DEFAULT_LIMIT)]
        limit: u32,
        /// Whether case matters.
        case_sensitive: Option<bool>,
    ) -> Result<Vec<String>, ToolError> {
        let fold = |s: &str| {
            if case_sensitive == Some(true) {
                s.to_owned()
            } else {
                s.to_lowercase()
            }
        };
        let query = fold(&query);
        let notes = store.collection::<String>("notes").list().await?;
        Ok(notes
            .into_iter()
            .map(|(_, text)| text)
            .filter(|text| fold(text).contains(&query))
            .take(limit as usize)
            .collect())
    }

    /// Says which agent is calling.
    #[tool]
    fn whoami(agent: Option<AgentId>) -> String {
        agent.map_or_else(|| "nobody".to_owned(), |a| a.to_string())
    }

    /// Says which agent is calling; fails without one.
    #[tool]
    fn whoami_strict(agent: AgentId) -> &'static str {
        if agent.as_str() == "alice" {
            "alice"
        } else {
            "someone else"
        }
    }

    /// Reports how many notes were added, through the plugin state.
    #[tool(read_only)]
    fn stats(&self) -> Stats {
        Stats {
            calls: self.calls.load(Ordering::Relaxed),
        }
    }

    /// Reports the same through an explicit `State`.
    #[tool(read_only)]
    async fn stats_via_state(state: State<Notes>, ctx: Context) -> u64 {
        assert!(!ctx.is_cancelled());
        state.calls.load(Ordering::Relaxed)
    }

    /// Always fails, with the reason given.
    #[tool]
    fn fail(#[arg(rename = "why")] reason: String) -> Result<String, String> {
        Err(reason)
    }

    /// Does nothing.
    #[tool]
    async fn nothing() {}

    /// Needs the host API, which tests do not have.
    #[tool]
    fn host(_api: NanoApi) -> Result<(), ToolError> {
        Ok(())
    }

    /// Greets the caller by their agent id, in capitals.
    #[tool]
    fn greet(Shout(name): Shout, context: mine::Context) -> String {
        format!("HELLO {name} AT {}", context.place)
    }

    /// A method that is not a tool stays a method.
    fn helper(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// The plugin, running in-process with a data directory of its own and a host API address:
/// a tool takes `NanoApi`, which makes the host API a start-up requirement (nothing here calls
/// it).
fn client() -> Result<(TestClient, tempfile::TempDir), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let env = PluginEnv {
        data_dir: Some(dir.path().to_owned()),
        api_url: Some("http://127.0.0.1:9".into()),
        internal_token: Some(nanofleet_sdk::identity::InternalToken::generate()),
        ..PluginEnv::default()
    };
    Ok((TestClient::with_env(&Notes::default().plugin()?, env)?, dir))
}

fn find<'a>(tools: &'a [Tool], name: &str) -> &'a Tool {
    match tools.iter().find(|t| t.name == name) {
        Some(tool) => tool,
        None => panic!(
            "no tool `{name}` in {:?}",
            tools.iter().map(|t| &t.name).collect::<Vec<_>>()
        ),
    }
}

fn schema(tool: &Tool) -> Value {
    Value::Object((*tool.input_schema).clone())
}

fn output_schema(tool: &Tool) -> Option<Value> {
    tool.output_schema
        .as_deref()
        .map(|s| Value::Object(s.clone()))
}

#[test]
fn the_manifest_comes_from_the_attribute_the_doc_comment_and_cargo() {
    let manifest = Notes::manifest();
    assert_eq!(manifest.name, "notes");
    assert_eq!(manifest.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest.description, "Per-agent notes.");
    assert_eq!(manifest.author, "Alice");
    assert_eq!(manifest.image, "nanofleet/notes:0.1.0");
    assert_eq!((manifest.mcp_port, manifest.ui_port), (8080, Some(8081)));
    let sidebar = manifest.sidebar.clone().expect("a sidebar");
    assert_eq!(
        (
            sidebar.icon.as_str(),
            sidebar.label.as_str(),
            sidebar.route.as_str()
        ),
        ("notebook", "Notes", "/plugins/notes/ui")
    );
    assert_eq!(manifest.required_env_vars, ["NOTES_KEY"]);
    assert!(
        !manifest.validate().has_errors(),
        "{:?}",
        manifest.validate()
    );
}

#[tokio::test]
async fn tools_list_shows_names_descriptions_and_annotations() -> TestResult {
    let (client, _dir) = client()?;
    let alice = client.connect_as("alice").await?;
    let tools = alice.list_tools().await?;
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "add_note",
            "fail",
            "greet",
            "host",
            "list_notes",
            "nothing",
            "search",
            "stats",
            "stats_via_state",
            "whoami",
            "whoami_strict"
        ]
    );

    let add = find(&tools, "add_note");
    assert_eq!(
        add.description.as_deref(),
        Some("Saves a note for the calling agent.")
    );
    let hints = add.annotations.as_ref().expect("annotations");
    assert_eq!(hints.destructive_hint, Some(false));
    assert_eq!(hints.read_only_hint, None);

    let list = find(&tools, "list_notes");
    let hints = list.annotations.as_ref().expect("annotations");
    assert_eq!(
        (hints.read_only_hint, hints.idempotent_hint),
        (Some(true), Some(true))
    );

    let search = find(&tools, "search");
    assert_eq!(search.title.as_deref(), Some("Search notes"));
    let hints = search.annotations.as_ref().expect("annotations");
    assert_eq!(hints.open_world_hint, Some(false));
    assert!(find(&tools, "whoami").annotations.is_none());
    Ok(())
}

#[tokio::test]
async fn input_schemas_hold_the_arguments_and_never_the_injected_values() -> TestResult {
    let (client, _dir) = client()?;
    let tools = client.connect_as("alice").await?.list_tools().await?;

    let add = schema(find(&tools, "add_note"));
    assert_eq!(add["type"], "object");
    assert_eq!(add["title"], "add_noteArguments");
    assert_eq!(
        add["properties"].as_object().map(|p| p.len()),
        Some(1),
        "{add}"
    );
    assert_eq!(add["properties"]["text"]["type"], "string");
    assert_eq!(add["properties"]["text"]["description"], "The note's text.");
    assert_eq!(add["required"], json!(["text"]));

    let search = schema(find(&tools, "search"));
    let properties = search["properties"].as_object().expect("properties");
    let mut keys: Vec<&str> = properties.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["case_sensitive", "limit", "query"], "{search}");
    assert_eq!(search["required"], json!(["query"]));
    assert_eq!(properties["limit"]["default"], 10);
    assert_eq!(
        properties["limit"]["description"],
        "At most this many notes."
    );
    assert_eq!(
        properties["case_sensitive"]["description"],
        "Whether case matters."
    );

    let fail = schema(find(&tools, "fail"));
    assert_eq!(fail["required"], json!(["why"]));

    for name in [
        "list_notes",
        "whoami",
        "whoami_strict",
        "stats",
        "stats_via_state",
        "nothing",
        "host",
    ] {
        let schema = schema(find(&tools, name));
        assert_eq!(schema["type"], "object", "{name}: {schema}");
        let empty = schema
            .get("properties")
            .is_none_or(|p| p.as_object().is_some_and(|p| p.is_empty()));
        assert!(empty, "{name} should take no arguments: {schema}");
    }
    Ok(())
}

#[tokio::test]
async fn parameters_are_arguments_or_supplied_by_their_types_not_their_names() -> TestResult {
    let (client, _dir) = client()?;
    let alice = client.connect_as("alice").await?;
    let tools = alice.list_tools().await?;
    let greet = schema(find(&tools, "greet"));
    let properties = greet["properties"].as_object().expect("properties");
    assert_eq!(
        properties.keys().collect::<Vec<_>>(),
        ["context"],
        "{greet}"
    );
    assert_eq!(greet["required"], json!(["context"]));
    let result = alice
        .call("greet", json!({"context": {"place": "home"}}))
        .await?;
    assert_eq!(result_text(&result), "HELLO ALICE AT home");
    // A key named like the supplied parameter is ignored, not taken for it.
    let result = alice
        .call(
            "greet",
            json!({"context": {"place": "work"}, "name": "mallory"}),
        )
        .await?;
    assert_eq!(result_text(&result), "HELLO ALICE AT work");
    let result = alice.call("greet", json!({})).await?;
    assert_eq!(result.is_error, Some(true));
    assert!(
        result_text(&result).contains("missing field `context`"),
        "{}",
        result_text(&result)
    );
    Ok(())
}

#[tokio::test]
async fn output_schemas_describe_structured_results() -> TestResult {
    let (client, _dir) = client()?;
    let tools = client.connect_as("alice").await?.list_tools().await?;

    // Non-object results are wrapped as {"result": ...}.
    let list = output_schema(find(&tools, "list_notes")).expect("list_notes has an output schema");
    assert_eq!(list["required"], json!(["result"]));
    assert_eq!(list["properties"]["result"]["type"], "array");
    let count = output_schema(find(&tools, "add_note")).expect("add_note has an output schema");
    assert_eq!(count["properties"]["result"]["type"], "integer");
    // Object results are not.
    let stats = output_schema(find(&tools, "stats")).expect("stats has an output schema");
    assert_eq!(
        stats["properties"]["calls"]["description"],
        "How many calls the plugin has served."
    );
    // Text, `()` and `Result<String, _>` have none.
    for name in ["whoami", "whoami_strict", "nothing", "fail", "host"] {
        assert!(find(&tools, name).output_schema.is_none(), "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn each_agent_sees_only_its_own_notes_and_state_is_shared() -> TestResult {
    let (client, _dir) = client()?;
    let alice = client.connect_as("alice").await?;
    let bob = client.connect_as("bob").await?;

    assert_eq!(
        alice
            .call_json("add_note", json!({"text": "Buy milk"}))
            .await?,
        json!({"result": 1})
    );
    alice
        .call_json("add_note", json!({"text": "call Bob"}))
        .await?;
    bob.call_json("add_note", json!({"text": "bob's secret"}))
        .await?;

    let listed = alice.call_json("list_notes", json!({})).await?;
    assert_eq!(
        listed,
        json!({"result": [{"id": 1, "text": "Buy milk"}, {"id": 2, "text": "call Bob"}]})
    );
    let listed = bob.call_json("list_notes", json!({})).await?;
    assert_eq!(listed["result"].as_array().map(Vec::len), Some(1));

    // Defaults and optional arguments.
    let found = alice.call_json("search", json!({"query": "B"})).await?;
    assert_eq!(found, json!({"result": ["Buy milk", "call Bob"]}));
    let found = alice
        .call_json(
            "search",
            json!({"query": "b", "case_sensitive": true, "limit": 1}),
        )
        .await?;
    assert_eq!(found, json!({"result": ["call Bob"]}));

    // `&self` and `State<Notes>` both reach the one plugin value, across agents.
    assert_eq!(
        bob.call_json("stats", json!({})).await?,
        json!({"calls": 3})
    );
    assert_eq!(
        bob.call_json("stats_via_state", json!({})).await?,
        json!({"result": 3})
    );
    Ok(())
}

#[tokio::test]
async fn results_and_errors() -> TestResult {
    let (client, _dir) = client()?;
    let alice = client.connect_as("alice").await?;
    let anonymous = client.connect_anonymous().await?;

    assert_eq!(alice.call_text("whoami", json!({})).await?, "alice");
    assert_eq!(anonymous.call_text("whoami", json!({})).await?, "nobody");
    assert_eq!(alice.call_text("whoami_strict", json!({})).await?, "alice");
    let strict = anonymous.call("whoami_strict", json!({})).await?;
    assert_eq!(strict.is_error, Some(true), "{strict:?}");

    let nothing = alice.call("nothing", json!({})).await?;
    assert_eq!(nothing.is_error, Some(false));
    assert!(nothing.content.is_empty());

    let failed = alice.call("fail", json!({"why": "on purpose"})).await?;
    assert_eq!(failed.is_error, Some(true));
    assert_eq!(result_text(&failed), "on purpose");

    // The host API is configured (see `client`), so the injected client is there; without one
    // the plugin does not start (`host_api` below).
    let host = alice.call("host", json!({})).await?;
    assert_eq!(host.is_error, Some(false), "{host:?}");

    // Arguments of the wrong type are an error the model can act on.
    let wrong = alice.call("add_note", json!({"text": 5})).await?;
    assert_eq!(wrong.is_error, Some(true));
    assert!(
        result_text(&wrong).contains("`text`"),
        "{}",
        result_text(&wrong)
    );
    Ok(())
}

#[test]
fn the_impl_block_keeps_its_methods() {
    let notes = Notes::default();
    assert_eq!(notes.helper(), 0);
    assert_eq!(Notes::whoami(None), "nobody");
}

mod host_api {
    use nanofleet_sdk::{NanoApi, ToolError, env::PluginEnv, plugin, testing::TestClient};

    #[derive(Default)]
    struct Caller;

    /// Calls the host.
    #[plugin(name = "caller", image = "acme/caller:0.1.0", mcp_port = 8080)]
    impl Caller {
        /// Lists the host's agents.
        #[tool(read_only)]
        async fn agents(&self, api: NanoApi) -> Result<String, ToolError> {
            Ok(format!("{}", api.list_agents().await?.len()))
        }
    }

    #[test]
    fn a_tool_taking_nano_api_makes_the_host_api_a_startup_requirement() {
        let plugin = Caller.plugin().expect("valid");
        let err = TestClient::new(&plugin).expect_err("no host configured");
        let message = err.to_string();
        assert!(message.contains("NANO_API_URL"), "{message}");
        assert!(message.contains("NANO_INTERNAL_TOKEN"), "{message}");
        let env = PluginEnv {
            api_url: Some("http://127.0.0.1:9".into()),
            internal_token: Some(nanofleet_sdk::identity::InternalToken::generate()),
            ..PluginEnv::default()
        };
        assert!(TestClient::with_env(&plugin, env).is_ok());
    }
}

mod image_tags {
    use nanofleet_sdk::plugin;

    struct FromCargo;

    /// Untagged, with the version from Cargo.toml.
    #[plugin(
        name = "from-cargo",
        image = "ghcr.io/acme/from-cargo",
        mcp_port = 8080
    )]
    impl FromCargo {}

    struct Explicit;

    /// Untagged, with an explicit version.
    #[plugin(
        name = "explicit",
        version = "2.0.0-rc.1",
        image = "localhost:5000/acme/explicit",
        mcp_port = 8080
    )]
    impl Explicit {}

    struct Floating;

    /// A tag that is not a version is kept.
    #[plugin(name = "floating", image = "acme/floating:latest", mcp_port = 8080)]
    impl Floating {}

    #[test]
    fn an_untagged_image_is_tagged_with_the_plugins_version() {
        let manifest = FromCargo::manifest();
        assert_eq!(
            manifest.image,
            format!("ghcr.io/acme/from-cargo:{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(manifest.version, env!("CARGO_PKG_VERSION"));
        assert!(!manifest.validate().has_errors());

        let manifest = Explicit::manifest();
        assert_eq!(manifest.image, "localhost:5000/acme/explicit:2.0.0-rc.1");
        assert!(!manifest.validate().has_errors());

        assert_eq!(Floating::manifest().image, "acme/floating:latest");
    }
}
