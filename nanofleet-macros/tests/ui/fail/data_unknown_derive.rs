use nanofleet_sdk::data;

#[data(Serialise, Debug, JsonSchema)]
struct Note {
    text: String,
}

fn main() {
    let _ = Note { text: String::new() }.text;
}
