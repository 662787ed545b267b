//! `state_dir/securityhub.json` as read back after a crash or by an attacker's hand: the sink
//! opens with it (a torn, foreign or inconsistent file is set aside as `.corrupt` and the sink
//! starts empty, never an error, never a panic); a state it trusts, saved and opened again, is
//! the same state; what it logs holds no planted credential.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::report::securityhub::{OpenedStore, STORE_FILE};

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch().join("securityhub");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(STORE_FILE), data).unwrap();
    common::take_logs();
    let store = OpenedStore::open(&dir).expect("a state file never stops the sink");
    let logs = common::take_logs();
    common::assert_no_planted(&logs, &[]);
    let set_aside = dir.join(format!("{STORE_FILE}.corrupt")).exists();
    if set_aside {
        assert_eq!(store.counts(), (0, 0), "an untrusted file is not used");
        return;
    }
    let shown = store.shown();
    store.save().expect("the state saves");
    drop(store);
    let again = OpenedStore::open(&dir).expect("a saved state opens");
    assert!(
        !dir.join(format!("{STORE_FILE}.corrupt")).exists(),
        "a saved state is trusted: {}",
        common::take_logs()
    );
    assert_eq!(again.shown(), shown, "save and open keep the state");
});
