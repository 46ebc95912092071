use nanofleet_sdk::plugin;

const PORT: u16 = 8080;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = PORT)]
impl Notes {}

fn main() {}
