//! The store's secret key, and how secrets are sealed at rest with it.
//!
//! Internal tokens and API key values never reach the SQLite file in clear: each is encrypted
//! with XChaCha20-Poly1305 under a fresh random 24-byte nonce. The associated data names the
//! column and the row key, so a ciphertext copied into another row (another plugin's token,
//! another API key) fails to decrypt instead of being handed to the wrong plugin.

use std::fs::{self, File, Permissions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

use super::StoreError;

/// The environment variable that holds the secret key, as base64 of exactly 32 bytes.
pub const SECRET_KEY_ENV: &str = "NANOFLEET_SECRET_KEY";

/// The key file inside the data directory, used when [`SECRET_KEY_ENV`] is not set.
pub const SECRET_KEY_FILE: &str = "secret.key";

/// The length of the secret key, in bytes.
pub const SECRET_KEY_LEN: usize = 32;

/// The length of an XChaCha20-Poly1305 nonce, in bytes.
pub(crate) const NONCE_LEN: usize = 24;

/// The largest key file read; a real one is 45 bytes.
const MAX_KEY_FILE_BYTES: u64 = 1024;

/// Domain prefix of the associated data, so that a ciphertext made by another program with
/// the same key cannot be mistaken for one of ours.
const AAD_DOMAIN: &[u8] = b"nanofleet-host/v1";

/// The 32-byte key that encrypts the store's secrets.
///
/// `Debug` prints `SecretKey(<redacted>)`; there is no `Display` and no way to read the bytes
/// back out, so the key cannot end up in a log by accident.
#[derive(Clone)]
pub struct SecretKey([u8; SECRET_KEY_LEN]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// A fresh random key.
    #[must_use]
    pub fn generate() -> Self {
        // The thread RNG is a CSPRNG seeded from the OS.
        Self(rand::random())
    }

    /// Reads a key written as standard base64 of exactly 32 bytes, surrounding whitespace
    /// ignored (e.g. the output of `openssl rand -base64 32`).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidSecretKey`] when the text is not base64 or not 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        parse_key(text, "the secret key")
    }

    /// Reads the key from [`SECRET_KEY_ENV`], or `None` when the variable is not set.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidSecretKey`] when the variable is set but empty, not UTF-8, not
    /// base64 or not 32 bytes: a key that was meant to be used but cannot be is never
    /// silently replaced by the key file.
    pub fn from_env() -> Result<Option<Self>, StoreError> {
        key_from_env_value(std::env::var_os(SECRET_KEY_ENV))
    }

    /// Reads `<data_dir>/secret.key`, creating it with a fresh key on first start.
    ///
    /// A new file is written to a temporary file with mode `0600`, synced, then linked into
    /// place only if no file exists yet, so a second host starting at the same moment reads
    /// the complete key of the first rather than a half-written file or a key of its own.
    ///
    /// # Errors
    ///
    /// [`StoreError::SecretKeyPermissions`] when the file is readable or writable by group
    /// or others, [`StoreError::InvalidSecretKey`] when it does not hold a valid key, and
    /// [`StoreError::SecretKeyFile`] when it cannot be read or written.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(SECRET_KEY_FILE);
        if let Some(key) = read_key_file(&path)? {
            return Ok(key);
        }
        let key = Self::generate();
        match write_key_file(data_dir, &path, &key) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created a new secret key file; back it up with the database");
                Ok(key)
            }
            // Another process created the file between our read and our link: use its key.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => read_key_file(&path)?
                .ok_or_else(|| StoreError::SecretKeyFile {
                    path: path.clone(),
                    source: io::Error::new(
                        io::ErrorKind::NotFound,
                        "the file vanished right after another process created it",
                    ),
                }),
            Err(source) => Err(StoreError::SecretKeyFile { path, source }),
        }
    }

    /// The key from [`SECRET_KEY_ENV`] when it is set, else from
    /// [`load_or_create`](Self::load_or_create).
    ///
    /// # Errors
    ///
    /// See [`from_env`](Self::from_env) and [`load_or_create`](Self::load_or_create).
    pub fn from_env_or_file(data_dir: &Path) -> Result<Self, StoreError> {
        match Self::from_env()? {
            Some(key) => Ok(key),
            None => Self::load_or_create(data_dir),
        }
    }
}

