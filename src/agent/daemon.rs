//! The daemon loop: one `select!` over the schedule (cycle, role check, outbox retry), file
//! changes, signals and the systemd watchdog. While it runs, `daemon.pid` names it and each
//! complete cycle is recorded for `credhygiene status` (see [`crate::state::PidFile`]).
//!
//! Cycles start on a jittered interval (`agent.splay`, so that a fleet booted together does not
//! call CloudWatch in the same second), soon after a watched file changes, and at once when
//! the role check between cycles sees the role change. A stop during a cycle cancels its scan;
//! a reload during a cycle waits for its end. At shutdown the outbox is flushed within
//! [`SHUTDOWN_FLUSH_DEADLINE`]; what is left is delivered after the next start.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::{sleep_until, Instant, Interval};

use crate::config::{self, AgentConfig, Env};
use crate::error::{Error, Exit};
use crate::role::{RoleReport, Status};
use crate::state::{PidFile, Runner};

use super::cycle::{self, FLUSH_DEADLINE};
use super::outcome::CycleOutcome;
use super::parts::Parts;
use super::signals::{Signal, Signals};
use super::{systemd, track};

/// How long shutdown may spend flushing the outbox.
const SHUTDOWN_FLUSH_DEADLINE: Duration = Duration::from_secs(10);
/// How long to wait after a watched file changes before scanning (editors write in bursts).
const WATCH_DEBOUNCE: Duration = Duration::from_secs(1);
/// The least time between the end of a cycle and a cycle triggered by a watched file.
const WATCH_MIN_GAP: Duration = Duration::from_secs(5);
/// How often a pending outbox is retried between cycles.
const OUTBOX_RETRY: Duration = Duration::from_secs(60);

/// Runs the daemon until SIGTERM or SIGINT.
pub(super) async fn run(
    mut parts: Parts,
    config_path: Option<PathBuf>,
    env: Env,
) -> Result<Exit, Error> {
    parts.track();
    let mut signals = Signals::install()?;
    let _pid_file = PidFile::create(&parts.config.agent.state_dir)
        .inspect_err(|e| log::warn!(error:% = e; "cannot write the pid file; credhygiene status says the daemon is not running"))
        .ok();
    systemd::ready();
    systemd::status("waiting for the first cycle");
    log::info!(version = env!("CARGO_PKG_VERSION"); "credhygiene agent started");

    let mut watchdog = Watchdog::from_env();
    let mut schedule = Schedule::new(&parts.config.agent);
    // Only a daemon that may call AWS waits for its first contact (and keeps its phase): with
    // CloudWatch off, or IMDS disabled (no role credentials), the cycles keep their interval.
    if parts.config.cloudwatch.enabled && parts.imds.is_some() {
        let first_contact = Instant::now() + random_up_to(parts.config.agent.first_contact_splay);
        parts.first_contact = Some(first_contact);
        schedule.next_retry = schedule.next_retry.min(first_contact);
    }
    let cancel = Arc::new(AtomicBool::new(false));

    loop {
        tokio::select! {
            _ = sleep_until(schedule.next_cycle) => {
                let out = run_cycle(&mut parts, &cancel, &mut signals, &mut watchdog).await;
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                schedule.cycle_done(&parts.config.agent, &out, parts.first_contact);
                out.save_record(&parts.config, Runner::Daemon);
                systemd::status(&out.status_line());
                out.log();
                drop(out);
                release_freed_memory();
            }
            _ = sleep_until(schedule.next_role) => recheck_role(&mut parts, &mut schedule).await,
            // Not written as a `Change::Watched(path) = …` pattern: select! would disable the
            // branch for this turn after a `Trees` wake-up.
            change = next_change(&mut parts.tracker) => {
                if let track::Change::Watched(path) = change {
                    schedule.file_changed(&path);
                }
            }
            _ = sleep_until(schedule.next_retry) => {
                schedule.next_retry = Instant::now() + OUTBOX_RETRY;
                retry_outbox(&mut parts).await;
            }
            signal = signals.recv() => match signal {
                Signal::Reload => {
                    systemd::reloading();
                    reload(&mut parts, config_path.as_deref(), &env);
                    systemd::ready();
                }
                Signal::Stop => break,
            },
            () = watchdog.tick() => systemd::watchdog(),
        }
    }

    systemd::stopping();
    flush_at_shutdown(&mut parts).await;
    log::info!("credhygiene agent stopped");
    Ok(Exit::Ok)
}

/// What the loop waits for, and what it remembers of the last cycle.
#[derive(Debug)]
struct Schedule {
    next_cycle: Instant,
    next_role: Instant,
    next_retry: Instant,
    last_cycle_end: Instant,
    /// The role check of the last cycle, to notice a change between cycles.
    last_role: Option<RoleKey>,
    /// Distinct credentials the last cycle found: the role check between cycles adds the
    /// "static keys beside the role" check from it, as the cycle does, before comparing.
    last_credentials: usize,
}

