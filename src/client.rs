//! The Helm facade: one method per action, each one call into the shim.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::bridge::{self, CallOptions, CancelToken, EventHandler};
use crate::cache::ChartCache;
use crate::error::{Error, Input, Result};
use crate::registry::{self, PullReport, RegistryOptions};
use crate::release::{DryRun, ReleaseOptions, ReleaseRef};
use crate::report::{ActionReport, ReleaseInfo, ShimVersion, UninstallReport};
use crate::source::ChartSource;
use crate::source::OciReference;
use crate::state::ValuesKey;
use crate::values::MergedValues;
use crate::wire::{self, ActionFacts, KubeOverrides, KubeSettings, KubeTarget};

/// Where Helm keeps its release records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Storage {
    /// Kubernetes Secrets in the release's namespace (Helm's default).
    #[default]
    Secret,
    /// Kubernetes ConfigMaps in the release's namespace.
    ConfigMap,
    /// In this process's memory, and nothing is applied to any cluster: a
    /// fake Kubernetes client accepts every resource. For tests and
    /// rehearsals; each [`Client`] built with it has a store of its own.
    Memory,
}

/// How much longer than the Helm timeout an action may run before the
/// bridge gives up on it. The shim ends Helm's context at the Helm timeout
/// itself (Helm then marks the release failed); this margin is the last
/// resort for a step that ignores its context, and keeps a stalled API
/// server within `--timeout` + 2 s.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// The deadline of a read-only query (status, history) without a call timeout.
const QUERY_DEADLINE: Duration = Duration::from_secs(60);

/// The default deadline of a registry call (pull, versions, resolve, login)
/// that has no timeout of its own: Helm's default `--timeout`.
pub const DEFAULT_NETWORK_TIMEOUT: Duration = Duration::from_secs(300);

/// The default ceiling on a pulled chart archive: Helm's own 100 MiB.
pub const DEFAULT_MAX_CHART_SIZE: u64 = 100 << 20;

static NEXT_MEMORY_STORE: AtomicU64 = AtomicU64::new(1);

/// What the kubeconfig and kube flags select, read as helm reads them
/// (client-go's loading rules): see [`Client::resolve_kube`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResolvedKube {
    /// The namespace: the one asked for, else the context's, else `default`.
    pub namespace: String,
    /// The kubeconfig context in use (empty when there is none).
    #[serde(default)]
    pub context: String,
    /// The kubeconfig's names of the context's cluster and user entries.
    #[serde(default)]
    pub cluster: String,
    /// See [`cluster`](Self::cluster).
    #[serde(default)]
    pub user: String,
    /// The API server's URL (empty when the kubeconfig cannot be read).
    #[serde(default)]
    pub server: String,
    /// `sha256:` of the CA certificates the server is verified with.
    #[serde(default)]
    pub ca_fingerprint: Option<String>,
}

impl ResolvedKube {
    /// The cluster as the state file records it; `None` when the
    /// kubeconfig names no server.
    pub fn record_cluster(&self) -> Option<crate::state::RecordCluster> {
        (!self.server.is_empty())
            .then(|| crate::state::RecordCluster::new(&self.server, self.ca_fingerprint.as_deref()))
    }
}

/// What Helm knew of an install or upgrade that failed: see
/// [`Client::install_detailed`].
#[derive(Debug)]
#[non_exhaustive]
pub struct ActionFailure {
    /// Why it failed.
    pub error: Error,
    /// The revision Helm recorded for the failed action (status `failed`,
    /// or uninstalled and rolled back with atomic), when it got that far.
    pub release: Option<Box<ReleaseInfo>>,
    /// True when an upgrade with install-if-missing was installing.
    pub installed: bool,
    /// The keyed digest of the values Helm merged, when it got that far
    /// (as [`ActionReport::values_digest`]).
    pub values_digest: Option<String>,
    /// For an OCI chart: what was pulled, when the pull succeeded.
    pub pulled: Option<Box<PullReport>>,
}

impl std::fmt::Display for ActionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for ActionFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<ActionFailure> for Error {
    fn from(failure: ActionFailure) -> Error {
        failure.error
    }
}

/// The shim operations that deploy or render a chart.
#[derive(Clone, Copy)]
enum ChartAction {
    Render,
    Install,
    Upgrade,
}

/// Runs Helm actions in-process.
///
/// Build one with [`Client::builder`]; it is cheap to clone and safe to use
/// from many threads at once.
///
/// ```
/// use chainctl_core::{ChartSource, Client, ReleaseOptions, Storage};
///
/// # fn main() -> chainctl_core::Result<()> {
/// let chart = ChartSource::bundle(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/charts/hello"))?;
/// let opts = ReleaseOptions::builder("hello", "demo").set("replicaCount=2").build()?;
///
/// // Rendering needs no cluster at all.
/// let client = Client::builder().build()?;
/// let rendered = client.render(&chart, &opts)?;
/// assert!(rendered.release.manifest.contains("kind: ConfigMap"));
///
/// // An in-memory client runs the real Helm actions against a fake cluster.
/// let memory = Client::builder().storage(Storage::Memory).build()?;
/// assert_eq!(memory.install(&chart, &opts)?.release.revision, 1);
/// assert_eq!(memory.upgrade(&chart, &opts)?.release.revision, 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    target: KubeTarget,
    registry: RegistryOptions,
    cache: Option<ChartCache>,
    offline: bool,
    events: Option<EventHandler>,
    call_timeout: Option<Duration>,
    network_timeout: Option<Duration>,
    max_chart_size: u64,
    cancel: Option<CancelToken>,
    /// Keys the values digests of reports (see [`ValuesKey`]).
    values_key: ValuesKey,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.target)
            .field("call_timeout", &self.call_timeout)
            .field("network_timeout", &self.network_timeout)
            .field("max_chart_size", &self.max_chart_size)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`].
///
/// ```no_run
/// use std::time::Duration;
/// use chainctl_core::{Client, Storage};
///
/// let client = Client::builder()
///     .kubeconfig("/home/me/.kube/config")
///     .kube_context("staging")
///     .storage(Storage::Secret)
///     .call_timeout(Duration::from_secs(600))
///     .on_event(|event| eprintln!("{event}"))
///     .build()
///     .unwrap();
/// # let _ = client;
/// ```
#[derive(Default)]
pub struct ClientBuilder {
    kubeconfig: Option<PathBuf>,
    kubeconfig_paths: Option<Vec<PathBuf>>,
    context: Option<String>,
    overrides: KubeOverrides,
    storage: Storage,
    cache_dir: Option<PathBuf>,
    events: Option<EventHandler>,
    call_timeout: Option<Duration>,
    network_timeout: Option<Duration>,
    max_chart_size: Option<u64>,
    cancel: Option<CancelToken>,
    registry: RegistryOptions,
    cache: Option<ChartCache>,
    offline: bool,
}

