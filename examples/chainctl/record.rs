//! The state file: where it is, opening it before a change, writing the
//! record of an action (exit 7 when that fails) and what a cancelled
//! action's record says.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chainctl_core::state::{
    Action, ExecutionStateRecord, RecordCluster, ReleaseState, StateFile, StateLocation,
    StateStoreOptions,
};
use chainctl_core::{Client, Error, ReleaseInfo, ReleaseRef, StateFileConfig, StateStore};

use crate::exit::{Failure, with_causes};
use crate::flags::{CommonArgs, Driver};
use crate::interrupts::interrupts;

/// Where the state file is, by the flags and CHAINCTL_STATE_PATH.
pub(crate) fn state_location(
    state_file: &Option<String>,
    state_path: &Option<PathBuf>,
) -> Result<StateLocation, Failure> {
    let config = StateFileConfig {
        state_file: state_file.clone(),
        state_path: state_path.clone(),
    };
    Ok(config.resolve()?)
}

/// Opens the state file before any change to the cluster, so an unusable
/// state file stops the action before it starts.
pub(crate) fn open_store(common: &CommonArgs) -> Result<StateStore, Failure> {
    let location = state_location(&common.state_file, &common.state_path)?;
    let store = StateStore::open_location(&location, StateStoreOptions::default())?;
    for warning in store.warnings() {
        eprintln!("chainctl: warning: {warning}");
    }
    Ok(store)
}

/// Writes the record. When that fails the record is printed to stderr so it
/// is not lost, and a successful action exits with code 7.
pub(crate) fn save(
    store: &mut StateStore,
    record: &ExecutionStateRecord,
    action_error: Option<&Error>,
) -> Result<(), Failure> {
    let json = serde_json::to_string(record).unwrap_or_default();
    let unsaved = || {
        interrupts()
            .unsaved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    };
    *unsaved() = Some(json.clone());
    let written = store.record(record.clone());
    *unsaved() = None;
    let Err(err) = written else {
        return Ok(());
    };
    say!(
        "chainctl: the record of this action could not be written to {}: {}",
        store.path().display(),
        with_causes(&err)
    );
    say!("{}\n{json}", keep_record_note());
    match action_error {
        Some(_) => Ok(()),
        None => Err(Failure {
            code: 7,
            kind: "state",
            message: format!(
                "the action succeeded but its record was not written to {} ({}); the record is printed above",
                store.path().display(),
                with_causes(&err)
            ),
            io: None,
        }),
    }
}

/// What precedes a record printed because it could not be written: the
/// record follows on a line of its own, which `state import` reads back.
pub(crate) fn keep_record_note() -> &'static str {
    "chainctl: the record is on the next line, to keep: once the state file can be written, \
     put it back with `chainctl state import FILE` (FILE: that line, or all of this output \
     saved to a file; - reads stdin)"
}

/// How long a cancelled action waits for Helm to mark the revision it made
/// failed (Helm takes milliseconds), and how long for a revision to appear
/// at all when none is there yet.
pub(crate) const SETTLE_PENDING: Duration = Duration::from_secs(5);
pub(crate) const SETTLE_ABSENT: Duration = Duration::from_secs(1);

/// After an action failed: if a signal cancelled it, its record says so,
/// with the revision and status Helm left once Helm has marked it (see
/// [`settle`]).
pub(crate) fn note_interrupted(
    record: &mut ExecutionStateRecord,
    client: &Client,
    release: &ReleaseRef,
) {
    let Some((signal, _)) = interrupts().received() else {
        return;
    };
    if !record.is_cancelled() {
        return;
    }
    let left = match record.action {
        // An uninstall makes no revision: nothing to wait for.
        Action::Uninstall => None,
        _ => settle(client, release, record),
    };
    if let Some(rel) = left.as_ref().filter(|r| r.status.is_pending()) {
        say!(
            "chainctl: warning: Helm had not marked revision {} of {release} within {} s: it is \
             left {}; `chainctl app status --release {} -n {}` says how to recover",
            rel.revision,
            SETTLE_PENDING.as_secs(),
            rel.status,
            release.name(),
            release.namespace()
        );
    }
    record.finish_cancelled(signal, left.as_ref());
}

/// The revision a cancelled action made, once Helm has marked it (no longer
/// `pending-*`, which Helm does within milliseconds of the cancel), waiting
/// at most [`SETTLE_PENDING`]; `None` when no revision of the action
/// appears within [`SETTLE_ABSENT`] (it was cancelled before Helm stored
/// one). Read with a client whose calls the signal does not cancel.
pub(crate) fn settle(
    client: &Client,
    release: &ReleaseRef,
    record: &ExecutionStateRecord,
) -> Option<ReleaseInfo> {
    let reader = client.with_cancel_token(None);
    let start = Instant::now();
    loop {
        let ours = (reader.status(release).ok()).filter(|r| record.made_revision(r));
        let waited = start.elapsed();
        match &ours {
            Some(rel) if !rel.status.is_pending() => return ours,
            Some(_) if waited >= SETTLE_PENDING => return ours,
            None if waited >= SETTLE_ABSENT => return None,
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The cluster records of this command are filed under: the rehearsal
/// pseudo-cluster on the memory driver, else the kubeconfig's.
pub(crate) fn record_cluster(common: &CommonArgs) -> Option<RecordCluster> {
    match common.driver {
        Some(Driver::Memory) => Some(RecordCluster::rehearsal()),
        _ => common.resolved.as_ref()?.record_cluster(),
    }
}

/// Names the cluster, context and driver of a record of this command.
pub(crate) fn stamp(record: &mut ExecutionStateRecord, common: &CommonArgs, client: &Client) {
    record.cluster = record_cluster(common);
    record.driver = Some(client.storage_driver());
    record.kube_context = common
        .resolved
        .as_ref()
        .map(|r| r.context.clone())
        .filter(|c| !c.is_empty())
        .or_else(|| common.kube_context.clone());
}

/// What the state file records of the release in this command's cluster;
/// records of no known cluster (written before chainctl recorded clusters)
/// stand in when there is none, and the note says so.
pub(crate) fn release_state<'a>(
    state: &'a StateFile,
    common: &CommonArgs,
) -> Option<(&'a ReleaseState, Option<&'static str>)> {
    let cluster = record_cluster(common);
    let id = cluster.as_ref().map(|c| c.id.as_str());
    if let Some(found) = state.release_in(id, &common.release, &common.namespace) {
        return Some((found, None));
    }
    let legacy = state.release_in(None, &common.release, &common.namespace)?;
    Some((
        legacy,
        Some(
            "the record predates chainctl's recording of clusters, so it may be of another cluster",
        ),
    ))
}
