//! The decompressors (gzip, zstd, xz, nested, UTF-16 inside): any file content, read as the
//! worker reads a file (sniffed in its first chunk, then through the decoders) under small
//! caps, must not panic or hang, must stop at the caps, and must read a file that announces no
//! compression exactly as the plain chunked reader does. A gzip file held whole by the first
//! read, decoded in one call (libdeflate), must read exactly as through the streaming decoder.
//!
//! Layout of an input: 1 byte picking the caps, then the file's bytes. Seeds worth giving it:
//! small gzip, zstd and xz files, truncated and concatenated ones (`gzip -c`, `zstd -c`,
//! `xz -c` of a line with a key id).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::scan::{read_chunked, read_decoded, DecompressLimits, CHUNK};

fuzz_target!(|data: &[u8]| {
    let [caps, file @ ..] = data else {
        return;
    };
    let limits = DecompressLimits {
        // 64 KiB .. 8 MiB decoded, ratio 0 (none) .. 63.
        max_size: 64 << (10 + caps % 8),
        max_ratio: u64::from(caps >> 2),
    };
    let m = common::matcher();
    let got = read_decoded(m, file, limits, true);
    if file.starts_with(&[0x1f, 0x8b]) {
        let streamed = read_decoded(m, file, limits, false);
        assert_eq!(got, streamed, "decoded whole and streamed");
    }
    let utf16 = matches!(file.get(..2), Some([0xFF, 0xFE] | [0xFE, 0xFF]));
    if got.encoding.is_empty() && got.stop.is_none() && !utf16 {
        let plain = read_chunked(m, file, CHUNK);
        assert_eq!(got.matches, plain, "no compression: read as plain bytes");
    }
    for r in &got.matches {
        assert!(r.line >= 1 && r.column >= 1);
        // Each layer decodes at most max_size bytes: lines cannot lie beyond them.
        let bound = limits.max_size.max(file.len() as u64) + 1;
        assert!(r.line <= bound, "line {} past the cap", r.line);
    }
    if let Some(reason) = &got.stop {
        assert!(
            reason.contains("bomb") || reason.contains("truncated or corrupt"),
            "{reason}"
        );
    }
});
