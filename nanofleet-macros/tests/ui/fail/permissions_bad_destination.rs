use nanofleet_sdk::plugin;

struct Notes;

#[plugin(
    name = "notes",
    image = "nanofleet/notes:0.0.0",
    mcp_port = 8080,
    permissions(network = ["api.example.com:443", "api.example.com"]),
)]
impl Notes {}

fn main() {}
