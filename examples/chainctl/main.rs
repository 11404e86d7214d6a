//! `chainctl`: the command line over chainctl-core.
//!
//! The binary only binds flags onto the library's option types and calls the
//! library; every behaviour here is reachable from the library API.
//!
//! One module per command group (`app`, with one per command under app/;
//! `state`, `chart`, `registry`), the command line in `flags`, and what the
//! commands share: `client` (the Helm client the flags describe), `record`
//! (the state file), `confirm` (the plan and the question), `output`,
//! `exit` (the failure and its exit code) and `interrupts` (signals).
//!
//! Exit codes (stable):
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | Helm or the cluster failed the action (kube, internal) |
//! | 2 | bad usage or invalid input (flags, chart, values), conflicting sources |
//! | 3 | release, revision or chart not found |
//! | 4 | registry or authentication failure, or the cluster forbids the request (RBAC) |
//! | 5 | timed out or cancelled |
//! | 6 | the state file cannot be read, locked or written; a record to import is older than the newest one of its release |
//! | 7 | the action succeeded but its record could not be written (printed to stderr; `state import` puts it back) |
//! | 8 | drift: the cluster does not match the state file (`app status --check`) |
//! | 10 | refused: confirmation needed (no terminal and no --confirm) or declined |
//! | 129 | interrupted by SIGHUP: the running action was cancelled and recorded |
//! | 130 | interrupted by SIGINT (Ctrl-C): the running action was cancelled and recorded |
//! | 143 | interrupted by SIGTERM: the running action was cancelled and recorded |

// Declared before the modules so that they can use it.
/// `eprintln!` without its panic when stderr is gone (a closed terminal,
/// which is what SIGHUP says): on the way out after a signal, and for a
/// record that must not be lost, a failed write must not stop chainctl.
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = writeln!(::std::io::stderr(), $($arg)*);
    }};
}

mod app;
mod chart;
mod client;
mod confirm;
mod exit;
mod flags;
mod interrupts;
mod output;
mod record;
mod registry;
mod state;

use std::process::ExitCode;

use chainctl_core::{Client, ErrorKind};
use clap::{CommandFactory, FromArgMatches};

use crate::exit::Failure;
use crate::flags::{Cli, Command};
use crate::interrupts::{catch_interrupts, interrupts};

fn main() -> ExitCode {
    if let Err(err) = catch_interrupts() {
        say!(
            "chainctl: warning: signals cannot be caught, so an interrupted action will not be recorded: {err}"
        );
    }
    // The long version asks the Go shim for Helm's and Go's versions: build
    // it only when the arguments may ask for it, not on every start.
    let wants_version = std::env::args_os()
        .skip(1)
        .any(|arg| arg == "--version" || arg == "-V");
    let version: &'static str = match wants_version {
        true => long_version().leak(),
        false => env!("CARGO_PKG_VERSION"),
    };
    let matches = Cli::command().version(version).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let output = cli.output;
    let takes_timeout = takes_timeout(&matches);
    let result = run(cli).map_err(|mut failure| {
        // The library says the deadline passed; the flag that moves it is
        // this command's.
        if failure.kind == ErrorKind::Timeout.as_str() && takes_timeout {
            failure.message = format!("{}; allow more time with --timeout", failure.message);
        }
        failure
    });
    exit::exit_code(result, output, interrupts().received())
}

/// Whether the command given has a --timeout flag.
fn takes_timeout(matches: &clap::ArgMatches) -> bool {
    let mut m = matches;
    while let Some((_, sub)) = m.subcommand() {
        m = sub;
    }
    m.try_contains_id("timeout").unwrap_or(false)
}

fn long_version() -> String {
    match Client::shim_version() {
        Ok(v) => format!("{} (helm {}, {})", env!("CARGO_PKG_VERSION"), v.helm, v.go),
        Err(_) => env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// Runs the command the arguments name: each command group has a module.
fn run(mut cli: Cli) -> Result<(), Failure> {
    if let Some(common) = cli.command.records() {
        record::read_ahead(common);
    }
    if let Some(common) = cli.command.common_mut() {
        client::resolve_kube(common)?;
    }
    let output = cli.output;
    match cli.command {
        Command::App(app) => app::run(app, output),
        Command::State(state) => state::run(state, output),
        Command::Chart(chart) => chart::run(chart, output),
        Command::Registry(registry) => registry::run(registry, output),
    }
}
