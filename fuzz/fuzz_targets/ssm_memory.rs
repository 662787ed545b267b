//! `state_dir/ssm-compliance.json` as read back after a crash or by an attacker's hand: a
//! torn or foreign file is forgotten (the sink starts without it, never a panic); what is
//! loaded is what is saved and loaded again; what is logged holds no planted credential.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::report::ssm::{Memory, MEMORY_FILE};

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch().join("ssm");
    let again = common::scratch().join("ssm-again");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&again).unwrap();
    std::fs::write(dir.join(MEMORY_FILE), data).unwrap();
    common::take_logs();
    let memory = Memory::load(&dir);
    common::assert_no_planted(&common::take_logs(), &[]);
    memory.save(&again).expect("the memory saves");
    assert_eq!(
        Memory::load(&again),
        memory,
        "save and load keep the memory"
    );
});
