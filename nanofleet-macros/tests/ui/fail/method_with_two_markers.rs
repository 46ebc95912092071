use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Lists notes.
    #[tool]
    #[prompt]
    fn list(&self) -> String {
        String::new()
    }
}

fn main() {}
