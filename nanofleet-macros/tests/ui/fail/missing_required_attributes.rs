use nanofleet_sdk::plugin;

struct Notes;

#[plugin(version = "0.1.0")]
impl Notes {}

fn main() {
    let _ = Notes::manifest();
}
