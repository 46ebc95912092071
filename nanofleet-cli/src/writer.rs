//! One writer per data directory. `serve` holds an exclusive lock on
//! `<data dir>/serve.lock` while it runs (the file says its pid and API address), and a command
//! that would change the fleet offline (install, remove, link, reconcile, ...) checks the lock
//! first: run beside a `serve`, it would recreate every container with its own `NANO_API_URL`,
//! and `serve` would recreate them back. Such a command is refused, pointing at `--server`.
//! The lock is the kernel's (`flock`): a `serve` that died holds nothing.

use std::{
    fs::{File, OpenOptions},
    io::{Read as _, Seek as _, SeekFrom, Write as _},
    path::{Path, PathBuf},
};

use fd_lock::RwLock;

use crate::error::CliError;

/// The lock file, in the data directory.
pub const LOCK_FILE: &str = "serve.lock";

/// The lock `serve` holds until the process ends.
pub struct ServeLock {
    _guard: fd_lock::RwLockWriteGuard<'static, File>,
}

impl ServeLock {
    /// Takes the lock for a `serve` whose API is at `api`, or says which one holds it.
    pub fn acquire(data_dir: &Path, api: &str) -> Result<Self, CliError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| CliError::new(format!("cannot create {}: {e}", data_dir.display())))?;
        let path = data_dir.join(LOCK_FILE);
        // Leaked: the lock lives as long as the process, which is what `serve` wants.
        let lock: &'static mut RwLock<File> = Box::leak(Box::new(RwLock::new(open(&path)?)));
        let mut guard = match lock.try_write() {
            Ok(guard) => guard,
            Err(_) => {
                return Err(CliError::new(format!(
                    "another `nanofleet serve` is using {}{}; stop it first, or use a data \
                     directory (and --instance) of your own",
                    data_dir.display(),
                    holder(&path)
                )));
            }
        };
        let note = format!("pid {} api {api}\n", std::process::id());
        let written = guard
            .set_len(0)
            .and_then(|()| guard.seek(SeekFrom::Start(0)).map(drop))
            .and_then(|()| guard.write_all(note.as_bytes()));
        if let Err(e) = written {
            crate::output::note(format!("warning: cannot write {}: {e}", path.display()));
        }
        Ok(Self { _guard: guard })
    }
}

/// Refuses when a `serve` holds the lock of `data_dir`: a command about to change the fleet
/// offline calls it first.
pub fn check_no_server(data_dir: &Path) -> Result<(), CliError> {
    let path = data_dir.join(LOCK_FILE);
    if !path.exists() {
        return Ok(());
    }
    let mut lock = RwLock::new(open(&path)?);
    if lock.try_write().is_ok() {
        return Ok(());
    }
    Err(CliError::new(format!(
        "a `nanofleet serve` is running on {}{}: changing the fleet beside it would undo each \
         other's work. Run the command through it (`--server <its URL>`), or stop it first",
        data_dir.display(),
        holder(&path)
    )))
}

/// The API address of the `serve` running on `data_dir`, when one runs and said where.
pub fn running_server(data_dir: &Path) -> Option<String> {
    let path = data_dir.join(LOCK_FILE);
    let file = OpenOptions::new().read(true).write(true).open(&path).ok()?;
    let mut lock = RwLock::new(file);
    if lock.try_write().is_ok() {
        // Nobody holds it: no server runs (a dead one left the file behind).
        return None;
    }
    holder_api(&path)
}

/// The API address the lock's holder wrote.
fn holder_api(path: &Path) -> Option<String> {
    let mut text = String::new();
    File::open(path)
        .and_then(|f| f.take(512).read_to_string(&mut text))
        .ok()?;
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("pid"), Some(_), Some("api"), Some(api)) => Some(api.to_owned()),
        _ => None,
    }
}

fn open(path: &PathBuf) -> Result<File, CliError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| CliError::new(format!("cannot open {}: {e}", path.display())))
}

/// ` (pid 42, API at http://...)`, from what the holder wrote, when it did.
fn holder(path: &Path) -> String {
    let mut text = String::new();
    let read = File::open(path).and_then(|f| f.take(512).read_to_string(&mut text));
    if read.is_err() {
        return String::new();
    }
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("pid"), Some(pid), Some("api"), Some(api)) => {
            format!(" (pid {pid}, API at {})", crate::output::clean(api))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_serve_refuses_offline_writers_and_a_second_serve() {
        let dir = tempfile::tempdir().expect("tempdir");
        check_no_server(dir.path()).expect("nothing holds a new directory");
        let held = ServeLock::acquire(dir.path(), "http://127.0.0.1:3000").expect("first");
        let offline = check_no_server(dir.path()).expect_err("refused while held");
        let message = offline.to_string();
        assert!(message.contains("--server"), "{message}");
        assert!(message.contains("http://127.0.0.1:3000"), "{message}");
        assert!(
            message.contains(&std::process::id().to_string()),
            "{message}"
        );
        let second = ServeLock::acquire(dir.path(), "http://127.0.0.1:3001");
        assert!(second.is_err());
        assert_eq!(
            running_server(dir.path()).as_deref(),
            Some("http://127.0.0.1:3000")
        );
        drop(held);
    }
}
