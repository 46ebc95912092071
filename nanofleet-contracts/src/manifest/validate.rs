//! [`Manifest::validate`]: the rules of [`rules`] applied to every field, all problems at once.

use std::collections::HashMap;

use super::{ConfigSchema, Diagnostics, Manifest, Permissions, Sidebar, rules};

impl Manifest {
    /// Checks every rule and returns every problem, errors and warnings, in field order.
    ///
    /// The manifest is usable when the result [has no errors](Diagnostics::has_errors);
    /// warnings point at probable mistakes such as an untagged image.
    #[must_use]
    pub fn validate(&self) -> Diagnostics {
        Draft::of(self).validate()
    }
}

/// A manifest as far as it could be read, so that the parser can validate the fields that
/// parsed while others had the wrong type.
///
/// `None` marks a field that failed to parse: its rules, and the rules relating it to other
/// fields, are skipped, so that one mistake is reported once. For optional fields, `Some(None)`
/// is an absent field.
#[derive(Debug, Default)]
pub(super) struct Draft<'a> {
    pub(super) name: Option<&'a str>,
    pub(super) version: Option<&'a str>,
    pub(super) description: Option<&'a str>,
    pub(super) author: Option<&'a str>,
    pub(super) image: Option<&'a str>,
    pub(super) mcp_port: Option<u16>,
    pub(super) ui_port: Option<Option<u16>>,
    pub(super) sidebar: Option<Option<SidebarDraft<'a>>>,
    /// One entry per element: `None` for an element of the wrong type.
    pub(super) required_env_vars: Option<Vec<Option<&'a str>>>,
    pub(super) permissions: Option<Permissions>,
    pub(super) min_host_version: Option<Option<&'a str>>,
    pub(super) icon: Option<Option<&'a str>>,
    pub(super) config: Option<ConfigSchema>,
}

/// A sidebar entry as far as it could be read; see [`Draft`].
#[derive(Debug, Default)]
pub(super) struct SidebarDraft<'a> {
    pub(super) icon: Option<&'a str>,
    pub(super) label: Option<&'a str>,
    pub(super) route: Option<&'a str>,
}

impl<'a> Draft<'a> {
    /// A draft of a complete manifest, every field known.
    pub(super) fn of(manifest: &'a Manifest) -> Self {
        Self {
            name: Some(&manifest.name),
            version: Some(&manifest.version),
            description: Some(&manifest.description),
            author: Some(&manifest.author),
            image: Some(&manifest.image),
            mcp_port: Some(manifest.mcp_port),
            ui_port: Some(manifest.ui_port),
            sidebar: Some(manifest.sidebar.as_ref().map(|s| SidebarDraft {
                icon: Some(&s.icon),
                label: Some(&s.label),
                route: Some(&s.route),
            })),
            required_env_vars: Some(
                manifest
                    .required_env_vars
                    .iter()
                    .map(|v| Some(v.as_str()))
                    .collect(),
            ),
            permissions: Some(manifest.permissions.clone()),
            min_host_version: Some(manifest.min_host_version.as_deref()),
            icon: Some(manifest.icon.as_deref()),
            config: Some(manifest.config.clone()),
        }
    }

    /// The manifest, if every field was read.
    pub(super) fn to_manifest(&self) -> Option<Manifest> {
        let sidebar = match self.sidebar.as_ref()? {
            Some(s) => Some(Sidebar::new(s.icon?, s.label?, s.route?)),
            None => None,
        };
        let required_env_vars = self
            .required_env_vars
            .as_ref()?
            .iter()
            .map(|var| var.map(str::to_owned))
            .collect::<Option<Vec<_>>>()?;
        Some(Manifest {
            name: self.name?.to_owned(),
            version: self.version?.to_owned(),
            description: self.description?.to_owned(),
            author: self.author?.to_owned(),
            image: self.image?.to_owned(),
            mcp_port: self.mcp_port?,
            ui_port: self.ui_port?,
            sidebar,
            required_env_vars,
            permissions: self.permissions.clone()?,
            min_host_version: self.min_host_version?.map(str::to_owned),
            icon: self.icon?.map(str::to_owned),
            config: self.config.clone()?,
        })
    }

