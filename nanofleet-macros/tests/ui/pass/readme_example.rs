//! The example of the design, verbatim.
#![deny(warnings)]

use nanofleet_sdk::{plugin, AgentStore, ToolError};

#[derive(Default)]
struct Notes;

/// Per-agent notes.
#[plugin(name = "notes", image = "nanofleet/notes", mcp_port = 8080)]
impl Notes {
    /// Saves a note for the calling agent.
    #[tool(destructive = false)]
    async fn add_note(&self, store: AgentStore, /// The note's text.
                      text: String) -> Result<u64, ToolError> {
        Ok(store.collection::<String>("notes").insert(&text).await?)
    }

    /// Lists the calling agent's notes.
    #[tool(read_only)]
    async fn list_notes(&self, store: AgentStore) -> Result<Vec<String>, ToolError> {
        Ok(store.collection::<String>("notes").list().await?.into_iter().map(|(_, t)| t).collect())
    }
}

fn main() {
    // `Notes::default().run()` would serve; building is what this test is about.
    let _run: fn(Notes) -> std::process::ExitCode = Notes::run;
    let plugin = Notes::default().plugin().expect("a valid plugin");
    assert_eq!(plugin.tools().len(), 2);
    assert_eq!(Notes::manifest().description, "Per-agent notes.");
}
