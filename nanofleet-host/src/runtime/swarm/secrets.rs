//! A plugin's secret values as Swarm secrets: created on demand, named after their content,
//! and removed with the service that used them.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use bollard::models::{SecretSpec, TaskSpecContainerSpecFile, TaskSpecContainerSpecSecrets};
use bollard::query_parameters::ListSecretsOptions;
use sha2::{Digest, Sha256};

use crate::labels;
use crate::runtime::docker::containers::managed_labels;
use crate::runtime::docker::errors::status;
use crate::runtime::{ContainerSpec, RuntimeError, parse_non_root_user, to_hex};

use super::SwarmRuntime;

/// The label naming the variable a secret holds.
const SECRET_VARIABLE: &str = "com.nanofleet.secret-variable";

/// Read-only, for the plugin's user alone.
const SECRET_FILE_MODE: u32 = 0o400;

/// The secret's name: derived from the instance, plugin, variable and value, so a rotated
/// value is a new secret (Swarm secrets cannot change) and the same value is the same secret.
/// 40 hex digits after a short prefix, well inside Swarm's 64-character limit.
fn secret_name(spec: &ContainerSpec, variable: &str, value: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [spec.instance.name(), spec.plugin.as_str(), variable, value] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = to_hex(&hasher.finalize());
    format!("nanofleet-{}", &digest[..40])
}

fn secret_labels(spec: &ContainerSpec, variable: &str) -> HashMap<String, String> {
    let mut labels = managed_labels(Some(&spec.plugin));
    labels.insert(labels::INSTANCE.into(), spec.instance.name().to_owned());
    labels.insert(SECRET_VARIABLE.into(), variable.to_owned());
    labels
}

impl SwarmRuntime {
    /// Creates the secrets of `spec` that do not exist yet, and returns how the service
    /// mounts each: a file named like the variable in `/run/secrets`, owned by the plugin's
    /// user, mode 0400. Returns the names it created, to be removed again if the service
    /// cannot be created.
    pub(super) async fn ensure_secrets(
        &self,
        spec: &ContainerSpec,
    ) -> Result<(Vec<TaskSpecContainerSpecSecrets>, Vec<String>), RuntimeError> {
        let (uid, gid) = parse_non_root_user(&spec.user).map_err(RuntimeError::InvalidSpec)?;
        let mut mounts = Vec::with_capacity(spec.secrets.len());
        let mut created = Vec::new();
        for variable in &spec.secrets {
            let Some(value) = spec.env.get(variable) else {
                return Err(RuntimeError::InvalidSpec(format!(
                    "secrets: `{variable}` is named a secret but has no value in env"
                )));
            };
            let name = secret_name(spec, variable, value);
            let request = SecretSpec {
                name: Some(name.clone()),
                labels: Some(secret_labels(spec, variable)),
                data: Some(base64::engine::general_purpose::STANDARD.encode(value)),
                ..Default::default()
            };
            let id = match self.docker().create_secret(request).await {
                Ok(created_secret) => {
                    created.push(name.clone());
                    created_secret.id
                }
                // The same value for the same plugin: already there, and identical by name.
                Err(e) if status(&e) == Some(409) => self
                    .docker()
                    .inspect_secret(&name)
                    .await
                    .map_err(|e| self.fail(format!("inspect secret {name}"), e))?
                    .id
                    .unwrap_or_default(),
                Err(e) => {
                    self.delete_secrets(&created).await;
                    return Err(self.fail(
                        format!("create the secret for {variable} of {}", spec.plugin),
                        e,
                    ));
                }
            };
            mounts.push(TaskSpecContainerSpecSecrets {
                file: Some(TaskSpecContainerSpecFile {
                    name: Some(variable.clone()),
                    uid: Some(uid.to_string()),
                    gid: Some(gid.to_string()),
                    mode: Some(SECRET_FILE_MODE),
                }),
                secret_id: Some(id),
                secret_name: Some(name),
            });
        }
        Ok((mounts, created))
    }

    /// Removes the named secrets, as far as possible: a failure is logged, not returned,
    /// because this runs while another error is being reported.
    pub(super) async fn delete_secrets(&self, names: &[String]) {
        for name in names {
            if let Err(e) = self.docker().delete_secret(name).await
                && status(&e) != Some(404)
            {
                tracing::warn!(secret = %name, error = %e, "cannot remove the secret");
            }
        }
    }

    /// Removes the secrets of `plugin` in `instance` that no service uses any more. One still
    /// in use (by the service, or a task still shutting down) is refused by the engine and
    /// kept for the next time.
    pub(super) async fn remove_unused_secrets(
        &self,
        instance: &str,
        plugin: &str,
        in_use: &HashSet<String>,
    ) -> Result<(), RuntimeError> {
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
                format!("{}={plugin}", labels::PLUGIN),
                format!("{}={instance}", labels::INSTANCE),
            ],
        )]);
        let secrets = self
            .docker()
            .list_secrets(Some(ListSecretsOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| self.fail(format!("list the secrets of {plugin}"), e))?;
        for secret in secrets {
            let name = secret.spec.and_then(|s| s.name).unwrap_or_default();
            let Some(id) = secret.id else { continue };
            if in_use.contains(&name) {
                continue;
            }
            match self.docker().delete_secret(&id).await {
                Ok(()) => {}
                Err(e) if matches!(status(&e), Some(400 | 404 | 409)) => {}
                Err(e) => return Err(self.fail(format!("remove secret {name}"), e)),
            }
        }
        Ok(())
    }
}
