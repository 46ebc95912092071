//! Docker/OCI image references: one parser for every place a reference is read (the manifest
//! rules, image building, the host's image policy, pulls), so that all of them agree on what
//! the repository, tag and digest of a reference are.
//!
//! ```
//! use nanofleet_contracts::image::ImageRef;
//!
//! let image = ImageRef::parse("localhost:5000/acme/notes:0.1.0").unwrap();
//! assert_eq!(image.name(), "localhost:5000/acme/notes");
//! assert_eq!(image.tag, Some("0.1.0"));
//! assert_eq!(image.dev_tag(), "localhost:5000/acme/notes:dev");
//! assert_eq!(ImageRef::parse("nginx").unwrap().canonical_name(), "docker.io/library/nginx");
//! ```

use std::fmt;

use crate::manifest::rules::{RuleViolation, describe_char};

/// The longest repository name (registry included) the distribution reference grammar accepts.
const MAX_IMAGE_NAME_LEN: usize = 255;

/// The longest image tag the distribution reference grammar accepts.
const MAX_TAG_LEN: usize = 128;

/// The tag `nanofleet build` and `nanofleet dev` give every plugin image beside its versioned
/// one, so that a development install always runs the newest build.
pub const DEV_TAG: &str = "dev";

/// The tag the engine assumes when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// The registry the engine assumes for a reference without one.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// A Docker/OCI image reference split into its parts, as `docker pull` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// The registry host and optional port, e.g. `ghcr.io` or `localhost:5000`.
    pub registry: Option<&'a str>,
    /// The repository path, e.g. `acme/kanban`.
    pub repository: &'a str,
    /// The tag, e.g. `1.2.3`.
    pub tag: Option<&'a str>,
    /// The digest, e.g. `sha256:…`.
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    /// Parses `image`; see [`parse_image_ref`] for the grammar.
    ///
    /// # Errors
    ///
    /// What is wrong with the reference, with a hint where one can be given.
    pub fn parse(image: &'a str) -> Result<Self, RuleViolation> {
        parse_image_ref(image)
    }

    /// Whether the reference names a specific image rather than an implicit `latest`.
    pub fn is_pinned(&self) -> bool {
        self.tag.is_some() || self.digest.is_some()
    }

    /// Whether the reference is pinned by content (`@sha256:…`): a tag can be moved to other
    /// content, a digest cannot.
    pub fn is_digest_pinned(&self) -> bool {
        self.digest.is_some()
    }

    /// The name without tag or digest, as written: `[registry/]repository`.
    pub fn name(&self) -> String {
        match self.registry {
            Some(registry) => format!("{registry}/{}", self.repository),
            None => self.repository.to_owned(),
        }
    }

    /// The name with Docker Hub's defaults spelt out and the registry lower-cased, so that two
    /// spellings of one repository compare equal: `nginx` → `docker.io/library/nginx`,
    /// `acme/x` → `docker.io/acme/x`.
    pub fn canonical_name(&self) -> String {
        match self.registry {
            Some(registry) => format!("{}/{}", registry.to_ascii_lowercase(), self.repository),
            None if !self.repository.contains('/') => {
                format!("{DEFAULT_REGISTRY}/library/{}", self.repository)
            }
            None => format!("{DEFAULT_REGISTRY}/{}", self.repository),
        }
    }

    /// The tag the engine uses: the given one, or [`DEFAULT_TAG`].
    pub fn tag_or_default(&self) -> &'a str {
        self.tag.unwrap_or(DEFAULT_TAG)
    }

    /// The same repository with another tag (and no digest): `acme/x:1` → `acme/x:<tag>`.
    pub fn with_tag(&self, tag: &str) -> String {
        format!("{}:{tag}", self.name())
    }

    /// The same repository tagged [`DEV_TAG`].
    pub fn dev_tag(&self) -> String {
        self.with_tag(DEV_TAG)
    }
}

