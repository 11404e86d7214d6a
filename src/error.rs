//! The one error type of the crate.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::wire::{ErrorCode, ReplyError};

/// Shorthand for `std::result::Result<T, chainctl_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, as variants a caller can match.
///
/// Each variant is one [`ErrorKind`] (the CLI maps kinds to exit codes);
/// where the crate knows the fact more precisely, the variant carries it as
/// data: which release, revision, chart or file is missing ([`Missing`]),
/// why access was denied ([`Denied`]), the pending revision of a stuck
/// release ([`PendingRelease`](crate::PendingRelease)), who holds a state
/// lock ([`Locked`]), the path and the I/O error under a state file
/// failure. The predicates (`is_not_found()`, `is_forbidden()`, ...) ask
/// without matching. The message is for people: it says what is wrong;
/// advice naming CLI flags or commands is the CLI's to add.
///
/// ```
/// use chainctl_core::{Error, ErrorKind, ReleaseOptions};
///
/// let err = ReleaseOptions::builder("Bad_Name", "demo").build().unwrap_err();
/// assert!(matches!(err, Error::InvalidInput { .. }));
/// assert_eq!(err.kind(), ErrorKind::InvalidInput);
/// ```
///
/// The facts of an error are data:
///
/// ```
/// use chainctl_core::{Client, Error, Missing, ReleaseRef, Storage};
///
/// let client = Client::builder().storage(Storage::Memory).build()?;
/// let err = client.status(&ReleaseRef::new("ghost", "demo")?).unwrap_err();
/// assert!(err.is_not_found() && err.is_release_not_found());
/// match err {
///     Error::NotFound { missing: Missing::Release { release, namespace }, .. } => {
///         assert_eq!((release.as_str(), namespace.as_str()), ("ghost", "demo"));
///     }
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), chainctl_core::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument, a chart or a request was malformed; nothing was changed.
    /// [`Input`] names the input of the library that was wrong, when the
    /// crate knows it (see [`invalid_input`](Error::invalid_input)).
    #[error("{message}")]
    #[non_exhaustive]
    InvalidInput {
        /// What is wrong.
        message: String,
        /// Which input was wrong, when the crate knows.
        input: Option<Input>,
    },
    /// Two chart sources were given where exactly one is allowed.
    #[error("{message}")]
    ConflictingSources {
        /// Names both sources.
        message: String,
    },
    /// The OCI registry could not be reached or answered with an error;
    /// [`RegistryFailure`] says why when the crate knows.
    #[error("registry: {message}")]
    #[non_exhaustive]
    Registry {
        /// What the registry said.
        message: String,
        /// The registry host, when known.
        host: Option<String>,
        /// Why it failed.
        failure: RegistryFailure,
    },
    /// The registry or cluster refused the credentials (or none were
    /// given), or accepted them but does not allow the request (Kubernetes
    /// RBAC: "forbidden"); [`Denied`] says which.
    #[error("access denied: {message}")]
    #[non_exhaustive]
    Auth {
        /// Which credentials were refused, by whom.
        message: String,
        /// Who refused what.
        denied: Denied,
    },
    /// A release, revision, chart, version or state file does not exist;
    /// [`Missing`] says which.
    #[error("{message}")]
    #[non_exhaustive]
    NotFound {
        /// What was looked for and where.
        message: String,
        /// What is missing.
        missing: Missing,
    },
    /// The Kubernetes API server refused or failed the request, or Helm
    /// refused to act on a release whose last revision is pending.
    #[error("kubernetes: {message}")]
    #[non_exhaustive]
    Kube {
        /// The API server's (or Helm's) answer.
        message: String,
        /// The release is stuck in a `pending-*` status: its revision and
        /// the revision to roll back to, when the crate could read them.
        pending: Option<Box<crate::PendingRelease>>,
    },
    /// The call's deadline passed before it finished.
    #[error("timed out: {message}")]
    Timeout {
        /// What was still running when time ran out.
        message: String,
    },
    /// The call was cancelled through its [`CancelToken`](crate::CancelToken).
    #[error("cancelled: {message}")]
    Cancelled {
        /// What was running when it was cancelled.
        message: String,
    },
    /// The state file could not be read, validated, locked or written.
    #[error("state file: {message}")]
    #[non_exhaustive]
    State {
        /// The path and the problem.
        message: String,
        /// The file the problem is with, when there is one.
        path: Option<PathBuf>,
        /// The state file is locked by another process.
        locked: Option<Box<Locked>>,
        /// Why the file or the change was refused, when the crate knows
        /// (see [`state_problem`](Error::state_problem)).
        problem: Option<Box<StateProblem>>,
        /// The I/O error underneath, when there is one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The caller's approval said no (see [`Approval`](crate::Approval)):
    /// nothing was changed. Its [`kind`](Error::kind) is
    /// [`ErrorKind::Cancelled`]; match the variant to tell the two apart.
    #[error("refused: {message}")]
    Refused {
        /// What was not done.
        message: String,
    },
    /// The action succeeded, but its record could not be written to the
    /// state file: the record is here, to keep (a later
    /// [`StateStore::import`](crate::StateStore::import) puts it back).
    /// Its [`kind`](Error::kind) is [`ErrorKind::State`].
    #[error("{message}")]
    NotRecorded {
        /// What succeeded and where its record was to go.
        message: String,
        /// The record that was not written.
        record: Box<crate::state::ExecutionStateRecord>,
        /// Why the write failed.
        #[source]
        source: Box<Error>,
    },
    /// A bug: a Go panic, a reply that does not parse, a broken invariant.
    #[error("internal error: {message} (this is a bug in chainctl-core; please report it)")]
    Internal {
        /// What broke.
        message: String,
    },
}

