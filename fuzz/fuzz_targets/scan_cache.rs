//! The scan cache as read back after a crash or by an attacker's hand (issue 15's format:
//! header, sorted 16-byte records, findings JSON). A cache that loads must save and load
//! again to the same bytes; one that does not is rejected (`None`), never a panic and never
//! more memory than its findings limit.
//!
//! Layout of an input: a first byte whose low bit chooses the mode. 0: the rest is the whole
//! file (magic, checksum and counts as the input has them: the shallow checks). 1: the next
//! two bytes are a record count `n` (little-endian), then `16 n` bytes of records and the
//! findings JSON; the target frames them with a valid header and checksum
//! (`credhygiene::scan::frame_cache`), so that the ordering, record and findings checks are
//! reached.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::scan::{frame_cache, ScanCache};

const VERSION: &str = "credhygiene-fuzz rules 1";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let n = rest
            .get(..2)
            .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
        let body = rest.get(2..).unwrap_or_default();
        let split = (n * 16).min(body.len() / 16 * 16);
        frame_cache(VERSION, u64::from(mode), &body[..split], &body[split..])
    };
    let path = common::scratch().join("scan-cache");
    let again = common::scratch().join("scan-cache-again");
    std::fs::write(&path, &file).unwrap();
    let Some(cache) = ScanCache::load(&path, VERSION) else {
        return;
    };
    cache.save(&again).expect("a loaded cache saves");
    let saved = std::fs::read(&again).unwrap();
    let reloaded = ScanCache::load(&again, VERSION).expect("a saved cache loads");
    assert_eq!(reloaded.len(), cache.len());
    assert_eq!(reloaded.full_scan_at, cache.full_scan_at);
    reloaded.save(&path).expect("a reloaded cache saves");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        saved,
        "save and load keep the cache"
    );
});
