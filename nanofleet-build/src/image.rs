//! Building an image `FROM scratch` from one static binary, through the engine's API (the
//! classic builder; nothing is pulled), with labels passed through the API rather than as
//! `LABEL` lines, so a manifest (JSON, quotes, newlines) needs no Dockerfile escaping.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::path::PathBuf;

use bollard::body_full;
use bollard::query_parameters::{BuildImageOptionsBuilder, TagImageOptionsBuilder};
use futures::StreamExt as _;
use nanofleet_contracts::{
    ImageRef,
    manifest::rules,
    names::{PLUGIN_USER, parse_non_root_user},
};
use nanofleet_host::runtime::{DockerRuntime, RuntimeError};

use crate::BuildError;
use crate::layout::{build_context, check_binary_name};

/// The binary's path inside the image, unless told otherwise.
pub const DEFAULT_BINARY_NAME: &str = "/plugin";

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBuild {
    /// The image reference to tag, e.g. `nanofleet/notes:0.1.0`.
    pub tag: String,
    /// More references for the same image, e.g. `nanofleet/notes:latest`.
    pub extra_tags: Vec<String>,
    /// The static binary on this machine.
    pub binary: PathBuf,
    /// Its absolute path inside the image, e.g. [`DEFAULT_BINARY_NAME`]; also the entrypoint.
    pub binary_name: String,
    /// Image labels, e.g. [`IMAGE_MANIFEST`](nanofleet_contracts::labels::IMAGE_MANIFEST) with
    /// the `manifest.json`.
    pub labels: BTreeMap<String, String>,
    /// Ports the plugin listens on (documentation for `docker inspect`; nothing is published).
    pub expose: Vec<u16>,
    /// Numeric non-root `uid:gid` the image runs as and `/data` belongs to.
    pub user: String,
}

impl ImageBuild {
    /// A build of `binary` as `tag`, with the binary at [`DEFAULT_BINARY_NAME`], user
    /// [`PLUGIN_USER`], no labels and no exposed ports.
    pub fn new(tag: impl Into<String>, binary: impl Into<PathBuf>) -> Self {
        Self {
            tag: tag.into(),
            extra_tags: Vec::new(),
            binary: binary.into(),
            binary_name: DEFAULT_BINARY_NAME.to_owned(),
            labels: BTreeMap::new(),
            expose: Vec::new(),
            user: PLUGIN_USER.to_owned(),
        }
    }

    /// Checks everything that does not need the binary or the engine, reporting every
    /// problem at once.
    pub(crate) fn validate(&self) -> Result<(u32, u32), BuildError> {
        let mut problems = Vec::new();
        for tag in std::iter::once(&self.tag).chain(&self.extra_tags) {
            if let Err(v) = rules::check_image_ref(tag) {
                problems.push(format!("tag: {v}"));
            }
        }
        if let Err(why) = check_binary_name(&self.binary_name) {
            problems.push(why);
        }
        if self.expose.contains(&0) {
            problems.push("expose: port 0 is not a port".to_owned());
        }
        if let Some(key) = self.labels.keys().find(|k| k.is_empty()) {
            problems.push(format!("labels: an empty label name (`{key}`)"));
        }
        let user = parse_non_root_user(&self.user).map_err(|why| problems.push(why));
        match (problems.is_empty(), user) {
            (true, Ok(ids)) => Ok(ids),
            _ => Err(BuildError::Invalid(format!(
                "cannot build image {}: {}",
                self.tag,
                problems.join("; ")
            ))),
        }
    }
}

/// An image id, `sha256:…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageId(String);

impl ImageId {
    /// An id as the engine reported it.
    pub fn from_engine(id: String) -> Self {
        Self(id)
    }

