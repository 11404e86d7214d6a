//! Exit codes: the failure that ends a run, the code of each library error
//! and how a failure is reported.

use std::io::{self, Write};
use std::process::ExitCode;

use chainctl_core::{
    Denied, Error, ErrorKind, Input, Missing, PendingRelease, RegistryFailure, StateProblem,
};
use serde_json::json;

use crate::flags::Output;

pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0   success
  1   Helm or the cluster failed the action
  2   bad usage or invalid input (flags, chart, values), conflicting sources
  3   release, revision or chart not found
  4   registry or authentication failure, or the cluster forbids the
      request (RBAC)
  5   timed out or cancelled
  6   the state file cannot be read, locked or written; a record to import
      is older than the newest one of its release
  7   the action succeeded but its record could not be written (the record
      is printed to stderr as a line of JSON: `chainctl state import`
      puts it back)
  8   drift: the cluster does not match the state file (app status --check)
  10  refused: confirmation needed (no terminal and no --confirm) or declined
  129 interrupted by SIGHUP, 130 by SIGINT (Ctrl-C), 143 by SIGTERM: the
      running install, upgrade, rollback or uninstall is cancelled, Helm
      marks the release failed and the record says cancelled; a second
      signal exits at once. Other commands exit at once.";

/// A failure that ends the program: what to print and the exit code.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    /// The kind of the I/O error that caused it, if one did: a broken pipe
    /// (the reader of stdout went away, as `chainctl ... | head` does) is
    /// not a failure.
    pub(crate) io: Option<io::ErrorKind>,
}

impl From<&Error> for Failure {
    fn from(err: &Error) -> Self {
        let code = match err.kind() {
            ErrorKind::InvalidInput | ErrorKind::ConflictingSources => 2,
            ErrorKind::NotFound => 3,
            ErrorKind::Registry | ErrorKind::Auth => 4,
            ErrorKind::Timeout | ErrorKind::Cancelled => 5,
            ErrorKind::State => 6,
            _ => 1,
        };
        let mut message = with_causes(err);
        if let Some(advice) = advice(err) {
            message = append_advice(message, &advice);
        }
        Failure {
            code,
            kind: err.kind().as_str(),
            message,
            io: None,
        }
    }
}

/// `message` followed by `advice`: after a clause, as one more; after a
/// sentence, as a sentence of its own.
fn append_advice(message: String, advice: &str) -> String {
    if !message.ends_with('.') {
        return format!("{message}; {advice}");
    }
    let mut chars = advice.chars();
    let first = chars
        .next()
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_default();
    format!("{message} {first}{}.", chars.as_str())
}

/// What to do about `err`, in chainctl's flags and commands: the library
/// reports the facts (which host refused, which verb RBAC denied, what the
/// offline cache lacks, which input was wrong), the CLI says which of its
/// flags help.
pub(crate) fn advice(err: &Error) -> Option<String> {
    if let Some(input) = err.invalid_input() {
        return input_advice(input).map(str::to_string);
    }
    if let Some(problem) = err.state_problem() {
        return state_advice(problem, err.path());
    }
    Some(match err {
        Error::ConflictingSources { .. } => {
            "pass exactly one of --bundle PATH or --chart oci://REGISTRY/PATH/CHART".to_string()
        }
        Error::Auth {
            denied: Denied::Registry { host },
            ..
        } => format!(
            "log in with `chainctl registry login {host}` or pass --username and --password-stdin"
        ),
        Error::Auth {
            denied: Denied::Forbidden { .. },
            ..
        } => "ask an administrator for a Role that grants it, or use a --kube-context that has it"
            .to_string(),
        Error::Auth {
            denied: Denied::Unauthorized,
            ..
        } => "check the credentials in your kubeconfig (or --kube-token)".to_string(),
        Error::NotFound {
            missing: Missing::Cached { .. },
            ..
        } => "--offline forbids the network: pull it once online (chainctl chart pull)".to_string(),
        Error::NotFound {
            missing: Missing::DeployedRevision { .. },
            ..
        } => "install it first, or upgrade with --install".to_string(),
        Error::Kube {
            pending: Some(pending),
            ..
        } => recovery(pending),
        Error::Registry {
            failure: RegistryFailure::TlsVerify { ca_file: Some(_) },
            ..
        } => "or pass --insecure-skip-tls-verify to skip verification".to_string(),
        Error::Registry {
            failure: RegistryFailure::TlsVerify { ca_file: None },
            ..
        } => {
            "pass --ca-file with the CA that signed its certificate, or --insecure-skip-tls-verify \
              to skip verification"
                .to_string()
        }
        Error::Registry {
            failure: RegistryFailure::PlainHttp,
            ..
        } => "pass --plain-http".to_string(),
        Error::Registry {
            failure: RegistryFailure::ChartTooLarge { .. },
            ..
        } => "raise the ceiling with --max-chart-size if the chart is meant to be this large"
            .to_string(),
        _ => return None,
    })
}

