use nanofleet_sdk::data;

#[data]
fn note() -> String {
    String::new()
}

fn main() {
    let _ = note();
}
