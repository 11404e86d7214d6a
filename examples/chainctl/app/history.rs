//! `app history`.

use crate::client::connect;
use crate::exit::Failure;
use crate::flags::{HistoryArgs, Output};
use crate::output::print_history;

/// `app history`: the newest `--max` revisions, oldest first.
pub(crate) fn run(args: &HistoryArgs, output: Output) -> Result<(), Failure> {
    let (client, release) = connect(&args.common)?;
    let mut revisions = client.history(&release)?;
    let keep = revisions.len().saturating_sub(args.max as usize);
    revisions.drain(..keep);
    print_history(output, &revisions)
}
