use nanofleet_sdk::plugin;

struct Notes;

#[plugin(
    name = "notes",
    image = "nanofleet/notes:0.0.0",
    mcp_port = 8080,
    required_env_vars = ["OPENAI_API_KEY", "api-key"],
)]
impl Notes {}

fn main() {}
