use nanofleet_sdk::plugin;

struct Note {
    text: String,
}

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Gets.
    #[tool]
    fn get(&self) -> Note {
        Note { text: String::new() }
    }
}

fn main() {}
