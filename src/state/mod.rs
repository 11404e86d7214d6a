//! The state file: what chainctl deployed, where, from what, and how it
//! went, kept as JSON that operators audit and later runs read.
//!
//! * [`StateFileConfig`] finds the file (`--state-file`, `--state-path`,
//!   `CHAINCTL_STATE_PATH`, the platform config directory);
//! * [`ExecutionStateRecord`] is one action, [`StateFile`] the whole file;
//! * [`ExecutionStateRecord::drift`] compares a record with the release in
//!   the cluster ([`Drift`]);
//! * [`StateStore`] reads, locks and writes it safely;
//! * [`ValuesKey`] keys the values digest, so that a record says whether
//!   the values changed without confirming a guess of them;
//! * [`state_schema`] is the JSON Schema every file is checked against
//!   (committed as `schemas/state.schema.json`).
//!
//! ```
//! use chainctl_core::state::{
//!     Action, ExecutionStateRecord, OciSource, RecordSource, StateStore,
//!     StateStoreOptions,
//! };
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut store = StateStore::open(dir.path().join("state.json"), StateStoreOptions::default())?;
//!
//! let mut rec = ExecutionStateRecord::new(Action::Install, "hello", "demo");
//! rec.source = Some(RecordSource::Oci(OciSource {
//!     reference: "oci://registry.example/charts/hello".into(),
//!     requested_version: Some("1.2.3".into()),
//!     resolved_version: Some("1.2.3".into()),
//!     manifest_digest: None,
//!     chart_digest: None,
//! }));
//! rec.values_digest = Some(format!("hmac-sha256:{}", "0".repeat(64)));
//! rec.helm_revision = Some(1);
//! rec.finish_ok();
//! store.record(rec)?;
//!
//! assert_eq!(store.current("hello", "demo").unwrap().helm_revision, Some(1));
//! # Ok::<(), chainctl_core::Error>(())
//! ```

mod capture;
mod config;
mod drift;
mod format;
#[cfg(test)]
pub(crate) mod fuzz;
mod key;
mod lock;
mod record;
mod schema;
mod store;
mod time;

/// [`PhaseTimes`](crate::PhaseTimes), the one phase-times type, under the
/// name records have given it (and the state file's schema still does).
pub use crate::report::PhaseTimes as PhaseDurations;
pub use config::{
    DEFAULT_STATE_FILE_NAME, DefaultDir, LocationRule, STATE_PATH_ENV, StateEnv, StateFileConfig,
    StateLocation,
};
pub use drift::{Drift, DriftField};
pub use key::{KEYED_DIGEST_PREFIX, VALUES_KEY_ENV, ValuesKey};
pub use lock::LockInfo;
pub use record::{
    Action, BundleSource, ChartInfo, ExecutionStateRecord, OLDEST_SCHEMA_VERSION, OciSource,
    Outcome, RecordCluster, RecordError, RecordSource, ReleaseState, SCHEMA_VERSION, StateFile,
    StorageDriver, ToolVersions, current_operator,
};
pub use schema::{state_schema, state_schema_json};
pub(crate) use store::Prefetch;
pub use store::{Imported, StateStore, StateStoreOptions};
pub use time::{Timestamp, TimestampParseError};
