//! Plugin images built on this machine: `FROM scratch`, one static binary, nothing pulled.
//!
//! The machines this project runs on may reach no registry at all, so every image is built
//! locally from a build context written in memory:
//!
//! ```text
//! Dockerfile     FROM scratch / ADD rootfs.tar / / USER / EXPOSE / ENTRYPOINT
//! rootfs.tar     the binary (0755, root), /etc/passwd, /etc/group, /etc/nsswitch.conf,
//!                /data (owned by the plugin user), /tmp (1777, owned by the plugin user)
//! ```
//!
//! Why `ADD rootfs.tar` rather than `COPY`: the classic builder's `COPY` makes everything
//! root-owned (and `--chown` would make *everything* the plugin's). `ADD` of a local tar keeps
//! each entry's owner and mode exactly, so the binary and `/etc` stay root's while `/data`
//! belongs to the plugin user. That matters because Docker, when it mounts a fresh named
//! volume over `/data`, copies the image's `/data` into it *with its ownership*: without this
//! the volume root is `root:root` and a non-root plugin cannot write its own data.
//!
//! Labels go through the build API rather than `LABEL` lines, so a manifest (JSON, quotes,
//! newlines) needs no Dockerfile escaping. There is no `# syntax=` line: BuildKit would try to
//! pull a frontend. Tar entries are never sparse: dockerd rejects them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use bollard::body_full;
use bollard::query_parameters::{BuildImageOptionsBuilder, TagImageOptionsBuilder};
use futures::StreamExt as _;
use nanofleet_contracts::{ImageRef, manifest::rules};

use sha2::{Digest, Sha256};

use super::{DEFAULT_USER, DockerRuntime, RuntimeError, parse_non_root_user, to_hex};
use crate::labels;

/// How to build a binary that runs in a `FROM scratch` image.
pub const STATIC_BUILD_HINT: &str = "a FROM scratch image has no libc: build the binary \
    static, e.g. CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS=\"-C target-feature=+crt-static\" \
    cargo build --release --target x86_64-unknown-linux-gnu (the explicit --target keeps the flag \
    off proc-macros), or build for x86_64-unknown-linux-musl";

/// The binary's path inside the image, unless told otherwise.
pub const DEFAULT_BINARY_NAME: &str = "/plugin";

/// Paths the image layout itself uses; the binary may not take them.
const RESERVED_PATHS: [&str; 6] = [
    "/etc",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/data",
    "/tmp",
];

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
    /// Image labels, e.g. [`crate::labels::IMAGE_MANIFEST`] with the `manifest.json`.
    pub labels: BTreeMap<String, String>,
    /// Ports the plugin listens on (documentation for `docker inspect`; nothing is published).
    pub expose: Vec<u16>,
    /// Numeric non-root `uid:gid` the image runs as and `/data` belongs to.
    pub user: String,
}

impl ImageBuild {
    /// A build of `binary` as `tag`, with the binary at [`DEFAULT_BINARY_NAME`], user
    /// [`DEFAULT_USER`], no labels and no exposed ports.
    pub fn new(tag: impl Into<String>, binary: impl Into<PathBuf>) -> Self {
        Self {
            tag: tag.into(),
            extra_tags: Vec::new(),
            binary: binary.into(),
            binary_name: DEFAULT_BINARY_NAME.to_owned(),
            labels: BTreeMap::new(),
            expose: Vec::new(),
            user: DEFAULT_USER.to_owned(),
        }
    }

