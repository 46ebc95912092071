//! Every problem is reported at once, each at its own token.
use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "Notes", version = "1", image = "nanofleet/notes:0.0.0", mcp_port = 80, ui_prot = 8081)]
impl Notes {
    #[tool(name = "add-note")]
    fn add(&self, _: String) {}

    /// Lists.
    #[tool(readonly)]
    fn list(&mut self, limit: impl Into<u32>) {
        let _ = limit;
    }
}

fn main() {}
