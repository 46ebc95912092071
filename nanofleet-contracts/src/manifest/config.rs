//! Typed plugin configuration: the manifest's `config` section, the rules its values follow,
//! and how they travel to the plugin.
//!
//! Each setting has a snake_case key, a type (`string`, `integer`, `number`, `boolean`) and
//! optionally a title, a description, a default, a list of allowed values (`enum`), bounds
//! (`min`/`max`, for numbers), `required` and `sensitive`, the shape MCP bundles use for their
//! user settings:
//!
//! ```json
//! "config": {
//!   "base_url": { "type": "string", "title": "Base URL", "required": true },
//!   "api_token": { "type": "string", "required": true, "sensitive": true },
//!   "max_results": { "type": "integer", "default": 10, "min": 1, "max": 100 },
//!   "mode": { "type": "string", "enum": ["fast", "thorough"], "default": "fast" }
//! }
//! ```
//!
//! The host checks values against the schema ([`ConfigSchema::resolve`]), keeps sensitive
//! ones encrypted and never lists them, and hands every value to the container as the
//! environment variable [`env_var`] names: `NANO_CONFIG_` and the key in capitals
//! (`NANO_CONFIG_MAX_RESULTS=10`), written as [`Setting::env_text`] writes it. The SDK reads
//! them back with [`Setting::parse_text`], so both sides agree on one text form.
//!
//! ```
//! use nanofleet_contracts::manifest::config::{ConfigSchema, Setting, SettingType};
//! use serde_json::json;
//!
//! let mut schema = ConfigSchema::default();
//! schema.insert("base_url", Setting::new(SettingType::String).required());
//! schema.insert("max_results", Setting::new(SettingType::Integer).with_default(json!(10)));
//!
//! let missing = schema.resolve(&Default::default()).unwrap_err();
//! assert_eq!(missing.missing, ["base_url"]);
//!
//! let given = [("base_url".to_owned(), json!("https://example.com"))].into();
//! let values = schema.resolve(&given).unwrap();
//! assert_eq!(values["max_results"], json!(10));
//! assert_eq!(schema.env(&values)["NANO_CONFIG_MAX_RESULTS"], "10");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use super::{Diagnostics, rules};

/// The prefix of the environment variables that carry configuration values.
pub const ENV_PREFIX: &str = "NANO_CONFIG_";

/// The most settings a plugin may declare.
pub const MAX_SETTINGS: usize = 64;

/// The longest key, in bytes.
pub const MAX_KEY_LEN: usize = 64;

/// The largest value, in bytes of its text form; an environment variable is not meant for more.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// The fields of one setting, as spelled in JSON.
const SETTING_FIELDS: [&str; 9] = [
    "type",
    "title",
    "description",
    "default",
    "enum",
    "min",
    "max",
    "required",
    "sensitive",
];

/// Values by setting key, typed as JSON.
pub type ConfigValues = BTreeMap<String, Value>;

/// The environment variable that carries the setting `key`: `NANO_CONFIG_` and the key in
/// capitals. Keys are lowercase snake_case, so two keys never share a variable.
#[must_use]
pub fn env_var(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

/// A plugin's settings, by key: the manifest's `config` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct ConfigSchema(pub BTreeMap<String, Setting>);

/// One setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Setting {
    /// What kind of value it holds.
    #[serde(rename = "type")]
    pub kind: SettingType,
    /// A short name for forms and listings, e.g. `Base URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the setting does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The value used when none is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// The values allowed, when only some are.
    #[serde(default, rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Value>,
    /// The smallest number allowed (numbers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Number>,
    /// The largest number allowed (numbers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Number>,
    /// The plugin cannot start without a value (set, or a default).
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// A secret: stored encrypted by the host and never shown after it is set.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sensitive: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_false(value: &bool) -> bool {
    !*value
}

/// The kind of value a setting holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum SettingType {
    /// Text.
    String,
    /// A whole number that fits in 64 bits.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
}

impl SettingType {
    /// The word used in the manifest, e.g. `integer`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Integer => "an integer",
            Self::Number => "a number",
            Self::Boolean => "`true` or `false`",
        }
    }
}

