use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// All notes.
    #[resource(uri = "notes://all")]
    fn all(&self) -> String {
        String::new()
    }

    /// All notes again.
    #[resource(uri = "notes://all")]
    fn all_again(&self) -> String {
        String::new()
    }
}

fn main() {}
