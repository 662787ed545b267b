//! `credhygiene status`: what an operator asks first on a host. Does the daemon run, when did
//! the last cycle end and what did it find, which sinks work (and why not), what waits in the
//! outboxes: CloudWatch's (pending, dropped), Security Hub's (findings pending) and Systems
//! Manager's (the one request that waits, and the last answer).
//!
//! Read-only: it reads what the agent leaves in `agent.state_dir` ([`crate::state::PidFile`],
//! [`crate::state::CycleRecord`], the outbox's counts, `securityhub.json`,
//! `ssm-compliance.json`, each as it is now, not as the last cycle left it: the daemon sends
//! between cycles) and takes no lock, so it runs beside the daemon, as any user the state
//! directory lets in. A sink's file that cannot be read or trusted is shown as such; the rest
//! of the status stands. A directory it cannot read is one sentence
//! naming it (`cannot read the state directory /var/lib/credhygiene: Permission denied (run as
//! root)`).
//!
//! The daemon runs when `daemon.pid` names a live process (not a zombie) with the same command
//! name as this one: a pid file left by a daemon killed with SIGKILL, or whose pid now belongs
//! to another program, is "not running". (A pid reused by another credhygiene process is
//! taken for the daemon until that process ends.)
//!
//! Exit code (DESIGN.md): 3 when the state cannot be read, the daemon is not running, or no
//! cycle is recorded within [`STALE_AFTER_INTERVALS`] intervals; otherwise 1 when the last
//! cycle had findings or failed role checks; otherwise 0.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::AgentConfig;
use crate::error::Exit;
use crate::report::securityhub;
use crate::report::ssm::Memory;
use crate::state::{CycleRecord, OutboxCounts, PidFile, Runner, SinkState, StateError};

/// A last cycle older than this many `agent.interval`s (of the configuration `status` loads,
/// normally the daemon's) means the daemon is stuck or not cycling: cycles start every interval
/// plus at most a tenth of it as jitter, so two intervals leave room for a long scan.
pub const STALE_AFTER_INTERVALS: u32 = 2;

/// What `status` found in the state directory.
#[derive(Debug)]
pub struct Status {
    /// The pid in `daemon.pid`, if any.
    pid: Option<u32>,
    /// Whether that pid is a running credhygiene process.
    running: bool,
    last_cycle: Option<LastCycle>,
    outbox: OutboxCounts,
    /// Security Hub's pending and refused findings (`None`: the sink never ran; `Err`:
    /// unreadable).
    securityhub: Option<Result<securityhub::Counts, String>>,
    /// The Systems Manager sink's state (`None`: it never ran; `Err`: unreadable).
    ssm: Option<Result<Memory, String>>,
}

/// The recorded cycle and how old it is.
#[derive(Debug)]
struct LastCycle {
    record: CycleRecord,
    age: Duration,
    max_age: Duration,
}

impl LastCycle {
    fn stale(&self) -> bool {
        self.age > self.max_age
    }
}

impl Status {
    /// Reads the state directory of `agent`, at `now`.
    pub fn read(agent: &AgentConfig, now: SystemTime) -> Result<Status, StateError> {
        let dir = &agent.state_dir;
        check_dir(dir)?;
        let pid = PidFile::read(dir)?;
        let max_age = agent.interval.saturating_mul(STALE_AFTER_INTERVALS);
        let last_cycle = CycleRecord::load(dir)?.map(|record| LastCycle {
            age: now.duration_since(record.finished).unwrap_or_default(),
            record,
            max_age,
        });
        Ok(Status {
            pid,
            running: pid.is_some_and(is_running_credhygiene),
            last_cycle,
            outbox: OutboxCounts::read(dir, crate::state::OUTBOX_FILE)?,
            securityhub: securityhub::counts_in(dir).transpose(),
            ssm: Memory::read(dir).transpose(),
        })
    }

    /// The exit code of DESIGN.md.
    pub fn exit_code(&self) -> Exit {
        match &self.last_cycle {
            Some(c) if self.running && !c.stale() => {
                if c.record.findings > 0 || c.record.failed_checks > 0 {
                    Exit::Findings
                } else {
                    Exit::Ok
                }
            }
            _ => Exit::Runtime,
        }
    }

