//! A plugin crate into a plugin image: build the binary, ask it for its manifest and its
//! tools, and build the image with both as labels.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nanofleet_contracts::{ImageRef, labels, manifest::Manifest};
use nanofleet_host::runtime::DockerRuntime;
use sha2::{Digest as _, Sha256};

use crate::cargo::{BuiltBinary, CargoBuild, build_static};
use crate::image::{ImageBuild, ImageId, build_image};
use crate::inspect::image_size;
use crate::{BuildError, Tool};

/// What to build into an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginBuild {
    /// The crate and how to compile it.
    pub cargo: CargoBuild,
    /// More references to tag the image as, beside the manifest's `image` and its `:dev` tag.
    pub extra_tags: Vec<String>,
}

impl PluginBuild {
    /// The crate at `path`, tagged as its manifest says.
    pub fn new(cargo: CargoBuild) -> Self {
        Self {
            cargo,
            extra_tags: Vec::new(),
        }
    }
}

/// The step [`build_plugin_with`] is at, for progress shown while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildStage<'a> {
    /// cargo compiles the static binary (its own output shows how far it is).
    Compiling,
    /// The binary is asked for its manifest and its tools.
    Inspecting,
    /// The image is being built and tagged as `tag`.
    BuildingImage {
        /// The manifest's `image`.
        tag: &'a str,
    },
}

/// A plugin image [`build_plugin`] made or found up to date.
#[derive(Debug, Clone)]
pub struct PluginImage {
    /// The plugin's manifest, as its binary prints it.
    pub manifest: Manifest,
    /// The plugin's tools, as its binary lists them (`tools/list`).
    pub tools: Vec<Tool>,
    /// The manifest's `image`: the reference the image is tagged as.
    pub tag: String,
    /// Every reference the image is tagged as, [`tag`](Self::tag) first.
    pub tags: Vec<String>,
    /// The image id.
    pub id: ImageId,
    /// The image's size, as the engine reports it.
    pub size_bytes: u64,
    /// Whether an image was built now (`false`: an image with this very binary existed).
    pub rebuilt: bool,
    /// The static binary it holds, on this machine.
    pub binary: PathBuf,
    /// Things worth fixing that did not stop the build, e.g. an image tag behind the version.
    pub warnings: Vec<String>,
}

/// Builds the crate statically, asks the binary for its manifest (`<binary> manifest`) and its
/// tools (`<binary> tools`: taken from the binary, not by running a container), and builds the
/// image `FROM scratch` tagged with the manifest's `image`, `<repository>:dev` and any extra
/// tags, with the manifest, the tools, the version and the binary's digest as labels and the
/// plugin's ports exposed. When an image with the same binary is already tagged so, nothing is
/// built (only missing tags are added).
///
/// # Errors
///
/// [`BuildError`]: cargo failed, the binary is no plugin, the engine failed.
pub async fn build_plugin(
    docker: &DockerRuntime,
    build: &PluginBuild,
) -> Result<PluginImage, BuildError> {
    build_plugin_with(docker, build, &|_| {}).await
}

