//! One cycle, as named steps: role check, scan, carry, diff, report, commit, flush. The scan
//! reads only what changed (see [`super::track`]) unless the last full scan is older than
//! `agent.full_rescan_interval`.
//!
//! The changes are spooled durably before the finding state moves on, and the sink does not
//! queue a change it already holds or already delivered from this generation: a crash
//! anywhere in between, a flush before the next cycle, or a state that cannot be written
//! neither loses nor repeats one. (A batch CloudWatch accepted is sent again only if the
//! process dies, or the answer is lost, before the outbox is trimmed: see
//! `report::cloudwatch`.)

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::Config;
use crate::finding::Finding;
use crate::report::cloudwatch::Delivery;
use crate::report::cycle::{CycleReport, RoleSummary};
use crate::report::fleet::HostView;
use crate::report::ssm::SsmDelivery;
use crate::role::{self, RoleReport, V1Probe};
use crate::scan::unreadable::{Coverage, Unreadable};
use crate::scan::{CacheFile, Reuse, ScanCache, ScanOutcome};
use crate::sources;
use crate::state::FindingState;

use super::commit::{self, Next, SinkState, StateFacts};
use super::outcome::CycleOutcome;
use super::parts::Parts;

/// The scan cache file in `agent.state_dir`.
const SCAN_CACHE_FILE: &str = "scan-cache";
/// The scan cache of earlier versions (one JSON document): removed when a new one is written.
const LEGACY_SCAN_CACHE_FILE: &str = "scan-cache.json";
/// How long one flush may keep the daemon from its signals and watchdog (the outbox keeps
/// whatever it did not send).
pub(super) const FLUSH_DEADLINE: Duration = Duration::from_secs(20);

/// Runs one cycle. A cancelled scan ends the cycle before the diff: a partial scan would
/// report everything it did not reach as resolved.
pub(super) async fn run(parts: &mut Parts, cancel: &Arc<AtomicBool>) -> CycleOutcome {
    let started = Instant::now();
    let cfg = parts.config.clone();
    let mut role = check_role(parts).await;
    let (mut scanned, cache) = scan(parts, &cfg, cancel).await;
    let mut out = CycleOutcome {
        findings: scanned.findings.len(),
        credentials: scanned.distinct_credentials(),
        stats: scanned.stats,
        cancelled: scanned.cancelled,
        ..CycleOutcome::default()
    };
    if !scanned.cancelled {
        save_cache(&cfg.agent.state_dir, cache);
        let (state, in_memory) = load_state(parts, &cfg.agent.state_dir);
        carry(&state, &mut scanned, &mut out);
        if let Some(r) = role.as_mut() {
            r.add_static_keys_check(out.credentials);
        }
        let mut report = diff(&state, &scanned, role.as_ref(), &mut out);
        if let Some(e) = parts.enricher.as_mut() {
            e.enrich_cycle(&mut report, &scanned.findings).await;
        }
        if cfg.journald.enabled {
            out.journal_entries = crate::report::journald::emit(&report);
        }
        let generation = state.generation();
        let (sink, delivery) = spool(parts, &report, &generation).await;
        let facts = StateFacts {
            changed: !report.changes.is_empty(),
            in_memory,
            holds: state.holds(&scanned.findings),
        };
        let view = host_view(role.as_ref(), &scanned.findings, report.owners.enriched());
        drop(report);
        let next = commit::next(sink, facts);
        apply(parts, next, state, in_memory, &scanned.findings, &mut out);
        if next == Next::Hold && facts.changed {
            log::warn!("finding changes not spooled for CloudWatch this cycle; they are computed again next cycle");
            out.not_spooled = true;
        }
        out.delivery = flush(parts, delivery).await;
        out.cloudwatch_off = parts.sink.as_ref().err().cloned();
        out.securityhub = super::securityhub::report(parts, view.as_ref()).await;
        out.securityhub_off = parts.securityhub.as_ref().err().cloned();
        out.ssm = Some(report_ssm(parts, view.as_ref()).await);
        drop(scanned);
    }
    out.role = role;
    out.elapsed = started.elapsed();
    out
}

