//! CloudTrail-like logs for the tests of issue 15 (many lone key ids in one place), shared by
//! `tests/cli/aggregate.rs` and `tests/scan_memory.rs`: fresh key ids at every run, made from
//! a seeded splitmix64, so no real key is ever written down.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// splitmix64, seeded from the clock and the pid: fresh keys every run, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(nanos ^ (u64::from(std::process::id()) << 32))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn string(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char)
            .collect()
    }

    /// A valid-looking key id: the prefix and 16 base32 characters, varied enough to pass the
    /// rule's `not_repetitive` filter.
    pub fn key_id(&mut self, prefix: &str) -> String {
        loop {
            let body = self.string(B32, 16);
            let mut distinct: Vec<char> = body.chars().collect();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() > 8 {
                return format!("{prefix}{body}");
            }
        }
    }

    /// A 40-character secret with upper, lower and digits (the rule's `char_classes`).
    pub fn secret(&mut self) -> String {
        loop {
            let s = self.string(B64, 40);
            let has = |f: fn(&char) -> bool| s.chars().any(|c| f(&c));
            if has(char::is_ascii_uppercase)
                && has(char::is_ascii_lowercase)
                && has(char::is_ascii_digit)
            {
                return s;
            }
        }
    }
}

/// A real credential: an `AKIA` id and its secret, made at run time.
pub struct Credential {
    /// The access key id.
    pub key_id: String,
    /// The secret access key.
    pub secret: String,
}

/// Writes a CloudTrail-like `{"Records":[…]}` file of `records` records, one per line, each
/// with a fresh `ASIA` id in `accessKeyId`; with `planted`, a record whose request parameters
/// hold that credential on two adjacent lines sits in the middle.
pub fn cloudtrail(path: &Path, rng: &mut Rng, records: usize, planted: Option<&Credential>) {
    let mut w = BufWriter::new(fs::File::create(path).unwrap());
    writeln!(w, "{{\"Records\":[").unwrap();
    for i in 0..records {
        if i == records / 2 {
            if let Some(c) = planted {
                writeln!(
                    w,
                    "{{\"eventName\":\"PutParameter\",\"requestParameters\":{{\n\"aws_access_key_id\":\"{}\",\n\"aws_secret_access_key\":\"{}\"}}}},",
                    c.key_id, c.secret
                )
                .unwrap();
            }
        }
        let comma = if i + 1 < records { "," } else { "" };
        writeln!(
            w,
            "{{\"eventVersion\":\"1.08\",\"userIdentity\":{{\"type\":\"AssumedRole\",\"accountId\":\"123456789012\",\"accessKeyId\":\"{}\"}},\"eventTime\":\"2026-11-25T10:{:02}:{:02}Z\",\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"GetObject\",\"awsRegion\":\"us-east-1\",\"eventID\":\"{:08x}\"}}{comma}",
            rng.key_id("ASIA"),
            i / 60 % 60,
            i % 60,
            i
        )
        .unwrap();
    }
    writeln!(w, "]}}").unwrap();
    w.flush().unwrap();
}

/// `cloudtrail.json` in `dir`: `records` records with a real credential, made now, planted in
/// the middle.
pub fn planted_log(dir: &Path, records: usize) -> (PathBuf, Credential) {
    let mut rng = Rng::new();
    let cred = Credential {
        key_id: rng.key_id("AKIA"),
        secret: rng.secret(),
    };
    let log = dir.join("cloudtrail.json");
    cloudtrail(&log, &mut rng, records, Some(&cred));
    (log, cred)
}
