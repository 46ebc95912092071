//! Reading a manifest from untrusted JSON, reporting every problem rather than the first.
//!
//! serde stops at the first type error; a plugin author wants the whole list. So the document is
//! read as a [`Value`] and each field is checked by hand, then the fields that were read are
//! validated even if others were not.

use serde_json::{Map, Value};

use super::validate::{Draft, SidebarDraft};
use super::{ConfigSchema, Diagnostics, Manifest, Permissions, config, permissions, rules};

/// The fields of a manifest, as spelled in JSON.
const FIELDS: [&str; 13] = [
    "name",
    "version",
    "description",
    "author",
    "image",
    "mcpPort",
    "uiPort",
    "sidebar",
    "requiredEnvVars",
    "permissions",
    "minHostVersion",
    "icon",
    "config",
];

/// The NanoFleet host's own optional fields, which this SDK does not support.
const UNSUPPORTED_FIELDS: [&str; 3] = ["mountShared", "generateEnvVars", "replacesNativeFeatures"];

/// The fields of the sidebar object.
const SIDEBAR_FIELDS: [&str; 3] = ["icon", "label", "route"];

const PORT_EXPECTED: &str = "an integer from 1024 to 65535";

/// The outcome of reading a manifest: the manifest when it could be built, and every problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    /// The manifest, when every field had the right type. It may still break rules: check
    /// [`diagnostics`](Self::diagnostics) for errors.
    pub manifest: Option<Manifest>,
    /// Every problem found, type errors and rule violations alike.
    pub diagnostics: Diagnostics,
}

impl ParsedManifest {
    /// Whether the manifest was read and has no errors (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.manifest.is_some() && !self.diagnostics.has_errors()
    }

    /// The manifest and its warnings, or every problem if it is unusable.
    ///
    /// # Errors
    ///
    /// All the diagnostics, when the manifest could not be read or has errors.
    pub fn into_result(self) -> Result<(Manifest, Diagnostics), Diagnostics> {
        match self.manifest {
            Some(manifest) if !self.diagnostics.has_errors() => Ok((manifest, self.diagnostics)),
            _ => Err(self.diagnostics),
        }
    }
}

impl Manifest {
    /// Reads `manifest.json` from untrusted text, reporting every problem at once.
    ///
    /// Malformed JSON is one error with its line and column. Otherwise each field is checked
    /// for its type, unknown fields are warned about, and the fields that were read are
    /// [validated](Manifest::validate). A manifest accepted here also deserializes with serde.
    #[must_use]
    pub fn parse_json(text: &str) -> ParsedManifest {
        // Some editors on Windows start files with a byte-order mark, which JSON does not allow.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        match serde_json::from_str::<Value>(text) {
            Ok(value) => Self::parse_value(&value),
            Err(err) => {
                let mut diagnostics = Diagnostics::new();
                diagnostics.error("", malformed_message(&err), malformed_hint(&err, text));
                ParsedManifest {
                    manifest: None,
                    diagnostics,
                }
            }
        }
    }

    /// Reads a manifest from an already parsed JSON value; see [`Manifest::parse_json`].
    #[must_use]
    pub fn parse_value(value: &Value) -> ParsedManifest {
        let mut diagnostics = Diagnostics::new();
        let Some(object) = value.as_object() else {
            diagnostics.error(
                "",
                format!("a manifest must be a JSON object, found {}", kind(value)),
                Some(
                    "start from `{\"name\": …, \"version\": …, \"image\": …, \"mcpPort\": …}`"
                        .into(),
                ),
            );
            return ParsedManifest {
                manifest: None,
                diagnostics,
            };
        };
        let draft = read_object(object, &mut diagnostics);
        warn_unknown_fields(object, &mut diagnostics);
        diagnostics.extend(draft.validate());
        ParsedManifest {
            manifest: draft.to_manifest(),
            diagnostics,
        }
    }
}

fn malformed_message(err: &serde_json::Error) -> String {
    // serde_json appends the position to its message; it is restated first here instead.
    let full = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    let reason = full.strip_suffix(&position).unwrap_or(&full);
    format!(
        "malformed JSON at line {}, column {}: {reason}",
        err.line(),
        err.column()
    )
}

