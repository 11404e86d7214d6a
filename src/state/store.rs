//! `StateStore`: the state file on disk, read, locked and written.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config::{StateLocation, sibling};
use super::format::Snapshot;
use super::key::ValuesKey;
use super::lock::StateLock;
use super::record::{ExecutionStateRecord, ReleaseState, StateFile, cluster_in};
use super::schema::{self, Problem};
use crate::error::{Error, Result, StateProblem};

/// How a [`StateStore`] behaves.
///
/// ```
/// use chainctl_core::state::StateStoreOptions;
/// let mut options = StateStoreOptions::default();
/// assert_eq!(options.history_limit, 100);
/// options.history_limit = 500;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateStoreOptions {
    /// How many records each release keeps in its history, newest kept
    /// (at least 1; default 100). The `current` record is kept apart and
    /// is never trimmed.
    pub history_limit: usize,
    /// How long [`StateStore::record`] waits for another process's lock
    /// before failing (default 30 s; a record takes milliseconds to write).
    pub lock_timeout: Duration,
    /// Follow a symlink at the state path (default: refuse it). Set when the
    /// user named the path explicitly with `--state-path`;
    /// [`StateStore::open_location`] does that itself.
    pub allow_symlink: bool,
}

impl Default for StateStoreOptions {
    fn default() -> StateStoreOptions {
        StateStoreOptions {
            history_limit: 100,
            lock_timeout: Duration::from_secs(30),
            allow_symlink: false,
        }
    }
}

/// What [`StateStore::import`] did with a record.
///
/// ```
/// use chainctl_core::state::Imported;
/// assert_ne!(Imported::Added, Imported::AlreadyRecorded);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// The record was added to its release and the file written.
    Added,
    /// The file held the record already: nothing was written.
    AlreadyRecorded,
}

/// The state file: opened and checked before an action, then written
/// after it.
///
/// * [`open`](Self::open) creates the directory (0700) if missing, warns
///   (without changing anything) about a directory or file that group or
///   others can access, and loads the file, which must be valid JSON, not
///   from a newer chainctl, and valid against
///   [`state_schema`](super::state_schema). A file that is not is never
///   written: every later call fails the same way until it is fixed.
/// * [`record`](Self::record) takes the lock (`<file>.lock`), re-reads the
///   file if another process changed it, adds the record, and replaces the
///   file atomically: a temporary file in the same directory (0600, or the
///   mode the old file had), fsync, the old file kept as `<file>.bak`,
///   rename, fsync of the directory.
///
/// ```
/// use chainctl_core::state::{Action, ExecutionStateRecord, StateStore, StateStoreOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("chainctl/state.json");
/// let mut store = StateStore::open(&path, StateStoreOptions::default()).unwrap();
/// assert!(store.current("hello", "demo").is_none());
///
/// let mut rec = ExecutionStateRecord::new(Action::Install, "hello", "demo");
/// rec.helm_revision = Some(1);
/// rec.finish_ok();
/// store.record(rec).unwrap();
///
/// assert_eq!(store.current("hello", "demo").unwrap().helm_revision, Some(1));
/// assert_eq!(store.history("hello", "demo").len(), 1);
/// let on_disk = StateStore::load(&path).unwrap();
/// assert_eq!(&on_disk, store.state());
/// ```
#[derive(Debug)]
pub struct StateStore {
    path: PathBuf,
    options: StateStoreOptions,
    lock: StateLock,
    snapshot: Snapshot,
    /// The file `snapshot` was read from or last written as, kept open so its
    /// inode cannot be reused while we compare against it.
    seen: Option<Seen>,
    warnings: Vec<String>,
}

#[derive(Debug)]
struct Seen {
    id: FileId,
    _pin: File,
}

/// What changes whenever a file is replaced or written in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    fn of(m: &fs::Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

impl StateStore {
    /// Opens the state file at `path` (which need not exist yet). See the
    /// type's documentation for what is checked.
    ///
    /// ```
    /// use chainctl_core::state::{StateStore, StateStoreOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("state.json");
    /// std::fs::write(&path, "{ not json").unwrap();
    /// let err = StateStore::open(&path, StateStoreOptions::default()).unwrap_err();
    /// assert!(err.to_string().contains("not valid JSON"));
    /// assert_eq!(err.state_problem(), Some(&chainctl_core::StateProblem::Invalid));
    /// ```
    pub fn open(path: impl AsRef<Path>, options: StateStoreOptions) -> Result<StateStore> {
        StateStore::open_prefetched(path.as_ref(), options, None)
    }

