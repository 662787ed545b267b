//! When: the daemon. `run` repeats role check → scan → diff → report → outbox flush on a
//! jittered schedule, reacts to inotify changes, SIGHUP (reload, keeping the old
//! configuration when the new one is invalid) and SIGTERM/SIGINT (cancel the scan, flush the
//! outbox within a deadline, exit 0). `run --once` is the same cycle, once.

mod mounts;
pub mod systemd;
pub mod track;
pub mod watch;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::signal::unix::{signal, SignalKind};
use tokio::time::sleep_until;

use crate::app::scan_configured;
use crate::config::{self, Config, Env};
use crate::error::{Error, EXIT_OK, EXIT_RUNTIME};
use crate::finding::Finding;
use crate::imds::{CredentialsProvider, ImdsClient};
use crate::report::cloudwatch::{CloudWatchSink, Delivery};
use crate::report::cycle::{CycleReport, RoleStatus, RoleSummary};
use crate::role::{self, RoleReport, Status};
use crate::scan::unreadable::{Coverage, Unreadable};
use crate::scan::{CacheFile, Options, Reuse, Scanner};
use crate::state::{self, FindingState};

/// The scan cache file in `agent.state_dir`.
pub const SCAN_CACHE_FILE: &str = "scan-cache.json";
/// How long shutdown may spend flushing the outbox.
pub const SHUTDOWN_FLUSH_DEADLINE: Duration = Duration::from_secs(10);
/// How long to wait after a watched file changes before scanning (editors write in bursts).
pub const WATCH_DEBOUNCE: Duration = Duration::from_secs(1);
/// The least time between the end of a cycle and a cycle triggered by a watched file.
pub const WATCH_MIN_GAP: Duration = Duration::from_secs(5);
/// How long one flush may keep the daemon from its signals and watchdog (the outbox keeps
/// whatever it did not send).
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(20);
/// How often a pending outbox is retried between cycles.
pub const OUTBOX_RETRY: Duration = Duration::from_secs(60);

/// Everything built from one configuration; rebuilt on reload.
struct Parts {
    config: Config,
    scanner: Arc<Scanner>,
    imds: Option<Arc<ImdsClient>>,
    sink: Result<CloudWatchSink<Option<CredentialsProvider>>, String>,
    /// Another credhygiene process holds the outbox: this one must not move the finding state
    /// on, or the changes it saw would never reach CloudWatch.
    sink_locked: bool,
    /// CloudWatch was active earlier in this process: an inactive sink now is a passing fault
    /// (IMDS slow or throttled), and the changes must wait for the next cycle.
    sink_was_active: bool,
    /// The daemon's change tracking (None for `run --once`, or where trees cannot be tracked).
    tracker: Option<track::Tracker>,
    /// The finding state of the last cycle when it could not be written: the next cycle diffs
    /// against it rather than against the older file, so that what was spooled from it is not
    /// contradicted (a finding that comes and goes is reported new, then resolved).
    uncommitted: Option<FindingState>,
}

type Sink = CloudWatchSink<Option<CredentialsProvider>>;

impl Parts {
    fn build(config: Config) -> Result<Parts, Error> {
        let (scanner, imds) = engine(&config)?;
        let sink = open_sink(&config, imds.as_ref());
        Ok(Parts {
            sink_locked: is_locked(&sink),
            config,
            scanner,
            imds,
            sink,
            sink_was_active: false,
            tracker: None,
            uncommitted: None,
        })
    }

    /// Starts the daemon's watches: early cycles and incremental cycles (see [`track`]).
    fn track(&mut self) {
        self.tracker = track::Tracker::start(&self.config.scan);
    }

    /// Applies a new, already validated configuration. The scanner and IMDS client are built
    /// first: if that fails, nothing changes. The CloudWatch sink is then reopened (its outbox
    /// is on disk, so nothing queued is lost).
    fn reload(&mut self, config: Config) -> Result<(), Error> {
        let (scanner, imds) = engine(&config)?;
        self.sink = Err("reloading".into()); // releases the outbox lock before reopening it
        self.sink = open_sink(&config, imds.as_ref());
        self.sink_locked = is_locked(&self.sink);
        self.scanner = scanner;
        self.imds = imds;
        self.config = config;
        self.track();
        Ok(())
    }

