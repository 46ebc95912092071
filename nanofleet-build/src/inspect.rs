//! What a plugin image says about itself, read from its labels alone: nothing runs.

use std::collections::BTreeMap;

use nanofleet_contracts::{labels, manifest::Manifest};
use nanofleet_host::runtime::{DockerRuntime, RuntimeError};
use serde::Serialize;

use crate::{BuildError, Tool};

/// A plugin image as its labels describe it.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    /// The reference it was asked for.
    pub reference: String,
    /// The image id (`sha256:…`): the digest of its configuration, what the engine runs.
    pub id: String,
    /// Registry digests (`repository@sha256:…`), for images that came from or went to a
    /// registry; empty for an image built here and never pushed.
    pub repo_digests: Vec<String>,
    /// Every tag the image has on this engine.
    pub tags: Vec<String>,
    /// Its size, as the engine reports it.
    pub size_bytes: u64,
    /// When it was built, as the engine reports it.
    pub created: Option<String>,
    /// The user it runs as.
    pub user: Option<String>,
    /// The ports it exposes.
    pub exposed_ports: Vec<String>,
    /// Its manifest, from [`labels::IMAGE_MANIFEST`].
    pub manifest: Manifest,
    /// Its tools, from [`labels::IMAGE_TOOLS`]; `None` for an image built without them.
    pub tools: Option<Vec<Tool>>,
    /// Every label.
    pub labels: BTreeMap<String, String>,
}

/// Reads `reference` from the engine and its NanoFleet labels.
///
/// # Errors
///
/// [`RuntimeError::ImageMissing`] (as [`BuildError::Runtime`]) when the engine has no such
/// image, [`BuildError::NotAPluginImage`] when it has no valid manifest label, or a tools label
/// that does not parse.
pub async fn inspect_image(
    docker: &DockerRuntime,
    reference: &str,
) -> Result<ImageInfo, BuildError> {
    let inspected = match docker.docker().inspect_image(reference).await {
        Ok(inspected) => inspected,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {
            return Err(RuntimeError::ImageMissing {
                image: reference.to_owned(),
                hint: "build it with `nanofleet build`, or pull it".into(),
            }
            .into());
        }
        Err(e) => return Err(docker.fail(format!("inspect image {reference}"), e).into()),
    };
    let config = inspected.config.unwrap_or_default();
    let labels: BTreeMap<String, String> = config.labels.unwrap_or_default().into_iter().collect();
    let manifest_text = labels.get(labels::IMAGE_MANIFEST).ok_or_else(|| {
        BuildError::NotAPluginImage(format!(
            "image {reference} has no {} label: it was not built as a NanoFleet plugin (build \
             it with `nanofleet build`)",
            labels::IMAGE_MANIFEST
        ))
    })?;
    let manifest = Manifest::parse_json(manifest_text)
        .into_result()
        .map(|(manifest, _)| manifest)
        .map_err(|d| {
            BuildError::NotAPluginImage(format!(
                "the {} label of image {reference} is not a valid manifest:\n{d}",
                labels::IMAGE_MANIFEST
            ))
        })?;
    let tools = labels
        .get(labels::IMAGE_TOOLS)
        .map(|text| {
            serde_json::from_str::<Vec<Tool>>(text).map_err(|e| {
                BuildError::NotAPluginImage(format!(
                    "the {} label of image {reference} is not a tool list: {e}",
                    labels::IMAGE_TOOLS
                ))
            })
        })
        .transpose()?;
    let mut exposed_ports: Vec<String> = config
        .exposed_ports
        .map(|ports| ports.into_iter().collect())
        .unwrap_or_default();
    exposed_ports.sort();
    Ok(ImageInfo {
        reference: reference.to_owned(),
        id: inspected.id.unwrap_or_default(),
        repo_digests: inspected.repo_digests.unwrap_or_default(),
        tags: inspected.repo_tags.unwrap_or_default(),
        size_bytes: inspected
            .size
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or_default(),
        created: inspected.created.map(|t| t.to_string()),
        user: config.user.filter(|u| !u.is_empty()),
        exposed_ports,
        manifest,
        tools,
        labels,
    })
}

/// The image's size as the engine reports it (0 when it reports none).
pub(crate) async fn image_size(docker: &DockerRuntime, reference: &str) -> Result<u64, BuildError> {
    let inspected = docker
        .docker()
        .inspect_image(reference)
        .await
        .map_err(|e| docker.fail(format!("inspect image {reference}"), e))?;
    Ok(inspected
        .size
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or_default())
}