impl fmt::Display for SettingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Setting {
    /// A setting of type `kind`, optional, not sensitive, without title, default or bounds.
    #[must_use]
    pub fn new(kind: SettingType) -> Self {
        Self {
            kind,
            title: None,
            description: None,
            default: None,
            choices: Vec::new(),
            min: None,
            max: None,
            required: false,
            sensitive: false,
        }
    }

    /// Marks the setting required.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Marks the setting sensitive.
    #[must_use]
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Sets the title.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the default value.
    #[must_use]
    pub fn with_default(mut self, value: Value) -> Self {
        self.default = Some(value);
        self
    }

    /// Allows only these values.
    #[must_use]
    pub fn with_choices(mut self, choices: impl IntoIterator<Item = Value>) -> Self {
        self.choices = choices.into_iter().collect();
        self
    }

    /// Sets the bounds (numbers only).
    #[must_use]
    pub fn with_range(mut self, min: Option<Number>, max: Option<Number>) -> Self {
        self.min = min;
        self.max = max;
        self
    }

    /// Checks a value against the type, the allowed values and the bounds.
    ///
    /// # Errors
    ///
    /// Why the value is refused, as a phrase such as `expected an integer, found a string`;
    /// it never quotes the value, which may be a secret.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let fits = match (self.kind, value) {
            (SettingType::String, Value::String(s)) => {
                if s.len() > MAX_VALUE_BYTES {
                    return Err(format!("it is longer than {MAX_VALUE_BYTES} bytes"));
                }
                if s.contains('\0') {
                    return Err(
                        "it contains a NUL byte, which an environment variable cannot hold".into(),
                    );
                }
                true
            }
            (SettingType::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
            (SettingType::Number, Value::Number(_)) | (SettingType::Boolean, Value::Bool(_)) => {
                true
            }
            _ => false,
        };
        if !fits {
            return Err(format!(
                "expected {}, found {}",
                self.kind.expected(),
                kind_of(value)
            ));
        }
        if !self.choices.is_empty() && !self.choices.iter().any(|c| same_value(c, value)) {
            let choices: Vec<String> = self.choices.iter().map(Value::to_string).collect();
            return Err(format!("it is not one of {}", choices.join(", ")));
        }
        if let Value::Number(n) = value {
            let n = n.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = self.min.as_ref().and_then(Number::as_f64)
                && n < min
            {
                return Err(format!("it is below the minimum {}", self.min_text()));
            }
            if let Some(max) = self.max.as_ref().and_then(Number::as_f64)
                && n > max
            {
                return Err(format!("it is above the maximum {}", self.max_text()));
            }
        }
        Ok(())
    }

    fn min_text(&self) -> String {
        self.min.as_ref().map(Number::to_string).unwrap_or_default()
    }

    fn max_text(&self) -> String {
        self.max.as_ref().map(Number::to_string).unwrap_or_default()
    }

    /// Reads a value from its text form (a command line, an environment variable) and checks
    /// it: strings as they are, numbers in decimal, booleans as `true`/`false`.
    ///
    /// # Errors
    ///
    /// Why the text is refused; see [`check`](Self::check).
    pub fn parse_text(&self, text: &str) -> Result<Value, String> {
        let value = match self.kind {
            SettingType::String => Value::String(text.to_owned()),
            SettingType::Integer => match text.trim().parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => return Err("expected an integer such as `42`".into()),
            },
            SettingType::Number => {
                let text = text.trim();
                match text.parse::<i64>() {
                    Ok(n) => Value::from(n),
                    Err(_) => match text.parse::<f64>().ok().and_then(Number::from_f64) {
                        Some(n) => Value::Number(n),
                        None => return Err("expected a number such as `1.5`".into()),
                    },
                }
            }
            SettingType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err("expected `true` or `false`".into()),
            },
        };
        self.check(&value)?;
        Ok(value)
    }

    /// A value's text form, the inverse of [`parse_text`](Self::parse_text): what the
    /// environment variable holds.
    #[must_use]
    pub fn env_text(value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// Checks the setting's own rules, reporting at `path` (e.g. `config.max_results`).
    pub fn validate_into(&self, path: &str, diagnostics: &mut Diagnostics) {
        let numeric = matches!(self.kind, SettingType::Integer | SettingType::Number);
        for (bound, name) in [(&self.min, "min"), (&self.max, "max")] {
            let Some(bound) = bound else { continue };
            if !numeric {
                diagnostics.error(
                    format!("{path}.{name}"),
                    format!("`{name}` applies to numbers, not to a {}", self.kind),
                    Some("remove it, or make the type `integer` or `number`".into()),
                );
            } else if self.kind == SettingType::Integer && !(bound.is_i64() || bound.is_u64()) {
                diagnostics.error(
                    format!("{path}.{name}"),
                    format!("the bound of an integer setting must be an integer, found {bound}"),
                    None,
                );
            }
        }
        if let (Some(min), Some(max)) = (
            self.min.as_ref().and_then(Number::as_f64),
            self.max.as_ref().and_then(Number::as_f64),
        ) && min > max
        {
            diagnostics.error(
                format!("{path}.min"),
                format!(
                    "`min` ({}) is above `max` ({}): no value fits",
                    self.min_text(),
                    self.max_text()
                ),
                None,
            );
        }
        if self.kind == SettingType::Boolean && !self.choices.is_empty() {
            diagnostics.error(
                format!("{path}.enum"),
                "a boolean setting cannot list allowed values",
                Some("remove `enum`".into()),
            );
        } else {
            // Checked against the type and bounds only: the list itself is what `check`
            // would compare with.
            let bare = Self {
                choices: Vec::new(),
                ..self.clone()
            };
            for (index, choice) in self.choices.iter().enumerate() {
                if let Err(reason) = bare.check(choice) {
                    diagnostics.error(
                        format!("{path}.enum[{index}]"),
                        format!("allowed value {choice} does not fit the setting: {reason}"),
                        None,
                    );
                }
                if self.choices[..index].iter().any(|c| same_value(c, choice)) {
                    diagnostics.error(
                        format!("{path}.enum[{index}]"),
                        format!("allowed value {choice} is listed twice"),
                        None,
                    );
                }
            }
        }
        if let Some(default) = &self.default {
            if let Err(reason) = self.check(default) {
                diagnostics.error(
                    format!("{path}.default"),
                    format!("the default does not fit the setting: {reason}"),
                    None,
                );
            }
            if self.required {
                diagnostics.warning(
                    format!("{path}.required"),
                    "a setting with a default is never missing, so `required` has no effect",
                    Some("remove `required` or the default".into()),
                );
            }
            if self.sensitive {
                diagnostics.warning(
                    format!("{path}.default"),
                    "the default of a sensitive setting is public: anyone can read the manifest",
                    Some("remove the default and mark the setting `required`".into()),
                );
            }
        }
        for (text, name) in [(&self.title, "title"), (&self.description, "description")] {
            if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
                diagnostics.warning(
                    format!("{path}.{name}"),
                    format!("the {name} is empty"),
                    Some(format!("write one, or remove `{name}`")),
                );
            }
        }
    }
}

