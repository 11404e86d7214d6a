//! The state file and the library's [`Deployer`]: where the file is, the
//! deployer a mutating command (or `status --check`) runs, and what its
//! notices print (the record of an action that could not be written,
//! a revision a cancelled action left pending).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use chainctl_core::state::{StateLocation, StateStoreOptions};
use chainctl_core::{Client, Deployer, LazyStateStore, Notice, StateFileConfig};

use crate::exit::{Failure, with_causes};
use crate::flags::CommonArgs;
use crate::interrupts::interrupts;

/// Where the state file is, by the flags and CHAINCTL_STATE_PATH.
pub(crate) fn state_location(
    state_file: &Option<String>,
    state_path: &Option<PathBuf>,
) -> Result<StateLocation, Failure> {
    Ok(state_config(state_file, state_path).resolve()?)
}

fn state_config(state_file: &Option<String>, state_path: &Option<PathBuf>) -> StateFileConfig {
    StateFileConfig {
        state_file: state_file.clone(),
        state_path: state_path.clone(),
    }
}

fn lazy_store(common: &CommonArgs) -> LazyStateStore {
    let config = state_config(&common.state_file, &common.state_path);
    LazyStateStore::new(config, StateStoreOptions::default())
}

/// The state file of this command, being read ahead (see [`read_ahead`]).
static READ_AHEAD: Mutex<Option<LazyStateStore>> = Mutex::new(None);

/// Starts reading the state file of a command that will record, on a
/// thread of its own: the first call into the shim waits for the Go
/// runtime to start, and the file is read and checked meanwhile
/// ([`LazyStateStore::prefetch`]). The command's [`deployer`] takes it.
pub(crate) fn read_ahead(common: &CommonArgs) {
    let mut state = lazy_store(common);
    state.prefetch();
    *READ_AHEAD.lock().unwrap_or_else(|e| e.into_inner()) = Some(state);
}

/// The deployer of this command: `client`, the state file the flags find
/// (opened only once an action is approved, so that an unusable state
/// file stops it before it starts, and a refusal or a dry run creates
/// nothing), the cluster resolved at start, and its notices printed as
/// chainctl prints them.
pub(crate) fn deployer(common: &CommonArgs, client: Client) -> Deployer {
    let read_ahead = READ_AHEAD.lock().unwrap_or_else(|e| e.into_inner()).take();
    let state = read_ahead.unwrap_or_else(|| lazy_store(common));
    let deployer = Deployer::new(client, state).on_notice(print_notice);
    match &common.resolved {
        Some(kube) => deployer.with_kube(kube.clone()),
        None => deployer,
    }
}

/// Prints a deployer's notices on stderr. From [`Notice::Acting`] until the
/// deployer returns ([`Interrupts::until_returned`](crate::interrupts::Interrupts::until_returned))
/// a signal cancels the action rather than exit; the record being written
/// is kept to print if the grace period ends first.
fn print_notice(notice: &Notice<'_>) {
    let unsaved = || {
        interrupts()
            .unsaved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    };
    match notice {
        Notice::StateWarning(warning) => say!("chainctl: warning: {warning}"),
        Notice::Acting => interrupts().in_flight.store(true, Ordering::SeqCst),
        Notice::Saving(record) => {
            *unsaved() = Some(serde_json::to_string(record).unwrap_or_default());
        }
        Notice::Saved => *unsaved() = None,
        Notice::NotSaved {
            record,
            path,
            error,
        } => {
            say!(
                "chainctl: the record of this action could not be written to {}: {}",
                path.display(),
                with_causes(*error)
            );
            let json = serde_json::to_string(record).unwrap_or_default();
            say!("{}\n{json}", keep_record_note());
        }
        Notice::LeftPending { release, waited } => say!(
            "chainctl: warning: Helm had not marked revision {} of {}/{} within {} s: it is \
             left {}; `chainctl app status --release {} -n {}` says how to recover",
            release.revision,
            release.namespace,
            release.name,
            waited.as_secs(),
            release.status,
            release.name,
            release.namespace
        ),
        // The source's origin is printed by `app upgrade` as it resolves it.
        _ => {}
    }
}

/// What precedes a record printed because it could not be written: the
/// record follows on a line of its own, which `state import` reads back.
pub(crate) fn keep_record_note() -> &'static str {
    "chainctl: the record is on the next line, to keep: once the state file can be written, \
     put it back with `chainctl state import FILE` (FILE: that line, or all of this output \
     saved to a file; - reads stdin)"
}
