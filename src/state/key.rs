//! The key of the values digest: what keeps a digest in the state file from
//! confirming a guessed secret.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::config::sibling;
use crate::error::{Error, Result};

/// The environment variable that supplies the values key instead of the key
/// file beside the state file: any text of at least
/// [`MIN_SECRET_LEN`](ValuesKey::MIN_SECRET_LEN) bytes, e.g. from
/// `openssl rand -hex 32`. Runs that share it (CI runners with one secret)
/// get comparable digests in any state file.
pub const VALUES_KEY_ENV: &str = "CHAINCTL_VALUES_KEY";

/// The prefix of a keyed values digest.
pub const KEYED_DIGEST_PREFIX: &str = "hmac-sha256:";

/// The key of the values digest.
///
/// Helm's merged values are digested in the shim (sha256 of their JSON,
/// map keys sorted); that digest never leaves the library: reports and
/// records carry `hmac-sha256:<hex>`, the HMAC-SHA256 under this key of
/// that digest's text (`sha256:<hex>`). Equal values give equal digests
/// under one key, so the digest still answers "did the values change?",
/// and without the key it confirms no guess of a secret.
///
/// Where the key comes from:
/// * [`StateStore::values_key`](super::StateStore::values_key): the
///   [`VALUES_KEY_ENV`] secret if set, else the state file's own key, 32
///   random bytes in `<state file>.key` (mode 0600, created on first
///   need);
/// * [`ValuesKey::process`]: a random key of this process, what a
///   [`Client`](crate::Client) uses unless given another: digests from it
///   compare only within the process.
///
/// The key is never printed: `Debug` hides it.
///
/// ```
/// use chainctl_core::state::ValuesKey;
/// let unkeyed = format!("sha256:{}", "ab".repeat(32));
/// let a = ValuesKey::from_secret("a shared secret of CI")?;
/// let b = ValuesKey::from_secret("another shared secret")?;
/// assert!(a.seal(&unkeyed).starts_with("hmac-sha256:"));
/// assert_eq!(a.seal(&unkeyed), a.seal(&unkeyed));
/// assert_ne!(a.seal(&unkeyed), b.seal(&unkeyed));
/// assert_eq!(format!("{a:?}"), "ValuesKey(hidden)");
/// # Ok::<(), chainctl_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ValuesKey(Arc<Vec<u8>>);

impl fmt::Debug for ValuesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ValuesKey(hidden)")
    }
}

impl ValuesKey {
    /// The shortest secret [`from_secret`](Self::from_secret) takes.
    pub const MIN_SECRET_LEN: usize = 16;

