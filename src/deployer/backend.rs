//! Where a [`Deployer`](super::Deployer) keeps its records.

use std::path::{Path, PathBuf};

use crate::state::{
    ExecutionStateRecord, Prefetch, StateFile, StateFileConfig, StateLocation, StateStore,
    StateStoreOptions, ValuesKey,
};
use crate::{Error, Result};

/// Where a [`Deployer`](super::Deployer) keeps its records: [`StateStore`] (opened by the
/// caller), [`LazyStateStore`] (opened only once an action is approved), or
/// another backend.
pub trait StateBackend {
    /// Where the records go, for reports and messages.
    fn path(&self) -> Result<PathBuf>;

    /// What is recorded now, read without locking or creating anything;
    /// `None` when nothing has been recorded yet (no file).
    fn load(&self) -> Result<Option<StateFile>>;

    /// Readies the backend for [`record`](Self::record). Called once an
    /// action is approved and before it changes the cluster, so that an
    /// unusable state file stops the action before it starts. Returns what
    /// is worth fixing but did not stop it (say, a state directory others
    /// can read).
    fn open(&mut self) -> Result<Vec<String>>;

    /// The key of the values digests of these records (see [`ValuesKey`]);
    /// with `create`, made when there is none yet.
    fn values_key(&mut self, create: bool) -> Result<Option<ValuesKey>>;

    /// Adds one record.
    fn record(&mut self, record: ExecutionStateRecord) -> Result<()>;
}

impl StateBackend for StateStore {
    fn path(&self) -> Result<PathBuf> {
        Ok(StateStore::path(self).to_path_buf())
    }

    fn load(&self) -> Result<Option<StateFile>> {
        load_if_any(StateStore::path(self))
    }

    /// Already open: its [`warnings`](StateStore::warnings) again.
    fn open(&mut self) -> Result<Vec<String>> {
        Ok(self.warnings().to_vec())
    }

    fn values_key(&mut self, create: bool) -> Result<Option<ValuesKey>> {
        match create {
            true => StateStore::values_key(self).map(Some),
            false => ValuesKey::for_state_file(StateStore::path(self), false),
        }
    }

    fn record(&mut self, record: ExecutionStateRecord) -> Result<()> {
        StateStore::record(self, record)
    }
}

impl<B: StateBackend + ?Sized> StateBackend for &mut B {
    fn path(&self) -> Result<PathBuf> {
        (**self).path()
    }
    fn load(&self) -> Result<Option<StateFile>> {
        (**self).load()
    }
    fn open(&mut self) -> Result<Vec<String>> {
        (**self).open()
    }
    fn values_key(&mut self, create: bool) -> Result<Option<ValuesKey>> {
        (**self).values_key(create)
    }
    fn record(&mut self, record: ExecutionStateRecord) -> Result<()> {
        (**self).record(record)
    }
}

fn load_if_any(path: &Path) -> Result<Option<StateFile>> {
    match StateStore::load(path) {
        Ok(state) => Ok(Some(state)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The state file a [`StateFileConfig`] finds, opened as a [`StateStore`]
/// only when a [`Deployer`](super::Deployer) is about to change the cluster: a dry run, a
/// refused approval or a [`check`](super::Deployer::check) creates, locks and
/// writes nothing.
///
/// ```
/// use chainctl_core::LazyStateStore;
/// use chainctl_core::deployer::StateBackend;
/// let dir = tempfile::tempdir().unwrap();
/// let mut lazy = LazyStateStore::at(dir.path().join("sub/state.json"));
/// assert!(lazy.load().unwrap().is_none());
/// assert!(!dir.path().join("sub").exists());
/// lazy.open().unwrap();
/// assert!(lazy.store().is_some() && dir.path().join("sub").exists());
/// ```
#[derive(Debug)]
pub struct LazyStateStore {
    config: StateFileConfig,
    options: StateStoreOptions,
    store: Option<StateStore>,
    prefetch: Option<Prefetch>,
}

impl LazyStateStore {
    /// The file `config` resolves to, opened with `options` when needed.
    pub fn new(config: StateFileConfig, options: StateStoreOptions) -> LazyStateStore {
        LazyStateStore {
            config,
            options,
            store: None,
            prefetch: None,
        }
    }

    /// Starts reading and checking the state file on a thread of its own,
    /// so that the [`open`](StateBackend::open) before an action finds the
    /// work done: for a program with other work to do first (the chainctl
    /// CLI starts it before its first call into the Go runtime, which waits
    /// for the runtime to start). It only reads: nothing is created or
    /// locked, and a file that changes before the record is written is
    /// read again then, as it would be without it. Does nothing once open,
    /// or when the location does not resolve (the open says why).
    ///
    /// ```
    /// use chainctl_core::LazyStateStore;
    /// use chainctl_core::deployer::StateBackend;
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut lazy = LazyStateStore::at(dir.path().join("sub/state.json"));
    /// lazy.prefetch();
    /// assert!(!dir.path().join("sub").exists());
    /// lazy.open().unwrap();
    /// assert_eq!(lazy.store().unwrap().record_count(), 0);
    /// ```
    pub fn prefetch(&mut self) {
        if self.store.is_some() || self.prefetch.is_some() {
            return;
        }
        if let Ok(location) = self.location() {
            let allow = self.options.allow_symlink || location.allows_symlink();
            self.prefetch = Prefetch::start(&location.path, allow);
        }
    }

    /// The file at `path` (as `--state-path`), with default options.
    pub fn at(path: impl Into<PathBuf>) -> LazyStateStore {
        let config = StateFileConfig {
            state_path: Some(path.into()),
            ..StateFileConfig::default()
        };
        LazyStateStore::new(config, StateStoreOptions::default())
    }

    /// The store, once opened.
    pub fn store(&self) -> Option<&StateStore> {
        self.store.as_ref()
    }

    fn location(&self) -> Result<StateLocation> {
        self.config.resolve()
    }
}

impl StateBackend for LazyStateStore {
    fn path(&self) -> Result<PathBuf> {
        match &self.store {
            Some(store) => Ok(store.path().to_path_buf()),
            None => Ok(self.location()?.path),
        }
    }

    fn load(&self) -> Result<Option<StateFile>> {
        load_if_any(&self.path()?)
    }

    fn open(&mut self) -> Result<Vec<String>> {
        if self.store.is_some() {
            return Ok(Vec::new());
        }
        let prefetch = self.prefetch.take();
        let store = StateStore::open_location_prefetched(
            &self.location()?,
            self.options.clone(),
            prefetch,
        )?;
        let warnings = store.warnings().to_vec();
        self.store = Some(store);
        Ok(warnings)
    }

    /// Without `create` and with no file found (the location cannot be
    /// resolved), the key of `CHAINCTL_VALUES_KEY`, if set.
    fn values_key(&mut self, create: bool) -> Result<Option<ValuesKey>> {
        match (&mut self.store, create) {
            (Some(store), create) => StateBackend::values_key(store, create),
            (None, true) => {
                self.open()?;
                self.values_key(true)
            }
            (None, false) => match self.location() {
                Ok(location) => ValuesKey::for_state_file(&location.path, false),
                Err(_) => ValuesKey::from_env(),
            },
        }
    }

    fn record(&mut self, record: ExecutionStateRecord) -> Result<()> {
        self.open()?;
        match &mut self.store {
            Some(store) => store.record(record),
            None => Err(Error::internal("the state store did not open")),
        }
    }
}
