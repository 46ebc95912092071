//! Typed plugin configuration: a plain Rust struct declares the settings, the manifest carries
//! them, the host validates and delivers the values, and tools read them as [`Config<T>`].
//!
//! ```
//! use nanofleet_sdk::config::{Config, Secret};
//! use nanofleet_sdk::schemars::{self, JsonSchema};
//! use nanofleet_sdk::serde::{self, Deserialize};
//!
//! /// What the weather plugin needs.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(crate = "nanofleet_sdk::serde")]
//! #[schemars(crate = "nanofleet_sdk::schemars")]
//! struct WeatherConfig {
//!     /// Base URL
//!     ///
//!     /// Where the weather service answers.
//!     base_url: String,
//!     /// The service's API token.
//!     api_token: Secret,
//!     /// How many days a forecast covers.
//!     #[serde(default = "three")]
//!     #[schemars(range(min = 1, max = 14))]
//!     days: u8,
//!     /// Celsius unless set.
//!     fahrenheit: Option<bool>,
//! }
//!
//! fn three() -> u8 { 3 }
//!
//! let schema = nanofleet_sdk::config::schema_of::<WeatherConfig>().unwrap();
//! let token = schema.get("api_token").unwrap();
//! assert!(token.required && token.sensitive);
//! assert_eq!(schema.get("days").unwrap().default, Some(3.into()));
//! assert!(!schema.get("fahrenheit").unwrap().required);
//! ```
//!
//! With the macros, `#[plugin(config = WeatherConfig)]` puts the settings in the manifest and
//! a tool takes `config: Config<WeatherConfig>`; without them, call
//! [`PluginBuilder::config`](crate::plugin::PluginBuilder::config).
//!
//! Each field is a setting whose key is the field's name as serde spells it (lowercase
//! snake_case), of type string, integer, number or boolean, or a unit-only enum (a string
//! with allowed values). A doc comment gives the title (its first paragraph, when there are
//! several) and the description; `#[serde(default)]` or a default function gives the default;
//! `#[schemars(range(min, max))]` the bounds; a field that is neither an `Option` nor
//! defaulted is required; a [`Secret`] is sensitive.
//!
//! The host passes each value as the environment variable `NANO_CONFIG_<KEY>`
//! ([`env_var`]); the plugin reads them when it starts, and refuses to start when a required
//! one is missing or one does not fit, naming every such setting.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use schemars::{JsonSchema, generate::SchemaSettings};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

pub use nanofleet_contracts::manifest::config::{
    ConfigProblems, ConfigSchema, ConfigValues, ENV_PREFIX, Setting, SettingType, env_var,
};

use crate::tool::{FromToolCall, ToolCall, ToolError};

/// The plugin's configuration of type `T`, read from its environment when it started.
///
/// Declared with `#[plugin(config = T)]` (or [`PluginBuilder::config`]); a tool that takes
/// `Config<T>` in a plugin that declares no configuration of type `T` stops the build.
///
/// [`PluginBuilder::config`]: crate::plugin::PluginBuilder::config
#[derive(Debug)]
pub struct Config<T>(pub Arc<T>);

impl<T> Clone for Config<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> std::ops::Deref for Config<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> FromToolCall for Config<T> {
    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError> {
        call.plugin.config::<T>().map(Config).ok_or_else(|| {
            ToolError::new(format!(
                "the plugin declares no configuration of type `{}`",
                std::any::type_name::<T>()
            ))
        })
    }

    fn requirements(needs: &mut crate::requirements::Requirements) {
        needs.config::<T>();
    }
}

/// A sensitive setting's value: the host stores it encrypted and never shows it, and this
/// type never prints it (`Debug` shows `Secret(<redacted>)`). Read it with
/// [`expose`](Self::expose).
///
/// It deliberately does not implement `Serialize`, so that it cannot end up in a tool's
/// output: derive `Deserialize` and `JsonSchema` for a configuration type (not `#[data]`,
/// which derives `Serialize` too).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, to hand to whatever needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // `writeOnly` is JSON Schema's word for a value that is given but never read back.
        schemars::json_schema!({ "type": "string", "writeOnly": true })
    }
}

