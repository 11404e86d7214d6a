//! What to install or upgrade, and how: [`ReleaseRef`], [`ReleaseOptions`]
//! and its builder, [`DryRun`].
//!
//! Everything here is validated in Rust before any Go call, so a bad name or a
//! malformed `--set` never reaches the cluster.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Input, Result};
use crate::values::{SetKind, ValueInputs};

/// Helm's limit on release names (`releaseNameMaxLen`): the name ends up in
/// resource names and labels that Kubernetes caps at 63 characters.
const RELEASE_NAME_MAX: usize = 53;

/// The Kubernetes limit on a namespace name (an RFC 1123 label).
const NAMESPACE_MAX: usize = 63;

/// Helm's default for `--timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A release: its name and the namespace it lives in. Both are validated on
/// construction, with Helm's rules.
///
/// Displays as `namespace/name`, the key used in the state file.
///
/// ```
/// use chainctl_core::ReleaseRef;
///
/// let release = ReleaseRef::new("web", "prod")?;
/// assert_eq!(release.name(), "web");
/// assert_eq!(release.namespace(), "prod");
/// assert_eq!(release.to_string(), "prod/web");
///
/// assert!(ReleaseRef::new("Web", "prod").is_err());
/// # Ok::<(), chainctl_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReleaseRef {
    name: String,
    namespace: String,
}

impl ReleaseRef {
    /// Checks `name` against Helm's release-name rules and `namespace` against
    /// Kubernetes' namespace rules.
    ///
    /// ```
    /// use chainctl_core::ReleaseRef;
    ///
    /// let err = ReleaseRef::new("my_app", "default").unwrap_err();
    /// assert!(err.to_string().contains("invalid release name \"my_app\""));
    /// ```
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let namespace = namespace.into();
        validate_release_name(&name)?;
        validate_namespace(&namespace)?;
        Ok(ReleaseRef { name, namespace })
    }

    /// The release name.
    ///
    /// ```
    /// # use chainctl_core::ReleaseRef;
    /// assert_eq!(ReleaseRef::new("web", "prod")?.name(), "web");
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace the release lives in.
    ///
    /// ```
    /// # use chainctl_core::ReleaseRef;
    /// assert_eq!(ReleaseRef::new("web", "prod")?.namespace(), "prod");
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl fmt::Display for ReleaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&release_key(None, &self.namespace, &self.name))
    }
}

/// The key of a release: `<namespace>/<name>`, or
/// `<cluster>/<namespace>/<name>` for a release of one cluster (a
/// [`RecordCluster::id`](crate::state::RecordCluster::id)). The one place
/// the key is formatted: [`ReleaseRef`]'s `Display`, the keys of
/// [`StateFile::releases`](crate::state::StateFile::releases) and every
/// message that names a release use it.
///
/// ```
/// use chainctl_core::release_key;
/// assert_eq!(release_key(None, "demo", "hello"), "demo/hello");
/// assert_eq!(release_key(Some("rehearsal"), "demo", "hello"), "rehearsal/demo/hello");
/// ```
pub fn release_key(cluster: Option<&str>, namespace: &str, name: &str) -> String {
    match cluster {
        Some(cluster) => format!("{cluster}/{namespace}/{name}"),
        None => format!("{namespace}/{name}"),
    }
}

/// Checks a release name: Helm's
/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`, at most
/// 53 characters.
pub(crate) fn validate_release_name(name: &str) -> Result<()> {
    let invalid =
        |detail: String| Error::invalid(format!("invalid release name \"{name}\": {detail}"));
    if name.is_empty() {
        return Err(invalid(
            "must not be empty: pass a name such as \"my-app\"".into(),
        ));
    }
    let length = name.chars().count();
    if length > RELEASE_NAME_MAX {
        return Err(invalid(format!(
            "{length} characters, Helm allows at most {RELEASE_NAME_MAX}: use a shorter name"
        )));
    }
    if !name.chars().all(|c| is_label_char(c) || c == '.') {
        return Err(invalid(format!(
            "must be lowercase RFC 1123 (a-z, 0-9, '-' and '.', starting and ending with a letter \
             or digit){}",
            suggestion(name, true, RELEASE_NAME_MAX)
        )));
    }
    if !starts_and_ends_alphanumeric(name) {
        return Err(invalid(format!(
            "must start and end with a letter or digit{}",
            suggestion(name, true, RELEASE_NAME_MAX)
        )));
    }
    if !name.split('.').all(starts_and_ends_alphanumeric) {
        return Err(invalid(format!(
            "each '.'-separated part must be non-empty and start and end with a letter or digit{}",
            suggestion(name, true, RELEASE_NAME_MAX)
        )));
    }
    Ok(())
}

/// Checks a namespace: an RFC 1123 label, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at
/// most 63 characters.
pub(crate) fn validate_namespace(namespace: &str) -> Result<()> {
    let invalid =
        |detail: String| Error::invalid(format!("invalid namespace \"{namespace}\": {detail}"));
    if namespace.is_empty() {
        return Err(invalid(
            "must not be empty: pass \"default\" for the default namespace".into(),
        ));
    }
    let length = namespace.chars().count();
    if length > NAMESPACE_MAX {
        return Err(invalid(format!(
            "{length} characters, Kubernetes allows at most {NAMESPACE_MAX}: use a shorter name"
        )));
    }
    if !namespace.chars().all(is_label_char) {
        return Err(invalid(format!(
            "must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending with a \
             letter or digit){}",
            suggestion(namespace, false, NAMESPACE_MAX)
        )));
    }
    if !starts_and_ends_alphanumeric(namespace) {
        return Err(invalid(format!(
            "must start and end with a letter or digit{}",
            suggestion(namespace, false, NAMESPACE_MAX)
        )));
    }
    Ok(())
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn is_alphanumeric(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn starts_and_ends_alphanumeric(s: &str) -> bool {
    s.starts_with(is_alphanumeric) && s.ends_with(is_alphanumeric)
}

/// `: try "x"` with a valid name close to `bad`, or nothing when there is
/// none: lowercase, other characters become '-', ends trimmed.
fn suggestion(bad: &str, allow_dots: bool, max: usize) -> String {
    let mapped: String = bad
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if is_label_char(c) || (allow_dots && c == '.') {
                c
            } else {
                '-'
            }
        })
        .take(max)
        .collect();
    let mut parts = mapped
        .split('.')
        .map(|part| part.trim_matches('-'))
        .filter(|part| !part.is_empty());
    let first = parts.next().unwrap_or_default().to_owned();
    let candidate = parts.fold(first, |acc, part| format!("{acc}.{part}"));
    if candidate.is_empty() || candidate == bad {
        String::new()
    } else {
        format!(": try \"{candidate}\"")
    }
}

/// Helm's dry-run modes.
///
/// Parses from the values Helm's `--dry-run` flag accepts: `none`, `client`,
/// `server`, and the older `true` (= `client`) and `false` (= `none`).
///
/// ```
/// use chainctl_core::DryRun;
///
/// assert_eq!("server".parse::<DryRun>()?, DryRun::Server);
/// assert_eq!("true".parse::<DryRun>()?, DryRun::Client);
/// assert_eq!(DryRun::default(), DryRun::None);
/// assert!("maybe".parse::<DryRun>().is_err());
/// # Ok::<(), chainctl_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DryRun {
    /// A real install or upgrade.
    #[default]
    None,
    /// Render the chart without contacting the cluster.
    Client,
    /// Render and validate against the cluster, changing nothing.
    Server,
}