/// Equal values, numbers compared by value (`1` and `1.0` are the same choice).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => a == b,
    }
}

fn kind_of(value: &Value) -> &'static str {
    super::parse::kind(value)
}

impl ConfigSchema {
    /// Whether the plugin declares no settings.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds (or replaces) the setting `key`.
    pub fn insert(&mut self, key: impl Into<String>, setting: Setting) {
        self.0.insert(key.into(), setting);
    }

    /// The setting `key`, if declared.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.0.get(key)
    }

    /// The settings, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Setting)> {
        self.0.iter()
    }

    /// The keys of the required settings that have neither a value in `values` nor a default.
    #[must_use]
    pub fn missing(&self, values: &ConfigValues) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, s)| s.required && s.default.is_none() && !values.contains_key(*key))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// The values a plugin runs with: those in `values`, then the defaults of the rest.
    ///
    /// # Errors
    ///
    /// Every problem at once: values for keys the schema does not declare, values that do
    /// not fit their setting, and required settings with no value.
    pub fn resolve(&self, values: &ConfigValues) -> Result<ConfigValues, ConfigProblems> {
        let mut problems = ConfigProblems::default();
        let keys: Vec<&str> = self.0.keys().map(String::as_str).collect();
        for (key, value) in values {
            match self.0.get(key) {
                None => problems.unknown.push(UnknownSetting {
                    key: key.clone(),
                    did_you_mean: rules::closest(key, &keys).map(str::to_owned),
                }),
                Some(setting) => {
                    if let Err(reason) = setting.check(value) {
                        problems.invalid.push((key.clone(), reason));
                    }
                }
            }
        }
        problems.missing = self.missing(values);
        if !problems.is_empty() {
            problems.declared = keys.iter().map(|k| (*k).to_owned()).collect();
            return Err(problems);
        }
        Ok(self
            .0
            .iter()
            .filter_map(|(key, setting)| {
                let value = values.get(key).or(setting.default.as_ref())?;
                Some((key.clone(), value.clone()))
            })
            .collect())
    }

    /// The environment variables carrying `values` (resolved with [`resolve`](Self::resolve)),
    /// by [`env_var`] name.
    #[must_use]
    pub fn env(&self, values: &ConfigValues) -> BTreeMap<String, String> {
        values
            .iter()
            .filter(|(key, _)| self.0.contains_key(*key))
            .map(|(key, value)| (env_var(key), Setting::env_text(value)))
            .collect()
    }

    /// Checks every key and setting, reporting at `path` (`config`).
    pub fn validate_into(&self, path: &str, diagnostics: &mut Diagnostics) {
        if self.0.len() > MAX_SETTINGS {
            diagnostics.error(
                path,
                format!(
                    "{} settings declared, at most {MAX_SETTINGS} are allowed",
                    self.0.len()
                ),
                None,
            );
        }
        for (key, setting) in &self.0 {
            let at = format!("{path}.{key}");
            if let Err(reason) = check_key(key) {
                diagnostics.error(
                    &at,
                    format!("invalid setting key `{key}`: {reason}"),
                    Some(
                        "use lowercase letters, digits and `_`, starting with a letter, e.g. \
                         `base_url`"
                            .into(),
                    ),
                );
            }
            setting.validate_into(&at, diagnostics);
        }
    }
}

