//! Where to look: files under the scanned trees (walked in parallel with `ignore`), env files,
//! process environments and in-memory haystacks such as user-data. The scan is synchronous and
//! threaded like ripgrep; async callers run it in `spawn_blocking`.
//!
//! Read policy (documented in the README): no mmap; each file is read through a per-thread
//! buffer of [`CHUNK`] bytes plus an overlap that keeps every key whole across chunk borders,
//! so memory does not grow with file size. Binary files are scanned as bytes (keys hide in
//! compiled binaries, `.pyc`, SQLite files and dumps); UTF-16 files with a BOM are decoded to
//! UTF-8 first. FIFOs, sockets and device nodes are skipped without being opened.

pub mod envfiles;
pub mod index;
pub mod matcher;
pub mod procfs;
pub mod unreadable;

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Seek};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ignore::{WalkBuilder, WalkState};
use serde::{Deserialize, Serialize};

use crate::config::ScanConfig;
use crate::finding::{self, Finding, KeyType, Kind, ProcessInfo, Source};
use crate::rules::RulesError;
use index::{FileFindings, FileState, TreeIndex};
use matcher::{Matcher, RawMatch};
pub use unreadable::Unreadable;

/// Bytes read per chunk of a file.
pub const CHUNK: usize = 1 << 20;
/// Bytes kept from the previous chunk (see [`matcher::REQUIRED_OVERLAP`]).
const OVERLAP: usize = matcher::REQUIRED_OVERLAP;
/// How far around a finding its line is searched for the allow marker (bounds the work on
/// very long lines).
const CONTEXT_LINE_CAP: usize = 64 * 1024;
/// The marker that suppresses findings on its line.
pub const ALLOW_MARKER: &[u8] = b"credhygiene:allow";

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
    /// Configured trees whose root is missing: passed on in [`ScanOutcome::unreadable`].
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

/// Counters of one scan (DESIGN.md `stats`, plus `suppressed` and `cached`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Files and in-memory sources scanned (read now or taken from the cache).
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Files skipped on purpose: over `max_file_size`, FIFOs, sockets, device nodes.
    pub skipped: u64,
    /// Files and sources that could not be read (permissions, vanished, symlink loops …).
    pub errors: u64,
    /// Findings suppressed by `credhygiene:allow` or the allowlist.
    pub suppressed: u64,
    /// Files whose findings came from the scan cache without being read again.
    pub cached: u64,
    /// Wall time of the scan.
    pub elapsed_ms: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.files += o.files;
        self.bytes += o.bytes;
        self.skipped += o.skipped;
        self.errors += o.errors;
        self.suppressed += o.suppressed;
        self.cached += o.cached;
    }
}

/// The result of a scan.
#[derive(Debug, Clone, Default)]
pub struct ScanOutcome {
    /// Findings, sorted by path, line, column.
    pub findings: Vec<Finding>,
    /// Counters.
    pub stats: Stats,
    /// Whether the scan was cancelled before it finished.
    pub cancelled: bool,
    /// Sources that could not be read although they may still exist (not those that are
    /// gone): the agent carries their previous findings forward.
    pub unreadable: Vec<Unreadable>,
}

impl ScanOutcome {
    /// Distinct credentials among the findings (the `HardcodedCredentials` metric).
    pub fn distinct_credentials(&self) -> usize {
        self.findings
            .iter()
            .map(|f| f.credential.as_str())
            .collect::<HashSet<_>>()
            .len()
    }

    /// Adds the findings and counters of another scan of other sources (e.g. user-data
    /// scanned next to the file scan); `elapsed_ms` is the longer of the two.
    pub fn merge(&mut self, other: ScanOutcome) {
        self.findings.extend(other.findings);
        let elapsed = self.stats.elapsed_ms.max(other.stats.elapsed_ms);
        self.stats.add(&other.stats);
        self.stats.elapsed_ms = elapsed;
        self.cancelled |= other.cancelled;
        self.unreadable.extend(other.unreadable);
    }
}

/// What the scan cache remembers of a file: its identity and what was found in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// Device, inode, size, mtime and ctime (ns): the file is read again when any changes.
    pub stamp: [i64; 5],
    /// Findings in the file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Findings suppressed in the file.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub suppressed: u64,
}

/// What identifies a version of a file: device, inode, size, mtime and ctime (ns).
fn stamp_of(meta: &std::fs::Metadata) -> [i64; 5] {
    [
        meta.dev() as i64,
        meta.ino() as i64,
        meta.size() as i64,
        meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
    ]
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Per-file results of a previous scan, keyed by a hash of the path, valid for one rules
/// version and one program version. Holds fingerprints and redacted prefixes, never a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCache {
    /// The program and rules version the entries were made with.
    pub rules_version: String,
    /// Entries by [`path_key`].
    pub entries: HashMap<u64, CacheEntry>,
    /// When the last full scan (one that read every file) started, in seconds since the
    /// epoch; incremental scans carry it over.
    #[serde(default)]
    pub full_scan_at: u64,
}

/// The cache key of a path: FNV-1a over its bytes (8 bytes a file instead of the path).
pub fn path_key(path: &str) -> u64 {
    path.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl ScanCache {
    /// Reads a cache file. A cache that is missing, corrupt or from another rules or program
    /// version is not trusted: `None`, and the next scan reads every file.
    pub fn load(path: &Path, rules_version: &str) -> Option<ScanCache> {
        let bytes = std::fs::read(path).ok()?;
        match serde_json::from_slice::<ScanCache>(&bytes) {
            Ok(c) if c.rules_version == rules_version => Some(c),
            Ok(_) => {
                log::info!(path:% = path.display(); "scan cache is from another version; rebuilding");
                None
            }
            Err(e) => {
                log::warn!(path:% = path.display(), error:% = e; "scan cache is corrupt; rebuilding");
                None
            }
        }
    }

    /// Writes the cache atomically and durably ([`crate::atomic::write`]), mode 0600.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        crate::atomic::write(path, &serde_json::to_vec(self).map_err(io::Error::other)?)
    }
}

