//! The chunked reader, differential: arbitrary content, placed across a chunk border at an
//! arbitrary offset and chunk size, gives exactly the findings (rule, line, column, allow mark,
//! value) of one whole read, and the whole read gives those of the matcher.
//!
//! Layout of an input: 2 bytes chunk size (over the overlap), 2 bytes border offset into the
//! content, 1 filler byte, 1 repeat count, then the content.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::scan::{read_chunked, OVERLAP};

fuzz_target!(|data: &[u8]| {
    let [c0, c1, p0, p1, fill, reps, content @ ..] = data else {
        return;
    };
    let chunk = OVERLAP + 1 + usize::from(u16::from_le_bytes([*c0, *c1]) % 8192);
    let into = usize::from(u16::from_le_bytes([*p0, *p1])) % (content.len() + 1);
    let mut hay = vec![*fill; chunk - into];
    for _ in 0..=(reps % 3) {
        hay.extend_from_slice(content);
    }
    hay.resize(hay.len() + OVERLAP + 1, *fill);

    let m = common::matcher();
    let whole = read_chunked(m, &hay, hay.len() + 1);
    let chunked = read_chunked(m, &hay, chunk);
    assert_eq!(
        chunked, whole,
        "chunk {chunk}: the findings differ from one whole read"
    );

    let mut raw = Vec::new();
    m.find(&hay, &mut raw);
    let raw: Vec<_> = raw.iter().map(|r| (r.rule, &r.value)).collect();
    let read: Vec<_> = whole.iter().map(|r| (r.rule, &r.value)).collect();
    assert_eq!(read, raw, "one whole read reports what the matcher finds");
});
