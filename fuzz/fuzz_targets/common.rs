//! Shared by the fuzz targets (each includes it with `#[path]`, as do the property tests that
//! replay their findings): the built-in matcher, the secret-in-output invariant, a scratch
//! directory per process and the `chunked` target's input layout.
#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;

use credhygiene::scan::matcher::Matcher;
use credhygiene::scan::OVERLAP;

/// The matcher with every built-in rule, compiled once per process.
pub fn matcher() -> &'static Matcher {
    static M: OnceLock<Matcher> = OnceLock::new();
    M.get_or_init(|| Matcher::builtin().expect("the built-in rules compile"))
}

/// A scratch directory for targets that read files, created once per process (libFuzzer runs
/// inputs one after the other in one thread).
pub fn scratch() -> &'static Path {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

/// Panics when `shown` (a `Display` or `Debug`) holds `secret` while none of the values that
/// may be shown does: a secret must never be printed, but a non-secret field that happens to
/// hold the same text may. Short values are skipped: they occur by chance.
pub fn assert_not_shown(shown: &str, secret: &str, may_show: &[&str]) {
    if secret.len() < 12 || !shown.contains(secret) {
        return;
    }
    if may_show.iter().any(|v| v.contains(secret)) {
        return;
    }
    panic!("a secret value is shown: {secret:?} in {shown:?}");
}

/// A secret access key and a session token planted in the inputs of the targets that read AWS
/// answers and state files (the answers sign with them; the seeds echo them in structured
/// positions): neither may come out in what is shown or logged.
pub const SECRET: &str = "V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw";
pub const TOKEN: &str = "IQoJb3JpZ2luX2VjEFuzzPlantedSessionToken0123456789";

/// The key the answer targets' calls are signed with.
pub fn signing_key() -> credhygiene::report::aws::sign::SigningKey<'static> {
    credhygiene::report::aws::sign::SigningKey {
        access_key_id: "ASIASXQV3SVWMFRRRM75",
        secret_access_key: SECRET,
        session_token: Some(TOKEN),
    }
}

/// Panics when `shown` holds the planted secret or token while the input did not hand it
/// over in a value that may be shown (`may_show`).
pub fn assert_no_planted(shown: &str, may_show: &[&str]) {
    assert_not_shown(shown, SECRET, may_show);
    assert_not_shown(shown, TOKEN, may_show);
}

/// Every log line of this process since the last call (message and key-values), captured by
/// a logger installed at the first call, at every level: what the agent would write to
/// journald.
pub fn take_logs() -> String {
    struct Capture;
    static LINES: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            struct Kv<'a>(&'a mut String);
            impl<'k> log::kv::VisitSource<'k> for Kv<'_> {
                fn visit_pair(
                    &mut self,
                    k: log::kv::Key<'k>,
                    v: log::kv::Value<'k>,
                ) -> Result<(), log::kv::Error> {
                    use std::fmt::Write as _;
                    let _ = write!(self.0, " {k}={v}");
                    Ok(())
                }
            }
            let mut lines = LINES.lock().unwrap_or_else(|e| e.into_inner());
            let mut line = record.args().to_string();
            let _ = record.key_values().visit(&mut Kv(&mut line));
            lines.push_str(&line);
            lines.push('\n');
        }
        fn flush(&self) {}
    }
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = log::set_logger(&Capture);
        log::set_max_level(log::LevelFilter::Trace);
    });
    std::mem::take(&mut *LINES.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The layout of the AWS answer targets' input: header lines (`name: value`), an empty line,
/// the body; without an empty line, all body.
pub fn headers_and_body(data: &[u8]) -> (reqwest::header::HeaderMap, &[u8]) {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (&b""[..], data),
    };
    let mut headers = HeaderMap::new();
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    (headers, body)
}

/// The fewest new bytes a window of the `chunked` target reports.
pub const MIN_REPORTED: usize = 1024;

/// The `chunked` target's haystack and chunk size from one input: 2 bytes chunk size (over the
/// overlap), 2 bytes border offset into the content, 1 filler byte, 1 repeat count, then the
/// content, placed so that the first border falls that far into it. `None` for a shorter
/// input.
///
/// After the first, each window of the reader reports `chunk - OVERLAP` new bytes and scans
/// `chunk + OVERLAP`: the chunk is at least [`MIN_REPORTED`] over the overlap, or a chunk one
/// byte over it would make the target quadratic by itself (one window per byte: the timeout
/// fuzz/artifacts/chunked/timeout-3be6…). Production reads chunks of 1 MiB.
pub fn chunked_input(data: &[u8]) -> Option<(usize, Vec<u8>)> {
    let [c0, c1, p0, p1, fill, reps, content @ ..] = data else {
        return None;
    };
    let chunk = OVERLAP + MIN_REPORTED + usize::from(u16::from_le_bytes([*c0, *c1]) % 8192);
    // At most the chunk: content longer than the chunk starts at the haystack's start
    // (fuzz/artifacts/chunked/crash-8eaf…: `chunk - into` overflowed).
    let into = usize::from(u16::from_le_bytes([*p0, *p1])) % (content.len().min(chunk) + 1);
    let mut hay = vec![*fill; chunk - into];
    for _ in 0..=(reps % 3) {
        hay.extend_from_slice(content);
    }
    hay.resize(hay.len() + OVERLAP + 1, *fill);
    Some((chunk, hay))
}
