use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// All notes.
    #[resource(uri = "all-notes")]
    fn all(&self) -> String {
        String::new()
    }
}

fn main() {}
