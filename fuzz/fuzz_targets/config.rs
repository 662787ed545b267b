//! The configuration file (TOML, errors with file, line and column): parsed, validated, and
//! what `config check` prints of an accepted file is accepted again, unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use std::path::Path;

use credhygiene::config::parse_str;

fuzz_target!(|data: &[u8]| {
    // Production reads the file with read_to_string: only UTF-8 reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/etc/credhygiene/credhygiene.toml");
    match parse_str(text, path) {
        Ok(config) => {
            let shown = config.to_toml();
            let again = parse_str(&shown, path)
                .unwrap_or_else(|e| panic!("config check prints what it rejects: {e}\n{shown}"));
            assert_eq!(again.to_toml(), shown, "config check is stable");
        }
        Err(e) => {
            let _ = (e.to_string(), format!("{e:?}"));
        }
    }
});
