use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Lists.
    #[tool]
    fn list(&self, #[arg(defualt = 10)] limit: u32) -> u32 {
        limit
    }
}

fn main() {}