    /// [`open`](Self::open), taking the file's read from `prefetch` when it
    /// read the same file (it is then as if the store had been opened when
    /// the prefetch read it: a change since is found, as any other, by the
    /// next [`record`](Self::record)).
    pub(crate) fn open_prefetched(
        path: &Path,
        options: StateStoreOptions,
        prefetch: Option<Prefetch>,
    ) -> Result<StateStore> {
        if options.history_limit == 0 {
            return Err(Error::invalid(
                "the state history limit must be at least 1 (the default is 100)",
            ));
        }
        let given = std::path::absolute(path)
            .map_err(|e| io_error(path, format!("cannot make {} absolute", path.display()), e))?;
        let path = follow_or_refuse_symlink(&given, options.allow_symlink)?;
        let mut warnings = Vec::new();

        let dir = parent_of(&path);
        create_private_dir(dir)?;
        let dir_meta = fs::metadata(dir).map_err(|e| {
            io_error(
                dir,
                format!("cannot read the state directory {}", dir.display()),
                e,
            )
        })?;
        if let Some(w) = permission_warning(dir, &dir_meta, true) {
            warnings.push(w);
        }
        match fs::symlink_metadata(&path) {
            Ok(meta) if !meta.is_file() => {
                return Err(Error::state_refused(
                    format!(
                        "{} is not a regular file; a state file must be one",
                        path.display()
                    ),
                    &path,
                    StateProblem::NotAFile,
                ));
            }
            Ok(meta) => warnings.extend(permission_warning(&path, &meta, false)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(io_error(
                    &path,
                    format!("cannot read {}", path.display()),
                    e,
                ));
            }
        }

        let lock_path = sibling(&path, ".lock");
        let lock = StateLock::open(&lock_path).map_err(|e| {
            io_error(
                &lock_path,
                format!(
                    "cannot open the lock file {} (is {} writable?)",
                    lock_path.display(),
                    dir.display()
                ),
                e,
            )
        })?;

        let mut store = StateStore {
            path,
            options,
            lock,
            snapshot: Snapshot::default(),
            seen: None,
            warnings,
        };
        match prefetch
            .filter(|p| p.path == store.path)
            .map(|p| p.read.join())
        {
            Some(Ok(Ok((snapshot, seen)))) => {
                store.snapshot = snapshot;
                store.seen = seen;
            }
            // Not read, or read with an error: read again, here, so that
            // any error is this open's.
            _ => store.reload()?,
        }
        Ok(store)
    }

    /// Opens the state file a [`StateFileConfig`](super::StateFileConfig)
    /// resolved to, following a symlink there only when the path came from
    /// `--state-path`.
    ///
    /// ```
    /// use chainctl_core::state::{StateFileConfig, StateStore, StateStoreOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let config = StateFileConfig { state_path: Some(dir.path().join("s.json")), ..Default::default() };
    /// let location = config.resolve().unwrap();
    /// let store = StateStore::open_location(&location, StateStoreOptions::default()).unwrap();
    /// assert_eq!(store.path(), location.path);
    /// ```
    pub fn open_location(
        location: &StateLocation,
        options: StateStoreOptions,
    ) -> Result<StateStore> {
        StateStore::open_location_prefetched(location, options, None)
    }

    /// [`open_location`](Self::open_location) with a [`Prefetch`].
    pub(crate) fn open_location_prefetched(
        location: &StateLocation,
        mut options: StateStoreOptions,
        prefetch: Option<Prefetch>,
    ) -> Result<StateStore> {
        options.allow_symlink |= location.allows_symlink();
        StateStore::open_prefetched(&location.path, options, prefetch)
    }

