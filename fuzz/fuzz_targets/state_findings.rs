//! `findings.json` as read back after a crash or by an attacker's hand: rejected with an error
//! or loaded; a loaded state saved and loaded again is the same state.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::state::{FindingState, FINDINGS_FILE};

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch().join("findings");
    let again = common::scratch().join("findings-again");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&again).unwrap();
    std::fs::write(dir.join(FINDINGS_FILE), data).unwrap();
    match FindingState::load(&dir) {
        Ok(state) => {
            state.save(&again).expect("the state saves");
            let reloaded = FindingState::load(&again).expect("a saved state loads");
            assert_eq!(reloaded, state, "save and load keep the state");
            assert_eq!(reloaded.generation(), state.generation());
        }
        Err(e) => {
            let _ = (e.to_string(), format!("{e:?}"));
        }
    }
});
