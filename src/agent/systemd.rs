//! Living under systemd: `sd_notify` messages (READY, RELOADING, STATUS, WATCHDOG, STOPPING).
//! Every call is a no-op when `NOTIFY_SOCKET` is unset, so the agent runs the same by hand.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd that configuration is loaded and the agent is running.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// Tells systemd that the configuration is being reloaded (with the monotonic timestamp
/// systemd ≥ 253 expects; older versions ignore it).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// A one-line status shown by `systemctl status`.
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// Keeps the watchdog fed.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// Tells systemd that the agent is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// How often to feed the watchdog: half of `WATCHDOG_USEC`, or `None` when it is not set.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        log::debug!(error:% = e; "sd_notify failed");
    }
}