    /// A key from a secret the user holds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when it is shorter than
    /// [`MIN_SECRET_LEN`](Self::MIN_SECRET_LEN) bytes.
    ///
    /// ```
    /// use chainctl_core::state::ValuesKey;
    /// assert!(ValuesKey::from_secret("short").is_err());
    /// ```
    pub fn from_secret(secret: impl AsRef<[u8]>) -> Result<ValuesKey> {
        let secret = secret.as_ref();
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(Error::invalid(format!(
                "the values key is {} bytes long; use at least {} (e.g. `openssl rand -hex 32`)",
                secret.len(),
                Self::MIN_SECRET_LEN
            )));
        }
        Ok(ValuesKey(Arc::new(secret.to_vec())))
    }

    /// The key in [`VALUES_KEY_ENV`], if set (an empty value is unset).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when it is too short or not UTF-8.
    pub fn from_env() -> Result<Option<ValuesKey>> {
        match std::env::var(VALUES_KEY_ENV) {
            Ok(secret) if secret.is_empty() => Ok(None),
            Ok(secret) => ValuesKey::from_secret(secret)
                .map(Some)
                .map_err(|e| Error::invalid(format!("{VALUES_KEY_ENV}: {e}"))),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::invalid(format!(
                "{VALUES_KEY_ENV} is not UTF-8: use printable text, e.g. `openssl rand -hex 32`"
            ))),
        }
    }

    /// A random key of this process, the same for every call.
    pub fn process() -> ValuesKey {
        static KEY: OnceLock<ValuesKey> = OnceLock::new();
        KEY.get_or_init(|| ValuesKey(Arc::new(random_key().to_vec())))
            .clone()
    }

    /// The keyed digest of an unkeyed `sha256:` values digest from the
    /// shim; an empty digest (none was computed) stays empty.
    pub fn seal(&self, unkeyed: &str) -> String {
        if unkeyed.is_empty() {
            return String::new();
        }
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(unkeyed.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(KEYED_DIGEST_PREFIX.len() + 64);
        out.push_str(KEYED_DIGEST_PREFIX);
        for byte in tag {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    /// The key of the state file at `state_path`: [`VALUES_KEY_ENV`] if set,
    /// else the key file beside it, which `create` makes when it is
    /// missing. `None` when there is neither and `create` is false (a dry
    /// run writes nothing).
    ///
    /// ```
    /// use chainctl_core::state::ValuesKey;
    /// # if std::env::var_os("CHAINCTL_VALUES_KEY").is_some() { return Ok(()); }
    /// let dir = tempfile::tempdir()?;
    /// let state = dir.path().join("state.json");
    /// assert!(ValuesKey::for_state_file(&state, false)?.is_none());
    /// let key = ValuesKey::for_state_file(&state, true)?.unwrap();
    /// assert_eq!(ValuesKey::for_state_file(&state, false)?, Some(key));
    /// assert!(dir.path().join("state.json.key").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_state_file(state_path: &Path, create: bool) -> Result<Option<ValuesKey>> {
        if let Some(key) = ValuesKey::from_env()? {
            return Ok(Some(key));
        }
        let path = key_path(state_path);
        match read_key_file(&path) {
            Ok(key) => return Ok(Some(key)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(key_error(&path, "cannot be read", e)),
        }
        match create_key_file(&path) {
            Ok(key) => Ok(Some(key)),
            // Another run created it first: use that one.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_key_file(&path)
                .map(Some)
                .map_err(|e| key_error(&path, "cannot be read", e)),
            Err(e) => Err(key_error(&path, "cannot be created", e)),
        }
    }
}

/// Where the key of a state file is kept: `<state file>.key`.
pub(crate) fn key_path(state_path: &Path) -> PathBuf {
    sibling(state_path, ".key")
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the operating system provides random bytes");
    key
}

fn key_error(path: &Path, what: &str, source: io::Error) -> Error {
    Error::State {
        message: format!(
            "the values key {} {what}: it keys the values digests of the state file beside it \
             (mode 0600; remove it to start a new key, and the next digests read as changed once; \
             or set {VALUES_KEY_ENV})",
            path.display()
        ),
        path: Some(path.to_path_buf()),
        locked: None,
        problem: None,
        source: Some(source),
    }
}

/// Reads a key file: a regular file (never through a symlink), private to
/// its owner, holding 64 hex digits.
fn read_key_file(path: &Path) -> io::Result<ValuesKey> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(io::Error::other(format!(
            "it is open to group or others (mode {:04o}): `chmod 600 {}`",
            meta.mode() & 0o7777,
            path.display()
        )));
    }
    let mut text = String::new();
    file.take(1024).read_to_string(&mut text)?;
    let hex = text.trim();
    let bytes = (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| {
            (0..32)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
                .collect::<std::result::Result<Vec<u8>, _>>()
                .ok()
        })
        .flatten()
        .ok_or_else(|| io::Error::other("it does not hold 64 hex digits"))?;
    Ok(ValuesKey(Arc::new(bytes)))
}

/// Creates the key file with a new random key, whole or not at all: the key
/// is written to a new private file (`O_EXCL|O_NOFOLLOW`, mode 0600) and
/// linked into place, which fails if a key is there already.
fn create_key_file(path: &Path) -> io::Result<ValuesKey> {
    let key = random_key();
    let mut text: String = key.iter().map(|b| format!("{b:02x}")).collect();
    text.push('\n');
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    let nonce: String = random_key()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    tmp_name.push(format!(".{nonce}.tmp"));
    let tmp = path.with_file_name(tmp_name);
    let write = |target: &Path| -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(target)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    };
    write(&tmp)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
        // A file system without hard links: create the key in place.
        Err(_) => write(path)?,
    }
    if let Some(dir) = path.parent() {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(ValuesKey(Arc::new(key.to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn unkeyed() -> String {
        format!("sha256:{}", "0f".repeat(32))
    }

    #[test]
    fn a_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let path = key_path(&state);
        let first = create_key_file(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(read_key_file(&path).unwrap(), first);
        let err = create_key_file(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn two_state_files_have_two_keys() {
        let dir = tempfile::tempdir().unwrap();
        let a = create_key_file(&key_path(&dir.path().join("a.json"))).unwrap();
        let b = create_key_file(&key_path(&dir.path().join("b.json"))).unwrap();
        assert_ne!(a.seal(&unkeyed()), b.seal(&unkeyed()));
    }

    #[test]
    fn a_bad_key_file_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json.key");
        fs::write(&path, "not hex\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = read_key_file(&path).unwrap_err();
        assert!(err.to_string().contains("64 hex digits"), "{err}");
        fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_key_file(&path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        let target = dir.path().join("elsewhere");
        fs::rename(&path, &target).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(
            read_key_file(&path).is_err(),
            "a symlinked key is not followed"
        );
    }

    #[test]
    fn the_keyed_digest_is_hmac_sha256_of_the_unkeyed_text() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let key = ValuesKey(Arc::new(b"Jefe".to_vec()));
        assert_eq!(
            key.seal("what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(key.seal(""), "");
    }
}