/// [`SecretKey::from_env`] on a given value, so that tests need not touch the environment.
pub(crate) fn key_from_env_value(
    value: Option<std::ffi::OsString>,
) -> Result<Option<SecretKey>, StoreError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let Some(text) = value.to_str() else {
        return Err(StoreError::InvalidSecretKey {
            origin: SECRET_KEY_ENV.into(),
            reason: "it is not valid UTF-8".into(),
        });
    };
    if text.trim().is_empty() {
        return Err(StoreError::InvalidSecretKey {
            origin: SECRET_KEY_ENV.into(),
            reason: format!(
                "it is set but empty; unset it to use {SECRET_KEY_FILE} in the data directory"
            ),
        });
    }
    parse_key(text, SECRET_KEY_ENV).map(Some)
}

fn parse_key(text: &str, origin: &str) -> Result<SecretKey, StoreError> {
    let invalid = |reason: String| StoreError::InvalidSecretKey {
        origin: origin.to_owned(),
        reason,
    };
    // The decoder's own error names the offending character, a piece of the secret: say less.
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| invalid("it is not valid base64".into()))?;
    let key: [u8; SECRET_KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
        invalid(format!(
            "it decodes to {} bytes, not {SECRET_KEY_LEN}",
            bytes.len()
        ))
    })?;
    Ok(SecretKey(key))
}

/// The key in `path`, `None` when the file does not exist.
fn read_key_file(path: &Path) -> Result<Option<SecretKey>, StoreError> {
    let file_error = |source| StoreError::SecretKeyFile {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(file_error(err)),
    };
    // Metadata of the open descriptor, not of the path: what we check is what we read.
    let metadata = file.metadata().map_err(file_error)?;
    if !metadata.is_file() {
        return Err(StoreError::InvalidSecretKey {
            origin: path.display().to_string(),
            reason: "it is not a regular file".into(),
        });
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::SecretKeyPermissions {
            path: path.to_owned(),
            mode,
        });
    }
    let mut text = String::new();
    file.take(MAX_KEY_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(file_error)?;
    parse_key(&text, &path.display().to_string()).map(Some)
}

fn write_key_file(dir: &Path, path: &Path, key: &SecretKey) -> io::Result<()> {
    let mut file = tempfile::Builder::new()
        .prefix(".secret.key.")
        .permissions(Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    writeln!(file, "{}", STANDARD.encode(key.0))?;
    file.as_file().sync_all()?;
    file.persist_noclobber(path).map_err(|err| err.error)?;
    // The new directory entry is durable only once the directory itself is synced.
    File::open(dir)?.sync_all()
}

/// A value encrypted at rest.
#[derive(Clone)]
pub(crate) struct Sealed {
    pub(crate) nonce: Vec<u8>,
    pub(crate) ciphertext: Vec<u8>,
}

/// Encrypts and decrypts the store's secrets with its [`SecretKey`].
#[derive(Clone)]
pub(crate) struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    pub(crate) fn new(key: &SecretKey) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&Key::from(key.0)),
        }
    }

    /// Encrypts `plaintext` for the cell `column` of the row `row`.
    pub(crate) fn seal(
        &self,
        column: &str,
        row: &str,
        plaintext: &[u8],
    ) -> Result<Sealed, StoreError> {
        // 192 random bits: collisions are negligible without a counter to keep.
        let nonce: [u8; NONCE_LEN] = rand::random();
        let aad = associated_data(column, row);
        let ciphertext = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            // Encryption fails only for messages of about 256 GiB.
            .map_err(|_| StoreError::Corrupt {
                what: format!("{column} of {row:?}"),
                reason: "the value is too large to encrypt".into(),
            })?;
        Ok(Sealed {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Decrypts the cell `column` of the row `row`.
    pub(crate) fn open(
        &self,
        column: &str,
        row: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let what = || format!("{column} of {row:?}");
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| StoreError::Corrupt {
            what: what(),
            reason: format!("the nonce is {} bytes, not {NONCE_LEN}", nonce.len()),
        })?;
        let aad = associated_data(column, row);
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::WrongSecretKey { what: what() })
    }
}