impl DryRun {
    /// The canonical name: `none`, `client` or `server` (also the wire form).
    ///
    /// ```
    /// use chainctl_core::DryRun;
    /// assert_eq!(DryRun::Client.as_str(), "client");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DryRun::None => "none",
            DryRun::Client => "client",
            DryRun::Server => "server",
        }
    }
}

impl fmt::Display for DryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DryRun {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" | "false" => Ok(DryRun::None),
            "client" | "true" => Ok(DryRun::Client),
            "server" => Ok(DryRun::Server),
            _ => Err(Error::invalid(format!(
                "invalid dry-run mode \"{s}\": expected none, client or server \
                 (true means client, false means none)"
            ))),
        }
    }
}

/// How Helm 4 applies a release's manifests
/// ([`ReleaseOptionsBuilder::server_side`], [`RollbackOptions::server_side`](crate::RollbackOptions::server_side)):
/// helm 4's `--server-side` flag.
///
/// Unset (`None`), the backend's default applies: Helm 4 applies server-side
/// on install and, on upgrade and rollback, the way the release's last
/// revision was applied ([`Auto`](Self::Auto)); Helm 3 applies client-side
/// (a three-way merge) and knows no other way, so the Helm 3 build (without
/// the `helm-v4` cargo feature) refuses [`On`](Self::On) and
/// [`Auto`](Self::Auto) rather than ignore them.
///
/// Parses from what helm 4's flag takes: `true`, `false` or `auto`.
///
/// ```
/// use chainctl_core::ServerSide;
///
/// assert_eq!("true".parse::<ServerSide>()?, ServerSide::On);
/// assert_eq!("auto".parse::<ServerSide>()?, ServerSide::Auto);
/// assert_eq!(ServerSide::Off.to_string(), "false");
/// assert!("yes".parse::<ServerSide>().is_err());
/// # Ok::<(), chainctl_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServerSide {
    /// Server-side apply (`true`): the API server merges, and records
    /// Helm's field manager as the owner of the fields it sets.
    #[serde(rename = "true")]
    On,
    /// Client-side apply (`false`): Helm's three-way merge, as Helm 3 does.
    #[serde(rename = "false")]
    Off,
    /// The way the release's last revision was applied (`auto`); an
    /// install applies server-side.
    #[serde(rename = "auto")]
    Auto,
}

impl ServerSide {
    /// The value as helm 4's `--server-side` flag writes it (also the wire
    /// form): `true`, `false` or `auto`.
    ///
    /// ```
    /// use chainctl_core::ServerSide;
    /// assert_eq!(ServerSide::On.as_str(), "true");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ServerSide::On => "true",
            ServerSide::Off => "false",
            ServerSide::Auto => "auto",
        }
    }
}

impl fmt::Display for ServerSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServerSide {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "true" => Ok(ServerSide::On),
            "false" => Ok(ServerSide::Off),
            "auto" => Ok(ServerSide::Auto),
            _ => Err(Error::invalid(format!(
                "invalid server-side mode \"{s}\": expected true, false or auto"
            ))),
        }
    }
}

/// How Helm waits for a release's resources
/// ([`ReleaseOptionsBuilder::wait_strategy`]): helm 4's
/// `--wait=watcher|hookOnly|legacy`.
///
/// Unset (`None`), the backend's default applies, chosen by `wait`: Helm 4
/// waits with [`Watcher`](Self::Watcher) when asked to wait and
/// [`HookOnly`](Self::HookOnly) otherwise; Helm 3 polls (what Helm 4 calls
/// [`Legacy`](Self::Legacy)) when asked to wait. The Helm 3 build (without
/// the `helm-v4` cargo feature) accepts only [`Legacy`](Self::Legacy) and
/// refuses the others rather than ignore them.
///
/// [`Watcher`](Self::Watcher) and [`Legacy`](Self::Legacy) wait for the
/// resources, so they imply `wait`; [`HookOnly`](Self::HookOnly) waits for
/// hooks only, so it cannot be combined with an explicit `wait`.
///
/// Parses from helm 4's names: `watcher`, `hookOnly`, `legacy`.
///
/// ```
/// use chainctl_core::WaitStrategy;
///
/// assert_eq!("hookOnly".parse::<WaitStrategy>()?, WaitStrategy::HookOnly);
/// assert_eq!(WaitStrategy::Watcher.to_string(), "watcher");
/// assert!(WaitStrategy::Legacy.waits_for_resources());
/// assert!("poll".parse::<WaitStrategy>().is_err());
/// # Ok::<(), chainctl_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WaitStrategy {
    /// Watches the resources' status (kstatus) until they are ready
    /// (Helm 4 only).
    Watcher,
    /// Waits for hooks only, not for the release's resources (Helm 4 only).
    HookOnly,
    /// Polls the resources until they are ready, as Helm 3 does.
    Legacy,
}

impl WaitStrategy {
    /// The name helm 4's `--wait` takes (also the wire form).
    ///
    /// ```
    /// use chainctl_core::WaitStrategy;
    /// assert_eq!(WaitStrategy::HookOnly.as_str(), "hookOnly");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            WaitStrategy::Watcher => "watcher",
            WaitStrategy::HookOnly => "hookOnly",
            WaitStrategy::Legacy => "legacy",
        }
    }

    /// Whether the strategy waits for the release's resources (it implies
    /// `wait`): [`Watcher`](Self::Watcher) and [`Legacy`](Self::Legacy) do,
    /// [`HookOnly`](Self::HookOnly) does not.
    ///
    /// ```
    /// use chainctl_core::WaitStrategy;
    /// assert!(WaitStrategy::Watcher.waits_for_resources());
    /// assert!(!WaitStrategy::HookOnly.waits_for_resources());
    /// ```
    pub fn waits_for_resources(self) -> bool {
        !matches!(self, WaitStrategy::HookOnly)
    }
}

impl fmt::Display for WaitStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WaitStrategy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "watcher" => Ok(WaitStrategy::Watcher),
            "hookOnly" => Ok(WaitStrategy::HookOnly),
            "legacy" => Ok(WaitStrategy::Legacy),
            _ => Err(Error::invalid(format!(
                "invalid wait strategy \"{s}\": expected watcher, hookOnly or legacy"
            ))),
        }
    }
}