impl ClientBuilder {
    /// Use only the chart cache for OCI charts: no network at all, and an
    /// error naming what is missing.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// How to reach OCI registries (TLS, credentials); see [`RegistryOptions`].
    pub fn registry(mut self, options: RegistryOptions) -> Self {
        self.registry = options;
        self
    }

    /// The chart cache to pull into (default: [`ChartCache::default_root`]).
    pub fn chart_cache(mut self, cache: ChartCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The kubeconfig file to use, alone (helm's `--kubeconfig`). Without
    /// it the client merges the files of
    /// [`kubeconfig_paths`](Self::kubeconfig_paths), by default those that
    /// `KUBECONFIG` lists (else `~/.kube/config`), as helm and kubectl do.
    pub fn kubeconfig(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig = Some(path.into());
        self
    }

    /// The kubeconfig files to merge with client-go's rules (the first file
    /// to set a value wins), instead of those `KUBECONFIG` lists; missing
    /// files are skipped.
    ///
    /// ```
    /// use chainctl_core::Client;
    /// let client = Client::builder().kubeconfig_paths(["/etc/kube/base", "/home/me/.kube/dev"]).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn kubeconfig_paths<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.kubeconfig_paths = Some(paths.into_iter().map(Into::into).collect());
        self
    }

    /// A bearer token for the API server (helm's `--kube-token`).
    pub fn kube_token(mut self, token: impl Into<String>) -> Self {
        self.overrides.token = Some(token.into()).filter(|t| !t.is_empty());
        self
    }

    /// A user to impersonate (helm's `--kube-as-user`).
    pub fn kube_as_user(mut self, user: impl Into<String>) -> Self {
        self.overrides.as_user = Some(user.into()).filter(|u| !u.is_empty());
        self
    }

    /// A group to impersonate; repeatable (helm's `--kube-as-group`).
    pub fn kube_as_group(mut self, group: impl Into<String>) -> Self {
        self.overrides.as_groups.push(group.into());
        self
    }

    /// The API server's address, instead of the kubeconfig's (helm's
    /// `--kube-apiserver`).
    pub fn kube_apiserver(mut self, url: impl Into<String>) -> Self {
        self.overrides.api_server = Some(url.into()).filter(|u| !u.is_empty());
        self
    }

    /// A CA file to verify the API server with (helm's `--kube-ca-file`).
    pub fn kube_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.overrides.ca_file = Some(path.into());
        self
    }

    /// Does not verify the API server's certificate (helm's
    /// `--kube-insecure-skip-tls-verify`): insecure, for tests only.
    pub fn kube_insecure_skip_tls_verify(mut self, insecure: bool) -> Self {
        self.overrides.insecure_skip_tls_verify = insecure;
        self
    }

    /// The name the API server's certificate is checked against (helm's
    /// `--kube-tls-server-name`).
    pub fn kube_tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.overrides.tls_server_name = Some(name.into()).filter(|n| !n.is_empty());
        self
    }

    /// Client-side throttling: burst (helm's `--burst-limit`, default 100).
    pub fn burst_limit(mut self, burst: u32) -> Self {
        self.overrides.burst_limit = Some(burst);
        self
    }

    /// Client-side throttling: queries per second (helm's `--qps`; 0 is
    /// client-go's default).
    pub fn qps(mut self, qps: f32) -> Self {
        self.overrides.qps = Some(qps);
        self
    }

    /// The kubeconfig context to use instead of its current one.
    pub fn kube_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Where Helm keeps release records; see [`Storage`].
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Where the Kubernetes discovery cache lives (default: none kept).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Receives log and progress events of every call, on any thread.
    pub fn on_event(mut self, handler: impl Fn(&crate::Event) + Send + Sync + 'static) -> Self {
        self.events = Some(std::sync::Arc::new(handler));
        self
    }

    /// A hard deadline for each call, instead of the ones below. Without
    /// it an action runs for at most its Helm timeout (the whole action,
    /// API server requests included) plus a second, and every other call
    /// for its [`network_timeout`](Self::network_timeout).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(timeout);
        self
    }

    /// The deadline of each call that touches the network and has no Helm
    /// timeout of its own: registry calls ([`Client::pull`],
    /// [`Client::versions`], [`Client::resolve_tag`], login; default
    /// [`DEFAULT_NETWORK_TIMEOUT`], 5 minutes) and cluster queries
    /// ([`Client::status`], [`Client::history`], [`Client::list`]...;
    /// default 60 s). The pull of an action's OCI chart has the action's
    /// timeout instead. A registry or API server that stalls ends the call
    /// with [`Error::Timeout`], naming the host and the step that stalled.
    ///
    /// ```
    /// use std::time::Duration;
    /// use chainctl_core::Client;
    /// let client = Client::builder().network_timeout(Duration::from_secs(20)).build()?;
    /// # let _ = client;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn network_timeout(mut self, timeout: Duration) -> Self {
        self.network_timeout = Some(timeout);
        self
    }

    /// The largest chart archive a pull accepts, in bytes (default
    /// [`DEFAULT_MAX_CHART_SIZE`], Helm's 100 MiB). It is enforced while
    /// the chart streams: a manifest declaring a larger layer is refused
    /// before the layer is fetched, and a body longer than the manifest
    /// declares is cut and refused, so memory stays bounded.
    ///
    /// ```
    /// use chainctl_core::Client;
    /// let client = Client::builder().max_chart_size(512 << 20).build()?;
    /// # let _ = client;
    /// assert!(Client::builder().max_chart_size(0).build().is_err());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn max_chart_size(mut self, bytes: u64) -> Self {
        self.max_chart_size = Some(bytes);
        self
    }

    /// A token whose [`cancel`](CancelToken::cancel) stops this client's calls.
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<Client> {
        if let Some(path) = &self.kubeconfig
            && !path.is_file()
        {
            return Err(Error::invalid_in(
                Input::Kubeconfig,
                format!(
                    "kubeconfig {} does not exist or is not a file: the kubeconfig must be the path of your cluster's kubeconfig file",
                    path.display()
                ),
            ));
        }
        let paths = (self.kubeconfig.iter().map(|p| (p, "kubeconfig")))
            .chain(self.cache_dir.iter().map(|p| (p, "the discovery cache")))
            .chain(
                self.overrides
                    .ca_file
                    .iter()
                    .map(|p| (p, "the kube CA file")),
            );
        for (path, what) in paths {
            crate::error::utf8_path(path, what)?;
        }
        if self.call_timeout == Some(Duration::ZERO) {
            return Err(Error::invalid("the call timeout must be longer than zero"));
        }
        if let Some(timeout) = self.network_timeout {
            crate::release::check_timeout(timeout, "the network timeout")?;
        }
        let max_chart_size = self.max_chart_size.unwrap_or(DEFAULT_MAX_CHART_SIZE);
        if max_chart_size == 0 || max_chart_size > i64::MAX as u64 {
            return Err(Error::invalid(format!(
                "the chart size ceiling must be between 1 byte and {} bytes (default {DEFAULT_MAX_CHART_SIZE}, Helm's 100 MiB)",
                i64::MAX
            )));
        }
        let (storage, memory_store) = storage_target(&self.storage);
        let kubeconfig_paths = match (&self.kubeconfig, self.kubeconfig_paths) {
            (Some(_), _) => Vec::new(),
            (None, Some(paths)) => paths,
            (None, None) => default_kubeconfig_paths(),
        };
        for path in &kubeconfig_paths {
            crate::error::utf8_path(path, "kubeconfig (from KUBECONFIG or kubeconfig_paths)")?;
        }
        Ok(Client {
            registry: self.registry,
            cache: self.cache,
            offline: self.offline,
            target: KubeTarget {
                settings: KubeSettings {
                    kubeconfig: self.kubeconfig,
                    kubeconfig_paths,
                    context: self.context,
                    overrides: self.overrides,
                    cache_dir: self.cache_dir,
                },
                storage: storage.to_string(),
                memory_store,
            },
            events: self.events,
            call_timeout: self.call_timeout,
            network_timeout: self.network_timeout,
            max_chart_size,
            cancel: self.cancel,
            values_key: ValuesKey::process(),
        })
    }
}

