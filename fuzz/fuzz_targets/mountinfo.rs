//! `/proc/self/mountinfo` as the agent reads it: the file system type of the mount holding a
//! tree (octal escapes in mount points) and the hash of the lines that matter to the trees.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use std::path::{Path, PathBuf};

use credhygiene::agent::{fs_type_of, relevant_hash};

fuzz_target!(|data: &[u8]| {
    // Production reads the table with read_to_string: only UTF-8 reaches the parser.
    let Ok(table) = std::str::from_utf8(data) else {
        return;
    };
    let trees = [
        "/",
        "/srv/app",
        "/home/user with space",
        "/mnt/nfs\040share",
    ];
    for t in trees {
        if let Some(fs) = fs_type_of(table, Path::new(t)) {
            assert!(!fs.contains([' ', '\n']), "one field: {fs:?}");
        }
    }
    let roots: Vec<PathBuf> = trees.iter().map(PathBuf::from).collect();
    let h = relevant_hash(table, &roots);
    assert_eq!(h, relevant_hash(table, &roots), "the hash is deterministic");
});
