//! `app rollback`.

use chainctl_core::state::{Action, ExecutionStateRecord};
use chainctl_core::{Client, ErrorKind, ReleaseRef, RollbackOptions};

use crate::client::connect;
use crate::confirm::{Plan, chart_words, confirm, describe_current};
use crate::exit::Failure;
use crate::flags::{Output, RollbackArgs};
use crate::interrupts::interrupts;
use crate::output::print_release;
use crate::record::{note_interrupted, open_store, save, stamp};

/// `app rollback`: asks (unless --confirm), rolls back and records it.
pub(crate) fn run(args: &RollbackArgs, output: Output) -> Result<(), Failure> {
    let (client, release) = connect(&args.common)?;
    let target = args
        .revision
        .map_or("the previous revision".to_string(), |r| {
            format!("revision {r}")
        });
    let opts = RollbackOptions {
        revision: args.revision,
        wait: args.wait,
        timeout: args.timeout,
        force: args.force,
        dry_run: args.dry_run,
        no_hooks: args.no_hooks,
        history_max: args.history_max,
    };
    if args.dry_run {
        let info = client.rollback(&release, &opts)?;
        return print_release(output, "rollback --dry-run", &info, None);
    }
    confirm(
        args.confirm,
        &format!("roll back release {release} to {target}"),
        || Ok(rollback_plan(&client, &release, args.revision)),
    )?;
    let mut store = open_store(&args.common)?;
    let client = client.with_values_key(store.values_key()?);
    let mut record = ExecutionStateRecord::for_release(Action::Rollback, &release);
    stamp(&mut record, &args.common, &client);
    let in_flight = interrupts().in_flight();
    let result = client.rollback(&release, &opts);
    match &result {
        Ok(info) => record.finish_with_release(info),
        Err(err) => {
            record.finish_err(err);
            note_interrupted(&mut record, &client, &release);
        }
    }
    save(&mut store, &record, result.as_ref().err())?;
    drop(in_flight);
    print_release(output, "rollback", &result?, Some(&record))
}

/// The plan of a rollback: from the current revision to the target's chart.
pub(crate) fn rollback_plan(client: &Client, release: &ReleaseRef, revision: Option<u32>) -> Plan {
    let current = client.status(release);
    // Helm rolls back to the revision before the last one by default.
    let target = revision.or_else(|| {
        current
            .as_ref()
            .ok()
            .map(|rel| rel.revision.saturating_sub(1))
    });
    let wanted = target.map_or("the previous revision".to_string(), |n| {
        format!("revision {n}")
    });
    let history = match client.history(release) {
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        other => other,
    };
    let to = match (history, target) {
        (Ok(revisions), Some(n)) => match revisions.iter().find(|rel| rel.revision == n) {
            Some(rel) => format!("{} ({wanted})", chart_words(rel)),
            None => format!("{wanted}, which is not in the history"),
        },
        (Ok(_), None) => wanted,
        (Err(err), _) => format!("{wanted} (unknown: {err})"),
    };
    Plan {
        verb: "roll back",
        release: release.clone(),
        from: describe_current(&current),
        to,
        details: Vec::new(),
    }
}
