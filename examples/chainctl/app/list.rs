//! `app list`.

use std::io::{self, Write};

use chainctl_core::{ListOptions, RegistryOptions};
use serde_json::json;

use crate::client::client;
use crate::exit::Failure;
use crate::flags::{ListArgs, Output};

/// `app list`: the releases, as helm list prints them.
pub(crate) fn run(args: &ListArgs, output: Output) -> Result<(), Failure> {
    let client = client(&args.common, RegistryOptions::default(), false, None)?;
    let opts = ListOptions {
        namespace: args.common.namespace.clone(),
        all_namespaces: args.all_namespaces,
        all: args.all,
        deployed: args.deployed,
        failed: args.failed,
        pending: args.pending,
        superseded: args.superseded,
        uninstalled: args.uninstalled,
        uninstalling: args.uninstalling,
        filter: args.filter.clone().unwrap_or_default(),
        selector: args.selector.clone().unwrap_or_default(),
        max: args.max,
        offset: args.offset,
        by_date: args.date,
        reverse: args.reverse,
    };
    let releases = client.list(&opts)?;
    let mut out = io::stdout().lock();
    match output {
        Output::Json => writeln!(out, "{:#}", json!(releases))?,
        Output::Text => {
            writeln!(
                out,
                "NAME\tNAMESPACE\tREVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION"
            )?;
            for r in &releases {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.name,
                    r.namespace,
                    r.revision,
                    r.last_deployed.as_deref().unwrap_or(""),
                    r.status,
                    r.chart,
                    r.chart.app_version.as_deref().unwrap_or("")
                )?;
            }
        }
    }
    Ok(())
}
