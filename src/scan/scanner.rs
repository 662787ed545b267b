//! The entry point: a [`Scanner`] is the compiled rules plus the [`Options`]; each scan is one
//! call with a [`Plan`] and what it may [`Reuse`].

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::cache::{CacheFile, ScanCache};
use super::matcher::Matcher;
use super::outcome::{ScanOutcome, Scanned};
use super::plan::{Options, Plan, Reuse};
use super::worker::{Merged, Worker};
use super::{envfiles, procfs};
use crate::finding::Source;
use crate::rules::RulesError;

/// Errors that stop a scan before it starts (per-file problems are counted instead).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The built-in rules do not compile (a defect of the binary).
    #[error("built-in rules: {0}")]
    Rules(#[from] RulesError),
    /// An exclude glob is invalid.
    #[error("invalid exclude pattern {pattern:?}: {source}")]
    Exclude {
        /// The glob.
        pattern: String,
        /// Why.
        source: ignore::Error,
    },
    /// The allowlist file exists but cannot be read.
    #[error("cannot read allowlist {path}: {source}")]
    Allowlist {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The scanner: a compiled matcher plus options.
#[derive(Debug)]
pub struct Scanner {
    pub(super) matcher: Matcher,
    pub(super) opts: Options,
    pub(super) excludes: Option<Gitignore>,
}

impl Scanner {
    /// A scanner with the built-in rules.
    pub fn new(opts: Options) -> Result<Scanner, ScanError> {
        Ok(Scanner {
            matcher: Matcher::builtin()?,
            excludes: compile_excludes(&opts.exclude)?,
            opts,
        })
    }

    /// The compiled rules.
    pub fn rules(&self) -> &crate::rules::RuleSet {
        self.matcher.rules()
    }

    /// The rules version (scan caches from other versions are not trusted).
    pub fn rules_version(&self) -> String {
        // The allowlist and the size limit decide what a cached entry holds, so they are part
        // of the version: changing either makes the next scan read every file again.
        let mut allow: Vec<&str> = self.opts.allowlist.iter().map(String::as_str).collect();
        allow.sort_unstable();
        let limit = self.opts.max_file_size.to_string();
        allow.push(&limit);
        format!(
            "{}+{}+{}",
            env!("CARGO_PKG_VERSION"),
            self.matcher.rules().version,
            crate::finding::short_id(&allow)
        )
    }

    /// Runs a full scan without an index: the one-shot `scan` command and user-data use it
    /// directly, and [`Scanner::scan`] for [`Reuse::Nothing`] and [`Reuse::Cache`]. `prior`
    /// is a cache from an earlier scan (ignored if its rules version differs); the returned
    /// cache describes this scan's files.
    pub fn run(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        prior: Option<&ScanCache>,
    ) -> (ScanOutcome, ScanCache) {
        let (outcome, cache, _) = self.walk(plan, cancel, prior, None, None);
        (outcome, cache)
    }

    /// Runs a scan that reuses what `reuse` holds (see [`Reuse`]).
    pub fn scan(&self, plan: &Plan, cancel: &AtomicBool, reuse: Reuse) -> Scanned {
        let load = |cache: Option<&CacheFile>| cache.and_then(|c| c.load(&self.rules_version()));
        match reuse {
            Reuse::Nothing => {
                let (outcome, cache) = self.run(plan, cancel, None);
                Scanned::walked(outcome, cache, None)
            }
            Reuse::Cache(file) => {
                let prior = load(Some(&file));
                let (outcome, cache, _) = self.walk(plan, cancel, prior.as_ref(), file.dir(), None);
                Scanned::walked(outcome, cache, None)
            }
            Reuse::Index { cache, watch } => {
                let prior = load(cache.as_ref());
                let dir = cache.as_ref().and_then(CacheFile::dir);
                let (outcome, cache, index) =
                    self.walk(plan, cancel, prior.as_ref(), dir, Some(watch));
                Scanned::walked(outcome, cache, index)
            }
            Reuse::Update {
                index,
                changed,
                watch,
                cache,
            } => self.update(plan, cancel, *index, &changed, watch, cache),
        }
    }

    /// Whether an exclude glob matches a file path.
    pub(super) fn is_excluded(&self, path: &Path) -> bool {
        self.excludes
            .as_ref()
            .is_some_and(|gi| excluded(gi, path, false))
    }

    /// Worker threads of a walk.
    pub(super) fn threads(&self) -> usize {
        match self.opts.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    /// Each reading thread's share of `read_rate_limit` (bytes per second, 0 = unlimited).
    pub(super) fn rate_per_thread(&self) -> u64 {
        self.opts.read_rate_limit / self.threads() as u64
    }

    /// Env files first (they may lie outside the trees; the walk skips them).
    pub(super) fn scan_env_files(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        shared: &Mutex<Merged>,
        prior: Option<&ScanCache>,
    ) {
        let mut w = Worker::new(self, shared, prior, self.rate_per_thread());
        for p in &plan.env_files {
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            w.scan_path(p, Source::EnvFile);
        }
    }

    /// Sources read in full every time: process environments and in-memory haystacks.
    pub(super) fn scan_volatile(&self, plan: &Plan, cancel: &AtomicBool, shared: &Mutex<Merged>) {
        if plan.processes && !cancel.load(Ordering::Relaxed) {
            let (stacks, unreadable) =
                procfs::environments(&self.opts.proc_root, self.opts.max_file_size);
            let mut w = Worker::new(self, shared, None, 0);
            w.count_skipped(unreadable);
            for h in &stacks {
                w.scan_memory(h);
            }
        }
        let mut w = Worker::new(self, shared, None, 0);
        for h in &plan.memory {
            w.scan_memory(h);
        }
    }
}

/// The exclude globs as one gitignore matcher (`None` without globs).
fn compile_excludes(patterns: &[String]) -> Result<Option<Gitignore>, ScanError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GitignoreBuilder::new("/");
    for pattern in patterns {
        b.add_line(None, pattern)
            .map_err(|source| ScanError::Exclude {
                pattern: pattern.clone(),
                source,
            })?;
    }
    let gi = b.build().map_err(|source| ScanError::Exclude {
        pattern: patterns.join(", "),
        source,
    })?;
    Ok(Some(gi))
}

/// Whether an exclude glob matches `path` (relative paths are taken from the working
/// directory, as the command line gives them).
pub(super) fn excluded(gi: &Gitignore, path: &Path, is_dir: bool) -> bool {
    let abs;
    let path = if path.is_absolute() {
        path
    } else {
        abs = std::env::current_dir().unwrap_or_default().join(path);
        abs.as_path()
    };
    gi.matched(path, is_dir).is_ignore()
}

/// How a file found in a tree is reported: env files by their name, the rest as files.
pub(super) fn source_of(path: &Path) -> Source {
    if envfiles::is_env_file_name(path) {
        Source::EnvFile
    } else {
        Source::File
    }
}

/// The paths of `plan`'s env files (the walk and the update leave them to
/// [`Scanner::scan_env_files`]).
pub(super) fn env_set(plan: &Plan) -> HashSet<&Path> {
    plan.env_files.iter().map(PathBuf::as_path).collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::scan::Haystack;

    /// A single-threaded scanner that builds a cache.
    pub(in crate::scan) fn scanner() -> Scanner {
        Scanner::new(Options {
            threads: 1,
            max_file_size: 1 << 20,
            decompress: Some(crate::scan::DecompressLimits::DEFAULT),
            follow_symlinks: false,
            same_file_system: true,
            exclude: Vec::new(),
            allowlist: HashSet::new(),
            read_rate_limit: 0,
            proc_root: PathBuf::from("/nonexistent"),
            build_cache: true,
        })
        .unwrap()
    }

    #[test]
    fn memory_haystacks_report_their_source() {
        let s = scanner();
        let plan = Plan {
            memory: vec![Haystack {
                source: Source::UserData,
                path: "imds:/latest/user-data".into(),
                bytes: b"#!/bin/bash\nexport AWS_ACCESS_KEY_ID=AKIASXQV3SVWMFRRRM75\n".to_vec(),
                process: None,
            }],
            ..Plan::default()
        };
        let (out, _) = s.run(&plan, &AtomicBool::new(false), None);
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].source, Source::UserData);
        assert_eq!(out.findings[0].line, 2);
    }
}
