//! What the agent leaves for `credhygiene status`: [`PID_FILE`] (the daemon's pid, written when
//! it starts and removed when it stops cleanly) and [`STATUS_FILE`] (the last cycle, written
//! after every complete cycle of the daemon and of `run --once`).
//!
//! Both are replaced atomically (mode 0600): a reader sees the old file or the new one, and
//! needs no lock. Neither holds a secret or a path: counts, times, role status and the sinks'
//! states with their reasons. A daemon killed by SIGKILL leaves its pid file behind, so a
//! reader must check that the pid names a running credhygiene process before it believes it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{json_error, write_atomic, StateError, FORMAT_VERSION};

/// File name of the daemon's pid file inside the state directory.
pub const PID_FILE: &str = "daemon.pid";
/// File name of the last cycle's record inside the state directory.
pub const STATUS_FILE: &str = "status.json";

/// Which process ran a recorded cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runner {
    /// The daemon (`credhygiene run`).
    Daemon,
    /// `credhygiene run --once` (e.g. at image bake time).
    Once,
}

/// What became of a sink in a cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SinkState {
    /// Switched on and working (deliveries may still be pending or retried).
    Active,
    /// Switched on but not working, for the reason given (no credentials, outbox held by
    /// another process, …).
    Inactive {
        /// Why, in one sentence.
        reason: String,
    },
    /// Switched off in the configuration.
    Disabled,
}

/// The last complete cycle, as `credhygiene status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleRecord {
    /// Who ran it.
    pub by: Runner,
    /// The process that ran it.
    pub pid: u32,
    /// When it ended (whole seconds).
    #[serde(with = "humantime_serde")]
    pub finished: SystemTime,
    /// Its wall time in milliseconds.
    pub duration_ms: u64,
    /// Findings of the scan, carried ones included.
    pub findings: u64,
    /// Distinct credentials among them.
    pub credentials: u64,
    /// New findings.
    pub new: u64,
    /// Resolved findings.
    pub resolved: u64,
    /// Findings of sources that could not be read, carried forward as still present.
    pub carried: u64,
    /// The role check's status (`pass`, `fail`, `unknown`); `None` when IMDS is disabled.
    pub role: Option<String>,
    /// Role checks that failed.
    pub failed_checks: u64,
    /// The journald sink.
    pub journald: SinkState,
    /// The CloudWatch sink.
    pub cloudwatch: SinkState,
    /// The Security Hub sink (`None` in a record of a version without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub securityhub: Option<SinkState>,
    /// The Systems Manager Compliance sink (absent in records of earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm: Option<SinkState>,
}

/// The file: the record and its format version.
#[derive(Serialize, Deserialize)]
struct StatusFile {
    version: u32,
    #[serde(flatten)]
    cycle: CycleRecord,
}

impl CycleRecord {
    /// Writes the record to [`STATUS_FILE`] in `dir`, atomically.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join(STATUS_FILE);
        let mut cycle = self.clone();
        cycle.finished = whole_seconds(cycle.finished);
        let file = StatusFile {
            version: FORMAT_VERSION,
            cycle,
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: format!("cannot serialise the status: {e}"),
        })?;
        write_atomic(&path, &bytes)
    }

    /// Reads [`STATUS_FILE`] in `dir`; `None` when no cycle was recorded yet.
    pub fn load(dir: &Path) -> Result<Option<CycleRecord>, StateError> {
        let path = dir.join(STATUS_FILE);
        let Some(bytes) = read_if_present(&path)? else {
            return Ok(None);
        };
        let corrupt = |message: String| StateError::Corrupt {
            path: path.clone(),
            message,
        };
        let file: StatusFile =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(json_error(&e)))?;
        if file.version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format version {}, expected {FORMAT_VERSION}",
                file.version
            )));
        }
        Ok(Some(file.cycle))
    }
}

