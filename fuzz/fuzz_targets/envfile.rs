//! Env files in every syntax (systemd `Environment=`/`EnvironmentFile=`, `/etc/environment`,
//! `.env`, docker-compose, `~/.aws` INI): which names are env files, the `EnvironmentFile=`
//! paths of a unit, and the scan of the file's bytes as production reads an env file.
//!
//! Layout of an input: a file name, a NUL, the file's content.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use std::path::Path;

use credhygiene::scan::envfiles::{is_env_file_name, unit_environment_files};
use credhygiene::scan::read_chunked;

fuzz_target!(|data: &[u8]| {
    let (name, content) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"/srv/app/.env"[..], data),
    };
    let _ = is_env_file_name(Path::new(&*String::from_utf8_lossy(name)));
    for p in unit_environment_files(content) {
        assert!(
            p.is_absolute(),
            "an EnvironmentFile= path is absolute: {p:?}"
        );
        assert!(
            !p.to_string_lossy().contains('%'),
            "no unresolved specifier: {p:?}"
        );
    }
    let found = read_chunked(common::matcher(), content, usize::MAX / 2);
    for f in &found {
        let value = String::from_utf8_lossy(f.value.expose());
        common::assert_not_shown(&format!("{f:?}"), &value, &[]);
    }
});
