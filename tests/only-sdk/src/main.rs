//! A plugin whose crate depends on `nanofleet-sdk` alone. It builds only if the code the
//! macros generate reaches serde, schemars, tokio and rmcp through the SDK.

use std::sync::atomic::{AtomicU64, Ordering};

use nanofleet_sdk::{AgentId, AgentStore, ToolError, env::PluginEnv, plugin};

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
