//! Which images the API may install (NanoFleet installed any image from any manifest URL).
//!
//! An [`ImagePolicy`] is checked on the image a manifest names, before anything is pulled or
//! started, for install and upgrade alike; a refusal is `403` with the code
//! `image_not_allowed`. Manifest URLs must be `http://` or `https://`.

use axum::http::StatusCode;

use nanofleet_contracts::image::{ImageRef, is_image_id};

use super::error::ApiError;

/// Which image references the API installs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ImagePolicy {
    /// Any image (development).
    #[default]
    Any,
    /// Only images pinned by content: `repo@sha256:<64 hex>`, or a local image id
    /// `sha256:<64 hex>`. A tag can be moved to other content; a digest cannot.
    RequireDigest,
    /// Only images from these repositories. An entry is a repository (`ghcr.io/acme/kanban`)
    /// or a prefix ending in `/` (`ghcr.io/acme/`). Docker Hub short names are normalised on
    /// both sides (`nginx` is `docker.io/library/nginx`).
    AllowRepositories(Vec<String>),
    /// Every policy in the list must allow the image, e.g. an allow-list and
    /// [`RequireDigest`](Self::RequireDigest).
    All(Vec<ImagePolicy>),
}

impl ImagePolicy {
    /// `Ok` when `image` may be installed, else why not.
    ///
    /// # Errors
    ///
    /// A sentence naming the image and the rule it breaks.
    pub fn check(&self, image: &str) -> Result<(), String> {
        match self {
            Self::Any => Ok(()),
            Self::RequireDigest => {
                if is_pinned(image) {
                    Ok(())
                } else {
                    Err(format!(
                        "image `{}` is not pinned by digest; this host only installs images \
                         referenced as `repository@sha256:<digest>`",
                        image.escape_debug()
                    ))
                }
            }
            Self::AllowRepositories(allowed) => {
                let Some(repository) = repository_of(image) else {
                    return Err(format!(
                        "image `{}` names no repository; this host only installs images from \
                         allowed repositories",
                        image.escape_debug()
                    ));
                };
                let ok = allowed.iter().any(|entry| {
                    if entry.ends_with('/') {
                        let prefix = format!("{}/", normalise(entry.trim_end_matches('/')));
                        repository.starts_with(&prefix)
                    } else {
                        repository == normalise(entry)
                    }
                });
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "image `{}` is from repository `{repository}`, which this host does not \
                         allow; allowed: {}",
                        image.escape_debug(),
                        allowed.join(", ")
                    ))
                }
            }
            Self::All(policies) => policies.iter().try_for_each(|p| p.check(image)),
        }
    }

    /// [`check`](Self::check) as an API error: 403 `image_not_allowed`.
    pub(crate) fn enforce(&self, image: &str) -> Result<(), ApiError> {
        self.check(image)
            .map_err(|why| ApiError::new(StatusCode::FORBIDDEN, "image_not_allowed", why))
    }
}

/// `repo@sha256:<hex>` or a bare image id `sha256:<hex>`.
fn is_pinned(image: &str) -> bool {
    is_image_id(image) || ImageRef::parse(image).is_ok_and(|r| r.is_digest_pinned())
}

/// The repository of a reference, without tag or digest, in its canonical form; `None` for
/// an image id or a string that is no reference.
fn repository_of(image: &str) -> Option<String> {
    if is_image_id(image) {
        return None;
    }
    ImageRef::parse(image).ok().map(|r| r.canonical_name())
}

/// An allow-list entry in canonical form (`nginx` → `docker.io/library/nginx`), compared with
/// [`repository_of`]. An entry that is no reference is kept as written, so it matches nothing
/// by accident.
fn normalise(entry: &str) -> String {
    ImageRef::parse(entry).map_or_else(|_| entry.to_owned(), |r| r.canonical_name())
}

/// Refuses manifest URLs that are not `http://` or `https://` (400 `unsupported_url`).
pub(crate) fn check_manifest_url(url: &str) -> Result<(), ApiError> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "unsupported_url",
            "a manifest URL must start with http:// or https://",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn digests() {
        let p = ImagePolicy::RequireDigest;
        assert!(p.check(&format!("ghcr.io/acme/k@{DIGEST}")).is_ok());
        assert!(p.check(DIGEST).is_ok());
        for bad in ["ghcr.io/acme/k:1.0", "k", "k@sha256:abc", "", "k@sha256:"] {
            assert!(p.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repositories() {
        let p = ImagePolicy::AllowRepositories(vec!["ghcr.io/acme/".into(), "nginx".into()]);
        for ok in [
            "ghcr.io/acme/kanban:1",
            &format!("ghcr.io/acme/x/y@{DIGEST}"),
            "nginx",
            "docker.io/library/nginx:1",
            "GHCR.io/acme/kanban",
        ] {
            assert!(p.check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ghcr.io/acmeevil/k:1",
            "ghcr.io/acme",
            "evil/nginx",
            "localhost:5000/nginx",
            DIGEST,
            "",
        ] {
            assert!(p.check(bad).is_err(), "{bad}");
        }
        let both = ImagePolicy::All(vec![p, ImagePolicy::RequireDigest]);
        assert!(both.check("ghcr.io/acme/kanban:1").is_err());
        assert!(both.check(&format!("ghcr.io/acme/kanban@{DIGEST}")).is_ok());
    }

    #[test]
    fn urls() {
        assert!(check_manifest_url("https://x/m.json").is_ok());
        assert!(check_manifest_url("HTTP://x").is_ok());
        for bad in ["file:///etc/passwd", "ftp://x", "", "httpx://"] {
            assert!(check_manifest_url(bad).is_err(), "{bad}");
        }
    }
}