/// The settings a configuration type declares, read from its JSON Schema.
///
/// # Errors
///
/// Every field that cannot be a setting (a list, a nested struct, an enum with data), and a
/// type that is not a struct with named fields, one sentence each.
pub fn schema_of<T: JsonSchema>() -> Result<ConfigSchema, Vec<String>> {
    let mut settings = SchemaSettings::draft2020_12();
    // Enums then sit in the property itself rather than behind a `$ref`.
    settings.inline_subschemas = true;
    let root = settings.into_generator().into_root_schema_for::<T>();
    let root = root.as_value();
    let type_name = std::any::type_name::<T>();
    let Some(properties) = root.get("properties").and_then(Value::as_object) else {
        return Err(vec![format!(
            "configuration type `{type_name}` must be a struct with named fields"
        )]);
    };
    let required: Vec<&str> = root
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut schema = ConfigSchema::default();
    let mut problems = Vec::new();
    for (key, property) in properties {
        match setting(property) {
            Ok(mut setting) => {
                setting.required = required.contains(&key.as_str());
                schema.insert(key.clone(), setting);
            }
            Err(reason) => problems.push(format!(
                "configuration `{type_name}`, field `{key}`: {reason}; a setting is a string, \
                 an integer, a number, a boolean, a unit-only enum or a `Secret`, optionally in \
                 an `Option`"
            )),
        }
    }
    if problems.is_empty() {
        Ok(schema)
    } else {
        Err(problems)
    }
}