impl fmt::Display for ImageRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(tag) = self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Whether `image` is a bare image id (`sha256:<64 hex>`) rather than a reference.
pub fn is_image_id(image: &str) -> bool {
    image
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Checks that `image` is a valid Docker/OCI image reference; see [`parse_image_ref`].
pub fn check_image_ref(image: &str) -> Result<(), RuleViolation> {
    parse_image_ref(image).map(|_| ())
}

/// Parses an image reference following the distribution reference grammar:
///
/// ```text
/// reference  := name [ ":" tag ] [ "@" digest ]
/// name       := [ registry "/" ] path
/// registry   := host [ ":" port ]        (a first component with `.` or `:`, or `localhost`)
/// path       := component ( "/" component )*
/// component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
/// tag        := [\w][\w.-]{0,127}
/// digest     := "sha256:" hex{64} | "sha512:" hex{128}
/// ```
///
/// As with `docker pull`, a first path component is a registry only when it contains `.` or
/// `:` or is `localhost`; so `Nano/x` is an uppercase repository, not the registry `Nano`.
pub fn parse_image_ref(image: &str) -> Result<ImageRef<'_>, RuleViolation> {
    if image.is_empty() {
        return Err(RuleViolation::new("the image reference is empty")
            .with_hint("e.g. `ghcr.io/acme/kanban:1.2.3`"));
    }
    if let Some(c) = image.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            image_error(image, &format!("it contains {}", describe_char(c)))
                .with_hint(format!("remove it: `{}`", strip_blanks(image))),
        );
    }
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(check_digest(image, digest)?)),
        None => (image, None),
    };
    let (name, tag) = split_tag(rest);
    if let Some(tag) = tag {
        check_tag(image, tag)?;
    }
    if name.is_empty() {
        return Err(image_error(image, "it has no repository name")
            .with_hint("put the repository before the tag, e.g. `acme/kanban:1.2.3`"));
    }
    let (registry, repository) = split_registry(name);
    if let Some(registry) = registry {
        check_registry(image, registry)?;
    }
    // The repository is the tail of `name`, which starts the reference.
    let repository_start = registry.map_or(0, |registry| registry.len() + 1);
    check_repository(image, repository_start, repository)?;
    if name.len() > MAX_IMAGE_NAME_LEN {
        return Err(image_error(
            image,
            &format!("its name is longer than {MAX_IMAGE_NAME_LEN} characters"),
        ));
    }
    Ok(ImageRef {
        registry,
        repository,
        tag,
        digest,
    })
}

/// Splits `name[:tag]`: the tag follows the last `:` that comes after the last `/`, since a `:`
/// before a `/` separates a registry's port.
fn split_tag(reference: &str) -> (&str, Option<&str>) {
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => {
            let colon = last_slash + i;
            (&reference[..colon], Some(&reference[colon + 1..]))
        }
        None => (reference, None),
    }
}

/// Splits off the registry, which `docker pull` recognises by a `.` or `:` or as `localhost`.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.starts_with('[') =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn check_tag(image: &str, tag: &str) -> Result<(), RuleViolation> {
    if tag.is_empty() {
        return Err(
            image_error(image, "it ends with `:` but has no tag").with_hint(format!(
                "add a tag such as `{image}1.0.0`, or remove the `:`"
            )),
        );
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let first_ok = tag.starts_with(word);
    let rest_ok = tag.chars().all(|c| word(c) || c == '.' || c == '-');
    if !first_ok || !rest_ok {
        return Err(image_error(
            image,
            &format!(
                "its tag `{tag}` is invalid: use letters, digits, `_`, `.` and `-`, not \
                 starting with `.` or `-`"
            ),
        ));
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(image_error(
            image,
            &format!("its tag is longer than {MAX_TAG_LEN} characters"),
        ));
    }
    Ok(())
}

fn check_digest<'a>(image: &str, digest: &'a str) -> Result<&'a str, RuleViolation> {
    let expected_len = match digest.split_once(':') {
        Some(("sha256", hex)) => Some((64, hex)),
        Some(("sha512", hex)) => Some((128, hex)),
        _ => None,
    };
    let valid = expected_len.is_some_and(|(len, hex)| {
        hex.len() == len
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    });
    if valid {
        Ok(digest)
    } else {
        Err(
            image_error(image, &format!("its digest `{digest}` is invalid"))
                .with_hint("a digest is `sha256:` followed by 64 lowercase hexadecimal digits"),
        )
    }
}

fn check_registry(image: &str, registry: &str) -> Result<(), RuleViolation> {
    let (host, port) = if let Some(after_bracket) = registry.strip_prefix('[') {
        // A bracketed IPv6 address: `[::1]:5000`.
        let Some((addr, rest)) = after_bracket.split_once(']') else {
            return Err(registry_error(image, registry));
        };
        let addr_ok = !addr.is_empty() && addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
        if !addr_ok {
            return Err(registry_error(image, registry));
        }
        match rest {
            "" => (None, None),
            _ => match rest.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err(registry_error(image, registry)),
            },
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        }
    };
    let host_ok = host.is_none_or(|host| !host.is_empty() && host.split('.').all(is_domain_label));
    let port_ok =
        port.is_none_or(|port| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(registry_error(image, registry))
    }
}

