//! `delivered.json` as read back after a crash or by an attacker's hand: a torn or foreign file
//! is treated as no keys; what is loaded is what is recorded again.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::state::{DeliveredKeys, DELIVERED_FILE};

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch().join("delivered");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(DELIVERED_FILE), data).unwrap();
    let keys = DeliveredKeys::load(&dir);
    if keys.generation().is_none() {
        assert!(keys.is_empty(), "keys belong to a generation");
    }
    let _ = (keys.len(), format!("{keys:?}"));
});
