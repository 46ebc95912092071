use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// A note.
    #[resource(uri_template = "notes://{id}")]
    fn note(&self, id: u64, version: u32) -> String {
        format!("{id} {version}")
    }
}

fn main() {}
