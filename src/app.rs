//! The commands: dispatch from the parsed command line to config, scan, role, report and the
//! agent. `main` only parses arguments, calls [`run`] and turns the result into an exit code.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::{
    Cli, Command, ConfigCommand, RoleArgs, RoleFormat, RunArgs, ScanArgs, ScanFormat, StatusArgs,
};
use crate::config::{self, Env};
use crate::error::{Error, Exit};
use crate::imds::ImdsClient;
use crate::report;
use crate::role::{self, RoleReport, Status};
use crate::scan::{Options, Plan, Reuse, Scanner};
use crate::sources;

/// Runs a parsed command line; returns the exit code of DESIGN.md.
pub fn run(cli: Cli) -> Result<Exit, Error> {
    let env = Env::real();
    match cli.command {
        Command::Scan(args) => scan(cli.config.as_deref(), &env, args),
        Command::Config(ConfigCommand::Check { file, quiet }) => {
            config_check(file.as_deref().or(cli.config.as_deref()), &env, quiet)
        }
        Command::Role(args) => role_command(cli.config.as_deref(), &env, args),
        Command::Run(args) => agent(cli.config.as_deref(), &env, args),
        Command::Status(args) => status(cli.config.as_deref(), &env, args),
    }
}

fn scan(config_path: Option<&Path>, env: &Env, args: ScanArgs) -> Result<Exit, Error> {
    let loaded = config::load(config_path, env)?;
    let cfg = &loaded.config;
    let opts = Options::from_config(&cfg.scan, args.threads)?;
    let scanner = Arc::new(Scanner::new(opts)?);
    // A typo in a bake gate's PATH must not pass it: a PATH that does not exist is a usage
    // error (a dangling symlink exists and is reported as unreadable).
    for p in &args.paths {
        if let Err(e) = std::fs::symlink_metadata(p) {
            return Err(Error::Usage(format!("{}: {e}", p.display())));
        }
    }
    let rt = runtime(None)?;
    let outcome = if args.paths.is_empty() {
        rt.block_on(sources::scan(
            Arc::clone(&scanner),
            cfg,
            Arc::new(AtomicBool::new(false)),
            Reuse::Nothing,
        ))
        .outcome
    } else {
        let plan = Plan::from_paths(&args.paths);
        let mut outcome = scanner.run(&plan, &AtomicBool::new(false), None).0;
        sources::bound_lone_key_ids(&mut outcome, cfg);
        outcome
    };
    let owners = rt.block_on(report::enrich::scan_owners(cfg, &outcome.findings));
    let now = std::time::SystemTime::now();
    let text = match args.format {
        ScanFormat::Json => report::json::render(&outcome, &owners),
        ScanFormat::Sarif => report::sarif::render(&outcome, scanner.rules(), &owners, now),
        ScanFormat::Text => {
            let color = if std::io::stdout().is_terminal() && env.get("NO_COLOR").is_none() {
                report::text::Color::Ansi
            } else {
                report::text::Color::Never
            };
            report::text::render(&outcome, &owners, now, color)
        }
    };
    write_stdout(&text)?;
    let refused: Vec<&crate::scan::Unreadable> =
        outcome.unreadable.iter().filter(|u| !u.absent).collect();
    name_unreadable(&refused);
    Ok(scan_exit(outcome.findings.len(), refused.len()))
}

/// How many unreadable sources are named one by one on stderr; the rest are counted.
const NAMED_UNREADABLE: usize = 20;

/// Names the sources the scan could not read on stderr, as ripgrep does: `credhygiene: PATH:
/// reason`, the first [`NAMED_UNREADABLE`] and a count of the rest.
fn name_unreadable(unreadable: &[&crate::scan::Unreadable]) {
    for u in unreadable.iter().take(NAMED_UNREADABLE) {
        eprintln!("credhygiene: {}: {}", u.path, u.reason);
    }
    if unreadable.len() > NAMED_UNREADABLE {
        eprintln!(
            "credhygiene: … and {} more sources that could not be read",
            unreadable.len() - NAMED_UNREADABLE
        );
    }
}

