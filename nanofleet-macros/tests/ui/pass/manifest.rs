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
    permissions(
        network = ["api.example.com:443", "*.example.org:443", "10.0.0.5:8080"],
        filesystem = "read-only",
        spawn,
        memory = "128MiB",
        cpus = 0.5,
        pids = 64,
    ),
    min_host_version = ">=0.1",
    icon = "https://example.com/full.svg",
)]
impl Full {
    /// The web UI, served on `ui_port`.
    fn ui(&self) -> nanofleet_sdk::ui::Ui {
        nanofleet_sdk::ui::Ui::static_dir("ui")
    }
}

/// A plugin's typed settings.
#[derive(nanofleet_sdk::serde::Deserialize, nanofleet_sdk::schemars::JsonSchema)]
#[serde(crate = "nanofleet_sdk::serde")]
#[schemars(crate = "nanofleet_sdk::schemars")]
struct Settings {
    /// Base URL
    ///
    /// Where the service answers.
    base_url: String,
    /// The service's token.
    token: nanofleet_sdk::Secret,
    /// Results per page.
    #[serde(default = "ten")]
    #[schemars(range(min = 1, max = 100))]
    per_page: u32,
}

fn ten() -> u32 {
    10
}

struct Configured;

#[plugin(name = "configured", image = "acme/configured", mcp_port = 8080, config = Settings)]
impl Configured {
    /// Where the plugin sends its requests.
    #[tool(icon = "https://example.com/endpoint.svg")]
    fn endpoint(&self, config: nanofleet_sdk::Config<Settings>) -> String {
        format!("{}?per_page={}", config.base_url, config.per_page)
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
    let permissions = nanofleet_sdk::serde_json::to_value(&full.permissions).expect("json");
    assert_eq!(
        permissions,
        nanofleet_sdk::serde_json::json!({
            "network": {"allow": ["api.example.com:443", "*.example.org:443", "10.0.0.5:8080"]},
            "filesystem": "read-only",
            "process": {"spawn": true},
            "resources": {"memory": "128MiB", "cpus": 0.5, "pids": 64}
        })
    );
    assert_eq!(full.min_host_version.as_deref(), Some(">=0.1"));
    assert_eq!(full.icon.as_deref(), Some("https://example.com/full.svg"));
    assert!(!full.validate().has_errors());

    let defaults = Defaults::manifest();
    assert_eq!(defaults.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(defaults.image, concat!("acme/defaults:", env!("CARGO_PKG_VERSION")));
    assert_eq!(defaults.description, env!("CARGO_PKG_DESCRIPTION"));
    assert_eq!(defaults.sidebar.expect("sidebar").route, "/plugins/defaults/ui");
    assert!(defaults.permissions.is_default());
    assert_eq!((defaults.min_host_version, defaults.icon), (None, None));
    assert!(Defaults.plugin().is_ok());
    assert!(Full.plugin().is_ok());

    let configured = Configured::manifest();
    let keys: Vec<&String> = configured.config.iter().map(|(key, _)| key).collect();
    assert_eq!(keys, ["base_url", "per_page", "token"]);
    let token = configured.config.get("token").expect("token");
    assert!(token.required && token.sensitive);
    assert_eq!(configured.config.get("base_url").and_then(|s| s.title.as_deref()), Some("Base URL"));
    let plugin = Configured.plugin().expect("plugin");
    assert_eq!(plugin.manifest().config, configured.config);
    let icons = nanofleet_sdk::serde_json::to_value(&plugin.tools()[0].icons).expect("json");
    assert_eq!(icons, nanofleet_sdk::serde_json::json!([{"src": "https://example.com/endpoint.svg"}]));
    let env = nanofleet_sdk::env::PluginEnv::default();
    let error = plugin.start(env.clone()).err().expect("refused").to_string();
    assert!(error.contains("required settings without a value: base_url, token"), "{error}");
    let env = env
        .with_var("NANO_CONFIG_BASE_URL", "https://example.com")
        .with_var("NANO_CONFIG_TOKEN", "s3cret");
    assert!(plugin.start(env).is_ok());
}
