//! `app status`, and `app status --check` against the state file.

use std::io::{self, Write};

use chainctl_core::deployer::LEGACY_RECORD_NOTE;
use chainctl_core::state::{Action, ExecutionStateRecord};
use chainctl_core::{CheckOptions, Error, RegistryOptions, ReleaseInfo, ReleaseRef};
use serde_json::json;

use crate::client::{client, connect};
use crate::exit::{DRIFT, Failure};
use crate::flags::{CommonArgs, Output, StatusArgs};
use crate::output::print_release;
use crate::record::deployer;

/// `app status`: the release's current revision or the one asked for, and
/// how to get out of a pending one; `--check` compares it with the state file.
pub(crate) fn run(args: &StatusArgs, output: Output) -> Result<(), Failure> {
    if args.check {
        return check_status(&args.common, output);
    }
    let (client, release) = connect(&args.common)?;
    let info = match args.revision {
        Some(revision) => client.revision(&release, revision)?,
        None => client.status(&release)?,
    };
    // A pending revision blocks every further action: say how out.
    let pending = match info.status.is_pending() {
        true => client.pending(&release).ok().flatten(),
        false => None,
    };
    match (output, &pending) {
        (Output::Json, Some(pending)) => {
            let mut shown = json!(pending);
            shown["recovery"] = json!(crate::exit::recovery(pending));
            writeln!(
                io::stdout(),
                "{:#}",
                json!({ "action": "status", "release": info.with_secret_data_redacted()?, "pending": shown })
            )?
        }
        (_, pending) => {
            print_release(output, "status", &info, None)?;
            if let Some(pending) = pending {
                writeln!(
                    io::stdout(),
                    "stuck: {pending}: {}",
                    crate::exit::recovery(pending)
                )?;
            }
        }
    }
    Ok(())
}

/// `app status --check`: the release in the cluster against the current
/// record of it in the state file, which is read, never written or locked.
/// Prints the status and each difference; a difference exits 8.
pub(crate) fn check_status(common: &CommonArgs, output: Output) -> Result<(), Failure> {
    let release = ReleaseRef::new(&common.release, &common.namespace)?;
    let release = &release;
    // Read the release where it was recorded: the recorded driver, unless
    // --driver (or HELM_DRIVER) says otherwise.
    let options = CheckOptions::default().recorded_driver(common.driver.is_none());
    let client = client(common, RegistryOptions::default(), false, None)?;
    let check = (deployer(common, client).check(release, &options)).map_err(|err| match err {
        err @ Error::NotFound { .. } => {
            let mut failure = Failure::from(&err);
            failure.message = format!(
                "{} (pass --state-path or --state-file if the release was recorded in \
                 another file)",
                failure.message
            );
            failure
        }
        err => err.into(),
    })?;
    if check.legacy_record {
        eprintln!("chainctl: warning: {LEGACY_RECORD_NOTE}");
    }
    let state_file = check.state_path.display().to_string();
    let (record, cluster, differences) = (&check.record, &check.cluster, &check.differences);
    // The newest record, when a signal cancelled it: the differences are
    // that action's doing, not someone else's.
    let interrupted = check.interrupted.as_ref();
    let hint = (!check.matches()).then(|| match interrupted {
        Some(cancelled) => interrupted_hint(common, cancelled, record),
        None => {
            let mut hint = drift_hint(common, record, cluster.is_none());
            if check.may_be_another_key() {
                hint.push_str(
                    "; if nothing changed, the record was keyed with another values key \
                     (CHAINCTL_VALUES_KEY set then and not now, or the other way round): \
                     check as it was recorded",
                );
            }
            hint
        }
    });

    let mut out = io::stdout().lock();
    match output {
        Output::Json => writeln!(
            out,
            "{:#}",
            json!({
                "action": "status",
                "release": cluster.as_ref().map(ReleaseInfo::with_secret_data_redacted).transpose()?,
                "check": {
                    "matches": differences.is_empty(),
                    "stateFile": state_file,
                    "differences": differences,
                    "hint": hint,
                    "interrupted": interrupted,
                },
            })
        )?,
        Output::Text => {
            match &cluster {
                // Stdout's lock is reentrant: print_release takes it again.
                Some(info) => print_release(Output::Text, "status", info, None)?,
                None => writeln!(
                    out,
                    "release: {}\nnamespace: {}\nstatus: not in the cluster",
                    release.name(),
                    release.namespace()
                )?,
            }
            if differences.is_empty() {
                writeln!(out, "check: the cluster matches the record in {state_file}")?;
            } else {
                writeln!(
                    out,
                    "check: the cluster differs from the record in {state_file}:"
                )?;
                for difference in differences {
                    writeln!(out, "  {difference}")?;
                }
            }
            if let Some(hint) = &hint {
                writeln!(out, "hint: {hint}")?;
            }
        }
    }
    if differences.is_empty() {
        return Ok(());
    }
    Err(Failure {
        code: 8,
        kind: DRIFT,
        message: format!(
            "drift: {release} in the cluster does not match the state file {state_file} ({} {})",
            differences.len(),
            if differences.len() == 1 {
                "difference"
            } else {
                "differences"
            }
        ),
        io: None,
    })
}

