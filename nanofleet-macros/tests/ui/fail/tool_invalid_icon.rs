use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Says hello.
    #[tool(icon = "ftp://example.com/hello.png")]
    fn hello(&self) -> String {
        "hello".into()
    }
}

fn main() {}
