//! The one error type of the crate.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Shorthand for `std::result::Result<T, chainctl_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, as variants a caller can match.
///
/// Each variant carries a message written for the person at the terminal: it
/// says what is wrong and, where there is one, what to do about it.
///
/// ```
/// use chainctl_core::{Error, ErrorKind, ReleaseOptions};
///
/// let err = ReleaseOptions::builder("Bad_Name", "demo").build().unwrap_err();
/// assert!(matches!(err, Error::InvalidInput { .. }));
/// assert_eq!(err.kind(), ErrorKind::InvalidInput);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument, a chart or a request was malformed; nothing was changed.
    #[error("{message}")]
    InvalidInput {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Two chart sources were given where exactly one is allowed.
    #[error("{message}")]
    ConflictingSources {
        /// Names both sources.
        message: String,
    },
    /// The OCI registry could not be reached or answered with an error.
    #[error("registry: {message}")]
    Registry {
        /// What the registry said, and which option may help.
        message: String,
    },
    /// The registry or cluster refused the credentials (or none were
    /// given), or accepted them but does not allow the request (Kubernetes
    /// RBAC: "forbidden").
    #[error("access denied: {message}")]
    Auth {
        /// Which credentials were refused and how to supply others.
        message: String,
    },
    /// A release, revision, chart or version does not exist.
    #[error("{message}")]
    NotFound {
        /// What was looked for and where.
        message: String,
    },
    /// The Kubernetes API server refused or failed the request.
    #[error("kubernetes: {message}")]
    Kube {
        /// The API server's answer.
        message: String,
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
    State {
        /// The path, the problem and the way out.
        message: String,
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

    /// Builds the error of `kind` with `message` (how replies from the Go shim
    /// become errors).
    ///
    /// ```
    /// use chainctl_core::{Error, ErrorKind};
    /// let err = Error::from_kind(ErrorKind::Timeout, "install of hello".into());
    /// assert_eq!(err.to_string(), "timed out: install of hello");
    /// ```
    pub fn from_kind(kind: ErrorKind, message: String) -> Error {
        match kind {
            ErrorKind::InvalidInput => Error::InvalidInput { message },
            ErrorKind::ConflictingSources => Error::ConflictingSources { message },
            ErrorKind::Registry => Error::Registry { message },
            ErrorKind::Auth => Error::Auth { message },
            ErrorKind::NotFound => Error::NotFound { message },
            ErrorKind::Kube => Error::Kube { message },
            ErrorKind::Timeout => Error::Timeout { message },
            ErrorKind::Cancelled => Error::Cancelled { message },
            ErrorKind::State => Error::State {
                message,
                source: None,
            },
            ErrorKind::Internal => Error::Internal { message },
        }
    }

    /// The message without the kind's prefix.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidInput { message }
            | Error::ConflictingSources { message }
            | Error::Registry { message }
            | Error::Auth { message }
            | Error::NotFound { message }
            | Error::Kube { message }
            | Error::Timeout { message }
            | Error::Cancelled { message }
            | Error::State { message, .. }
            | Error::Refused { message }
            | Error::NotRecorded { message, .. }
            | Error::Internal { message } => message,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidInput {
            message: message.into(),
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Error {
        Error::Internal {
            message: message.into(),
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