/// Checks a setting key: `^[a-z][a-z0-9_]*$`, at most [`MAX_KEY_LEN`] bytes.
///
/// # Errors
///
/// Why the key is refused.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("it is empty".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(format!("it is longer than {MAX_KEY_LEN} bytes"));
    }
    if !key.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("it must start with a lowercase letter".into());
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!("it contains {c:?}"));
    }
    Ok(())
}

/// A value for a key the plugin does not declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSetting {
    /// The key given.
    pub key: String,
    /// The declared key it most resembles.
    pub did_you_mean: Option<String>,
}

/// Everything wrong with a set of values, all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigProblems {
    /// Required settings with no value and no default, by key.
    pub missing: Vec<String>,
    /// Values that do not fit their setting: the key and why.
    pub invalid: Vec<(String, String)>,
    /// Values for keys that are not declared.
    pub unknown: Vec<UnknownSetting>,
    /// Every key the schema declares, for the message about unknown ones.
    pub declared: Vec<String>,
}

impl ConfigProblems {
    /// Whether nothing is wrong.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.invalid.is_empty() && self.unknown.is_empty()
    }
}

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "required settings without a value: {}",
                self.missing.join(", ")
            ));
        }
        for (key, reason) in &self.invalid {
            parts.push(format!("`{key}`: {reason}"));
        }
        for unknown in &self.unknown {
            let mut part = format!("`{}` is not a setting of this plugin", unknown.key);
            match (&unknown.did_you_mean, self.declared.is_empty()) {
                (Some(close), _) => part.push_str(&format!(" (did you mean `{close}`?)")),
                (None, true) => part.push_str(" (it declares none)"),
                (None, false) => {
                    part.push_str(&format!(" (it has {})", self.declared.join(", ")));
                }
            }
            parts.push(part);
        }
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ConfigProblems {}

/// Reads the `config` section of an untrusted manifest, reporting every problem at `path`.
pub(super) fn read(
    path: &str,
    value: &Value,
    diagnostics: &mut Diagnostics,
) -> Option<ConfigSchema> {
    let Value::Object(object) = value else {
        diagnostics.error(
            path,
            format!(
                "expected an object of settings by key, found {}",
                kind_of(value)
            ),
            Some("e.g. `\"config\": {\"base_url\": {\"type\": \"string\"}}`".into()),
        );
        return None;
    };
    let mut schema = ConfigSchema::default();
    let mut complete = true;
    for (key, value) in object {
        let at = format!("{path}.{key}");
        match read_setting(&at, value, diagnostics) {
            Some(setting) => schema.insert(key.clone(), setting),
            None => complete = false,
        }
    }
    complete.then_some(schema)
}

