use nanofleet_sdk::plugin;

struct Notes;

#[plugin(
    name = "nanofleet",
    image = "acme/nanofleet:0.0.0",
    mcp_port = 8080,
)]
impl Notes {}

fn main() {}
