//! Issue 15: a directory of a million entries in one level (a mail spool, a cache directory,
//! a flat object store). The one-shot scan and the agent's first cycle and restart each finish,
//! count every file, find the key in the last one, and stay within the memory the packaged
//! unit allows; the restart reads no file content.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::common::{assert_exit, credhygiene_timed, peak_rss_kib, KEY_ID};
use crate::names::{open_dir, write_at};

const ENTRIES: usize = 1_000_000;
/// Issue 15's bound at a million files. A debug build, so this is a guard against memory
/// that grows with the entries (at ~100 bytes an entry that is 95 MiB), not the figure
/// `scripts/bench-agent` measures.
const MAX_PEAK_RSS_KIB: u64 = 64 * 1024;

/// Creates `ENTRIES` empty files in `dir`, and a key in the one whose name sorts last.
fn fill(dir: &Path) {
    let fd = open_dir(dir);
    for i in 0..ENTRIES - 1 {
        write_at(fd, format!("m{i:07}").as_bytes(), b"");
    }
    write_at(
        fd,
        b"z-last.env",
        format!("AWS_ACCESS_KEY_ID={KEY_ID}\n").as_bytes(),
    );
    // SAFETY: `fd` is open and no longer used.
    #[allow(unsafe_code)]
    unsafe {
        libc::close(fd);
    }
}

/// The figures of the `scan:` line of `run --once`'s summary on stdout, by name:
/// `finding`, `new`, `sources`, `bytes read`, `from cache` (`12 finding(s), … (61 sources,
/// 0 bytes read, 61 from cache, …)`).
fn cycle_fields(stdout: &[u8]) -> Vec<(String, u64)> {
    let text = String::from_utf8_lossy(stdout);
    let line = (text.lines())
        .find_map(|l| l.trim().strip_prefix("scan:"))
        .unwrap_or_else(|| panic!("no scan line: {text}"));
    line.split([',', '(', ')', ':'])
        .filter_map(|part| {
            let (n, name) = part.trim().split_once(' ')?;
            Some((name.to_string(), n.parse().ok()?))
        })
        .collect()
}

fn field(fields: &[(String, u64)], name: &str) -> u64 {
    (fields.iter())
        .find(|(k, _)| k == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no {name} in {fields:?}"))
}

fn assert_bounded(what: &str, stderr: &[u8]) {
    match peak_rss_kib(stderr) {
        Some(kib) => {
            eprintln!("issue 15, {ENTRIES} entries in one directory: {what}: peak RSS {kib} KiB");
            assert!(kib < MAX_PEAK_RSS_KIB, "{what}: peak RSS {kib} KiB");
        }
        None => eprintln!("issue 15: {what}: peak RSS not measured (no GNU time)"),
    }
}

#[test]
fn issue_15_a_million_entries_in_one_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let flat = tmp.path().join("flat");
    fs::create_dir(&flat).unwrap();
    fill(&flat);

    let out = credhygiene_timed()
        .args(["scan", "--format", "json"])
        .arg(&flat)
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["stats"]["files"], ENTRIES as u64, "{}", doc["stats"]);
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["key_id"], KEY_ID);
    assert_bounded("scan", &out.stderr);

    let state = tmp.path().join("state");
    let cfg = tmp.path().join("agent.toml");
    fs::write(&cfg, crate::common::offline_config(&state, &flat, "", "")).unwrap();
    let cycle = |what: &str| {
        let out = credhygiene_timed()
            .args(["--config", cfg.to_str().unwrap(), "run", "--once"])
            .output()
            .unwrap();
        assert_exit(&out, 0);
        assert_bounded(what, &out.stderr);
        cycle_fields(&out.stdout)
    };
    let first = cycle("first cycle");
    assert_eq!(field(&first, "sources"), ENTRIES as u64, "{first:?}");
    assert_eq!(field(&first, "finding"), 1, "{first:?}");
    assert_eq!(field(&first, "new"), 1, "{first:?}");
    let restart = cycle("restart");
    assert_eq!(field(&restart, "sources"), ENTRIES as u64, "{restart:?}");
    assert_eq!(field(&restart, "from cache"), ENTRIES as u64, "{restart:?}");
    assert_eq!(field(&restart, "bytes read"), 0, "{restart:?}");
    assert_eq!(field(&restart, "finding"), 1, "{restart:?}");
    assert_eq!(field(&restart, "new"), 0, "{restart:?}");
}