/// The role check (None when IMDS is disabled); an unreachable IMDS is a report, not an error.
/// The token-less IMDSv1 probe runs only when [`super::probe`] says so (and EC2 did not
/// answer, with `imds.v1_from_ec2_api`).
pub(super) async fn check_role(parts: &mut Parts) -> Option<RoleReport> {
    let client = parts.imds.clone()?;
    let now = tokio::time::Instant::now();
    let interval = parts.config.imds.v1_probe_interval;
    let probe = parts
        .v1
        .decide(parts.ec2.as_ref(), &client, interval, now)
        .await;
    let report = match role::check_with(&client, probe, SystemTime::now()).await {
        Ok(r) => r,
        Err(e) => RoleReport::unreachable(client.endpoint(), &e),
    };
    if probe == V1Probe::Now {
        parts.v1.probed(now, report.v1_status);
    }
    Some(report)
}

/// Scans the configured sources. With change tracking only the files inotify named are read;
/// otherwise (and whenever the tracker cannot vouch for the trees) every file costs a stat
/// against the scan cache.
async fn scan(
    parts: &mut Parts,
    cfg: &Config,
    cancel: &Arc<AtomicBool>,
) -> (ScanOutcome, Option<ScanCache>) {
    let now = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cache = CacheFile {
        path: cfg.agent.state_dir.join(SCAN_CACHE_FILE),
        rescan_before: now.saturating_sub(cfg.agent.full_rescan_interval.as_secs()),
    };
    let reuse = match parts.tracker.as_mut() {
        Some(t) => t.reuse(Some(cache)).await,
        None => Reuse::Cache(cache),
    };
    let scanned = sources::scan(Arc::clone(&parts.scanner), cfg, Arc::clone(cancel), reuse).await;
    if let Some(t) = parts.tracker.as_mut() {
        t.finish(scanned.index);
    }
    (scanned.outcome, scanned.cache)
}

/// Writes the cache of a full walk. An update has none and leaves the file as it was:
/// entries of files changed since no longer match their stamps, so after a restart those
/// files are read again.
fn save_cache(state_dir: &Path, cache: Option<ScanCache>) {
    let Some(cache) = cache else { return };
    let path = state_dir.join(SCAN_CACHE_FILE);
    match cache.save(&path) {
        Ok(()) => {
            let _ = std::fs::remove_file(state_dir.join(LEGACY_SCAN_CACHE_FILE));
        }
        Err(e) => {
            log::warn!(path:% = path.display(), error:% = e; "cannot write the scan cache; the next cycle reads every file");
        }
    }
}

/// The state to diff against: the one the last cycle could not write (`true`), else the
/// file's (held from the last cycle while the file is unchanged).
fn load_state(parts: &mut Parts, state_dir: &Path) -> (FindingState, bool) {
    match parts.uncommitted.take() {
        Some(s) => (s, true),
        None => {
            let state = parts.held.load(state_dir).unwrap_or_else(|e| {
                log::warn!(error:% = e; "finding state unreadable; starting from an empty state");
                FindingState::default()
            });
            (state, false)
        }
    }
}

