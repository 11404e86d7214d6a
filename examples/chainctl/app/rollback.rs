//! `app rollback`.

use chainctl_core::RollbackOptions;

use crate::client::connect;
use crate::confirm::run_approved;
use crate::exit::Failure;
use crate::flags::{Output, RollbackArgs, WaitArg};
use crate::output::print_release;
use crate::record::deployer;

/// `app rollback`: asks (unless --confirm or --dry-run), rolls back and
/// records it.
pub(crate) fn run(args: &RollbackArgs, output: Output) -> Result<(), Failure> {
    let (client, release) = connect(&args.common)?;
    let target = args
        .revision
        .map_or("the previous revision".to_string(), |r| {
            format!("revision {r}")
        });
    let (wait, wait_strategy) = WaitArg::options(args.wait);
    let opts = RollbackOptions {
        revision: args.revision,
        wait,
        timeout: args.timeout,
        force: args.force,
        dry_run: args.dry_run,
        no_hooks: args.no_hooks,
        history_max: args.history_max,
        server_side: args.apply.server_side,
        force_conflicts: args.apply.force_conflicts,
        wait_strategy,
    };
    let mut deployer = deployer(&args.common, client);
    let intent = format!("roll back release {release} to {target}");
    let done = run_approved(args.confirm, args.dry_run, &intent, |approval| {
        deployer.rollback(&release, &opts, approval)
    })?;
    match args.dry_run {
        true => print_release(output, "rollback --dry-run", &done.report, None),
        false => print_release(output, "rollback", &done.report, Some(&done.record)),
    }
}