    /// The id as the engine spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Builds the image (classic builder, intermediate containers removed even on failure), tags
/// it with every tag, and returns its id. Pulls nothing.
///
/// The binary must be static ([`STATIC_BUILD_HINT`](crate::layout::STATIC_BUILD_HINT)); a
/// dynamically linked one is refused
/// before anything is sent, because in a scratch image it would only fail at start with a
/// baffling "no such file or directory".
pub async fn build_image(
    docker: &DockerRuntime,
    build: &ImageBuild,
) -> Result<ImageId, BuildError> {
    let ids = build.validate()?;
    let context = {
        let build = build.clone();
        tokio::task::spawn_blocking(move || build_context(&build, ids))
            .await
            .map_err(|e| {
                BuildError::Invalid(format!("preparing the build context failed: {e}"))
            })??
    };

    let labels: HashMap<&str, &str> = build
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(&build.tag)
        .rm(true)
        .forcerm(true)
        .labels(&labels)
        .build();
    let operation = || format!("build image {}", build.tag);
    let mut output = VecDeque::new();
    let mut id = None;
    let mut stream = docker
        .docker()
        .build_image(options, None, Some(body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(info) => info,
            Err(e) => {
                return Err(match docker.fail(operation(), e) {
                    RuntimeError::Engine { operation, message } => RuntimeError::Engine {
                        operation,
                        message: with_output(message, &output),
                    },
                    other => other,
                }
                .into());
            }
        };
        if let Some(line) = info.stream.as_deref().map(str::trim_end)
            && !line.is_empty()
        {
            tracing::debug!(image = %build.tag, "{line}");
            output.push_back(line.to_owned());
            if output.len() > 20 {
                output.pop_front();
            }
        }
        // With bollard's buildkit types (always on: see Cargo.toml), the classic builder's
        // image id arrives as `BuildInfoAux::Default`.
        if let Some(bollard::models::BuildInfoAux::Default(image)) = info.aux
            && let Some(found) = image.id
        {
            id = Some(found);
        }
    }
    let id = match id {
        Some(id) => id,
        // Older engines may not send the id: ask for the tag instead.
        None => docker
            .docker()
            .inspect_image(&build.tag)
            .await
            .map_err(|e| docker.fail(operation(), e))?
            .id
            .ok_or_else(|| RuntimeError::Engine {
                operation: operation(),
                message: with_output("the engine reported no image id".into(), &output),
            })?,
    };
    for extra in &build.extra_tags {
        tag_image(docker, &id, extra).await?;
    }
    Ok(ImageId(id))
}

/// Tags the image `image` (an id or a reference) as `reference` too.
///
/// # Errors
///
/// [`BuildError::Invalid`] for a reference that does not parse; the engine's error otherwise.
pub async fn tag_image(
    docker: &DockerRuntime,
    image: &str,
    reference: &str,
) -> Result<(), BuildError> {
    let parsed = ImageRef::parse(reference)
        .map_err(|v| BuildError::Invalid(format!("cannot tag image as {reference}: {v}")))?;
    let options = TagImageOptionsBuilder::new()
        .repo(&parsed.name())
        .tag(parsed.tag_or_default())
        .build();
    docker
        .docker()
        .tag_image(image, Some(options))
        .await
        .map_err(|e| docker.fail(format!("tag image {image} as {reference}"), e))?;
    Ok(())
}

/// Removes the tag `reference`; the image itself goes only when no other tag or container
/// holds it. A tag that does not exist is not an error.
///
/// # Errors
///
/// The engine's error, e.g. when a running container uses the image through this tag only.
pub async fn remove_tag(docker: &DockerRuntime, reference: &str) -> Result<(), BuildError> {
    match docker
        .docker()
        .remove_image(
            reference,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
    {
        Ok(_)
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(docker
            .fail(format!("remove image tag {reference}"), e)
            .into()),
    }
}

fn with_output(message: String, output: &VecDeque<String>) -> String {
    if output.is_empty() {
        message
    } else {
        let tail: Vec<&str> = output.iter().map(String::as_str).collect();
        format!("{message} (last build output: {})", tail.join(" | "))
    }
}
