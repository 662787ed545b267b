//! Logging through the `log` facade: journald with structured fields when stderr is connected
//! to the journal, else a small stderr logger (stdout is reserved for reports).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Whether [`init`] installed the journald logger.
static TO_JOURNAL: AtomicBool = AtomicBool::new(false);

/// Installs the logger. `verbosity` raises the level from the default (warnings on a
/// terminal, info under journald).
pub fn init(verbosity: u8) {
    let journal = systemd_journal_logger::connected_to_journal();
    let base = if journal { 2 } else { 1 };
    let level = match base + verbosity {
        0 => LevelFilter::Error,
        1 => LevelFilter::Warn,
        2 => LevelFilter::Info,
        3 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let installed = if journal {
        systemd_journal_logger::JournalLog::new()
            .map(|l| {
                l.with_syslog_identifier("credhygiene".to_string())
                    .with_extra_fields(vec![("VERSION", env!("CARGO_PKG_VERSION"))])
            })
            .and_then(|l| l.install().map_err(std::io::Error::other))
            .is_ok()
    } else {
        false
    };
    if !installed {
        let _ = log::set_boxed_logger(Box::new(StderrLogger));
    }
    TO_JOURNAL.store(installed, Ordering::Relaxed);
    log::set_max_level(level);
}

/// Reports the error that ends the process: under systemd to the journal at priority err (so
/// `journalctl -p err` shows why a start or a reload failed, not only systemd's "Failed to
/// start"), elsewhere as one `credhygiene: error: …` line on stderr.
pub fn fatal(message: &str) {
    if TO_JOURNAL.load(Ordering::Relaxed) {
        log::error!("{message}");
        log::logger().flush();
    } else {
        eprintln!("credhygiene: error: {message}");
    }
}

/// One line per record on stderr: `credhygiene: level: message key=value …`.
#[derive(Debug)]
struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) || !record.target().starts_with("credhygiene") {
            return;
        }
        let level = match record.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        let mut line = format!("credhygiene: {level}: {}", record.args());
        let mut kv = KvLine(&mut line);
        let _ = record.key_values().visit(&mut kv);
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

struct KvLine<'a>(&'a mut String);

impl<'kvs> log::kv::VisitSource<'kvs> for KvLine<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        use std::fmt::Write as _;
        let v = value.to_string();
        if v.contains(' ') {
            let _ = write!(self.0, " {key}={v:?}");
        } else {
            let _ = write!(self.0, " {key}={v}");
        }
        Ok(())
    }
}