fn read_setting(path: &str, value: &Value, diagnostics: &mut Diagnostics) -> Option<Setting> {
    let Value::Object(object) = value else {
        diagnostics.error(
            path,
            format!("expected a setting object, found {}", kind_of(value)),
            Some("e.g. `{\"type\": \"string\", \"title\": \"Base URL\"}`".into()),
        );
        return None;
    };
    let mut known = Map::new();
    for (key, value) in object {
        if SETTING_FIELDS.contains(&key.as_str()) {
            known.insert(key.clone(), value.clone());
        } else {
            let hint = rules::closest(key, &SETTING_FIELDS).map(|k| format!("did you mean `{k}`?"));
            diagnostics.warning(
                format!("{path}.{key}"),
                format!("unknown field `{key}`, ignored"),
                hint,
            );
        }
    }
    if !known.contains_key("type") {
        diagnostics.error(
            path,
            "missing required field `type`",
            Some("add `\"type\"`: one of `string`, `integer`, `number`, `boolean`".into()),
        );
        return None;
    }
    match serde_json::from_value::<Setting>(Value::Object(known)) {
        Ok(setting) => Some(setting),
        Err(err) => {
            diagnostics.error(path, format!("invalid setting: {err}"), None);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::manifest::Level;

    fn schema() -> ConfigSchema {
        let mut schema = ConfigSchema::default();
        schema.insert("base_url", Setting::new(SettingType::String).required());
        schema.insert(
            "api_token",
            Setting::new(SettingType::String).required().sensitive(),
        );
        schema.insert(
            "max_results",
            Setting::new(SettingType::Integer)
                .with_default(json!(10))
                .with_range(Some(1.into()), Some(100.into())),
        );
        schema.insert(
            "mode",
            Setting::new(SettingType::String).with_choices([json!("fast"), json!("thorough")]),
        );
        schema.insert("ratio", Setting::new(SettingType::Number));
        schema.insert("verbose", Setting::new(SettingType::Boolean));
        schema
    }

    fn values(pairs: &[(&str, Value)]) -> ConfigValues {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn resolve_names_every_missing_required_setting() {
        let problems = schema().resolve(&ConfigValues::new()).expect_err("refused");
        assert_eq!(problems.missing, ["api_token", "base_url"]);
        assert_eq!(
            problems.to_string(),
            "required settings without a value: api_token, base_url"
        );
    }

    #[test]
    fn resolve_fills_defaults_and_keeps_given_values() {
        let given = values(&[("base_url", json!("https://x")), ("api_token", json!("s"))]);
        let resolved = schema().resolve(&given).expect("present");
        assert_eq!(
            resolved,
            values(&[
                ("api_token", json!("s")),
                ("base_url", json!("https://x")),
                ("max_results", json!(10)),
            ])
        );
        let env = schema().env(&resolved);
        assert_eq!(env["NANO_CONFIG_BASE_URL"], "https://x");
        assert_eq!(env["NANO_CONFIG_MAX_RESULTS"], "10");
        assert_eq!(env.len(), 3);
    }

    #[test]
    fn resolve_reports_every_problem_at_once_without_quoting_values() {
        let given = values(&[
            ("base_url", json!(5)),
            ("api_token", json!("hunter2")),
            ("max_results", json!(101)),
            ("mode", json!("slow")),
            ("verbos", json!(true)),
        ]);
        let problems = schema().resolve(&given).expect_err("refused");
        assert!(problems.missing.is_empty());
        let invalid: Vec<&str> = problems.invalid.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(invalid, ["base_url", "max_results", "mode"]);
        let text = problems.to_string();
        assert!(
            text.contains("`base_url`: expected a string, found a number"),
            "{text}"
        );
        assert!(text.contains("above the maximum 100"), "{text}");
        assert!(text.contains(r#"not one of "fast", "thorough""#), "{text}");
        assert!(
            text.contains("`verbos` is not a setting of this plugin (did you mean `verbose`?)"),
            "{text}"
        );
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn text_forms_round_trip() {
        let s = schema();
        let cases = [
            ("max_results", "42", json!(42)),
            ("ratio", "1.5", json!(1.5)),
            ("ratio", "3", json!(3)),
            ("verbose", "TRUE", json!(true)),
            ("mode", "fast", json!("fast")),
        ];
        for (key, text, value) in cases {
            let setting = s.get(key).expect("present");
            assert_eq!(setting.parse_text(text), Ok(value.clone()), "{key}={text}");
            assert_eq!(
                setting.parse_text(&Setting::env_text(&value)),
                Ok(value),
                "{key}"
            );
        }
        let integer = s.get("max_results").expect("present");
        assert!(integer.parse_text("4.5").is_err());
        assert!(
            integer
                .parse_text("0")
                .expect_err("refused")
                .contains("below the minimum 1")
        );
        assert!(
            s.get("verbose")
                .expect("present")
                .parse_text("yes")
                .is_err()
        );
        assert!(s.get("ratio").expect("present").parse_text("NaN").is_err());
        assert!(
            s.get("base_url")
                .expect("present")
                .parse_text("a\0b")
                .is_err()
        );
    }

    #[test]
    fn env_names_are_the_keys_in_capitals() {
        assert_eq!(env_var("max_results"), "NANO_CONFIG_MAX_RESULTS");
        assert!(env_var("x").starts_with(crate::env::RESERVED_PREFIX));
    }

    #[test]
    fn json_shape_round_trips() {
        let text = serde_json::to_string(&schema()).expect("present");
        assert!(
            text.contains(r#""api_token":{"type":"string","required":true,"sensitive":true}"#),
            "{text}"
        );
        assert!(
            text.contains(r#""mode":{"type":"string","enum":["fast","thorough"]}"#),
            "{text}"
        );
        let back: ConfigSchema = serde_json::from_str(&text).expect("present");
        assert_eq!(back, schema());
    }

    fn problems(schema: &ConfigSchema) -> Vec<(Level, String)> {
        let mut diagnostics = Diagnostics::new();
        schema.validate_into("config", &mut diagnostics);
        diagnostics
            .iter()
            .map(|d| (d.level, d.path.clone()))
            .collect()
    }

    #[test]
    fn schema_rules() {
        assert!(problems(&schema()).is_empty(), "{:?}", problems(&schema()));
        let mut bad = ConfigSchema::default();
        bad.insert("Base-URL", Setting::new(SettingType::String));
        bad.insert(
            "name",
            Setting::new(SettingType::String).with_range(Some(1.into()), None),
        );
        bad.insert(
            "count",
            Setting::new(SettingType::Integer)
                .with_range(Some(10.into()), Number::from_f64(2.5))
                .with_default(json!("ten")),
        );
        bad.insert(
            "flag",
            Setting::new(SettingType::Boolean).with_choices([json!(true)]),
        );
        bad.insert(
            "level",
            Setting::new(SettingType::String).with_choices([json!("a"), json!(1), json!("a")]),
        );
        bad.insert(
            "secret",
            Setting::new(SettingType::String)
                .sensitive()
                .required()
                .with_default(json!("x")),
        );
        let error = |p: &str| (Level::Error, p.to_owned());
        let warning = |p: &str| (Level::Warning, p.to_owned());
        assert_eq!(
            problems(&bad),
            [
                error("config.Base-URL"),
                error("config.count.max"),
                error("config.count.min"),
                error("config.count.default"),
                error("config.flag.enum"),
                error("config.level.enum[1]"),
                error("config.level.enum[2]"),
                error("config.name.min"),
                warning("config.secret.required"),
                warning("config.secret.default"),
            ]
        );
    }

    #[test]
    fn reading_untrusted_json_reports_each_setting() {
        let mut diagnostics = Diagnostics::new();
        let value = json!({
            "ok": {"type": "string", "titel": "x"},
            "no_type": {"title": "x"},
            "bad_type": {"type": "text"},
            "not_object": 3
        });
        assert!(read("config", &value, &mut diagnostics).is_none());
        let found: Vec<(Level, &str)> = diagnostics
            .iter()
            .map(|d| (d.level, d.path.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (Level::Error, "config.bad_type"),
                (Level::Error, "config.no_type"),
                (Level::Error, "config.not_object"),
                (Level::Warning, "config.ok.titel"),
            ]
        );
        let mut diagnostics = Diagnostics::new();
        assert!(read("config", &json!([]), &mut diagnostics).is_none());
        assert!(diagnostics.has_errors());
    }
}
