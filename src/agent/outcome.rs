//! What one cycle did: the daemon's log line and `STATUS=`, the summary of `run --once` and
//! its exit code, and the record `credhygiene status` reads.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::error::Exit;
use crate::report::cloudwatch::Delivery;
use crate::report::ssm::SsmDelivery;
use crate::role::{self, RoleReport};
use crate::state::{CycleRecord, Runner, SinkState};

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
    /// Sources that could not be read this cycle (see [`crate::scan::Unreadable`]) and carried
    /// findings.
    pub carried_sources: usize,
    /// Scan counters.
    pub stats: crate::scan::Stats,
    /// Journal entries written.
    pub journal_entries: usize,
    /// CloudWatch delivery (None when the sink is off).
    pub delivery: Option<Delivery>,
    /// Why the CloudWatch sink is off.
    pub cloudwatch_off: Option<String>,
    /// Security Hub delivery (None when the sink is off).
    pub securityhub: Option<crate::report::securityhub::Delivery>,
    /// Why the Security Hub sink is off.
    pub securityhub_off: Option<String>,
    /// Systems Manager Compliance: what it did, or why it did nothing (`disabled`, no
    /// identity, before the first contact); `None` when the cycle did not get that far.
    pub ssm: Option<Result<SsmDelivery, String>>,
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
    /// The exit code of `run --once` (DESIGN.md): 0 when everything was delivered, or spooled
    /// for a transient reason; 3 when something needs an operator or the changes are held.
    pub fn exit_code(&self) -> Exit {
        let delivered_or_spooled = self
            .delivery
            .as_ref()
            .is_none_or(|d| d.errors.iter().all(|e| e.is_transient()))
            && self
                .securityhub
                .as_ref()
                .is_none_or(|d| d.errors.iter().all(|e| e.is_transient()));
        let held = self.state_error.is_some() || self.not_spooled;
        if delivered_or_spooled && !self.cancelled && !held {
            Exit::Ok
        } else {
            Exit::Runtime
        }
    }

    /// The daemon's `STATUS=` line.
    pub(super) fn status_line(&self) -> String {
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

    /// The daemon's structured log line at the end of a cycle.
    pub(super) fn log(&self) {
        log::info!(findings = self.findings, new = self.new, resolved = self.resolved,
            carried = self.carried, files = self.stats.files, cached = self.stats.cached,
            bytes_read = self.stats.bytes, elapsed_ms = self.elapsed.as_millis() as u64; "cycle complete");
    }

    /// Writes what `credhygiene status` shows of this cycle to the state directory; a
    /// failure is logged, not fatal (the cycle itself is done).
    pub(super) fn save_record(&self, config: &Config, by: Runner) {
        let record = self.record(config, by, SystemTime::now());
        if let Err(e) = record.save(&config.agent.state_dir) {
            log::warn!(error:% = e; "cannot record the cycle for credhygiene status");
        }
    }

    fn record(&self, config: &Config, by: Runner, finished: SystemTime) -> CycleRecord {
        let failed = self.role.as_ref().map_or(0, |r| {
            r.checks
                .iter()
                .filter(|c| c.status == role::Status::Fail)
                .count()
        });
        CycleRecord {
            by,
            pid: std::process::id(),
            finished,
            duration_ms: self.elapsed.as_millis() as u64,
            findings: self.findings as u64,
            credentials: self.credentials as u64,
            new: self.new as u64,
            resolved: self.resolved as u64,
            carried: self.carried as u64,
            role: self.role.as_ref().map(|r| r.status.as_str().to_string()),
            failed_checks: failed as u64,
            journald: if config.journald.enabled {
                SinkState::Active
            } else {
                SinkState::Disabled
            },
            cloudwatch: self.cloudwatch_state(config.cloudwatch.enabled),
            securityhub: Some(super::securityhub::state(
                self.securityhub.as_ref(),
                self.securityhub_off.as_deref(),
                config.securityhub.enabled,
            )),
            ssm: Some(self.ssm_state()),
        }
    }

    /// The Systems Manager sink as `status` shows it.
    fn ssm_state(&self) -> SinkState {
        let inactive = |reason: &str| SinkState::Inactive {
            reason: reason.to_string(),
        };
        match &self.ssm {
            Some(Ok(d)) if d.active => SinkState::Active,
            Some(Ok(d)) => inactive(d.inactive_reason.as_deref().unwrap_or("no credentials")),
            Some(Err(why)) if why == super::parts::SSM_DISABLED => SinkState::Disabled,
            Some(Err(why)) => inactive(why),
            None => inactive("the cycle ended before reporting"),
        }
    }

    /// The CloudWatch sink as `status` shows it: the delivery says whether it worked; without
    /// one, the sink was switched off, or could not be opened for the reason kept.
    fn cloudwatch_state(&self, enabled: bool) -> SinkState {
        let inactive = |reason: Option<&str>| SinkState::Inactive {
            reason: reason.unwrap_or("no credentials").to_string(),
        };
        match &self.delivery {
            Some(d) if d.active => SinkState::Active,
            Some(d) => inactive(d.inactive_reason.as_deref()),
            None if !enabled => SinkState::Disabled,
            None => inactive(self.cloudwatch_off.as_deref()),
        }
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
        self.write_role(&mut s);
        self.write_scan(&mut s);
        let _ = writeln!(s, "  journald:   {} entr(y/ies)", self.journal_entries);
        self.write_cloudwatch(&mut s);
        self.write_securityhub(&mut s);
        self.write_ssm(&mut s);
        s
    }

    fn write_securityhub(&self, s: &mut String) {
        let line = match &self.securityhub {
            None => self.securityhub_off.clone().unwrap_or_else(|| "off".into()),
            Some(d) if !d.active => format!(
                "inactive: {}",
                d.inactive_reason.as_deref().unwrap_or("no credentials")
            ),
            Some(d) => format!(
                "{} finding(s) imported, {} refused, {} pending; {} call(s), {} bytes sent",
                d.accepted, d.rejected, d.pending, d.calls.calls, d.calls.bytes_sent
            ),
        };
        let _ = writeln!(s, "  Security Hub: {line}");
        for e in self.securityhub.iter().flat_map(|d| &d.errors) {
            let _ = writeln!(s, "    error: {e}");
        }
    }

    /// The Systems Manager line of the summary.
    fn write_ssm(&self, s: &mut String) {
        let line = match &self.ssm {
            None => return,
            Some(Err(why)) => format!("off ({why})"),
            Some(Ok(d)) if !d.active => {
                format!("inactive: {}", d.inactive_reason.as_deref().unwrap_or("?"))
            }
            Some(Ok(d)) if d.delivered => format!("{} item(s) delivered", d.items),
            Some(Ok(d)) if d.pending => format!(
                "{} item(s) pending: {}",
                d.items,
                d.error.as_deref().unwrap_or("not sent")
            ),
            Some(Ok(d)) => match &d.error {
                Some(e) => format!("{} item(s) refused: {e}", d.items),
                None => format!("{} item(s), unchanged since the last delivery", d.items),
            },
        };
        let _ = writeln!(s, "  ssm:        {line}");
    }

    fn write_role(&self, s: &mut String) {
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
    }

    /// The scan line, carried findings and what became of the finding state.
    fn write_scan(&self, s: &mut String) {
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
    }

    fn write_cloudwatch(&self, s: &mut String) {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_exits_zero_only_when_nothing_is_held() {
        assert_eq!(CycleOutcome::default().exit_code(), Exit::Ok);
        let cancelled = CycleOutcome {
            cancelled: true,
            ..CycleOutcome::default()
        };
        let not_saved = CycleOutcome {
            state_error: Some("read-only file system".into()),
            ..CycleOutcome::default()
        };
        let not_spooled = CycleOutcome {
            not_spooled: true,
            ..CycleOutcome::default()
        };
        for out in [cancelled, not_saved, not_spooled] {
            assert_eq!(out.exit_code(), Exit::Runtime, "{out:?}");
        }
    }

    #[test]
    fn the_record_says_which_sinks_worked() {
        let mut config = Config::default();
        config.journald.enabled = false;
        let out = CycleOutcome {
            findings: 3,
            cloudwatch_off: Some("not used: outbox in use".into()),
            ..CycleOutcome::default()
        };
        let r = out.record(&config, Runner::Daemon, SystemTime::UNIX_EPOCH);
        assert_eq!(
            (r.findings, r.role.as_deref(), r.failed_checks),
            (3, None, 0)
        );
        assert_eq!(r.journald, SinkState::Disabled);
        assert_eq!(
            r.cloudwatch,
            SinkState::Inactive {
                reason: "not used: outbox in use".into()
            }
        );
        config.cloudwatch.enabled = false;
        let r = out.record(&config, Runner::Once, SystemTime::UNIX_EPOCH);
        assert_eq!(r.cloudwatch, SinkState::Disabled);
    }

    #[test]
    fn status_line_names_role_and_cloudwatch() {
        let out = CycleOutcome {
            findings: 2,
            credentials: 1,
            new: 2,
            carried: 1,
            ..CycleOutcome::default()
        };
        assert_eq!(
            out.status_line(),
            "2 finding(s), 1 credential(s), 2 new, 0 resolved, 1 carried; role disabled; CloudWatch off"
        );
    }
}
