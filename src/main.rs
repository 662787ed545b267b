//! The `credhygiene` binary: parse the command line, set the process up, run, map the result
//! to an exit code.

use std::process::ExitCode;

use clap::Parser;
use credhygiene::error_chain;

fn main() -> ExitCode {
    let cli = credhygiene::cli::Cli::parse();
    credhygiene::logging::init(cli.verbose);
    match credhygiene::app::run(cli) {
        Ok(exit) => exit.into(),
        Err(e) => {
            credhygiene::logging::fatal(&error_chain::one_line(&e));
            e.exit_code().into()
        }
    }
}