/// What the scan could not read keeps its previous findings: they are neither resolved now
/// nor new once the source is readable again.
fn carry(state: &FindingState, scanned: &mut ScanOutcome, out: &mut CycleOutcome) {
    let carried = state.carried(&scanned.findings, &scanned.unreadable);
    out.carried = carried.len();
    out.carried_sources = log_carried(&scanned.unreadable, &carried);
    if !carried.is_empty() {
        scanned.findings.extend(carried);
        out.findings = scanned.findings.len();
        out.credentials = scanned.distinct_credentials();
    }
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

/// The changes since the state, as the report every sink consumes.
fn diff(
    state: &FindingState,
    scanned: &ScanOutcome,
    role: Option<&RoleReport>,
    out: &mut CycleOutcome,
) -> CycleReport {
    let changes = state.diff(&scanned.findings);
    out.new = changes.new.len();
    out.resolved = changes.resolved.len();
    let identity = role.and_then(|r| r.instance.clone());
    let mut report = CycleReport::new(
        SystemTime::now(),
        identity,
        role_summary(role),
        scanned,
        changes,
    );
    report.summary.carried = out.carried as u64;
    report
}

fn role_summary(role: Option<&RoleReport>) -> RoleSummary {
    role.map_or_else(RoleSummary::default, |r| RoleSummary {
        status: r.status,
        instance_profile_missing: r.profile_missing_metric().map(|v| v == 1),
        imdsv1_open: r.imdsv1_open_metric().map(|v| v == 1),
    })
}

/// Queues the changes in the CloudWatch outbox (all or nothing), and says what that means
/// for the finding state.
async fn spool(
    parts: &mut Parts,
    report: &CycleReport,
    generation: &str,
) -> (SinkState, Option<Delivery>) {
    parts.retry_locked_sink();
    let history = parts.sink_has_history();
    let delivery = match parts.sink_mut() {
        Some(sink) => Some(sink.enqueue(report, generation).await),
        None => None,
    };
    let sink = SinkState::of(
        delivery.as_ref(),
        parts.sink_locked,
        parts.sink_was_active || history,
    );
    if delivery.as_ref().is_some_and(|d| d.active) {
        parts.sink_was_active = true;
    }
    (sink, delivery)
}

/// Carries out the rule's decision. A state that cannot be written, or one held back while
/// it exists only in memory, is kept for the next cycle to diff against; one that is what the
/// file holds (committed, or read and left as it was) is held for the next cycle.
fn apply(
    parts: &mut Parts,
    next: Next,
    mut state: FindingState,
    in_memory: bool,
    findings: &[Finding],
    out: &mut CycleOutcome,
) {
    let dir = &parts.config.agent.state_dir;
    let written = match next {
        Next::Commit => match state.commit(dir, findings) {
            Ok(()) => true,
            Err(e) => {
                log::error!(error:% = e; "cannot write the finding state");
                out.state_error = Some(e.to_string());
                false
            }
        },
        Next::Keep => true,
        Next::Hold => !in_memory,
    };
    if written {
        parts.held.hold(dir, state);
    } else {
        parts.uncommitted = Some(state);
    }
}

/// The whole picture the fleet sinks report (`None` without an instance identity: off EC2,
/// IMDS disabled or unreachable), with what the IAM enrichment learnt of the keys' owners.
fn host_view(
    role: Option<&RoleReport>,
    findings: &[Finding],
    owners: &std::collections::HashMap<String, crate::owner::Owner>,
) -> Option<HostView> {
    let r = role?;
    let instance = r.instance.clone()?;
    let checks = Some(r.checks.clone());
    Some(HostView::new(
        SystemTime::now(),
        instance,
        checks,
        findings,
        owners,
    ))
}

/// Systems Manager Compliance: the picture of this cycle (after the daemon's first contact).
/// `Err` says why there is no delivery (disabled, no identity, before first contact).
async fn report_ssm(parts: &Parts, view: Option<&HostView>) -> Result<SsmDelivery, String> {
    let sink = parts.ssm.as_ref().map_err(Clone::clone)?;
    let Some(view) = view else {
        return Err("no instance identity (off EC2, or IMDS disabled or unreachable)".into());
    };
    if parts
        .first_contact
        .is_some_and(|t| tokio::time::Instant::now() < t)
    {
        return Err("waiting for the first contact (agent.first_contact_splay)".into());
    }
    Ok(sink.report(view).await)
}

/// Sends what the outbox holds, within [`FLUSH_DEADLINE`] (an inactive sink sends nothing).
/// Before the daemon's first contact the entries stay spooled; the daemon flushes them then.
async fn flush(parts: &mut Parts, delivery: Option<Delivery>) -> Option<Delivery> {
    let mut d = delivery?;
    if parts
        .first_contact
        .is_some_and(|t| tokio::time::Instant::now() < t)
    {
        return Some(d);
    }
    if let (Some(sink), true) = (parts.sink_mut(), d.active) {
        match tokio::time::timeout(FLUSH_DEADLINE, sink.flush()).await {
            Ok(flushed) => d.absorb(flushed),
            Err(_) => log::warn!(
                "CloudWatch flush took too long; the outbox keeps the rest for the next try"
            ),
        }
    }
    Some(d)
}
