use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// A note.
    #[resource(uri = "notes://{id}")]
    fn note(&self) -> String {
        String::new()
    }
}

fn main() {}
