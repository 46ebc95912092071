//! Whether the plugin can keep its data where it is asked to: a missing directory (no volume
//! mounted) is told apart from one the plugin's user may not write to (a volume owned by
//! another user), since the two have different fixes.

use std::path::Path;

use super::StoreError;

/// Makes sure `dir` exists and the plugin may write to it, telling a directory that is missing
/// (no volume mounted) from one the plugin's user may not write to (a volume owned by another
/// user), since the two have different fixes.
pub(super) fn check_data_dir(dir: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDirMissing {
                dir: dir.to_owned(),
                source,
            });
        }
        // Not a directory, or not reachable: opening the database reports it.
        Err(_) => return Ok(()),
        Ok(meta) if !meta.is_dir() => return Ok(()),
        Ok(_) => {}
    }
    check_writable(dir)
}

#[cfg(not(unix))]
fn check_writable(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Asks the kernel whether the plugin's user may create files in `dir`.
#[cfg(unix)]
fn check_writable(dir: &Path) -> Result<(), StoreError> {
    let refused = match rustix::fs::access(
        dir,
        rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
    ) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if ![
        rustix::io::Errno::ACCESS,
        rustix::io::Errno::PERM,
        rustix::io::Errno::ROFS,
    ]
    .contains(&refused)
    {
        return Ok(());
    }
    Err(not_writable(dir, refused == rustix::io::Errno::ROFS))
}

#[cfg(unix)]
fn not_writable(dir: &Path, read_only_fs: bool) -> StoreError {
    use std::os::unix::fs::MetadataExt;
    let (owner_uid, owner_gid, mode) = std::fs::metadata(dir)
        .map(|m| (m.uid(), m.gid(), m.mode() & 0o7777))
        .unwrap_or_default();
    StoreError::DataDirNotWritable {
        dir: dir.to_owned(),
        uid: rustix::process::geteuid().as_raw(),
        gid: rustix::process::getegid().as_raw(),
        owner_uid,
        owner_gid,
        mode,
        read_only_fs,
    }
}

pub(super) fn not_writable_message(err: &StoreError) -> String {
    let StoreError::DataDirNotWritable {
        dir,
        uid,
        gid,
        owner_uid,
        owner_gid,
        mode,
        read_only_fs,
    } = err
    else {
        return String::new();
    };
    let dir = dir.display();
    if *read_only_fs {
        return format!(
            "the plugin's data directory {dir} exists but is on a read-only file system: mount \
             a writable volume there (the NanoFleet host mounts one at /data) or set \
             NANOFLEET_DATA_DIR to a writable directory"
        );
    }
    format!(
        "the plugin's data directory {dir} exists but is not writable by the plugin, which runs \
         as uid {uid}, gid {gid}; the directory is owned by uid {owner_uid}, gid {owner_gid}, \
         with mode {mode:04o}. A volume created for an image that does not own /data is \
         root's: build the image with `nanofleet build`, which makes /data owned by the \
         plugin's user, or give the volume to that user (`chown -R {uid}:{gid}` on it)"
    )
}