    /// Reads and checks a state file without opening a store: nothing is
    /// created or locked (for `chainctl state show` and `state validate`).
    /// A missing file is [`Error::NotFound`].
    ///
    /// ```
    /// use chainctl_core::{state::StateStore, ErrorKind};
    /// let err = StateStore::load("/nonexistent/state.json").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::NotFound);
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<StateFile> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::not_found(
                    format!(
                        "no state file at {}: it is written by the first install or upgrade",
                        path.display()
                    ),
                    crate::error::Missing::StateFile {
                        path: path.to_path_buf(),
                    },
                )
            } else {
                io_error(path, format!("cannot read {}", path.display()), e)
            }
        })?;
        Snapshot::parse_to_read(&bytes).map_err(|problem| unusable(path, &problem))
    }

    /// Reads the file again (it may have been changed by another process).
    ///
    /// ```
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let mut store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// store.reload().unwrap();
    /// ```
    pub fn reload(&mut self) -> Result<()> {
        // Forget what was seen first: after a failed read the store holds
        // nothing, and the next record() must read again, never write over.
        self.seen = None;
        let known = std::mem::take(&mut self.snapshot);
        let (snapshot, seen) = read_file(&self.path, known)?;
        self.snapshot = snapshot;
        self.seen = seen;
        Ok(())
    }

    /// The state file (after following a symlink, when allowed).
    ///
    /// ```
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// assert!(store.path().ends_with("s.json"));
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the previous version is kept: `<file>.bak`.
    ///
    /// ```
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// assert!(store.backup_path().ends_with("s.json.bak"));
    /// ```
    pub fn backup_path(&self) -> PathBuf {
        sibling(&self.path, ".bak")
    }

    /// The key of this state file's values digests (see [`ValuesKey`]):
    /// `$CHAINCTL_VALUES_KEY` if set, else `<file>.key` beside it, created
    /// with a random key on first need (mode 0600, never printed). Give it
    /// to the client ([`Client::with_values_key`](crate::Client::with_values_key))
    /// so that the records of this file can say whether the values changed.
    ///
    /// ```
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// # if std::env::var_os("CHAINCTL_VALUES_KEY").is_some() { return; }
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// let key = store.values_key().unwrap();
    /// assert_eq!(store.values_key().unwrap(), key);
    /// assert!(dir.path().join("s.json.key").exists());
    /// ```
    pub fn values_key(&self) -> Result<ValuesKey> {
        ValuesKey::for_state_file(&self.path, true)?
            .ok_or_else(|| state_error(format!("no values key for {}", self.path.display())))
    }

    /// The options it was opened with.
    ///
    /// ```
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// assert_eq!(store.options().history_limit, 100);
    /// ```
    pub fn options(&self) -> &StateStoreOptions {
        &self.options
    }

    /// Things worth fixing that did not stop the store from opening, such
    /// as a state directory others can read, each naming the fix. Nothing
    /// was changed about them.
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    /// let store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// assert!(store.warnings()[0].contains("chmod 700"));
    /// ```
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Everything as last read or written, every release typed.
    ///
    /// The store keeps each release as the text it read (checked then) and
    /// types a release only when it is asked for; this types them all the
    /// first time it is called after a read or a write. To look at one
    /// release, [`release`](Self::release), [`current`](Self::current) and
    /// [`history`](Self::history) cost only that release.
    ///
    /// ```
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// assert!(store.state().releases.is_empty());
    /// ```
    pub fn state(&self) -> &StateFile {
        self.snapshot.state()
    }

    /// What is recorded for a release when only one cluster has it (or
    /// only records of no known cluster do), as
    /// [`StateFile::release`](super::StateFile::release) finds it, typing
    /// only that release (where [`state`](Self::state) types every one).
    ///
    /// ```
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// assert!(store.release("hello", "demo").is_none());
    /// ```
    pub fn release(&self, release: &str, namespace: &str) -> Option<&ReleaseState> {
        let suffix = StateFile::key(None, release, namespace);
        let mut found = (self.snapshot.keys()).filter(|key| cluster_in(key, &suffix).is_some());
        match (found.next(), found.next()) {
            (Some(key), None) => self.snapshot.release(key),
            _ => None,
        }
    }

    /// What is recorded for one release of one cluster (`None`: of no known
    /// cluster), as [`StateFile::release_in`](super::StateFile::release_in)
    /// finds it, typing only that release.
    ///
    /// ```
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// assert!(store.release_in(Some("rehearsal"), "hello", "demo").is_none());
    /// ```
    pub fn release_in(
        &self,
        cluster: Option<&str>,
        release: &str,
        namespace: &str,
    ) -> Option<&ReleaseState> {
        self.snapshot
            .release(&StateFile::key(cluster, release, namespace))
    }

    /// How many records the file holds (see
    /// [`StateFile::record_count`](super::StateFile::record_count)),
    /// without typing any.
    ///
    /// ```
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// assert_eq!(store.record_count(), 0);
    /// ```
    pub fn record_count(&self) -> usize {
        self.snapshot.record_count()
    }

    /// What is deployed as far as the state file knows: the last successful
    /// install, upgrade or rollback of the release (see
    /// [`ReleaseState::current`](super::ReleaseState::current)).
    ///
    /// ```
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// assert!(store.current("hello", "demo").is_none());
    /// ```
    pub fn current(&self, release: &str, namespace: &str) -> Option<&ExecutionStateRecord> {
        self.release(release, namespace)?.current.as_ref()
    }

    /// Every recorded action on the release, failures included, oldest
    /// first; empty when there is none.
    ///
    /// ```
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// assert!(store.history("hello", "demo").is_empty());
    /// ```
    pub fn history(&self, release: &str, namespace: &str) -> &[ExecutionStateRecord] {
        self.release(release, namespace)
            .map_or(&[], |r| r.history.as_slice())
    }

    /// The newest record of the release, whatever its outcome.
    ///
    /// ```
    /// # use chainctl_core::state::{StateStore, StateStoreOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// assert!(store.last("hello", "demo").is_none());
    /// ```
    pub fn last(&self, release: &str, namespace: &str) -> Option<&ExecutionStateRecord> {
        self.history(release, namespace).last()
    }

    /// Adds a record and writes the file, under the lock. The record must
    /// satisfy the schema (release and namespace names, digests...) and have
    /// an `error` exactly when it failed; otherwise nothing is written.
    ///
    /// Fails, leaving the file as it is, when the lock is not had within
    /// [`StateStoreOptions::lock_timeout`], when the file on disk has become
    /// unusable, or when the write fails; the error says which and what to
    /// do.
    ///
    /// ```
    /// use chainctl_core::{Error, ErrorKind};
    /// use chainctl_core::state::{Action, ExecutionStateRecord, StateStore, StateStoreOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// let mut rec = ExecutionStateRecord::new(Action::Upgrade, "hello", "demo");
    /// rec.finish_err(&Error::from_kind(ErrorKind::Kube, "forbidden".into()));
    /// store.record(rec).unwrap();
    /// assert!(store.current("hello", "demo").is_none(), "a failure does not become current");
    /// assert_eq!(store.last("hello", "demo").unwrap().error.as_ref().unwrap().kind, ErrorKind::Kube);
    /// ```
    pub fn record(&mut self, record: ExecutionStateRecord) -> Result<()> {
        self.write_record(record, |_, _| Ok(true)).map(|_| ())
    }

    /// Puts back a record that was printed instead of written (`chainctl`
    /// exit code 7; read it with
    /// [`ExecutionStateRecord::from_json`]), under the lock like any write.
    ///
    /// Idempotent: a record the file already holds changes nothing and is
    /// [`Imported::AlreadyRecorded`]. A record older than the newest one of
    /// its release is refused ([`Error::State`], nothing written): it would
    /// go after a newer record in the history and could make an older
    /// deployment current.
    ///
    /// ```
    /// use chainctl_core::ErrorKind;
    /// use chainctl_core::state::{Action, ExecutionStateRecord, Imported, StateStore, StateStoreOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut store = StateStore::open(dir.path().join("s.json"), StateStoreOptions::default()).unwrap();
    /// let mut printed = ExecutionStateRecord::new(Action::Install, "hello", "demo");
    /// printed.finish_ok();
    /// assert_eq!(store.import(printed.clone()).unwrap(), Imported::Added);
    /// assert_eq!(store.import(printed.clone()).unwrap(), Imported::AlreadyRecorded);
    ///
    /// let mut newer = ExecutionStateRecord::new(Action::Upgrade, "hello", "demo");
    /// newer.finish_ok();
    /// store.record(newer).unwrap();
    /// let mut older = printed.clone();
    /// older.action = Action::Upgrade;
    /// let err = store.import(older).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::State);
    /// assert_eq!(store.history("hello", "demo").len(), 2);
    /// ```
    pub fn import(&mut self, record: ExecutionStateRecord) -> Result<Imported> {
        let path = self.path.clone();
        let written = self.write_record(record, |release, record| {
            let key = StateFile::record_key(record);
            let Some(release) = release else {
                return Ok(true);
            };
            let held = release.history.iter().chain(&release.current);
            if held.clone().any(|r| r == record) {
                return Ok(false);
            }
            match held.max_by_key(|r| r.started_at) {
                Some(newest) if newest.started_at >= record.started_at => {
                    Err(Error::state_refused(
                        format!(
                            "cannot import the {} record of {key} started at {}: {} already \
                             holds a newer one ({} {} started at {}), and a record goes after \
                             every older one, so this one would be out of order and could make \
                             an older deployment current. Nothing was changed.",
                            record.action,
                            record.started_at,
                            path.display(),
                            newest.action,
                            word(&newest.outcome),
                            newest.started_at,
                        ),
                        &path,
                        StateProblem::OutOfOrder {
                            release: record.release.clone(),
                            namespace: record.namespace.clone(),
                        },
                    ))
                }
                _ => Ok(true),
            }
        })?;
        Ok(match written {
            true => Imported::Added,
            false => Imported::AlreadyRecorded,
        })
    }

    /// Adds a record and writes the file under the lock, once `admit`,
    /// shown its release as the file on disk has it now, says to (`Ok(false)`: leave the
    /// file as it is). Returns whether it was written.
    fn write_record(
        &mut self,
        record: ExecutionStateRecord,
        admit: impl FnOnce(Option<&ReleaseState>, &ExecutionStateRecord) -> Result<bool>,
    ) -> Result<bool> {
        check_record(&record)?;
        let _guard = self.lock.acquire(self.options.lock_timeout, &self.path)?;
        if !self.options.allow_symlink && is_symlink(&self.path) {
            return Err(symlink_refused(&self.path));
        }

        // Unchanged since this store read or wrote it: what it holds is
        // what is on disk. Otherwise read it again, checking only the
        // releases whose text changed.
        let unchanged = match (&self.seen, fs::symlink_metadata(&self.path)) {
            (Some(seen), Ok(meta)) => seen.id == FileId::of(&meta),
            (None, Err(e)) => e.kind() == io::ErrorKind::NotFound,
            _ => false,
        };
        if !unchanged {
            self.reload()?;
        }
        let release = self.snapshot.release(&StateFile::record_key(&record));
        if !admit(release, &record)? {
            return Ok(false);
        }

        let undo = self.snapshot.apply(record, self.options.history_limit);
        match self.write() {
            Ok(seen) => self.seen = Some(seen),
            Err(e) => {
                self.snapshot.undo(undo);
                return Err(e);
            }
        }
        // The new version is in place; what is left is making the rename
        // durable.
        sync_dir(parent_of(&self.path)).map_err(|e| {
            io_error(
                &self.path,
                format!(
                    "{} was written, but its directory could not be synced, so the new record \
                     may not survive a power loss",
                    self.path.display()
                ),
                e,
            )
        })?;
        Ok(true)
    }

    /// The atomic replace, but for syncing the directory afterwards. The
    /// caller holds the lock.
    fn write(&self) -> Result<Seen> {
        let path = &self.path;
        let failed = |what: &str, e: io::Error| {
            io_error(
                path,
                format!(
                    "cannot write {} ({what}); the previous version is unchanged",
                    path.display()
                ),
                e,
            )
        };

        // Keep the mode of the file being replaced: a group-readable file
        // the operator chose stays so (and keeps being warned about).
        let mode = match fs::symlink_metadata(path) {
            Ok(meta) => Some(meta.mode() & 0o777),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(failed("reading its mode", e)),
        };
        let tmp = sibling(path, ".tmp");
        remove_if_present(&tmp).map_err(|e| failed("removing a stale temporary file", e))?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&tmp)
            .map_err(|e| failed(&format!("creating {}", tmp.display()), e))?;
        let result = (|| {
            file.set_permissions(Permissions::from_mode(mode.unwrap_or(0o600)))?;
            // Straight to the file: no second copy of it in memory.
            let mut out = io::BufWriter::with_capacity(1 << 16, &mut file);
            self.snapshot.write_to(&mut out)?;
            out.flush()?;
            drop(out);
            file.sync_all()?;
            if mode.is_some() {
                backup(path, &self.backup_path())?;
            }
            fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(failed("writing the new version", e));
        }
        // rename changes the ctime, so take the identity from the path now
        // that it is in place; the lock keeps anyone else from moving it.
        let meta = fs::symlink_metadata(path).map_err(|e| failed("reading it back", e))?;
        Ok(Seen {
            id: FileId::of(&meta),
            _pin: file,
        })
    }
}

