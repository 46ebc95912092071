//! Plugins' typed configuration: values checked against the manifest's `config` section,
//! stored (sensitive ones sealed), listed without secrets, and changed with a reconcile.

use std::collections::BTreeMap;

use nanofleet_sdk::manifest::{
    Manifest,
    config::{ConfigProblems, ConfigSchema, ConfigValues, Setting, SettingType},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Host, HostError};

/// One setting of an installed plugin as the API, the CLI and `inspect` show it: never the
/// value of a sensitive one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigEntry {
    /// The setting's key, e.g. `base_url`.
    pub key: String,
    /// `string`, `integer`, `number` or `boolean`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its title, if the manifest gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its description, if the manifest gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The plugin cannot start without a value.
    pub required: bool,
    /// A secret: its value is never shown.
    pub sensitive: bool,
    /// Where the value the plugin runs with comes from.
    pub source: ConfigSource,
    /// The value the plugin runs with; absent when the setting is sensitive or has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
    /// The manifest's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub default: Option<Value>,
    /// The allowed values, when only some are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub choices: Vec<Value>,
}

/// Where a setting's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConfigSource {
    /// Set by the operator.
    Set,
    /// The manifest's default.
    Default,
    /// No value, and none needed.
    Unset,
    /// No value, but the setting is required: the plugin cannot start.
    Missing,
}

impl ConfigSource {
    /// The word shown, e.g. `default`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Set => "set",
            Self::Default => "default",
            Self::Unset => "unset",
            Self::Missing => "missing",
        }
    }
}

/// The entries of `schema` given the stored `values`, in key order.
pub fn entries(schema: &ConfigSchema, values: &ConfigValues) -> Vec<ConfigEntry> {
    schema
        .iter()
        .map(|(key, setting)| {
            let stored = values.get(key);
            let source = match (stored, &setting.default) {
                (Some(_), _) => ConfigSource::Set,
                (None, Some(_)) => ConfigSource::Default,
                (None, None) if setting.required => ConfigSource::Missing,
                (None, None) => ConfigSource::Unset,
            };
            let value = if setting.sensitive {
                None
            } else {
                stored.or(setting.default.as_ref()).cloned()
            };
            ConfigEntry {
                key: key.clone(),
                kind: setting.kind.as_str().to_owned(),
                title: setting.title.clone(),
                description: setting.description.clone(),
                required: setting.required,
                sensitive: setting.sensitive,
                source,
                value,
                default: setting.default.clone(),
                choices: setting.choices.clone(),
            }
        })
        .collect()
}