/// `"nanofleet-host/v1" 0x00 column 0x00 row`: binds a ciphertext to its cell.
fn associated_data(column: &str, row: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + column.len() + row.len() + 2);
    aad.extend_from_slice(AAD_DOMAIN);
    aad.push(0);
    aad.extend_from_slice(column.as_bytes());
    aad.push(0);
    aad.extend_from_slice(row.as_bytes());
    aad
}

/// Creates `dir` (and parents) readable by the owner only, when it does not exist yet.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_value_absent_is_none() {
        assert!(matches!(key_from_env_value(None), Ok(None)));
    }

    #[test]
    fn env_value_of_the_wrong_length_is_a_clear_error() {
        let short = STANDARD.encode([7u8; 16]);
        let err = key_from_env_value(Some(short.into())).expect_err("16 bytes");
        let message = err.to_string();
        assert!(message.contains(SECRET_KEY_ENV), "{message}");
        assert!(message.contains("16 bytes, not 32"), "{message}");
        assert!(message.contains("openssl rand -base64 32"), "{message}");
    }

    #[test]
    fn env_value_empty_or_not_base64_is_an_error() {
        for value in ["", "  ", "not base64!"] {
            let err = key_from_env_value(Some(value.into())).expect_err(value);
            assert!(err.to_string().contains(SECRET_KEY_ENV), "{err}");
        }
    }

    #[test]
    fn env_value_of_32_bytes_is_accepted() {
        let good = format!(" {}\n", STANDARD.encode([9u8; 32]));
        assert!(matches!(key_from_env_value(Some(good.into())), Ok(Some(_))));
    }

    #[test]
    fn invalid_key_error_does_not_echo_the_value() {
        let value = "c2VjcmV0LXNlY3JldC1zZWNyZXQ=";
        let err = SecretKey::from_base64(value).expect_err("wrong length");
        assert!(!err.to_string().contains(value));
    }

    #[test]
    fn debug_is_redacted() {
        let key = SecretKey::generate();
        assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
        assert_eq!(format!("{:?}", Sealer::new(&key)), "Sealer(<redacted>)");
    }

    #[test]
    fn sealed_values_are_bound_to_their_cell() {
        let sealer = Sealer::new(&SecretKey::generate());
        let sealed = sealer.seal("api_keys.value", "A", b"hello").expect("seal");
        let open = |column, row| sealer.open(column, row, &sealed.nonce, &sealed.ciphertext);
        assert_eq!(open("api_keys.value", "A").expect("open"), b"hello");
        assert!(matches!(
            open("api_keys.value", "B"),
            Err(StoreError::WrongSecretKey { .. })
        ));
        assert!(matches!(
            open("plugins.internal_token", "A"),
            Err(StoreError::WrongSecretKey { .. })
        ));
    }

    #[test]
    fn nonces_are_fresh() {
        let sealer = Sealer::new(&SecretKey::generate());
        let a = sealer.seal("c", "r", b"same").expect("seal");
        let b = sealer.seal("c", "r", b"same").expect("seal");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn a_short_nonce_is_corruption_not_a_panic() {
        let sealer = Sealer::new(&SecretKey::generate());
        assert!(matches!(
            sealer.open("c", "r", &[0; 3], &[0; 40]),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
