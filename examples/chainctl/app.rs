//! `chainctl app ...`: one module per command, as Helm's cmd/helm has one
//! file per command.

mod deploy;
mod get;
mod history;
mod list;
mod rollback;
mod status;
mod uninstall;

use chainctl_core::state::Action;

use crate::exit::Failure;
use crate::flags::{AppCommand, Output};

pub(crate) fn run(command: AppCommand, output: Output) -> Result<(), Failure> {
    match command {
        AppCommand::Install(args) => deploy::run(Action::Install, &args, false, output, |o| o),
        AppCommand::Upgrade(args) => {
            deploy::run(Action::Upgrade, &args.chart, args.locked, output, |o| {
                o.install_if_missing(args.install)
                    .reuse_values(args.reuse_values)
                    .reset_values(args.reset_values)
                    .reset_then_reuse_values(args.reset_then_reuse_values)
                    .history_max(args.history_max)
                    .cleanup_on_fail(args.cleanup_on_fail)
            })
        }
        AppCommand::Status(args) => status::run(&args, output),
        AppCommand::List(args) => list::run(&args, output),
        AppCommand::Get(command) => get::run(command, output),
        AppCommand::History(args) => history::run(&args, output),
        AppCommand::Rollback(args) => rollback::run(&args, output),
        AppCommand::Uninstall(args) => uninstall::run(&args, output),
    }
}
