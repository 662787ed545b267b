//! The crate's error type: one variant per module's error, mapped once to DESIGN.md exit codes.

use crate::config::ConfigError;
use crate::imds::ImdsError;
use crate::scan::ScanError;

/// Exit code: clean scan, passed check.
pub const EXIT_OK: u8 = 0;
/// Exit code: findings (`scan`) or a failed check (`role`).
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: runtime error (e.g. IMDS unreachable for `role`).
pub const EXIT_RUNTIME: u8 = 3;

/// Anything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The command line was wrong in a way clap could not see.
    #[error("{0}")]
    Usage(String),
    /// The scan could not run at all (soft failures are counted, not raised).
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// IMDS could not be reached or answered in a way that stops the command.
    #[error(transparent)]
    Imds(#[from] ImdsError),
    /// Writing the report to stdout failed.
    #[error("cannot write the report to standard output: {0}")]
    Output(#[source] std::io::Error),
}

impl Error {
    /// The exit code of DESIGN.md for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Usage(_) => EXIT_USAGE,
            Error::Scan(_) | Error::Output(_) | Error::Imds(_) => EXIT_RUNTIME,
        }
    }
}
