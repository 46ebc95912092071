//! Every `#[plugin(...)]` attribute, and the defaults from Cargo.toml.
#![deny(warnings)]

use nanofleet_sdk::plugin;

struct Full;

/// Ignored: `description` wins over the doc comment.
#[plugin(
    name = "full-plugin",
    version = "1.2.3-beta.1",
    description = "Everything set.",
    author = "ACME",
    image = "ghcr.io/acme/full:1.2.3-beta.1",
    mcp_port = 9000,
    ui_port = 9001,
    sidebar(icon = "layout", label = "Full", route = "/plugins/full-plugin/ui"),
    required_env_vars = ["OPENAI_API_KEY", "_PRIVATE"],
    ui = Self::ui,
)]
impl Full {
    /// The web UI, served on `ui_port`.
    fn ui(&self) -> nanofleet_sdk::ui::Ui {
        nanofleet_sdk::ui::Ui::static_dir("ui")
    }
}

struct Defaults;

#[plugin(name = "defaults", image = "acme/defaults", mcp_port = 8080, ui_port = 8081, sidebar(icon = "i", label = "Defaults"))]
impl Defaults {}

fn main() {
    let full = Full::manifest();
    assert_eq!(full.version, "1.2.3-beta.1");
    assert_eq!(full.description, "Everything set.");
    assert_eq!(full.author, "ACME");
    assert_eq!(full.image, "ghcr.io/acme/full:1.2.3-beta.1");
    assert_eq!((full.mcp_port, full.ui_port), (9000, Some(9001)));
    assert_eq!(full.required_env_vars, ["OPENAI_API_KEY", "_PRIVATE"]);
    assert!(!full.validate().has_errors());

    let defaults = Defaults::manifest();
    assert_eq!(defaults.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(defaults.image, concat!("acme/defaults:", env!("CARGO_PKG_VERSION")));
    assert_eq!(defaults.description, env!("CARGO_PKG_DESCRIPTION"));
    assert_eq!(defaults.sidebar.expect("sidebar").route, "/plugins/defaults/ui");
    assert!(Defaults.plugin().is_ok());
    assert!(Full.plugin().is_ok());
}