/// Checks a record before anything is locked or written.
fn check_record(record: &ExecutionStateRecord) -> Result<()> {
    let problem = match schema::check_record(record) {
        Err(problem) => problem.to_string(),
        Ok(()) => match record.check_consistency() {
            Err(problem) => problem,
            Ok(()) => return Ok(()),
        },
    };
    Err(state_error(format!(
        "the {} record of {} was not written: {problem} (a bug in the caller that built it)",
        record.action,
        crate::release_key(None, &record.namespace, &record.release)
    )))
}

/// Reads and checks the file, reusing what `known` already checked; an
/// empty snapshot when there is no file.
fn read_file(path: &Path, known: Snapshot) -> Result<(Snapshot, Option<Seen>)> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok((Snapshot::default(), None));
        }
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(symlink_refused(path));
        }
        Err(e) => {
            return Err(io_error(path, format!("cannot read {}", path.display()), e));
        }
    };
    let read = |file: &mut File| -> io::Result<(Vec<u8>, FileId)> {
        let meta = file.metadata()?;
        let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
        file.read_to_end(&mut bytes)?;
        Ok((bytes, FileId::of(&meta)))
    };
    let (bytes, id) = read(&mut file)
        .map_err(|e| io_error(path, format!("cannot read {}", path.display()), e))?;
    let snapshot =
        Snapshot::parse_owned(bytes, Some(known)).map_err(|problem| unusable(path, &problem))?;
    Ok((snapshot, Some(Seen { id, _pin: file })))
}

