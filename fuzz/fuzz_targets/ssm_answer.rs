//! Systems Manager's error answers to `PutComplianceItems` (awsJson1.1 bodies, the error-type
//! headers, moto's XML), through the shared call layer to the sink's verdict: never a panic;
//! what the sink logs and keeps (the error and the verdict) holds no credential of the call,
//! even when the answer echoes one, and is of bounded length.
//!
//! Layout of an input: 2 bytes HTTP status (300 to 599), then header lines (`name: value`),
//! an empty line, the body.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::report::ssm::{answer_verdict, DEBUG_ESCAPE, MAX_LOGGED_ANSWER};

/// The request whose answer it is (a denial names its `ResourceId`).
const REQUEST: &[u8] = br#"{"ResourceId":"i-0123456789abcdef0","ResourceType":"ManagedInstance","ComplianceType":"Custom:CredentialHygiene","ExecutionSummary":{"ExecutionTime":1700000000,"ExecutionType":"Command"},"Items":[],"UploadType":"COMPLETE"}"#;

fuzz_target!(|data: &[u8]| {
    let [s0, s1, rest @ ..] = data else {
        return;
    };
    let status = 300 + u16::from_le_bytes([*s0, *s1]) % 300;
    let (headers, body) = common::headers_and_body(rest);
    let (result, verdict) = answer_verdict(status, &headers, body, REQUEST, &common::signing_key());
    // What is logged: the verdict and the error's Display, bounded. Its Debug is checked for
    // credentials, and bounded only by the escapes it adds (a quote is two characters, a
    // format character up to ten: crash-8fc1…).
    let mut logged = verdict;
    let mut debug = String::new();
    if let Err(e) = &result {
        logged.push_str(&format!(" {e}"));
        debug = format!("{e:?}");
    }
    common::assert_no_planted(&logged, &[]);
    common::assert_no_planted(&debug, &[]);
    assert!(
        logged.chars().count() <= MAX_LOGGED_ANSWER,
        "bounded: {} chars",
        logged.chars().count()
    );
    assert!(
        debug.chars().count() <= DEBUG_ESCAPE * MAX_LOGGED_ANSWER,
        "Debug bounded"
    );
});