impl Schedule {
    /// The first cycle within `splay` of the start.
    fn new(cfg: &AgentConfig) -> Schedule {
        let now = Instant::now();
        let next_cycle = now + random_up_to(cfg.splay);
        Schedule {
            next_cycle,
            next_role: next_cycle + cfg.role_check_interval,
            next_retry: now + OUTBOX_RETRY,
            last_cycle_end: now,
            last_role: None,
            last_credentials: 0,
        }
    }

    /// The next cycle one interval (plus jitter of at most a tenth of it) after this one, or
    /// after the first contact when that is still to come: the cycles keep its phase, so a
    /// fleet started together stays spread over `first_contact_splay`.
    fn cycle_done(
        &mut self,
        cfg: &AgentConfig,
        out: &CycleOutcome,
        first_contact: Option<Instant>,
    ) {
        let now = Instant::now();
        self.last_role = out.role.as_ref().map(RoleKey::of);
        self.last_credentials = out.credentials;
        self.last_cycle_end = now;
        let base = first_contact.map_or(now, |t| t.max(now));
        self.next_cycle = base + cfg.interval + random_up_to(cfg.splay.min(cfg.interval / 10));
        self.next_role = now + cfg.role_check_interval;
    }

    /// A cycle soon after a watched file changed: debounced, and not more often than
    /// [`WATCH_MIN_GAP`] after the last cycle, so that a file rewritten all the time does not
    /// turn the agent into a busy loop.
    fn file_changed(&mut self, path: &Path) {
        log::info!(path:% = path.display(); "watched file changed; scanning soon");
        let soon = (Instant::now() + WATCH_DEBOUNCE).max(self.last_cycle_end + WATCH_MIN_GAP);
        if soon < self.next_cycle {
            self.next_cycle = soon;
        }
    }
}

/// What a role check between cycles compares with the last cycle's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RoleKey(Status, Option<u8>, Option<u8>);

impl RoleKey {
    fn of(r: &RoleReport) -> RoleKey {
        RoleKey(r.status, r.profile_missing_metric(), r.imdsv1_open_metric())
    }
}

/// The systemd watchdog's keep-alive timer (never ticks when `WATCHDOG_USEC` is not set).
#[derive(Debug)]
struct Watchdog(Option<Interval>);

impl Watchdog {
    fn from_env() -> Watchdog {
        Watchdog(systemd::watchdog_interval().map(tokio::time::interval))
    }

    /// Cancel safe, like [`Interval::tick`].
    async fn tick(&mut self) {
        match &mut self.0 {
            Some(interval) => {
                interval.tick().await;
            }
            None => std::future::pending().await,
        }
    }
}

/// One cycle, while a stop cancels its scan, a reload waits for its end and the watchdog is
/// kept alive.
async fn run_cycle(
    parts: &mut Parts,
    cancel: &Arc<AtomicBool>,
    signals: &mut Signals,
    watchdog: &mut Watchdog,
) -> CycleOutcome {
    let cycle = cycle::run(parts, cancel);
    tokio::pin!(cycle);
    loop {
        tokio::select! {
            out = &mut cycle => return out,
            signal = signals.recv() => match signal {
                Signal::Stop => cancel.store(true, Ordering::Relaxed),
                Signal::Reload => signals.postpone_reload(),
            },
            () = watchdog.tick() => systemd::watchdog(),
        }
    }
}

/// The role check between cycles: a cycle now when the role changed since the last one.
async fn recheck_role(parts: &mut Parts, schedule: &mut Schedule) {
    schedule.next_role = Instant::now() + parts.config.agent.role_check_interval;
    let Some(mut report) = cycle::check_role(parts).await else {
        return;
    };
    // Compared like with like: the cycle's report holds this check too.
    report.add_static_keys_check(schedule.last_credentials);
    let now = RoleKey::of(&report);
    if schedule.last_role.is_some_and(|last| last != now) {
        log::warn!(status = now.0.as_str(); "the role check changed since the last cycle; running a cycle now");
        schedule.next_cycle = Instant::now();
    }
}

/// Sends what the outbox holds between cycles (and reopens a sink another process held).
async fn retry_outbox(parts: &mut Parts) {
    if parts.first_contact.is_some_and(|t| Instant::now() < t) {
        return;
    }
    parts.first_contact = None;
    parts.retry_locked_sink();
    if let Some(sink) = parts.sink_mut() {
        if sink.pending() > 0 {
            let _ = tokio::time::timeout(FLUSH_DEADLINE, sink.flush()).await;
        }
    }
    if let Ok(sh) = parts.securityhub.as_mut() {
        if sh.pending() > 0 {
            let _ = tokio::time::timeout(FLUSH_DEADLINE, sh.flush(SystemTime::now())).await;
        }
    }
}

