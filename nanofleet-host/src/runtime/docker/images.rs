//! Images: whether one is here, its labels, and pulling it when asked.

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::StreamExt as _;
use nanofleet_contracts::ImageRef;

use crate::runtime::RuntimeError;

use super::DockerRuntime;
use super::errors::*;

impl DockerRuntime {
    pub(super) async fn has_image(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if status(&e) == Some(404) => Ok(false),
            Err(e) => Err(self.fail(format!("inspect image {image}"), e)),
        }
    }

    pub(super) async fn label_of_image(
        &self,
        image: &str,
        key: &str,
    ) -> Result<Option<String>, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(inspected) => Ok(inspected
                .config
                .and_then(|c| c.labels)
                .and_then(|mut l| l.remove(key))),
            Err(e) if status(&e) == Some(404) => Err(RuntimeError::ImageMissing {
                image: image.to_owned(),
                hint:
                    "build it on this machine (`nanofleet build` in the plugin's crate) or pull it"
                        .into(),
            }),
            Err(e) => Err(self.fail(format!("inspect image {image}"), e)),
        }
    }

    pub(super) async fn pull_image(
        &self,
        image: &str,
        progress: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), RuntimeError> {
        let reference = ImageRef::parse(image).map_err(|v| {
            RuntimeError::InvalidSpec(format!("cannot pull `{}`: {v}", image.escape_debug()))
        })?;
        // Without a tag the engine would pull *every* tag of the repository.
        let options = if reference.is_digest_pinned() {
            CreateImageOptionsBuilder::new().from_image(image).build()
        } else {
            CreateImageOptionsBuilder::new()
                .from_image(&reference.name())
                .tag(reference.tag_or_default())
                .build()
        };
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            let failed = |message: String| RuntimeError::ImageMissing {
                image: image.to_owned(),
                hint: format!(
                    "the pull failed ({message}); check the registry and credentials, or build \
                     the image on this machine"
                ),
            };
            let info = match item {
                Ok(info) => info,
                Err(e) => {
                    return Err(match self.fail(format!("pull {image}"), e) {
                        RuntimeError::Engine { message, .. }
                        | RuntimeError::NotFound(message)
                        | RuntimeError::Conflict(message) => failed(message),
                        other => other,
                    });
                }
            };
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(failed(message));
            }
            let line = [info.id, info.status]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            if !line.is_empty() {
                progress(line);
            }
        }
        Ok(())
    }
}