/// The storage as the shim names it, and for memory a store of its own.
fn storage_target(storage: &Storage) -> (&'static str, Option<String>) {
    match storage {
        Storage::Secret => ("secret", None),
        Storage::ConfigMap => ("configmap", None),
        Storage::Memory => {
            let n = NEXT_MEMORY_STORE.fetch_add(1, Ordering::Relaxed);
            ("memory", Some(format!("{}-{n}", std::process::id())))
        }
    }
}

/// How long an action may work on the cluster: its Helm timeout, and with
/// `--atomic` or `--cleanup-on-fail` another one for the rollback or the
/// clean-up that follows a failure (the shim bounds both the same way).
fn action_window(opts: &ReleaseOptions) -> Duration {
    if opts.atomic() || opts.cleans_up_on_fail() {
        opts.timeout().saturating_mul(2)
    } else {
        opts.timeout()
    }
}

/// The kubeconfig files client-go would merge: those `KUBECONFIG` lists,
/// else `~/.kube/config`. Read here, in Rust, because the Go shim never
/// reads the environment; the merging is client-go's, in the shim.
fn default_kubeconfig_paths() -> Vec<PathBuf> {
    match std::env::var_os("KUBECONFIG") {
        Some(list) if !list.is_empty() => std::env::split_paths(&list).collect(),
        _ => std::env::var_os("HOME")
            .map(|home| vec![Path::new(&home).join(".kube").join("config")])
            .unwrap_or_default(),
    }
}

/// Options of [`Client::rollback`].
///
/// ```
/// use std::time::Duration;
/// use chainctl_core::RollbackOptions;
/// let opts = RollbackOptions { revision: Some(1), wait: true, timeout: Duration::from_secs(120), ..Default::default() };
/// assert_eq!(opts.revision, Some(1));
/// ```
///
/// The options only Helm 4 has are `None` (or `false`) by default, the
/// backend's default; on the Helm 3 build, a value that asks for what Helm 3
/// does not do is refused when the rollback runs:
///
/// ```
/// use chainctl_core::{RollbackOptions, ServerSide, WaitStrategy};
/// let opts = RollbackOptions {
///     server_side: Some(ServerSide::Off),
///     wait_strategy: Some(WaitStrategy::Legacy),
///     ..Default::default()
/// };
/// assert!(!opts.force_conflicts);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackOptions {
    /// The revision to return to; `None` means the one before the current.
    pub revision: Option<u32>,
    /// Wait until the resources are ready.
    pub wait: bool,
    /// How long Helm waits (default 300 s, as Helm).
    pub timeout: Duration,
    /// Replace resources that cannot be updated in place.
    pub force: bool,
    /// Simulate the rollback; nothing changes (`--dry-run`).
    pub dry_run: bool,
    /// Run no hooks (`--no-hooks`).
    pub no_hooks: bool,
    /// How many revisions Helm keeps (`--history-max`, default 10; 0: all).
    pub history_max: u32,
    /// How manifests are applied (helm 4's `--server-side`, see
    /// [`ServerSide`](crate::ServerSide)); `None`: the backend's default
    /// (Helm 4: as the revision rolled back to was applied; Helm 3:
    /// client-side, the only way it has).
    pub server_side: Option<crate::ServerSide>,
    /// With server-side apply, take over fields another manager owns
    /// (helm 4's `--force-conflicts`; Helm 4 only).
    pub force_conflicts: bool,
    /// How Helm waits (helm 4's `--wait=...`, see
    /// [`WaitStrategy`](crate::WaitStrategy)); `None`: the backend's
    /// default for `wait`. `Watcher` and `Legacy` imply `wait`; `HookOnly`
    /// with `wait` is refused.
    pub wait_strategy: Option<crate::WaitStrategy>,
}

impl Default for RollbackOptions {
    fn default() -> Self {
        RollbackOptions {
            revision: None,
            wait: false,
            timeout: Duration::from_secs(300),
            force: false,
            dry_run: false,
            no_hooks: false,
            history_max: crate::DEFAULT_HISTORY_MAX,
            server_side: None,
            force_conflicts: false,
            wait_strategy: None,
        }
    }
}

/// Options of [`Client::uninstall`].
///
/// ```
/// use chainctl_core::{UninstallOptions, WaitStrategy};
/// let opts = UninstallOptions { keep_history: true, ..Default::default() };
/// assert!(!opts.wait);
/// assert_eq!(opts.wait_strategy, None, "the backend's default");
/// let legacy = UninstallOptions { wait_strategy: Some(WaitStrategy::Legacy), ..Default::default() };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UninstallOptions {
    /// Keep the release's history, so it can be rolled back or inspected.
    pub keep_history: bool,
    /// Wait until the resources are gone.
    pub wait: bool,
    /// How long Helm waits (default 300 s, as Helm).
    pub timeout: Duration,
    /// Recorded as the uninstalled revision's description.
    pub description: Option<String>,
    /// Simulate the uninstall; nothing changes (`--dry-run`).
    pub dry_run: bool,
    /// Run no hooks (`--no-hooks`).
    pub no_hooks: bool,
    /// A release that does not exist is no error (`--ignore-not-found`).
    pub ignore_not_found: bool,
    /// How dependents are deleted: `background` (default), `foreground` or
    /// `orphan` (`--cascade`).
    pub cascade: Option<String>,
    /// How Helm waits for the resources to be gone (helm 4's `--wait=...`,
    /// see [`WaitStrategy`](crate::WaitStrategy)); `None`: the backend's
    /// default for `wait`. `Watcher` and `Legacy` imply `wait`; `HookOnly`
    /// with `wait` is refused.
    pub wait_strategy: Option<crate::WaitStrategy>,
}

