//! The `credhygiene` binary: parse the command line, set the process up, run, map the result
//! to an exit code.

use std::process::ExitCode;

use clap::Parser;
use credhygiene::error_chain;

fn main() -> ExitCode {
    let cli = credhygiene::cli::Cli::parse();
    credhygiene::logging::init(cli.verbose);
    // reqwest is built without a TLS provider of its own (`rustls-no-provider`) and needs one
    // for every client, even for plain http. An Err only says that one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match credhygiene::app::run(cli) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("credhygiene: error: {}", error_chain::one_line(&e));
            e.exit_code().into()
        }
    }
}
