use nanofleet_sdk::plugin;

#[derive(Debug)]
struct NotFound;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Gets.
    #[tool]
    fn get(&self, id: u64) -> Result<String, NotFound> {
        let _ = id;
        Err(NotFound)
    }
}

fn main() {}