fn malformed_hint(err: &serde_json::Error, text: &str) -> Option<String> {
    use serde_json::error::Category;
    match err.classify() {
        Category::Eof if text.trim().is_empty() => Some("the document is empty".into()),
        Category::Eof => {
            Some("the document ends early: is a closing `}`, `]` or `\"` missing?".into())
        }
        Category::Syntax => Some(
            "look for a missing or trailing comma, an unquoted key or single quotes near there"
                .into(),
        ),
        Category::Data | Category::Io => None,
    }
}

fn read_object<'a>(object: &'a Map<String, Value>, diagnostics: &mut Diagnostics) -> Draft<'a> {
    let mut fields = Fields {
        object,
        prefix: String::new(),
        diagnostics,
    };
    Draft {
        name: fields.required("name", "the plugin's name, e.g. \"kanban\"", read_string),
        version: fields.required("version", "a semantic version, e.g. \"0.1.0\"", read_string),
        description: fields.optional("description", "", read_string),
        author: fields.optional("author", "", read_string),
        image: fields.required(
            "image",
            "the Docker image to run, e.g. \"ghcr.io/acme/kanban:0.1.0\"",
            read_string,
        ),
        mcp_port: fields.required("mcpPort", "the MCP server's port, e.g. 8080", read_port),
        ui_port: fields.nullable("uiPort", read_port),
        sidebar: fields.nullable("sidebar", read_sidebar),
        required_env_vars: fields.optional("requiredEnvVars", Vec::new(), read_string_array),
        permissions: fields.optional("permissions", Permissions::default(), permissions::read),
        min_host_version: fields.nullable("minHostVersion", read_string),
        icon: fields.nullable("icon", read_string),
        config: fields.optional("config", ConfigSchema::default(), config::read),
    }
}

fn warn_unknown_fields(object: &Map<String, Value>, diagnostics: &mut Diagnostics) {
    let candidates: Vec<&str> = FIELDS.iter().chain(&UNSUPPORTED_FIELDS).copied().collect();
    for key in object.keys().map(String::as_str) {
        if FIELDS.contains(&key) {
            continue;
        }
        if UNSUPPORTED_FIELDS.contains(&key) {
            diagnostics.warning(
                key,
                format!(
                    "`{key}` is a NanoFleet option that nanofleet-sdk does not support, ignored"
                ),
                None,
            );
        } else {
            warn_unknown(key, key, &candidates, diagnostics);
        }
    }
}

fn warn_unknown(path: &str, key: &str, candidates: &[&str], diagnostics: &mut Diagnostics) {
    let hint = rules::closest(key, candidates).map(|known| format!("did you mean `{known}`?"));
    diagnostics.warning(path, format!("unknown field `{key}`, ignored"), hint);
}

/// The fields of one JSON object, reporting problems at `prefix` + the field's name.
struct Fields<'a, 'd> {
    object: &'a Map<String, Value>,
    /// `""` at the top level, `"sidebar."` inside the sidebar.
    prefix: String,
    diagnostics: &'d mut Diagnostics,
}

impl<'a> Fields<'a, '_> {
    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A field that must be present. `None` if it is missing or has the wrong type.
    fn required<T>(&mut self, key: &str, what: &str, read: impl Read<'a, T>) -> Option<T> {
        let path = self.path(key);
        let Some(value) = self.object.get(key) else {
            self.diagnostics.error(
                path,
                format!("missing required field `{key}`"),
                Some(format!("add `{key}`: {what}")),
            );
            return None;
        };
        read(&path, value, self.diagnostics)
    }

    /// A field that may be missing, meaning `default`. `None` if it has the wrong type.
    ///
    /// `null` is a wrong type here, as it is for serde with `#[serde(default)]`: a manifest
    /// accepted here must also deserialize with serde.
    fn optional<T>(&mut self, key: &str, default: T, read: impl Read<'a, T>) -> Option<T> {
        match self.object.get(key) {
            None => Some(default),
            Some(value) => read(&self.path(key), value, self.diagnostics),
        }
    }

    /// A field that may be missing or `null`, like an `Option` with serde.
    fn nullable<T>(&mut self, key: &str, read: impl Read<'a, T>) -> Option<Option<T>> {
        match self.object.get(key) {
            None | Some(Value::Null) => Some(None),
            Some(value) => read(&self.path(key), value, self.diagnostics).map(Some),
        }
    }
}

