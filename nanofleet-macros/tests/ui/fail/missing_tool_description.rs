use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    #[tool(read_only)]
    fn list(&self) {}

    /// Described.
    #[tool(description = " ")]
    fn count(&self) {}
}

fn main() {}
