//! The chart cache: pulled chart archives stored by digest, checked on every
//! read, written atomically. A digest-pinned chart already here needs no
//! network at all; a tag needs one manifest request to learn its digest.
//!
//! Layout under the root (`<platform cache dir>/chainctl/charts` by default):
//!
//! ```text
//! blobs/sha256/<hex>            chart archives (.tgz), named by their digest
//! manifests/sha256/<hex>.json   manifest digest -> chart digest and metadata
//! tags/<sha256 of repo>/<tag>   the manifest digest a tag pointed at when last resolved
//! tmp/                          downloads in progress
//! ```

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::report::ChartInfo;

/// What the cache knows about one manifest: the chart it points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedManifest {
    /// The digest of the chart archive layer.
    pub chart_digest: String,
    /// The chart's name, version and appVersion.
    pub chart: ChartInfo,
}

/// A content-addressed store of chart archives.
///
/// ```
/// use chainctl_core::ChartCache;
/// let dir = tempfile::tempdir().unwrap();
/// let cache = ChartCache::open(dir.path()).unwrap();
/// let digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
/// assert!(cache.chart(digest).unwrap().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct ChartCache {
    root: PathBuf,
}

static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// The hex part of a `sha256:<64 hex>` digest, or an error naming it.
fn sha256_hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => Err(Error::invalid(format!(
            "{digest:?} is not a sha256 digest (sha256: and 64 lowercase hex digits)"
        ))),
    }
}

/// The sha256 digest of a file, as `sha256:<hex>`.
pub(crate) fn file_digest(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{:x}", hasher.finalize()))
}

impl ChartCache {
    /// The default root: the platform cache directory's `chainctl/charts`
    /// (`$XDG_CACHE_HOME/chainctl/charts` on Linux).
    pub fn default_root() -> Option<PathBuf> {
        directories::BaseDirs::new().map(|dirs| dirs.cache_dir().join("chainctl").join("charts"))
    }

