//! Every kind of parameter a tool can take.
#![deny(warnings)]

use nanofleet_sdk::{
    plugin, tool::State, AgentId, AgentStore, Context, NanoApi, ToolError,
};

#[derive(Default)]
struct Params {
    greeting: String,
}

impl Params {
    const LIMIT: u32 = 20;
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
enum Order {
    Newest,
    Oldest,
}

/// Every parameter form.
#[plugin(name = "params", image = "acme/params", mcp_port = 8080)]
impl Params {
    /// Each injected type, with `&self`.
    #[tool]
    async fn injected(
        &self,
        agent: AgentId,
        maybe_agent: Option<AgentId>,
        store: AgentStore,
        ctx: Context,
        api: NanoApi,
        state: State<Params>,
    ) -> String {
        let _ = (store, ctx.is_cancelled(), api, maybe_agent);
        format!("{} {agent}, {}", self.greeting, state.greeting)
    }

    /// Fully qualified injected types, and `self: &Self`.
    #[tool]
    fn qualified(
        self: &Self,
        agent: nanofleet_sdk::AgentId,
        store: nanofleet_sdk::AgentStore,
        state: nanofleet_sdk::tool::State<Self>,
    ) -> String {
        let _ = (store, state);
        format!("{agent}")
    }

    /// Arguments: required, optional, defaulted, documented, renamed.
    #[tool]
    fn arguments(
        /// The text to search for.
        query: String,
        /// How many results at most.
        #[arg(default = Self::LIMIT)]
        limit: u32,
        #[arg(default)] offset: u64,
        /// Newest first unless told otherwise.
        order: Option<Order>,
        #[arg(rename = "caseSensitive", default = false)] case_sensitive: bool,
        mut tags: Vec<String>,
        r#type: Option<String>,
    ) -> String {
        tags.push(query);
        let order = matches!(order, Some(Order::Oldest) | None);
        format!("{limit} {offset} {order} {case_sensitive} {tags:?} {:?}", r#type)
    }

    /// Arguments mixed with injected values, in any order.
    #[tool]
    async fn mixed(text: String, store: AgentStore, #[arg(default = 1)] times: u8, _ctx: Context) -> Result<u64, ToolError> {
        let notes = store.collection::<String>("notes");
        let mut last = 0;
        for _ in 0..times {
            last = notes.insert(&text).await?;
        }
        Ok(last)
    }

    /// An associated function: no state at all.
    #[tool]
    fn no_self() {}

    /// Injected values may be destructured, since they have no name in the schema.
    #[tool]
    fn destructured_state(State(params): State<Params>) -> String {
        params.greeting.clone()
    }

    #[tool(
        name = "renamed_tool",
        title = "A renamed tool",
        description = "Described by the attribute.",
        read_only,
        destructive = false,
        idempotent = true,
        open_world = false
    )]
    fn annotated() {}

    /// Compiled out, so not a tool either.
    #[cfg(any())]
    #[tool]
    fn compiled_out(&self, missing: NoSuchType) {}

    /// Compiled in.
    #[cfg(all())]
    #[tool]
    fn compiled_in() {}
}

fn main() {
    let plugin = Params { greeting: "hi".into() }.plugin().expect("a valid plugin");
    let tools = plugin.tools();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "injected",
            "qualified",
            "arguments",
            "mixed",
            "no_self",
            "destructured_state",
            "renamed_tool",
            "compiled_in",
        ]
    );
    let arguments = &tools[2].input_schema;
    let properties = arguments["properties"].as_object().expect("properties");
    let keys: Vec<&str> = properties.keys().map(String::as_str).collect();
    for key in ["query", "limit", "offset", "order", "caseSensitive", "tags", "type"] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    assert_eq!(properties["limit"]["default"], 20);
    assert_eq!(arguments["required"], serde_json::json!(["query", "tags"]));
    for injected in [&tools[0], &tools[1], &tools[5]] {
        assert!(injected.input_schema.get("required").is_none(), "{:?}", injected.input_schema);
    }
    let annotated = &tools[6];
    assert_eq!(annotated.title.as_deref(), Some("A renamed tool"));
    assert_eq!(annotated.description.as_deref(), Some("Described by the attribute."));
    let hints = annotated.annotations.as_ref().expect("annotations");
    assert_eq!(
        (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint),
        (Some(true), Some(false), Some(true), Some(false))
    );
}