/// Whether an action waits for its resources, given `wait` and a wait
/// strategy: a strategy that waits for resources implies it, and
/// [`WaitStrategy::HookOnly`] with `wait` is a contradiction.
pub(crate) fn effective_wait(
    wait: bool,
    strategy: Option<WaitStrategy>,
    what: &str,
) -> Result<bool> {
    match strategy {
        Some(WaitStrategy::HookOnly) if wait => Err(Error::invalid_in(
            Input::WaitStrategy,
            format!(
                "{what}: wait and the wait strategy hookOnly cannot both be set: hookOnly waits \
             for hooks only, not for the resources; drop one"
            ),
        )),
        Some(strategy) => Ok(wait || strategy.waits_for_resources()),
        None => Ok(wait),
    }
}

/// Everything about one install or upgrade except the chart: the release, the
/// values as given (Helm merges them when the action runs), and Helm's action
/// flags. Built and validated by [`ReleaseOptionsBuilder`].
///
/// ```
/// use std::time::Duration;
/// use chainctl_core::{DryRun, ReleaseOptions};
///
/// let options = ReleaseOptions::builder("web", "prod")
///     .set("image.tag=1.2.3,replicas=3")
///     .atomic(true)
///     .timeout(Duration::from_secs(120))
///     .build()?;
///
/// assert_eq!(options.release().to_string(), "prod/web");
/// assert!(options.wait(), "atomic implies wait");
/// assert_eq!(options.dry_run(), DryRun::None);
/// # Ok::<(), chainctl_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    release: ReleaseRef,
    values: ValueInputs,
    create_namespace: bool,
    dry_run: DryRun,
    wait: bool,
    timeout: Duration,
    atomic: bool,
    install_if_missing: bool,
    description: Option<String>,
    reuse_values: bool,
    reset_values: bool,
    flags: DeployFlags,
    server_side: Option<ServerSide>,
    force_conflicts: bool,
    wait_strategy: Option<WaitStrategy>,
}

/// Helm's install and upgrade flags that change what is deployed, beyond
/// the common ones: set through [`ReleaseOptionsBuilder`], passed to Helm's
/// actions unchanged.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeployFlags {
    history_max: u32,
    reset_then_reuse_values: bool,
    skip_crds: bool,
    no_hooks: bool,
    wait_for_jobs: bool,
    cleanup_on_fail: bool,
    force: bool,
    take_ownership: bool,
    skip_schema_validation: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_renderer: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    post_renderer_args: Vec<String>,
    dependency_update: DependencyUpdate,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    api_versions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kube_version: Option<String>,
}

/// helm's `--dependency-update`, with the repository files it reads.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
struct DependencyUpdate {
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    repository_config: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repository_cache: Option<PathBuf>,
}

/// Where helm keeps a file of its own: `$<helm_var>`, else
/// `$XDG_<kind>_HOME/helm`, else the platform's default, as Helm's
/// `helmpath` finds it.
/// A path from an environment variable that is set and not empty.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn helm_path(
    helm_var: &str,
    xdg_var: &str,
    linux: &str,
    macos: &str,
    elem: &str,
) -> Option<PathBuf> {
    if let Some(dir) = env_path(helm_var) {
        return Some(dir.join(elem));
    }
    if let Some(dir) = env_path(xdg_var) {
        return Some(dir.join("helm").join(elem));
    }
    let home = env_path("HOME")?;
    let base = if cfg!(target_os = "macos") {
        macos
    } else {
        linux
    };
    Some(home.join(base).join("helm").join(elem))
}

/// The longest timeout Helm can take: Go's `time.Duration` counts
/// nanoseconds in an `i64`, so anything longer would overflow and time out
/// at once.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(2_562_047 * 3600);

/// A Helm timeout must be longer than zero and fit Go's `time.Duration`.
pub(crate) fn check_timeout(timeout: Duration, what: &str) -> Result<()> {
    if timeout.is_zero() {
        return Err(Error::invalid(format!(
            "{what} must be greater than zero: leave it unset for Helm's default of 300s"
        )));
    }
    if timeout > MAX_TIMEOUT {
        return Err(Error::invalid(format!(
            "{what} of {}s is longer than Helm can wait (at most 2562047h, Go's longest duration)",
            timeout.as_secs()
        )));
    }
    Ok(())
}

/// Helm's default for `--history-max` (and `HELM_MAX_HISTORY`).
pub const DEFAULT_HISTORY_MAX: u32 = 10;

impl Default for DeployFlags {
    fn default() -> Self {
        DeployFlags {
            history_max: DEFAULT_HISTORY_MAX,
            reset_then_reuse_values: false,
            skip_crds: false,
            no_hooks: false,
            wait_for_jobs: false,
            cleanup_on_fail: false,
            force: false,
            take_ownership: false,
            skip_schema_validation: false,
            labels: BTreeMap::new(),
            dependency_update: DependencyUpdate::default(),
            post_renderer: None,
            post_renderer_args: Vec::new(),
            api_versions: Vec::new(),
            kube_version: None,
        }
    }
}

impl ReleaseOptions {
    /// Starts options for release `name` in `namespace`; nothing is checked
    /// until [`ReleaseOptionsBuilder::build`].
    ///
    /// ```
    /// use chainctl_core::ReleaseOptions;
    ///
    /// let options = ReleaseOptions::builder("web", "prod").build()?;
    /// assert_eq!(options.name(), "web");
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn builder(name: impl Into<String>, namespace: impl Into<String>) -> ReleaseOptionsBuilder {
        ReleaseOptionsBuilder::new(name.into(), namespace.into())
    }

    /// The release these options act on.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").build()?;
    /// assert_eq!(options.release().to_string(), "prod/web");
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn release(&self) -> &ReleaseRef {
        &self.release
    }