/// A state file being read and checked on a thread of its own, for an open
/// that comes later (see [`LazyStateStore::prefetch`](crate::LazyStateStore::prefetch)).
#[derive(Debug)]
pub(crate) struct Prefetch {
    /// The file it reads: the path an open of the same arguments reads.
    path: PathBuf,
    read: std::thread::JoinHandle<Result<(Snapshot, Option<Seen>)>>,
}

impl Prefetch {
    /// Starts reading the file an open of `path` would read; `None` when
    /// that file cannot be named (the open then says why).
    pub(crate) fn start(path: &Path, allow_symlink: bool) -> Option<Prefetch> {
        let given = std::path::absolute(path).ok()?;
        let path = follow_or_refuse_symlink(&given, allow_symlink).ok()?;
        // What is not a regular file (a FIFO would block the read) is the
        // open's to refuse.
        match fs::symlink_metadata(&path) {
            Ok(meta) if !meta.is_file() => return None,
            Err(e) if e.kind() != io::ErrorKind::NotFound => return None,
            _ => {}
        }
        let at = path.clone();
        let read = (std::thread::Builder::new().name("state-prefetch".into()))
            .spawn(move || read_file(&at, Snapshot::default()))
            .ok()?;
        Some(Prefetch { path, read })
    }
}