/// `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`
fn is_domain_label(label: &str) -> bool {
    !label.is_empty()
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn registry_error(image: &str, registry: &str) -> RuleViolation {
    image_error(
        image,
        &format!("its registry `{registry}` is not a valid host[:port]"),
    )
    .with_hint("e.g. `ghcr.io` or `localhost:5000`")
}

fn check_repository(image: &str, start: usize, repository: &str) -> Result<(), RuleViolation> {
    if repository.chars().any(|c| c.is_ascii_uppercase()) {
        let (head, tail) = image.split_at_checked(start).unwrap_or(("", image));
        let tail = tail.get(repository.len()..).unwrap_or_default();
        let lowered = format!("{head}{}{tail}", repository.to_ascii_lowercase());
        return Err(image_error(
            image,
            &format!("its repository `{repository}` contains uppercase letters"),
        )
        .with_hint(format!("repositories are lowercase: `{lowered}`")));
    }
    match repository.split('/').find(|c| !is_path_component(c)) {
        None => Ok(()),
        Some("") => Err(
            image_error(image, "its repository has an empty path component")
                .with_hint("remove the doubled, leading or trailing `/`"),
        ),
        Some(component) => Err(image_error(
            image,
            &format!("its path component `{component}` is invalid"),
        )
        .with_hint(
            "use lowercase letters and digits, separated by `.`, `_`, `__` or `-`, e.g. \
             `acme/kanban`",
        )),
    }
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`
fn is_path_component(component: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut chars = component.chars().peekable();
    loop {
        // One alphanumeric run, then either the end or one separator.
        let mut run = 0;
        while chars.next_if(|c| alnum(*c)).is_some() {
            run += 1;
        }
        if run == 0 {
            return false;
        }
        match chars.next() {
            None => return true,
            Some('.') => {}
            Some('_') => {
                chars.next_if_eq(&'_');
            }
            Some('-') => while chars.next_if_eq(&'-').is_some() {},
            Some(_) => return false,
        }
    }
}

fn image_error(image: &str, why: &str) -> RuleViolation {
    RuleViolation::new(format!("`{image}` is not a valid image reference: {why}"))
}

fn strip_blanks(s: &str) -> String {
    s.chars()
        .filter(|c| !(c.is_whitespace() || c.is_control()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn hint_of<T>(result: Result<T, RuleViolation>) -> Option<String> {
        result.err().and_then(|v| v.hint)
    }

    #[test]
    fn valid_image_references() {
        let digest = format!("localhost:5000/a/b@sha256:{HEX64}");
        let tagged_digest = format!("nginx:1.25@sha256:{HEX64}");
        let sha512 = format!("x@sha512:{HEX64}{HEX64}");
        for ok in [
            "nginx",
            "nginx:latest",
            "nanofleet/kanban:0.1.0",
            "ghcr.io/acme/kanban:1.2.3",
            "registry.example.com:443/team/sub/app:v2_rc-1.x",
            "localhost/app",
            "x/a.b__c-d---e/f_g:TAG",
            "[::1]:5000/app:1",
            "127.0.0.1:5000/app",
            "My.Registry.io/app",
            &digest,
            &tagged_digest,
            &sha512,
        ] {
            assert_eq!(check_image_ref(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn invalid_image_references() {
        let long_tag = format!("app:{}", "t".repeat(129));
        let long_name = format!("{}:1", "a".repeat(256));
        for bad in [
            "",
            "Nano/x",
            "acme/Kanban:1",
            "x:",
            "a b",
            ":tag",
            "app:-bad",
            "app:a/b",
            "a//b",
            "/a",
            "a/",
            "a..b",
            "a___b",
            "-a",
            "a-",
            "app@sha256:abc",
            "app@md5:0123456789abcdef0123456789abcdef",
            "ghcr.io:/app",
            "my-.registry.io/app",
            "[zz]:5000/app",
            "app\n",
            "é/app",
            &long_tag,
            &long_name,
        ] {
            assert!(check_image_ref(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn image_reference_parts() {
        let parsed = parse_image_ref("localhost:5000/a/b:1.0");
        assert_eq!(
            parsed,
            Ok(ImageRef {
                registry: Some("localhost:5000"),
                repository: "a/b",
                tag: Some("1.0"),
                digest: None,
            })
        );
        assert!(parse_image_ref("localhost:5000/a").is_ok_and(|r| !r.is_pinned()));
        assert!(parse_image_ref("a:1").is_ok_and(|r| r.is_pinned()));
    }

    #[test]
    fn uppercase_repository_hint_lowercases_only_the_repository() {
        let hint = hint_of(check_image_ref("Acme.io/Acme:V1")).unwrap_or_default();
        assert!(hint.contains("`Acme.io/acme:V1`"), "{hint}");
    }

    #[test]
    fn names_tags_and_canonical_forms() {
        let cases = [
            ("nginx", "nginx", "docker.io/library/nginx", "nginx:dev"),
            ("acme/x:1", "acme/x", "docker.io/acme/x", "acme/x:dev"),
            (
                "Ghcr.IO/acme/x:1",
                "Ghcr.IO/acme/x",
                "ghcr.io/acme/x",
                "Ghcr.IO/acme/x:dev",
            ),
            (
                "localhost:5000/a/b:1.2",
                "localhost:5000/a/b",
                "localhost:5000/a/b",
                "localhost:5000/a/b:dev",
            ),
        ];
        for (text, name, canonical, dev) in cases {
            let image = ImageRef::parse(text).expect(text);
            assert_eq!(image.name(), name);
            assert_eq!(image.canonical_name(), canonical);
            assert_eq!(image.dev_tag(), dev);
            assert_eq!(image.to_string(), text);
        }
        let pinned = format!("acme/x:1@sha256:{HEX64}");
        let image = ImageRef::parse(&pinned).expect("pinned");
        assert!(image.is_digest_pinned());
        assert_eq!(image.to_string(), pinned);
        assert_eq!(ImageRef::parse("a").expect("a").tag_or_default(), "latest");
        assert!(is_image_id(&format!("sha256:{HEX64}")));
        assert!(!is_image_id("sha256:abc"));
    }
}