    /// Checks the rules of every known field.
    pub(super) fn validate(&self) -> Diagnostics {
        let mut diagnostics = Diagnostics::new();
        self.check_name(&mut diagnostics);
        self.check_version(&mut diagnostics);
        self.check_description(&mut diagnostics);
        self.check_image(&mut diagnostics);
        self.check_ports(&mut diagnostics);
        self.check_sidebar(&mut diagnostics);
        self.check_required_env_vars(&mut diagnostics);
        if let Some(permissions) = &self.permissions {
            permissions.validate_into("permissions", &mut diagnostics);
        }
        if let Some(Some(requirement)) = self.min_host_version
            && let Err(violation) = rules::check_host_version_requirement(requirement)
        {
            diagnostics.error("minHostVersion", violation.message, violation.hint);
        }
        if let Some(Some(icon)) = self.icon
            && let Err(violation) = rules::check_icon(icon)
        {
            diagnostics.error("icon", violation.message, violation.hint);
        }
        if let Some(config) = &self.config {
            config.validate_into("config", &mut diagnostics);
        }
        diagnostics
    }

    fn check_name(&self, diagnostics: &mut Diagnostics) {
        let Some(name) = self.name else { return };
        for violation in rules::plugin_name_violations(name) {
            diagnostics.error("name", violation.message, violation.hint);
        }
    }

    fn check_version(&self, diagnostics: &mut Diagnostics) {
        let Some(version) = self.version else { return };
        if let Err(violation) = rules::check_version(version) {
            diagnostics.error("version", violation.message, violation.hint);
        }
    }

    fn check_description(&self, diagnostics: &mut Diagnostics) {
        if self.description.is_some_and(|d| d.trim().is_empty()) {
            diagnostics.warning(
                "description",
                "the description is empty",
                Some("add one sentence: the dashboard shows it under the plugin's name".into()),
            );
        }
    }

    fn check_image(&self, diagnostics: &mut Diagnostics) {
        let Some(image) = self.image else { return };
        match rules::parse_image_ref(image) {
            Err(violation) => diagnostics.error("image", violation.message, violation.hint),
            Ok(reference) if !reference.is_pinned() => {
                let tag = self
                    .version
                    .filter(|v| rules::check_version(v).is_ok())
                    .unwrap_or("1.0.0");
                diagnostics.warning(
                    "image",
                    format!(
                        "`{image}` has no tag or digest, so it means `{image}:latest`, which \
                         changes under the host"
                    ),
                    Some(format!("pin a version, e.g. `{image}:{tag}`")),
                );
            }
            Ok(_) => {}
        }
    }

    fn check_ports(&self, diagnostics: &mut Diagnostics) {
        if let Some(port) = self.mcp_port {
            check_port("mcpPort", port, diagnostics);
        }
        let Some(Some(ui_port)) = self.ui_port else {
            return;
        };
        check_port("uiPort", ui_port, diagnostics);
        if self.mcp_port == Some(ui_port) {
            diagnostics.error(
                "uiPort",
                format!(
                    "uiPort and mcpPort are both {ui_port}: the MCP server and the UI need a \
                     port each"
                ),
                Some(format!("e.g. {}", suggest_other_port(ui_port))),
            );
        }
    }

    fn check_sidebar(&self, diagnostics: &mut Diagnostics) {
        let Some(Some(sidebar)) = &self.sidebar else {
            return;
        };
        if self.ui_port == Some(None) {
            let hint = self.mcp_port.map_or(8081, suggest_other_port);
            diagnostics.error(
                "uiPort",
                "a sidebar entry needs a uiPort: the host serves its page from it",
                Some(format!("add \"uiPort\": {hint}, or remove the sidebar")),
            );
        }
        if sidebar.icon.is_some_and(|icon| icon.trim().is_empty()) {
            diagnostics.error(
                "sidebar.icon",
                "the sidebar icon is empty",
                Some("name an icon, e.g. `layout`".into()),
            );
        }
        if sidebar.label.is_some_and(|label| label.trim().is_empty()) {
            let example = self.name.filter(|n| !n.is_empty()).unwrap_or("My plugin");
            diagnostics.error(
                "sidebar.label",
                "the sidebar label is empty",
                Some(format!("the text of the sidebar entry, e.g. `{example}`")),
            );
        }
        if let (Some(route), Some(name)) = (sidebar.route, self.name) {
            let expected = rules::default_sidebar_route(name);
            if route != expected {
                diagnostics.warning(
                    "sidebar.route",
                    format!(
                        "the route `{route}` is not `{expected}`, where the host mounts the \
                         plugin's UI"
                    ),
                    Some(format!("use `{expected}`")),
                );
            }
        }
    }

