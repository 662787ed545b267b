//! The matcher over arbitrary bytes, with every built-in rule: no panic, matches in order (the
//! reader counts lines incrementally over them), each in range, and no value shown whole by
//! its `Debug`.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let m = common::matcher();
    let mut out = Vec::new();
    m.find(data, &mut out);
    let rules = m.rules().rules.len();
    for (i, r) in out.iter().enumerate() {
        assert!(r.rule < rules, "rule index in range");
        assert!(r.start < data.len(), "match start in the haystack");
        assert!(!r.value.expose().is_empty(), "a match has a value");
        if i > 0 {
            assert!(out[i - 1].start <= r.start, "matches come in order");
        }
        let value = String::from_utf8_lossy(r.value.expose());
        common::assert_not_shown(&format!("{r:?}"), &value, &[]);
    }
});
