//! `chainctl registry login|logout`.

use std::io::{self, Write};

use serde_json::json;

use crate::exit::Failure;
use crate::flags::{Output, RegistryCommand};

/// `registry login|logout`.
pub(crate) fn run(command: RegistryCommand, output: Output) -> Result<(), Failure> {
    let (login, args) = match command {
        RegistryCommand::Login(args) => (true, args),
        RegistryCommand::Logout(args) => (false, args),
    };
    let client = args
        .registry
        .client(chainctl_core::DEFAULT_NETWORK_TIMEOUT)?;
    let file = if login {
        client.registry_login(&args.host)?
    } else {
        client.registry_logout(&args.host)?
    };
    let mut out = io::stdout().lock();
    let what = if login {
        "logged in to"
    } else {
        "logged out of"
    };
    match output {
        Output::Json => writeln!(
            out,
            "{:#}",
            json!({ "host": args.host, "loggedIn": login, "configFile": file })
        )?,
        Output::Text => writeln!(
            out,
            "{what} {} (credentials in {})",
            args.host,
            file.display()
        )?,
    }
    Ok(())
}
