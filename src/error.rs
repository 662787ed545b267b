//! The crate's error type: one variant per module's error, mapped once to the exit codes of
//! DESIGN.md ([`Exit`]).

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::imds::ImdsError;
use crate::scan::ScanError;

/// The exit codes of DESIGN.md, the same for every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// A clean scan, a passed check, a cycle that delivered or spooled everything.
    Ok = 0,
    /// Findings (`scan`) or a failed check (`role`).
    Findings = 1,
    /// A usage or configuration error.
    Usage = 2,
    /// A runtime error (e.g. IMDS unreachable for `role`, a state that cannot be saved).
    Runtime = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// Anything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The command line was wrong in a way clap could not see.
    #[error("{0}")]
    Usage(String),
    /// The process could not set itself up (the async runtime, the signal handlers).
    #[error("cannot {what}")]
    Setup {
        /// What could not be done, e.g. "start the async runtime".
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The scan could not run at all (soft failures are counted, not raised).
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// IMDS could not be reached or answered in a way that stops the command.
    #[error(transparent)]
    Imds(#[from] ImdsError),
    /// Reporting to CloudWatch failed in a way that stops the command (`run --once`).
    #[error(transparent)]
    Report(#[from] crate::report::cloudwatch::CloudWatchError),
    /// The state directory could not be read or written.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// Writing the report to stdout failed.
    #[error("cannot write the report to standard output: {0}")]
    Output(#[source] std::io::Error),
}

impl Error {
    /// The exit code of DESIGN.md for this error: configuration and usage errors are the
    /// operator's to fix before a retry ([`Exit::Usage`]); everything else happened while
    /// running ([`Exit::Runtime`]).
    pub fn exit_code(&self) -> Exit {
        match self {
            Error::Config(_) | Error::Usage(_) => Exit::Usage,
            Error::Setup { .. }
            | Error::Scan(_)
            | Error::Imds(_)
            | Error::Report(_)
            | Error::State(_)
            | Error::Output(_) => Exit::Runtime,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_failures_are_runtime_errors() {
        let e = Error::Setup {
            what: "start the async runtime",
            source: std::io::Error::other("no threads"),
        };
        assert_eq!(e.exit_code(), Exit::Runtime);
        assert_eq!(e.to_string(), "cannot start the async runtime");
        assert_eq!(Error::Usage("x".into()).exit_code(), Exit::Usage);
    }

    #[test]
    fn exit_codes_are_the_design_numbers() {
        let codes = [Exit::Ok, Exit::Findings, Exit::Usage, Exit::Runtime].map(|e| e as u8);
        assert_eq!(codes, [0, 1, 2, 3]);
    }
}
