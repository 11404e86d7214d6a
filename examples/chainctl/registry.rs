//! `chainctl registry login|logout`.

use std::io::{self, Write};

use chainctl_core::ErrorKind;
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
        let has_credentials = args.registry.username.is_some()
            && (args.registry.password_stdin
                || std::env::var_os("CHAINCTL_REGISTRY_PASSWORD").is_some_and(|p| !p.is_empty()));
        client.registry_login(&args.host).map_err(|err| {
            let mut failure = Failure::from(&err);
            if err.kind() == ErrorKind::InvalidInput && !has_credentials {
                failure.message = format!(
                    "{} (--username, and --password-stdin or CHAINCTL_REGISTRY_PASSWORD)",
                    failure.message
                );
            }
            failure
        })?
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
