//! `hello`: the smallest useful NanoFleet plugin.

use nanofleet_sdk::{AgentId, ToolError, plugin};

/// The plugin's state: none.
#[derive(Debug, Default)]
pub struct Hello;

/// Greets people, and says which agent asked.
#[plugin(
    name = "hello",
    image = "nanofleet/hello:0.1.0",
    mcp_port = 8080,
    author = "nanofleet-rs"
)]
impl Hello {
    /// Greets someone by name, on behalf of the calling agent.
    #[tool(title = "Greet", read_only, idempotent)]
    fn greet(
        &self,
        agent: AgentId,
        /// Who to greet.
        name: String,
    ) -> Result<String, ToolError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ToolError::new("`name` is empty: say who to greet"));
        }
        Ok(format!("Hello, {name}! (asked by agent {agent})"))
    }
}
