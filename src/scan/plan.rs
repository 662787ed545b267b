//! What a scan is asked to do: the sources ([`Plan`], [`Haystack`]), the tunables
//! ([`Options`]) and what it may take from earlier scans ([`Reuse`]).

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use super::cache::CacheFile;
use super::decompress::Limits;
use super::envfiles;
use super::index::TreeIndex;
use super::scanner::ScanError;
use super::unreadable::Unreadable;
use crate::config::ScanConfig;
use crate::finding::{ProcessInfo, Source};

/// Bytes held in memory to be scanned: an environment, user-data.
#[derive(Clone)]
pub struct Haystack {
    /// What kind of source it is.
    pub source: Source,
    /// The path reported for it (`/proc/PID/environ`, `imds:/latest/user-data`).
    pub path: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// For process environments: the process.
    pub process: Option<ProcessInfo>,
}

impl std::fmt::Debug for Haystack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Haystack")
            .field("source", &self.source)
            .field("path", &self.path)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// What one scan covers.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Trees (or single files) to walk.
    pub trees: Vec<PathBuf>,
    /// Env files to read, whether or not they lie in a tree.
    pub env_files: Vec<PathBuf>,
    /// Scan `/proc/*/environ`.
    pub processes: bool,
    /// In-memory haystacks (user-data).
    pub memory: Vec<Haystack>,
    /// Configured trees whose root is missing: passed on in
    /// [`ScanOutcome::unreadable`](super::ScanOutcome::unreadable).
    pub unreadable: Vec<Unreadable>,
}

impl Plan {
    /// The plan for `scan` with no PATH and for the agent: the configured sources.
    pub fn from_config(cfg: &ScanConfig) -> Plan {
        Plan {
            trees: outermost(cfg.paths.iter().filter(|p| p.exists()).cloned()),
            unreadable: (cfg.paths.iter().filter(|p| !p.exists()))
                .map(|p| Unreadable::missing_root(p))
                .collect(),
            env_files: envfiles::expand(&cfg.env_files),
            processes: cfg.processes,
            memory: Vec::new(),
        }
    }

    /// The plan for `scan PATH...`: only those paths.
    pub fn from_paths(paths: &[PathBuf]) -> Plan {
        Plan {
            trees: outermost(paths.iter().cloned()),
            ..Plan::default()
        }
    }
}

/// The trees in order, without those that lie in another (a file under two trees would be
/// read and reported twice).
fn outermost(trees: impl Iterator<Item = PathBuf>) -> Vec<PathBuf> {
    let trees: Vec<PathBuf> = trees.collect();
    let mut out: Vec<PathBuf> = Vec::with_capacity(trees.len());
    for (i, t) in trees.iter().enumerate() {
        let inside = |o: &PathBuf| t.starts_with(o) && o != t;
        if !trees.iter().any(inside) && !trees[..i].contains(t) {
            out.push(t.clone());
        }
    }
    out
}

/// Tunables of the scanner.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (0 = one per CPU).
    pub threads: usize,
    /// Larger files are skipped and counted.
    pub max_file_size: u64,
    /// Read compressed files through a decompressor under these caps (`None`: scan their
    /// bytes as they are).
    pub decompress: Option<Limits>,
    /// Follow symbolic links while walking.
    pub follow_symlinks: bool,
    /// Stay on each tree's file system.
    pub same_file_system: bool,
    /// gitignore-style exclude globs.
    pub exclude: Vec<String>,
    /// Fingerprints to suppress.
    pub allowlist: HashSet<String>,
    /// Bytes per second over all threads (0 = unlimited).
    pub read_rate_limit: u64,
    /// Where process environments are read from (`/proc`; a fixture tree in tests).
    pub proc_root: PathBuf,
    /// Build a [`ScanCache`](super::ScanCache) of this scan (the agent does; a one-shot scan
    /// needs none, and saves about 100 bytes per file).
    pub build_cache: bool,
}

impl Options {
    /// Options from the `[scan]` section; `threads` overrides `scan.threads`.
    pub fn from_config(cfg: &ScanConfig, threads: Option<usize>) -> Result<Options, ScanError> {
        Ok(Options {
            threads: threads.unwrap_or(cfg.threads),
            max_file_size: cfg.max_file_size.as_u64(),
            decompress: cfg.decompress.then_some(Limits {
                max_size: cfg.max_decompressed_size.as_u64(),
                max_ratio: cfg.max_expansion_ratio,
            }),
            follow_symlinks: cfg.follow_symlinks,
            same_file_system: cfg.same_file_system,
            exclude: cfg.exclude.clone(),
            allowlist: load_allowlist(&cfg.allowlist)?,
            read_rate_limit: 0,
            proc_root: PathBuf::from("/proc"),
            build_cache: false,
        })
    }
}

/// Reads an allowlist file: one `sha256:` fingerprint per line, `#` comments. Missing = empty.
fn load_allowlist(path: &Path) -> Result<HashSet<String>, ScanError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(source) => Err(ScanError::Allowlist {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// What a scan may take from earlier scans instead of reading files again.
#[derive(Debug, Default)]
pub enum Reuse {
    /// Nothing: every file is read.
    #[default]
    Nothing,
    /// A stat cache: a file whose stamp matches its entry costs one stat and no read.
    Cache(CacheFile),
    /// A walk (sparing reads like [`Reuse::Cache`]) that also watches every directory and
    /// returns a [`TreeIndex`] for later [`Reuse::Update`]s.
    Index {
        /// The stat cache, if any.
        cache: Option<CacheFile>,
        /// Where to add the watches.
        watch: WatchSet,
    },
    /// Only the paths that changed are read; the rest of the trees comes from `index`.
    Update {
        /// The index of the last cycle.
        index: Box<TreeIndex>,
        /// Paths that inotify reported changed since (files, not directories).
        changed: Vec<PathBuf>,
        /// For a walk instead, when the index cannot vouch for the trees.
        watch: WatchSet,
        /// The stat cache for such a walk.
        cache: Option<CacheFile>,
    },
}

/// The inotify instance the daemon watches the trees with, and how many watches it may add.
#[derive(Debug, Clone)]
pub struct WatchSet {
    /// The watch handle of the agent's inotify instance.
    pub watches: inotify::Watches,
    /// At most this many directories are watched; beyond that the trees are not indexed.
    pub budget: usize,
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::scan::scanner::tests::scanner;

    #[test]
    fn missing_roots_are_unreadable_and_files_that_are_gone_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("present");
        std::fs::create_dir(&present).unwrap();
        std::fs::write(present.join("k"), "id = AKIASXQV3SVWMFRRRM75\n").unwrap();
        let missing = dir.path().join("unmounted");
        let cfg = ScanConfig {
            paths: vec![present.clone(), missing.clone()],
            env_files: Vec::new(),
            processes: false,
            ..ScanConfig::default()
        };
        let mut plan = Plan::from_config(&cfg);
        assert_eq!(plan.trees, [present]);
        // An env file deleted between planning and reading is gone, not unreadable.
        plan.env_files.push(dir.path().join("deleted.env"));
        let (out, _) = scanner().run(&plan, &AtomicBool::new(false), None);
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.stats.errors, 1, "the deleted env file");
        assert_eq!(
            out.unreadable
                .iter()
                .map(|u| u.path.as_str())
                .collect::<Vec<_>>(),
            [missing.to_str().unwrap()]
        );
    }
}