    /// Checks everything that does not need the binary or the engine, reporting every
    /// problem at once.
    fn validate(&self) -> Result<(u32, u32), RuntimeError> {
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
            _ => Err(RuntimeError::InvalidSpec(format!(
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
/// The binary must be static ([`STATIC_BUILD_HINT`]); a dynamically linked one is refused
/// before anything is sent, because in a scratch image it would only fail at start with a
/// baffling "no such file or directory".
pub async fn build_image(
    docker: &DockerRuntime,
    build: &ImageBuild,
) -> Result<ImageId, RuntimeError> {
    let ids = build.validate()?;
    let context = {
        let build = build.clone();
        tokio::task::spawn_blocking(move || build_context(&build, ids))
            .await
            .map_err(|e| RuntimeError::Engine {
                operation: "prepare the image build context".into(),
                message: e.to_string(),
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
    let mut output = std::collections::VecDeque::new();
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
                });
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
        let reference = ImageRef::parse(extra)
            .map_err(|v| RuntimeError::InvalidSpec(format!("cannot tag image as {extra}: {v}")))?;
        let options = TagImageOptionsBuilder::new()
            .repo(&reference.name())
            .tag(reference.tag_or_default())
            .build();
        docker
            .docker()
            .tag_image(&id, Some(options))
            .await
            .map_err(|e| docker.fail(format!("tag image {} as {extra}", build.tag), e))?;
    }
    Ok(ImageId(id))
}

fn with_output(message: String, output: &std::collections::VecDeque<String>) -> String {
    if output.is_empty() {
        message
    } else {
        let tail: Vec<&str> = output.iter().map(String::as_str).collect();
        format!("{message} (last build output: {})", tail.join(" | "))
    }
}

fn check_binary_name(name: &str) -> Result<(), String> {
    let valid_parts = name.strip_prefix('/').is_some_and(|rest| {
        rest.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
    });
    if !valid_parts || name.len() > 200 {
        return Err(format!(
            "binary_name `{}` is not an absolute path of letters, digits, `.`, `_` and `-`: \
             use e.g. `{DEFAULT_BINARY_NAME}`",
            name.escape_debug()
        ));
    }
    if RESERVED_PATHS
        .iter()
        .any(|r| name == *r || name.starts_with(&format!("{r}/")))
    {
        return Err(format!(
            "binary_name `{name}` collides with the image layout (/etc, /data, /tmp): use e.g. \
             `{DEFAULT_BINARY_NAME}`"
        ));
    }
    Ok(())
}

/// The build context: a tar holding the Dockerfile and `rootfs.tar`.
fn build_context(build: &ImageBuild, (uid, gid): (u32, u32)) -> Result<Vec<u8>, RuntimeError> {
    let binary_error = |message: String| {
        RuntimeError::InvalidSpec(format!(
            "cannot build image {} from {}: {message}",
            build.tag,
            build.binary.display()
        ))
    };
    let binary = std::fs::read(&build.binary).map_err(|e| binary_error(e.to_string()))?;
    check_static_elf(&binary).map_err(binary_error)?;

    let tar_error = |e: io::Error| RuntimeError::Engine {
        operation: format!("write the build context of {}", build.tag),
        message: e.to_string(),
    };
    let rootfs = rootfs_tar(build, &binary, uid, gid).map_err(tar_error)?;
    drop(binary);
    let dockerfile = dockerfile(build, uid, gid);
    let mut context = new_tar(Vec::with_capacity(rootfs.len() + 4096));
    append_file(
        &mut context,
        "Dockerfile",
        dockerfile.as_bytes(),
        0o644,
        0,
        0,
    )
    .map_err(tar_error)?;
    append_file(&mut context, "rootfs.tar", &rootfs, 0o644, 0, 0).map_err(tar_error)?;
    context.into_inner().map_err(tar_error)
}

fn dockerfile(build: &ImageBuild, uid: u32, gid: u32) -> String {
    let mut lines = vec![
        "FROM scratch".to_owned(),
        // ADD of a local tar extracts it keeping each entry's owner and mode; see the module docs.
        "ADD rootfs.tar /".to_owned(),
        format!("USER {uid}:{gid}"),
    ];
    let mut ports = build.expose.clone();
    ports.sort_unstable();
    ports.dedup();
    lines.extend(ports.iter().map(|port| format!("EXPOSE {port}/tcp")));
    // `binary_name` is validated to plain path characters: nothing to escape in JSON.
    lines.push(format!("ENTRYPOINT [\"{}\"]", build.binary_name));
    lines.join("\n") + "\n"
}

fn rootfs_tar(build: &ImageBuild, binary: &[u8], uid: u32, gid: u32) -> io::Result<Vec<u8>> {
    let mut tar = new_tar(Vec::with_capacity(binary.len() + 8192));
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{uid}:{gid}:nonroot:/data:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nnonroot:x:{gid}:\n");
    append_dir(&mut tar, "etc/", 0o755, 0, 0)?;
    append_file(&mut tar, "etc/passwd", passwd.as_bytes(), 0o644, 0, 0)?;
    append_file(&mut tar, "etc/group", group.as_bytes(), 0o644, 0, 0)?;
    // Static glibc resolves through /etc/hosts (Docker mounts one) and DNS, in that order.
    append_file(
        &mut tar,
        "etc/nsswitch.conf",
        b"hosts: files dns\n",
        0o644,
        0,
        0,
    )?;
    append_dir(&mut tar, "data/", 0o755, uid, gid)?;
    append_dir(&mut tar, "tmp/", 0o1777, uid, gid)?;
    let relative = build.binary_name.trim_start_matches('/');
    let mut parent = String::new();
    let parts: Vec<&str> = relative.split('/').collect();
    if let Some((_, dirs)) = parts.split_last() {
        for dir in dirs {
            parent.push_str(dir);
            parent.push('/');
            append_dir(&mut tar, &parent, 0o755, 0, 0)?;
        }
    }
    append_file(&mut tar, relative, binary, 0o755, 0, 0)?;
    tar.into_inner()
}

fn new_tar(buffer: Vec<u8>) -> tar::Builder<Vec<u8>> {
    let mut tar = tar::Builder::new(buffer);
    // dockerd rejects sparse entries ("unhandled tar header type 83").
    tar.sparse(false);
    tar
}

fn header(kind: tar::EntryType, size: u64, mode: u32, uid: u32, gid: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(u64::from(uid));
    header.set_gid(u64::from(gid));
    // A fixed time: the same binary gives the same context, and the builder's cache hits.
    header.set_mtime(0);
    header
}

fn append_dir(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    mode: u32,
    uid: u32,
    gid: u32,
) -> io::Result<()> {
    let mut header = header(tar::EntryType::Directory, 0, mode, uid, gid);
    tar.append_data(&mut header, path, io::empty())
}

fn append_file(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    data: &[u8],
    mode: u32,
    uid: u32,
    gid: u32,
) -> io::Result<()> {
    let mut header = header(tar::EntryType::Regular, data.len() as u64, mode, uid, gid);
    tar.append_data(&mut header, path, data)
}

/// Refuses what cannot run in a scratch image: anything that is not an ELF executable, and
/// ELF executables that name a dynamic loader (a `PT_INTERP` program header).
fn check_static_elf(bytes: &[u8]) -> Result<(), String> {
    const PT_INTERP: u32 = 3;
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(format!("it is not an ELF executable; {STATIC_BUILD_HINT}"));
    }
    let malformed = || "its ELF header is malformed".to_owned();
    let little = match bytes.get(5) {
        Some(1) => true,
        Some(2) => false,
        _ => return Err(malformed()),
    };
    let read = |offset: usize, len: usize| -> Option<u64> {
        let raw = bytes.get(offset..offset.checked_add(len)?)?;
        let mut buf = [0u8; 8];
        if little {
            buf.get_mut(..len)?.copy_from_slice(raw);
            Some(u64::from_le_bytes(buf))
        } else {
            buf.get_mut(8 - len..)?.copy_from_slice(raw);
            Some(u64::from_be_bytes(buf))
        }
    };
    // (e_phoff, e_phentsize, e_phnum) offsets for ELF32 and ELF64.
    let (phoff, phentsize, phnum) = match bytes.get(4) {
        Some(1) => (read(28, 4), read(42, 2), read(44, 2)),
        Some(2) => (read(32, 8), read(54, 2), read(56, 2)),
        _ => return Err(malformed()),
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (phoff, phentsize, phnum) else {
        return Err(malformed());
    };
    for index in 0..phnum {
        let offset = index
            .checked_mul(phentsize)
            .and_then(|o| o.checked_add(phoff))
            .and_then(|o| usize::try_from(o).ok())
            .ok_or_else(malformed)?;
        let kind = read(offset, 4).ok_or_else(malformed)?;
        if kind == u64::from(PT_INTERP) {
            return Err(format!(
                "it is dynamically linked (it needs a loader and libc the image does not have); \
                 {STATIC_BUILD_HINT}"
            ));
        }
    }
    Ok(())
}

/// Builds `bin` of `package` as a static binary for this machine's architecture (glibc with
/// `+crt-static`) and returns its path, in the workspace's usual target directory under
/// `<arch>-unknown-linux-gnu/<profile>/`.
///
/// Cargo is run from `CARGO_MANIFEST_DIR` (set when running under cargo; otherwise this
/// crate's own directory), so it finds the workspace by itself and honours
/// `CARGO_TARGET_DIR`. The flag is passed for the explicit target only, so proc-macros still
/// build; `RUSTFLAGS` is cleared for the child because it would override it.
///
/// This blocks for as long as the build takes: from async code, call it in
/// `tokio::task::spawn_blocking`.
pub fn cargo_build_static(package: &str, bin: &str, profile: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let arch = std::env::consts::ARCH;
    let target = format!("{arch}-unknown-linux-gnu");
    let flags_var = format!(
        "CARGO_TARGET_{}_RUSTFLAGS",
        target.to_ascii_uppercase().replace('-', "_")
    );
    let output = Command::new(&cargo)
        .current_dir(&dir)
        .args(["build", "-p", package, "--bin", bin, "--profile", profile])
        .args([
            "--target",
            &target,
            "--message-format=json-render-diagnostics",
        ])
        .env(&flags_var, "-C target-feature=+crt-static")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr_tail = || {
        let lines: Vec<&str> = stderr.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    };
    if !output.status.success() {
        return Err(format!(
            "`cargo build -p {package} --bin {bin} --profile {profile} --target {target}` with \
             {flags_var}=\"-C target-feature=+crt-static\" failed ({}):\n{}",
            output.status,
            stderr_tail()
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
        })
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| {
            format!(
                "cargo built {package} but reported no executable named `{bin}`: is there a \
                 [[bin]] of that name?\n{}",
                stderr_tail()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar_bytes: &[u8]) -> Vec<(String, u32, u64, u64, Vec<u8>)> {
        use std::io::Read as _;
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .expect("entries")
            .map(|entry| {
                let mut entry = entry.expect("entry");
                let header = entry.header().clone();
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("read");
                (
                    entry.path().expect("path").display().to_string(),
                    header.mode().expect("mode"),
                    header.uid().expect("uid"),
                    header.gid().expect("gid"),
                    data,
                )
            })
            .collect()
    }

    /// The smallest "ELF64 little-endian" with one program header of type `kind`.
    fn elf(kind: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; 64 + 56];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes());
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes());
        bytes[56..58].copy_from_slice(&1u16.to_le_bytes());
        bytes[64..68].copy_from_slice(&kind.to_le_bytes());
        bytes
    }

    #[test]
    fn static_and_dynamic_binaries_are_told_apart() {
        assert!(check_static_elf(&elf(1)).is_ok());
        let dynamic = check_static_elf(&elf(3)).expect_err("PT_INTERP");
        assert!(dynamic.contains("dynamically linked") && dynamic.contains("crt-static"));
        assert!(check_static_elf(b"#!/bin/sh\n").is_err());
        // Truncated or absurd headers are errors, not panics.
        for cut in [0, 5, 20, 60, 66] {
            assert!(check_static_elf(&elf(1)[..cut]).is_err(), "{cut}");
        }
        let mut huge = elf(1);
        huge[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(check_static_elf(&huge).is_err());
        // This test binary itself is dynamically linked.
        let me = std::fs::read("/proc/self/exe").expect("own binary");
        assert!(check_static_elf(&me).is_err());
    }

    #[test]
    fn the_context_keeps_ownership_and_never_escapes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = dir.path().join("plugin");
        std::fs::write(&binary, elf(1)).expect("write");
        let mut build = ImageBuild::new("nanofleet-test/x:1", &binary);
        build.binary_name = "/usr/bin/x".into();
        build.expose = vec![8080, 8080, 3000];
        let ids = build.validate().expect("valid");
        let context = build_context(&build, ids).expect("context");
        let outer = entries(&context);
        let names: Vec<&str> = outer.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["Dockerfile", "rootfs.tar"]);
        let dockerfile = String::from_utf8(outer[0].4.clone()).expect("utf-8");
        assert!(!dockerfile.contains("syntax"), "{dockerfile}");
        assert_eq!(
            dockerfile,
            "FROM scratch\nADD rootfs.tar /\nUSER 65532:65532\nEXPOSE 3000/tcp\nEXPOSE 8080/tcp\n\
             ENTRYPOINT [\"/usr/bin/x\"]\n"
        );
        let rootfs = entries(&outer[1].4);
        let find = |name: &str| {
            rootfs
                .iter()
                .find(|e| e.0.trim_end_matches('/') == name)
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        assert_eq!(
            (find("data").1, find("data").2, find("data").3),
            (0o755, 65532, 65532)
        );
        assert_eq!(find("tmp").1, 0o1777);
        assert_eq!((find("usr/bin/x").1, find("usr/bin/x").2), (0o755, 0));
        assert_eq!(find("usr/bin/x").4, elf(1));
        assert_eq!(find("etc/passwd").2, 0);
        assert!(String::from_utf8_lossy(&find("etc/passwd").4).contains(":65532:65532:"));
    }

    #[test]
    fn bad_builds_are_refused_with_every_reason() {
        let mut build = ImageBuild::new("Not A Tag", "/nonexistent");
        build.binary_name = "../etc/passwd".into();
        build.user = "root".into();
        build.expose = vec![0];
        let message = build.validate().expect_err("invalid").to_string();
        for part in ["tag:", "binary_name", "port 0", "user `root`"] {
            assert!(message.contains(part), "{part}: {message}");
        }
        for reserved in ["/data", "/etc/passwd", "/tmp/x", "/etc"] {
            assert!(check_binary_name(reserved).is_err(), "{reserved}");
        }
        for fine in ["/plugin", "/usr/local/bin/notes", "/a.b_c-d"] {
            assert!(check_binary_name(fine).is_ok(), "{fine}");
        }
        let build = ImageBuild::new("x/y:1", "/nonexistent/binary");
        let ids = build.validate().expect("valid");
        let err = build_context(&build, ids).expect_err("no binary");
        assert!(err.to_string().contains("/nonexistent/binary"), "{err}");
    }
}

/// A plugin image [`build_plugin_image`] made or found up to date.
#[derive(Debug, Clone)]
pub struct PluginImage {
    /// The plugin's manifest, as its binary prints it.
    pub manifest: nanofleet_sdk::manifest::Manifest,
    /// The manifest's `image`, which the image is tagged as (and as `<repository>:dev`).
    pub tag: String,
    /// The image's size.
    pub size_bytes: u64,
    /// Whether it was built now (`false`: the binary had not changed).
    pub rebuilt: bool,
}

/// Builds the plugin binary `bin` of `package` statically with `profile`, asks it for its
/// manifest (`<binary> manifest`), and builds the image `FROM scratch` tagged with the
/// manifest's `image` and `<repository>:dev`, with the manifest and version as labels and the
/// plugin's ports exposed. An image already holding the same binary is left as it is.
pub async fn build_plugin_image(
    docker: &DockerRuntime,
    package: &str,
    bin: &str,
    profile: &str,
) -> Result<PluginImage, RuntimeError> {
    let fail = |message: String| RuntimeError::Engine {
        operation: format!("build the image of {package}"),
        message,
    };
    let (pkg, b, prof) = (package.to_owned(), bin.to_owned(), profile.to_owned());
    let binary = tokio::task::spawn_blocking(move || cargo_build_static(&pkg, &b, &prof))
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(fail)?;
    let manifest = plugin_manifest(&binary).map_err(fail)?;
    let bytes = std::fs::read(&binary).map_err(|e| fail(e.to_string()))?;
    let digest = to_hex(&Sha256::digest(&bytes));
    let tag = manifest.image.clone();
    let existing = docker.docker().inspect_image(&tag).await.ok();
    let up_to_date = existing
        .as_ref()
        .and_then(|i| i.config.as_ref())
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(labels::IMAGE_BINARY_DIGEST))
        .is_some_and(|d| *d == digest);
    if !up_to_date {
        let mut build = ImageBuild::new(&tag, &binary);
        build.extra_tags = vec![
            ImageRef::parse(&tag)
                .map_err(|v| fail(v.to_string()))?
                .dev_tag(),
        ];
        build.expose = std::iter::once(manifest.mcp_port)
            .chain(manifest.ui_port)
            .collect();
        build.labels = BTreeMap::from([
            (labels::IMAGE_MANIFEST.to_owned(), manifest.to_json_pretty()),
            (labels::VERSION.to_owned(), manifest.version.clone()),
            (labels::IMAGE_BINARY_DIGEST.to_owned(), digest),
        ]);
        build_image(docker, &build).await?;
    }
    let size_bytes = docker
        .docker()
        .inspect_image(&tag)
        .await
        .ok()
        .and_then(|i| i.size)
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or_default();
    Ok(PluginImage {
        manifest,
        tag,
        size_bytes,
        rebuilt: !up_to_date,
    })
}

/// The plugin's own account of its manifest, checked.
fn plugin_manifest(binary: &Path) -> Result<nanofleet_sdk::manifest::Manifest, String> {
    let out = Command::new(binary)
        .arg("manifest")
        .output()
        .map_err(|e| format!("cannot run {} manifest: {e}", binary.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} manifest failed: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    nanofleet_sdk::manifest::Manifest::parse_json(&String::from_utf8_lossy(&out.stdout))
        .into_result()
        .map(|(manifest, _warnings)| manifest)
        .map_err(|d| format!("{} prints an invalid manifest:\n{d}", binary.display()))
}
