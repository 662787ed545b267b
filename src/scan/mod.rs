//! Where to look: files under the scanned trees (walked in parallel with `ignore`), env files,
//! process environments and in-memory haystacks such as user-data. The scan is synchronous and
//! threaded like ripgrep; async callers run it in `spawn_blocking`.
//!
//! Read policy (documented in the README): no mmap; each file is read through a per-thread
//! buffer of [`CHUNK`] bytes plus an overlap that keeps every key whole across chunk borders,
//! so memory does not grow with file size. Binary files are scanned as bytes (keys hide in
//! compiled binaries, `.pyc`, SQLite files and dumps); UTF-16 files with a BOM are decoded to
//! UTF-8 first. FIFOs, sockets and device nodes are skipped without being opened.
//!
//! The pipeline inside, one file each: [`Scanner`] (`scanner.rs`) drives a scan described by a
//! [`Plan`] (`plan.rs`): a full walk (`walk.rs`) or an incremental update from a
//! [`index::TreeIndex`] (`update.rs`). Per-thread workers (`worker.rs`) read each source
//! through the chunked reader (`reader.rs`), which hands every match with its line and column
//! to `emit.rs`, where it becomes a [`crate::finding::Finding`]. The stat cache of earlier
//! scans lives in `cache.rs`; the results in `outcome.rs`. [`aggregate`] bounds the findings
//! of one source, over the final findings of a scan.

pub mod aggregate;
pub mod envfiles;
pub mod index;
pub mod matcher;
pub mod procfs;
pub mod unreadable;

mod cache;
mod decompress;
mod dirs;
mod emit;
mod inflate;
mod keyids;
mod markers;
mod open;
mod outcome;
mod plan;
mod reader;
mod scanner;
mod update;
mod walk;
mod worker;

pub use aggregate::aggregate_lone_key_ids;
pub(crate) use cache::stamp_of;
pub use cache::{frame as frame_cache, key_of, path_key, CacheFile, ScanCache};
pub use decompress::Limits as DecompressLimits;
pub use keyids::{KeyIds, KEPT_IN_FULL};
pub use outcome::{ScanOutcome, Scanned, Stats};
pub use plan::{Haystack, Options, Plan, Reuse, WatchSet};
#[doc(hidden)]
pub use reader::{read_chunked, read_decoded, DecodedMatches, ReadMatch, OVERLAP};
pub use reader::{ALLOW_MARKER, CHUNK};
pub use scanner::{ScanError, Scanner};
pub use unreadable::Unreadable;
