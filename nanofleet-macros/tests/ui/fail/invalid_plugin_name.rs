use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "My Notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {}

fn main() {}
