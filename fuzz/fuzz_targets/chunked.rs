//! The chunked reader, differential: arbitrary content, placed across a chunk border at an
//! arbitrary offset and chunk size, gives exactly the findings (rule, line, column, allow mark,
//! value) of one whole read, and the whole read gives those of the matcher.
//!
//! Layout of an input: see `common::chunked_input`.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::scan::read_chunked;

fuzz_target!(|data: &[u8]| {
    let Some((chunk, hay)) = common::chunked_input(data) else {
        return;
    };
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
