//! Shared helpers: the binary under test, planted test keys, leak checks, exit codes and
//! signals.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// Test keys in the shape of real ones (not AWS documentation examples, which are ignored).
pub const KEY_ID: &str = "AKIASXQV3SVWMFRRRM75";
/// A secret access key paired with [`KEY_ID`] in fixtures.
pub const SECRET: &str = "V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw";
/// A second secret.
pub const SECRET2: &str = "LKKc6yGDJdpnM8tj63i4addZaJoetE7/8apHQxhU";
/// A session token.
pub const TOKEN: &str = "IQoJb3JpZ2luX2VjEI7zRFiSgdGWxwvwaD+UpltquS/h7D7a+1FkmCWxkSEOCGe+5vpPL0Lx3kgSgiD0Sb71epJW5i1rpVgHRemLji1m10fj29eO+NM1BNvD5MUODeiSryJa1z2Dy7qPiN+0rJmVaq1jBi2aHD1ChMxcchdmlrp3eVcDKBJSRon9PY";

/// A configuration that reaches nothing outside the test: no splay, the state in `state`,
/// only `root` scanned (no env files, processes or user-data), IMDS and CloudWatch off.
/// `agent` adds lines to `[agent]` (e.g. `interval = "2s"`), `more` goes at the end.
pub fn offline_config(state: &Path, root: &Path, agent: &str, more: &str) -> String {
    format!(
        "[agent]\n{agent}splay = \"0s\"\nfirst_contact_splay = \"0s\"\nstate_dir = \"{}\"\n\n\
         [imds]\ndisabled = true\n\n\
         [scan]\npaths = [\"{}\"]\nenv_files = []\nprocesses = false\nuser_data = false\n\n\
         [cloudwatch]\nenabled = false\n{more}",
        state.display(),
        root.display()
    )
}

/// The `credhygiene` binary with a clean environment (no config file, no IMDS).
pub fn credhygiene() -> Command {
    let mut cmd = Command::cargo_bin("credhygiene").unwrap();
    cmd.env_remove("CREDHYGIENE_CONFIG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    cmd
}

/// GNU time (scripts/setup-test-deps installs it), when present.
pub const GNU_TIME: &str = "/usr/bin/time";

/// [`credhygiene`] under GNU time's `-v` when it is installed (the peak RSS is then on stderr:
/// [`peak_rss_kib`]), else [`credhygiene`] itself.
pub fn credhygiene_timed() -> Command {
    if !std::path::Path::new(GNU_TIME).exists() {
        return credhygiene();
    }
    let mut t = Command::new(GNU_TIME);
    t.arg("-v")
        .arg(assert_cmd::cargo::cargo_bin("credhygiene"))
        .env_remove("CREDHYGIENE_CONFIG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    t
}

/// The peak RSS in KiB of a run of [`credhygiene_timed`], from GNU time's report on stderr.
pub fn peak_rss_kib(stderr: &[u8]) -> Option<u64> {
    String::from_utf8_lossy(stderr)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
}

/// Panics if `haystack` holds any secret in full.
pub fn assert_no_secret(haystack: &[u8], secrets: &[&str]) {
    let text = String::from_utf8_lossy(haystack);
    for s in secrets {
        assert!(!text.contains(s), "a full secret leaked: {}…", &s[..4]);
        // also the JSON-escaped form
        let escaped = s.replace('/', "\\/");
        assert!(!text.contains(&escaped), "a full secret leaked (escaped)");
    }
}

/// Panics unless `out` exited with `code`, showing its stderr.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends `sig` (a name such as `TERM` or `HUP`) to process `pid` with kill(1), and panics if
/// kill fails.
pub fn send_signal(pid: u32, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -{sig} {pid} failed");
}