/// Tunables of the scanner.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (0 = one per CPU).
    pub threads: usize,
    /// Larger files are skipped and counted.
    pub max_file_size: u64,
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
    /// Build a [`ScanCache`] of this scan (the agent does; a one-shot scan needs none, and
    /// saves about 100 bytes per file).
    pub build_cache: bool,
}

impl Options {
    /// Options from the `[scan]` section; `threads` overrides `scan.threads`.
    pub fn from_config(cfg: &ScanConfig, threads: Option<usize>) -> Result<Options, ScanError> {
        Ok(Options {
            threads: threads.unwrap_or(cfg.threads),
            max_file_size: cfg.max_file_size.as_u64(),
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
pub fn load_allowlist(path: &Path) -> Result<HashSet<String>, ScanError> {
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

/// The scanner: a compiled matcher plus options.
#[derive(Debug)]
pub struct Scanner {
    matcher: Matcher,
    opts: Options,
    excludes: Option<ignore::gitignore::Gitignore>,
}

impl Scanner {
    /// A scanner with the built-in rules.
    pub fn new(opts: Options) -> Result<Scanner, ScanError> {
        let excludes = if opts.exclude.is_empty() {
            None
        } else {
            let mut b = ignore::gitignore::GitignoreBuilder::new("/");
            for pattern in &opts.exclude {
                b.add_line(None, pattern)
                    .map_err(|source| ScanError::Exclude {
                        pattern: pattern.clone(),
                        source,
                    })?;
            }
            Some(b.build().map_err(|source| ScanError::Exclude {
                pattern: opts.exclude.join(", "),
                source,
            })?)
        };
        Ok(Scanner {
            matcher: Matcher::builtin()?,
            opts,
            excludes,
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

    /// Runs a scan. `prior` is a cache from an earlier scan (ignored if its rules version
    /// differs); the returned cache describes this scan's files.
    pub fn run(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        prior: Option<&ScanCache>,
    ) -> (ScanOutcome, ScanCache) {
        let (outcome, cache, _) = self.walk(plan, cancel, prior, None);
        (outcome, cache)
    }

    /// Runs a scan that reuses what `reuse` holds (see [`Reuse`]).
    pub fn scan(&self, plan: &Plan, cancel: &AtomicBool, reuse: Reuse) -> Scanned {
        let load = |cache: Option<&CacheFile>| cache.and_then(|c| c.load(&self.rules_version()));
        match reuse {
            Reuse::Nothing => {
                let (outcome, cache, _) = self.walk(plan, cancel, None, None);
                Scanned::walked(outcome, cache, None)
            }
            Reuse::Cache(file) => {
                let prior = load(Some(&file));
                let (outcome, cache, _) = self.walk(plan, cancel, prior.as_ref(), None);
                Scanned::walked(outcome, cache, None)
            }
            Reuse::Index { cache, watch } => {
                let prior = load(cache.as_ref());
                let (outcome, cache, index) = self.walk(plan, cancel, prior.as_ref(), Some(watch));
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

    /// Walks the trees again instead of an update (with the stat cache), and removes the
    /// watches of directories that left the trees since `old` was made.
    fn walk_again(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        old: TreeIndex,
        watch: WatchSet,
        cache: Option<CacheFile>,
        why: &str,
    ) -> Scanned {
        log::info!(reason = why; "walking the scanned trees");
        let mut watches = watch.watches.clone();
        let scanned = self.scan(plan, cancel, Reuse::Index { cache, watch });
        if let Some(new) = &scanned.index {
            for wd in old.dirs.into_keys().filter(|wd| !new.dirs.contains_key(wd)) {
                let _ = watches.remove(wd);
            }
        }
        scanned
    }

    /// The full walk: env files, the trees (each file read unless `prior` holds it unchanged),
    /// process environments and in-memory haystacks. With `watch`, every directory gets an
    /// inotify watch before it is read, and the trees are indexed for [`Reuse::Update`].
    fn walk(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        prior: Option<&ScanCache>,
        watch: Option<WatchSet>,
    ) -> (ScanOutcome, ScanCache, Option<TreeIndex>) {
        let started = Instant::now();
        let version = self.rules_version();
        let prior = prior.filter(|c| c.rules_version == version);
        let env_set: HashSet<&Path> = plan.env_files.iter().map(PathBuf::as_path).collect();
        let shared = Mutex::new(Merged::default());
        let threads = self.threads();
        let rate_per_thread = self.opts.read_rate_limit / threads as u64;
        let watching = watch.map(|w| Watching::new(w, plan, self.opts.same_file_system));

        self.scan_env_files(plan, cancel, &shared, prior);

        if !plan.trees.is_empty() && !cancel.load(Ordering::Relaxed) {
            let mut builder = WalkBuilder::new(&plan.trees[0]);
            for t in &plan.trees[1..] {
                builder.add(t);
            }
            builder
                .standard_filters(false)
                .follow_links(self.opts.follow_symlinks)
                .same_file_system(self.opts.same_file_system)
                .threads(threads);
            if let Some(gi) = self.excludes.clone() {
                builder.filter_entry(move |e| {
                    !excluded(&gi, e.path(), e.file_type().is_some_and(|t| t.is_dir()))
                });
            }
            builder.build_parallel().run(|| {
                let mut w = Worker::new(self, &shared, prior, rate_per_thread);
                if let Some(watching) = &watching {
                    w.indexed = Some(Vec::new());
                    w.watches = Some(watching.set.watches.clone());
                }
                let (env_set, watching) = (&env_set, watching.as_ref());
                Box::new(move |entry| {
                    if cancel.load(Ordering::Relaxed) {
                        return WalkState::Quit;
                    }
                    let entry = match entry {
                        Ok(e) => e,
                        Err(e) => {
                            log::debug!(error:% = e; "walk error");
                            w.stats.errors += 1;
                            w.walk_errors += 1;
                            w.note_unreadable(Unreadable::from_walk(&e));
                            return WalkState::Continue;
                        }
                    };
                    let Some(ft) = entry.file_type() else {
                        return WalkState::Continue;
                    };
                    if ft.is_dir() {
                        // The walker has opened the directory but reads it only after this
                        // returns: a change from here on is reported by the new watch.
                        if let Some(watching) = watching.filter(|wt| !wt.is_foreign(&entry)) {
                            w.watch_dir(entry.path(), watching);
                        }
                        return WalkState::Continue;
                    }
                    if ft.is_symlink() {
                        // Not followed (follow_symlinks = false): the target is scanned where
                        // it lies, if it lies in a scanned tree.
                        return WalkState::Continue;
                    }
                    let path = entry.path();
                    if !ft.is_file() {
                        log::debug!(path:% = path.display(); "skipped: not a regular file");
                        w.stats.skipped += 1;
                        w.record(path, FileState::Skipped);
                        return WalkState::Continue;
                    }
                    if env_set.contains(path) {
                        return WalkState::Continue;
                    }
                    w.scan_path(path, source_of(path));
                    WalkState::Continue
                })
            });
        }

        self.scan_volatile(plan, cancel, &shared);
        let merged = shared.into_inner().unwrap_or_else(|e| e.into_inner());
        let full_scan_at = prior.map_or_else(|| epoch_secs(started), |p| p.full_scan_at);
        let index = match watching {
            Some(watching) if !cancel.load(Ordering::Relaxed) => {
                watching.index(plan, &merged, full_scan_at)
            }
            _ => None,
        };
        let (outcome, cache) = self.finish(plan, merged, started, cancel, version, full_scan_at);
        (outcome, cache, index)
    }

    /// The incremental scan of the daemon: reads only `changed`, the files that failed last
    /// time, the hard-linked files whose stamp moved (a write through another name sends no
    /// event here) and the loose files, and takes everything else of the trees from `index`.
    /// Env files, process environments and in-memory haystacks are read as in a full walk.
    /// Walks again instead when the index cannot vouch for the trees: other trees or env files
    /// than indexed, a tree root that is now another directory (a switched symlink), or a
    /// changed path that is now a directory.
    fn update(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        mut index: TreeIndex,
        changed: &[PathBuf],
        watch: WatchSet,
        cache: Option<CacheFile>,
    ) -> Scanned {
        if index.roots != plan.trees {
            return self.walk_again(plan, cancel, index, watch, cache, "the trees changed");
        }
        if index.env_files != plan.env_files {
            return self.walk_again(plan, cancel, index, watch, cache, "the env files changed");
        }
        if index.root_ids != root_ids(&plan.trees) {
            return self.walk_again(
                plan,
                cancel,
                index,
                watch,
                cache,
                "a tree root was replaced",
            );
        }
        // A directory that could not be listed has no watch, and nothing reports when that
        // changes: look at each again (there are few), and walk when one can be listed now.
        let recovered = (index.unreadable.iter())
            .filter(|u| {
                !index
                    .failed
                    .iter()
                    .any(|f| f.as_os_str() == u.path.as_str())
            })
            .any(|u| match std::fs::read_dir(&u.path) {
                Ok(_) => true,
                Err(e) => e.kind() == io::ErrorKind::NotFound,
            });
        if recovered {
            let why = "a directory that could not be read changed";
            return self.walk_again(plan, cancel, index, watch, cache, why);
        }
        let started = Instant::now();
        let env_set: HashSet<&Path> = plan.env_files.iter().map(PathBuf::as_path).collect();
        let moved_links = index
            .linked
            .iter()
            .filter(|(p, stamp)| std::fs::metadata(p).map_or(true, |m| stamp_of(&m) != **stamp))
            .map(|(p, _)| p.clone());
        let mut todo: Vec<(PathBuf, bool)> = (changed.iter().cloned())
            .chain(std::mem::take(&mut index.failed))
            .chain(moved_links.collect::<Vec<_>>())
            .map(|p| (p, false))
            .chain(index.loose_files.iter().map(|p| (p.clone(), true)))
            .collect();
        // A loose file (a configured root) keeps its flag when it is also a changed or failed
        // path: roots are scanned whatever the exclude globs say.
        todo.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        todo.dedup_by(|a, b| a.0 == b.0);

        let reads = Mutex::new(Merged::default());
        let mut states = Vec::with_capacity(todo.len());
        {
            let rate = self.opts.read_rate_limit / self.threads() as u64;
            let mut w = Worker::new(self, &reads, None, rate);
            w.indexed = Some(Vec::new()); // keeps the findings of each file apart
            for (path, loose) in &todo {
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                let key = path_key(&path.to_string_lossy());
                let skip = env_set.contains(path.as_path()) || (!loose && self.is_excluded(path));
                let state = match std::fs::symlink_metadata(path) {
                    _ if skip => None,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                    Err(e) => {
                        w.note_unreadable(Unreadable::from_io(&path.to_string_lossy(), &e));
                        w.failed.push(path.clone());
                        Some(FileState::Failed)
                    }
                    Ok(m) if m.is_dir() => {
                        drop(w);
                        let why = "a changed path is now a directory";
                        return self.walk_again(plan, cancel, index, watch, cache, why);
                    }
                    Ok(m) if m.file_type().is_symlink() => None,
                    Ok(m) if !m.is_file() => Some(FileState::Skipped),
                    Ok(_) => Some(w.scan_path(path, source_of(path))),
                };
                states.push((path, key, state));
            }
        }
        let reads = reads.into_inner().unwrap_or_else(|e| e.into_inner());
        if reads
            .links
            .iter()
            .any(|(p, _)| !index.linked.contains_key(p))
        {
            // Its other names are somewhere in the trees, unknown to the index: a walk finds
            // them all, and later updates compare their stamps.
            let why = "a file gained another name (a hard link)";
            return self.walk_again(plan, cancel, index, watch, cache, why);
        }
        let cancelled = cancel.load(Ordering::Relaxed);
        for (path, key, state) in states {
            let display = path.to_string_lossy();
            index.unreadable.retain(|u| u.path != display);
            index.linked.remove(path);
            match state {
                None => index.remove(key),
                Some(state) => {
                    let found = reads.cache.get(&key).map(|e| FileFindings {
                        findings: e.findings.clone(),
                        suppressed: e.suppressed,
                    });
                    index.set(key, state, found);
                }
            }
        }
        index.unreadable.extend(reads.unreadable);
        index.linked.extend(reads.links);
        index.failed = reads.failed;

        let shared = Mutex::new(Merged::default());
        self.scan_env_files(plan, cancel, &shared, None);
        self.scan_volatile(plan, cancel, &shared);
        let mut merged = shared.into_inner().unwrap_or_else(|e| e.into_inner());
        merged.unreadable.extend(index.unreadable.iter().cloned());
        let (read, skipped, failed) = index.counts();
        let (found, suppressed) = index.findings();
        merged.findings.extend(found.cloned());
        let st = &mut merged.stats;
        st.files += read;
        st.skipped += skipped;
        st.errors += failed + index.walk_errors;
        st.suppressed += suppressed;
        st.cached += read.saturating_sub(reads.stats.files);
        st.bytes += reads.stats.bytes;
        let full_scan_at = index.full_scan_at;
        let version = self.rules_version();
        let (outcome, _) = self.finish(plan, merged, started, cancel, version, full_scan_at);
        Scanned {
            outcome,
            cache: None,
            // An interrupted update may have left changed paths unread: not to be trusted.
            index: (!cancelled).then_some(index),
        }
    }

    /// Whether an exclude glob matches a file path.
    fn is_excluded(&self, path: &Path) -> bool {
        self.excludes
            .as_ref()
            .is_some_and(|gi| excluded(gi, path, false))
    }

    fn threads(&self) -> usize {
        match self.opts.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    /// Env files first (they may lie outside the trees; the walk skips them).
    fn scan_env_files(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        shared: &Mutex<Merged>,
        prior: Option<&ScanCache>,
    ) {
        let rate = self.opts.read_rate_limit / self.threads() as u64;
        let mut w = Worker::new(self, shared, prior, rate);
        for p in &plan.env_files {
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            w.scan_path(p, Source::EnvFile);
        }
    }

    /// Sources read in full every time: process environments and in-memory haystacks.
    fn scan_volatile(&self, plan: &Plan, cancel: &AtomicBool, shared: &Mutex<Merged>) {
        if plan.processes && !cancel.load(Ordering::Relaxed) {
            let (stacks, unreadable) =
                procfs::environments(&self.opts.proc_root, self.opts.max_file_size);
            let mut w = Worker::new(self, shared, None, 0);
            w.stats.skipped += unreadable;
            for h in &stacks {
                w.scan_memory(h);
            }
        }
        let mut w = Worker::new(self, shared, None, 0);
        for h in &plan.memory {
            w.scan_memory(h);
        }
    }

    /// Sorts the findings and makes the outcome and the cache of a scan.
    fn finish(
        &self,
        plan: &Plan,
        merged: Merged,
        started: Instant,
        cancel: &AtomicBool,
        version: String,
        full_scan_at: u64,
    ) -> (ScanOutcome, ScanCache) {
        let mut findings = merged.findings;
        findings.sort_by(|a, b| {
            (a.source != Source::File && a.source != Source::EnvFile)
                .cmp(&(b.source != Source::File && b.source != Source::EnvFile))
                .then_with(|| a.path.cmp(&b.path))
                .then(a.line.cmp(&b.line))
                .then(a.column.cmp(&b.column))
                .then(a.kind.cmp(&b.kind))
        });
        let mut stats = merged.stats;
        stats.elapsed_ms = started.elapsed().as_millis() as u64;
        let mut unreadable = plan.unreadable.clone();
        unreadable.extend(merged.unreadable);
        unreadable.sort_by(|a, b| a.path.cmp(&b.path));
        let cache = ScanCache {
            rules_version: version,
            entries: merged.cache,
            full_scan_at,
        };
        (
            ScanOutcome {
                findings,
                stats,
                cancelled: cancel.load(Ordering::Relaxed),
                unreadable,
            },
            cache,
        )
    }
}

/// When a scan that started at `started` started, in seconds since the epoch.
fn epoch_secs(started: Instant) -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(started.elapsed().as_secs())
}

/// How a file found in a tree is reported: env files by their name, the rest as files.
fn source_of(path: &Path) -> Source {
    if envfiles::is_env_file_name(path) {
        Source::EnvFile
    } else {
        Source::File
    }
}

/// Whether an exclude glob matches `path` (relative paths are taken from the working
/// directory, as the command line gives them).
fn excluded(gi: &ignore::gitignore::Gitignore, path: &Path, is_dir: bool) -> bool {
    let abs;
    let path = if path.is_absolute() {
        path
    } else {
        abs = std::env::current_dir().unwrap_or_default().join(path);
        abs.as_path()
    };
    gi.matched(path, is_dir).is_ignore()
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

/// The agent's scan cache file, read only when a walk needs it (a parse of 70,000 entries
/// would cost an update more than the update itself).
#[derive(Debug, Clone)]
pub struct CacheFile {
    /// The file.
    pub path: PathBuf,
    /// A cache whose last full scan started at or before this time (seconds since the epoch)
    /// is too old: the walk reads every file (`agent.full_rescan_interval`).
    pub rescan_before: u64,
}

impl CacheFile {
    /// The cache, when it is there, of `rules_version` and recent enough.
    pub fn load(&self, rules_version: &str) -> Option<ScanCache> {
        ScanCache::load(&self.path, rules_version).filter(|c| c.full_scan_at > self.rescan_before)
    }
}

/// The inotify instance the daemon watches the trees with, and how many watches it may add.
#[derive(Debug, Clone)]
pub struct WatchSet {
    /// The watch handle of the agent's inotify instance.
    pub watches: inotify::Watches,
    /// At most this many directories are watched; beyond that the trees are not indexed.
    pub budget: usize,
}

/// What [`Scanner::scan`] returns.
#[derive(Debug)]
pub struct Scanned {
    /// Findings and counters.
    pub outcome: ScanOutcome,
    /// The stat cache of a full walk (an update has none: its entries stay valid).
    pub cache: Option<ScanCache>,
    /// The index for the next update, when the trees are indexed and fully watched.
    pub index: Option<TreeIndex>,
}

impl Scanned {
    fn walked(outcome: ScanOutcome, cache: ScanCache, index: Option<TreeIndex>) -> Scanned {
        Scanned {
            outcome,
            cache: Some(cache),
            index,
        }
    }
}

/// The watching side of an indexing walk, shared by the walker threads.
struct Watching {
    set: WatchSet,
    added: std::sync::atomic::AtomicUsize,
    exhausted: AtomicBool,
    /// The device of each tree root: with `same_file_system`, a directory on another device is
    /// a mount point that the walk does not enter, and gets no watch.
    root_devs: Option<Vec<(PathBuf, u64)>>,
}

impl Watching {
    fn new(set: WatchSet, plan: &Plan, same_file_system: bool) -> Watching {
        let root_devs = same_file_system.then(|| {
            (plan.trees.iter())
                .filter_map(|t| Some((t.clone(), std::fs::metadata(t).ok()?.dev())))
                .collect()
        });
        Watching {
            set,
            added: std::sync::atomic::AtomicUsize::new(0),
            exhausted: AtomicBool::new(false),
            root_devs,
        }
    }

    /// Whether a directory of the walk lies on another file system than its tree's root.
    fn is_foreign(&self, entry: &ignore::DirEntry) -> bool {
        let Some(roots) = &self.root_devs else {
            return false;
        };
        let root = (roots.iter())
            .filter(|(r, _)| entry.path().starts_with(r))
            .max_by_key(|(r, _)| r.as_os_str().len());
        match (root, entry.metadata()) {
            (Some((_, dev)), Ok(m)) => m.dev() != *dev,
            _ => true,
        }
    }

    /// The index of a completed walk, or `None` when some directory could not be watched (the
    /// watches this walk added are then removed: they would serve nothing).
    fn index(&self, plan: &Plan, merged: &Merged, full_scan_at: u64) -> Option<TreeIndex> {
        if self.exhausted.load(Ordering::Relaxed) {
            log::warn!(directories = self.added.load(Ordering::Relaxed), budget = self.set.budget;
                "too many directories to watch; each cycle checks every file of the trees (one stat each)");
            let mut watches = self.set.watches.clone();
            for (wd, _) in &merged.watched {
                let _ = watches.remove(wd.clone());
            }
            return None;
        }
        let mut index = TreeIndex {
            roots: plan.trees.clone(),
            root_ids: root_ids(&plan.trees),
            env_files: plan.env_files.clone(),
            loose_files: plan.trees.iter().filter(|t| !t.is_dir()).cloned().collect(),
            walk_errors: merged.walk_errors,
            // Env files are read at every cycle, so their errors are not kept.
            unreadable: (merged.unreadable.iter())
                .filter(|u| !plan.env_files.iter().any(|e| e.to_string_lossy() == u.path))
                .cloned()
                .collect(),
            failed: merged.failed.clone(),
            linked: merged.links.iter().cloned().collect(),
            full_scan_at,
            ..TreeIndex::default()
        };
        for (wd, dir) in &merged.watched {
            // The same directory at two paths (a bind mount) has one watch: both are kept.
            match index.dirs.get(wd) {
                Some(first) if first != dir => {
                    index
                        .aliases
                        .entry(wd.clone())
                        .or_default()
                        .push(dir.clone());
                }
                Some(_) => {}
                None => {
                    index.dirs.insert(wd.clone(), dir.clone());
                }
            }
        }
        for &(key, state) in &merged.indexed {
            let found = merged.cache.get(&key).map(|e| FileFindings {
                findings: e.findings.clone(),
                suppressed: e.suppressed,
            });
            index.set(key, state, found);
        }
        Some(index)
    }
}

/// The identity (device, inode) of each tree root as its path resolves now: a root reached
/// through a symlink that was switched (`current -> releases/N`) is another directory, which
/// no watch reports.
fn root_ids(trees: &[PathBuf]) -> Vec<Option<(u64, u64)>> {
    trees
        .iter()
        .map(|t| std::fs::metadata(t).ok().map(|m| (m.dev(), m.ino())))
        .collect()
}

#[derive(Default)]
struct Merged {
    findings: Vec<Finding>,
    stats: Stats,
    cache: HashMap<u64, CacheEntry>,
    unreadable: Vec<Unreadable>,
    indexed: Vec<(u64, FileState)>,
    watched: Vec<(inotify::WatchDescriptor, PathBuf)>,
    walk_errors: u64,
    failed: Vec<PathBuf>,
    links: Vec<(PathBuf, [i64; 5])>,
}

/// Per-thread state: buffer, match scratch, counters; merged into the shared result on drop.
struct Worker<'a> {
    scanner: &'a Scanner,
    shared: &'a Mutex<Merged>,
    prior: Option<&'a ScanCache>,
    buf: Vec<u8>,
    matches: Vec<RawMatch>,
    findings: Vec<Finding>,
    stats: Stats,
    cache: HashMap<u64, CacheEntry>,
    rate: u64,
    rate_window: (Instant, u64),
    /// While indexing: what became of each file.
    indexed: Option<Vec<(u64, FileState)>>,
    /// While indexing: where to add directory watches, and the watches added.
    watches: Option<inotify::Watches>,
    watched: Vec<(inotify::WatchDescriptor, PathBuf)>,
    walk_errors: u64,
    /// While indexing: files that could not be read, and files with other names (hard links).
    failed: Vec<PathBuf>,
    links: Vec<(PathBuf, [i64; 5])>,
}

impl<'a> Worker<'a> {
    fn new(
        scanner: &'a Scanner,
        shared: &'a Mutex<Merged>,
        prior: Option<&'a ScanCache>,
        rate: u64,
    ) -> Self {
        Worker {
            scanner,
            shared,
            prior,
            buf: Vec::new(),
            matches: Vec::new(),
            findings: Vec::new(),
            stats: Stats::default(),
            cache: HashMap::new(),
            rate,
            rate_window: (Instant::now(), 0),
            indexed: None,
            watches: None,
            watched: Vec::new(),
            walk_errors: 0,
            failed: Vec::new(),
            links: Vec::new(),
        }
    }

    /// Adds an inotify watch on a directory of the trees (within the budget).
    fn watch_dir(&mut self, dir: &Path, watching: &Watching) {
        let Some(watches) = self.watches.as_mut() else {
            return;
        };
        if watching.added.fetch_add(1, Ordering::Relaxed) >= watching.set.budget {
            watching.exhausted.store(true, Ordering::Relaxed);
            return;
        }
        match watches.add(dir, index::WATCH_MASK) {
            Ok(wd) => self.watched.push((wd, dir.to_path_buf())),
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                log::warn!(path:% = dir.display(); "the kernel's inotify watch limit is reached (fs.inotify.max_user_watches)");
                watching.exhausted.store(true, Ordering::Relaxed);
            }
            // Gone or unreadable: the walk counts it, and the watch on its parent reports
            // when that changes.
            Err(e) => log::debug!(path:% = dir.display(), error:% = e; "cannot watch"),
        }
    }

    /// Notes what became of a file of the trees, while indexing.
    fn record(&mut self, path: &Path, state: FileState) {
        if let Some(ix) = self.indexed.as_mut() {
            ix.push((path_key(&path.to_string_lossy()), state));
            if state == FileState::Failed {
                self.failed.push(path.to_path_buf());
            }
        }
    }

    /// Notes a file that has other names, while indexing: a write through one of those sends
    /// no event to this name's directory, so updates compare its stamp instead.
    fn note_link(&mut self, path: &Path, meta: &std::fs::Metadata) {
        if self.indexed.is_some() && meta.nlink() > 1 {
            self.links.push((path.to_path_buf(), stamp_of(meta)));
        }
    }

    /// Scans one file (unless the stat cache holds it unchanged) and says what became of it.
    fn scan_path(&mut self, path: &Path, source: Source) -> FileState {
        let state = self.scan_file(path, source);
        self.record(path, state);
        state
    }

    fn scan_file(&mut self, path: &Path, source: Source) -> FileState {
        let display = path.to_string_lossy().into_owned();
        // With a cache, an unchanged file costs one stat and no open.
        if let Some(prior) = self.prior {
            if let Ok(meta) = std::fs::metadata(path) {
                let key = path_key(&display);
                if let Some(entry) = prior
                    .entries
                    .get(&key)
                    .filter(|e| meta.is_file() && e.stamp == stamp_of(&meta))
                {
                    self.stats.files += 1;
                    self.stats.cached += 1;
                    self.stats.suppressed += entry.suppressed;
                    self.findings.extend(entry.findings.iter().cloned());
                    self.cache.insert(key, entry.clone());
                    self.note_link(path, &meta);
                    return FileState::Read;
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path);
        let mut file = match file {
            Ok(f) => f,
            Err(e) => {
                log::debug!(path:% = display, error:% = e; "cannot open");
                self.stats.errors += 1;
                self.note_unreadable(Unreadable::from_io(&display, &e));
                return FileState::Failed;
            }
        };
        let meta = match file.metadata() {
            Ok(m) => m,
            Err(e) => {
                log::debug!(path:% = display, error:% = e; "cannot stat");
                self.stats.errors += 1;
                self.note_unreadable(Unreadable::from_io(&display, &e));
                return FileState::Failed;
            }
        };
        self.note_link(path, &meta);
        if !meta.is_file() {
            self.stats.skipped += 1;
            return FileState::Skipped;
        }
        if meta.len() > self.scanner.opts.max_file_size {
            log::debug!(path:% = display, size = meta.len(); "skipped: larger than max_file_size");
            self.stats.skipped += 1;
            return FileState::Skipped;
        }
        let stamp = stamp_of(&meta);
        self.stats.files += 1;
        let first = self.findings.len();
        let suppressed_before = self.stats.suppressed;
        let ctx = Ctx {
            source,
            path: &display,
            process: None,
        };
        // One open, one fstat and (for a small file) one read: the UTF-16 BOM is sniffed in
        // the first chunk, and the file is read again through a decoder only if it has one.
        let result = match self.scan_reader(&mut file, &ctx, Some(meta.len())) {
            Ok(ReadEnd::Utf16Bom) => file.rewind().and_then(|()| {
                let decoder = encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .bom_sniffing(true)
                    .build(&mut file);
                self.scan_reader(decoder, &ctx, None).map(drop)
            }),
            other => other.map(drop),
        };
        if let Err(e) = result {
            log::debug!(path:% = display, error:% = e; "read error");
            self.stats.errors += 1;
            self.note_unreadable(Unreadable::from_io(&display, &e));
            return FileState::Failed;
        }
        group_credentials(&mut self.findings[first..]);
        if self.scanner.opts.build_cache || self.indexed.is_some() {
            self.cache.insert(
                path_key(&display),
                CacheEntry {
                    stamp,
                    findings: self.findings[first..].to_vec(),
                    suppressed: self.stats.suppressed - suppressed_before,
                },
            );
        }
        FileState::Read
    }

    /// Records a source that could not be read (errors are rare: straight to the shared list).
    fn note_unreadable(&self, source: Option<Unreadable>) {
        if let Some(u) = source {
            let mut m = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            m.unreadable.push(u);
        }
    }

    fn scan_memory(&mut self, h: &Haystack) {
        self.stats.files += 1;
        let first = self.findings.len();
        let ctx = Ctx {
            source: h.source,
            path: &h.path,
            process: h.process.as_ref(),
        };
        let bytes: &[u8] = &h.bytes;
        if let Err(e) = self.scan_reader(bytes, &ctx, None) {
            log::debug!(path:% = h.path, error:% = e; "read error");
            self.stats.errors += 1;
        }
        group_credentials(&mut self.findings[first..]);
    }

    /// Reads `r` chunk by chunk, keeping [`OVERLAP`] bytes of the previous chunk in front.
    ///
    /// `file_len` is the size of a regular file from its fstat: reading stops there (no extra
    /// read for EOF; a file growing meanwhile is scanned as it was at fstat), and a UTF-16 BOM
    /// at its start returns [`ReadEnd::Utf16Bom`] before anything is scanned, for the caller to
    /// read it again through a decoder. A size of 0 (procfs) reads to EOF.
    fn scan_reader<R: Read>(
        &mut self,
        mut r: R,
        ctx: &Ctx<'_>,
        file_len: Option<u64>,
    ) -> io::Result<ReadEnd> {
        let cap = CHUNK + OVERLAP;
        if self.buf.len() != cap {
            self.buf = vec![0; cap];
        }
        let limit = self.scanner.opts.max_file_size;
        let mut filled = 0usize;
        let mut fresh_from = 0usize;
        let mut base: u64 = 0;
        let mut lines_before: u64 = 0;
        let mut last_nl_before: Option<u64> = None;
        let mut total: u64 = 0;
        loop {
            let mut eof = false;
            while filled < cap {
                if total >= limit {
                    eof = true;
                    break;
                }
                let want = (cap - filled).min((limit - total) as usize);
                match r.read(&mut self.buf[filled..filled + want]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        filled += n;
                        total += n as u64;
                        self.stats.bytes += n as u64;
                        self.throttle(n as u64);
                        if file_len.is_some_and(|l| l > 0 && total >= l) {
                            eof = true;
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        eof = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if file_len.is_some()
                && base == 0
                && matches!(self.buf.get(..2), Some([0xFF, 0xFE] | [0xFE, 0xFF]))
                && filled >= 2
            {
                self.stats.bytes -= total;
                return Ok(ReadEnd::Utf16Bom);
            }
            let fresh_to = if eof { filled } else { filled - OVERLAP };
            self.matches.clear();
            self.scanner
                .matcher
                .find(&self.buf[..filled], &mut self.matches);
            let matches = std::mem::take(&mut self.matches);
            // Matches come sorted by position: lines and line starts are counted incrementally,
            // so a file full of keys costs one pass, not one pass per key.
            let (mut counted_to, mut lines_in_buf, mut last_nl) = (0usize, 0u64, None);
            for m in matches
                .iter()
                .filter(|m| m.start >= fresh_from && m.start < fresh_to)
            {
                let hay = &self.buf[..filled];
                if m.start > counted_to {
                    let part = &hay[counted_to..m.start];
                    lines_in_buf += bytecount::count(part, b'\n') as u64;
                    if let Some(p) = memchr::memrchr(b'\n', part) {
                        last_nl = Some(counted_to + p);
                    }
                    counted_to = m.start;
                }
                let line_start_in_buf = last_nl.map(|p| p + 1);
                let line = lines_before + lines_in_buf + 1;
                let abs = base + m.start as u64;
                let column = match (line_start_in_buf, last_nl_before) {
                    (Some(ls), _) => (m.start - ls) as u64 + 1,
                    (None, Some(nl)) => abs - nl,
                    (None, None) => abs + 1,
                };
                let ls = line_start_in_buf
                    .unwrap_or(0)
                    .max(m.start.saturating_sub(CONTEXT_LINE_CAP));
                let le = memchr::memchr(
                    b'\n',
                    &hay[m.start..(m.start + CONTEXT_LINE_CAP).min(filled)],
                )
                .map_or((m.start + CONTEXT_LINE_CAP).min(filled), |p| m.start + p);
                let allowed = memchr::memmem::find(&hay[ls..le], ALLOW_MARKER).is_some();
                self.emit(m, ctx, line, column, allowed);
            }
            self.matches = matches;
            if eof {
                return Ok(ReadEnd::Scanned);
            }
            // Keep OVERLAP bytes of context in front of the first byte not yet reported
            // (`fresh_to`): the next window reports from there on, with its context whole.
            let discard = fresh_to - OVERLAP;
            let dropped = &self.buf[..discard];
            lines_before += bytecount::count(dropped, b'\n') as u64;
            if let Some(p) = memchr::memrchr(b'\n', dropped) {
                last_nl_before = Some(base + p as u64);
            }
            self.buf.copy_within(discard..filled, 0);
            filled -= discard;
            base += discard as u64;
            fresh_from = fresh_to - discard;
        }
    }

    fn emit(&mut self, m: &RawMatch, ctx: &Ctx<'_>, line: u64, column: u64, allowed: bool) {
        let rule = &self.scanner.matcher.rule(m.rule).spec;
        let value = m.value.expose();
        let fp = finding::fingerprint(value);
        if allowed || self.scanner.opts.allowlist.contains(&fp) {
            self.stats.suppressed += 1;
            return;
        }
        let (key_id, key_type, account_id) = if rule.kind == Kind::AccessKeyId {
            let id = String::from_utf8_lossy(value).into_owned();
            let acct = finding::account_from_key_id(&id);
            (Some(id.clone()), Some(KeyType::of(&id)), acct)
        } else {
            (None, None, None)
        };
        let location = match ctx.process {
            Some(p) => p
                .unit
                .clone()
                .or_else(|| p.exe.clone())
                .unwrap_or_else(|| "process".into()),
            None => ctx.path.to_string(),
        };
        let credential = finding::short_id(&["credential", key_id.as_deref().unwrap_or(&fp)]);
        self.findings.push(Finding {
            id: finding::short_id(&[&rule.id, ctx.source.as_str(), &location, &fp]),
            rule: rule.id.clone(),
            kind: rule.kind,
            source: ctx.source,
            path: ctx.path.to_string(),
            line,
            column,
            key_id,
            key_type,
            account_id,
            credential,
            redacted: finding::redact(value),
            fingerprint: fp,
            process: ctx.process.cloned(),
        });
    }

    /// Sleeps as needed to keep this thread under its share of `read_rate_limit`.
    fn throttle(&mut self, n: u64) {
        if self.rate == 0 {
            return;
        }
        self.rate_window.1 += n;
        let due = Duration::from_secs_f64(self.rate_window.1 as f64 / self.rate as f64);
        let spent = self.rate_window.0.elapsed();
        if due > spent {
            std::thread::sleep(due - spent);
        }
        if spent > Duration::from_secs(10) {
            self.rate_window = (Instant::now(), 0);
        }
    }
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        let mut m = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        m.findings.append(&mut self.findings);
        m.stats.add(&self.stats);
        m.cache.extend(self.cache.drain());
        if let Some(ix) = self.indexed.as_mut() {
            m.indexed.append(ix);
        }
        m.watched.append(&mut self.watched);
        m.walk_errors += self.walk_errors;
        m.failed.append(&mut self.failed);
        m.links.append(&mut self.links);
    }
}

struct Ctx<'a> {
    source: Source,
    path: &'a str,
    process: Option<&'a ProcessInfo>,
}

/// How [`Worker::scan_reader`] ended.
enum ReadEnd {
    /// Read and scanned to the end (or to `max_file_size`).
    Scanned,
    /// A file starting with a UTF-16 BOM: nothing scanned, to be read through a decoder.
    Utf16Bom,
}

/// How many lines apart a secret and a key id may be to count as one credential.
const PAIR_LINES: u64 = 5;

/// Gives the secrets and tokens of one haystack the key id found closest to them, so that the
/// parts of one credential share `credential`, `key_id` and `account_id`.
fn group_credentials(found: &mut [Finding]) {
    let ids: Vec<Finding> = found
        .iter()
        .filter(|f| f.kind == Kind::AccessKeyId)
        .cloned()
        .collect();
    if ids.is_empty() {
        return;
    }
    for f in found.iter_mut().filter(|f| f.kind.is_secret()) {
        let best = ids
            .iter()
            .filter(|k| k.line.abs_diff(f.line) <= PAIR_LINES)
            .min_by_key(|k| (k.line.abs_diff(f.line), k.column.abs_diff(f.column)));
        if let Some(k) = best {
            f.credential = k.credential.clone();
            f.key_id = k.key_id.clone();
            f.key_type = k.key_type;
            f.account_id = k.account_id.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner() -> Scanner {
        Scanner::new(Options {
            threads: 1,
            max_file_size: 1 << 20,
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
    fn cache_skips_unchanged_files_and_sees_changed_ones() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::write(dir.path().join(format!("f{i}")), "nothing\n").unwrap();
        }
        std::fs::write(dir.path().join("k"), "id = AKIASXQV3SVWMFRRRM75\n").unwrap();
        let s = scanner();
        let plan = Plan::from_paths(&[dir.path().to_path_buf()]);
        let cancel = AtomicBool::new(false);
        let (first, cache) = s.run(&plan, &cancel, None);
        assert_eq!((first.stats.files, first.stats.cached), (21, 0));
        assert_eq!(first.findings.len(), 1);

        let path = dir.path().join("cache.json");
        cache.save(&path).unwrap();
        let cache = ScanCache::load(&path, &s.rules_version()).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(
            dir.path().join("f3"),
            "aws_secret_access_key = V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw\n",
        )
        .unwrap();
        let (second, _) = s.run(&plan, &cancel, Some(&cache));
        assert_eq!(second.stats.cached, 20, "only the changed file is read");
        assert_eq!(
            second.findings.len(),
            2,
            "the cached finding and the new one"
        );
        assert_eq!(second.findings, {
            let (full, _) = s.run(&plan, &cancel, None);
            full.findings
        });
    }

    #[test]
    fn cache_from_another_version_or_corrupt_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let c = ScanCache {
            rules_version: "other".into(),
            ..ScanCache::default()
        };
        c.save(&path).unwrap();
        assert!(ScanCache::load(&path, &scanner().rules_version()).is_none());
        std::fs::write(&path, b"{not json").unwrap();
        assert!(ScanCache::load(&path, &scanner().rules_version()).is_none());
        assert!(ScanCache::load(&dir.path().join("missing"), "x").is_none());
    }

    #[test]
    fn read_rate_limit_slows_reading_down() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big"), vec![b'x'; 1 << 20]).unwrap();
        let mut s = scanner();
        s.opts.read_rate_limit = 512 << 10;
        let plan = Plan::from_paths(&[dir.path().to_path_buf()]);
        let started = Instant::now();
        let (out, _) = s.run(&plan, &AtomicBool::new(false), None);
        assert_eq!(out.stats.bytes, 1 << 20);
        // 1 MiB at 512 KiB/s: about 2 s (a lower bound: the limiter may only slow down).
        assert!(
            started.elapsed() >= Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn many_keys_get_their_own_lines_and_columns() {
        let s = scanner();
        let mut bytes = Vec::new();
        for i in 0..3000 {
            bytes.extend_from_slice(
                format!("{:>width$}AKIASXQV3SVWMFRRRM75\n", "", width = i % 7).as_bytes(),
            );
        }
        let plan = Plan {
            memory: vec![Haystack {
                source: Source::File,
                path: "many".into(),
                bytes,
                process: None,
            }],
            ..Plan::default()
        };
        let (out, _) = s.run(&plan, &AtomicBool::new(false), None);
        assert_eq!(out.findings.len(), 3000);
        for (i, f) in out.findings.iter().enumerate() {
            assert_eq!((f.line, f.column), (i as u64 + 1, (i % 7) as u64 + 1));
        }
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