    /// Opens (creating, 0700) the cache at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<ChartCache> {
        let root = root.into();
        crate::error::utf8_path(&root, "the chart cache")?;
        for dir in ["blobs/sha256", "manifests/sha256", "tags", "tmp"] {
            create_private_dir(&root.join(dir)).map_err(|e| {
                Error::invalid(format!(
                    "cannot create the chart cache {}: {e}",
                    root.display()
                ))
            })?;
        }
        Ok(ChartCache { root })
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.root.join("blobs/sha256").join(sha256_hex(digest)?))
    }

    fn manifest_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self
            .root
            .join("manifests/sha256")
            .join(format!("{}.json", sha256_hex(digest)?)))
    }

    fn tag_path(&self, repository: &str, tag: &str) -> PathBuf {
        let repo = format!("{:x}", Sha256::digest(repository.as_bytes()));
        self.root.join("tags").join(repo).join(tag)
    }

    /// The manifest digest `repository:tag` pointed at when last resolved
    /// online, for offline use.
    pub(crate) fn tag(&self, repository: &str, tag: &str) -> Option<String> {
        let digest = fs::read_to_string(self.tag_path(repository, tag)).ok()?;
        let digest = digest.trim().to_string();
        sha256_hex(&digest).is_ok().then_some(digest)
    }

    /// Remembers what `repository:tag` resolved to (atomically).
    pub(crate) fn remember_tag(&self, repository: &str, tag: &str, digest: &str) -> Result<()> {
        let path = self.tag_path(repository, tag);
        let io_err = |e: io::Error| {
            Error::internal(format!(
                "cannot write to the chart cache {}: {e}",
                self.root.display()
            ))
        };
        if let Some(dir) = path.parent() {
            create_private_dir(dir).map_err(io_err)?;
        }
        let temp = self.temp_file()?;
        write_synced(&temp, digest.as_bytes()).map_err(io_err)?;
        temp.persist(&path).map_err(io_err)
    }

    /// A new, empty file under the cache's `tmp/` for a download in
    /// progress: created exclusively (`O_EXCL|O_NOFOLLOW`, mode 0600, so a
    /// planted file or symlink is never written through), and removed when
    /// the returned [`TempFile`] is dropped unless it was persisted.
    pub(crate) fn temp_file(&self) -> Result<TempFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.root.join("tmp");
        let seed = std::collections::hash_map::RandomState::new();
        for _ in 0..16 {
            let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
            let salt = std::hash::BuildHasher::hash_one(&seed, n);
            let path = dir.join(format!("{}-{n}-{salt:016x}.part", std::process::id()));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(
                    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC).bits() as i32,
                )
                .open(&path)
            {
                Ok(_) => return Ok(TempFile { path: Some(path) }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::internal(format!(
                        "cannot create a temporary file in the chart cache {}: {e}",
                        dir.display()
                    )));
                }
            }
        }
        Err(Error::internal(format!(
            "cannot create a temporary file in the chart cache {}: every name tried exists",
            dir.display()
        )))
    }

    /// The archive with `digest`, if cached and intact. A corrupt entry is
    /// removed (and reported through `warn`), so that it is pulled again.
    pub fn chart(&self, digest: &str) -> Result<Option<PathBuf>> {
        self.chart_checked(digest, &mut |_| {})
    }

    pub(crate) fn chart_checked(
        &self,
        digest: &str,
        warn: &mut dyn FnMut(String),
    ) -> Result<Option<PathBuf>> {
        let path = self.blob_path(digest)?;
        match file_digest(&path) {
            Ok(actual) if actual == digest => Ok(Some(path)),
            Ok(actual) => {
                warn(format!(
                    "cached chart {} is corrupt (its content has digest {actual}): removed, pulling it again",
                    path.display()
                ));
                let _ = fs::remove_file(&path);
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::invalid(format!(
                "cannot read the cached chart {}: {e}",
                path.display()
            ))),
        }
    }

    /// What the cache knows about the manifest with `digest`, when both the
    /// entry and its chart archive are present and intact.
    pub(crate) fn manifest(
        &self,
        digest: &str,
        warn: &mut dyn FnMut(String),
    ) -> Result<Option<(CachedManifest, PathBuf)>> {
        let path = self.manifest_path(digest)?;
        let entry: CachedManifest = match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(entry) => entry,
                Err(e) => {
                    warn(format!(
                        "cache entry {} is unreadable ({e}): removed",
                        path.display()
                    ));
                    let _ = fs::remove_file(&path);
                    return Ok(None);
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::invalid(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        Ok(self
            .chart_checked(&entry.chart_digest, warn)?
            .map(|chart| (entry, chart)))
    }

    /// Moves a downloaded archive at `temp` into the cache after checking
    /// that its content has `digest`, and records the manifest pointing at
    /// it. Nothing half-written is ever visible under its final name.
    pub(crate) fn insert(
        &self,
        temp: TempFile,
        manifest_digest: &str,
        entry: &CachedManifest,
    ) -> Result<PathBuf> {
        let target = self.blob_path(&entry.chart_digest)?;
        let actual = file_digest(&temp).map_err(|e| {
            Error::internal(format!("cannot read the download {}: {e}", temp.display()))
        })?;
        if actual != entry.chart_digest {
            return Err(Error::registry(format!(
                "digest mismatch: the chart downloaded has digest {actual}, but the registry announced {}: \
                 the content is corrupt or was altered on the way, and nothing was cached; pull again",
                entry.chart_digest
            )));
        }
        let io_err = |e: io::Error| {
            Error::internal(format!(
                "cannot write to the chart cache {}: {e}",
                self.root.display()
            ))
        };
        fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(io_err)?;
        temp.persist(&target).map_err(io_err)?;
        let manifest_path = self.manifest_path(manifest_digest)?;
        let manifest_temp = self.temp_file()?;
        let body = serde_json::to_vec_pretty(entry).map_err(|e| Error::internal(e.to_string()))?;
        write_synced(&manifest_temp, &body).map_err(io_err)?;
        manifest_temp.persist(&manifest_path).map_err(io_err)?;
        Ok(target)
    }
}

/// A file under the cache's `tmp/` made by [`ChartCache::temp_file`]:
/// removed on drop unless [`persist`](TempFile::persist)ed.
#[derive(Debug)]
pub(crate) struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    /// Renames the file to `target` (in the same directory tree, so the
    /// rename is atomic): the entry appears whole or not at all.
    fn persist(mut self, target: &Path) -> io::Result<()> {
        let path = self
            .path
            .take()
            .expect("a TempFile has its path until persisted");
        fs::rename(&path, target).inspect_err(|_| {
            let _ = fs::remove_file(&path);
        })
    }
}

