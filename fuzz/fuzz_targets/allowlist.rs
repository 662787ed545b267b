//! The allowlist file (`scan.allowlist`: one fingerprint per line, `#` comments), read by
//! the scan options as production reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::config::ScanConfig;
use credhygiene::scan::Options;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch().join("allowlist");
    std::fs::write(&path, data).unwrap();
    let cfg = ScanConfig {
        allowlist: path,
        ..ScanConfig::default()
    };
    match Options::from_config(&cfg, Some(1)) {
        Ok(opts) => {
            for entry in &opts.allowlist {
                assert!(!entry.is_empty() && !entry.contains('#') && entry.trim() == entry);
            }
        }
        Err(e) => {
            let _ = (e.to_string(), format!("{e:?}"));
        }
    }
});