/// Whether chainctl-core was built against Helm 4 (its `helm-v4` feature,
/// which this example's build shares).
const HELM_4: bool = cfg!(feature = "helm-v4");

/// The flag that sets a library input, and what to do with it.
fn input_advice(input: Input) -> Option<&'static str> {
    Some(match input {
        Input::Kubeconfig => "pass --kubeconfig PATH or set KUBECONFIG",
        Input::ChartSource => "pass --bundle PATH or --chart oci://REGISTRY/PATH/CHART",
        Input::Bundle => "point --bundle at a chart directory or a packaged .tgz",
        Input::Version => {
            "--version goes with --chart only, and must agree with the reference's tag: drop \
             it or fix it"
        }
        Input::Offline => "--offline needs a tag, an exact --version or a digest",
        Input::ValuesFile => "pipe the values to -f - instead",
        Input::ReuseValues => "pass --reuse-values or --reset-values, not both",
        Input::DependencyUpdate => "or pass --dependency-update",
        Input::ListFilter => "--filter takes a regular expression",
        Input::RegistryConfig => "fix it, move it aside, or pass another with --registry-config",
        Input::ClientCertificate => "pass both --cert-file and --key-file",
        // The Helm 3 build refuses what only Helm 4 does; on the Helm 4
        // build these are Helm's own errors, and its message says why.
        Input::ServerSide if !HELM_4 => {
            "Helm 3 applies client-side only: drop --server-side (or pass --server-side=false), \
             or use a chainctl built with --features helm-v4"
        }
        Input::ForceConflicts if !HELM_4 => {
            "--force-conflicts needs server-side apply: use a chainctl built with --features \
             helm-v4, or drop it"
        }
        Input::WaitStrategy if !HELM_4 => {
            "Helm 3 waits one way: pass --wait or --wait=legacy, or use a chainctl built with \
             --features helm-v4 for --wait=watcher and --wait=hookOnly"
        }
        _ => return None,
    })
}

/// What to do about a state file (or a change to it) the library refused.
fn state_advice(problem: &StateProblem, path: Option<&std::path::Path>) -> Option<String> {
    let path = path.map(|p| p.display().to_string()).unwrap_or_default();
    Some(match problem {
        StateProblem::NotAFile => "point --state-path at a file".to_string(),
        StateProblem::Symlink => format!("--state-path {path} names it explicitly"),
        StateProblem::Newer => "--state-path picks a separate state file".to_string(),
        StateProblem::Invalid => format!("`chainctl state validate {path}` shows the problem"),
        StateProblem::OutOfOrder { release, namespace } => {
            format!(
                "`chainctl state show --release {release} -n {namespace}` shows what is recorded"
            )
        }
        _ => return None,
    })
}

