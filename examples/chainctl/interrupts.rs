//! SIGINT, SIGTERM and SIGHUP: a signal cancels the running action, which
//! is then recorded as cancelled; a second signal exits at once.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use chainctl_core::CancelToken;

use crate::record::keep_record_note;

/// The signals that interrupt chainctl, and the exit code of each (128 plus
/// the signal's number, as shells report a process killed by it).
pub(crate) const INTERRUPTS: [(i32, &str); 3] = [
    (signal_hook::consts::SIGINT, "SIGINT"),
    (signal_hook::consts::SIGTERM, "SIGTERM"),
    (signal_hook::consts::SIGHUP, "SIGHUP"),
];

/// How long, after the first signal, chainctl waits for the cancelled Go
/// call to end, Helm to mark the release and the record to be written,
/// before it exits without the record.
pub(crate) const INTERRUPT_GRACE: Duration = Duration::from_secs(10);

/// What a signal does to this run. While an action that changes a release
/// runs (`in_flight`), the first signal cancels its Go call through `token`,
/// naming the signal (the record says "cancelled by SIGTERM"):
/// chainctl records the action as cancelled and exits with the signal's
/// code, or after [`INTERRUPT_GRACE`] exits anyway, printing the record if
/// it has one. Otherwise, and at a second signal, it exits at once.
pub(crate) struct Interrupts {
    pub(crate) token: CancelToken,
    /// The first signal received; 0 before any.
    pub(crate) signal: AtomicI32,
    pub(crate) in_flight: AtomicBool,
    /// The record being written, to print if the grace runs out first.
    pub(crate) unsaved: Mutex<Option<String>>,
}

pub(crate) fn interrupts() -> &'static Interrupts {
    static INTERRUPTS: OnceLock<Interrupts> = OnceLock::new();
    INTERRUPTS.get_or_init(|| Interrupts {
        token: CancelToken::new(),
        signal: AtomicI32::new(0),
        in_flight: AtomicBool::new(false),
        unsaved: Mutex::new(None),
    })
}

impl Interrupts {
    /// The signal that interrupted this run, if one did: its name and exit
    /// code.
    pub(crate) fn received(&self) -> Option<(&'static str, u8)> {
        let signal = self.signal.load(Ordering::SeqCst);
        let (_, name) = INTERRUPTS.iter().find(|(s, _)| *s == signal)?;
        Some((name, u8::try_from(128 + signal).unwrap_or(u8::MAX)))
    }

    /// Ends, when dropped, what the deployer's
    /// [`Notice::Acting`](chainctl_core::Notice::Acting) began (see
    /// `record::deployer`): an action that a signal should cancel rather
    /// than cut short. A dry run never begins one: a signal ends it at once.
    pub(crate) fn until_returned(&'static self) -> InFlight {
        InFlight(self)
    }

    pub(crate) fn on_signal(&'static self, signal: i32) {
        let first = (self.signal)
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        let Some((name, code)) = self.received() else {
            return;
        };
        if !first {
            say!("chainctl: a second signal: exiting now, without waiting for the record");
            std::process::exit(code.into());
        }
        if !self.in_flight.load(Ordering::SeqCst) {
            say!("chainctl: interrupted by {name}");
            std::process::exit(code.into());
        }
        say!(
            "chainctl: {name}: cancelling the running action and recording it as cancelled \
             (at most {} s; a second signal exits at once)",
            INTERRUPT_GRACE.as_secs()
        );
        self.token.cancel_with(name);
        std::thread::spawn(move || {
            std::thread::sleep(INTERRUPT_GRACE);
            say!(
                "chainctl: the cancelled action did not end within {} s: exiting without \
                 writing its record",
                INTERRUPT_GRACE.as_secs()
            );
            let unsaved = self.unsaved.lock().ok().and_then(|r| r.clone());
            if let Some(record) = unsaved {
                say!("{}\n{record}", keep_record_note());
            }
            std::process::exit(code.into());
        });
    }
}

/// An action a signal cancels; see [`Interrupts::until_returned`].
pub(crate) struct InFlight(&'static Interrupts);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.store(false, Ordering::SeqCst);
    }
}

/// Turns SIGINT, SIGTERM and SIGHUP over to [`Interrupts`], on a thread of
/// their own (signal-hook's self-pipe: nothing runs in the handler itself).
pub(crate) fn catch_interrupts() -> io::Result<()> {
    let signals = INTERRUPTS.map(|(signal, _)| signal);
    let mut iterator = signal_hook::iterator::Signals::new(signals)?;
    for signal in signals {
        chainctl_core::go_safe_signal_handler(signal).map_err(io::Error::other)?;
    }
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in iterator.forever() {
                interrupts().on_signal(signal);
            }
        })?;
    Ok(())
}