    /// The release name.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// assert_eq!(ReleaseOptions::builder("web", "prod").build()?.name(), "web");
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        self.release.name()
    }

    /// The release namespace.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// assert_eq!(ReleaseOptions::builder("web", "prod").build()?.namespace(), "prod");
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn namespace(&self) -> &str {
        self.release.namespace()
    }

    /// The paths and URLs given as values files (`-f`), in order; standard
    /// input and in-memory values are not listed.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").values_file("prod.yaml").build()?;
    /// assert_eq!(options.values_files(), [std::path::Path::new("prod.yaml")]);
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn values_files(&self) -> Vec<&Path> {
        self.values.file_paths().map(Path::new).collect()
    }

    /// Whether the namespace is created when it does not exist.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").create_namespace(true).build()?;
    /// assert!(options.create_namespace());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn create_namespace(&self) -> bool {
        self.create_namespace
    }

    /// The dry-run mode.
    ///
    /// ```
    /// # use chainctl_core::{DryRun, ReleaseOptions};
    /// let options = ReleaseOptions::builder("web", "prod").dry_run(DryRun::Server).build()?;
    /// assert_eq!(options.dry_run(), DryRun::Server);
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn dry_run(&self) -> DryRun {
        self.dry_run
    }

    /// Whether the action waits for resources to be ready (always true with
    /// [`atomic`](Self::atomic), and with a [`wait_strategy`](Self::wait_strategy)
    /// that waits for resources).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").wait(true).build()?;
    /// assert!(options.wait());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn wait(&self) -> bool {
        self.wait
    }

    /// How long Helm waits for Kubernetes operations (300s unless set).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").build()?;
    /// assert_eq!(options.timeout(), Duration::from_secs(300));
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether a failed action is rolled back (install: uninstalled).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").atomic(true).build()?;
    /// assert!(options.atomic() && options.wait());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn atomic(&self) -> bool {
        self.atomic
    }

    /// Whether an upgrade installs the release when it does not exist yet
    /// (`helm upgrade --install`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").install_if_missing(true).build()?;
    /// assert!(options.install_if_missing());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn install_if_missing(&self) -> bool {
        self.install_if_missing
    }

    /// The description recorded on the Helm release, if one was given.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").description("hotfix").build()?;
    /// assert_eq!(options.description(), Some("hotfix"));
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Whether an upgrade starts from the previous release's values.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").reuse_values(true).build()?;
    /// assert!(options.reuse_values());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn reuse_values(&self) -> bool {
        self.reuse_values
    }

    /// Whether an upgrade discards the previous release's values and starts
    /// from the chart's defaults.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").reset_values(true).build()?;
    /// assert!(options.reset_values());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn reset_values(&self) -> bool {
        self.reset_values
    }

    /// Whether hooks are left out (`--no-hooks`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// assert!(ReleaseOptions::builder("web", "prod").no_hooks(true).build()?.no_hooks());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn no_hooks(&self) -> bool {
        self.flags.no_hooks
    }

    /// How manifests are applied, if set (see [`ServerSide`]); `None` is
    /// the backend's default.
    ///
    /// ```
    /// # use chainctl_core::{ReleaseOptions, ServerSide};
    /// assert_eq!(ReleaseOptions::builder("web", "prod").build()?.server_side(), None);
    /// let options = ReleaseOptions::builder("web", "prod").server_side(ServerSide::Off).build()?;
    /// assert_eq!(options.server_side(), Some(ServerSide::Off));
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn server_side(&self) -> Option<ServerSide> {
        self.server_side
    }

    /// Whether server-side apply takes over fields another manager owns
    /// (`--force-conflicts`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// assert!(!ReleaseOptions::builder("web", "prod").build()?.force_conflicts());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn force_conflicts(&self) -> bool {
        self.force_conflicts
    }

    /// The wait strategy, if set (see [`WaitStrategy`]); `None` is the
    /// backend's default for [`wait`](Self::wait).
    ///
    /// ```
    /// # use chainctl_core::{ReleaseOptions, WaitStrategy};
    /// let options = ReleaseOptions::builder("web", "prod")
    ///     .wait_strategy(WaitStrategy::Legacy)
    ///     .build()?;
    /// assert_eq!(options.wait_strategy(), Some(WaitStrategy::Legacy));
    /// assert!(options.wait(), "legacy waits for the resources");
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn wait_strategy(&self) -> Option<WaitStrategy> {
        self.wait_strategy
    }

    /// The bound on each values input (see
    /// [`ReleaseOptionsBuilder::values_size_limit`]).
    ///
    /// ```
    /// # use chainctl_core::{DEFAULT_VALUES_SIZE_LIMIT, ReleaseOptions};
    /// let options = ReleaseOptions::builder("web", "prod").build()?;
    /// assert_eq!(options.values_size_limit(), DEFAULT_VALUES_SIZE_LIMIT);
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn values_size_limit(&self) -> u64 {
        self.values.size_limit()
    }

    /// The values as given, for the shim.
    pub(crate) fn value_inputs(&self) -> &ValueInputs {
        &self.values
    }

    /// Whether a failed upgrade deletes what it created (`--cleanup-on-fail`).
    pub(crate) fn cleans_up_on_fail(&self) -> bool {
        self.flags.cleanup_on_fail
    }

    /// The options as the Go shim reads them.
    pub(crate) fn to_wire(&self) -> crate::wire::ChartOptions {
        crate::wire::ChartOptions {
            release: self.name().to_string(),
            namespace: self.namespace().to_string(),
            values: self.values.to_wire(),
            create_namespace: self.create_namespace,
            dry_run: self.dry_run.as_str().to_string(),
            wait: self.wait,
            timeout_ms: crate::wire::millis(self.timeout),
            atomic: self.atomic,
            install_if_missing: self.install_if_missing,
            description: self.description.clone(),
            reuse_values: self.reuse_values,
            reset_values: self.reset_values,
            flags: self.flags.clone(),
            helm4: crate::wire::Helm4Options {
                server_side: self.server_side,
                force_conflicts: self.force_conflicts,
                wait_strategy: self.wait_strategy,
            },
        }
    }
}

/// Collects settings for [`ReleaseOptions`]; [`build`](Self::build) checks
/// them all and reports the first problem.
///
/// ```
/// use chainctl_core::{DryRun, ReleaseOptions};
///
/// let mut builder = ReleaseOptions::builder("web", "prod").create_namespace(true);
/// for expr in ["replicas=2", "image.tag=v1"] {
///     builder = builder.set(expr);
/// }
/// let options = builder.dry_run(DryRun::Client).build()?;
/// assert_eq!(options.dry_run(), DryRun::Client);
/// # Ok::<(), chainctl_core::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct ReleaseOptionsBuilder {
    name: String,
    namespace: String,
    values: ValueInputs,
    /// The first values input that could not be taken, reported by build.
    values_error: Option<String>,
    create_namespace: bool,
    dry_run: DryRun,
    wait: bool,
    timeout: Duration,
    atomic: bool,
    install_if_missing: bool,
    description: Option<String>,
    reuse_values: bool,
    reset_values: bool,
    flags: DeployFlags,
    server_side: Option<ServerSide>,
    force_conflicts: bool,
    wait_strategy: Option<WaitStrategy>,
}

impl ReleaseOptionsBuilder {
    fn new(name: String, namespace: String) -> Self {
        ReleaseOptionsBuilder {
            name,
            namespace,
            values: ValueInputs::default(),
            values_error: None,
            create_namespace: false,
            dry_run: DryRun::None,
            wait: false,
            timeout: DEFAULT_TIMEOUT,
            atomic: false,
            install_if_missing: false,
            description: None,
            reuse_values: false,
            reset_values: false,
            flags: DeployFlags::default(),
            server_side: None,
            force_conflicts: false,
            wait_strategy: None,
        }
    }

