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
//! The pieces:
//! - types without IO: [`ChartSource`], [`OciReference`], [`ReleaseOptions`],
//!   [`ReleaseRef`], and the reports actions return ([`ActionReport`],
//!   [`ReleaseInfo`]);
//! - [`Client`], which runs Helm's actions (`render`, `install`, `upgrade`,
//!   `status`, `history`, `rollback`, `uninstall`) through the shim;
//! - one [`Error`] enum whose variants a caller can match.
//!
//! Calls are safe from many threads at once, can carry a deadline, can be
//! cancelled through a [`CancelToken`], and report progress as [`Event`]s.
#![warn(missing_docs)]
#![deny(unsafe_code)]

mod bridge;
mod cache;
mod client;
mod error;
#[allow(unsafe_code)]
mod ffi;
mod registry;
mod release;
mod report;
mod source;
pub mod state;
mod values;

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
pub use error::{Error, ErrorKind, Result};
pub use registry::{PullReport, RegistryOptions};
pub use release::{
    DEFAULT_HISTORY_MAX, DryRun, ReleaseOptions, ReleaseOptionsBuilder, ReleaseRef, release_key,
};
pub use report::{
    ActionReport, ChartInfo, HelmStatus, Hook, PhaseTimes, ReleaseInfo, ShimVersion,
    UninstallReport,
};
pub use source::{BundleSource, ChartSource, OciReference, OciSource, version_to_tag};
pub use state::{ExecutionStateRecord, StateFileConfig, StateStore};
pub use values::{DEFAULT_VALUES_SIZE_LIMIT, MergedValues};
