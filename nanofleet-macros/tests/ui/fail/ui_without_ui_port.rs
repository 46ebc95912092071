use nanofleet_sdk::{plugin, ui::Ui};

struct Board;

#[plugin(name = "board", image = "nanofleet/board:0.0.0", mcp_port = 8080, ui = Self::ui)]
impl Board {
    fn ui(&self) -> Ui {
        Ui::static_dir("ui")
    }
}

fn main() {}
