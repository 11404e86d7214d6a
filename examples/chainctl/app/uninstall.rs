//! `app uninstall`.

use chainctl_core::state::{Action, ExecutionStateRecord};
use chainctl_core::{Client, ReleaseRef, UninstallOptions};

use crate::client::connect;
use crate::confirm::{Plan, confirm, describe_current};
use crate::exit::Failure;
use crate::flags::{Output, UninstallArgs};
use crate::interrupts::interrupts;
use crate::output::print_release;
use crate::record::{note_interrupted, open_store, save, stamp};

/// `app uninstall`: asks (unless --confirm), uninstalls and records it.
pub(crate) fn run(args: &UninstallArgs, output: Output) -> Result<(), Failure> {
    let (client, release) = connect(&args.common)?;
    let opts = UninstallOptions {
        keep_history: args.keep_history,
        wait: args.wait,
        timeout: args.timeout,
        description: args.description.clone(),
        dry_run: args.dry_run,
        no_hooks: args.no_hooks,
        ignore_not_found: args.ignore_not_found,
        cascade: Some(args.cascade.clone()),
    };
    if args.dry_run {
        let report = client.uninstall(&release, &opts)?;
        return print_release(output, "uninstall --dry-run", &report.release, None);
    }
    confirm(
        args.confirm,
        &format!("uninstall release {release}"),
        || Ok(uninstall_plan(&client, &release, args.keep_history)),
    )?;
    let mut store = open_store(&args.common)?;
    let mut record = ExecutionStateRecord::for_release(Action::Uninstall, &release);
    stamp(&mut record, &args.common, &client);
    let in_flight = interrupts().in_flight();
    let result = client.uninstall(&release, &opts);
    match &result {
        Ok(report) => {
            record.finish_with_release(&report.release);
            record.helm_status = Some(chainctl_core::HelmStatus::Uninstalled);
        }
        Err(err) => {
            record.finish_err(err);
            note_interrupted(&mut record, &client, &release);
        }
    }
    save(&mut store, &record, result.as_ref().err())?;
    drop(in_flight);
    print_release(output, "uninstall", &result?.release, Some(&record))
}

/// The plan of an uninstall.
pub(crate) fn uninstall_plan(client: &Client, release: &ReleaseRef, keep_history: bool) -> Plan {
    let to = if keep_history {
        "removed, history kept"
    } else {
        "removed"
    };
    Plan {
        verb: "uninstall",
        release: release.clone(),
        from: describe_current(&client.status(release)),
        to: to.to_string(),
        details: Vec::new(),
    }
}
