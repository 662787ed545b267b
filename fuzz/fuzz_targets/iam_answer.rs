//! IAM's `GetAccessKeyLastUsed` and `ListAccessKeys` answers (Query protocol, XML), as the
//! owner enrichment reads them: never a panic, linear time; the fields read come only from the
//! result element (a value planted in `ResponseMetadata` never comes out), and the planted
//! key's own `member` decides its status whatever members come before it.
//!
//! The input is the inside of the result element (and, alone, a whole answer).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::owner::KeyStatus;
use credhygiene::report::enrich::{key_status, last_used};

const NS: &str = r#"xmlns="https://iam.amazonaws.com/doc/2010-05-08/""#;
const KEY_ID: &str = "AKIAFUZZPLANTEDKEY01";

fuzz_target!(|data: &[u8]| {
    let inner = String::from_utf8_lossy(data);
    let _ = (last_used(&inner), key_status(&inner, KEY_ID));

    let answer = format!(
        "<GetAccessKeyLastUsedResponse {NS}><GetAccessKeyLastUsedResult>{inner}\
         </GetAccessKeyLastUsedResult><ResponseMetadata><RequestId>{}</RequestId>\
         </ResponseMetadata></GetAccessKeyLastUsedResponse>",
        common::SECRET
    );
    let used = last_used(&answer).expect("a result element is read");
    common::assert_no_planted(&format!("{used:?}"), &[&inner]);

    let list = format!(
        "<ListAccessKeysResponse {NS}><ListAccessKeysResult><AccessKeyMetadata>{inner}\
         <member><UserName>ci</UserName><AccessKeyId>{KEY_ID}</AccessKeyId><Status>Active</Status>\
         </member></AccessKeyMetadata></ListAccessKeysResult></ListAccessKeysResponse>"
    );
    if !inner.contains(KEY_ID) {
        assert_eq!(key_status(&list, KEY_ID), Some(KeyStatus::Active), "{list}");
    }
});
