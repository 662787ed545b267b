//! The decoders (issue 13) over arbitrary bytes, differentially: the input as plain text, then
//! wrapped in base64 and in JSON escapes. What the matcher finds in the plain text (outside
//! any decoding) it must also find in each wrapped form, since decoding gives the plain text
//! back; and no input may panic, report a match outside the haystack or out of order, or nest
//! deeper than two decodings.
#![no_main]
use libfuzzer_sys::fuzz_target;

use credhygiene::scan::matcher::RawMatch;

#[path = "common.rs"]
mod common;

/// The keywords whose base64 forms announce a blob (src/rules/builtin.toml, decoder base64).
const BASE64_KEYWORDS: [&[u8]; 2] = [b"AKIA", b"ASIA"];

/// Standard base64, padded (the target keeps its own 10 lines rather than a dependency).
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            s.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    s
}

fn find(hay: &[u8]) -> Vec<RawMatch> {
    let mut out = Vec::new();
    common::matcher().find(hay, &mut out);
    for (i, r) in out.iter().enumerate() {
        assert!(r.start < hay.len(), "match start in the haystack");
        // Two decodings at most; a pass of escapes names each kind it decoded (4 at most).
        assert!(
            r.encoding.len() <= 8,
            "at most two decodings: {:?}",
            r.encoding
        );
        if i > 0 {
            assert!(out[i - 1].start <= r.start, "matches come in order");
        }
    }
    out
}

/// Every value found in `plain` outside any decoding is found in `wrapped`.
fn agree(plain: &[RawMatch], wrapped: &[u8], how: &str) {
    let found = find(wrapped);
    for p in plain.iter().filter(|p| p.encoding.is_empty()) {
        assert!(
            found.iter().any(|w| w.value == p.value && w.rule == p.rule),
            "{how}: {:?} found in plain text, not in {wrapped:?}",
            p.value
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let plain = find(data);
    let has = |k: &[u8]| data.windows(k.len()).any(|w| w == k);
    // A blob is decoded when a keyword announces it and it is short enough (16 KiB encoded).
    if data.len() <= 12 * 1024 && BASE64_KEYWORDS.iter().any(|k| has(k)) {
        agree(
            &plain,
            format!("blob: {}\n", base64(data)).as_bytes(),
            "base64",
        );
    }
    // A line of escapes is decoded when an escaped `A` (`\u0041`) announces it and it fits the reach
    // (8 KiB either side); bytes over 0x7F stay raw (`\u00XX` would decode them to UTF-8).
    // A quote in the text is left out: the wrapper's own quotes change what quoted pieces mean
    // (`AKIA…""X` is a key id and an empty literal, `v="AKIA…""X"` two adjacent literals that
    // join to no key id: crash-57f3…, a property of the check, not of the decoder).
    let quoted = data.iter().any(|b| matches!(b, b'"' | b'\'' | b'`'));
    if data.len() <= 1300 && data.contains(&b'A') && !quoted {
        let mut escaped = b"v=\"".to_vec();
        for &b in data {
            if b < 0x80 {
                escaped.extend_from_slice(format!("\\u{b:04x}").as_bytes());
            } else {
                escaped.push(b);
            }
        }
        escaped.extend_from_slice(b"\"\n");
        agree(&plain, &escaped, "json-escape");
    }
});