/// [`build_plugin`], telling `progress` each [`BuildStage`] as it starts (a command line
/// shows a spinner on the image step, which cargo's own output does not cover).
///
/// # Errors
///
/// As [`build_plugin`].
pub async fn build_plugin_with(
    docker: &DockerRuntime,
    build: &PluginBuild,
    progress: &(dyn Fn(BuildStage<'_>) + Sync),
) -> Result<PluginImage, BuildError> {
    progress(BuildStage::Compiling);
    let cargo = build.cargo.clone();
    let BuiltBinary { krate, path } = tokio::task::spawn_blocking(move || build_static(&cargo))
        .await
        .map_err(|e| BuildError::Cargo(format!("the build thread failed: {e}")))??;
    progress(BuildStage::Inspecting);
    let manifest = plugin_manifest(&path)?;
    let tools = plugin_tools(&path)?;
    let mut warnings = version_warnings(&manifest, &krate.version);

    let tag = manifest.image.clone();
    let reference = ImageRef::parse(&tag)
        .map_err(|v| BuildError::Plugin(format!("the manifest's image is not usable: {v}")))?;
    let mut tags = vec![tag.clone(), reference.dev_tag()];
    for extra in &build.extra_tags {
        ImageRef::parse(extra).map_err(|v| BuildError::Invalid(format!("--tag {extra}: {v}")))?;
        if !tags.contains(extra) {
            tags.push(extra.clone());
        }
    }

    let path_for_digest = path.clone();
    let digest = tokio::task::spawn_blocking(move || file_sha256(&path_for_digest))
        .await
        .map_err(|e| BuildError::Plugin(format!("hashing the binary failed: {e}")))??;
    let mut up_to_date = true;
    for reference in &tags {
        let labels = docker
            .docker()
            .inspect_image(reference)
            .await
            .ok()
            .and_then(|i| i.config)
            .and_then(|c| c.labels);
        if labels
            .as_ref()
            .and_then(|l| l.get(labels::IMAGE_BINARY_DIGEST))
            != Some(&digest)
        {
            up_to_date = false;
        }
    }
    let tools_json = serde_json::to_string(&tools)
        .map_err(|e| BuildError::Plugin(format!("cannot write the tool list: {e}")))?;
    let id = if up_to_date {
        ImageId::from_engine(
            docker
                .docker()
                .inspect_image(&tag)
                .await
                .map_err(|e| docker.fail(format!("inspect image {tag}"), e))?
                .id
                .unwrap_or_default(),
        )
    } else {
        progress(BuildStage::BuildingImage { tag: &tag });
        let mut image = ImageBuild::new(&tag, &path);
        image.extra_tags = tags[1..].to_vec();
        image.expose = std::iter::once(manifest.mcp_port)
            .chain(manifest.ui_port)
            .collect();
        image.labels = BTreeMap::from([
            (labels::IMAGE_MANIFEST.to_owned(), manifest.to_json_pretty()),
            (labels::IMAGE_TOOLS.to_owned(), tools_json),
            (labels::VERSION.to_owned(), manifest.version.clone()),
            (labels::IMAGE_BINARY_DIGEST.to_owned(), digest),
            (
                "org.opencontainers.image.title".to_owned(),
                manifest.name.clone(),
            ),
            (
                "org.opencontainers.image.version".to_owned(),
                manifest.version.clone(),
            ),
        ]);
        if !manifest.description.is_empty() {
            image.labels.insert(
                "org.opencontainers.image.description".to_owned(),
                manifest.description.clone(),
            );
        }
        build_image(docker, &image).await?
    };
    if manifest.version != krate.version {
        // Not a failure: a plugin may version itself apart from its crate.
        warnings.push(format!(
            "the manifest's version {} differs from the crate's version {}",
            manifest.version, krate.version
        ));
    }
    let size_bytes = image_size(docker, &tag).await?;
    Ok(PluginImage {
        manifest,
        tools,
        tag,
        tags,
        id,
        size_bytes,
        rebuilt: !up_to_date,
        binary: path,
        warnings,
    })
}

/// The warnings about a manifest whose image tag has fallen behind its version.
pub fn version_warnings(manifest: &Manifest, crate_version: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    let Ok(reference) = ImageRef::parse(&manifest.image) else {
        return warnings;
    };
    if let Some(tag) = reference.tag
        && semver::Version::parse(tag.trim_start_matches('v')).is_ok()
        && tag.trim_start_matches('v') != manifest.version
    {
        warnings.push(format!(
            "the image tag `{tag}` in `{}` is not the plugin's version {} (crate {crate_version}): \
             the image would be published under an old version; write the image without a tag \
             to tag it with the version, or update the tag",
            manifest.image, manifest.version
        ));
    }
    warnings
}

fn file_sha256(path: &Path) -> Result<String, BuildError> {
    let bytes = std::fs::read(path)
        .map_err(|e| BuildError::Plugin(format!("cannot read {}: {e}", path.display())))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Runs `<binary> <command>` and returns its standard output.
fn run_plugin(binary: &Path, command: &str) -> Result<String, BuildError> {
    let out = Command::new(binary)
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            BuildError::Plugin(format!("cannot run `{} {command}`: {e}", binary.display()))
        })?;
    if !out.status.success() {
        return Err(BuildError::Plugin(format!(
            "`{} {command}` failed ({}): {}; is this a plugin whose `main` calls `YourPlugin.run()`?",
            binary.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8(out.stdout).map_err(|_| {
        BuildError::Plugin(format!(
            "`{} {command}` printed something that is not UTF-8",
            binary.display()
        ))
    })
}

/// The plugin's own account of its manifest, checked by the rules the host applies.
fn plugin_manifest(binary: &Path) -> Result<Manifest, BuildError> {
    let text = run_plugin(binary, "manifest")?;
    Manifest::parse_json(&text)
        .into_result()
        .map(|(manifest, _warnings)| manifest)
        .map_err(|d| {
            BuildError::Plugin(format!(
                "`{} manifest` prints an invalid manifest:\n{d}",
                binary.display()
            ))
        })
}

/// The plugin's tools as `tools/list` would return them.
fn plugin_tools(binary: &Path) -> Result<Vec<Tool>, BuildError> {
    let text = run_plugin(binary, "tools")?;
    serde_json::from_str(&text).map_err(|e| {
        BuildError::Plugin(format!(
            "`{} tools` does not print a tool list: {e}",
            binary.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_behind_the_version_is_warned_about() {
        let manifest = Manifest::new("notes", "0.2.0", "acme/notes:0.1.0", 8080);
        let warnings = version_warnings(&manifest, "0.2.0");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("`0.1.0`") && warnings[0].contains("0.2.0"));
        for fine in [
            "acme/notes:0.2.0",
            "acme/notes:v0.2.0",
            "acme/notes:dev",
            "acme/notes",
        ] {
            let manifest = Manifest::new("notes", "0.2.0", fine, 8080);
            assert!(version_warnings(&manifest, "0.2.0").is_empty(), "{fine}");
        }
    }
}