/// The daemon's pid file: written by [`PidFile::create`], removed when the value is dropped
/// (a clean stop) unless another daemon has written its own pid there since.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's pid to [`PID_FILE`] in `dir`, atomically.
    pub fn create(dir: &Path) -> Result<PidFile, StateError> {
        let path = dir.join(PID_FILE);
        write_atomic(&path, format!("{}\n", std::process::id()).as_bytes())?;
        Ok(PidFile { path })
    }

    /// The pid in [`PID_FILE`] in `dir`; `None` when there is no pid file.
    pub fn read(dir: &Path) -> Result<Option<u32>, StateError> {
        let path = dir.join(PID_FILE);
        let Some(bytes) = read_if_present(&path)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        match text.trim().parse::<u32>() {
            Ok(pid) => Ok(Some(pid)),
            Err(_) => Err(StateError::Corrupt {
                path,
                message: "expected a process id".into(),
            }),
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if matches!(PidFile::read(dir), Ok(Some(pid)) if pid == std::process::id()) {
            if let Err(e) = fs::remove_file(&self.path) {
                log::warn!(path:% = self.path.display(), error:% = e; "cannot remove the pid file");
            }
        }
    }
}

/// The file's bytes; `None` when it does not exist.
fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> CycleRecord {
        CycleRecord {
            by: Runner::Once,
            pid: 42,
            finished: UNIX_EPOCH + Duration::from_millis(1_800_000_000_500),
            duration_ms: 1200,
            findings: 2,
            credentials: 1,
            new: 2,
            resolved: 0,
            carried: 0,
            role: None,
            failed_checks: 0,
            journald: SinkState::Active,
            cloudwatch: SinkState::Inactive {
                reason: "no credentials".into(),
            },
            securityhub: Some(SinkState::Disabled),
            ssm: Some(SinkState::Disabled),
        }
    }

    #[test]
    fn the_record_survives_a_round_trip_in_whole_seconds() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(CycleRecord::load(dir.path()).unwrap(), None);
        record().save(dir.path()).unwrap();
        let text = fs::read_to_string(dir.path().join(STATUS_FILE)).unwrap();
        assert!(
            text.contains("\"finished\": \"2027-01-15T08:00:00Z\""),
            "{text}"
        );
        assert!(text.contains("\"state\": \"inactive\""), "{text}");
        let back = CycleRecord::load(dir.path()).unwrap().unwrap();
        assert_eq!(
            back.finished,
            UNIX_EPOCH + Duration::from_secs(1_800_000_000)
        );
        assert_eq!(back.cloudwatch, record().cloudwatch);
        super::super::tests::assert_no_temporary_file(dir.path());
    }

    #[test]
    fn a_record_of_another_version_is_an_error_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        record().save(dir.path()).unwrap();
        let path = dir.path().join(STATUS_FILE);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace("\"version\": 1", "\"version\": 9")).unwrap();
        let err = CycleRecord::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("format version 9"), "{err}");
    }

    #[test]
    fn a_corrupt_record_is_an_error_that_quotes_nothing_of_it() {
        // fuzz/artifacts/status/crash-secret-in-serde-error: serde_json's text quoted the
        // value into the error `credhygiene status` prints.
        const SECRET: &str = "V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw";
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{{\"version\":1,\"pid\":\"{SECRET}\"}}");
        fs::write(dir.path().join(STATUS_FILE), text).unwrap();
        let e = CycleRecord::load(dir.path()).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(
            shown.contains("JSON of another shape at line 1 column"),
            "{shown}"
        );
    }

    #[test]
    fn the_pid_file_is_removed_at_drop_only_while_it_is_ours() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(PidFile::read(dir.path()).unwrap(), None);
        let pid = PidFile::create(dir.path()).unwrap();
        assert_eq!(PidFile::read(dir.path()).unwrap(), Some(std::process::id()));
        drop(pid);
        assert!(!dir.path().join(PID_FILE).exists());

        let pid = PidFile::create(dir.path()).unwrap();
        fs::write(dir.path().join(PID_FILE), "1\n").unwrap();
        drop(pid);
        assert_eq!(PidFile::read(dir.path()).unwrap(), Some(1));
    }
}
