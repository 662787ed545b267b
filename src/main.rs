//! The `credhygiene` binary: parse the command line, run, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = credhygiene::cli::Cli::parse();
    credhygiene::logging::init(cli.verbose);
    match credhygiene::app::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let mut msg = format!("credhygiene: error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                let s_text = s.to_string();
                if !msg.contains(&s_text) {
                    msg.push_str(": ");
                    msg.push_str(&s_text);
                }
                source = s.source();
            }
            eprintln!("{msg}");
            ExitCode::from(e.exit_code())
        }
    }
}
