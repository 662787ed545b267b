//! The daemon's signals as one stream (Vector's mapping): SIGHUP asks for a reload,
//! SIGTERM and SIGINT for a stop.
//!
//! A reload that arrives while a cycle runs is postponed, not lost: the cycle finishes with
//! the configuration it started with, and the next [`Signals::recv`] returns the reload.

use tokio::signal::unix::{signal, Signal as UnixSignal, SignalKind};

use crate::error::Error;

/// What a signal asks of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Signal {
    /// SIGHUP: reload the configuration (keeping the old one when the new one is invalid).
    Reload,
    /// SIGTERM or SIGINT: cancel the scan, flush the outbox within a deadline, exit 0.
    Stop,
}

/// SIGHUP, SIGTERM and SIGINT, merged.
#[derive(Debug)]
pub(super) struct Signals {
    hup: UnixSignal,
    term: UnixSignal,
    int: UnixSignal,
    reload_postponed: bool,
}

impl Signals {
    /// Installs the handlers (a runtime error when the process cannot).
    pub(super) fn install() -> Result<Signals, Error> {
        let install = |kind| {
            signal(kind).map_err(|source| Error::Setup {
                what: "install signal handlers",
                source,
            })
        };
        Ok(Signals {
            hup: install(SignalKind::hangup())?,
            term: install(SignalKind::terminate())?,
            int: install(SignalKind::interrupt())?,
            reload_postponed: false,
        })
    }

    /// The next signal, a postponed reload first. Cancel safe, as tokio's signal streams are:
    /// dropping the future loses no signal, so it can be one arm of a `select!`.
    pub(super) async fn recv(&mut self) -> Signal {
        if std::mem::take(&mut self.reload_postponed) {
            return Signal::Reload;
        }
        tokio::select! {
            _ = self.hup.recv() => Signal::Reload,
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
        }
    }

    /// Keeps a reload received during a cycle for the next [`Signals::recv`].
    pub(super) fn postpone_reload(&mut self) {
        self.reload_postponed = true;
    }
}
