use nanofleet_sdk::{plugin, AgentStore};

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Adds.
    #[tool]
    fn add(&self, #[arg(default)] store: AgentStore) {
        let _ = store;
    }
}

fn main() {}
