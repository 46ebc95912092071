use nanofleet_sdk::plugin;

struct Notes;

#[plugin(
    name = "notes",
    image = "nanofleet/notes:0.0.0",
    mcp_port = 8080,
    permissions(cpus = 4096.0),
)]
impl Notes {}

fn main() {}