    /// The JSON document (`version` 1, keys in DESIGN.md's order); `last_cycle` is `null` and
    /// `sinks` empty before the first recorded cycle.
    pub fn to_json(&self) -> String {
        let last = self.last_cycle.as_ref();
        let doc = JsonDoc {
            version: 1,
            daemon: JsonDaemon {
                running: self.running,
                pid: self.pid,
            },
            last_cycle: last.map(JsonCycle::of),
            sinks: JsonSinks {
                journald: last.map(|c| &c.record.journald),
                cloudwatch: last.map(|c| &c.record.cloudwatch),
                securityhub: last.and_then(|c| c.record.securityhub.as_ref()),
                ssm: last.and_then(|c| c.record.ssm.as_ref()),
            },
            outbox: JsonOutbox {
                pending: self.outbox.pending,
                dropped: self.outbox.dropped,
                securityhub: self.securityhub.as_ref().map(JsonSecurityHub::of),
                ssm: self.ssm.as_ref().map(JsonSsm::of),
            },
        };
        let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        text.push('\n');
        text
    }

    /// A few aligned lines for a person.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let daemon = match (self.pid, self.running) {
            (Some(pid), true) => format!("running (pid {pid})"),
            (Some(pid), false) => format!(
                "not running (daemon.pid names pid {pid}, which is not a running credhygiene process)"
            ),
            (None, _) => "not running".to_string(),
        };
        line(&mut s, "daemon", &daemon);
        match &self.last_cycle {
            None => line(&mut s, "last cycle", "none recorded"),
            Some(c) => write_cycle(&mut s, c),
        }
        let o = self.outbox;
        line(
            &mut s,
            "outbox",
            &format!("CloudWatch: {} pending, {} dropped", o.pending, o.dropped),
        );
        if let Some(sh) = &self.securityhub {
            let text = match sh {
                Ok(c) => format!("{} finding(s) pending, {} dropped", c.pending, c.dropped),
                Err(why) => format!("cannot read securityhub.json: {why}"),
            };
            line(&mut s, "", &format!("Security Hub: {text}"));
        }
        if let Some(ssm) = &self.ssm {
            line(&mut s, "", &format!("SSM: {}", ssm_text(ssm)));
        }
        s
    }
}

/// `status --format json`.
#[derive(Serialize)]
struct JsonDoc<'a> {
    version: u32,
    daemon: JsonDaemon,
    last_cycle: Option<JsonCycle<'a>>,
    sinks: JsonSinks<'a>,
    outbox: JsonOutbox,
}

#[derive(Serialize)]
struct JsonDaemon {
    running: bool,
    pid: Option<u32>,
}

#[derive(Serialize)]
struct JsonCycle<'a> {
    time: String,
    age_s: u64,
    max_age_s: u64,
    stale: bool,
    by: Runner,
    pid: u32,
    duration_ms: u64,
    findings: u64,
    credentials: u64,
    new: u64,
    resolved: u64,
    carried: u64,
    role: Option<&'a str>,
    failed_checks: u64,
}

impl JsonCycle<'_> {
    fn of(c: &LastCycle) -> JsonCycle<'_> {
        let r = &c.record;
        JsonCycle {
            time: humantime::format_rfc3339_seconds(r.finished).to_string(),
            age_s: c.age.as_secs(),
            max_age_s: c.max_age.as_secs(),
            stale: c.stale(),
            by: r.by,
            pid: r.pid,
            duration_ms: r.duration_ms,
            findings: r.findings,
            credentials: r.credentials,
            new: r.new,
            resolved: r.resolved,
            carried: r.carried,
            role: r.role.as_deref(),
            failed_checks: r.failed_checks,
        }
    }
}

/// The sinks of the last cycle (none before the first).
#[derive(Serialize)]
struct JsonSinks<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    journald: Option<&'a SinkState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloudwatch: Option<&'a SinkState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    securityhub: Option<&'a SinkState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssm: Option<&'a SinkState>,
}

