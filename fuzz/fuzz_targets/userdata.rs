//! User-data as IMDS answers it (gzip, MIME multipart, base64 parts, nested): decoded within
//! its bound (bounded memory however it is compressed), then scanned as production scans it.
//! User-data that is neither gzip nor a multipart (no `boundary=`) comes back unchanged.
//!
//! Layout of an input: 2 bytes for the limit (in 64-byte units), then the raw user-data.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::imds::userdata::decode;
use credhygiene::scan::read_chunked;

fuzz_target!(|data: &[u8]| {
    let [l0, l1, raw @ ..] = data else {
        return;
    };
    let limit = u64::from(u16::from_le_bytes([*l0, *l1])) * 64;
    match decode(raw.to_vec(), limit) {
        Ok(out) => {
            assert!(
                out.len() as u64 <= limit,
                "{} bytes over the limit {limit}",
                out.len()
            );
            let multipart = raw.windows(9).any(|w| w.eq_ignore_ascii_case(b"boundary="));
            if !raw.starts_with(&[0x1f, 0x8b]) && !multipart {
                assert_eq!(out, raw, "plain user-data is scanned as it is");
            }
            let _ = read_chunked(common::matcher(), &out, usize::MAX / 2);
        }
        Err(e) => {
            let _ = (e.to_string(), format!("{e:?}"));
        }
    }
});
