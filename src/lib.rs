//! # chainctl-core
//!
//! Install and upgrade Helm charts from Rust, with the real Helm SDK running
//! in-process (a Go c-archive linked by `build.rs`), behind a safe, typed API.
//!
//! ```
//! use chainctl_core::{ChartSource, Client, ReleaseOptions};
//!
//! # fn main() -> chainctl_core::Result<()> {
//! let chart = ChartSource::bundle(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/charts/hello"))?;
//! let opts = ReleaseOptions::builder("hello", "demo")
//!     .set("greeting=hi")
//!     .build()?;
//! let client = Client::builder().build()?;
//! let report = client.render(&chart, &opts)?; // a client-only dry run: no cluster
//! assert!(report.release.manifest.contains("greeting: \"hi\""));
//! # Ok(())
//! # }
//! ```
//!
//! Deploying and recording every outcome in the state file is one call of a
//! [`Deployer`]; here against Helm's memory driver:
//!
//! ```
//! use chainctl_core::state::Outcome;
//! use chainctl_core::{
//!     Approval, ChartSource, Client, Deployer, LazyStateStore, ReleaseOptions, SourceChoice,
//!     Storage,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let client = Client::builder().storage(Storage::Memory).build()?;
//! let mut deployer = Deployer::new(client, LazyStateStore::at(dir.path().join("state.json")));
//! let chart = ChartSource::bundle(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/charts/hello"))?;
//! let opts = ReleaseOptions::builder("hello", "demo").build()?;
//! let done = deployer.install(SourceChoice::Given(chart), &opts, Approval::ask(|plan| {
//!     plan.to_string().contains("not installed -> hello 0.1.0")
//! }))?;
//! assert_eq!(done.record.outcome, Outcome::Succeeded);
//! assert_eq!(done.state_path.as_deref(), Some(dir.path().join("state.json").as_path()));
//! # Ok(())
//! # }
//! ```
//!
//! The pieces:
//! - types without IO: [`ChartSource`], [`OciReference`], [`ReleaseOptions`],
//!   [`ReleaseRef`], and the reports actions return ([`ActionReport`],
//!   [`ReleaseInfo`]);
//! - [`Client`], which runs Helm's actions (`render`, `install`, `upgrade`,
//!   `status`, `history`, `rollback`, `uninstall`) through the shim;
//! - [`Deployer`], which runs them as recorded deployments ([`deployer`]);
//! - one [`Error`] enum whose variants a caller can match.
//!
//! Calls are safe from many threads at once, can carry a deadline, can be
//! cancelled through a [`CancelToken`], and report progress as [`Event`]s.
#![warn(missing_docs)]
#![deny(unsafe_code)]

// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod bridge;
mod cache;
mod client;
pub mod deployer;
mod error;
#[allow(unsafe_code)]
mod ffi;
mod registry;
mod release;
mod report;
mod source;
pub mod state;
mod values;
mod wire;

pub use bridge::{
    CancelToken, Event, EventHandler, EventLevel, diagnostic_call, diagnostic_call_with,
    go_safe_signal_handler, outstanding_replies,
};
pub use cache::{CachedManifest, ChartCache};
pub use client::{
    ActionFailure, Client, ClientBuilder, DEFAULT_MAX_CHART_SIZE, DEFAULT_NETWORK_TIMEOUT,
    ListOptions, PendingRelease, ReleaseValues, ResolvedKube, RollbackOptions, Storage,
    UninstallOptions,
};
pub use deployer::{
    Approval, Check, CheckOptions, Current, Deployer, Deployment, LazyStateStore, Notice, Plan,
    PlanChart, PlanSource, ResolvedSource, RevisionChart, SourceChoice, SourceOrigin, StateBackend,
    Target,
};
pub use error::{
    Denied, Error, ErrorKind, Input, Locked, Missing, RegistryFailure, Result, StateProblem,
};
pub use registry::{PullReport, RegistryOptions};
pub use release::{
    DEFAULT_HISTORY_MAX, DryRun, ReleaseOptions, ReleaseOptionsBuilder, ReleaseRef, ServerSide,
    WaitStrategy, release_key,
};
pub use report::{
    ActionReport, ChartInfo, HelmStatus, Hook, PhaseTimes, ReleaseInfo, ShimVersion,
    UninstallReport,
};
pub use source::{BundleSource, ChartSource, OciReference, OciSource, version_to_tag};
pub use state::{ExecutionStateRecord, StateFileConfig, StateStore};
pub use values::{DEFAULT_VALUES_SIZE_LIMIT, MergedValues};