/// Reads the value at a path as a `T`, or reports why it cannot and returns `None`.
trait Read<'a, T>: FnOnce(&str, &'a Value, &mut Diagnostics) -> Option<T> {}

impl<'a, T, F: FnOnce(&str, &'a Value, &mut Diagnostics) -> Option<T>> Read<'a, T> for F {}

fn read_string<'a>(path: &str, value: &'a Value, diagnostics: &mut Diagnostics) -> Option<&'a str> {
    if let Value::String(s) = value {
        return Some(s);
    }
    let hint = match value {
        Value::Number(n) => Some(format!("quote it: \"{n}\"")),
        _ => None,
    };
    mismatch(path, "a string", value, hint, diagnostics);
    None
}

fn read_port(path: &str, value: &Value, diagnostics: &mut Diagnostics) -> Option<u16> {
    let hint = match value {
        Value::Number(n) => {
            if let Some(port) = n.as_u64().and_then(|n| u16::try_from(n).ok()) {
                // The range rule is the validator's; checking it here too would report it twice.
                return Some(port);
            }
            let hint = if n.as_u64().is_some() {
                "the highest TCP port is 65535"
            } else if n.as_i64().is_some() {
                "ports are positive"
            } else {
                "write a whole number without a fraction"
            };
            diagnostics.error(
                path,
                format!("expected {PORT_EXPECTED}, found {n}"),
                Some(hint.into()),
            );
            return None;
        }
        Value::String(s) => s
            .trim()
            .parse::<u16>()
            .ok()
            .map(|port| format!("remove the quotes: {port}")),
        _ => None,
    };
    mismatch(path, PORT_EXPECTED, value, hint, diagnostics);
    None
}

fn read_string_array<'a>(
    path: &str,
    value: &'a Value,
    diagnostics: &mut Diagnostics,
) -> Option<Vec<Option<&'a str>>> {
    let Value::Array(items) = value else {
        let hint = match value {
            Value::String(s) => Some(format!("make it a list: [\"{s}\"]")),
            _ => None,
        };
        mismatch(path, "an array of strings", value, hint, diagnostics);
        return None;
    };
    let strings = items
        .iter()
        .enumerate()
        .map(|(index, item)| read_string(&format!("{path}[{index}]"), item, diagnostics))
        .collect();
    Some(strings)
}

fn read_sidebar<'a>(
    path: &str,
    value: &'a Value,
    diagnostics: &mut Diagnostics,
) -> Option<SidebarDraft<'a>> {
    let Value::Object(object) = value else {
        let expected = "an object with `icon`, `label` and `route`";
        mismatch(path, expected, value, None, diagnostics);
        return None;
    };
    let mut fields = Fields {
        object,
        prefix: format!("{path}."),
        diagnostics,
    };
    let sidebar = SidebarDraft {
        icon: fields.required("icon", "an icon name, e.g. \"layout\"", read_string),
        label: fields.required("label", "the entry's text, e.g. \"Kanban\"", read_string),
        route: fields.required(
            "route",
            "the UI's route, \"/plugins/{name}/ui\"",
            read_string,
        ),
    };
    for key in object
        .keys()
        .filter(|k| !SIDEBAR_FIELDS.contains(&k.as_str()))
    {
        warn_unknown(&fields.path(key), key, &SIDEBAR_FIELDS, fields.diagnostics);
    }
    Some(sidebar)
}

fn mismatch(
    path: &str,
    expected: &str,
    found: &Value,
    hint: Option<String>,
    diagnostics: &mut Diagnostics,
) {
    diagnostics.error(
        path,
        format!("expected {expected}, found {}", kind(found)),
        hint,
    );
}

