//! The commands: glue from the parsed command line through config, scan and report. `main`
//! only parses arguments, calls [`run`] and turns the result into an exit code.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::cli::{Cli, Command, ConfigCommand, ScanArgs, ScanFormat};
use crate::config::{self, Env};
use crate::error::{Error, EXIT_FINDINGS, EXIT_OK};
use crate::report;
use crate::scan::{Options, Plan, Scanner};

/// Runs a parsed command line; returns the exit code of DESIGN.md.
pub fn run(cli: Cli) -> Result<u8, Error> {
    let env = Env::real();
    match cli.command {
        Command::Scan(args) => scan(cli.config.as_deref(), &env, args),
        Command::Config(ConfigCommand::Check { file }) => {
            config_check(file.as_deref().or(cli.config.as_deref()), &env)
        }
        Command::Role(_) | Command::Run(_) => Err(Error::Usage(
            "this command is not available in this build".into(),
        )),
    }
}

fn scan(config_path: Option<&Path>, env: &Env, args: ScanArgs) -> Result<u8, Error> {
    let loaded = config::load(config_path, env)?;
    let cfg = &loaded.config;
    let opts = Options::from_config(&cfg.scan, args.threads)?;
    let scanner = Scanner::new(opts)?;
    let plan = if args.paths.is_empty() {
        Plan::from_config(&cfg.scan)
    } else {
        Plan::from_paths(&args.paths)
    };
    let cancel = AtomicBool::new(false);
    let (outcome, _cache) = scanner.run(&plan, &cancel, None);
    let text = match args.format {
        ScanFormat::Json => report::json::render(&outcome),
        ScanFormat::Sarif => report::sarif::render(&outcome, scanner_rules(&scanner)),
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

fn scanner_rules(s: &Scanner) -> &crate::rules::RuleSet {
    s.rules()
}

fn config_check(file: Option<&Path>, env: &Env) -> Result<u8, Error> {
    let loaded = config::load(file, env)?;
    eprintln!("credhygiene: configuration OK ({})", loaded.origin);
    write_stdout(&loaded.config.to_toml())?;
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