/// What an [`Error::NotFound`] did not find.
///
/// ```
/// use chainctl_core::{Error, Missing};
/// let err = chainctl_core::state::StateStore::load("/nonexistent/state.json").unwrap_err();
/// assert!(matches!(&err, Error::NotFound { missing: Missing::StateFile { path }, .. }
///     if path.ends_with("state.json")));
/// assert!(err.is_not_found() && !err.is_release_not_found());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missing {
    /// The release has no revision at all in the namespace.
    Release {
        /// Its name.
        release: String,
        /// Its namespace.
        namespace: String,
    },
    /// An upgrade found no deployed revision of the release.
    DeployedRevision {
        /// Its name.
        release: String,
        /// Its namespace.
        namespace: String,
    },
    /// The release exists, but not this revision.
    Revision {
        /// Its name.
        release: String,
        /// Its namespace.
        namespace: String,
        /// The revision asked for.
        revision: u32,
    },
    /// The registry has no such repository, tag or digest.
    Chart {
        /// The reference looked up (`host/path/chart:tag`).
        reference: String,
    },
    /// No version of the chart matches.
    Version {
        /// The repository.
        reference: String,
        /// The version or constraint asked for.
        version: String,
    },
    /// The chart is not in the local chart cache, and the client is
    /// offline.
    Cached {
        /// The reference looked for.
        reference: String,
    },
    /// No state file exists at the path.
    StateFile {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Something else (the message says what).
    Other,
}

/// Why an [`Error::Auth`] denied access.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denied {
    /// The cluster accepted the credentials, but its RBAC does not allow
    /// the request (Kubernetes "forbidden").
    Forbidden {
        /// The verb refused (`get`, `list`, `create`, ...), when the API
        /// server named it.
        verb: String,
        /// The resource (`secrets`, `deployments.apps`, ...).
        resource: String,
        /// The namespace (empty for a cluster-scoped request).
        namespace: String,
    },
    /// The cluster refused the credentials of the kubeconfig.
    Unauthorized,
    /// The registry refused the credentials (or none were given).
    Registry {
        /// The registry host.
        host: String,
    },
    /// Something else (the message says what).
    Other,
}

