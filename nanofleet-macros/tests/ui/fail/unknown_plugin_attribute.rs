use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_prot = 8080, colour = "blue")]
impl Notes {}

fn main() {}
