//! `app uninstall`.

use chainctl_core::UninstallOptions;

use crate::client::connect;
use crate::confirm::run_approved;
use crate::exit::Failure;
use crate::flags::{Output, UninstallArgs, WaitArg};
use crate::output::print_release;
use crate::record::deployer;

/// `app uninstall`: asks (unless --confirm or --dry-run), uninstalls and
/// records it.
pub(crate) fn run(args: &UninstallArgs, output: Output) -> Result<(), Failure> {
    let (client, release) = connect(&args.common)?;
    let (wait, wait_strategy) = WaitArg::options(args.wait);
    let opts = UninstallOptions {
        keep_history: args.keep_history,
        wait,
        timeout: args.timeout,
        description: args.description.clone(),
        dry_run: args.dry_run,
        no_hooks: args.no_hooks,
        ignore_not_found: args.ignore_not_found,
        cascade: Some(args.cascade.clone()),
        wait_strategy,
    };
    let mut deployer = deployer(&args.common, client);
    let intent = format!("uninstall release {release}");
    let done = run_approved(args.confirm, args.dry_run, &intent, |approval| {
        deployer.uninstall(&release, &opts, approval)
    })?;
    let (action, record) = match args.dry_run {
        true => ("uninstall --dry-run", None),
        false => ("uninstall", Some(&done.record)),
    };
    print_release(output, action, &done.report.release, record)
}
