//! The command line: clap derive types only; `app::run` dispatches them.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// On-instance credential hygiene agent for EC2 (CIS AWS Foundations 1.18 and 5.6).
#[derive(Debug, Parser)]
#[command(name = "credhygiene", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (default: $CREDHYGIENE_CONFIG, else /etc/credhygiene/credhygiene.toml
    /// when it exists, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output (repeat for more): on stderr, or in the journal under systemd.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of DESIGN.md.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// One-shot scan for hard-coded AWS keys; no PATH = the configured sources.
    Scan(ScanArgs),
    /// IMDSv2 role check of this instance (CIS AWS 1.18 instance profile, 5.6 IMDSv2).
    Role(RoleArgs),
    /// The agent: role check + scan + report, on a schedule.
    Run(RunArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Whether the agent runs, its last cycle, its sinks and its outbox (reads the state
    /// directory).
    Status(StatusArgs),
}

/// `credhygiene scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files or directories to scan instead of the configured sources.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ScanFormat::Text)]
    pub format: ScanFormat,
    /// Scan threads (default: scan.threads; 0 = one per CPU).
    #[arg(long, short = 'j')]
    pub threads: Option<usize>,
}

/// Output formats of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// For people (colour only on a terminal).
    Text,
    /// One JSON document (DESIGN.md, version 1).
    Json,
    /// SARIF 2.1.0 for code-scanning tools.
    Sarif,
}

/// `credhygiene role`.
#[derive(Debug, clap::Args)]
pub struct RoleArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = RoleFormat::Text)]
    pub format: RoleFormat,
}

/// Output formats of `role` and `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleFormat {
    /// For people.
    Text,
    /// One JSON document (DESIGN.md).
    Json,
}

/// `credhygiene run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Run one full cycle, flush what can be delivered, and exit.
    #[arg(long)]
    pub once: bool,
}

/// `credhygiene status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = RoleFormat::Text)]
    pub format: RoleFormat,
}

/// `credhygiene config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (file, then environment overrides) and print the
    /// effective configuration as TOML.
    Check {
        /// The file (default: `--config`, else $CREDHYGIENE_CONFIG, else
        /// /etc/credhygiene/credhygiene.toml when it exists, else built-in defaults).
        file: Option<PathBuf>,
        /// Only validate: print nothing when the configuration is valid (for systemd's
        /// `ExecStartPre=`, so that every start does not copy the whole config to the journal).
        #[arg(long, short)]
        quiet: bool,
    },
}