/// What to do about drift: the commands that inspect it and that deploy
/// again what the state file records.
pub(crate) fn drift_hint(
    common: &CommonArgs,
    record: &ExecutionStateRecord,
    missing: bool,
) -> String {
    let target = format!("--release {} -n {}", common.release, common.namespace);
    let values = "with the values you used (the state file keeps only their digest)";
    if record.action == Action::Uninstall {
        // chainctl uninstalled it, and it is back.
        return format!(
            "the release was installed again outside chainctl after chainctl uninstalled it:              inspect it with `chainctl app history {target}`, and `chainctl app uninstall {target}`              removes it again"
        );
    }
    if missing {
        let context = match (&record.kube_context, &common.kube_context) {
            (Some(recorded), Some(now)) if recorded == now => String::new(),
            (Some(recorded), _) => format!(" (it records kube context {recorded})"),
            (None, Some(_)) => " (it records the kubeconfig's current context)".to_string(),
            (None, None) => String::new(),
        };
        return format!(
            "the release was uninstalled outside chainctl, or the record is of another \
             cluster{context}: run `chainctl app upgrade --install {target}` {values} to deploy \
             the recorded chart again"
        );
    }
    let rollback = record.helm_revision.map_or(String::new(), |revision| {
        format!("`chainctl app rollback {target} --revision {revision}` or ")
    });
    format!(
        "someone changed the release outside chainctl: run {rollback}`chainctl app upgrade \
         {target}` {values} to redeploy what is recorded, or inspect with `chainctl app history \
         {target}`"
    )
}

/// What to do after an interrupted action: it names the cancelled record
/// (action, start, the signal and what Helm left) and the commands that
/// deploy again or return to `compared`, the record checked against.
pub(crate) fn interrupted_hint(
    common: &CommonArgs,
    cancelled: &ExecutionStateRecord,
    compared: &ExecutionStateRecord,
) -> String {
    let target = format!("--release {} -n {}", common.release, common.namespace);
    let why = (cancelled.error.as_ref()).map_or("cancelled".to_string(), |e| e.message.clone());
    let rollback = match (compared.outcome, compared.helm_revision) {
        (chainctl_core::state::Outcome::Succeeded, Some(revision)) => format!(
            ", or `chainctl app rollback {target} --revision {revision}` to return to the \
             recorded revision"
        ),
        _ => String::new(),
    };
    format!(
        "the last action recorded, the {} started at {}, was interrupted: {why}. Nothing was \
         changed outside chainctl and no recovery is needed: run `chainctl app upgrade {target}` \
         with the values you used (the state file keeps only their digest) to deploy again\
         {rollback}",
        cancelled.action, cancelled.started_at
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::tests::parse;
    use crate::flags::{AppCommand, Command};
    use chainctl_core::state::Action;

    #[test]
    fn drift_hint_names_the_commands_that_repair_it() {
        let cli = parse(&["app", "status", "--release", "web", "-n", "prod", "--check"]).unwrap();
        let Command::App(AppCommand::Status(args)) = cli.command else {
            panic!()
        };
        let mut record = ExecutionStateRecord::new(Action::Upgrade, "web", "prod");
        record.helm_revision = Some(3);
        let hint = drift_hint(&args.common, &record, false);
        for part in [
            "outside chainctl",
            "`chainctl app rollback --release web -n prod --revision 3`",
            "`chainctl app upgrade --release web -n prod`",
            "`chainctl app history --release web -n prod`",
        ] {
            assert!(hint.contains(part), "{part:?} missing from {hint}");
        }
        record.kube_context = Some("staging".into());
        let hint = drift_hint(&args.common, &record, true);
        assert!(
            hint.contains("`chainctl app upgrade --install --release web -n prod`"),
            "{hint}"
        );
        assert!(hint.contains("it records kube context staging"), "{hint}");
    }

    #[test]
    fn the_hint_after_an_interrupted_upgrade_names_it_and_the_way_back() {
        let cli = parse(&["app", "status", "--release", "web", "-n", "prod", "--check"]).unwrap();
        let Command::App(AppCommand::Status(args)) = cli.command else {
            panic!()
        };
        let mut current = ExecutionStateRecord::new(Action::Install, "web", "prod");
        current.helm_revision = Some(1);
        current.finish_ok();
        let mut cancelled = ExecutionStateRecord::new(Action::Upgrade, "web", "prod");
        cancelled.finish_cancelled("SIGINT", None);
        let hint = interrupted_hint(&args.common, &cancelled, &current);
        for part in [
            &format!(
                "the upgrade started at {}, was interrupted",
                cancelled.started_at
            ),
            "cancelled by SIGINT: chainctl stopped the upgrade",
            "`chainctl app upgrade --release web -n prod`",
            "`chainctl app rollback --release web -n prod --revision 1`",
        ] {
            assert!(hint.contains(part), "{part:?} missing from {hint}");
        }
        assert!(!hint.contains("someone changed"), "{hint}");
    }
}
