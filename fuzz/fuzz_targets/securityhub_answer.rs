//! Security Hub's `BatchImportFindings` answer (HTTP 200, `FailedFindings`), as the sink reads
//! it to settle each finding of a batch: never a panic; the codes and messages it keeps (the
//! sink logs them) hold no credential of the call, even when the answer echoes one, and are
//! of bounded length.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::report::securityhub::failed_findings;

/// What `scrub` keeps of a server message, in characters, and its ellipsis.
const MAX_SHOWN: usize = 301;

fuzz_target!(|data: &[u8]| {
    let failed = failed_findings(data, &common::signing_key());
    for (id, f) in &failed {
        assert_eq!(id, &f.id, "keyed by the finding's Id");
        // The Id is only matched against the batch's own Ids, never shown.
        let shown = format!(
            "{} {} {:?} {:?}",
            f.error_code, f.error_message, f.error_code, f.error_message
        );
        common::assert_no_planted(&shown, &[]);
        assert!(f.error_code.chars().count() <= MAX_SHOWN, "a bounded code");
        assert!(
            f.error_message.chars().count() <= MAX_SHOWN,
            "a bounded message"
        );
        assert!(!f.error_message.contains('\n'), "one line");
    }
});
