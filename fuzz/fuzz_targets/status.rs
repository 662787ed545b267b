//! `state_dir/status.json` (the last cycle's record) as `credhygiene status` reads it: a
//! corrupt or foreign record is an error naming the file, never a panic; a record it reads is
//! shown (text and JSON) and saved again unchanged; nothing shown or in the error holds a
//! planted credential the record does not itself hold as a shown value.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use std::time::{Duration, UNIX_EPOCH};

use credhygiene::config::AgentConfig;
use credhygiene::state::{CycleRecord, STATUS_FILE};
use credhygiene::status::Status;

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch().join("status");
    let again = common::scratch().join("status-again");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&again).unwrap();
    std::fs::write(dir.join(STATUS_FILE), data).unwrap();
    let agent = AgentConfig {
        state_dir: dir.clone(),
        ..AgentConfig::default()
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let status = match Status::read(&agent, now) {
        Ok(s) => s,
        Err(e) => {
            common::assert_no_planted(&format!("{e} {e:?}"), &[]);
            return;
        }
    };
    let record = CycleRecord::load(&dir)
        .expect("read once")
        .expect("a record");
    let values = format!("{record:?}");
    let shown = format!(
        "{} {} {:?}",
        status.to_text(),
        status.to_json(),
        status.exit_code()
    );
    common::assert_no_planted(&shown, &[&values]);
    record.save(&again).expect("the record saves");
    let reloaded = CycleRecord::load(&again)
        .expect("a saved record loads")
        .expect("a record");
    reloaded.save(&again).expect("saves again");
    let twice = CycleRecord::load(&again)
        .expect("loads again")
        .expect("a record");
    assert_eq!(twice, reloaded, "save and load keep the record");
});