impl Default for UninstallOptions {
    fn default() -> Self {
        UninstallOptions {
            keep_history: false,
            wait: false,
            timeout: Duration::from_secs(300),
            description: None,
            dry_run: false,
            no_hooks: false,
            ignore_not_found: false,
            cascade: None,
            wait_strategy: None,
        }
    }
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Versions of Helm and Go inside the shim.
    pub fn shim_version() -> Result<ShimVersion> {
        let version = bridge::call::<wire::Version>(&wire::Empty {}, &CallOptions::default())?;
        if version.abi != crate::ffi::ABI_VERSION {
            return Err(Error::internal(format!(
                "the linked Go shim speaks ABI {} but this crate was built for ABI {}",
                version.abi,
                crate::ffi::ABI_VERSION
            )));
        }
        Ok(version)
    }

    /// Sets the Go garbage collector's target for the whole process, as the
    /// `GOGC` environment variable does (Go's `debug.SetGCPercent`: the heap
    /// may grow by `percent` % of the live heap before a collection; a
    /// negative value turns the collector off), and returns the previous
    /// target.
    ///
    /// The library never calls this: until a program does, the Go runtime
    /// keeps its default (`GOGC`, else 100), as in the helm CLI. A lower
    /// target trades CPU for a smaller peak heap; the chainctl CLI sets 50
    /// unless `GOGC` is set.
    ///
    /// ```
    /// use chainctl_core::Client;
    /// let before = Client::set_go_gc_percent(50)?;
    /// assert_eq!(Client::set_go_gc_percent(before)?, 50);
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn set_go_gc_percent(percent: i32) -> Result<i32> {
        let reply = bridge::call::<wire::RuntimeGcPercent>(
            &wire::GcPercentRequest { percent },
            &CallOptions::default(),
        )?;
        Ok(reply.previous)
    }