/// Makes `bak` the file now at `path`: a hard link (no copy, whatever the
/// size), made under a temporary name and renamed so an old `.bak` is
/// replaced in one step. Falls back to a copy where links are unsupported.
fn backup(path: &Path, bak: &Path) -> io::Result<()> {
    let tmp = sibling(bak, ".tmp");
    remove_if_present(&tmp)?;
    match fs::hard_link(path, &tmp) {
        // Something was put there since it was removed: never write
        // through it.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
        Err(_) => copy_to_new(path, &tmp)?,
        Ok(()) => {}
    }
    fs::rename(&tmp, bak)
}

/// Copies `from` to a file `to` that this creates (0600, then `from`'s
/// mode): an existing `to`, a symlink planted there included, is an error,
/// never followed or overwritten (`fs::copy` would follow it and chmod its
/// target).
fn copy_to_new(from: &Path, to: &Path) -> io::Result<()> {
    let mut source = File::open(from)?;
    let mut target = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(to)?;
    io::copy(&mut source, &mut target)?;
    target.set_permissions(source.metadata()?.permissions())?;
    target.sync_all()
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes a rename durable. Some file systems cannot sync a directory; the
/// rename is as durable there as they make it.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir)?.sync_all() {
        Err(e)
            if matches!(
                rustix::io::Errno::from_io_error(&e),
                Some(rustix::io::Errno::INVAL | rustix::io::Errno::NOTSUP)
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("/"))
}

/// Creates `dir` and its missing parents with mode 0700.
fn create_private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            io_error(
                dir,
                format!("cannot create the state directory {}", dir.display()),
                e,
            )
        })
}