    /// Opens the sink again when another process held the outbox (it may be done now).
    fn retry_locked_sink(&mut self) {
        if self.sink_locked {
            self.sink = open_sink(&self.config, self.imds.as_ref());
            self.sink_locked = is_locked(&self.sink);
            if !self.sink_locked {
                log::info!("the outbox is free again: CloudWatch reporting resumes");
            }
        }
    }

    /// Whether CloudWatch took changes from this host before (a delivered generation, or an
    /// outbox not yet empty): an inactive sink is then a passing fault, even in a new process.
    fn sink_has_history(&self) -> bool {
        self.sink
            .as_ref()
            .is_ok_and(|s| s.delivered().generation().is_some() || s.pending() > 0)
    }

    fn sink_mut(&mut self) -> Option<&mut Sink> {
        self.sink.as_mut().ok()
    }
}

/// The scanner and the IMDS client of a configuration.
fn engine(config: &Config) -> Result<(Arc<Scanner>, Option<Arc<ImdsClient>>), Error> {
    state::prepare_dir(&config.agent.state_dir)?;
    let mut opts = Options::from_config(&config.scan, Some(config.agent.scan_threads))?;
    opts.read_rate_limit = config.agent.read_rate_limit.as_u64();
    opts.build_cache = true;
    let scanner = Arc::new(Scanner::new(opts)?);
    let imds = if config.imds.disabled {
        None
    } else {
        Some(Arc::new(ImdsClient::from_config(&config.imds)?))
    };
    Ok((scanner, imds))
}

fn is_locked(sink: &Result<Sink, String>) -> bool {
    sink.as_ref()
        .err()
        .is_some_and(|e| e.starts_with(LOCKED_PREFIX))
}

const LOCKED_PREFIX: &str = "not used: another credhygiene process holds the outbox";

/// The CloudWatch sink, or why there is none (disabled, or its outbox is held by another
/// credhygiene process, e.g. `run --once` beside the daemon).
fn open_sink(config: &Config, imds: Option<&Arc<ImdsClient>>) -> Result<Sink, String> {
    if !config.cloudwatch.enabled {
        return Err("disabled in the configuration".into());
    }
    let source = imds.map(|c| CredentialsProvider::new(Arc::clone(c)));
    CloudWatchSink::builder(&config.cloudwatch, &config.agent.state_dir, source)
        .build()
        .map_err(|e| {
            log::error!(error:% = e; "CloudWatch reporting is off for this process");
            if matches!(
                e,
                crate::report::cloudwatch::CloudWatchError::State(state::StateError::Locked { .. })
            ) {
                format!("{LOCKED_PREFIX} ({e}); the finding state is left to it")
            } else {
                format!("not used: {e}")
            }
        })
}

/// What one cycle did, for the summary, the status line and the exit code.
#[derive(Debug, Default)]
pub struct CycleOutcome {
    /// The role check (None when IMDS is disabled).
    pub role: Option<RoleReport>,
    /// Findings of the scan.
    pub findings: usize,
    /// Distinct credentials.
    pub credentials: usize,
    /// New findings.
    pub new: usize,
    /// Resolved findings.
    pub resolved: usize,
    /// Findings of sources that could not be read this cycle, carried forward from the
    /// previous state as still present (included in `findings`).
    pub carried: usize,
    /// Sources that could not be read this cycle (see [`Unreadable`]) and carried findings.
    pub carried_sources: usize,
    /// Scan counters.
    pub stats: crate::scan::Stats,
    /// Journal entries written.
    pub journal_entries: usize,
    /// CloudWatch delivery (None when the sink is off).
    pub delivery: Option<Delivery>,
    /// Why the CloudWatch sink is off.
    pub cloudwatch_off: Option<String>,
    /// Whether the cycle was cancelled (shutdown) before it finished.
    pub cancelled: bool,
    /// Why the finding state could not be written (the same changes are computed again next
    /// cycle; the outbox does not send them twice).
    pub state_error: Option<String>,
    /// Finding changes were neither delivered nor spooled (CloudWatch, which took changes
    /// from this host before, is inactive for now): they are computed again next cycle.
    pub not_spooled: bool,
    /// Wall time.
    pub elapsed: Duration,
}

