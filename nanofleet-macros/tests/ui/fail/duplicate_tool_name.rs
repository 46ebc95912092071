use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Lists.
    #[tool]
    fn list(&self) {}

    /// Lists too.
    #[tool(name = "list")]
    fn list_again(&self) {}
}

fn main() {}