/// Values as given over the API or on a command line, made typed: a string given for a
/// setting that is not a string is read as its text form (`"42"` for an integer), so that
/// clients need not know the types. Keys the schema does not declare pass through, for
/// [`ConfigSchema::resolve`] to name.
///
/// # Errors
///
/// The values that do not read as their setting's type, each with the reason.
pub fn coerce(schema: &ConfigSchema, given: &ConfigValues) -> Result<ConfigValues, ConfigProblems> {
    let mut values = ConfigValues::new();
    let mut problems = ConfigProblems::default();
    for (key, value) in given {
        let typed = match (schema.get(key), value) {
            (Some(setting), Value::String(text)) if setting.kind != SettingType::String => {
                setting.parse_text(text)
            }
            (Some(setting), value) => setting.check(value).map(|()| value.clone()),
            (None, value) => Ok(value.clone()),
        };
        match typed {
            Ok(value) => {
                values.insert(key.clone(), value);
            }
            Err(reason) => problems.invalid.push((key.clone(), reason)),
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(problems)
    }
}

/// Checks the values an install or upgrade stores: typed, declared, fitting, and every
/// required setting covered. Returns them typed; defaults are not added (they come from the
/// manifest of the version that runs).
///
/// # Errors
///
/// [`HostError::Config`] with every problem.
pub(super) fn check_values(
    manifest: &Manifest,
    given: &ConfigValues,
) -> Result<ConfigValues, HostError> {
    let problems = |problems| HostError::Config {
        plugin: manifest.name.clone(),
        problems,
    };
    let typed = coerce(&manifest.config, given).map_err(|mut p| {
        // The other problems too, so that one attempt names them all.
        if let Err(more) = manifest.config.resolve(given) {
            p.missing = more.missing;
            p.unknown = more.unknown;
            p.declared = more.declared;
        }
        problems(p)
    })?;
    manifest.config.resolve(&typed).map_err(problems)?;
    Ok(typed)
}

/// The values an upgrade to `manifest` keeps from `stored`, with `given` on top: values of
/// settings the new version no longer declares are dropped (and logged).
pub(super) fn carry_over(
    manifest: &Manifest,
    stored: &ConfigValues,
    given: &ConfigValues,
) -> ConfigValues {
    let mut values = ConfigValues::new();
    for (key, value) in stored {
        if manifest.config.get(key).is_some() {
            values.insert(key.clone(), value.clone());
        } else {
            tracing::info!(
                plugin = %manifest.name, setting = %key,
                "the new version declares no such setting; its value is dropped"
            );
        }
    }
    values.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    values
}

impl Host {
    /// The settings of the installed plugin `name`, with the values it runs with (never a
    /// sensitive one).
    ///
    /// # Errors
    ///
    /// [`HostError::NotInstalled`], or a store failure.
    pub async fn config_entries(&self, name: &str) -> Result<Vec<ConfigEntry>, HostError> {
        let record = self.plugin(name).await?;
        let values = self.store().plugin_config(name).await?;
        Ok(entries(&record.manifest.config, &values))
    }

    /// Changes settings of the installed plugin `name`: each key maps to its new value, or to
    /// `None` to remove the value (the default, if any, applies again). Every change is
    /// checked before any is stored; then a running plugin is recreated with the new values
    /// (its config hash changed). A plugin that does not come up keeps the new values, with
    /// the error in its status, and the error is returned.
    ///
    /// # Errors
    ///
    /// [`HostError::Config`] naming every key that is not declared, every value that does not
    /// fit and every required setting that would be left without a value;
    /// [`HostError::NotInstalled`]; or the reconcile's failure.
    pub async fn configure(
        &self,
        name: &str,
        changes: BTreeMap<String, Option<Value>>,
    ) -> Result<Vec<ConfigEntry>, HostError> {
        {
            let _guard = self.lock(name).await;
            let record = self.plugin(name).await?;
            let schema = &record.manifest.config;
            let mut values = self.store().plugin_config(name).await?;
            let set: ConfigValues = changes
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
                .collect();
            let mut problems = match coerce(schema, &set) {
                Ok(typed) => {
                    values.extend(typed);
                    ConfigProblems::default()
                }
                Err(problems) => problems,
            };
            let keys: Vec<&str> = schema.iter().map(|(k, _)| k.as_str()).collect();
            for (key, change) in &changes {
                if change.is_none() {
                    values.remove(key);
                    if schema.get(key).is_none() {
                        problems
                            .unknown
                            .push(nanofleet_sdk::manifest::config::UnknownSetting {
                                key: key.clone(),
                                did_you_mean: nanofleet_sdk::manifest::rules::closest(key, &keys)
                                    .map(str::to_owned),
                            });
                    }
                }
            }
            if let Err(more) = schema.resolve(&values) {
                problems.missing = more.missing;
                problems.unknown.extend(more.unknown);
                for (key, reason) in more.invalid {
                    if !problems.invalid.iter().any(|(seen, _)| *seen == key) {
                        problems.invalid.push((key, reason));
                    }
                }
            }
            if !problems.is_empty() {
                problems.declared = keys.iter().map(|k| (*k).to_owned()).collect();
                return Err(HostError::Config {
                    plugin: name.to_owned(),
                    problems,
                });
            }
            self.store().set_plugin_config(name, values).await?;
            let changed: Vec<&str> = changes.keys().map(String::as_str).collect();
            tracing::info!(plugin = name, settings = ?changed, "configuration changed");
        }
        self.reconcile_plugin(name).await?;
        self.config_entries(name).await
    }
}

/// The text of a value for a listing: strings as they are, the rest as JSON.
pub fn display_value(value: &Value) -> String {
    Setting::env_text(value)
}
