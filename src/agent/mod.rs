//! When: the agent. `run` repeats role check → scan → diff → report → outbox flush on a
//! jittered schedule, reacts to file changes, SIGHUP (reload, keeping the old configuration
//! when the new one is invalid) and SIGTERM/SIGINT (cancel the scan, flush the outbox within
//! a deadline, exit 0). `run --once` is the same cycle, once.
//!
//! - `daemon`: the `select!` loop and its schedule;
//! - `signals`: SIGHUP, SIGTERM and SIGINT as one stream of reload and stop;
//! - `cycle`: one cycle as named steps;
//! - `commit`: the rule that lets the finding state move on only when the changes are
//!   safely handled (spooled, or nobody waits for them), so that none is lost or repeated;
//! - `parts`: what is built from one configuration and rebuilt on reload;
//! - [`CycleOutcome`]: what a cycle did (status line, summary, `run --once` exit code);
//! - [`systemd`]: sd_notify; [`track`] and [`watch`]: file changes between cycles.

mod commit;
mod cycle;
mod daemon;
mod mounts;
mod outcome;
mod parts;
mod probe;
mod securityhub;
mod signals;
pub mod systemd;
pub mod track;
pub mod watch;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::config::{Config, Env};
use crate::error::{Error, Exit};

pub use outcome::CycleOutcome;
// The mountinfo parser, for the fuzz targets.
#[doc(hidden)]
pub use mounts::{fs_type_of, relevant_hash};

/// Runs the agent with a loaded configuration (`once`: one cycle, its summary on stdout,
/// then exit). `config_path` and `env` are read again on reload. Returns the DESIGN.md exit
/// code.
pub async fn run(
    config: Config,
    config_path: Option<&Path>,
    env: &Env,
    once: bool,
) -> Result<Exit, Error> {
    let mut parts = parts::Parts::build(config)?;
    if once {
        let out = cycle::run(&mut parts, &Arc::new(AtomicBool::new(false))).await;
        out.save_record(&parts.config, crate::state::Runner::Once);
        print!("{}", out.summary());
        return Ok(out.exit_code());
    }
    daemon::run(parts, config_path.map(Path::to_path_buf), env.clone()).await
}
