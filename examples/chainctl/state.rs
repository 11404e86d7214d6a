//! `chainctl state ...`: the state file's path, validation, import and
//! contents.

use std::io::{self, Read, Write};

use chainctl_core::state::{ExecutionStateRecord, Imported, StateFile, StateStoreOptions};
use chainctl_core::{Error, ErrorKind, ReleaseRef, StateStore};
use serde_json::json;

use crate::exit::{Failure, invalid_input};
use crate::flags::{Output, StateCommand, StateImportArgs};
use crate::output::record_line;
use crate::record::state_location;

/// `state path|validate|import|show`.
pub(crate) fn run(command: StateCommand, output: Output) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match command {
        StateCommand::Path(args) => {
            let location = state_location(&args.state_file, &args.state_path)?;
            match output {
                Output::Json => writeln!(
                    out,
                    "{:#}",
                    json!({ "path": location.path, "rule": location.rule.to_string() })
                )?,
                Output::Text => writeln!(
                    out,
                    "{} (chosen by {})",
                    location.path.display(),
                    location.rule
                )?,
            }
        }
        StateCommand::Validate(args) => {
            let path = match args.file {
                Some(file) => file,
                None => state_location(&args.state.state_file, &args.state.state_path)?.path,
            };
            let state = StateStore::load(&path)?;
            let (releases, records) = (state.releases.len(), state.record_count());
            match output {
                Output::Json => writeln!(
                    out,
                    "{:#}",
                    json!({ "path": path, "valid": true, "releases": releases, "records": records })
                )?,
                Output::Text => writeln!(
                    out,
                    "{} is valid: schema version {}, {releases} releases, {records} records",
                    path.display(),
                    state.schema_version
                )?,
            }
        }
        StateCommand::Import(args) => import_records(&args, output, &mut out)?,
        StateCommand::Show(args) => {
            let location = state_location(&args.state.state_file, &args.state.state_path)?;
            let state = match StateStore::load(&location.path) {
                Err(Error::NotFound { .. }) => StateFile::default(),
                other => other?,
            };
            match &args.release {
                Some(name) => {
                    ReleaseRef::new(name, &args.namespace)?;
                    let found: Vec<_> = (state.find(name, &args.namespace))
                        .filter(|(cluster, _)| {
                            args.cluster.is_none() || *cluster == args.cluster.as_deref()
                        })
                        .collect();
                    let (cluster, release) = match found.as_slice() {
                        [one] => *one,
                        [] => {
                            return Err(Failure::from(Error::from_kind(
                                ErrorKind::NotFound,
                                format!(
                                    "no record of {}/{name} in {}",
                                    args.namespace,
                                    location.path.display()
                                ),
                            )));
                        }
                        several => {
                            let ids: Vec<_> = several
                                .iter()
                                .map(|(c, _)| c.unwrap_or("(no cluster recorded)"))
                                .collect();
                            return Err(invalid_input(format!(
                                "{}/{name} is recorded for several clusters ({}): pass --cluster ID",
                                args.namespace,
                                ids.join(", ")
                            ))
                            .into());
                        }
                    };
                    let key = StateFile::key(cluster, name, &args.namespace);
                    match output {
                        Output::Json => {
                            let mut body = json!(release);
                            body["cluster"] = json!(cluster);
                            writeln!(out, "{body:#}")?
                        }
                        Output::Text => {
                            writeln!(out, "{key}")?;
                            match &release.current {
                                Some(rec) => writeln!(out, "current: {}", record_line(rec))?,
                                None => {
                                    writeln!(out, "current: none (uninstalled or never deployed)")?
                                }
                            }
                            writeln!(
                                out,
                                "history ({} records, oldest first):",
                                release.history.len()
                            )?;
                            for rec in &release.history {
                                writeln!(out, "  {}", record_line(rec))?;
                            }
                        }
                    }
                }
                None => match output {
                    Output::Json => writeln!(out, "{:#}", json!(state))?,
                    Output::Text => {
                        writeln!(
                            out,
                            "{} ({} releases)",
                            location.path.display(),
                            state.releases.len()
                        )?;
                        // Grouped by cluster: keys sort by it.
                        let mut shown_cluster = None;
                        for (key, release) in &state.releases {
                            let (cluster, name) = match key.matches('/').count() {
                                2 => key
                                    .split_once('/')
                                    .map_or((None, key.as_str()), |(c, n)| (Some(c), n)),
                                _ => (None, key.as_str()),
                            };
                            if shown_cluster != Some(cluster) {
                                let server = (release.history.last())
                                    .and_then(|r| r.cluster.as_ref())
                                    .and_then(|c| c.server.clone());
                                match (cluster, server) {
                                    (Some("rehearsal"), _) => {
                                        writeln!(out, "rehearsals (memory driver):")?
                                    }
                                    (Some(id), Some(server)) => {
                                        writeln!(out, "cluster {id} ({server}):")?
                                    }
                                    (Some(id), None) => writeln!(out, "cluster {id}:")?,
                                    (None, _) => writeln!(
                                        out,
                                        "no cluster recorded (before schema version 3):"
                                    )?,
                                }
                                shown_cluster = Some(cluster);
                            }
                            let current = release
                                .current
                                .as_ref()
                                .map_or("none".to_string(), record_line);
                            writeln!(out, "  {name}: {current}")?;
                        }
                    }
                },
            }
        }
    }
    Ok(())
}