/// Why an [`Error::Registry`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryFailure {
    /// The registry's TLS certificate did not verify.
    TlsVerify {
        /// The CA file it was verified with, if one was given (else the
        /// system's CAs).
        ca_file: Option<PathBuf>,
    },
    /// The registry speaks plain HTTP, and HTTPS was used.
    PlainHttp,
    /// The chart is larger than the client accepts
    /// ([`ClientBuilder::max_chart_size`](crate::ClientBuilder::max_chart_size)).
    ChartTooLarge {
        /// The bound, in bytes.
        limit: u64,
    },
    /// Something else (the message says what).
    Other,
}

/// Which input of the library an [`Error::InvalidInput`] is about: named
/// after the library's options, so that a front end can point at its own
/// way of setting each (the CLI names its flags).
///
/// ```
/// use chainctl_core::{ChartSource, Input};
///
/// let err = ChartSource::from_flags(None, None, None).unwrap_err();
/// assert_eq!(err.invalid_input(), Some(Input::ChartSource));
/// assert!(!err.to_string().contains("--"), "the library names no flag: {err}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Input {
    /// The kubeconfig file ([`ClientBuilder::kubeconfig`](crate::ClientBuilder::kubeconfig)):
    /// missing, not a file, or none given where one is needed.
    Kubeconfig,
    /// The chart source: none given, or a recorded one that cannot be
    /// used any more.
    ChartSource,
    /// The bundle path of [`ChartSource::bundle`](crate::ChartSource::bundle):
    /// not a chart directory or a packaged chart, or given with a version.
    Bundle,
    /// The version (or constraint) requested of an OCI chart.
    Version,
    /// The client is offline and the reference names neither a tag, an
    /// exact version nor a digest.
    Offline,
    /// A values file or a file value
    /// ([`values_file`](crate::ReleaseOptionsBuilder::values_file),
    /// [`set_file`](crate::ReleaseOptionsBuilder::set_file)).
    ValuesFile,
    /// Reusing and resetting the previous release's values together.
    ReuseValues,
    /// A dependency update of the chart: its dependencies are missing and
    /// no update was asked for, or one cannot be fetched by it.
    DependencyUpdate,
    /// The name filter of a release list (a regular expression).
    ListFilter,
    /// The registry credentials file.
    RegistryConfig,
    /// The client certificate and key for a registry (both or neither).
    ClientCertificate,
    /// How manifests are applied ([`ServerSide`](crate::ServerSide)):
    /// server-side apply asked of the Helm 3 build, which has none.
    ServerSide,
    /// Forcing server-side apply conflicts, asked of the Helm 3 build.
    ForceConflicts,
    /// The wait strategy ([`WaitStrategy`](crate::WaitStrategy)): one
    /// Helm 3 does not have, or `hookOnly` together with `wait`.
    WaitStrategy,
}

impl Input {
    /// The name of the input on the shim's wire (`"kubeconfig"`,
    /// `"listFilter"`, ...); `None` for one this crate does not know.
    pub(crate) fn from_wire(name: &str) -> Option<Input> {
        serde_json::from_value(serde_json::Value::from(name)).ok()
    }
}

/// Why a state file, or a change to it, was refused: see
/// [`Error::State`]. The error's [`path`](Error::path) is the file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateProblem {
    /// The path names something other than a regular file.
    NotAFile,
    /// The path is a symlink, which is followed only when the location was
    /// named explicitly ([`StateLocation::allows_symlink`](crate::state::StateLocation::allows_symlink)).
    Symlink,
    /// The file was written by a newer version: it is left as it is.
    Newer,
    /// The file is not a valid state file: it is left as it is.
    Invalid,
    /// An imported record is older than the newest record of its release.
    OutOfOrder {
        /// The release.
        release: String,
        /// Its namespace.
        namespace: String,
    },
}

/// Who holds the lock of a state file: see [`Error::State`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Locked {
    /// The lock file.
    pub lock_file: PathBuf,
    /// The holder, when it left its details in the lock file.
    pub holder: Option<crate::state::LockInfo>,
}

