//! What an action is about to do ([`Plan`]), and its approval.

use std::fmt;
use std::path::PathBuf;

use crate::state::Action;
use crate::{ChartSource, ErrorKind, HelmStatus, ReleaseInfo, ReleaseRef, Result};

/// What a mutating action is about to do: data to show before approving
/// it, and with [`Display`](fmt::Display) the lines chainctl shows.
///
/// ```
/// use chainctl_core::{Current, Plan, PlanChart, ReleaseRef, Target};
/// use chainctl_core::state::Action;
/// let plan = Plan {
///     action: Action::Uninstall,
///     release: ReleaseRef::new("hello", "demo").unwrap(),
///     from: Current::NotInstalled,
///     to: Target::Removed { keep_history: true },
///     source: None,
/// };
/// assert_eq!(
///     plan.to_string(),
///     "chainctl will uninstall release hello in namespace demo\n  chart:    not installed -> removed, history kept\n"
/// );
/// # let _ = PlanChart { name: "hello".into(), version: "0.1.0".into() };
/// ```
#[derive(Debug, Clone)]
pub struct Plan {
    /// The action (an upgrade that will install says install).
    pub action: Action,
    /// The release it acts on.
    pub release: ReleaseRef,
    /// The release as it is now.
    pub from: Current,
    /// What the release will hold afterwards.
    pub to: Target,
    /// For an install or upgrade: where the chart comes from, and its
    /// digests.
    pub source: Option<PlanSource>,
}

/// A chart's name and version, as a plan shows it: `hello 0.1.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChart {
    /// The chart's name.
    pub name: String,
    /// Its version.
    pub version: String,
}

impl fmt::Display for PlanChart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

impl PlanChart {
    pub(super) fn of(rel: &ReleaseInfo) -> PlanChart {
        PlanChart {
            name: rel.chart.name.clone(),
            version: rel.chart.version.clone(),
        }
    }
}

/// The release before a planned action.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Current {
    /// There is no such release.
    NotInstalled,
    /// Its current revision.
    Deployed {
        /// The chart it runs.
        chart: PlanChart,
        /// Its revision.
        revision: u32,
        /// Helm's status of it.
        status: HelmStatus,
    },
    /// The lookup failed (the plan informs; the action reports the real
    /// error): why.
    Unknown(String),
}

impl Current {
    pub(super) fn of(current: &Result<ReleaseInfo>) -> Current {
        match current {
            Ok(rel) => Current::Deployed {
                chart: PlanChart::of(rel),
                revision: rel.revision,
                status: rel.status.clone(),
            },
            Err(err) if err.kind() == ErrorKind::NotFound => Current::NotInstalled,
            Err(err) => Current::Unknown(err.to_string()),
        }
    }
}

impl fmt::Display for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Current::NotInstalled => f.write_str("not installed"),
            Current::Deployed {
                chart,
                revision,
                status,
            } => write!(f, "{chart} (revision {revision}, {status})"),
            Current::Unknown(why) => write!(f, "unknown ({why})"),
        }
    }
}

/// The release after a planned action.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Target {
    /// An install or upgrade: this chart.
    Chart(PlanChart),
    /// A rollback to `revision` (`None`: the previous one, when the current
    /// revision is not known).
    Revision {
        /// The revision rolled back to.
        revision: Option<u32>,
        /// What the history says of it; `None` when no revision is known to
        /// look up.
        chart: Option<RevisionChart>,
    },
    /// An uninstall.
    Removed {
        /// Whether Helm keeps the release's history.
        keep_history: bool,
    },
}

/// What the history says of a rollback's target.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RevisionChart {
    /// Its chart.
    Found(PlanChart),
    /// The history has no such revision.
    NotInHistory,
    /// The history could not be read: why.
    Unknown(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Chart(chart) => chart.fmt(f),
            Target::Revision { revision, chart } => {
                let wanted = revision.map_or("the previous revision".to_string(), |n| {
                    format!("revision {n}")
                });
                match chart {
                    None => f.write_str(&wanted),
                    Some(RevisionChart::Found(chart)) => write!(f, "{chart} ({wanted})"),
                    Some(RevisionChart::NotInHistory) => {
                        write!(f, "{wanted}, which is not in the history")
                    }
                    Some(RevisionChart::Unknown(why)) => write!(f, "{wanted} (unknown: {why})"),
                }
            }
            Target::Removed { keep_history: true } => f.write_str("removed, history kept"),
            Target::Removed {
                keep_history: false,
            } => f.write_str("removed"),
        }
    }
}

/// Where a planned chart comes from, and its digests.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PlanSource {
    /// An OCI chart, pulled for the plan.
    Oci {
        /// The reference shown: as pulled, without the digest.
        reference: String,
        /// The manifest digest the plan pulled.
        manifest_digest: String,
        /// The chart archive's digest.
        chart_digest: String,
        /// The source pinned to `manifest_digest`: what the action deploys,
        /// even if the tag moves meanwhile.
        pinned: ChartSource,
    },
    /// A local bundle (directory or archive).
    Bundle {
        /// Its path.
        path: PathBuf,
        /// The digest of its content.
        content_digest: String,
    },
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.action {
            Action::Install => "install",
            Action::Upgrade => "upgrade",
            Action::Rollback => "roll back",
            Action::Uninstall => "uninstall",
        };
        writeln!(
            f,
            "chainctl will {verb} release {} in namespace {}",
            self.release.name(),
            self.release.namespace()
        )?;
        let line = |f: &mut fmt::Formatter<'_>, label: &str, value: &str| {
            let label = match label {
                "" => String::new(),
                label => format!("{label}:"),
            };
            writeln!(f, "  {label:<10}{value}")
        };
        line(f, "chart", &format!("{} -> {}", self.from, self.to))?;
        match &self.source {
            None => {}
            Some(PlanSource::Oci {
                reference,
                manifest_digest,
                chart_digest,
                ..
            }) => {
                line(f, "source", reference)?;
                line(f, "digest", &format!("{manifest_digest} (manifest)"))?;
                line(f, "", &format!("{chart_digest} (chart archive)"))?;
            }
            Some(PlanSource::Bundle {
                path,
                content_digest,
            }) => {
                line(f, "source", &path.display().to_string())?;
                line(f, "digest", &format!("{content_digest} (bundle content)"))?;
            }
        }
        Ok(())
    }
}

/// How an action is approved.
#[non_exhaustive]
pub enum Approval<'a> {
    /// Approved in advance: no plan is built, which costs nothing.
    Given,
    /// Shown the plan, the callback says whether to proceed; `false` ends
    /// the action with [`Error::Refused`](crate::Error::Refused), nothing changed.
    Ask(Box<dyn FnOnce(&Plan) -> bool + 'a>),
}

impl<'a> Approval<'a> {
    /// [`Approval::Ask`] with `decide`.
    pub fn ask(decide: impl FnOnce(&Plan) -> bool + 'a) -> Approval<'a> {
        Approval::Ask(Box::new(decide))
    }
}

impl fmt::Debug for Approval<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Approval::Given => f.write_str("Given"),
            Approval::Ask(_) => f.write_str("Ask(..)"),
        }
    }
}