impl CycleOutcome {
    fn status_line(&self) -> String {
        let role = self.role.as_ref().map_or("disabled", |r| r.status.as_str());
        let cw = match &self.delivery {
            None => "CloudWatch off".to_string(),
            Some(d) if !d.active => "CloudWatch inactive".to_string(),
            Some(d) => format!("CloudWatch pending {}", d.pending),
        };
        let carried = if self.carried > 0 {
            format!(", {} carried", self.carried)
        } else {
            String::new()
        };
        format!(
            "{} finding(s), {} credential(s), {} new, {} resolved{carried}; role {role}; {cw}",
            self.findings, self.credentials, self.new, self.resolved
        )
    }

    /// A short summary for a person at a terminal (`run --once`).
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "credhygiene: cycle {} in {:.1} s",
            if self.cancelled {
                "cancelled"
            } else {
                "complete"
            },
            self.elapsed.as_secs_f64()
        );
        match &self.role {
            None => {
                let _ = writeln!(s, "  role check: skipped (IMDS disabled)");
            }
            Some(r) => {
                let _ = writeln!(s, "  role check: {}", r.status.as_str());
                for c in &r.checks {
                    let _ = writeln!(s, "    {:<28} {:<7} {}", c.id, c.status.as_str(), c.detail);
                }
            }
        }
        let st = &self.stats;
        let _ = writeln!(
            s,
            "  scan:       {} finding(s), {} credential(s): {} new, {} resolved ({} sources, {} bytes read, {} from cache, {} skipped, {} errors)",
            self.findings, self.credentials, self.new, self.resolved, st.files, st.bytes, st.cached, st.skipped, st.errors
        );
        if self.carried > 0 {
            let _ = writeln!(
                s,
                "  carried:    {} finding(s) of {} unreadable source(s), as still present",
                self.carried, self.carried_sources
            );
        }
        if self.not_spooled {
            let _ = writeln!(
                s,
                "  state:      changes not sent: CloudWatch is inactive for now; they are reported again next run"
            );
        }
        if let Some(e) = &self.state_error {
            let _ = writeln!(
                s,
                "  state:      not saved: {e} (the same changes are reported again next cycle)"
            );
        }
        let _ = writeln!(s, "  journald:   {} entr(y/ies)", self.journal_entries);
        match &self.delivery {
            None => {
                let _ = writeln!(
                    s,
                    "  CloudWatch: {}",
                    self.cloudwatch_off.as_deref().unwrap_or("off")
                );
            }
            Some(d) if !d.active => {
                let _ = writeln!(
                    s,
                    "  CloudWatch: inactive: {}",
                    d.inactive_reason.as_deref().unwrap_or("no credentials")
                );
            }
            Some(d) => {
                let _ = writeln!(
                    s,
                    "  CloudWatch: {} event(s) and {} metric datum(s) delivered, {} pending, {} dropped; {} call(s), {} bytes sent",
                    d.delivered_events, d.delivered_datums, d.pending, d.dropped, d.calls.total_calls(), d.calls.total_bytes_sent()
                );
                for e in &d.errors {
                    let _ = writeln!(s, "    error: {e}");
                }
            }
        }
        s
    }
}

/// Runs the agent (`once`: one cycle, then exit). Returns the DESIGN.md exit code.
pub fn run(config_path: Option<&Path>, env: &Env, once: bool) -> Result<u8, Error> {
    let loaded = config::load(config_path, env)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(loaded.config.agent.scan_threads.max(1) + 2)
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async move {
        let parts = Parts::build(loaded.config)?;
        if once {
            let cancel = Arc::new(AtomicBool::new(false));
            let mut parts = parts;
            let out = cycle(&mut parts, &cancel).await;
            print!("{}", out.summary());
            let delivered_or_spooled = out
                .delivery
                .as_ref()
                .is_none_or(|d| d.errors.iter().all(|e| e.is_transient()));
            let held = out.state_error.is_some() || out.not_spooled;
            return Ok(if delivered_or_spooled && !out.cancelled && !held {
                EXIT_OK
            } else {
                EXIT_RUNTIME
            });
        }
        daemon(parts, config_path.map(Path::to_path_buf), env.clone()).await
    })
}