impl std::ops::Deref for TempFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.path
            .as_deref()
            .expect("a TempFile has its path until persisted")
    }
}

impl AsRef<Path> for TempFile {
    fn as_ref(&self) -> &Path {
        self
    }
}

impl Serialize for TempFile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// Writes `bytes` into the existing file at `path` (never through a
/// symlink) and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC).bits() as i32)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(bytes: &[u8]) -> String {
        format!("sha256:{:x}", Sha256::digest(bytes))
    }

    fn entry(chart_digest: &str) -> CachedManifest {
        CachedManifest {
            chart_digest: chart_digest.to_string(),
            chart: ChartInfo {
                name: "hello".into(),
                version: "0.1.0".into(),
                app_version: None,
            },
        }
    }

    #[test]
    fn insert_then_read_back_by_manifest_and_chart_digest() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChartCache::open(dir.path()).unwrap();
        let temp = cache.temp_file().unwrap();
        let temp_path = temp.to_path_buf();
        fs::write(&temp, b"chart bytes").unwrap();
        let chart_digest = digest_of(b"chart bytes");
        let manifest_digest = digest_of(b"manifest");
        let stored = cache
            .insert(temp, &manifest_digest, &entry(&chart_digest))
            .unwrap();
        assert!(!temp_path.exists());
        assert_eq!(mode(&stored), 0o600);
        assert_eq!(mode(&cache.manifest_path(&manifest_digest).unwrap()), 0o600);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert_eq!(fs::read(&stored).unwrap(), b"chart bytes");
        assert_eq!(cache.chart(&chart_digest).unwrap(), Some(stored.clone()));
        let (found, path) = cache
            .manifest(&manifest_digest, &mut |_| {})
            .unwrap()
            .unwrap();
        assert_eq!(found.chart_digest, chart_digest);
        assert_eq!(path, stored);
    }

    #[test]
    fn a_download_with_the_wrong_digest_is_refused_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChartCache::open(dir.path()).unwrap();
        let temp = cache.temp_file().unwrap();
        let temp_path = temp.to_path_buf();
        fs::write(&temp, b"tampered").unwrap();
        let err = cache
            .insert(temp, &digest_of(b"m"), &entry(&digest_of(b"original")))
            .unwrap_err();
        assert!(err.message().contains("digest mismatch"), "{err}");
        assert!(err.message().contains("nothing was cached"), "{err}");
        assert!(!temp_path.exists());
        assert!(cache.chart(&digest_of(b"original")).unwrap().is_none());
    }

    #[test]
    fn a_corrupt_entry_is_dropped_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChartCache::open(dir.path()).unwrap();
        let temp = cache.temp_file().unwrap();
        fs::write(&temp, b"good").unwrap();
        let good = digest_of(b"good");
        let stored = cache.insert(temp, &digest_of(b"m"), &entry(&good)).unwrap();
        fs::write(&stored, b"bit rot").unwrap();
        let mut warnings = Vec::new();
        assert!(
            cache
                .manifest(&digest_of(b"m"), &mut |w| warnings.push(w))
                .unwrap()
                .is_none()
        );
        assert!(warnings[0].contains("corrupt"), "{warnings:?}");
        assert!(!stored.exists());
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn temp_files_are_new_private_and_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChartCache::open(dir.path()).unwrap();
        let a = cache.temp_file().unwrap();
        let b = cache.temp_file().unwrap();
        assert_ne!(&*a, &*b);
        assert_eq!(mode(&a), 0o600);
        assert_eq!(fs::metadata(&a).unwrap().len(), 0);
        let path = a.to_path_buf();
        drop(a);
        assert!(!path.exists());
        // A symlink planted at the temporary path is never written through.
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        let planted = b.to_path_buf();
        fs::remove_file(&planted).unwrap();
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(write_synced(&planted, b"overwritten").is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
    }

    #[test]
    fn digests_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChartCache::open(dir.path()).unwrap();
        for bad in ["sha512:abcd", "sha256:ABC", "sha256:../../etc/passwd", ""] {
            assert!(cache.chart(bad).is_err(), "{bad}");
        }
    }
}
