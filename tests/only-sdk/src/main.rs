//! A plugin whose crate depends on `nanofleet-sdk` alone. It builds only if the code the
//! macros generate reaches serde, schemars, tokio and rmcp through the SDK, and if `#[data]`
//! lets it derive serde's and schemars' traits for types of its own.

use std::sync::atomic::{AtomicU64, Ordering};

use nanofleet_sdk::{AgentId, AgentStore, ToolError, data, env::PluginEnv, plugin};

/// A shopping list, as a tool takes it.
#[data]
#[derive(Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct List {
    /// What to buy.
    pub items: Vec<Item>,
    /// Who it is for, if anyone.
    #[serde(default)]
    pub for_whom: Option<String>,
}

/// One thing on the list.
#[data]
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// What it is.
    pub name: String,
    /// How many.
    pub quantity: u32,
    /// How urgent it is.
    pub urgency: Urgency,
}

/// How urgent an item is.
#[data]
#[derive(Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// Whenever.
    Later,
    /// Today.
    Now,
}

/// What `summarize` returns: only ever serialised.
#[data(Serialize, Deserialize, JsonSchema)]
#[derive(Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// How many things in all.
    pub total_quantity: u32,
    /// The items needed now, by name.
    pub urgent: Vec<String>,
    /// Who it is for.
    pub for_whom: Option<String>,
}

/// Only read: the order to list urgent items in.
#[data(Deserialize, JsonSchema)]
#[derive(Debug, Clone, Copy, Default)]
pub enum Order {
    /// As on the list.
    #[default]
    AsListed,
    /// By name.
    ByName,
}

#[derive(Default)]
struct Counter {
    count: AtomicU64,
}

/// Counts, and keeps a note per agent.
#[plugin(
    name = "only-sdk",
    image = "acme/only-sdk:0.1.0",
    mcp_port = 8080,
    required_env_vars = ["ONLY_SDK_GREETING", "ONLY_SDK_REGION"]
)]
impl Counter {
    /// Adds `by` (default 1) to the shared counter and returns its new value.
    #[tool(idempotent = false)]
    fn increment(
        &self,
        /// How much to add.
        #[arg(default = 1)]
        by: u64,
    ) -> u64 {
        self.count.fetch_add(by, Ordering::Relaxed) + by
    }

    /// Saves a note for the calling agent.
    #[tool]
    async fn save(
        store: AgentStore,
        /// The note.
        text: String,
        /// Where to file it.
        folder: Option<String>,
    ) -> Result<u64, ToolError> {
        let collection = store.collection::<String>(folder.as_deref().unwrap_or("notes"));
        Ok(collection.insert(&text).await?)
    }

    /// Lists the calling agent's notes.
    #[tool(read_only)]
    async fn list(store: AgentStore) -> Result<Vec<String>, ToolError> {
        let notes = store.collection::<String>("notes").list().await?;
        Ok(notes.into_iter().map(|(_, text)| text).collect())
    }

    /// Says who is calling.
    #[tool(read_only)]
    fn whoami(agent: AgentId) -> String {
        agent.to_string()
    }

    /// Sums a shopping list up.
    #[tool(read_only)]
    fn summarize(
        /// The list.
        list: List,
        /// The order of the urgent items.
        #[arg(default)]
        order: Order,
    ) -> Summary {
        let mut urgent: Vec<String> = list
            .items
            .iter()
            .filter(|item| item.urgency == Urgency::Now)
            .map(|item| item.name.clone())
            .collect();
        if let Order::ByName = order {
            urgent.sort();
        }
        Summary {
            total_quantity: list.items.iter().map(|item| item.quantity).sum(),
            urgent,
            for_whom: list.for_whom,
        }
    }

    /// Greets `name` with the greeting the plugin is configured with.
    #[tool(read_only)]
    fn greet(
        env: PluginEnv,
        /// Who to greet.
        name: String,
    ) -> Result<String, ToolError> {
        Ok(format!(
            "{}, {name}!",
            env.require_var("ONLY_SDK_GREETING")?
        ))
    }
}

fn main() -> std::process::ExitCode {
    Counter::default().run()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nanofleet_sdk::{serde_json::json, testing::TestClient};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[tokio::test]
    async fn a_tool_takes_and_returns_types_derived_with_data() -> TestResult {
        let client = TestClient::new(&Counter::default().plugin()?)?;
        let alice = client.connect_as("alice").await?;
        let summary: Summary = alice
            .call_as(
                "summarize",
                json!({
                    "list": {
                        "items": [
                            {"name": "milk", "quantity": 2, "urgency": "now"},
                            {"name": "bread", "quantity": 1, "urgency": "later"},
                            {"name": "eggs", "quantity": 12, "urgency": "now"},
                        ],
                        "forWhom": "Bob",
                    },
                    "order": "ByName",
                }),
            )
            .await?;
        assert_eq!(
            summary,
            Summary {
                total_quantity: 15,
                urgent: vec!["eggs".into(), "milk".into()],
                for_whom: Some("Bob".into()),
            }
        );
        // What the model reads: the serde attributes are honoured.
        let sent = alice
            .call_json("summarize", json!({"list": {"items": []}}))
            .await?;
        assert_eq!(
            sent,
            json!({"totalQuantity": 0, "urgent": [], "forWhom": null})
        );

        // The serde attributes are honoured in the schema the model sees, too.
        let tools = alice.list_tools().await?;
        let summarize = tools
            .iter()
            .find(|t| t.name == "summarize")
            .ok_or("no summarize tool")?;
        let schema = json!(summarize.input_schema.as_ref());
        let text = schema.to_string();
        assert!(text.contains("\"forWhom\""), "{text}");
        assert!(
            text.contains("\"now\"") && text.contains("\"later\""),
            "{text}"
        );
        let output = json!(summarize.output_schema.as_deref());
        assert!(output.to_string().contains("totalQuantity"), "{output}");
        Ok(())
    }

    #[tokio::test]
    async fn tools_read_the_plugins_variables_and_state_the_test_gives() -> TestResult {
        let plugin = Counter::default().plugin()?;
        let client = TestClient::builder(&plugin)
            .env("ONLY_SDK_GREETING", "Hello")
            .state(Counter {
                count: AtomicU64::new(100),
            })
            .build()?;
        let alice = client.connect_as("alice").await?;
        let greeting = alice.call_text("greet", json!({"name": "Bob"})).await?;
        assert_eq!(greeting, "Hello, Bob!");
        let count: u64 = alice.call_as("increment", json!({"by": 2})).await?;
        assert_eq!(count, 102);
        Ok(())
    }

    #[tokio::test]
    async fn a_value_that_does_not_match_the_type_is_refused_naming_the_field() -> TestResult {
        let client = TestClient::new(&Counter::default().plugin()?)?;
        let alice = client.connect_as("alice").await?;
        let result = alice
            .call(
                "summarize",
                json!({"list": {"items": [{"name": "milk", "quantity": 1, "urgency": "soon"}]}}),
            )
            .await?;
        assert_eq!(result.is_error, Some(true));
        let text = nanofleet_sdk::testing::result_text(&result);
        assert!(text.contains("list.items[0].urgency"), "{text}");
        Ok(())
    }
}
