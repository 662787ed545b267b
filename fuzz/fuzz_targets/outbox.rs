//! The CloudWatch outbox as read back after a crash (torn appends, cut files) or by an
//! attacker's hand: opened (a foreign file is set aside), and what it holds after the repair is
//! what it holds when opened again: no entry lost, none duplicated by the reload.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::report::cloudwatch::Item;
use credhygiene::state::{Outbox, OUTBOX_FILE};

const MAX_BYTES: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch().join("outbox");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(OUTBOX_FILE), data).unwrap();
    let first: Vec<(u64, String)> = match Outbox::<Item>::open(&dir, OUTBOX_FILE, MAX_BYTES) {
        Ok(o) => o
            .entries()
            .map(|e| (e.seq, serde_json::to_string(&e.item).unwrap()))
            .collect(),
        Err(e) => {
            let _ = (e.to_string(), format!("{e:?}"));
            return;
        }
    };
    let o = Outbox::<Item>::open(&dir, OUTBOX_FILE, MAX_BYTES).expect("a repaired outbox opens");
    let second: Vec<(u64, String)> = o
        .entries()
        .map(|e| (e.seq, serde_json::to_string(&e.item).unwrap()))
        .collect();
    assert_eq!(second, first, "a reload keeps every entry once");
});