    /// This client with another cancel token, or none (`None`: its calls
    /// cannot be cancelled). A token once cancelled stays so; this is how to
    /// look at what a cancelled action left behind, with the same settings.
    ///
    /// ```
    /// use chainctl_core::{CancelToken, Client};
    /// let token = CancelToken::new();
    /// let client = Client::builder().cancel_token(token.clone()).build()?;
    /// token.cancel();
    /// let reader = client.with_cancel_token(None);
    /// # let _ = reader;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn with_cancel_token(&self, token: Option<CancelToken>) -> Client {
        Client {
            cancel: token,
            ..self.clone()
        }
    }

    /// The cancel token its calls use, if any.
    pub fn cancel_token(&self) -> Option<&CancelToken> {
        self.cancel.as_ref()
    }

    /// This client with release storage `driver` (a new, empty store for
    /// [`StorageDriver::Memory`](crate::state::StorageDriver::Memory)),
    /// its other settings kept: to read a release where a record says it
    /// is kept.
    pub fn with_storage_driver(&self, driver: crate::state::StorageDriver) -> Client {
        let storage = match driver {
            crate::state::StorageDriver::Secret => Storage::Secret,
            crate::state::StorageDriver::ConfigMap => Storage::ConfigMap,
            crate::state::StorageDriver::Memory => Storage::Memory,
        };
        let mut client = self.clone();
        let (driver, memory_store) = storage_target(&storage);
        (client.target.storage, client.target.memory_store) = (driver.to_string(), memory_store);
        client
    }

    fn options(&self, helm_timeout: Option<Duration>) -> CallOptions<'_> {
        CallOptions {
            timeout: self.call_timeout.or(helm_timeout.map(|t| {
                t.saturating_add(DEADLINE_MARGIN)
                    .min(crate::release::MAX_TIMEOUT)
            })),
            cancel: self.cancel.as_ref(),
            events: self.events.as_ref(),
        }
    }

    fn query_options(&self) -> CallOptions<'_> {
        CallOptions {
            timeout: Some(
                self.call_timeout
                    .or(self.network_timeout)
                    .unwrap_or(QUERY_DEADLINE),
            ),
            ..self.options(None)
        }
    }

    /// A registry call's options: `timeout` (an action's), else the
    /// network timeout, else [`DEFAULT_NETWORK_TIMEOUT`].
    fn registry_options(&self, timeout: Option<Duration>) -> CallOptions<'_> {
        CallOptions {
            timeout: Some(
                self.call_timeout
                    .or(timeout)
                    .or(self.network_timeout)
                    .unwrap_or(DEFAULT_NETWORK_TIMEOUT),
            ),
            ..self.options(None)
        }
    }

    fn cache(&self) -> Result<ChartCache> {
        match &self.cache {
            Some(cache) => Ok(cache.clone()),
            None => ChartCache::open(ChartCache::default_root().ok_or_else(|| {
                Error::invalid("no cache directory is known for this user: set one with ClientBuilder::chart_cache")
            })?),
        }
    }

    /// Pulls an OCI chart into the chart cache, downloading only what the
    /// cache lacks: a cached digest-pinned reference makes no request, a tag
    /// one manifest request. A bundle needs no pull and is an error here.
    pub fn pull(&self, source: &ChartSource) -> Result<PullReport> {
        self.pull_bounded(source, None)
    }

    /// [`pull`](Self::pull) within `timeout` instead of the
    /// [network timeout](ClientBuilder::network_timeout): what an install
    /// or upgrade does with its own timeout, for a caller that pulls first
    /// (to show a plan) and wants the same bound.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use chainctl_core::{ChartSource, Client};
    /// let chart = ChartSource::oci("oci://registry.example/charts/hello:1.0.0", None)?;
    /// let pulled = Client::builder().build()?.pull_within(&chart, Duration::from_secs(30))?;
    /// println!("{}", pulled.chart_digest);
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn pull_within(&self, source: &ChartSource, timeout: Duration) -> Result<PullReport> {
        self.pull_bounded(source, Some(timeout))
    }

    fn pull_bounded(&self, source: &ChartSource, timeout: Option<Duration>) -> Result<PullReport> {
        let ChartSource::Oci(oci) = source else {
            return Err(Error::invalid(format!(
                "{source} is a local bundle: only OCI charts are pulled"
            )));
        };
        let cache = self.cache()?;
        let events = self.events.clone();
        let mut warn = move |message: String| {
            if let Some(handler) = &events {
                let phase = Some("pull".to_string());
                handler(&crate::Event {
                    level: crate::EventLevel::Warn,
                    phase,
                    message,
                });
            }
        };
        registry::pull(
            oci,
            &self.registry,
            &cache,
            &self.registry_options(timeout),
            registry::PullLimits {
                max_chart_size: self.max_chart_size,
            },
            self.offline,
            &mut warn,
        )
    }

    /// Logs in to a registry (`host[:port]`) with the client's
    /// [`RegistryOptions`] username and password, storing the credentials in
    /// the registry config file; returns that file's path.
    pub fn registry_login(&self, host: &str) -> Result<PathBuf> {
        registry::login(host, &self.registry, &self.registry_options(None))
    }

    /// Removes a registry's stored credentials; returns the config file's path.
    pub fn registry_logout(&self, host: &str) -> Result<PathBuf> {
        registry::logout(host, &self.registry, &self.registry_options(None))
    }

    /// The manifest digest a tagged reference points at now: one manifest
    /// request, nothing downloaded.
    pub fn resolve_tag(&self, reference: &OciReference) -> Result<String> {
        let tag = reference
            .tag()
            .ok_or_else(|| Error::invalid(format!("{reference} has no tag to resolve")))?;
        let repository = format!("{}/{}", reference.registry(), reference.repository());
        registry::resolve(
            &repository,
            tag,
            &self.registry,
            &self.cache()?,
            &self.registry_options(None),
        )
    }

    /// The chart versions in an OCI repository, newest first.
    pub fn versions(&self, reference: &OciReference) -> Result<Vec<String>> {
        let repository = format!("{}/{}", reference.registry(), reference.repository());
        registry::versions(&repository, &self.registry, &self.registry_options(None))
    }

    /// Runs a chart action: pulls an OCI chart first (through the cache),
    /// then hands the shim the chart's path.
    // ActionFailure is the cold path (an Error with the facts of the failed
    // action), returned once per action: its size does not matter.
    #[allow(clippy::result_large_err)]
    fn chart_action(
        &self,
        op: ChartAction,
        source: &ChartSource,
        opts: &ReleaseOptions,
    ) -> Result<ActionReport, ActionFailure> {
        let failed = |error: Error, pulled: Option<PullReport>| ActionFailure {
            error,
            release: None,
            installed: false,
            values_digest: None,
            pulled: pulled.map(Box::new),
        };
        let (path, pulled) = match source {
            ChartSource::Bundle(bundle) => (bundle.path().to_path_buf(), None),
            ChartSource::Oci(_) => {
                let pulled = self
                    .pull_within(source, opts.timeout())
                    .map_err(|e| failed(e, None))?;
                (pulled.path.clone(), Some(pulled))
            }
        };
        let request = wire::ChartRequest {
            kube: self.target.clone(),
            chart: wire::ChartPath { path },
            options: opts.to_wire(),
        };
        let call = &self.options(Some(action_window(opts)));
        let reply = match op {
            ChartAction::Render => {
                bridge::call_with_facts::<wire::ReleaseRender, ActionFacts>(&request, call)
            }
            ChartAction::Install => {
                bridge::call_with_facts::<wire::ReleaseInstall, ActionFacts>(&request, call)
            }
            ChartAction::Upgrade => {
                bridge::call_with_facts::<wire::ReleaseUpgrade, ActionFacts>(&request, call)
            }
        };
        match reply {
            Ok(mut report) => {
                report.pulled = pulled;
                report.values_digest = self.values_key.seal(&report.values_digest);
                report.release = self.keyed(report.release);
                Ok(report)
            }
            Err(failure) => {
                let facts = failure.facts.map(|f| *f).unwrap_or_default();
                Err(ActionFailure {
                    error: self.explain_pending(opts.release(), failure.error, failure.code),
                    release: facts.release.map(|r| Box::new(self.keyed(r))),
                    installed: facts.installed,
                    values_digest: facts.values_digest.map(|d| self.values_key.seal(&d)),
                    pulled: pulled.map(Box::new),
                })
            }
        }
    }

    /// The storage driver as the state file records it.
    pub fn storage_driver(&self) -> crate::state::StorageDriver {
        match self.target.storage.as_str() {
            "configmap" => crate::state::StorageDriver::ConfigMap,
            "memory" => crate::state::StorageDriver::Memory,
            _ => crate::state::StorageDriver::Secret,
        }
    }

    /// The namespace helm would use (`namespace` if given, else the
    /// kubeconfig context's, else `default`), the context and the API
    /// server, read from the kubeconfig by client-go's rules. Reads files
    /// only; never contacts the cluster.
    ///
    /// ```
    /// use chainctl_core::Client;
    /// let dir = tempfile::tempdir()?;
    /// let config = dir.path().join("config");
    /// std::fs::write(&config, "apiVersion: v1\nkind: Config\ncurrent-context: dev\n\
    ///     clusters: [{name: c, cluster: {server: 'https://k.example'}}]\n\
    ///     users: [{name: u, user: {}}]\n\
    ///     contexts: [{name: dev, context: {cluster: c, user: u, namespace: team-a}}]\n")?;
    /// let client = Client::builder().kubeconfig(&config).build()?;
    /// let kube = client.resolve_kube(None)?;
    /// assert_eq!((kube.namespace.as_str(), kube.context.as_str()), ("team-a", "dev"));
    /// assert_eq!(client.resolve_kube(Some("other"))?.namespace, "other");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve_kube(&self, namespace: Option<&str>) -> Result<ResolvedKube> {
        let request = wire::KubeResolveRequest {
            settings: self.target.settings.clone(),
            namespace: namespace.map(str::to_string),
        };
        bridge::call::<wire::KubeResolve>(&request, &self.query_options())
    }

    /// Merges the values of `opts` as Helm does for an action (Helm's own
    /// code: YAML 1.1 files, every `--set*` form, helm's order), without
    /// running one: to show them, or to learn their digest early. Files and
    /// URLs are read now, and again by the action.
    ///
    /// ```
    /// use chainctl_core::{Client, ReleaseOptions};
    ///
    /// # fn main() -> chainctl_core::Result<()> {
    /// let opts = ReleaseOptions::builder("web", "prod")
    ///     .values_yaml("base", "ingress: {enabled: no}\nimage: {tag: latest}\n")
    ///     .set("image.tag=20230101")
    ///     .build()?;
    /// let merged = Client::builder().build()?.merge_values(&opts)?;
    /// assert_eq!(merged.values["ingress"]["enabled"], false); // YAML 1.1, as in Helm
    /// assert_eq!(merged.values["image"]["tag"], 20230101); // an integer, not 2.0230101e+07
    /// assert!(merged.digest.starts_with("hmac-sha256:"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn merge_values(&self, opts: &ReleaseOptions) -> Result<MergedValues> {
        let mut merged = bridge::call::<wire::ValuesMerge>(
            &opts.value_inputs().to_wire(),
            &self.query_options(),
        )?;
        merged.digest = self.values_key.seal(&merged.digest);
        Ok(merged)
    }

    /// This client with `key` for the values digests of its reports
    /// ([`ActionReport::values_digest`], [`MergedValues::digest`]) and the
    /// manifest digests of the releases it returns
    /// ([`ReleaseInfo::manifest_digest`]): the key
    /// of the state file the records go to
    /// ([`StateStore::values_key`](crate::StateStore::values_key)), so that
    /// they compare with the records already there. Without one, a client
    /// keys digests with [`ValuesKey::process`]: they compare only within
    /// this process.
    ///
    /// ```
    /// use chainctl_core::{Client, ReleaseOptions, state::ValuesKey};
    /// # fn main() -> chainctl_core::Result<()> {
    /// let opts = ReleaseOptions::builder("web", "prod").set("password=hunter2").build()?;
    /// let client = Client::builder().build()?;
    /// let a = client.clone().with_values_key(ValuesKey::from_secret("the key of state file A")?);
    /// let b = client.with_values_key(ValuesKey::from_secret("the key of state file B")?);
    /// assert_ne!(a.merge_values(&opts)?.digest, b.merge_values(&opts)?.digest);
    /// assert_eq!(a.merge_values(&opts)?.digest, a.merge_values(&opts)?.digest);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_values_key(mut self, key: ValuesKey) -> Client {
        self.values_key = key;
        self
    }

    /// `rel` with its manifest digest keyed like the values digest.
    fn keyed(&self, mut rel: ReleaseInfo) -> ReleaseInfo {
        rel.set_digest_key(&self.values_key);
        rel
    }

    /// Renders the chart without any cluster, like `helm template` (a
    /// client-only dry run). The options' dry-run mode is ignored.
    pub fn render(&self, source: &ChartSource, opts: &ReleaseOptions) -> Result<ActionReport> {
        Ok(self.chart_action(ChartAction::Render, source, opts)?)
    }

    /// Installs a new release. With [`DryRun::Client`] this is
    /// [`render`](Self::render); with [`DryRun::Server`] the API server
    /// validates everything and nothing is stored.
    pub fn install(&self, source: &ChartSource, opts: &ReleaseOptions) -> Result<ActionReport> {
        Ok(self.install_detailed(source, opts)?)
    }

    /// [`install`](Self::install), but a failure keeps what Helm knew: the
    /// revision it recorded (a failed first install leaves one), the values
    /// digest and the pull, so that a record of the failure can say them.
    ///
    /// ```
    /// use chainctl_core::{ChartSource, Client, ReleaseOptions, Storage};
    /// # fn main() -> chainctl_core::Result<()> {
    /// let chart = ChartSource::bundle(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/charts/hello"))?;
    /// let client = Client::builder().storage(Storage::Memory).build()?;
    /// let bad = ReleaseOptions::builder("hello", "demo").set("service.port=0").build()?;
    /// let failure = client.install_detailed(&chart, &bad).unwrap_err();
    /// assert!(failure.values_digest.is_some() && failure.release.is_none());
    /// # Ok(())
    /// # }
    /// ```
    // ActionFailure is the cold path (an Error with the facts of the failed
    // action), returned once per action: its size does not matter.
    #[allow(clippy::result_large_err)]
    pub fn install_detailed(
        &self,
        source: &ChartSource,
        opts: &ReleaseOptions,
    ) -> Result<ActionReport, ActionFailure> {
        self.deploy_action(ChartAction::Install, source, opts)
    }

    /// `op`, or a client-only render for [`DryRun::Client`].
    // ActionFailure is the cold path (an Error with the facts of the failed
    // action), returned once per action: its size does not matter.
    #[allow(clippy::result_large_err)]
    fn deploy_action(
        &self,
        op: ChartAction,
        source: &ChartSource,
        opts: &ReleaseOptions,
    ) -> Result<ActionReport, ActionFailure> {
        let op = match opts.dry_run() {
            DryRun::Client => ChartAction::Render,
            _ => op,
        };
        self.chart_action(op, source, opts)
    }

    /// Upgrades a release to the chart and values given; with
    /// [`install_if_missing`](crate::ReleaseOptionsBuilder::install_if_missing)
    /// a release with no history is installed instead.
    pub fn upgrade(&self, source: &ChartSource, opts: &ReleaseOptions) -> Result<ActionReport> {
        Ok(self.upgrade_detailed(source, opts)?)
    }

    /// [`upgrade`](Self::upgrade), keeping what Helm knew of a failure (see
    /// [`install_detailed`](Self::install_detailed)).
    // ActionFailure is the cold path (an Error with the facts of the failed
    // action), returned once per action: its size does not matter.
    #[allow(clippy::result_large_err)]
    pub fn upgrade_detailed(
        &self,
        source: &ChartSource,
        opts: &ReleaseOptions,
    ) -> Result<ActionReport, ActionFailure> {
        self.deploy_action(ChartAction::Upgrade, source, opts)
    }

    /// Whether the release's last revision is stuck in a `pending-*`
    /// status, and if so how to recover. `Ok(None)` when it is not (or the
    /// release does not exist).
    pub fn pending(&self, release: &ReleaseRef) -> Result<Option<PendingRelease>> {
        match self.history(release) {
            Ok(history) => Ok(PendingRelease::from_history(release, &history)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Helm refuses to act on a release whose last revision is pending
    /// ("another operation is in progress", the shim's `release_pending`)
    /// without saying which revision: the error carries it, and the
    /// revision to roll back to.
    fn explain_pending(
        &self,
        release: &ReleaseRef,
        err: Error,
        code: Option<wire::ErrorCode>,
    ) -> Error {
        if code != Some(wire::ErrorCode::ReleasePending) {
            return err;
        }
        let pending = self.pending(release).ok().flatten();
        let message = match &pending {
            Some(pending) => format!("{}: {pending}", err.message()),
            None => err.message().to_string(),
        };
        Error::Kube {
            message,
            pending: pending.map(Box::new),
        }
    }

    fn target(&self, release: &ReleaseRef) -> wire::ReleaseTarget {
        wire::ReleaseTarget {
            kube: self.target.clone(),
            release: release.name().to_string(),
            namespace: release.namespace().to_string(),
        }
    }

    /// The current revision of a release.
    pub fn status(&self, release: &ReleaseRef) -> Result<ReleaseInfo> {
        let request = wire::StatusRequest {
            target: self.target(release),
            revision: None,
        };
        bridge::call::<wire::ReleaseStatus>(&request, &self.query_options()).map(|r| self.keyed(r))
    }

    /// One stored revision of a release, manifest and hooks included
    /// (`helm status --revision N`).
    pub fn revision(&self, release: &ReleaseRef, revision: u32) -> Result<ReleaseInfo> {
        let request = wire::StatusRequest {
            target: self.target(release),
            revision: Some(revision),
        };
        bridge::call::<wire::ReleaseStatus>(&request, &self.query_options()).map(|r| self.keyed(r))
    }

    /// The releases `helm list` lists with the same flags (manifests left
    /// out).
    ///
    /// ```
    /// use chainctl_core::{ChartSource, Client, ListOptions, ReleaseOptions, Storage};
    /// # fn main() -> chainctl_core::Result<()> {
    /// let chart = ChartSource::bundle(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/charts/hello"))?;
    /// let client = Client::builder().storage(Storage::Memory).build()?;
    /// client.install(&chart, &ReleaseOptions::builder("web", "demo").build()?)?;
    /// let listed = client.list(&ListOptions { namespace: "demo".into(), ..Default::default() })?;
    /// assert_eq!(listed[0].name, "web");
    /// # Ok(())
    /// # }
    /// ```
    pub fn list(&self, opts: &ListOptions) -> Result<Vec<ReleaseInfo>> {
        let request = wire::ListRequest {
            kube: self.target.clone(),
            options: opts.clone(),
        };
        bridge::call::<wire::ReleaseList>(&request, &self.query_options())
    }

    /// The values a revision (default: the current one) was deployed with,
    /// as `helm get values`: those the user supplied, or with `all` every
    /// value the chart was rendered with. They may hold secrets.
    pub fn values(
        &self,
        release: &ReleaseRef,
        revision: Option<u32>,
        all: bool,
    ) -> Result<ReleaseValues> {
        let request = wire::GetValuesRequest {
            target: self.target(release),
            revision: revision.filter(|&r| r > 0),
            all,
        };
        bridge::call::<wire::ReleaseValues>(&request, &self.query_options())
    }

    /// Every stored revision of a release, oldest first (manifests left out).
    pub fn history(&self, release: &ReleaseRef) -> Result<Vec<ReleaseInfo>> {
        self.history_request(release, None)
    }

    /// The newest `max` stored revisions of a release, oldest first, as
    /// `helm history --max` lists them (helm's default is 256). As with
    /// helm, a `max` of 0 lists none once the release is found.
    ///
    /// ```
    /// use chainctl_core::{ChartSource, Client, ReleaseOptions, Storage};
    /// # fn main() -> chainctl_core::Result<()> {
    /// let client = Client::builder().storage(Storage::Memory).build()?;
    /// let chart = ChartSource::bundle(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/charts/hello"))?;
    /// let opts = ReleaseOptions::builder("hello", "demo").install_if_missing(true).build()?;
    /// for _ in 0..3 {
    ///     client.upgrade(&chart, &opts)?;
    /// }
    /// let newest: Vec<u32> = client.history_max(opts.release(), 2)?.iter().map(|r| r.revision).collect();
    /// assert_eq!(newest, [2, 3]);
    /// assert!(client.history_max(opts.release(), 0)?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn history_max(&self, release: &ReleaseRef, max: u32) -> Result<Vec<ReleaseInfo>> {
        let mut revisions = self.history_request(release, Some(max).filter(|&m| m > 0))?;
        if max == 0 {
            revisions.clear();
        }
        Ok(revisions)
    }

    fn history_request(&self, release: &ReleaseRef, max: Option<u32>) -> Result<Vec<ReleaseInfo>> {
        let request = wire::HistoryRequest {
            target: self.target(release),
            max,
        };
        bridge::call::<wire::ReleaseHistory>(&request, &self.query_options())
    }

    /// Rolls a release back; returns the new revision Helm creates for it.
    ///
    /// The options are checked before Helm runs: a timeout of zero, or
    /// `wait` with [`WaitStrategy::HookOnly`](crate::WaitStrategy::HookOnly)
    /// (which waits for hooks only), is invalid input.
    ///
    /// ```
    /// use chainctl_core::{Client, Input, ReleaseRef, RollbackOptions, Storage, WaitStrategy};
    /// let client = Client::builder().storage(Storage::Memory).build()?;
    /// let release = ReleaseRef::new("web", "demo")?;
    /// let opts = RollbackOptions {
    ///     wait: true,
    ///     wait_strategy: Some(WaitStrategy::HookOnly),
    ///     ..Default::default()
    /// };
    /// let err = client.rollback(&release, &opts).unwrap_err();
    /// assert_eq!(err.invalid_input(), Some(Input::WaitStrategy));
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn rollback(&self, release: &ReleaseRef, opts: &RollbackOptions) -> Result<ReleaseInfo> {
        crate::release::check_timeout(opts.timeout, "the rollback timeout")?;
        let wait = crate::release::effective_wait(opts.wait, opts.wait_strategy, "rollback")?;
        let request = wire::RollbackRequest {
            target: self.target(release),
            revision: opts.revision.filter(|&r| r > 0),
            wait,
            timeout_ms: wire::millis(opts.timeout),
            force: opts.force,
            dry_run: opts.dry_run,
            no_hooks: opts.no_hooks,
            history_max: opts.history_max,
            helm4: wire::Helm4Options {
                server_side: opts.server_side,
                force_conflicts: opts.force_conflicts,
                wait_strategy: opts.wait_strategy,
            },
        };
        bridge::call_with_facts::<wire::ReleaseRollback, serde::de::IgnoredAny>(
            &request,
            &self.options(Some(opts.timeout)),
        )
        .map(|r| self.keyed(r))
        .map_err(|failure| {
            let err = failure.error;
            // Helm's error for a rollback of revision 1 has no type: its
            // words are the only sign.
            if !err.message().contains("has no 0 version") {
                return self.explain_pending(release, err, failure.code);
            }
            let mut message = format!(
                "release {} has no revision before its first one to roll back to",
                release
            );
            if let Ok(Some(pending)) = self.pending(release) {
                message = format!("{message}: {pending}");
            }
            Error::invalid(message)
        })
    }

    /// Uninstalls a release.
    ///
    /// The options are checked before Helm runs: a timeout of zero, a
    /// cascade other than Helm's three, or `wait` with
    /// [`WaitStrategy::HookOnly`](crate::WaitStrategy::HookOnly) is invalid
    /// input.
    ///
    /// ```
    /// use chainctl_core::{Client, Input, ReleaseRef, Storage, UninstallOptions, WaitStrategy};
    /// let client = Client::builder().storage(Storage::Memory).build()?;
    /// let release = ReleaseRef::new("web", "demo")?;
    /// let opts = UninstallOptions {
    ///     wait: true,
    ///     wait_strategy: Some(WaitStrategy::HookOnly),
    ///     ..Default::default()
    /// };
    /// let err = client.uninstall(&release, &opts).unwrap_err();
    /// assert_eq!(err.invalid_input(), Some(Input::WaitStrategy));
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn uninstall(
        &self,
        release: &ReleaseRef,
        opts: &UninstallOptions,
    ) -> Result<UninstallReport> {
        crate::release::check_timeout(opts.timeout, "the uninstall timeout")?;
        if let Some(cascade) = &opts.cascade
            && !matches!(cascade.as_str(), "background" | "foreground" | "orphan")
        {
            return Err(Error::invalid(format!(
                "invalid cascade value {cascade:?}: use background, foreground or orphan (as helm)"
            )));
        }
        let wait = crate::release::effective_wait(opts.wait, opts.wait_strategy, "uninstall")?;
        let request = wire::UninstallRequest {
            target: self.target(release),
            keep_history: opts.keep_history,
            wait,
            timeout_ms: wire::millis(opts.timeout),
            description: opts.description.clone().filter(|d| !d.is_empty()),
            dry_run: opts.dry_run,
            no_hooks: opts.no_hooks,
            ignore_not_found: opts.ignore_not_found,
            cascade: opts.cascade.clone().filter(|c| !c.is_empty()),
            wait_strategy: opts.wait_strategy,
        };
        bridge::call::<wire::ReleaseUninstall>(&request, &self.options(Some(opts.timeout)))
    }
}

/// What [`Client::list`] lists: `helm list`'s flags.
///
/// ```
/// use chainctl_core::ListOptions;
/// let opts = ListOptions { namespace: "prod".into(), failed: true, ..Default::default() };
/// assert_eq!(opts.max, 256);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct ListOptions {
    /// The namespace listed (ignored with `all_namespaces`).
    pub namespace: String,
    /// Every namespace (`-A`).
    pub all_namespaces: bool,
    /// Releases in every status (`--all`); otherwise the status flags
    /// below, and `deployed` when none is set.
    pub all: bool,
    /// `--deployed`
    pub deployed: bool,
    /// `--failed`
    pub failed: bool,
    /// `--pending`
    pub pending: bool,
    /// `--superseded`
    pub superseded: bool,
    /// `--uninstalled` (kept with `--keep-history`)
    pub uninstalled: bool,
    /// `--uninstalling`
    pub uninstalling: bool,
    /// A regular expression names must match (`--filter`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter: String,
    /// A label selector on the release storage objects (`--selector`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// At most this many (`--max`, default 256).
    pub max: u32,
    /// Skip this many first (`--offset`).
    pub offset: u32,
    /// Sort by date instead of name (`--date`).
    pub by_date: bool,
    /// Reverse the order (`--reverse`).
    pub reverse: bool,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            namespace: "default".into(),
            all_namespaces: false,
            all: false,
            deployed: false,
            failed: false,
            pending: false,
            superseded: false,
            uninstalled: false,
            uninstalling: false,
            filter: String::new(),
            selector: String::new(),
            max: 256,
            offset: 0,
            by_date: false,
            reverse: false,
        }
    }
}

