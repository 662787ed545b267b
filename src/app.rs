//! The commands: glue from the parsed command line through config, scan and report. `main`
//! only parses arguments, calls [`run`] and turns the result into an exit code.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::{Cli, Command, ConfigCommand, RoleArgs, RoleFormat, ScanArgs, ScanFormat};
use crate::config::{self, Config, Env};
use crate::error::{Error, EXIT_FINDINGS, EXIT_OK, EXIT_RUNTIME};
use crate::finding::Source;
use crate::imds::{ImdsClient, ImdsError};
use crate::report;
use crate::role::{self, RoleReport, Status};
use crate::scan::{Haystack, Options, Plan, Reuse, Scanned, Scanner, Unreadable};

/// Runs a parsed command line; returns the exit code of DESIGN.md.
pub fn run(cli: Cli) -> Result<u8, Error> {
    let env = Env::real();
    match cli.command {
        Command::Scan(args) => scan(cli.config.as_deref(), &env, args),
        Command::Config(ConfigCommand::Check { file, quiet }) => {
            config_check(file.as_deref().or(cli.config.as_deref()), &env, quiet)
        }
        Command::Role(args) => role_command(cli.config.as_deref(), &env, args),
        Command::Run(args) => crate::agent::run(cli.config.as_deref(), &env, args.once),
    }
}

fn scan(config_path: Option<&Path>, env: &Env, args: ScanArgs) -> Result<u8, Error> {
    let loaded = config::load(config_path, env)?;
    let cfg = &loaded.config;
    let opts = Options::from_config(&cfg.scan, args.threads)?;
    let scanner = Arc::new(Scanner::new(opts)?);
    let outcome = if args.paths.is_empty() {
        let rt = runtime()?;
        rt.block_on(scan_configured(
            Arc::clone(&scanner),
            cfg,
            Arc::new(AtomicBool::new(false)),
            Reuse::Nothing,
        ))
        .outcome
    } else {
        let plan = Plan::from_paths(&args.paths);
        scanner.run(&plan, &AtomicBool::new(false), None).0
    };
    let text = match args.format {
        ScanFormat::Json => report::json::render(&outcome),
        ScanFormat::Sarif => report::sarif::render(&outcome, scanner.rules()),
        ScanFormat::Text => {
            let color = if std::io::stdout().is_terminal() && env.get("NO_COLOR").is_none() {
                report::text::Color::Ansi
            } else {
                report::text::Color::Never
            };
            report::text::render(&outcome, color)
        }
    };
    write_stdout(&text)?;
    Ok(if outcome.findings.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

/// A small runtime for one command (IMDS calls are few and sequential).
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Imds(ImdsError::Runtime(e)))
}

/// The configured sources (`scan` with no PATH, and each agent cycle): the file scan runs
/// on a blocking thread while user-data is fetched from IMDS (when `scan.user_data` is on
/// and IMDS is not disabled); then user-data is scanned as a `user_data` haystack and the
/// two outcomes are merged. Off EC2 the fetch fails within about a second, is logged at
/// info and does not count as a scan error. User-data that could not be fetched or decoded
/// (IMDS unreachable, throttled, failing) is listed in [`crate::scan::ScanOutcome::unreadable`]; an
/// instance without user-data is not. The returned cache and index cover the files.
pub async fn scan_configured(
    scanner: Arc<Scanner>,
    cfg: &Config,
    cancel: Arc<AtomicBool>,
    reuse: Reuse,
) -> Scanned {
    let plan = Plan::from_config(&cfg.scan);
    let files = {
        let scanner = Arc::clone(&scanner);
        let cancel = Arc::clone(&cancel);
        tokio::task::spawn_blocking(move || scanner.scan(&plan, &cancel, reuse))
    };
    let user_data = if cfg.scan.user_data && !cfg.imds.disabled {
        Some(user_data_haystack(cfg).await)
    } else {
        log::debug!("user-data not scanned: scan.user_data is off or IMDS is disabled");
        None
    };
    let mut scanned = match files.await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    let outcome = &mut scanned.outcome;
    if let Some(Err(e)) = &user_data {
        let path = format!("imds:{}", crate::imds::USER_DATA_PATH);
        outcome.unreadable.push(Unreadable::new(path, e));
    }
    match user_data {
        Some(Ok(Some(hay))) => {
            let plan = Plan {
                memory: vec![hay],
                ..Plan::default()
            };
            let (ud, _) = tokio::task::spawn_blocking(move || scanner.run(&plan, &cancel, None))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            outcome.merge(ud);
        }
        Some(Ok(None)) => log::debug!("the instance has no user-data"),
        Some(Err(e)) if e.is_unreachable() => {
            log::info!(error:% = e; "user-data not scanned: IMDS is not reachable");
        }
        Some(Err(ImdsError::UserData { uri, source })) => {
            log::warn!(uri:% = uri, error:% = source; "user-data not scanned");
            outcome.stats.skipped += 1;
        }
        Some(Err(e)) => {
            log::warn!(error:% = e; "user-data could not be read from IMDS");
            outcome.stats.errors += 1;
        }
        None => {}
    }
    scanned
}

/// Fetches user-data as a haystack (`source: user_data`, `path: imds:/latest/user-data`);
/// `None` when the instance has none.
pub async fn user_data_haystack(cfg: &Config) -> Result<Option<Haystack>, ImdsError> {
    let client = ImdsClient::from_config(&cfg.imds)?;
    let bytes = client.user_data(cfg.scan.max_file_size.as_u64()).await?;
    Ok(bytes.map(|bytes| Haystack {
        source: Source::UserData,
        path: format!("imds:{}", crate::imds::USER_DATA_PATH),
        bytes,
        process: None,
    }))
}

/// `credhygiene role`: exit 0 pass, 1 fail, 3 when IMDS cannot be reached or a check
/// cannot be decided.
fn role_command(config_path: Option<&Path>, env: &Env, args: RoleArgs) -> Result<u8, Error> {
    let loaded = config::load(config_path, env)?;
    let imds = &loaded.config.imds;
    let endpoint = imds.effective_endpoint().to_string();
    let rt = runtime()?;
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
        Status::Pass => EXIT_OK,
        Status::Fail => EXIT_FINDINGS,
        Status::Unknown => {
            log::warn!(endpoint:% = endpoint; "some role checks could not be decided");
            EXIT_RUNTIME
        }
    })
}

fn config_check(file: Option<&Path>, env: &Env, quiet: bool) -> Result<u8, Error> {
    let loaded = config::load(file, env)?;
    if !quiet {
        eprintln!("credhygiene: configuration OK ({})", loaded.origin);
        write_stdout(&loaded.config.to_toml())?;
    }
    Ok(EXIT_OK)
}

/// Writes a report to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output(e)),
        _ => Ok(()),
    }
}
