use nanofleet_sdk::data;

#[data(Deserialize, JsonSchema, Deserialize)]
enum Order {
    Oldest,
    Newest,
}

fn main() {
    let _ = [Order::Oldest, Order::Newest];
}