/// The values a revision was deployed with: see [`Client::values`].
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[non_exhaustive]
pub struct ReleaseValues {
    /// The values, as JSON.
    pub values: serde_json::Value,
    /// The same as helm prints them (YAML).
    pub yaml: String,
}

/// A release whose last revision is stuck in `pending-install`,
/// `pending-upgrade` or `pending-rollback`: an install, upgrade or rollback
/// was interrupted (the process was killed, the machine lost power), or is
/// still running somewhere. Helm refuses every further action until it is
/// recovered.
///
/// ```
/// use chainctl_core::{PendingRelease, ReleaseInfo, ReleaseRef};
///
/// let revision = |revision, status: &str| -> ReleaseInfo {
///     serde_json::from_value(serde_json::json!({"name": "web", "namespace": "prod",
///         "revision": revision, "status": status, "chart": {"name": "web", "version": "1.0.0"}}))
///     .unwrap()
/// };
/// let release = ReleaseRef::new("web", "prod").unwrap();
/// let history = [revision(1, "superseded"), revision(2, "deployed"), revision(3, "pending-upgrade")];
/// let pending = PendingRelease::from_history(&release, &history).unwrap();
/// assert_eq!((pending.revision, pending.rollback_to), (3, Some(2)));
/// assert!(pending.to_string().contains("roll back to revision 2"));
///
/// let first = [revision(1, "pending-install")];
/// let pending = PendingRelease::from_history(&release, &first).unwrap();
/// assert_eq!((pending.rollback_to, pending.release.as_str()), (None, "web"));
/// assert!(pending.to_string().contains("uninstall it"));
/// assert!(PendingRelease::from_history(&release, &history[..2]).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRelease {
    /// The stuck revision.
    pub revision: u32,
    /// Its status (`pending-upgrade`, ...).
    pub status: crate::HelmStatus,
    /// The last revision before it that was deployed, to roll back to;
    /// `None` when there is none and the release must be uninstalled.
    pub rollback_to: Option<u32>,
    /// The release's name.
    pub release: String,
    /// Its namespace.
    pub namespace: String,
}

impl PendingRelease {
    /// Looks at a release's history (any order): `Some` when its newest
    /// revision is pending.
    pub fn from_history(release: &ReleaseRef, history: &[ReleaseInfo]) -> Option<PendingRelease> {
        let last = history.iter().max_by_key(|r| r.revision)?;
        if !last.status.is_pending() {
            return None;
        }
        let rollback_to = history
            .iter()
            .filter(|r| r.revision < last.revision)
            .filter(|r| r.status.has_served())
            .map(|r| r.revision)
            .max();
        Some(PendingRelease {
            revision: last.revision,
            status: last.status.clone(),
            rollback_to,
            release: release.name().to_string(),
            namespace: release.namespace().to_string(),
        })
    }
}

impl std::fmt::Display for PendingRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let way = match self.rollback_to {
            Some(to) => format!("roll back to revision {to}, the last one deployed"),
            None => "uninstall it (no earlier revision was deployed)".to_string(),
        };
        write!(
            f,
            "the release is stuck in {} at revision {} (an install, upgrade or rollback was interrupted, or is still running elsewhere); \
             if nothing else is working on it, {way}",
            self.status, self.revision
        )
    }
}
