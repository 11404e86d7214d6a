//! `chainctl chart pull|versions`.

use std::io::{self, Write};

use chainctl_core::{ChartSource, OciReference};
use serde_json::json;

use crate::exit::Failure;
use crate::flags::{ChartCommand, Output};

/// `chart pull|versions`.
pub(crate) fn run(command: ChartCommand, output: Output) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match command {
        ChartCommand::Pull(args) => {
            let source = ChartSource::oci(&args.reference, args.version.as_deref())?;
            let pulled = args.registry.client(args.timeout)?.pull(&source)?;
            match output {
                Output::Json => writeln!(out, "{:#}", json!(pulled))?,
                Output::Text => {
                    writeln!(out, "reference: {}", pulled.reference)?;
                    writeln!(out, "version: {}", pulled.version)?;
                    writeln!(out, "manifest digest: {}", pulled.manifest_digest)?;
                    writeln!(out, "chart digest: {}", pulled.chart_digest)?;
                    let from = if pulled.cached {
                        " (from the cache)"
                    } else {
                        ""
                    };
                    writeln!(out, "path: {}{from}", pulled.path.display())?;
                }
            }
        }
        ChartCommand::Versions(args) => {
            let reference: OciReference = args.reference.parse()?;
            let versions = args.registry.client(args.timeout)?.versions(&reference)?;
            match output {
                Output::Json => writeln!(
                    out,
                    "{:#}",
                    json!({ "reference": args.reference, "versions": versions })
                )?,
                Output::Text => {
                    for version in versions {
                        writeln!(out, "{version}")?;
                    }
                }
            }
        }
    }
    Ok(())
}