/// The closed set of error kinds shared with the Go shim, one per [`Error`]
/// variant. On the wire they are snake_case strings (`"invalid_input"`).
///
/// ```
/// use chainctl_core::ErrorKind;
/// assert_eq!(ErrorKind::NotFound.as_str(), "not_found");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// [`Error::InvalidInput`]
    InvalidInput,
    /// [`Error::ConflictingSources`]
    ConflictingSources,
    /// [`Error::Registry`]
    Registry,
    /// [`Error::Auth`]
    Auth,
    /// [`Error::NotFound`]
    NotFound,
    /// [`Error::Kube`]
    Kube,
    /// [`Error::Timeout`]
    Timeout,
    /// [`Error::Cancelled`]
    Cancelled,
    /// [`Error::State`]
    State,
    /// [`Error::Internal`]
    Internal,
}

impl ErrorKind {
    /// The wire name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::ConflictingSources => "conflicting_sources",
            ErrorKind::Registry => "registry",
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Kube => "kube",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::State => "state",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The kind of this error, for matching without caring about fields.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::ConflictingSources { .. } => ErrorKind::ConflictingSources,
            Error::Registry { .. } => ErrorKind::Registry,
            Error::Auth { .. } => ErrorKind::Auth,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Kube { .. } => ErrorKind::Kube,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Cancelled { .. } | Error::Refused { .. } => ErrorKind::Cancelled,
            Error::State { .. } | Error::NotRecorded { .. } => ErrorKind::State,
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// Builds the error of `kind` with `message` and no further facts.
    ///
    /// ```
    /// use chainctl_core::{Error, ErrorKind};
    /// let err = Error::from_kind(ErrorKind::Timeout, "install of hello".into());
    /// assert_eq!(err.to_string(), "timed out: install of hello");
    /// ```
    pub fn from_kind(kind: ErrorKind, message: String) -> Error {
        match kind {
            ErrorKind::InvalidInput => Error::InvalidInput {
                message,
                input: None,
            },
            ErrorKind::ConflictingSources => Error::ConflictingSources { message },
            ErrorKind::Registry => Error::Registry {
                message,
                host: None,
                failure: RegistryFailure::Other,
            },
            ErrorKind::Auth => Error::Auth {
                message,
                denied: Denied::Other,
            },
            ErrorKind::NotFound => Error::NotFound {
                message,
                missing: Missing::Other,
            },
            ErrorKind::Kube => Error::Kube {
                message,
                pending: None,
            },
            ErrorKind::Timeout => Error::Timeout { message },
            ErrorKind::Cancelled => Error::Cancelled { message },
            ErrorKind::State => Error::State {
                message,
                path: None,
                locked: None,
                problem: None,
                source: None,
            },
            ErrorKind::Internal => Error::Internal { message },
        }
    }

