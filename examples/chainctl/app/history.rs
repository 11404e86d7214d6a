//! `app history`.

use crate::client::connect;
use crate::exit::Failure;
use crate::flags::{HistoryArgs, Output};
use crate::output::print_history;

/// `app history`: the newest `--max` revisions, oldest first.
pub(crate) fn run(args: &HistoryArgs, output: Output) -> Result<(), Failure> {
    let (client, release) = connect(&args.common)?;
    print_history(output, &client.history_max(&release, args.max)?)
}
