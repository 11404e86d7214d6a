//! Approving a change: --confirm in advance, or the library's plan shown on
//! the terminal and a question; and the failures a deployer's action ends
//! with (refused: exit 10; succeeded but not recorded: exit 7).

use std::io::{self, BufRead, IsTerminal};

use chainctl_core::{Approval, Error};

use crate::exit::{Failure, refused, with_causes};
use crate::interrupts::interrupts;

/// How a change is approved: with --confirm in advance (no plan is built:
/// that path costs nothing); on a terminal by showing the plan and asking;
/// with no terminal to ask on, it is refused before anything is looked up.
/// A failure to read the answer is kept in `answer_error`.
fn approval<'a>(
    approved: bool,
    intent: &str,
    answer_error: &'a mut Option<io::Error>,
) -> Result<Approval<'a>, Failure> {
    if approved {
        return Ok(Approval::Given);
    }
    if !(io::stdin().is_terminal() && io::stderr().is_terminal()) {
        return Err(refused(format!(
            "refusing to {intent} without confirmation: there is no terminal to ask on; pass --confirm to approve"
        )));
    }
    Ok(Approval::ask(move |plan| {
        eprint!("{plan}Proceed? [y/N] ");
        let mut answer = String::new();
        match io::stdin().lock().read_line(&mut answer) {
            Ok(_) => matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"),
            Err(err) => {
                *answer_error = Some(err);
                false
            }
        }
    }))
}

/// Runs a deployer's action `act` with the approval the flags give (none
/// needed for a dry run, which changes nothing) and the signals handled
/// as [`Interrupts`](crate::interrupts::Interrupts) says; its error as
/// [`action_failure`] words it.
pub(crate) fn run_approved<T>(
    confirm: bool,
    dry_run: bool,
    intent: &str,
    act: impl FnOnce(Approval<'_>) -> Result<T, Error>,
) -> Result<T, Failure> {
    let mut answer_error = None;
    let approval = match dry_run {
        true => Approval::Given,
        false => approval(confirm, intent, &mut answer_error)?,
    };
    let returned = interrupts().until_returned();
    let result = act(approval);
    drop(returned);
    result.map_err(|err| action_failure(err, intent, answer_error.take()))
}

/// How a deployer's error ends chainctl: a refusal says what was not done
/// (exit 10; a failure to read the answer is that failure); an action that
/// succeeded without its record exits 7, the record printed above it.
fn action_failure(err: Error, intent: &str, answer_error: Option<io::Error>) -> Failure {
    match err {
        Error::Refused { .. } => match answer_error {
            Some(err) => err.into(),
            None => refused(format!(
                "did not {intent}: not confirmed (answer y to proceed, or pass --confirm)"
            )),
        },
        Error::NotRecorded { ref source, .. } => Failure {
            code: 7,
            kind: "state",
            message: format!(
                "{} ({}); the record is printed above",
                err.message(),
                match crate::exit::advice(source) {
                    Some(advice) => format!("{}; {advice}", with_causes(source.as_ref())),
                    None => with_causes(source.as_ref()),
                }
            ),
            io: None,
        },
        err => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use chainctl_core::state::Action;
    use chainctl_core::{Current, Plan, PlanChart, PlanSource, ReleaseRef, Target};

    #[test]
    fn a_plan_lines_up_its_labels_and_continues_lines() {
        let chart = |version: &str| PlanChart {
            name: "hello".into(),
            version: version.into(),
        };
        let plan = Plan {
            action: Action::Upgrade,
            release: ReleaseRef::new("hello", "demo").unwrap(),
            from: Current::Deployed {
                chart: chart("0.1.0"),
                revision: 2,
                status: chainctl_core::HelmStatus::Deployed,
            },
            to: Target::Chart(chart("0.2.0")),
            source: Some(PlanSource::Oci {
                reference: "oci://r.example/charts/hello:0.2.0".into(),
                manifest_digest: "sha256:aa".into(),
                chart_digest: "sha256:bb".into(),
                // Not shown: what the action deploys.
                pinned: chainctl_core::ChartSource::bundle(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/examples/charts/hello"
                ))
                .unwrap(),
            }),
        };
        assert_eq!(
            plan.to_string(),
            "chainctl will upgrade release hello in namespace demo\n\
             \x20 chart:    hello 0.1.0 (revision 2, deployed) -> hello 0.2.0\n\
             \x20 source:   oci://r.example/charts/hello:0.2.0\n\
             \x20 digest:   sha256:aa (manifest)\n\
             \x20           sha256:bb (chart archive)\n"
        );
    }
}
