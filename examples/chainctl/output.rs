//! Printing releases, histories and records.

use std::io::{self, Write};

use chainctl_core::ReleaseInfo;
use chainctl_core::state::ExecutionStateRecord;
use serde_json::json;

use crate::exit::Failure;
use crate::flags::Output;

/// One record on one line, for text output.
pub(crate) fn record_line(rec: &ExecutionStateRecord) -> String {
    let chart = rec
        .chart
        .as_ref()
        .map_or(String::new(), |c| format!(" {}-{}", c.name, c.version));
    let revision = rec
        .helm_revision
        .map_or(String::new(), |r| format!(" revision {r}"));
    let error = rec
        .error
        .as_ref()
        .map_or(String::new(), |e| format!(": {}", e.message));
    format!(
        "{} {} {}{chart}{revision} by {} ({} ms){error}",
        rec.finished_at,
        word(&rec.action),
        word(&rec.outcome),
        rec.operator,
        rec.duration_ms
    )
}

/// A unit enum as its JSON word (`install`, `succeeded`).
pub(crate) fn word(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(word)) => word,
        other => format!("{other:?}"),
    }
}

pub(crate) fn chart_line(rel: &ReleaseInfo) -> String {
    match &rel.chart.app_version {
        Some(app) => format!("{} {} (app {app})", rel.chart.name, rel.chart.version),
        None => format!("{} {}", rel.chart.name, rel.chart.version),
    }
}

pub(crate) fn print_release(
    output: Output,
    action: &str,
    rel: &ReleaseInfo,
    record: Option<&ExecutionStateRecord>,
) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match output {
        // As an install's: without the Secrets' data (`app get manifest`
        // prints it).
        Output::Json => match (record, rel.with_secret_data_redacted()?) {
            (Some(record), rel) => writeln!(
                out,
                "{:#}",
                json!({ "action": action, "release": rel, "record": record })
            )?,
            (None, rel) => writeln!(out, "{:#}", json!({ "action": action, "release": rel }))?,
        },
        Output::Text => {
            writeln!(out, "release: {}\nnamespace: {}", rel.name, rel.namespace)?;
            writeln!(out, "revision: {}\nstatus: {}", rel.revision, rel.status)?;
            writeln!(out, "chart: {}", chart_line(rel))?;
            if let Some(at) = &rel.last_deployed {
                writeln!(out, "last deployed: {at}")?;
            }
            if !rel.description.is_empty() {
                writeln!(out, "description: {}", rel.description)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn print_history(output: Output, revisions: &[ReleaseInfo]) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match output {
        Output::Json => writeln!(
            out,
            "{:#}",
            json!({ "action": "history", "revisions": revisions })
        )?,
        Output::Text => {
            writeln!(
                out,
                "{:<9} {:<21} {:<12} {:<24} DESCRIPTION",
                "REVISION", "UPDATED", "STATUS", "CHART"
            )?;
            for rel in revisions {
                writeln!(
                    out,
                    "{:<9} {:<21} {:<12} {:<24} {}",
                    rel.revision,
                    rel.last_deployed.as_deref().unwrap_or("-"),
                    rel.status,
                    rel.chart,
                    rel.description
                )?;
            }
        }
    }
    Ok(())
}
