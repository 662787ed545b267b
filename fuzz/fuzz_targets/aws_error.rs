//! AWS answers: the error bodies of CloudWatch, CloudWatch Logs and EC2 in their JSON and XML
//! shapes with their error-type headers, and EC2's `DescribeInstances` XML.
//!
//! Layout of an input: header lines (`name: value`), an empty line, the body.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::report::aws::{parse_error, xml_element};
use credhygiene::report::ec2::http_tokens;

fuzz_target!(|data: &[u8]| {
    let (headers, body) = common::headers_and_body(data);
    let (code, _message) = parse_error(&headers, body);
    // Lossy UTF-8 turns one invalid byte into three: count characters.
    assert!(
        code.chars().count() <= data.len(),
        "the code comes from the answer"
    );
    let text = String::from_utf8_lossy(body);
    for name in ["Code", "Message", "metadataOptions"] {
        if let Some(v) = xml_element(&text, name) {
            assert_eq!(v, v.trim(), "trimmed");
        }
    }
    let _ = http_tokens(&text);
});