/// One property's schema as a setting (`required` is the caller's to set).
fn setting(property: &Value) -> Result<Setting, String> {
    let object = property.as_object().ok_or("it has no schema")?;
    let inner = without_null(object)?;
    let (kind, choices) = kind_and_choices(inner)?;
    let mut setting = Setting::new(kind);
    setting.choices = choices;
    let text = |name: &str| {
        object
            .get(name)
            .or_else(|| inner.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    setting.title = text("title");
    setting.description = text("description");
    // schemars gives a field's whole doc comment as its description; a first paragraph of
    // one line, followed by others, is the title (as schemars does for types).
    if setting.title.is_none()
        && let Some(doc) = setting.description.take()
    {
        match doc.split_once("\n\n") {
            Some((first, rest)) if !first.contains('\n') && !rest.trim().is_empty() => {
                setting.title = Some(first.trim().to_owned());
                setting.description = Some(rest.trim().to_owned());
            }
            _ => setting.description = Some(doc),
        }
    }
    setting.default = object.get("default").filter(|d| !d.is_null()).cloned();
    if matches!(kind, SettingType::Integer | SettingType::Number) {
        setting.min = bound(inner, "minimum");
        setting.max = bound(inner, "maximum");
    }
    let flag = |name: &str| {
        [object, inner]
            .iter()
            .any(|o| o.get(name).and_then(Value::as_bool) == Some(true))
    };
    setting.sensitive = flag("writeOnly") || flag("sensitive");
    Ok(setting)
}

/// The non-null part of an `Option`'s schema: `{"type": ["string", "null"]}` or
/// `{"anyOf": [{...}, {"type": "null"}]}`.
fn without_null(object: &Map<String, Value>) -> Result<&Map<String, Value>, String> {
    if let Some(branches) = object.get("anyOf").and_then(Value::as_array) {
        let rest: Vec<&Value> = branches
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        return match rest.as_slice() {
            [one] => one.as_object().ok_or_else(|| "it has no schema".to_owned()),
            _ => Err("it is one of several types".into()),
        };
    }
    Ok(object)
}

fn kind_and_choices(schema: &Map<String, Value>) -> Result<(SettingType, Vec<Value>), String> {
    // An enum whose variants have doc comments is a `oneOf` of constants.
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
        let mut choices = Vec::new();
        for branch in branches {
            match branch
                .get("const")
                .or_else(|| branch.get("enum").and_then(|e| e.get(0)))
            {
                Some(Value::String(s)) => choices.push(Value::String(s.clone())),
                _ => return Err("it is an enum whose variants carry data".into()),
            }
        }
        return Ok((SettingType::String, choices));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    let kind = match types.as_slice() {
        ["string"] => SettingType::String,
        ["integer"] => SettingType::Integer,
        ["number"] => SettingType::Number,
        ["boolean"] => SettingType::Boolean,
        [other] => return Err(format!("its type is `{other}`")),
        [] => return Err("its schema names no type".into()),
        _ => return Err("it is one of several types".into()),
    };
    let choices = schema
        .get("enum")
        .and_then(Value::as_array)
        .map(|values| values.iter().filter(|v| !v.is_null()).cloned().collect())
        .unwrap_or_default();
    Ok((kind, choices))
}

fn bound(schema: &Map<String, Value>, name: &str) -> Option<Number> {
    match schema.get(name) {
        Some(Value::Number(n)) => Some(n.clone()),
        _ => None,
    }
}

/// Reads the values of `schema` from the plugin's variables (`NANO_CONFIG_*`), defaults
/// filled in.
///
/// # Errors
///
/// Every missing required value and every value that does not fit, at once.
pub fn values_from_env(
    schema: &ConfigSchema,
    vars: &BTreeMap<String, String>,
) -> Result<ConfigValues, ConfigProblems> {
    let mut given = ConfigValues::new();
    let mut invalid = Vec::new();
    for (key, setting) in schema.iter() {
        let Some(text) = vars.get(&env_var(key)) else {
            continue;
        };
        match setting.parse_text(text) {
            Ok(value) => {
                given.insert(key.clone(), value);
            }
            Err(reason) => invalid.push((key.clone(), reason)),
        }
    }
    match schema.resolve(&given) {
        Ok(values) if invalid.is_empty() => Ok(values),
        Ok(_) => Err(ConfigProblems {
            invalid,
            ..Default::default()
        }),
        Err(mut problems) => {
            // A required value that was given but does not fit is reported as such, not as
            // missing too.
            problems
                .missing
                .retain(|key| !invalid.iter().any(|(k, _)| k == key));
            invalid.append(&mut problems.invalid);
            problems.invalid = invalid;
            Err(problems)
        }
    }
}

/// How a plugin turns its variables into its configuration value, kept type-erased in the
/// plugin's definition.
#[derive(Clone)]
pub(crate) struct ConfigType {
    pub(crate) id: std::any::TypeId,
    pub(crate) name: &'static str,
    pub(crate) load: fn(&ConfigSchema, &BTreeMap<String, String>) -> Result<AnyConfig, String>,
}

/// A loaded configuration value.
pub(crate) type AnyConfig = Arc<dyn Any + Send + Sync>;

impl ConfigType {
    pub(crate) fn of<T: DeserializeOwned + Send + Sync + 'static>() -> Self {
        Self {
            id: std::any::TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
            load: load::<T>,
        }
    }
}

fn load<T: DeserializeOwned + Send + Sync + 'static>(
    schema: &ConfigSchema,
    vars: &BTreeMap<String, String>,
) -> Result<AnyConfig, String> {
    let values = values_from_env(schema, vars)
        .map_err(|problems| format!("the plugin's configuration is not usable: {problems}"))?;
    let object: Map<String, Value> = values.into_iter().collect();
    let config: T = serde_json::from_value(Value::Object(object)).map_err(|e| {
        format!(
            "the configuration does not read as `{}`: {e}",
            std::any::type_name::<T>()
        )
    })?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, JsonSchema)]
    #[allow(dead_code)] // read through serde only
    enum Mode {
        #[serde(rename = "fast")]
        Fast,
        #[serde(rename = "thorough")]
        Thorough,
    }

    /// Settings of a test plugin.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Sample {
        /// Base URL
        ///
        /// Where the service answers.
        base_url: String,
        /// The service's token.
        token: Secret,
        #[serde(default = "ten")]
        #[schemars(range(min = 1, max = 100))]
        limit: u32,
        ratio: Option<f64>,
        verbose: Option<bool>,
        mode: Option<Mode>,
    }

    fn ten() -> u32 {
        10
    }

    #[test]
    fn a_struct_becomes_settings() {
        let schema = schema_of::<Sample>().expect("present");
        let base = schema.get("base_url").expect("present");
        assert_eq!(base.kind, SettingType::String);
        assert!(base.required && !base.sensitive);
        assert_eq!(base.title.as_deref(), Some("Base URL"));
        assert_eq!(
            base.description.as_deref(),
            Some("Where the service answers.")
        );
        let token = schema.get("token").expect("present");
        assert!(token.required && token.sensitive);
        let limit = schema.get("limit").expect("present");
        assert_eq!(
            (limit.kind, limit.required, limit.default.clone()),
            (SettingType::Integer, false, Some(json!(10)))
        );
        assert_eq!(limit.min, Some(1.into()));
        assert_eq!(limit.max, Some(100.into()));
        assert_eq!(
            schema.get("ratio").expect("present").kind,
            SettingType::Number
        );
        assert_eq!(
            schema.get("verbose").expect("present").kind,
            SettingType::Boolean
        );
        let mode = schema.get("mode").expect("present");
        assert_eq!(mode.kind, SettingType::String);
        assert_eq!(mode.choices, [json!("fast"), json!("thorough")]);
        assert!(!mode.required);
        let mut diagnostics = crate::manifest::Diagnostics::new();
        schema.validate_into("config", &mut diagnostics);
        assert!(diagnostics.is_empty(), "{diagnostics}");
    }

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Unsupported {
        tags: Vec<String>,
        nested: Mode2,
    }

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Mode2 {
        a: u8,
    }

    #[test]
    fn fields_that_cannot_be_settings_are_each_reported() {
        let problems = schema_of::<Unsupported>().expect_err("refused");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("field `nested`: its type is `object`"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("field `tags`: its type is `array`"),
            "{problems:?}"
        );
        assert!(schema_of::<u32>().expect_err("refused")[0].contains("must be a struct"));
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn values_load_from_the_environment() {
        let schema = schema_of::<Sample>().expect("present");
        let loaded = load::<Sample>(
            &schema,
            &vars(&[
                ("NANO_CONFIG_BASE_URL", "https://x"),
                ("NANO_CONFIG_TOKEN", "s3cret"),
                ("NANO_CONFIG_MODE", "thorough"),
                ("NANO_CONFIG_VERBOSE", "true"),
            ]),
        )
        .expect("present");
        let sample = loaded.downcast::<Sample>().expect("present");
        assert_eq!(sample.base_url, "https://x");
        assert_eq!(sample.token.expose(), "s3cret");
        assert_eq!(format!("{:?}", sample.token), "Secret(<redacted>)");
        assert_eq!(sample.limit, 10);
        assert_eq!(sample.verbose, Some(true));
        assert!(matches!(sample.mode, Some(Mode::Thorough)));
        assert_eq!(sample.ratio, None);
    }

    #[test]
    fn loading_names_every_missing_and_invalid_value() {
        let schema = schema_of::<Sample>().expect("present");
        let error = load::<Sample>(
            &schema,
            &vars(&[("NANO_CONFIG_LIMIT", "1000"), ("NANO_CONFIG_RATIO", "x")]),
        )
        .expect_err("refused");
        assert!(
            error.contains("required settings without a value: base_url, token"),
            "{error}"
        );
        assert!(
            error.contains("`limit`: it is above the maximum 100"),
            "{error}"
        );
        assert!(error.contains("`ratio`: expected a number"), "{error}");
    }
}
