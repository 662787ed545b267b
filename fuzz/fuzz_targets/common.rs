//! Shared by the fuzz targets (each includes it with `#[path]`): the built-in matcher, the
//! secret-in-output invariant and a scratch directory per process.
#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;

use credhygiene::scan::matcher::Matcher;

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
