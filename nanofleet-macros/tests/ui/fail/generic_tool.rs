use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Echoes.
    #[tool]
    fn echo<T: std::fmt::Display>(&self, value: T) -> String {
        value.to_string()
    }
}

fn main() {}