    /// How many revisions of the release Helm keeps (`--history-max`,
    /// default [`DEFAULT_HISTORY_MAX`], as helm); 0 keeps every one. Older
    /// revisions' Secrets are deleted by an upgrade.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").history_max(3).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn history_max(mut self, max: u32) -> Self {
        self.flags.history_max = max;
        self
    }

    /// On upgrade, resets to the chart's defaults and merges the last
    /// release's values and these over them (`--reset-then-reuse-values`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").reset_then_reuse_values(true).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn reset_then_reuse_values(mut self, on: bool) -> Self {
        self.flags.reset_then_reuse_values = on;
        self
    }

    /// Leaves the chart's `crds/` out (`--skip-crds`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").skip_crds(true).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn skip_crds(mut self, on: bool) -> Self {
        self.flags.skip_crds = on;
        self
    }

    /// Runs no hooks (`--no-hooks`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").no_hooks(true).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn no_hooks(mut self, on: bool) -> Self {
        self.flags.no_hooks = on;
        self
    }

    /// With [`wait`](Self::wait), also waits for Jobs to complete
    /// (`--wait-for-jobs`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").wait(true).wait_for_jobs(true).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn wait_for_jobs(mut self, on: bool) -> Self {
        self.flags.wait_for_jobs = on;
        self
    }

    /// On a failed upgrade, deletes the resources it created
    /// (`--cleanup-on-fail`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").cleanup_on_fail(true).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn cleanup_on_fail(mut self, on: bool) -> Self {
        self.flags.cleanup_on_fail = on;
        self
    }

    /// Replaces resources that cannot be updated in place (`--force`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").force(true).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn force(mut self, on: bool) -> Self {
        self.flags.force = on;
        self
    }

    /// Helm 4's name for [`force`](Self::force) (`--force-replace`): the
    /// same option, on both backends.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").force_replace(true).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn force_replace(self, on: bool) -> Self {
        self.force(on)
    }

    /// How manifests are applied (helm 4's `--server-side`): see
    /// [`ServerSide`]. Unset, the backend's default: server-side on Helm 4
    /// (an upgrade: as the last revision was applied), client-side on
    /// Helm 3. The Helm 3 build refuses [`ServerSide::On`] and
    /// [`ServerSide::Auto`] when the action runs, naming the `helm-v4`
    /// cargo feature; [`ServerSide::Off`] is accepted by both.
    ///
    /// ```
    /// # use chainctl_core::{ReleaseOptions, ServerSide};
    /// let options = ReleaseOptions::builder("web", "prod").server_side(ServerSide::Off).build()?;
    /// assert_eq!(options.server_side(), Some(ServerSide::Off));
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn server_side(mut self, mode: ServerSide) -> Self {
        self.server_side = Some(mode);
        self
    }

    /// With server-side apply, takes over the fields another field manager
    /// owns instead of failing on the conflict (helm 4's
    /// `--force-conflicts`; Helm 4 only: the Helm 3 build refuses it when
    /// the action runs, naming the `helm-v4` cargo feature).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").force_conflicts(true).build()?;
    /// assert!(options.force_conflicts());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn force_conflicts(mut self, on: bool) -> Self {
        self.force_conflicts = on;
        self
    }

    /// How Helm waits (helm 4's `--wait=watcher|hookOnly|legacy`): see
    /// [`WaitStrategy`]. Unset, the backend's default for
    /// [`wait`](Self::wait). [`WaitStrategy::Watcher`] and
    /// [`WaitStrategy::Legacy`] imply `wait`; [`WaitStrategy::HookOnly`]
    /// with `wait(true)` is refused by [`build`](Self::build). The Helm 3
    /// build accepts only [`WaitStrategy::Legacy`] (its own way of
    /// waiting) and refuses the others when the action runs, naming the
    /// `helm-v4` cargo feature.
    ///
    /// ```
    /// # use chainctl_core::{ReleaseOptions, WaitStrategy};
    /// let options = ReleaseOptions::builder("web", "prod")
    ///     .wait_strategy(WaitStrategy::Legacy)
    ///     .build()?;
    /// assert!(options.wait());
    /// let both = ReleaseOptions::builder("web", "prod")
    ///     .wait(true)
    ///     .wait_strategy(WaitStrategy::HookOnly);
    /// assert!(both.build().unwrap_err().to_string().contains("hookOnly"));
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.wait_strategy = Some(strategy);
        self
    }

    /// Adopts existing resources not owned by any release
    /// (`--take-ownership`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").take_ownership(true).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn take_ownership(mut self, on: bool) -> Self {
        self.flags.take_ownership = on;
        self
    }

    /// Does not check the values against the chart's `values.schema.json`
    /// (`--skip-schema-validation`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").skip_schema_validation(true).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn skip_schema_validation(mut self, on: bool) -> Self {
        self.flags.skip_schema_validation = on;
        self
    }

    /// Adds a label to the release's storage object (`--labels k=v`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").label("team", "payments").build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.flags.labels.insert(key.into(), value.into());
        self
    }

    /// Pipes the rendered manifest through a program before it is applied
    /// (`--post-renderer`, `--post-renderer-args`); a bare name is looked up
    /// in `PATH`, as helm does.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod")
    ///     .post_renderer("kustomize-wrapper", ["--overlay", "prod"])
    ///     .build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn post_renderer<I, S>(mut self, program: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.flags.post_renderer = Some(program.into()).filter(|p| !p.is_empty());
        self.flags.post_renderer_args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Fetches a chart's missing dependencies into its `charts/` before
    /// the action (`--dependency-update`), from the repositories helm has
    /// configured (`HELM_REPOSITORY_CONFIG`, `HELM_REPOSITORY_CACHE`, or
    /// helm's own files), as helm does. Writes into the chart directory.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").dependency_update(true).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn dependency_update(mut self, on: bool) -> Self {
        self.flags.dependency_update.enabled = on;
        self
    }

    /// The repository file and cache [`dependency_update`](Self::dependency_update)
    /// uses, instead of helm's.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod")
    ///     .dependency_update(true)
    ///     .repositories("/etc/helm/repositories.yaml", "/var/cache/helm/repository")
    ///     .build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn repositories(mut self, config: impl Into<PathBuf>, cache: impl Into<PathBuf>) -> Self {
        self.flags.dependency_update.repository_config = Some(config.into());
        self.flags.dependency_update.repository_cache = Some(cache.into());
        self
    }

    /// An API version `.Capabilities.APIVersions` has in a client-only
    /// render (`--api-versions`, as `helm template`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").api_version("monitoring.coreos.com/v1").build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.flags.api_versions.push(version.into());
        self
    }

    /// The Kubernetes version a client-only render assumes
    /// (`--kube-version`, as `helm template`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").kube_version("1.30.0").build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn kube_version(mut self, version: impl Into<String>) -> Self {
        self.flags.kube_version = Some(version.into()).filter(|v| !v.is_empty());
        self
    }

    /// Adds a values file (`-f`/`--values`): a path, an `http(s)://` URL,
    /// or `-` for standard input (read once, by [`build`](Self::build); so is
    /// a pipe, such as `/dev/fd/63` from `-f <(command)`, within the
    /// timeout). Helm reads the rest when the action runs, as YAML 1.1 (`no` is false,
    /// `0644` is 420); files merge in the order added, later ones winning.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").values_file("prod.yaml").build()?;
    /// assert_eq!(options.values_files(), [std::path::Path::new("prod.yaml")]);
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn values_file(mut self, path: impl AsRef<Path>) -> Self {
        if let Err(err) = self.values.add_file(path.as_ref()) {
            self.values_error.get_or_insert(err.to_string());
        }
        self
    }

    /// Bounds every values input (each `-f` file, standard input, each
    /// `--set-file` file, each values URL, each map or YAML text) to
    /// `bytes`, default [`DEFAULT_VALUES_SIZE_LIMIT`](crate::DEFAULT_VALUES_SIZE_LIMIT)
    /// (16 MiB). A larger input is refused as invalid input, having read at
    /// most one byte past the limit; zero is rejected by [`build`](Self::build).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod")
    ///     .values_size_limit(64 << 20)
    ///     .build()?;
    /// assert_eq!(options.values_size_limit(), 64 << 20);
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn values_size_limit(mut self, bytes: u64) -> Self {
        self.values.set_size_limit(bytes);
        self
    }

    /// Adds values as YAML text held in memory, merged like a values file
    /// at this point among them; `name` is how messages refer to it.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod")
    ///     .values_yaml("defaults", "replicas: 2\nenabled: yes\n")
    ///     .build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn values_yaml(mut self, name: impl Into<String>, yaml: impl Into<Vec<u8>>) -> Self {
        self.values.add_yaml(name.into(), yaml.into());
        self
    }

    /// Adds a map of values, merged like a values file holding it, at this
    /// point among the values files: the library form of `-f` for values
    /// already in memory. Numbers become what they would in a file (Helm
    /// reads file numbers as `float64`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let serde_json::Value::Object(map) = serde_json::json!({"image": {"tag": "v1"}}) else {
    ///     unreachable!()
    /// };
    /// let options = ReleaseOptions::builder("web", "prod")
    ///     .values(map)
    ///     .set("image.tag=v2") // --set is applied after every file and map
    ///     .build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn values(mut self, values: Map<String, Value>) -> Self {
        self.values.add_map(&values);
        self
    }

    /// Adds a `--set` expression (`a.b=1,list[0]=x,tags={a,b}`), parsed by
    /// Helm: `true`, `false`, `null` and integers (as `int64`) are typed,
    /// everything else is a string.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").set("debug=true,port=8080").build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn set(self, expr: impl Into<String>) -> Self {
        self.set_kind(SetKind::Set, expr)
    }

    /// Adds a `--set-string` expression: like [`set`](Self::set), but every
    /// value stays a string.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").set_string("tag=007").build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn set_string(self, expr: impl Into<String>) -> Self {
        self.set_kind(SetKind::String, expr)
    }

    /// Adds a `--set-file` expression (`key=path`): the key gets the file's
    /// content as a string.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").set_file("config=app.conf").build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn set_file(self, expr: impl Into<String>) -> Self {
        self.set_kind(SetKind::File, expr)
    }

    /// Adds a `--set-json` expression (`key=<JSON>`, or a JSON object).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").set_json(r#"ports=[80,443]"#).build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn set_json(self, expr: impl Into<String>) -> Self {
        self.set_kind(SetKind::Json, expr)
    }

    /// Adds a `--set-literal` expression: one key, whose value is taken
    /// as it is (commas, braces and all).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").set_literal("motd=a,b={c}").build()?;
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn set_literal(self, expr: impl Into<String>) -> Self {
        self.set_kind(SetKind::Literal, expr)
    }

    fn set_kind(mut self, kind: SetKind, expr: impl Into<String>) -> Self {
        self.values.add_set(kind, expr.into());
        self
    }

    /// Creates the namespace if it does not exist (`--create-namespace`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "new-ns").create_namespace(true).build()?;
    /// assert!(options.create_namespace());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn create_namespace(mut self, create: bool) -> Self {
        self.create_namespace = create;
        self
    }

    /// Sets the dry-run mode (default: [`DryRun::None`]).
    ///
    /// ```
    /// # use chainctl_core::{DryRun, ReleaseOptions};
    /// let options = ReleaseOptions::builder("web", "prod").dry_run("client".parse()?).build()?;
    /// assert_eq!(options.dry_run(), DryRun::Client);
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn dry_run(mut self, mode: DryRun) -> Self {
        self.dry_run = mode;
        self
    }

    /// Waits until the release's resources are ready (`--wait`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// assert!(ReleaseOptions::builder("web", "prod").wait(true).build()?.wait());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn wait(mut self, wait: bool) -> Self {
        self.wait = wait;
        self
    }

    /// How long to wait for Kubernetes operations (`--timeout`, default 300s).
    /// Zero is rejected by [`build`](Self::build).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod")
    ///     .timeout(Duration::from_secs(600))
    ///     .build()?;
    /// assert_eq!(options.timeout(), Duration::from_secs(600));
    /// assert!(ReleaseOptions::builder("web", "prod").timeout(Duration::ZERO).build().is_err());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Rolls back (or, for an install, uninstalls) on failure (`--atomic`).
    /// Implies [`wait`](Self::wait), as in Helm.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").atomic(true).build()?;
    /// assert!(options.wait());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn atomic(mut self, atomic: bool) -> Self {
        self.atomic = atomic;
        self
    }

    /// Helm 4's name for [`atomic`](Self::atomic)
    /// (`--rollback-on-failure`): the same option, on both backends.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").rollback_on_failure(true).build()?;
    /// assert!(options.atomic() && options.wait());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn rollback_on_failure(self, on: bool) -> Self {
        self.atomic(on)
    }

    /// Lets an upgrade install a release that does not exist yet
    /// (`helm upgrade --install`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").install_if_missing(true).build()?;
    /// assert!(options.install_if_missing());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn install_if_missing(mut self, install: bool) -> Self {
        self.install_if_missing = install;
        self
    }

    /// A description recorded on the Helm release (`--description`). An
    /// empty string means none.
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").description("CVE fix").build()?;
    /// assert_eq!(options.description(), Some("CVE fix"));
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into()).filter(|d| !d.is_empty());
        self
    }

    /// On upgrade, starts from the previous release's values
    /// (`--reuse-values`). Cannot be combined with
    /// [`reset_values`](Self::reset_values).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let options = ReleaseOptions::builder("web", "prod").reuse_values(true).build()?;
    /// assert!(options.reuse_values());
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn reuse_values(mut self, reuse: bool) -> Self {
        self.reuse_values = reuse;
        self
    }

    /// On upgrade, drops the previous release's values and starts from the
    /// chart's defaults (`--reset-values`).
    ///
    /// ```
    /// # use chainctl_core::ReleaseOptions;
    /// let both = ReleaseOptions::builder("web", "prod").reuse_values(true).reset_values(true);
    /// assert!(both.build().unwrap_err().to_string().contains("reset_values"));
    /// ```
    pub fn reset_values(mut self, reset: bool) -> Self {
        self.reset_values = reset;
        self
    }

    /// Validates everything Rust can check exactly as Helm would, and reads
    /// standard input for `-f -`. The values themselves are merged by Helm
    /// when the action runs (see [`Client::merge_values`](crate::Client::merge_values)
    /// to merge them earlier), so a malformed `--set` is reported then.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for the first problem found: the release name,
    /// the namespace, a zero timeout, `reuse_values` with `reset_values`,
    /// `wait` with [`WaitStrategy::HookOnly`], a
    /// values file name that is not UTF-8, a zero values size limit,
    /// standard input that cannot be read or is larger than the limit.
    ///
    /// ```
    /// use chainctl_core::{ErrorKind, ReleaseOptions};
    ///
    /// let err = ReleaseOptions::builder("web", "Prod").build().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// ```
    pub fn build(self) -> Result<ReleaseOptions> {
        let release = ReleaseRef::new(self.name, self.namespace)?;
        check_timeout(self.timeout, "timeout")?;
        let wait = effective_wait(self.wait, self.wait_strategy, "release options")?;
        if self.reuse_values && self.reset_values {
            return Err(Error::invalid_in(
                Input::ReuseValues,
                "reuse_values and reset_values cannot both be set: reuse keeps the previous \
                 release's values, reset drops them; pick one",
            ));
        }
        if let Some(message) = self.values_error {
            return Err(Error::invalid(message));
        }
        let mut values = self.values;
        if values.size_limit() == 0 {
            return Err(Error::invalid(
                "values_size_limit must be at least 1 byte (the default is 16 MiB)",
            ));
        }
        values.read_stdin()?;
        values.read_pipes(self.timeout)?;
        let mut flags = self.flags;
        let deps = &mut flags.dependency_update;
        if deps.enabled {
            deps.repository_config = (deps.repository_config.take())
                .or_else(|| env_path("HELM_REPOSITORY_CONFIG"))
                .or_else(|| {
                    helm_path(
                        "HELM_CONFIG_HOME",
                        "XDG_CONFIG_HOME",
                        ".config",
                        "Library/Preferences",
                        "repositories.yaml",
                    )
                });
            deps.repository_cache = (deps.repository_cache.take())
                .or_else(|| env_path("HELM_REPOSITORY_CACHE"))
                .or_else(|| {
                    helm_path(
                        "HELM_CACHE_HOME",
                        "XDG_CACHE_HOME",
                        ".cache",
                        "Library/Caches",
                        "repository",
                    )
                });
        }
        Ok(ReleaseOptions {
            release,
            values,
            create_namespace: self.create_namespace,
            dry_run: self.dry_run,
            wait: wait || self.atomic,
            timeout: self.timeout,
            atomic: self.atomic,
            install_if_missing: self.install_if_missing,
            description: self.description,
            reuse_values: self.reuse_values,
            reset_values: self.reset_values,
            flags,
            server_side: self.server_side,
            force_conflicts: self.force_conflicts,
            wait_strategy: self.wait_strategy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_error(name: &str) -> String {
        validate_release_name(name).unwrap_err().to_string()
    }

    fn namespace_error(namespace: &str) -> String {
        validate_namespace(namespace).unwrap_err().to_string()
    }

    #[test]
    fn release_names_helm_accepts() {
        let longest = "a".repeat(53);
        for name in [
            "a", "web", "my-app", "app1", "1app", "a.b", "a-b.c-d", "x--y", &longest,
        ] {
            assert!(validate_release_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn release_name_empty() {
        assert_eq!(
            name_error(""),
            "invalid release name \"\": must not be empty: pass a name such as \"my-app\""
        );
    }

    #[test]
    fn release_name_too_long() {
        let name = "a".repeat(60);
        assert_eq!(
            name_error(&name),
            format!(
                "invalid release name \"{name}\": 60 characters, Helm allows at most 53: \
                 use a shorter name"
            )
        );
    }

    #[test]
    fn release_name_bad_characters() {
        assert_eq!(
            name_error("Bad_Name"),
            "invalid release name \"Bad_Name\": must be lowercase RFC 1123 (a-z, 0-9, '-' and '.', \
             starting and ending with a letter or digit): try \"bad-name\""
        );
        assert!(name_error("my app").contains("must be lowercase RFC 1123"));
        assert!(name_error("ünï").contains("must be lowercase RFC 1123"));
        assert!(
            !name_error("___").contains("try"),
            "no suggestion when none is valid"
        );
    }

    #[test]
    fn release_name_must_start_and_end_alphanumeric() {
        assert_eq!(
            name_error("-app-"),
            "invalid release name \"-app-\": must start and end with a letter or digit: try \"app\""
        );
        assert!(name_error(".app").contains("must start and end with a letter or digit"));
        assert!(name_error("app.").contains("must start and end with a letter or digit"));
    }

    #[test]
    fn release_name_dot_parts() {
        assert_eq!(
            name_error("a..b"),
            "invalid release name \"a..b\": each '.'-separated part must be non-empty and start \
             and end with a letter or digit: try \"a.b\""
        );
        assert!(name_error("a-.b").contains("each '.'-separated part"));
        assert!(name_error("a.-b").contains("each '.'-separated part"));
    }

    #[test]
    fn namespaces_kubernetes_accepts() {
        let longest = "n".repeat(63);
        for namespace in ["default", "kube-system", "ns1", "1ns", "a", &longest] {
            assert!(validate_namespace(namespace).is_ok(), "{namespace}");
        }
    }

    #[test]
    fn namespace_empty() {
        assert_eq!(
            namespace_error(""),
            "invalid namespace \"\": must not be empty: pass \"default\" for the default namespace"
        );
    }

    #[test]
    fn namespace_too_long() {
        let namespace = "n".repeat(64);
        assert_eq!(
            namespace_error(&namespace),
            format!(
                "invalid namespace \"{namespace}\": 64 characters, Kubernetes allows at most 63: \
                 use a shorter name"
            )
        );
    }

    #[test]
    fn namespace_bad_characters() {
        assert_eq!(
            namespace_error("My.NS"),
            "invalid namespace \"My.NS\": must be a lowercase RFC 1123 label (a-z, 0-9 and '-', \
             starting and ending with a letter or digit): try \"my-ns\""
        );
    }

    #[test]
    fn namespace_must_start_and_end_alphanumeric() {
        assert_eq!(
            namespace_error("-ns"),
            "invalid namespace \"-ns\": must start and end with a letter or digit: try \"ns\""
        );
        assert!(namespace_error("ns-").contains("must start and end"));
    }

    #[test]
    fn release_ref_checks_both_and_displays_namespace_first() {
        let release = ReleaseRef::new("web", "prod").unwrap();
        assert_eq!(release.to_string(), "prod/web");
        assert_eq!((release.name(), release.namespace()), ("web", "prod"));
        assert!(
            ReleaseRef::new("web", "Prod")
                .unwrap_err()
                .to_string()
                .contains("invalid namespace \"Prod\"")
        );
        let json = serde_json::to_value(&release).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "web", "namespace": "prod"})
        );
        assert_eq!(serde_json::from_value::<ReleaseRef>(json).unwrap(), release);
    }

    #[test]
    fn dry_run_parses_helm_values() {
        let cases = [
            ("none", DryRun::None),
            ("false", DryRun::None),
            ("client", DryRun::Client),
            ("true", DryRun::Client),
            ("server", DryRun::Server),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<DryRun>().unwrap(), want, "{text}");
        }
        let msg = "Server".parse::<DryRun>().unwrap_err().to_string();
        assert_eq!(
            msg,
            "invalid dry-run mode \"Server\": expected none, client or server \
             (true means client, false means none)"
        );
        assert_eq!(serde_json::to_value(DryRun::Server).unwrap(), "server");
        assert_eq!(DryRun::Client.to_string(), "client");
    }

    #[test]
    fn builder_defaults() {
        let options = ReleaseOptions::builder("web", "prod").build().unwrap();
        assert_eq!(options.timeout(), Duration::from_secs(300));
        assert_eq!(options.dry_run(), DryRun::None);
        assert!(options.values_files().is_empty());
        assert!(!options.wait() && !options.atomic() && !options.create_namespace());
        assert!(
            !options.install_if_missing() && !options.reuse_values() && !options.reset_values()
        );
        assert_eq!(options.description(), None);
    }

    #[test]
    fn builder_reports_the_first_problem() {
        let err = ReleaseOptions::builder("Bad", "Bad")
            .set("x")
            .build()
            .unwrap_err();
        assert!(err.to_string().starts_with("invalid release name"), "{err}");
        let err = ReleaseOptions::builder("ok", "Bad")
            .set("x")
            .build()
            .unwrap_err();
        assert!(err.to_string().starts_with("invalid namespace"), "{err}");
        let err = ReleaseOptions::builder("ok", "ok")
            .timeout(Duration::ZERO)
            .set("x")
            .build();
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("timeout must be greater than zero")
        );
    }

    #[test]
    fn builder_rejects_reuse_with_reset() {
        let err = ReleaseOptions::builder("web", "prod")
            .reuse_values(true)
            .reset_values(true)
            .build()
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("reuse_values") && msg.contains("reset_values"),
            "{msg}"
        );
        assert_eq!(err.invalid_input(), Some(crate::Input::ReuseValues));
        assert!(!msg.contains("--"), "the library names no flag: {msg}");
    }

    #[test]
    fn wire_format_for_the_go_shim() {
        let options = ReleaseOptions::builder("web", "prod")
            .set("replicas=2")
            .create_namespace(true)
            .dry_run(DryRun::Server)
            .atomic(true)
            .timeout(Duration::from_millis(90_500))
            .install_if_missing(true)
            .description("deploy 42")
            .reset_values(true)
            .build()
            .unwrap();
        assert_eq!(
            serde_json::to_value(options.to_wire()).unwrap(),
            serde_json::json!({
                "release": "web",
                "namespace": "prod",
                "values": {"set": ["replicas=2"]},
                "createNamespace": true,
                "dryRun": "server",
                "wait": true,
                "timeoutMs": 90500,
                "atomic": true,
                "installIfMissing": true,
                "description": "deploy 42",
                "reuseValues": false,
                "resetValues": true,
                "historyMax": 10,
                "resetThenReuseValues": false,
                "skipCrds": false,
                "noHooks": false,
                "waitForJobs": false,
                "cleanupOnFail": false,
                "force": false,
                "takeOwnership": false,
                "skipSchemaValidation": false,
                "dependencyUpdate": {"enabled": false}
            })
        );
        let plain = serde_json::to_value(
            ReleaseOptions::builder("web", "prod")
                .description("")
                .build()
                .unwrap()
                .to_wire(),
        )
        .unwrap();
        assert!(plain.get("description").is_none());
        assert_eq!(plain["timeoutMs"], 300_000);
        assert_eq!(plain["dryRun"], "none");
        for helm4 in ["serverSide", "forceConflicts", "waitStrategy"] {
            assert!(
                plain.get(helm4).is_none(),
                "{helm4}: unset is the backend's default and left out, as before Helm 4"
            );
        }
    }

    #[test]
    fn helm4_options_cross_the_wire_as_the_shim_reads_them() {
        let wire = |builder: ReleaseOptionsBuilder| {
            serde_json::to_value(builder.build().unwrap().to_wire()).unwrap()
        };
        let options = wire(
            ReleaseOptions::builder("web", "prod")
                .server_side(ServerSide::Auto)
                .force_conflicts(true)
                .wait_strategy(WaitStrategy::Watcher),
        );
        assert_eq!(options["serverSide"], "auto");
        assert_eq!(options["forceConflicts"], true);
        assert_eq!(options["waitStrategy"], "watcher");
        assert_eq!(options["wait"], true, "watcher waits for the resources");
        for (mode, text) in [
            (ServerSide::On, "true"),
            (ServerSide::Off, "false"),
            (ServerSide::Auto, "auto"),
        ] {
            let options = wire(ReleaseOptions::builder("web", "prod").server_side(mode));
            assert_eq!(options["serverSide"], text);
            assert_eq!(mode.to_string(), text);
            assert_eq!(text.parse::<ServerSide>().unwrap(), mode);
        }
        for (strategy, text, waits) in [
            (WaitStrategy::Watcher, "watcher", true),
            (WaitStrategy::HookOnly, "hookOnly", false),
            (WaitStrategy::Legacy, "legacy", true),
        ] {
            let options = wire(ReleaseOptions::builder("web", "prod").wait_strategy(strategy));
            assert_eq!(options["waitStrategy"], text);
            assert_eq!(options["wait"], waits, "{text}");
            assert_eq!(strategy.to_string(), text);
            assert_eq!(text.parse::<WaitStrategy>().unwrap(), strategy);
        }
        // helm 4's names for --atomic and --force are the same options.
        let renamed = wire(
            ReleaseOptions::builder("web", "prod")
                .rollback_on_failure(true)
                .force_replace(true),
        );
        let old = wire(
            ReleaseOptions::builder("web", "prod")
                .atomic(true)
                .force(true),
        );
        assert_eq!(renamed, old);
        assert_eq!(
            (&renamed["atomic"], &renamed["force"]),
            (&true.into(), &true.into())
        );
    }

    #[test]
    fn helm4_values_are_parsed_as_helm_4_spells_them() {
        let err = "on".parse::<ServerSide>().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid server-side mode \"on\": expected true, false or auto"
        );
        let err = "hookonly".parse::<WaitStrategy>().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid wait strategy \"hookonly\": expected watcher, hookOnly or legacy"
        );
    }

    #[test]
    fn hook_only_contradicts_wait_and_the_others_imply_it() {
        let err = ReleaseOptions::builder("web", "prod")
            .wait(true)
            .wait_strategy(WaitStrategy::HookOnly)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        assert_eq!(err.invalid_input(), Some(Input::WaitStrategy));
        assert!(err.to_string().contains("hookOnly"), "{err}");
        // With atomic, Helm 4 itself waits with the watcher instead: passed on.
        let options = ReleaseOptions::builder("web", "prod")
            .atomic(true)
            .wait_strategy(WaitStrategy::HookOnly)
            .build()
            .unwrap();
        assert!(options.wait() && options.wait_strategy() == Some(WaitStrategy::HookOnly));
        assert!(!effective_wait(false, None, "x").unwrap());
        assert!(effective_wait(true, None, "x").unwrap());
        assert!(effective_wait(false, Some(WaitStrategy::Legacy), "x").unwrap());
        assert!(!effective_wait(false, Some(WaitStrategy::HookOnly), "x").unwrap());
        assert!(effective_wait(true, Some(WaitStrategy::HookOnly), "rollback").is_err());
    }
}
