//! `app get values|manifest|notes|hooks`.

use std::io::{self, Write};

use serde_json::json;

use crate::client::connect;
use crate::exit::Failure;
use crate::flags::{GetCommand, Output};

/// `app get values|manifest|notes|hooks`: what helm get prints, or JSON.
pub(crate) fn run(command: GetCommand, output: Output) -> Result<(), Failure> {
    let (args, values_all) = match &command {
        GetCommand::Values(a) => (&a.get, Some(a.all)),
        GetCommand::Manifest(a) | GetCommand::Notes(a) | GetCommand::Hooks(a) => (a, None),
    };
    let (client, release) = connect(&args.common)?;
    let json_output = output == Output::Json;
    let mut out = io::stdout().lock();
    if let Some(all) = values_all {
        let values = client.values(&release, args.revision, all)?;
        match json_output {
            true => writeln!(out, "{:#}", values.values)?,
            false => {
                let heading = if all {
                    "COMPUTED VALUES:"
                } else {
                    "USER-SUPPLIED VALUES:"
                };
                write!(out, "{heading}\n{}", values.yaml)?
            }
        }
        return Ok(());
    }
    let info = match args.revision {
        Some(revision) => client.revision(&release, revision)?,
        None => client.status(&release)?,
    };
    match (&command, json_output) {
        (GetCommand::Manifest(_), true) => {
            writeln!(out, "{:#}", json!({ "manifest": info.manifest }))?
        }
        (GetCommand::Manifest(_), false) => writeln!(out, "{}", info.manifest)?,
        (GetCommand::Notes(_), true) => writeln!(out, "{:#}", json!({ "notes": info.notes }))?,
        (GetCommand::Notes(_), false) if !info.notes.is_empty() => {
            writeln!(out, "NOTES:\n{}", info.notes)?
        }
        (GetCommand::Notes(_), false) => {}
        (GetCommand::Hooks(_), true) => writeln!(out, "{:#}", json!(info.hooks))?,
        (_, _) => {
            for hook in &info.hooks {
                writeln!(out, "---\n# Source: {}\n{}", hook.path, hook.manifest)?;
            }
        }
    }
    Ok(())
}