/// `outbox`: CloudWatch's counts at the top level (as before the fleet sinks), then each fleet
/// sink's, absent when that sink never ran.
#[derive(Serialize)]
struct JsonOutbox {
    pending: u64,
    dropped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    securityhub: Option<JsonSecurityHub>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssm: Option<JsonSsm>,
}

/// `outbox.securityhub`: `{"pending": N, "dropped": M}` (as CloudWatch's counts), or
/// `{"error": "…"}`.
#[derive(Serialize)]
#[serde(untagged)]
enum JsonSecurityHub {
    Read { pending: usize, dropped: u64 },
    Unreadable { error: String },
}

impl JsonSecurityHub {
    fn of(r: &Result<securityhub::Counts, String>) -> JsonSecurityHub {
        match r {
            Ok(c) => JsonSecurityHub::Read {
                pending: c.pending,
                dropped: c.dropped,
            },
            Err(e) => JsonSecurityHub::Unreadable { error: e.clone() },
        }
    }
}

/// `outbox.ssm`: the request that waits (`null` when none) and the last answer (`null` before
/// the first), or `{"error": "…"}`.
#[derive(Serialize)]
#[serde(untagged)]
enum JsonSsm {
    Read {
        pending: Option<JsonSsmRequest>,
        last: Option<JsonSsmAnswer>,
    },
    Unreadable {
        error: String,
    },
}

/// The `PutComplianceItems` request that waits: how many items, how many failing, and when
/// the picture was taken.
#[derive(Serialize)]
struct JsonSsmRequest {
    items: usize,
    non_compliant: usize,
    time: String,
}

/// The service's last answer: when, and why it refused the set (absent when it accepted it).
#[derive(Serialize)]
struct JsonSsmAnswer {
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<String>,
}

impl JsonSsm {
    fn of(r: &Result<Memory, String>) -> JsonSsm {
        let m = match r {
            Ok(m) => m,
            Err(e) => return JsonSsm::Unreadable { error: e.clone() },
        };
        JsonSsm::Read {
            pending: m.pending.as_ref().map(|p| JsonSsmRequest {
                items: p.items.len(),
                non_compliant: p.items.iter().filter(|i| i.status != "COMPLIANT").count(),
                time: epoch_text(p.execution_summary.execution_time),
            }),
            last: m.last.as_ref().map(|l| JsonSsmAnswer {
                time: epoch_text(l.at),
                refused: l.refused.clone(),
            }),
        }
    }
}

/// The Systems Manager line of the outbox: what waits, then what the service last said.
fn ssm_text(r: &Result<Memory, String>) -> String {
    let (pending, last) = match JsonSsm::of(r) {
        JsonSsm::Unreadable { error } => {
            return format!("cannot read ssm-compliance.json: {error}")
        }
        JsonSsm::Read { pending, last } => (pending, last),
    };
    let waiting = match pending {
        Some(p) => format!(
            "a set of {} item(s), {} non-compliant, taken {}, pending",
            p.items, p.non_compliant, p.time
        ),
        None => "nothing pending".to_string(),
    };
    match last {
        None => format!("{waiting}; nothing delivered yet"),
        Some(JsonSsmAnswer {
            time,
            refused: None,
        }) => format!("{waiting}; last set delivered {time}"),
        Some(JsonSsmAnswer {
            time,
            refused: Some(why),
        }) => format!("{waiting}; last set refused {time}: {why}"),
    }
}

