//! The plan of a change, and asking on the terminal before it is made.

use std::io::{self, BufRead, IsTerminal};

use chainctl_core::{Error, ErrorKind, ReleaseInfo, ReleaseRef};

use crate::exit::{Failure, refused};

/// What a mutating command is about to do, shown on a terminal before it
/// asks.
pub(crate) struct Plan {
    /// The action, as a verb: `install`, `upgrade`, `roll back`, `uninstall`.
    pub(crate) verb: &'static str,
    pub(crate) release: ReleaseRef,
    /// The chart deployed now, or why that is not known.
    pub(crate) from: String,
    /// What the release will hold afterwards.
    pub(crate) to: String,
    /// Further lines (label, value): where the chart comes from and its
    /// digests. An empty label continues the line above.
    pub(crate) details: Vec<(&'static str, String)>,
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "chainctl will {} release {} in namespace {}",
            self.verb,
            self.release.name(),
            self.release.namespace()
        )?;
        let line = |f: &mut std::fmt::Formatter<'_>, label: &str, value: &str| {
            let label = if label.is_empty() {
                String::new()
            } else {
                format!("{label}:")
            };
            writeln!(f, "  {label:<10}{value}")
        };
        line(f, "chart", &format!("{} -> {}", self.from, self.to))?;
        for (label, value) in &self.details {
            line(f, label, value)?;
        }
        Ok(())
    }
}

/// A revision's chart, for a plan: `hello 0.1.0`.
pub(crate) fn chart_words(rel: &ReleaseInfo) -> String {
    format!("{} {}", rel.chart.name, rel.chart.version)
}

/// The release as it is now, for a plan's "from". A failed lookup shows
/// its reason: the plan informs, and Helm reports the real error later.
pub(crate) fn describe_current(current: &Result<ReleaseInfo, Error>) -> String {
    match current {
        Ok(rel) => format!(
            "{} (revision {}, {})",
            chart_words(rel),
            rel.revision,
            rel.status
        ),
        Err(err) if err.kind() == ErrorKind::NotFound => "not installed".to_string(),
        Err(err) => format!("unknown ({err})"),
    }
}

/// Asks on the terminal before a change, after showing the plan `gather`
/// builds. --confirm approves in advance; with no terminal to ask on, the
/// change is refused. Either way the plan is not gathered: those paths
/// cost nothing.
pub(crate) fn confirm(
    approved: bool,
    intent: &str,
    gather: impl FnOnce() -> Result<Plan, Failure>,
) -> Result<(), Failure> {
    if approved {
        return Ok(());
    }
    if !(io::stdin().is_terminal() && io::stderr().is_terminal()) {
        return Err(refused(format!(
            "refusing to {intent} without confirmation: there is no terminal to ask on; pass --confirm to approve"
        )));
    }
    let plan = gather()?;
    eprint!("{plan}Proceed? [y/N] ");
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
        Ok(())
    } else {
        Err(refused(format!(
            "did not {intent}: not confirmed (answer y to proceed, or pass --confirm)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_lines_up_its_labels_and_continues_lines() {
        let plan = Plan {
            verb: "upgrade",
            release: ReleaseRef::new("hello", "demo").unwrap(),
            from: "hello 0.1.0 (revision 2, deployed)".into(),
            to: "hello 0.2.0".into(),
            details: vec![
                ("source", "oci://r.example/charts/hello:0.2.0".into()),
                ("digest", "sha256:aa (manifest)".into()),
                ("", "sha256:bb (chart archive)".into()),
            ],
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