/// A JSON value's type, for "found …".
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::manifest::{Diagnostic, Level};

    const VALID: &str = r#"{
        "name": "kanban",
        "version": "0.1.0",
        "description": "A task board",
        "author": "ACME",
        "image": "nanofleet/kanban:0.1.0",
        "mcpPort": 8080,
        "uiPort": 8081,
        "sidebar": {"icon": "layout", "label": "Kanban", "route": "/plugins/kanban/ui"},
        "requiredEnvVars": ["OPENAI_API_KEY"]
    }"#;

    fn valid_value() -> Value {
        serde_json::from_str(VALID).unwrap_or_default()
    }

    /// `VALID` with `key` set to `value`, or removed when `value` is `None`.
    fn with(key: &str, value: Option<Value>) -> ParsedManifest {
        let mut document = valid_value();
        if let Some(object) = document.as_object_mut() {
            match value {
                Some(value) => object.insert(key.to_owned(), value),
                None => object.remove(key),
            };
        }
        Manifest::parse_value(&document)
    }

    fn located(parsed: &ParsedManifest) -> Vec<(Level, &str)> {
        parsed
            .diagnostics
            .iter()
            .map(|d| (d.level, d.path.as_str()))
            .collect()
    }

    fn only(parsed: &ParsedManifest) -> Option<&Diagnostic> {
        match parsed.diagnostics.len() {
            1 => parsed.diagnostics.iter().next(),
            _ => None,
        }
    }

    #[test]
    fn valid_document_parses_cleanly() {
        let parsed = Manifest::parse_json(VALID);
        assert!(parsed.is_ok());
        assert!(parsed.diagnostics.is_empty(), "{}", parsed.diagnostics);
        let serde: Option<Manifest> = serde_json::from_str(VALID).ok();
        assert_eq!(parsed.manifest, serde);
    }

    #[test]
    fn permissions_host_version_and_icon_are_known_fields() {
        let mut document = valid_value();
        if let Some(object) = document.as_object_mut() {
            object.insert(
                "permissions".into(),
                serde_json::json!({
                    "network": {"allow": ["api.example.com:443"]},
                    "filesystem": "read-only",
                    "process": {"spawn": true},
                    "resources": {"memory": "64MiB", "cpus": 0.5, "pids": 32}
                }),
            );
            object.insert("minHostVersion".into(), ">=0.1".into());
            object.insert("icon".into(), "https://example.com/k.svg".into());
        }
        let parsed = Manifest::parse_value(&document);
        assert!(parsed.diagnostics.is_empty(), "{}", parsed.diagnostics);
        let serde: Option<Manifest> = serde_json::from_value(document).ok();
        assert_eq!(parsed.manifest, serde);
        let manifest = parsed
            .manifest
            .unwrap_or_else(|| Manifest::new("x", "0.1.0", "x:1", 8080));
        assert!(manifest.permissions.process.spawn);
        assert_eq!(manifest.min_host_version.as_deref(), Some(">=0.1"));

        // Type errors inside `permissions` are located, and stop the manifest.
        let bad = with(
            "permissions",
            Some(serde_json::json!({"network": "yes", "resources": {"cpus": "2"}})),
        );
        assert_eq!(
            located(&bad),
            [
                (Level::Error, "permissions.network"),
                (Level::Error, "permissions.resources.cpus")
            ]
        );
        assert!(bad.manifest.is_none());
    }

    #[test]
    fn minimal_document_parses_with_only_the_description_warning() {
        let parsed =
            Manifest::parse_json(r#"{"name":"x","version":"1.0.0","image":"x:1","mcpPort":9000}"#);
        assert!(parsed.is_ok());
        assert_eq!(located(&parsed), [(Level::Warning, "description")]);
    }

    #[test]
    fn byte_order_mark_is_tolerated() {
        assert!(Manifest::parse_json(&format!("\u{feff}{VALID}")).is_ok());
    }

    #[test]
    fn malformed_json_is_one_error_with_line_and_column() {
        let parsed = Manifest::parse_json("{\n  \"name\": \"x\",\n  oops\n}");
        let diagnostic = only(&parsed);
        assert_eq!(
            diagnostic.map(|d| (d.level, d.path.as_str())),
            Some((Level::Error, ""))
        );
        let message = diagnostic.map(|d| d.message.as_str()).unwrap_or_default();
        assert!(
            message.starts_with("malformed JSON at line 3, column 3: "),
            "{message}"
        );
        assert!(
            !message.ends_with("column 3"),
            "position stated twice: {message}"
        );
        assert!(parsed.manifest.is_none());
    }

    #[test]
    fn truncated_and_empty_json_are_errors() {
        for text in ["", "   ", "{\"name\": \"x\""] {
            let parsed = Manifest::parse_json(text);
            assert_eq!(located(&parsed), [(Level::Error, "")], "{text:?}");
            assert!(only(&parsed).is_some_and(|d| d.hint.is_some()));
        }
    }

    #[test]
    fn non_object_is_an_error() {
        for text in ["[]", "\"manifest\"", "42", "null"] {
            let parsed = Manifest::parse_json(text);
            assert_eq!(located(&parsed), [(Level::Error, "")], "{text}");
            assert!(parsed.manifest.is_none());
        }
        let array = Manifest::parse_json("[1]");
        assert!(only(&array).is_some_and(|d| d.message.ends_with("found an array")));
    }

    #[test]
    fn string_port_is_a_type_error_naming_the_expected_type() {
        let parsed = with("mcpPort", Some(json!("8080")));
        let diagnostic = only(&parsed);
        assert_eq!(
            diagnostic.map(|d| (d.level, d.path.as_str())),
            Some((Level::Error, "mcpPort"))
        );
        assert_eq!(
            diagnostic.map(ToString::to_string).as_deref(),
            Some(
                "error at mcpPort: expected an integer from 1024 to 65535, found a string \
                 (hint: remove the quotes: 8080)"
            )
        );
        assert!(parsed.manifest.is_none());
        assert!(!parsed.is_ok());
    }

    #[test]
    fn port_beyond_u16_is_an_error() {
        let parsed = with("mcpPort", Some(json!(70000)));
        assert_eq!(located(&parsed), [(Level::Error, "mcpPort")]);
        assert!(only(&parsed).is_some_and(|d| d.message.contains("found 70000")));
    }

    #[test]
    fn negative_and_fractional_ports_are_errors() {
        for port in [json!(-1), json!(8080.5), json!(1e300)] {
            let parsed = with("uiPort", Some(port.clone()));
            assert_eq!(located(&parsed), [(Level::Error, "uiPort")], "{port}");
        }
    }

    #[test]
    fn in_range_u16_port_is_left_to_the_validator() {
        let parsed = with("mcpPort", Some(json!(80)));
        assert_eq!(located(&parsed), [(Level::Error, "mcpPort")]);
        assert!(only(&parsed).is_some_and(|d| d.message.contains("outside")));
        assert!(parsed.manifest.is_some());
    }

    #[test]
    fn wrong_string_types_are_errors() {
        for key in ["name", "version", "image", "description", "author"] {
            let parsed = with(key, Some(json!(1)));
            assert_eq!(located(&parsed), [(Level::Error, key)], "{key}");
            assert!(
                only(&parsed).is_some_and(|d| d.message == "expected a string, found a number")
            );
        }
    }

    #[test]
    fn null_description_is_a_type_error_like_serde() {
        let parsed = with("description", Some(Value::Null));
        assert_eq!(located(&parsed), [(Level::Error, "description")]);
    }

    #[test]
    fn null_ui_port_and_sidebar_mean_absent() {
        let mut document = valid_value();
        if let Some(object) = document.as_object_mut() {
            object.insert("uiPort".into(), Value::Null);
            object.insert("sidebar".into(), Value::Null);
        }
        let parsed = Manifest::parse_value(&document);
        assert!(parsed.diagnostics.is_empty(), "{}", parsed.diagnostics);
        assert_eq!(
            parsed.manifest.map(|m| (m.ui_port, m.sidebar)),
            Some((None, None))
        );
    }

    #[test]
    fn missing_required_fields_are_errors() {
        for key in ["name", "version", "image", "mcpPort"] {
            let parsed = with(key, None);
            let diagnostic = only(&parsed);
            assert_eq!(
                diagnostic.map(|d| (d.level, d.path.as_str())),
                Some((Level::Error, key))
            );
            assert!(diagnostic.is_some_and(|d| d.message.contains("missing")));
            assert!(parsed.manifest.is_none());
        }
    }

    #[test]
    fn sidebar_type_errors_are_reported_per_field() {
        let parsed = with("sidebar", Some(json!({"icon": 1, "label": "Kanban"})));
        assert_eq!(
            located(&parsed),
            [
                (Level::Error, "sidebar.icon"),
                (Level::Error, "sidebar.route")
            ]
        );
        let parsed = with("sidebar", Some(json!("Kanban")));
        assert_eq!(located(&parsed), [(Level::Error, "sidebar")]);
    }

    #[test]
    fn env_var_type_errors_are_reported_per_element() {
        let parsed = with("requiredEnvVars", Some(json!(["A", 2, "b-c"])));
        assert_eq!(
            located(&parsed),
            [
                (Level::Error, "requiredEnvVars[1]"),
                (Level::Error, "requiredEnvVars[2]")
            ]
        );
        let parsed = with("requiredEnvVars", Some(json!("A")));
        assert_eq!(located(&parsed), [(Level::Error, "requiredEnvVars")]);
        assert!(
            only(&parsed).is_some_and(|d| d.hint.as_deref() == Some("make it a list: [\"A\"]"))
        );
    }

    #[test]
    fn unknown_fields_are_warnings_with_did_you_mean() {
        for (typo, known) in [
            ("mcp_port", "mcpPort"),
            ("mcpport", "mcpPort"),
            ("uiport", "uiPort"),
        ] {
            let parsed = with(typo, Some(json!(1)));
            let diagnostic = only(&parsed);
            assert_eq!(
                diagnostic.map(|d| (d.level, d.path.as_str())),
                Some((Level::Warning, typo))
            );
            assert_eq!(
                diagnostic.and_then(|d| d.hint.clone()),
                Some(format!("did you mean `{known}`?"))
            );
            assert!(parsed.is_ok());
        }
        let unrelated = with("color", Some(json!("red")));
        assert!(
            only(&unrelated).is_some_and(|d| d.hint.is_none() && d.message.contains("`color`"))
        );
    }

    #[test]
    fn unknown_sidebar_fields_are_warnings() {
        let parsed = with(
            "sidebar",
            Some(
                json!({"icon": "layout", "label": "Kanban", "route": "/plugins/kanban/ui", "lable": "x"}),
            ),
        );
        assert_eq!(located(&parsed), [(Level::Warning, "sidebar.lable")]);
        assert_eq!(
            only(&parsed).and_then(|d| d.hint.as_deref()),
            Some("did you mean `label`?")
        );
    }

    #[test]
    fn unsupported_nanofleet_fields_are_warned_about() {
        for key in UNSUPPORTED_FIELDS {
            let parsed = with(key, Some(json!(true)));
            assert_eq!(located(&parsed), [(Level::Warning, key)]);
            assert!(only(&parsed).is_some_and(|d| d.message.contains("ignored")));
            assert!(parsed.is_ok());
        }
    }

    #[test]
    fn type_errors_and_rule_violations_are_reported_together() {
        let parsed = Manifest::parse_json(
            r#"{
                "name": "Bad Name",
                "version": "1.0",
                "image": "nanofleet/x",
                "mcpPort": "8080",
                "uiPort": 70000,
                "sidebar": {"icon": "", "label": 3, "route": "/x"},
                "requiredEnvVars": ["NANO_TOKEN", null, "NANO_TOKEN"],
                "mcp_port": 8080
            }"#,
        );
        assert!(parsed.manifest.is_none());
        assert_eq!(
            located(&parsed),
            [
                (Level::Error, "mcpPort"),
                (Level::Error, "uiPort"),
                (Level::Error, "sidebar.label"),
                (Level::Error, "requiredEnvVars[1]"),
                (Level::Warning, "mcp_port"),
                (Level::Error, "name"),
                (Level::Error, "version"),
                (Level::Warning, "description"),
                (Level::Warning, "image"),
                (Level::Error, "sidebar.icon"),
                (Level::Warning, "sidebar.route"),
                (Level::Error, "requiredEnvVars[0]"),
                (Level::Error, "requiredEnvVars[2]"),
            ]
        );
    }

    #[test]
    fn complete_documents_get_exactly_the_validator_diagnostics() {
        let manifest = Manifest::new("Bad", "x", "Nano/x", 1)
            .with_ui(1, crate::manifest::Sidebar::new("", "", "/"))
            .with_required_env_vars(["NANO_A", "NANO_A"]);
        let parsed = Manifest::parse_json(&manifest.to_json_pretty());
        assert_eq!(parsed.manifest.as_ref(), Some(&manifest));
        assert_eq!(parsed.diagnostics, manifest.validate());
        assert!(parsed.into_result().is_err());
    }

    #[test]
    fn into_result_keeps_warnings() {
        let parsed = with("mountShared", Some(json!(true)));
        let result = parsed.into_result();
        assert!(result.is_ok_and(|(manifest, warnings)| {
            manifest.name == "kanban" && warnings.len() == 1 && !warnings.has_errors()
        }));
    }

    #[test]
    fn deeply_nested_json_does_not_panic() {
        let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(located(&Manifest::parse_json(&text)), [(Level::Error, "")]);
    }
}