/// Epoch seconds as RFC 3339.
fn epoch_text(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The lines of the last cycle: when and by whom, what it found, the role check, the sinks.
fn write_cycle(s: &mut String, c: &LastCycle) {
    let r = &c.record;
    let by = match r.by {
        Runner::Daemon => "the daemon",
        Runner::Once => "run --once",
    };
    let mut when = format!(
        "{}, {} ago, by {by} (pid {}), took {:.1} s",
        humantime::format_rfc3339_seconds(r.finished),
        humantime::format_duration(Duration::from_secs(c.age.as_secs())),
        r.pid,
        Duration::from_millis(r.duration_ms).as_secs_f64(),
    );
    if c.stale() {
        let _ = write!(
            when,
            "; older than {STALE_AFTER_INTERVALS} intervals ({})",
            humantime::format_duration(c.max_age)
        );
    }
    line(s, "last cycle", &when);
    let found = format!(
        "{} finding(s), {} credential(s): {} new, {} resolved, {} carried",
        r.findings, r.credentials, r.new, r.resolved, r.carried
    );
    line(s, "findings", &found);
    let role = match (&r.role, r.failed_checks) {
        (None, _) => "skipped (IMDS disabled)".to_string(),
        (Some(status), 0) => status.clone(),
        (Some(status), n) => format!("{status} ({n} failed check(s))"),
    };
    line(s, "role check", &role);
    line(s, "journald", &sink_text(&r.journald));
    line(s, "CloudWatch", &sink_text(&r.cloudwatch));
    if let Some(sh) = &r.securityhub {
        line(s, "Security Hub", &sink_text(sh));
    }
    if let Some(ssm) = &r.ssm {
        line(s, "SSM", &sink_text(ssm));
    }
}

fn sink_text(state: &SinkState) -> String {
    match state {
        SinkState::Active => "active".into(),
        SinkState::Inactive { reason } => format!("inactive: {reason}"),
        SinkState::Disabled => "disabled".into(),
    }
}

/// One `label:  value` line, values aligned; an empty label continues the line above.
fn line(s: &mut String, label: &str, value: &str) {
    let label = if label.is_empty() {
        String::new()
    } else {
        format!("{label}:")
    };
    let _ = writeln!(s, "{label:<14}{value}");
}

/// Fails with one sentence naming the directory when it cannot be listed (missing, or not
/// readable by this user).
fn check_dir(dir: &Path) -> Result<(), StateError> {
    fs::read_dir(dir)
        .map(drop)
        .map_err(|e| StateError::DirUnreadable {
            path: dir.to_path_buf(),
            reason: unreadable_reason(&e),
        })
}

/// The error without its `(os error N)`, and what to do about it.
fn unreadable_reason(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    match e.kind() {
        io::ErrorKind::PermissionDenied => format!("{text} (run as root)"),
        io::ErrorKind::NotFound => {
            format!("{text} (the agent has not run on this host with this configuration)")
        }
        _ => text.to_string(),
    }
}

/// Whether `pid` is a live process, other than this one, with this process's command name.
fn is_running_credhygiene(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    let stat = |path: &str| fs::read_to_string(path).ok();
    let (Some(theirs), Some(ours)) = (stat(&format!("/proc/{pid}/stat")), stat("/proc/self/stat"))
    else {
        return false;
    };
    match (command_and_state(&theirs), command_and_state(&ours)) {
        (Some((name, state)), Some((own, _))) => name == own && !matches!(state, 'Z' | 'X'),
        _ => false,
    }
}

/// The command name and state letter of a `/proc/PID/stat` line (`PID (COMM) S …`; COMM may
/// hold spaces and parentheses, so it ends at the last `)`).
fn command_and_state(stat: &str) -> Option<(&str, char)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?;
    let state = stat.get(close + 1..)?.trim_start().chars().next()?;
    Some((name, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::time::UNIX_EPOCH;

    fn record(findings: u64, failed_checks: u64) -> CycleRecord {
        CycleRecord {
            by: Runner::Daemon,
            pid: 7,
            finished: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            duration_ms: 1500,
            findings,
            credentials: findings.min(1),
            new: findings,
            resolved: 0,
            carried: 0,
            role: Some("pass".into()),
            failed_checks,
            journald: SinkState::Active,
            cloudwatch: SinkState::Disabled,
            securityhub: Some(SinkState::Inactive {
                reason: "not enabled".into(),
            }),
            ssm: None,
        }
    }

    fn status(running: bool, age_s: u64, findings: u64, failed: u64) -> Status {
        Status {
            pid: Some(7),
            running,
            last_cycle: Some(LastCycle {
                record: record(findings, failed),
                age: Duration::from_secs(age_s),
                max_age: Duration::from_secs(7200),
            }),
            outbox: OutboxCounts::default(),
            securityhub: None,
            ssm: None,
        }
    }

    #[test]
    fn exit_code_puts_a_stopped_or_stale_daemon_before_findings() {
        assert_eq!(status(true, 60, 0, 0).exit_code(), Exit::Ok);
        assert_eq!(status(true, 60, 2, 0).exit_code(), Exit::Findings);
        assert_eq!(status(true, 60, 0, 1).exit_code(), Exit::Findings);
        assert_eq!(status(false, 60, 2, 0).exit_code(), Exit::Runtime);
        assert_eq!(status(true, 7201, 2, 0).exit_code(), Exit::Runtime);
        let mut none = status(true, 0, 0, 0);
        none.last_cycle = None;
        assert_eq!(none.exit_code(), Exit::Runtime);
    }

    #[test]
    fn text_aligns_its_lines_and_says_why_a_cycle_is_stale() {
        let text = status(false, 3 * 3600, 2, 1).to_text();
        assert!(
            text.starts_with("daemon:       not running (daemon.pid names pid 7"),
            "{text}"
        );
        assert!(
            text.contains("last cycle:   2027-01-15T08:00:00Z, 3h ago, by the daemon (pid 7), took 1.5 s; older than 2 intervals (2h)"),
            "{text}"
        );
        assert!(
            text.contains("role check:   pass (1 failed check(s))\n"),
            "{text}"
        );
        assert!(text.contains("CloudWatch:   disabled\n"), "{text}");
        assert!(
            text.ends_with("outbox:       CloudWatch: 0 pending, 0 dropped\n"),
            "{text}"
        );
    }

    #[test]
    fn json_has_the_design_sections() {
        let doc: Value = serde_json::from_str(&status(true, 5, 0, 0).to_json()).unwrap();
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["daemon"], json!({"running": true, "pid": 7}));
        assert_eq!(doc["last_cycle"]["stale"], false);
        assert_eq!(doc["last_cycle"]["by"], "daemon");
        assert_eq!(doc["sinks"]["journald"], json!({"state": "active"}));
        assert_eq!(
            doc["sinks"]["securityhub"],
            json!({"state": "inactive", "reason": "not enabled"})
        );
        assert_eq!(doc["outbox"], json!({"pending": 0, "dropped": 0}));
        let mut none = status(false, 0, 0, 0);
        none.last_cycle = None;
        let text = none.to_json();
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (&doc["last_cycle"], &doc["sinks"]),
            (&Value::Null, &json!({}))
        );
        let order = ["version", "daemon", "last_cycle", "sinks", "outbox"].map(|k| text.find(k));
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn proc_stat_names_hold_spaces_and_parentheses() {
        assert_eq!(
            command_and_state("12 (a (b) c) Z 1 2"),
            Some(("a (b) c", 'Z'))
        );
        assert_eq!(command_and_state("garbage"), None);
        assert!(!is_running_credhygiene(std::process::id()));
    }

    /// The Systems Manager sink's memory: a set of `items` (the first non-compliant) waiting,
    /// taken at 1_800_000_000, and the last answer an hour before (`refused` or accepted).
    fn memory(items: usize, refused: Option<&str>) -> Memory {
        let items: Vec<Value> = (0..items)
            .map(|i| {
                let status = if i == 0 { "NON_COMPLIANT" } else { "COMPLIANT" };
                json!({"Id": format!("c{i}"), "Title": "t", "Severity": "HIGH",
                       "Status": status, "Details": {}})
            })
            .collect();
        let pending = (!items.is_empty()).then(|| {
            json!({"ResourceId": "i-1", "ResourceType": "ManagedInstance",
                "ComplianceType": "Custom:CredentialHygiene", "UploadType": "COMPLETE",
                "ExecutionSummary": {"ExecutionTime": 1_800_000_000u64, "ExecutionType": "Command"},
                "Items": items})
        });
        let last = json!({"digest": "ab", "at": 1_800_000_000u64 - 3600, "refused": refused});
        serde_json::from_value(json!({"pending": pending, "last": last})).unwrap()
    }

    #[test]
    fn the_fleet_sinks_pending_work_shows_in_text_and_json() {
        let mut st = status(true, 5, 1, 0);
        st.securityhub = Some(Ok(securityhub::Counts {
            pending: 2,
            dropped: 1,
        }));
        st.ssm = Some(Ok(memory(3, None)));
        let text = st.to_text();
        let want = "outbox:       CloudWatch: 0 pending, 0 dropped\n              \
                    Security Hub: 2 finding(s) pending, 1 dropped\n              \
                    SSM: a set of 3 item(s), 1 non-compliant, taken 2027-01-15T08:00:00Z, \
                    pending; last set delivered 2027-01-15T07:00:00Z\n";
        assert!(text.ends_with(want), "{text}");
        let doc: Value = serde_json::from_str(&st.to_json()).unwrap();
        assert_eq!(
            doc["outbox"],
            json!({"pending": 0, "dropped": 0, "securityhub": {"pending": 2, "dropped": 1},
                   "ssm": {"pending": {"items": 3, "non_compliant": 1,
                                       "time": "2027-01-15T08:00:00Z"},
                           "last": {"time": "2027-01-15T07:00:00Z"}}})
        );
    }

    #[test]
    fn the_systems_manager_line_says_what_waits_and_what_was_last_answered() {
        let none: Memory = Memory::default();
        let cases: [(Result<Memory, String>, &str); 4] = [
            (Ok(none), "nothing pending; nothing delivered yet"),
            (
                Ok(memory(0, None)),
                "nothing pending; last set delivered 2027-01-15T07:00:00Z",
            ),
            (
                Ok(memory(2, Some("ValidationException: bad"))),
                "a set of 2 item(s), 1 non-compliant, taken 2027-01-15T08:00:00Z, pending; \
                 last set refused 2027-01-15T07:00:00Z: ValidationException: bad",
            ),
            (
                Err("expected value at line 1".into()),
                "cannot read ssm-compliance.json: expected value at line 1",
            ),
        ];
        for (m, want) in cases {
            assert_eq!(ssm_text(&m), want);
        }
        let refused = serde_json::to_value(JsonSsm::of(&Ok(memory(0, Some("no"))))).unwrap();
        assert_eq!(
            refused,
            json!({"pending": null, "last": {"time": "2027-01-15T07:00:00Z", "refused": "no"}})
        );
        let broken = serde_json::to_value(JsonSecurityHub::of(&Err("torn".into()))).unwrap();
        assert_eq!(broken, json!({"error": "torn"}));
    }

    #[test]
    fn read_takes_each_sinks_file_as_it_is_and_an_untrusted_one_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let agent = AgentConfig {
            state_dir: dir.path().to_path_buf(),
            ..AgentConfig::default()
        };
        let st = Status::read(&agent, SystemTime::now()).unwrap();
        assert!(st.securityhub.is_none() && st.ssm.is_none());
        let doc: Value = serde_json::from_str(&st.to_json()).unwrap();
        assert_eq!(doc["outbox"], json!({"pending": 0, "dropped": 0}));
        assert!(!st.to_text().contains("Security Hub:"));

        memory(4, None).save(dir.path()).unwrap();
        fs::write(dir.path().join("securityhub.json"), "{").unwrap();
        let st = Status::read(&agent, SystemTime::now()).unwrap();
        let text = st.to_text();
        assert!(
            text.contains(
                "\n              Security Hub: cannot read securityhub.json: JSON cut short"
            ),
            "{text}"
        );
        assert!(
            text.contains("SSM: a set of 4 item(s), 1 non-compliant"),
            "{text}"
        );
        let doc: Value = serde_json::from_str(&st.to_json()).unwrap();
        assert_eq!(doc["outbox"]["ssm"]["pending"]["items"], 4);
        assert!(doc["outbox"]["securityhub"]["error"].is_string(), "{doc}");
    }

    #[test]
    fn an_unreadable_directory_is_one_sentence_naming_it() {
        let e = check_dir(Path::new("/nonexistent/credhygiene")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read the state directory /nonexistent/credhygiene: No such file or directory (the agent has not run on this host with this configuration)"
        );
        let denied = io::Error::from_raw_os_error(13);
        assert_eq!(
            unreadable_reason(&denied),
            "Permission denied (run as root)"
        );
    }
}
