use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// A note.
    #[resource(uri_template = "notes://{folder}/{id}")]
    fn note(&self, id: u64) -> String {
        id.to_string()
    }
}

fn main() {}