/// A warning naming the fix when group or others have any access.
fn permission_warning(path: &Path, meta: &fs::Metadata, is_dir: bool) -> Option<String> {
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 == 0 {
        return None;
    }
    let (what, private) = if is_dir {
        ("state directory", "700")
    } else {
        ("state file", "600")
    };
    let me = rustix::process::geteuid().as_raw();
    let fix = if is_dir && mode & 0o1000 != 0 {
        // A shared directory such as /tmp: making it private would break
        // everyone else.
        "it is a shared directory, so keep the state file in a directory of its own".to_string()
    } else if meta.uid() == me {
        format!("`chmod {private} {}` makes it private", path.display())
    } else {
        format!(
            "it belongs to uid {}, so keep the state file in a directory of your own instead",
            meta.uid()
        )
    };
    Some(format!(
        "{what} {} is open to group or others (mode {mode:04o}); {fix}. chainctl changed nothing.",
        path.display()
    ))
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// The path to use for `given`: itself, or with `allow`, where its chain of
/// symlinks ends (which need not exist yet).
fn follow_or_refuse_symlink(given: &Path, allow: bool) -> Result<PathBuf> {
    if !is_symlink(given) {
        return Ok(given.to_path_buf());
    }
    if !allow {
        return Err(symlink_refused(given));
    }
    let mut path = given.to_path_buf();
    for _ in 0..40 {
        if !is_symlink(&path) {
            return Ok(path);
        }
        let target = fs::read_link(&path).map_err(|e| {
            io_error(
                &path,
                format!("cannot read the symlink {}", path.display()),
                e,
            )
        })?;
        path = parent_of(&path).join(target);
    }
    Err(state_error(format!(
        "{} is a chain of more than 40 symlinks",
        given.display()
    )))
}

fn symlink_refused(path: &Path) -> Error {
    let target = fs::read_link(path)
        .map(|t| format!(" (to {})", t.display()))
        .unwrap_or_default();
    Error::state_refused(
        format!(
            "{} is a symlink{target}; a state file is followed through a link only when its \
             location is named explicitly (not taken from the environment or the default); to use \
             it, name it explicitly or give the target's path",
            path.display()
        ),
        path,
        StateProblem::Symlink,
    )
}

/// The error for a file that must not be touched, with the ways out.
fn unusable(path: &Path, problem: &Problem) -> Error {
    let p = path.display();
    let way_out = if problem.is_newer() {
        format!(
            "Use the newer chainctl that wrote it, or keep a separate state file for this one, \
             or move it aside (`mv {p} {p}.newer`)."
        )
    } else {
        let bak = sibling(path, ".bak");
        let b = bak.display();
        let mut ways = Vec::new();
        let mut note = String::new();
        if let Ok(bytes) = fs::read(&bak) {
            match Snapshot::parse_to_read(&bytes) {
                Ok(_) => ways.push(format!(
                    "restore the previous version, which is valid, with `cp -p {b} {p}`"
                )),
                Err(bak_problem) => {
                    note = format!(" (The backup {b} is not usable either: {bak_problem}.)")
                }
            }
        }
        ways.push(format!(
            "move the file aside (`mv {p} {p}.broken`) to start a new one"
        ));
        let last = ways.pop().unwrap_or_default();
        match ways.is_empty() {
            true => format!("To recover: {last}.{note}"),
            false => format!("To recover: {}, or {last}.{note}", ways.join(", ")),
        }
    };
    Error::state_refused(
        format!("{p} cannot be used: {problem}. It was left unchanged. {way_out}"),
        path,
        match problem.is_newer() {
            true => StateProblem::Newer,
            false => StateProblem::Invalid,
        },
    )
}

/// A unit enum as its JSON word (`succeeded`).
fn word(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(word)) => word,
        other => format!("{other:?}"),
    }
}

fn state_error(message: String) -> Error {
    Error::state(message, None, None)
}

fn io_error(path: &Path, message: String, source: io::Error) -> Error {
    Error::state(message, Some(path), Some(source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backup_copy_never_writes_through_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("state.json");
        let to = dir.path().join("state.json.bak.tmp");
        let victim = dir.path().join("victim");
        fs::write(&from, "{}").unwrap();
        fs::write(&victim, "precious").unwrap();
        fs::set_permissions(&victim, Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&victim, &to).unwrap();
        let err = copy_to_new(&from, &to).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::metadata(&victim).unwrap().mode() & 0o777, 0o644);
        fs::remove_file(&to).unwrap();
        copy_to_new(&from, &to).unwrap();
        assert_eq!(fs::read_to_string(&to).unwrap(), "{}");
    }
}