    /// The error a shim reply reports: its kind, with the facts its code
    /// and details carry (never read from the message).
    pub(crate) fn from_reply(reply: ReplyError) -> Error {
        let ReplyError {
            kind,
            code,
            message,
            details,
            ..
        } = reply;
        let d = details.unwrap_or_default();
        let missing = |missing| Error::NotFound {
            message: message.clone(),
            missing,
        };
        let denied = |denied| Error::Auth {
            message: message.clone(),
            denied,
        };
        // A code is trusted only with its kind: an unknown pairing keeps
        // the kind and the message.
        match (kind, code) {
            (ErrorKind::NotFound, Some(ErrorCode::ReleaseNotFound)) => missing(Missing::Release {
                release: d.release,
                namespace: d.namespace,
            }),
            (ErrorKind::NotFound, Some(ErrorCode::NoDeployedRelease)) => {
                missing(Missing::DeployedRevision {
                    release: d.release,
                    namespace: d.namespace,
                })
            }
            (ErrorKind::NotFound, Some(ErrorCode::RevisionNotFound)) => {
                missing(Missing::Revision {
                    release: d.release,
                    namespace: d.namespace,
                    revision: d.revision,
                })
            }
            (ErrorKind::NotFound, Some(ErrorCode::ChartNotFound)) => missing(Missing::Chart {
                reference: d.reference,
            }),
            (ErrorKind::NotFound, Some(ErrorCode::VersionNotFound)) => missing(Missing::Version {
                reference: d.reference,
                version: d.version,
            }),
            (ErrorKind::Auth, Some(ErrorCode::Forbidden)) => denied(Denied::Forbidden {
                verb: d.verb,
                resource: d.resource,
                namespace: d.namespace,
            }),
            (ErrorKind::Auth, Some(ErrorCode::Unauthorized)) => denied(Denied::Unauthorized),
            (ErrorKind::Auth, Some(ErrorCode::RegistryAuth)) => {
                denied(Denied::Registry { host: d.host })
            }
            (ErrorKind::InvalidInput, Some(ErrorCode::InvalidOption)) => Error::InvalidInput {
                input: Input::from_wire(&d.input),
                message,
            },
            (ErrorKind::Registry, code) => Error::Registry {
                message,
                host: Some(d.host).filter(|h| !h.is_empty()),
                failure: match code {
                    Some(ErrorCode::TlsVerify) => RegistryFailure::TlsVerify {
                        ca_file: Some(PathBuf::from(d.ca_file))
                            .filter(|p| !p.as_os_str().is_empty()),
                    },
                    Some(ErrorCode::PlainHttp) => RegistryFailure::PlainHttp,
                    Some(ErrorCode::ChartTooLarge) => {
                        RegistryFailure::ChartTooLarge { limit: d.limit }
                    }
                    _ => RegistryFailure::Other,
                },
            },
            (kind, _) => Error::from_kind(kind, message),
        }
    }

