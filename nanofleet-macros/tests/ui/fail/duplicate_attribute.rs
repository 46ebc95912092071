use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080, name = "notes2")]
impl Notes {
    /// Lists.
    #[tool(read_only, read_only = false)]
    fn list(&self) {}
}

fn main() {}
