//! `/proc/PID/environ` and `/proc/PID/cgroup` as the agent reads them: a fake process under
//! a scratch proc root, read by the production walker, whose haystack holds the environment
//! (NULs turned into newlines) and never shows it in its `Debug`.
//!
//! Layout of an input: the cgroup file, the separator `\0\0\0`, the environ file.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::scan::procfs::{environments, unit_from_cgroup};
use credhygiene::scan::read_chunked;

const SEPARATOR: &[u8] = b"\0\0\0";

fuzz_target!(|data: &[u8]| {
    let (cgroup, environ) = match memchr_find(data, SEPARATOR) {
        Some(i) => (&data[..i], &data[i + SEPARATOR.len()..]),
        None => (&b"0::/system.slice/app.service\n"[..], data),
    };
    let cgroup_text = String::from_utf8_lossy(cgroup);
    if let Some(unit) = unit_from_cgroup(&cgroup_text) {
        assert!(unit.ends_with(".service") || unit.ends_with(".scope"));
        assert!(!unit.contains(['/', '\n']), "one path component: {unit:?}");
    }

    let root = common::scratch().join("proc");
    let pid = if std::process::id() == 4242 {
        4243
    } else {
        4242
    };
    let dir = root.join(pid.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("environ"), environ).unwrap();
    std::fs::write(dir.join("cgroup"), cgroup).unwrap();
    let (haystacks, unreadable) = environments(&root, 1 << 20);
    assert_eq!(unreadable, 0);
    if environ.is_empty() {
        assert!(
            haystacks.is_empty(),
            "an empty environment is a kernel thread"
        );
        return;
    }
    let [h] = &haystacks[..] else {
        panic!("one process, one haystack: {haystacks:?}");
    };
    let expected: Vec<u8> = environ
        .iter()
        .map(|&b| if b == 0 { b'\n' } else { b })
        .collect();
    assert_eq!(h.bytes, expected);
    let process = h
        .process
        .as_ref()
        .expect("a process haystack names its process");
    let unit = std::str::from_utf8(cgroup).ok().and_then(unit_from_cgroup);
    assert_eq!(process.unit, unit);
    // The same haystack with other bytes of the same length shows the same: nothing of the
    // environment is shown.
    let mut blank = h.clone();
    blank.bytes.fill(b'x');
    assert_eq!(
        format!("{h:?}"),
        format!("{blank:?}"),
        "the environment is not shown"
    );
    let _ = read_chunked(common::matcher(), &h.bytes, usize::MAX / 2);
});

fn memchr_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