/// `scan`'s exit code (DESIGN.md): findings beat errors (1); no findings but sources that
/// could not be read is "not proven clean" (3); otherwise clean (0).
fn scan_exit(findings: usize, unreadable: usize) -> Exit {
    match (findings, unreadable) {
        (0, 0) => Exit::Ok,
        (0, _) => Exit::Runtime,
        _ => Exit::Findings,
    }
}

/// The async runtime of a command: one thread, and at most `max_blocking` threads for
/// blocking work (the scan) when given (the agent keeps the host quiet; IMDS calls are few and
/// sequential).
fn runtime(max_blocking: Option<usize>) -> Result<tokio::runtime::Runtime, Error> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all();
    if let Some(n) = max_blocking {
        builder.max_blocking_threads(n);
    }
    builder.build().map_err(|source| Error::Setup {
        what: "start the async runtime",
        source,
    })
}

/// `credhygiene role`: exit 0 pass, 1 fail, 3 when IMDS cannot be reached or a check
/// cannot be decided.
fn role_command(config_path: Option<&Path>, env: &Env, args: RoleArgs) -> Result<Exit, Error> {
    let loaded = config::load(config_path, env)?;
    let imds = &loaded.config.imds;
    let endpoint = imds.effective_endpoint().to_string();
    let rt = runtime(None)?;
    let result = match ImdsClient::from_config(imds) {
        Ok(client) => rt.block_on(role::check(&client)),
        Err(e) => Err(e),
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            if args.format == RoleFormat::Json {
                write_stdout(&RoleReport::unreachable(&endpoint, &e).to_json())?;
            }
            return Err(Error::Imds(e));
        }
    };
    let text = match args.format {
        RoleFormat::Json => report.to_json(),
        RoleFormat::Text => report.to_text(),
    };
    write_stdout(&text)?;
    Ok(match report.status {
        Status::Pass => Exit::Ok,
        Status::Fail => Exit::Findings,
        Status::Unknown => {
            log::warn!(endpoint:% = endpoint; "some role checks could not be decided");
            Exit::Runtime
        }
    })
}

/// `credhygiene run [--once]`: the agent, on a runtime whose blocking threads (the scan) are
/// bounded by `agent.scan_threads`.
fn agent(config_path: Option<&Path>, env: &Env, args: RunArgs) -> Result<Exit, Error> {
    let loaded = config::load(config_path, env)?;
    let rt = runtime(Some(loaded.config.agent.scan_threads.max(1) + 2))?;
    rt.block_on(crate::agent::run(
        loaded.config,
        config_path,
        env,
        args.once,
    ))
}

/// `credhygiene status`: reads the state directory of the effective configuration.
fn status(config_path: Option<&Path>, env: &Env, args: StatusArgs) -> Result<Exit, Error> {
    let loaded = config::load(config_path, env)?;
    let status = crate::status::Status::read(&loaded.config.agent, std::time::SystemTime::now())?;
    write_stdout(&match args.format {
        RoleFormat::Json => status.to_json(),
        RoleFormat::Text => status.to_text(),
    })?;
    Ok(status.exit_code())
}

fn config_check(file: Option<&Path>, env: &Env, quiet: bool) -> Result<Exit, Error> {
    let loaded = config::load(file, env)?;
    if !quiet {
        eprintln!("credhygiene: configuration OK ({})", loaded.origin);
        write_stdout(&loaded.config.to_toml())?;
    }
    Ok(Exit::Ok)
}

/// Writes a report to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_beat_unreadable_sources_which_beat_clean() {
        assert_eq!(scan_exit(0, 0), Exit::Ok);
        assert_eq!(scan_exit(0, 1), Exit::Runtime);
        assert_eq!(scan_exit(2, 0), Exit::Findings);
        assert_eq!(scan_exit(2, 5), Exit::Findings);
    }
}
