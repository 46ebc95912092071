use nanofleet_sdk::plugin;

struct Filter;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Lists.
    #[tool]
    fn list(&self, filter: Filter) {
        let _ = filter;
    }
}

fn main() {}
