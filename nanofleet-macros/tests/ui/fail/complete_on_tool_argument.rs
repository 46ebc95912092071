use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Finds a note.
    #[tool]
    fn find(&self, #[arg(complete = complete_text)] text: String) -> String {
        text
    }
}

fn main() {}
