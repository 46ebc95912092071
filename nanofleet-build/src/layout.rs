//! The image layout: a build context written in memory, holding a Dockerfile and the root
//! file system as a tar.
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
//! There is no `# syntax=` line: BuildKit would try to pull a frontend. Tar entries are never
//! sparse: dockerd rejects them.

use std::io;

use crate::BuildError;
use crate::image::{DEFAULT_BINARY_NAME, ImageBuild};

/// How to build a binary that runs in a `FROM scratch` image.
pub const STATIC_BUILD_HINT: &str = "a FROM scratch image has no libc: build the binary \
    static, e.g. CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS=\"-C target-feature=+crt-static\" \
    cargo build --release --target x86_64-unknown-linux-gnu (the explicit --target keeps the flag \
    off proc-macros), or build for x86_64-unknown-linux-musl; `nanofleet build` does this";

/// Paths the image layout itself uses; the binary may not take them.
const RESERVED_PATHS: [&str; 6] = [
    "/etc",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/data",
    "/tmp",
];

pub(crate) fn check_binary_name(name: &str) -> Result<(), String> {
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
pub(crate) fn build_context(
    build: &ImageBuild,
    (uid, gid): (u32, u32),
) -> Result<Vec<u8>, BuildError> {
    let binary_error = |message: String| {
        BuildError::Plugin(format!(
            "cannot build image {} from {}: {message}",
            build.tag,
            build.binary.display()
        ))
    };
    let binary = std::fs::read(&build.binary).map_err(|e| binary_error(e.to_string()))?;
    check_static_elf(&binary).map_err(binary_error)?;

    let tar_error = |e: io::Error| {
        BuildError::Invalid(format!(
            "cannot write the build context of {}: {e}",
            build.tag
        ))
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
pub(crate) fn check_static_elf(bytes: &[u8]) -> Result<(), String> {
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