/// The error and its chain of causes, as ripgrep prints them: the OS's
/// reason (ENOSPC, EROFS, ELOOP...) is in the source, not the message.
pub(crate) fn with_causes(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message = format!("{message}: {cause_text}");
        }
        source = cause.source();
    }
    message
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::from(&err)
    }
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        Failure {
            code: 1,
            kind: "io",
            message: format!("cannot write output: {err}"),
            io: Some(err.kind()),
        }
    }
}

/// The chainctl command that recovers a release stuck pending: a rollback
/// to its last deployed revision, or an uninstall when it has none.
pub(crate) fn recovery(p: &PendingRelease) -> String {
    match p.rollback_to {
        Some(to) => format!(
            "chainctl app rollback --release {} -n {} --revision {to}",
            p.release, p.namespace
        ),
        None => format!(
            "chainctl app uninstall --release {} -n {}",
            p.release, p.namespace
        ),
    }
}

/// The kind of the failure `app status --check` ends with when the cluster
/// differs from the state file (exit code 8).
pub(crate) const DRIFT: &str = "drift";

/// A change not made for want of confirmation (exit 10).
pub(crate) fn refused(message: String) -> Failure {
    Failure {
        code: 10,
        kind: "refused",
        message,
        io: None,
    }
}

/// A library error saying the input is invalid (exit 2).
pub(crate) fn invalid_input(message: String) -> Error {
    Error::from_kind(ErrorKind::InvalidInput, message)
}

/// The exit code of a run, after reporting its failure once: on stderr as
/// `chainctl: <message>`, and with -o json on stdout too. A broken pipe
/// exits quietly; after a signal the code is the signal's.
pub(crate) fn exit_code(
    result: Result<(), Failure>,
    output: Output,
    interrupted: Option<(&'static str, u8)>,
) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.io == Some(io::ErrorKind::BrokenPipe) => ExitCode::SUCCESS,
        Err(failure) => {
            // A drift report is on stdout already.
            if output == Output::Json && failure.kind != DRIFT {
                let body = json!({ "error": { "kind": failure.kind, "message": failure.message } });
                let _ = writeln!(io::stdout(), "{body:#}");
            }
            let _ = writeln!(io::stderr(), "chainctl: {}", failure.message);
            match interrupted {
                Some((_, code)) => ExitCode::from(code),
                None => ExitCode::from(failure.code),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupts::INTERRUPTS;

    #[test]
    fn signal_exit_codes_are_documented_in_the_help_the_module_and_the_readme() {
        let module_doc = include_str!("main.rs");
        let readme = include_str!("../../README.md");
        for (signal, name) in INTERRUPTS {
            let code = 128 + signal;
            assert!(
                EXIT_CODES.contains(&format!("{code} by {name}"))
                    || EXIT_CODES.contains(&format!("{code} interrupted by {name}")),
                "{code}"
            );
            assert!(
                module_doc.contains(&format!("//! | {code} | interrupted by {name}")),
                "{code}"
            );
            assert!(
                readme.contains(&format!("| {code} | interrupted by {name}")),
                "{code}"
            );
        }
        assert_eq!(INTERRUPTS.map(|(s, _)| 128 + s), [130, 143, 129]);
    }

    #[test]
    fn advice_follows_a_clause_or_a_sentence() {
        assert_eq!(append_advice("bad".into(), "pass --x"), "bad; pass --x");
        assert_eq!(
            append_advice(
                "Nothing was changed.".into(),
                "`chainctl state show` shows it"
            ),
            "Nothing was changed. `chainctl state show` shows it."
        );
        assert_eq!(
            append_advice("It is.".into(), "point --x at it"),
            "It is. Point --x at it."
        );
    }

    #[test]
    fn exit_code_8_is_documented() {
        assert!(EXIT_CODES.contains("\n  8   drift: the cluster does not match the state file"));
        let module_doc = include_str!("main.rs");
        assert!(module_doc.contains("//! | 8 | drift: the cluster does not match the state file"));
    }
}