    /// The message without the kind's prefix.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidInput { message, .. }
            | Error::ConflictingSources { message }
            | Error::Registry { message, .. }
            | Error::Auth { message, .. }
            | Error::NotFound { message, .. }
            | Error::Kube { message, .. }
            | Error::Timeout { message }
            | Error::Cancelled { message }
            | Error::State { message, .. }
            | Error::Refused { message }
            | Error::NotRecorded { message, .. }
            | Error::Internal { message } => message,
        }
    }

    /// Whether something does not exist (a release, revision, chart,
    /// version, state file, record): [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Whether the release has no revision at all (it was never installed,
    /// or was uninstalled without keeping its history).
    pub fn is_release_not_found(&self) -> bool {
        matches!(
            self,
            Error::NotFound {
                missing: Missing::Release { .. },
                ..
            }
        )
    }

    /// Whether the release exists but not the revision asked for.
    pub fn is_revision_not_found(&self) -> bool {
        matches!(
            self,
            Error::NotFound {
                missing: Missing::Revision { .. },
                ..
            }
        )
    }

    /// Whether the chart (repository, tag or digest) or a version of it
    /// matching the constraint is missing from the registry.
    pub fn is_chart_not_found(&self) -> bool {
        matches!(
            self,
            Error::NotFound {
                missing: Missing::Chart { .. } | Missing::Version { .. } | Missing::Cached { .. },
                ..
            }
        )
    }

    /// Whether there is no state file at the path.
    pub fn is_no_state_file(&self) -> bool {
        matches!(
            self,
            Error::NotFound {
                missing: Missing::StateFile { .. },
                ..
            }
        )
    }

    /// Whether the release's last revision is stuck in `pending-*` (see
    /// [`pending`](Self::pending)).
    pub fn is_pending(&self) -> bool {
        self.pending().is_some()
    }

    /// The pending revision of a release Helm refused to act on.
    pub fn pending(&self) -> Option<&crate::PendingRelease> {
        match self {
            Error::Kube {
                pending: Some(p), ..
            } => Some(p),
            _ => None,
        }
    }

    /// Whether the state file is locked by another process (see
    /// [`locked`](Self::locked)).
    pub fn is_locked(&self) -> bool {
        self.locked().is_some()
    }

    /// Who holds the state file's lock.
    pub fn locked(&self) -> Option<&Locked> {
        match self {
            Error::State {
                locked: Some(l), ..
            } => Some(l),
            _ => None,
        }
    }

    /// Why a state file, or a change to it, was refused (see
    /// [`StateProblem`]).
    ///
    /// ```
    /// use chainctl_core::StateProblem;
    /// let dir = tempfile::tempdir().unwrap();
    /// let err = chainctl_core::state::StateStore::open(dir.path(), Default::default()).unwrap_err();
    /// assert_eq!(err.state_problem(), Some(&StateProblem::NotAFile));
    /// assert_eq!(err.path(), Some(dir.path()));
    /// ```
    pub fn state_problem(&self) -> Option<&StateProblem> {
        match self {
            Error::State {
                problem: Some(p), ..
            } => Some(p),
            _ => None,
        }
    }

    /// Whether access was denied, by the cluster or a registry:
    /// [`ErrorKind::Auth`].
    pub fn is_auth(&self) -> bool {
        matches!(self, Error::Auth { .. })
    }

    /// Whether the cluster's RBAC refused the request (the credentials were
    /// accepted).
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            Error::Auth {
                denied: Denied::Forbidden { .. },
                ..
            }
        )
    }

    /// Whether a registry refused the credentials.
    pub fn is_registry_auth(&self) -> bool {
        matches!(
            self,
            Error::Auth {
                denied: Denied::Registry { .. },
                ..
            }
        )
    }

    /// Which input of the library was wrong, for an
    /// [`Error::InvalidInput`] whose input the crate knows.
    ///
    /// ```
    /// use chainctl_core::{Input, ReleaseOptions};
    /// let err = ReleaseOptions::builder("web", "demo")
    ///     .reuse_values(true)
    ///     .reset_values(true)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.invalid_input(), Some(Input::ReuseValues));
    /// ```
    pub fn invalid_input(&self) -> Option<Input> {
        match self {
            Error::InvalidInput { input, .. } => *input,
            _ => None,
        }
    }

    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether the call was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled { .. })
    }

    /// The file a state file error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::State { path, .. } => path.as_deref(),
            Error::NotFound {
                missing: Missing::StateFile { path },
                ..
            } => Some(path),
            _ => None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidInput {
            message: message.into(),
            input: None,
        }
    }

    /// An [`Error::InvalidInput`] about `input`.
    pub(crate) fn invalid_in(input: Input, message: impl Into<String>) -> Error {
        Error::InvalidInput {
            message: message.into(),
            input: Some(input),
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Error {
        Error::Internal {
            message: message.into(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>, missing: Missing) -> Error {
        Error::NotFound {
            message: message.into(),
            missing,
        }
    }

    pub(crate) fn registry(message: impl Into<String>) -> Error {
        Error::Registry {
            message: message.into(),
            host: None,
            failure: RegistryFailure::Other,
        }
    }

    /// A state file error about `path`, with the I/O error underneath.
    pub(crate) fn state(
        message: impl Into<String>,
        path: Option<&Path>,
        source: Option<std::io::Error>,
    ) -> Error {
        Error::State {
            message: message.into(),
            path: path.map(Path::to_path_buf),
            locked: None,
            problem: None,
            source,
        }
    }

    /// A state file error about `path`, refused for `problem`.
    pub(crate) fn state_refused(
        message: impl Into<String>,
        path: &Path,
        problem: StateProblem,
    ) -> Error {
        Error::State {
            message: message.into(),
            path: Some(path.to_path_buf()),
            locked: None,
            problem: Some(Box::new(problem)),
            source: None,
        }
    }
}

/// `path` as UTF-8 text, which is how paths cross into the Go shim (JSON
/// strings); otherwise an [`Error::InvalidInput`] naming `what` and the
/// way out, never a panic.
pub(crate) fn utf8_path<'a>(path: &'a std::path::Path, what: &str) -> Result<&'a str> {
    path.to_str().ok_or_else(|| {
        Error::invalid(format!(
            "{what} {} has a name that is not UTF-8, which Helm cannot take: rename it, or use a path of UTF-8 names",
            path.display()
        ))
    })
}