/// Loads and applies the configuration again; on any error the running one is kept.
/// Returns whether it changed.
fn reload(parts: &mut Parts, config_path: Option<&Path>, env: &Env) {
    let applied = config::load(config_path, env)
        .map_err(Error::from)
        .and_then(|loaded| parts.reload(loaded.config));
    match applied {
        Ok(()) => log::info!("configuration reloaded"),
        Err(e) => {
            log::error!(error:% = e; "configuration reload failed; keeping the running configuration")
        }
    }
}

/// Flushes the CloudWatch outbox, then the Security Hub store, each within
/// [`SHUTDOWN_FLUSH_DEADLINE`]; what is left is sent after the next start.
async fn flush_at_shutdown(parts: &mut Parts) {
    if let Ok(sh) = parts.securityhub.as_mut() {
        if sh.pending() > 0 {
            let flushed =
                tokio::time::timeout(SHUTDOWN_FLUSH_DEADLINE, sh.flush(SystemTime::now()));
            if !flushed.await.is_ok_and(|d| d.pending == 0) {
                log::warn!("shutting down with Security Hub findings pending; they are imported after the next start");
            }
        }
    }
    let Some(sink) = parts.sink_mut() else { return };
    match tokio::time::timeout(SHUTDOWN_FLUSH_DEADLINE, sink.flush()).await {
        Ok(d) if d.pending > 0 => {
            log::warn!(pending = d.pending; "shutting down with entries in the outbox; they are delivered after the next start")
        }
        Ok(_) => {}
        Err(_) => log::warn!(
            "outbox flush did not finish within the shutdown deadline; the outbox keeps the rest"
        ),
    }
}

/// Hands the memory a cycle freed back to the kernel, so that the daemon idles small. glibc's
/// allocator keeps freed heap below live blocks for reuse (about 15 MiB after a cycle over the
/// benchmark tree); musl's allocator, which the shipped static binaries use, returns it itself.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_freed_memory() {
    // SAFETY: malloc_trim has no preconditions; it only walks glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}

/// The next change the watches saw (never, without a tracker).
async fn next_change(tracker: &mut Option<track::Tracker>) -> track::Change {
    match tracker {
        Some(t) => t.next_change().await,
        None => std::future::pending().await,
    }
}

fn random_up_to(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    Duration::from_millis(fastrand::u64(0..=max.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_bound() {
        assert_eq!(random_up_to(Duration::ZERO), Duration::ZERO);
        for _ in 0..100 {
            assert!(random_up_to(Duration::from_millis(30)) <= Duration::from_millis(30));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_file_brings_the_cycle_forward_but_not_closer_than_the_gap() {
        let cfg = AgentConfig {
            splay: Duration::ZERO,
            ..AgentConfig::default()
        };
        let mut schedule = Schedule::new(&cfg);
        schedule.cycle_done(&cfg, &CycleOutcome::default(), None);
        let done = schedule.last_cycle_end;
        schedule.file_changed(Path::new("/etc/environment"));
        assert_eq!(schedule.next_cycle, done + WATCH_MIN_GAP);

        schedule.cycle_done(&cfg, &CycleOutcome::default(), None);
        tokio::time::advance(Duration::from_secs(60)).await;
        schedule.file_changed(Path::new("/etc/environment"));
        assert_eq!(schedule.next_cycle, Instant::now() + WATCH_DEBOUNCE);
    }

    /// Before the first contact the next cycle is an interval after it, not after the first
    /// cycle: the fleet keeps the spread of its first contacts.
    #[tokio::test(start_paused = true)]
    async fn cycles_keep_the_phase_of_the_first_contact() {
        let cfg = AgentConfig {
            splay: Duration::ZERO,
            interval: Duration::from_secs(3600),
            ..AgentConfig::default()
        };
        let mut schedule = Schedule::new(&cfg);
        let contact = Instant::now() + Duration::from_secs(420);
        schedule.cycle_done(&cfg, &CycleOutcome::default(), Some(contact));
        let jitter = schedule.next_cycle - (contact + cfg.interval);
        assert!(jitter <= cfg.interval / 10, "{jitter:?}");
        // A first contact already past: one interval after this cycle.
        tokio::time::advance(Duration::from_secs(600)).await;
        schedule.cycle_done(&cfg, &CycleOutcome::default(), Some(contact));
        assert!(schedule.next_cycle >= Instant::now() + cfg.interval);
    }
}