async fn daemon(mut parts: Parts, config_path: Option<PathBuf>, env: Env) -> Result<u8, Error> {
    parts.track();
    let mut hup = signal(SignalKind::hangup()).map_err(signal_error)?;
    let mut term = signal(SignalKind::terminate()).map_err(signal_error)?;
    let mut int = signal(SignalKind::interrupt()).map_err(signal_error)?;
    systemd::ready();
    systemd::status("waiting for the first cycle");
    log::info!(version = env!("CARGO_PKG_VERSION"); "credhygiene agent started");

    let watchdog_every = systemd::watchdog_interval();
    let mut watchdog_tick =
        tokio::time::interval(watchdog_every.unwrap_or(Duration::from_secs(3600)));
    let splay = parts.config.agent.splay;
    let mut next_cycle = tokio::time::Instant::now() + random_up_to(splay);
    let mut next_role = next_cycle + parts.config.agent.role_check_interval;
    let mut next_retry = tokio::time::Instant::now() + OUTBOX_RETRY;
    let mut last_cycle_end = tokio::time::Instant::now();
    let mut last_role: Option<(Status, Option<u8>, Option<u8>)> = None;
    let cancel = Arc::new(AtomicBool::new(false));

    loop {
        tokio::select! {
            _ = sleep_until(next_cycle) => {
                let out = {
                    let fut = cycle(&mut parts, &cancel);
                    tokio::pin!(fut);
                    loop {
                        tokio::select! {
                            out = &mut fut => break out,
                            _ = term.recv() => { cancel.store(true, Ordering::Relaxed); }
                            _ = int.recv() => { cancel.store(true, Ordering::Relaxed); }
                            _ = watchdog_tick.tick(), if watchdog_every.is_some() => systemd::watchdog(),
                        }
                    }
                };
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                last_role = out.role.as_ref().map(role_key);
                last_cycle_end = tokio::time::Instant::now();
                systemd::status(&out.status_line());
                log::info!(findings = out.findings, new = out.new, resolved = out.resolved,
                    carried = out.carried, files = out.stats.files, cached = out.stats.cached,
                    bytes_read = out.stats.bytes, elapsed_ms = out.elapsed.as_millis() as u64; "cycle complete");
                let interval = parts.config.agent.interval;
                next_cycle = tokio::time::Instant::now() + interval + random_up_to(parts.config.agent.splay.min(interval / 10));
                next_role = tokio::time::Instant::now() + parts.config.agent.role_check_interval;
                drop(out);
                release_freed_memory();
            }
            _ = sleep_until(next_role) => {
                next_role = tokio::time::Instant::now() + parts.config.agent.role_check_interval;
                if let Some(client) = &parts.imds {
                    let now = match role::check(client).await {
                        Ok(r) => role_key(&r),
                        Err(e) => role_key(&RoleReport::unreachable(client.endpoint(), &e)),
                    };
                    if last_role.is_some_and(|l| l != now) {
                        log::warn!(status = now.0.as_str(); "the role check changed since the last cycle; running a cycle now");
                        next_cycle = tokio::time::Instant::now();
                    }
                }
            }
            change = next_change(&mut parts.tracker) => {
                if let track::Change::Watched(path) = change {
                    log::info!(path:% = path.display(); "watched file changed; scanning soon");
                    // Debounced, and not more often than WATCH_MIN_GAP after the last cycle: a
                    // file rewritten all the time must not turn the agent into a busy loop.
                    let soon = (tokio::time::Instant::now() + WATCH_DEBOUNCE).max(last_cycle_end + WATCH_MIN_GAP);
                    if soon < next_cycle {
                        next_cycle = soon;
                    }
                }
            }
            _ = sleep_until(next_retry) => {
                next_retry = tokio::time::Instant::now() + OUTBOX_RETRY;
                parts.retry_locked_sink();
                if let Some(sink) = parts.sink_mut() {
                    if sink.pending() > 0 {
                        let _ = tokio::time::timeout(FLUSH_DEADLINE, sink.flush()).await;
                    }
                }
            }
            _ = hup.recv() => {
                systemd::reloading();
                match config::load(config_path.as_deref(), &env) {
                    Ok(loaded) => match parts.reload(loaded.config) {
                        Ok(()) => log::info!("configuration reloaded"),
                        Err(e) => log::error!(error:% = e; "configuration reload failed; keeping the running configuration"),
                    },
                    Err(e) => log::error!(error:% = e; "configuration reload failed; keeping the running configuration"),
                }
                systemd::ready();
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = watchdog_tick.tick(), if watchdog_every.is_some() => systemd::watchdog(),
        }
    }

    systemd::stopping();
    if let Some(sink) = parts.sink_mut() {
        match tokio::time::timeout(SHUTDOWN_FLUSH_DEADLINE, sink.flush()).await {
            Ok(d) if d.pending > 0 => log::warn!(pending = d.pending; "shutting down with entries in the outbox; they are delivered after the next start"),
            Ok(_) => {}
            Err(_) => log::warn!("outbox flush did not finish within the shutdown deadline; the outbox keeps the rest"),
        }
    }
    log::info!("credhygiene agent stopped");
    Ok(EXIT_OK)
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

/// What the next batch of inotify events calls for (never, without a tracker).
async fn next_change(tracker: &mut Option<track::Tracker>) -> track::Change {
    match tracker {
        Some(t) => t.next_change().await,
        None => std::future::pending().await,
    }
}

fn signal_error(e: std::io::Error) -> Error {
    Error::Usage(format!("cannot install signal handlers: {e}"))
}

fn role_key(r: &RoleReport) -> (Status, Option<u8>, Option<u8>) {
    (r.status, r.profile_missing_metric(), r.imdsv1_open_metric())
}

fn random_up_to(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    Duration::from_millis(fastrand::u64(0..=max.as_millis() as u64))
}

/// Logs the sources the scan could not read: a warning, every cycle, for each one whose
/// previous findings are carried forward and one for the total; the others (e.g. a configured
/// tree that never existed) only at debug. Returns how many sources carried findings.
fn log_carried(unreadable: &[Unreadable], carried: &[Finding]) -> usize {
    let coverage = Coverage::new(unreadable);
    let mut per_source: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for f in carried {
        if let Some(u) = coverage.source_of(&f.path) {
            per_source.entry(&u.path).or_insert((0, &u.reason)).0 += 1;
        }
    }
    for u in unreadable {
        match per_source.get(u.path.as_str()) {
            Some((n, reason)) => log::warn!(path = u.path, findings = n, reason = reason;
                "source could not be read; its previous findings are carried forward as still present"),
            None => log::debug!(path = u.path, reason = u.reason;
                "source could not be read; no previous findings to carry"),
        }
    }
    if !carried.is_empty() {
        log::warn!(carried = carried.len(), sources = per_source.len();
            "carried {} finding(s) of {} unreadable source(s)", carried.len(), per_source.len());
    }
    per_source.len()
}

/// One cycle: role check, scan, diff, report, flush. The scan reads only what changed (see
/// [`track`]) unless the last full scan is older than `agent.full_rescan_interval`.
async fn cycle(parts: &mut Parts, cancel: &Arc<AtomicBool>) -> CycleOutcome {
    let started = Instant::now();
    let cfg = parts.config.clone();
    let state_dir = cfg.agent.state_dir.clone();

    let (mut role, identity) = match &parts.imds {
        None => (None, None),
        Some(client) => {
            let report = match role::check(client).await {
                Ok(r) => r,
                Err(e) => RoleReport::unreachable(client.endpoint(), &e),
            };
            let identity = report.instance.clone();
            (Some(report), identity)
        }
    };

    let cache_path = state_dir.join(SCAN_CACHE_FILE);
    let now = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cache = CacheFile {
        path: state_dir.join(SCAN_CACHE_FILE),
        rescan_before: now.saturating_sub(cfg.agent.full_rescan_interval.as_secs()),
    };
    // With change tracking, only the files inotify named are read; otherwise (and whenever the
    // tracker cannot vouch for the trees) every file costs a stat against the scan cache.
    let reuse = match parts.tracker.as_mut() {
        Some(t) => t.reuse(Some(cache)).await,
        None => Reuse::Cache(cache),
    };
    let scanned =
        scan_configured(Arc::clone(&parts.scanner), &cfg, Arc::clone(cancel), reuse).await;
    if let Some(t) = parts.tracker.as_mut() {
        t.finish(scanned.index);
    }
    let mut outcome = scanned.outcome;
    let mut out = CycleOutcome {
        findings: outcome.findings.len(),
        credentials: outcome.distinct_credentials(),
        stats: outcome.stats,
        cancelled: outcome.cancelled,
        ..CycleOutcome::default()
    };
    if outcome.cancelled {
        // A partial scan would report everything it did not reach as resolved.
        out.role = role;
        out.elapsed = started.elapsed();
        return out;
    }
    // An update leaves the cache file as it was: entries of files changed since no longer
    // match their stamps, so after a restart those files are read again.
    if let Some(cache) = scanned.cache {
        if let Err(e) = cache.save(&cache_path) {
            log::warn!(path:% = cache_path.display(), error:% = e; "cannot write the scan cache; the next cycle reads every file");
        }
    }

    let in_memory = parts.uncommitted.is_some();
    let mut state = match parts.uncommitted.take() {
        Some(s) => s,
        None => FindingState::load(&state_dir).unwrap_or_else(|e| {
            log::warn!(error:% = e; "finding state unreadable; starting from an empty state");
            FindingState::default()
        }),
    };
    // What the scan could not read keeps its previous findings: they are neither resolved now
    // nor new once the source is readable again.
    let carried = state.carried(&outcome.findings, &outcome.unreadable);
    out.carried = carried.len();
    out.carried_sources = log_carried(&outcome.unreadable, &carried);
    if !carried.is_empty() {
        outcome.findings.extend(carried);
        out.findings = outcome.findings.len();
        out.credentials = outcome.distinct_credentials();
    }

    if let Some(r) = role.as_mut() {
        r.add_static_keys_check(out.credentials);
    }
    let changes = state.diff(&outcome.findings);
    let generation = state.generation();
    out.new = changes.new.len();
    out.resolved = changes.resolved.len();
    let summary = role
        .as_ref()
        .map_or_else(RoleSummary::default, |r| RoleSummary {
            status: match r.status {
                Status::Pass => RoleStatus::Pass,
                Status::Fail => RoleStatus::Fail,
                Status::Unknown => RoleStatus::Unknown,
            },
            instance_profile_missing: r.profile_missing_metric().map(|v| v == 1),
            imdsv1_open: r.imdsv1_open_metric().map(|v| v == 1),
        });
    let mut report = CycleReport::new(SystemTime::now(), identity, summary, &outcome, changes);
    report.summary.carried = out.carried as u64;

    if cfg.journald.enabled {
        out.journal_entries = crate::report::journald::emit(&report);
    }
    // The changes are spooled durably before the state moves on, and the sink does not queue
    // a change it already holds or already delivered from this generation: a crash anywhere in
    // between, a flush before the next cycle, or a state that cannot be written neither loses
    // nor repeats one. (A batch CloudWatch accepted is sent again only if the process dies, or
    // the answer is lost, before the outbox is trimmed: see `report::cloudwatch`.)
    parts.retry_locked_sink();
    let history = parts.sink_has_history();
    let mut delivery = match parts.sink_mut() {
        Some(sink) => Some(sink.enqueue(&report, &generation).await),
        None => None,
    };
    // The state moves on only when the changes are safely handled: spooled, or with no
    // CloudWatch to tell. Otherwise the next cycle computes the same changes again (the sink
    // does not queue a change twice). A failed enqueue queued nothing (all or nothing).
    let spooled = match &delivery {
        Some(d) if d.active => !d
            .errors
            .iter()
            .any(|e| matches!(e, crate::report::cloudwatch::CloudWatchError::State(_))),
        Some(_) => !(parts.sink_was_active || history),
        None => !parts.sink_locked,
    };
    let changed = !report.changes.is_empty();
    if delivery.as_ref().is_some_and(|d| d.active) {
        parts.sink_was_active = true;
    }
    let unchanged = !changed && !in_memory && state.holds(&outcome.findings);
    if spooled && !unchanged {
        if let Err(e) = state.commit(&state_dir, &outcome.findings) {
            log::error!(error:% = e; "cannot write the finding state");
            out.state_error = Some(e.to_string());
            parts.uncommitted = Some(state);
        }
    } else if !spooled {
        if in_memory {
            parts.uncommitted = Some(state);
        }
        if changed {
            log::warn!("finding changes not spooled for CloudWatch this cycle; they are computed again next cycle");
            out.not_spooled = true;
        }
    }
    drop(outcome);
    if let (Some(sink), Some(d)) = (parts.sink_mut(), delivery.as_mut()) {
        if d.active {
            match tokio::time::timeout(FLUSH_DEADLINE, sink.flush()).await {
                Ok(flushed) => d.absorb(flushed),
                Err(_) => log::warn!(
                    "CloudWatch flush took too long; the outbox keeps the rest for the next try"
                ),
            }
        }
    }
    out.delivery = delivery;
    out.cloudwatch_off = parts.sink.as_ref().err().cloned();
    out.role = role;
    out.elapsed = started.elapsed();
    out
}
