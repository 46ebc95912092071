use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Lists.
    #[tool]
    fn list_every_single_note_that_the_calling_agent_has_ever_written_down(&self) {}
}

fn main() {}
