use nanofleet_sdk::plugin;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
struct Notes;

fn main() {}
