use nanofleet_sdk::plugin;

struct Notes;

#[plugin(
    name = "notes",
    image = "nanofleet/notes:0.0.0",
    mcp_port = 8080,
    ui_port = 8081,
    sidebar(icon = "notebook"),
)]
impl Notes {}

fn main() {}
