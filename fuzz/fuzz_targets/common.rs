//! Shared by the fuzz targets (each includes it with `#[path]`, as do the property tests that
//! replay their findings): the built-in matcher, the secret-in-output invariant, a scratch
//! directory per process and the `chunked` target's input layout.
#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;

use credhygiene::scan::matcher::Matcher;
use credhygiene::scan::OVERLAP;

/// The matcher with every built-in rule, compiled once per process.
pub fn matcher() -> &'static Matcher {
    static M: OnceLock<Matcher> = OnceLock::new();
    M.get_or_init(|| Matcher::builtin().expect("the built-in rules compile"))
}

/// A scratch directory for targets that read files, created once per process (libFuzzer runs
/// inputs one after the other in one thread).
pub fn scratch() -> &'static Path {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

/// Panics when `shown` (a `Display` or `Debug`) holds `secret` while none of the values that
/// may be shown does: a secret must never be printed, but a non-secret field that happens to
/// hold the same text may. Short values are skipped: they occur by chance.
pub fn assert_not_shown(shown: &str, secret: &str, may_show: &[&str]) {
    if secret.len() < 12 || !shown.contains(secret) {
        return;
    }
    if may_show.iter().any(|v| v.contains(secret)) {
        return;
    }
    panic!("a secret value is shown: {secret:?} in {shown:?}");
}

/// The fewest new bytes a window of the `chunked` target reports.
pub const MIN_REPORTED: usize = 1024;

/// The `chunked` target's haystack and chunk size from one input: 2 bytes chunk size (over the
/// overlap), 2 bytes border offset into the content, 1 filler byte, 1 repeat count, then the
/// content, placed so that the first border falls that far into it. `None` for a shorter
/// input.
///
/// After the first, each window of the reader reports `chunk - OVERLAP` new bytes and scans
/// `chunk + OVERLAP`: the chunk is at least [`MIN_REPORTED`] over the overlap, or a chunk one
/// byte over it would make the target quadratic by itself (one window per byte: the timeout
/// fuzz/artifacts/chunked/timeout-3be6…). Production reads chunks of 1 MiB.
pub fn chunked_input(data: &[u8]) -> Option<(usize, Vec<u8>)> {
    let [c0, c1, p0, p1, fill, reps, content @ ..] = data else {
        return None;
    };
    let chunk = OVERLAP + MIN_REPORTED + usize::from(u16::from_le_bytes([*c0, *c1]) % 8192);
    let into = usize::from(u16::from_le_bytes([*p0, *p1])) % (content.len() + 1);
    let mut hay = vec![*fill; chunk - into];
    for _ in 0..=(reps % 3) {
        hay.extend_from_slice(content);
    }
    hay.resize(hay.len() + OVERLAP + 1, *fill);
    Some((chunk, hay))
}