/// `state import FILE|-`: the records in the file put back into the state
/// file, each under the lock.
pub(crate) fn import_records(
    args: &StateImportArgs,
    output: Output,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let (name, text) = read_import_input(&args.file)?;
    let records = records_in(&name, &text)?;
    let location = state_location(&args.state.state_file, &args.state.state_path)?;
    let mut store = StateStore::open_location(&location, StateStoreOptions::default())?;
    for warning in store.warnings() {
        say!("chainctl: warning: {warning}");
    }
    let path = store.path().display().to_string();
    let mut results = Vec::new();
    for record in records {
        let key = StateFile::record_key(&record);
        let what = format!(
            "the {} record of {} started at {}",
            record.action,
            chainctl_core::release_key(None, &record.namespace, &record.release),
            record.started_at
        );
        let imported = store.import(record)? == Imported::Added;
        if output == Output::Text {
            match imported {
                true => writeln!(out, "imported {what} into {path}")?,
                false => writeln!(out, "{path} holds {what} already: nothing changed")?,
            }
        }
        results.push(json!({ "key": key, "imported": imported }));
    }
    if output == Output::Json {
        writeln!(out, "{:#}", json!({ "path": path, "records": results }))?;
    }
    Ok(())
}

/// The most `state import` reads: a record is a few kilobytes, and a
/// saved stderr not much more.
pub(crate) const IMPORT_LIMIT: u64 = 16 << 20;

/// The text of FILE, or stdin for `-`, with the name to give in messages.
pub(crate) fn read_import_input(file: &std::path::Path) -> Result<(String, String), Failure> {
    let (name, reader): (String, Box<dyn Read>) = if file.as_os_str() == "-" {
        ("standard input".into(), Box::new(io::stdin()))
    } else {
        let opened = std::fs::File::open(file).map_err(|e| {
            Failure::from(invalid_input(format!(
                "cannot read {}: {e}",
                file.display()
            )))
        })?;
        (file.display().to_string(), Box::new(opened))
    };
    let mut bytes = Vec::new();
    reader
        .take(IMPORT_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::from(invalid_input(format!("cannot read {name}: {e}"))))?;
    if bytes.len() as u64 > IMPORT_LIMIT {
        return Err(invalid_input(format!(
            "{name} is larger than {} MiB: give the record chainctl printed, not another file",
            IMPORT_LIMIT >> 20
        ))
        .into());
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        Failure::from(invalid_input(format!(
            "{name} is not UTF-8 text: give the record chainctl printed"
        )))
    })?;
    Ok((name, text))
}

/// The records in what chainctl printed on exit 7, or why there are none,
/// with the input's name and the way out.
pub(crate) fn records_in(name: &str, text: &str) -> Result<Vec<ExecutionStateRecord>, Failure> {
    let records = ExecutionStateRecord::all_from_text(text).map_err(|err| {
        Failure::from(invalid_input(format!(
            "{name}: {}; nothing was imported",
            err.message()
        )))
    })?;
    if records.is_empty() {
        return Err(invalid_input(format!(
            "{name} holds no record: chainctl prints one, as a line of JSON after \
             \"the record is on the next line\", when it exits 7"
        ))
        .into());
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::keep_record_note;
    use chainctl_core::state::Action;

    #[test]
    fn records_are_found_in_a_saved_stderr() {
        let mut rec = ExecutionStateRecord::new(Action::Install, "web", "prod");
        rec.finish_ok();
        let line = serde_json::to_string(&rec).unwrap();
        let stderr = format!(
            "chainctl: could not write\nsecond line of a message\n{}\n{line}\nchainctl: the action succeeded\n",
            keep_record_note()
        );
        assert_eq!(records_in("err", &stderr).ok().unwrap(), vec![rec.clone()]);
        assert_eq!(
            records_in("err", &format!("  {line}\n")).ok().unwrap(),
            vec![rec]
        );
        let err = records_in(
            "err",
            &format!("chainctl: x\n{}\n", line.replace("\"web\"", "\"Web\"")),
        )
        .err()
        .unwrap();
        assert!(
            err.message
                .starts_with("err: line 2: not a record chainctl can import"),
            "{}",
            err.message
        );
        assert_eq!(err.code, 2);
    }
}
