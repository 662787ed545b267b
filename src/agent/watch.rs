//! Watching beyond the timer: env files and the top level of the configured directories are
//! watched with inotify, so that a key written to `/etc/environment`, a systemd unit or an
//! `.env` file is reported within seconds. Watches are bounded; when the kernel's limit is
//! reached the agent says so and relies on its timer for the rest.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// At most this many watches (the kernel default limit is 8192 per user on many distributions;
/// the agent leaves most of them to other programs).
pub const MAX_WATCHES: usize = 1024;

/// An inotify watcher feeding changed paths into a channel.
#[derive(Debug)]
pub struct ChangeWatcher {
    _watcher: notify::RecommendedWatcher,
    /// Paths watched.
    pub watched: usize,
    /// Paths that could not be watched (limit reached or error).
    pub unwatched: usize,
}

impl ChangeWatcher {
    /// Watches `files` (their directories, so that editors replacing a file are seen) and
    /// `dirs` (top level only). Changed paths are sent to `tx`.
    pub fn start(
        files: &[PathBuf],
        dirs: &[PathBuf],
        tx: mpsc::UnboundedSender<PathBuf>,
    ) -> notify::Result<ChangeWatcher> {
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                if matches!(
                    ev.kind,
                    EventKind::Create(_) | EventKind::Modify(_) | EventKind::Any
                ) {
                    for p in ev.paths {
                        let _ = tx.send(p);
                    }
                }
            }
        })?;
        let targets: BTreeSet<&Path> = files
            .iter()
            .filter_map(|f| f.parent())
            .chain(dirs.iter().map(PathBuf::as_path))
            .collect();
        let (mut watched, mut unwatched) = (0, 0);
        for t in targets {
            if watched >= MAX_WATCHES {
                unwatched += 1;
                continue;
            }
            match watcher.watch(t, RecursiveMode::NonRecursive) {
                Ok(()) => watched += 1,
                Err(e) => {
                    unwatched += 1;
                    if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                        log::warn!(path:% = t.display(); "inotify watch limit reached; the rest is covered by the timer only");
                        break;
                    }
                    log::debug!(path:% = t.display(), error:% = e; "cannot watch");
                }
            }
        }
        if unwatched > 0 {
            log::warn!(watched, unwatched; "not every env file directory is watched; changes there are seen at the next cycle");
        }
        Ok(ChangeWatcher {
            _watcher: watcher,
            watched,
            unwatched,
        })
    }
}