    fn check_required_env_vars(&self, diagnostics: &mut Diagnostics) {
        let Some(vars) = &self.required_env_vars else {
            return;
        };
        let mut first_seen: HashMap<&str, usize> = HashMap::new();
        for (index, var) in vars.iter().enumerate() {
            let Some(var) = *var else { continue };
            let path = format!("requiredEnvVars[{index}]");
            if let Some(first) = first_seen.get(var) {
                // The first occurrence has been checked; repeating its problems would be noise.
                diagnostics.error(
                    path,
                    format!("`{var}` is listed twice, first at requiredEnvVars[{first}]"),
                    Some("remove the duplicate".into()),
                );
                continue;
            }
            first_seen.insert(var, index);
            if let Err(violation) = rules::check_env_var_name(var) {
                diagnostics.error(path.clone(), violation.message, violation.hint);
            }
            if let Err(violation) = rules::check_env_var_not_reserved(var) {
                diagnostics.error(path, violation.message, violation.hint);
            }
        }
    }
}

fn check_port(path: &str, port: u16, diagnostics: &mut Diagnostics) {
    if let Err(violation) = rules::check_port(u32::from(port)) {
        diagnostics.error(path, violation.message, violation.hint);
    }
}

/// A valid port near `port` for a hint, preferring the next one up.
fn suggest_other_port(port: u16) -> u16 {
    match port.checked_add(1) {
        Some(next) if rules::check_port(u32::from(next)).is_ok() => next,
        _ => 8081,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Diagnostic, Level};

    fn valid() -> Manifest {
        Manifest::new("kanban", "0.1.0", "nanofleet/kanban:0.1.0", 8080)
            .with_description("A task board")
            .with_ui(8081, Sidebar::new("layout", "Kanban", "/plugins/kanban/ui"))
            .with_required_env_vars(["OPENAI_API_KEY"])
    }

    /// The `(level, path)` of every diagnostic, the part each test pins down.
    fn located(manifest: &Manifest) -> Vec<(Level, String)> {
        manifest
            .validate()
            .iter()
            .map(|d| (d.level, d.path.clone()))
            .collect()
    }

    fn error(path: &str) -> (Level, String) {
        (Level::Error, path.to_owned())
    }

    fn warning(path: &str) -> (Level, String) {
        (Level::Warning, path.to_owned())
    }

    #[test]
    fn valid_manifest_has_no_diagnostics() {
        assert_eq!(located(&valid()), []);
    }

    #[test]
    fn bad_name_characters_are_an_error_with_a_suggestion() {
        let manifest = Manifest {
            name: "My_Plugin".into(),
            ..valid()
        };
        let diagnostics = manifest.validate();
        let name_errors: Vec<&Diagnostic> =
            diagnostics.iter().filter(|d| d.path == "name").collect();
        assert_eq!(name_errors.len(), 1, "{diagnostics}");
        assert_eq!(name_errors[0].level, Level::Error);
        assert_eq!(name_errors[0].hint.as_deref(), Some("try `my-plugin`"));
    }

    #[test]
    fn empty_name_is_an_error() {
        let manifest = Manifest {
            name: String::new(),
            ..valid()
        };
        assert!(located(&manifest).contains(&error("name")));
    }

    #[test]
    fn long_name_is_an_error() {
        let name = "a".repeat(65);
        let manifest = Manifest {
            sidebar: Some(Sidebar::new(
                "layout",
                "Kanban",
                rules::default_sidebar_route(&name),
            )),
            name,
            ..valid()
        };
        assert_eq!(located(&manifest), [error("name")]);
    }

    #[test]
    fn dashes_at_the_ends_of_the_name_are_an_error() {
        let manifest = Manifest {
            name: "-kanban-".into(),
            sidebar: Some(Sidebar::new("layout", "Kanban", "/plugins/-kanban-/ui")),
            ..valid()
        };
        let diagnostics = manifest.validate();
        assert_eq!(located(&manifest), [error("name")]);
        assert!(
            diagnostics
                .iter()
                .all(|d| d.hint.as_deref() == Some("try `kanban`"))
        );
    }

    #[test]
    fn name_with_several_problems_reports_each() {
        let name = format!("-{}", "X".repeat(70));
        let manifest = Manifest {
            sidebar: Some(Sidebar::new(
                "layout",
                "Kanban",
                rules::default_sidebar_route(&name),
            )),
            name,
            ..valid()
        };
        assert_eq!(
            located(&manifest),
            [error("name"), error("name"), error("name")]
        );
    }

    #[test]
    fn non_semver_version_is_an_error() {
        let manifest = Manifest {
            version: "1.0".into(),
            ..valid()
        };
        let diagnostics = manifest.validate();
        assert_eq!(located(&manifest), [error("version")]);
        assert_eq!(
            diagnostics.iter().next().and_then(|d| d.hint.as_deref()),
            Some("try `1.0.0`")
        );
    }

    #[test]
    fn empty_description_is_a_warning() {
        let manifest = Manifest {
            description: "  ".into(),
            ..valid()
        };
        assert_eq!(located(&manifest), [warning("description")]);
    }

    #[test]
    fn invalid_image_is_an_error() {
        let manifest = Manifest {
            image: "Nano/x".into(),
            ..valid()
        };
        assert_eq!(located(&manifest), [error("image")]);
    }

    #[test]
    fn untagged_image_is_a_warning_suggesting_the_version() {
        let manifest = Manifest {
            image: "ghcr.io/acme/kanban".into(),
            ..valid()
        };
        let diagnostics = manifest.validate();
        assert_eq!(located(&manifest), [warning("image")]);
        assert_eq!(
            diagnostics.iter().next().and_then(|d| d.hint.as_deref()),
            Some("pin a version, e.g. `ghcr.io/acme/kanban:0.1.0`")
        );
    }

    #[test]
    fn digest_pinned_image_needs_no_tag() {
        let image = format!("localhost:5000/a/b@sha256:{}", "ab".repeat(32));
        let manifest = Manifest { image, ..valid() };
        assert_eq!(located(&manifest), []);
    }

    #[test]
    fn privileged_mcp_port_is_an_error() {
        let manifest = Manifest {
            mcp_port: 80,
            ..valid()
        };
        assert_eq!(located(&manifest), [error("mcpPort")]);
    }

    #[test]
    fn privileged_ui_port_is_an_error() {
        let manifest = Manifest {
            ui_port: Some(0),
            ..valid()
        };
        assert_eq!(located(&manifest), [error("uiPort")]);
    }

    #[test]
    fn equal_ports_are_an_error() {
        let manifest = Manifest {
            ui_port: Some(8080),
            ..valid()
        };
        assert_eq!(located(&manifest), [error("uiPort")]);
    }

    #[test]
    fn sidebar_without_ui_port_is_an_error() {
        let manifest = Manifest {
            ui_port: None,
            ..valid()
        };
        assert_eq!(located(&manifest), [error("uiPort")]);
    }

    #[test]
    fn ui_port_without_sidebar_is_fine() {
        let manifest = Manifest {
            sidebar: None,
            ..valid()
        };
        assert_eq!(located(&manifest), []);
    }

    #[test]
    fn empty_sidebar_icon_and_label_are_errors() {
        let manifest = Manifest {
            sidebar: Some(Sidebar::new("", " ", "/plugins/kanban/ui")),
            ..valid()
        };
        assert_eq!(
            located(&manifest),
            [error("sidebar.icon"), error("sidebar.label")]
        );
    }

    #[test]
    fn unexpected_sidebar_route_is_a_warning_with_the_expected_route() {
        let manifest = Manifest {
            sidebar: Some(Sidebar::new("layout", "Kanban", "/kanban")),
            ..valid()
        };
        let diagnostics = manifest.validate();
        assert_eq!(located(&manifest), [warning("sidebar.route")]);
        assert_eq!(
            diagnostics.iter().next().and_then(|d| d.hint.as_deref()),
            Some("use `/plugins/kanban/ui`")
        );
    }

    #[test]
    fn invalid_env_var_name_is_an_error() {
        let manifest = valid().with_required_env_vars(["OK", "NOT-OK"]);
        assert_eq!(located(&manifest), [error("requiredEnvVars[1]")]);
    }

    #[test]
    fn duplicate_env_var_is_an_error_at_the_duplicate() {
        let manifest = valid().with_required_env_vars(["A", "B", "A"]);
        assert_eq!(located(&manifest), [error("requiredEnvVars[2]")]);
    }

    #[test]
    fn reserved_env_var_is_an_error_naming_the_injected_ones() {
        let manifest = valid().with_required_env_vars(["NANO_API_URL"]);
        let diagnostics = manifest.validate();
        assert_eq!(located(&manifest), [error("requiredEnvVars[0]")]);
        let hint = diagnostics
            .iter()
            .next()
            .and_then(|d| d.hint.clone())
            .unwrap_or_default();
        assert!(hint.contains("NANO_INTERNAL_TOKEN"), "{hint}");
    }

    #[test]
    fn broken_manifest_reports_every_problem() {
        let manifest = Manifest {
            name: "Bad Name".into(),
            version: "one".into(),
            description: String::new(),
            author: String::new(),
            image: "x:".into(),
            mcp_port: 80,
            ui_port: None,
            sidebar: Some(Sidebar::new("", "", "/elsewhere")),
            required_env_vars: vec!["NANO_X".into(), "1BAD".into(), "1BAD".into()],
            permissions: Permissions {
                resources: crate::manifest::Resources {
                    pids: Some(0),
                    ..Default::default()
                },
                ..Default::default()
            },
            min_host_version: Some("newest".into()),
            icon: Some("http://example.com/x.png".into()),
            config: Default::default(),
        };
        assert_eq!(
            located(&manifest),
            [
                error("name"),
                error("version"),
                warning("description"),
                error("image"),
                error("mcpPort"),
                error("uiPort"),
                error("sidebar.icon"),
                error("sidebar.label"),
                warning("sidebar.route"),
                error("requiredEnvVars[0]"),
                error("requiredEnvVars[1]"),
                error("requiredEnvVars[2]"),
                error("permissions.resources.pids"),
                error("minHostVersion"),
                error("icon"),
            ]
        );
    }

    #[test]
    fn reserved_plugin_name_is_an_error_with_another_name() {
        let manifest = Manifest {
            name: "nanofleet".into(),
            sidebar: Some(Sidebar::new("layout", "N", "/plugins/nanofleet/ui")),
            ..valid()
        };
        let diagnostics = manifest.validate();
        let problem = diagnostics.iter().find(|d| d.path == "name");
        assert!(
            problem.is_some_and(|d| d.message.contains("reserved")
                && d.hint.as_deref() == Some("choose another, e.g. `nanofleet-plugin`")),
            "{diagnostics}"
        );
    }

    #[test]
    fn host_version_requirement_and_icon_are_checked() {
        let ok = valid()
            .with_min_host_version(">=0.1, <2")
            .with_icon("https://example.com/icons/kanban.svg");
        assert_eq!(located(&ok), []);
        let data = valid().with_icon("data:image/svg+xml;base64,PHN2Zy8+");
        assert_eq!(located(&data), []);
        for bad in [
            "data:text/html,<script>",
            "javascript:alert(1)",
            "https://",
            "https://a b",
        ] {
            assert_eq!(located(&valid().with_icon(bad)), [error("icon")], "{bad}");
        }
        let huge = format!("data:image/png;base64,{}", "A".repeat(rules::MAX_ICON_LEN));
        assert_eq!(located(&valid().with_icon(huge)), [error("icon")]);
        assert_eq!(
            located(&valid().with_min_host_version("v1")),
            [error("minHostVersion")]
        );
    }

    #[test]
    fn host_version_gate_names_both_versions() {
        let host = semver::Version::new(0, 1, 0);
        assert!(rules::check_host_version(">=0.1", &host).is_ok());
        let refused = rules::check_host_version(">=0.4", &host)
            .err()
            .map(|v| v.message)
            .unwrap_or_default();
        assert!(
            refused.contains(">=0.4") && refused.contains("0.1.0"),
            "{refused}"
        );
    }
}
