//! The scan cache: what earlier scans found in each file, keyed by a hash of its path and
//! valid while the file's stamp (device, inode, size, mtime, ctime) is unchanged. A file that
//! matches its entry costs one stat and no read. The cache holds fingerprints and redacted
//! prefixes, never a secret, and is written atomically ([`crate::atomic::write`]).

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::finding::Finding;

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
pub(super) fn stamp_of(meta: &std::fs::Metadata) -> [i64; 5] {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::scan::scanner::tests::scanner;
    use crate::scan::Plan;

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
}
