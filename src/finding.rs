//! The pivot type: a [`Finding`] is what the scanner hands to every reporter. It holds a
//! fingerprint and a redacted prefix of a secret, never the secret itself, so no `Debug`,
//! log line or serialisation of a finding can leak a key.
//!
//! `Finding`'s serde derive is the internal on-disk form of the finding state
//! (`findings.json`) and the scan cache (`scan-cache.json`). The DESIGN.md finding JSON, a
//! contract, has its own type, [`crate::report::json`]'s `FindingJson`, built from the wire
//! names (`as_str`) of the enums here.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Which part of a credential was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An access key id (`AKIA…`, `ASIA…`): an identifier, shown in full.
    AccessKeyId,
    /// A secret access key: never shown beyond its first 4 characters.
    SecretAccessKey,
    /// A session token: never shown beyond its first 4 characters.
    SessionToken,
}

impl Kind {
    /// Whether values of this kind are secrets (redacted everywhere).
    pub fn is_secret(self) -> bool {
        !matches!(self, Kind::AccessKeyId)
    }

    /// The wire name (`access_key_id` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AccessKeyId => "access_key_id",
            Kind::SecretAccessKey => "secret_access_key",
            Kind::SessionToken => "session_token",
        }
    }
}

/// Where a finding was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A file met while walking the scanned paths.
    File,
    /// An env file: `/etc/environment`, systemd units, `.env`, `~/.aws/credentials` …
    EnvFile,
    /// The environment of a running process (`/proc/PID/environ`).
    Process,
    /// The instance's user-data.
    UserData,
}

impl Source {
    /// The wire name (`file`, `env_file` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::File => "file",
            Source::EnvFile => "env_file",
            Source::Process => "process",
            Source::UserData => "user_data",
        }
    }
}

/// What kind of access key an id belongs to, from its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyType {
    /// `AKIA`: an IAM user's long-term key.
    LongTerm,
    /// `ASIA`: temporary credentials from STS (they expire, but were copied somewhere).
    Temporary,
    /// `ABIA` (STS service bearer token), `ACCA` (context-specific credential).
    Other,
}

impl KeyType {
    /// The wire name (`long_term`, `temporary`, `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::LongTerm => "long_term",
            KeyType::Temporary => "temporary",
            KeyType::Other => "other",
        }
    }

    /// Classifies a 20-character access key id by its prefix.
    pub fn of(key_id: &str) -> KeyType {
        match key_id.get(..4) {
            Some("AKIA") => KeyType::LongTerm,
            Some("ASIA") => KeyType::Temporary,
            _ => KeyType::Other,
        }
    }
}

/// A decoding step between the bytes on disk and the text a key was found in, outermost
/// first in [`Finding::encoding`] (`["gzip", "gzip"]`: a gzip stream inside a gzip stream;
/// `["base64", "base64"]`: a base64 blob inside a base64 blob, such as a JWT in a Secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// A gzip stream (RFC 1952; concatenated members are one stream).
    Gzip,
    /// A Zstandard stream (RFC 8878; concatenated frames are one stream).
    Zstd,
    /// An xz stream (concatenated streams are one stream).
    Xz,
    /// A base64 blob (standard or URL-safe alphabet, padded or not, wrapped or not).
    Base64,
    /// JSON string escapes (`\uXXXX`, `\"` …).
    JsonEscape,
    /// JavaScript escapes beyond JSON's (`\xNN`, `\u{…}`).
    JsEscape,
    /// HTML/XML character references (`&#NN;`, `&#xNN;`, `&amp;` …).
    HtmlEntity,
    /// URL escapes (`%XX`) decoded together with other escapes of the same text.
    UrlEscape,
    /// String literals joined as the source code joins them (`"AKIA" + "…"`, adjacent
    /// literals, `"".join([…])`, a value continued over lines).
    Concat,
}

impl Encoding {
    /// The wire name (`gzip`, `base64`, `json-escape` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
            Encoding::Xz => "xz",
            Encoding::Base64 => "base64",
            Encoding::JsonEscape => "json-escape",
            Encoding::JsEscape => "js-escape",
            Encoding::HtmlEntity => "html-entity",
            Encoding::UrlEscape => "url-escape",
            Encoding::Concat => "concat",
        }
    }
}

/// The process a `process` finding was read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// The executable (`/proc/PID/exe`), where readable.
    pub exe: Option<String>,
    /// The systemd unit, from `/proc/PID/cgroup`, where known.
    pub unit: Option<String>,
}

/// One part of a credential found in one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id: the same finding has the same id across runs and hosts.
    pub id: String,
    /// The rule that matched (from `rules/builtin.toml`).
    pub rule: String,
    /// Which part of a credential this is.
    pub kind: Kind,
    /// Where it was read from.
    pub source: Source,
    /// The path, as given on the command line (`/proc/PID/environ`, `imds:/latest/user-data`).
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column, in bytes within the line.
    pub column: u64,
    /// The access key id of this credential, where found (an identifier, not a secret).
    pub key_id: Option<String>,
    /// Long-term, temporary or other, from the key id's prefix.
    pub key_type: Option<KeyType>,
    /// The AWS account decoded from the key id, where the id's format allows.
    pub account_id: Option<String>,
    /// Group id shared by the parts of one credential found together.
    pub credential: String,
    /// At most the first 4 characters of the value, then `…`.
    pub redacted: String,
    /// `sha256:` and the hex SHA-256 of the exact matched value (after decoding `\/`, `%2F`).
    pub fingerprint: String,
    /// For `process` findings: the process.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub process: Option<ProcessInfo>,
    /// The decoding steps, outermost first, from the file to the text the finding's value was
    /// found in (empty for plain text, as state written before it read). For a compressed
    /// file, `line` and `column` count in the decompressed text; for text decodings (base64,
    /// escapes), they point at the encoded text.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub encoding: Vec<Encoding>,
    /// For an aggregate ([`crate::scan::aggregate`]): the lone key ids of one source that it
    /// stands for. Boxed: ordinary findings, by far the most, pay one pointer for it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aggregate: Option<Box<Aggregate>>,
}

/// What an aggregate finding stands for: the access key ids of one source that have no secret
/// or token with them, beyond `scan.max_lone_key_ids_per_source`. Every count is of findings
/// (occurrences), like the findings it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Lone key id findings collapsed into this one.
    pub count: u64,
    /// Distinct key ids among them.
    pub distinct: u64,
    /// How many of them are long-term ids (`AKIA…`).
    pub long_term: u64,
    /// How many of them are temporary ids (`ASIA…`).
    pub temporary: u64,
    /// The first few distinct key ids, in the order found (identifiers, not secrets).
    pub key_ids: Vec<String>,
}

impl Aggregate {
    /// Whether every id it stands for is temporary (`ASIA…`): the lowest severity.
    pub fn only_temporary(&self) -> bool {
        self.temporary == self.count
    }

    /// A boxed aggregate of `count` ids, `long_term` of them long-term and the rest temporary,
    /// all distinct, naming `key_ids` (for the tests of the reporters).
    #[cfg(test)]
    pub(crate) fn sample(count: u64, long_term: u64, key_ids: &[&str]) -> Option<Box<Aggregate>> {
        Some(Box::new(Aggregate {
            count,
            distinct: count,
            long_term,
            temporary: count - long_term,
            key_ids: key_ids.iter().map(|k| k.to_string()).collect(),
        }))
    }
}

/// `sha256:<64 hex>` of a value.
pub fn fingerprint(value: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(value)))
}

/// The first 4 characters of a value and `…`: all that any output shows of a secret.
pub fn redact(value: &[u8]) -> String {
    let head: String = value
        .iter()
        .take(4)
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect();
    format!("{head}…")
}

/// A short hex digest of some parts, separated so that ("ab","c") and ("a","bc") differ.
pub fn short_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..8])
}

/// Decodes the AWS account id that newer access key ids carry in characters 5–12
/// (base32, bits 1..40 of the first 6 bytes, shifted right by 7). Older ids (5th character
/// `I` or `J`) do not carry one.
pub fn account_from_key_id(key_id: &str) -> Option<String> {
    let body = key_id.as_bytes().get(4..20)?;
    if matches!(body[0], b'I' | b'J') {
        return None;
    }
    let mut acc: u64 = 0;
    for &c in &body[..10] {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
    }
    // 10 base32 characters = 50 bits; the first 6 bytes are the top 48 of them.
    let z = acc >> 2;
    let account = (z & 0x7fff_ffff_ff80) >> 7;
    (account <= 999_999_999_999).then(|| format!("{account:012}"))
}

impl Finding {
    /// The decoding steps of the text it was found in, outermost first and comma-separated
    /// (`gzip`, `gzip,xz`), for outputs whose fields are strings; `None` for plain text.
    pub fn encoding_label(&self) -> Option<String> {
        (!self.encoding.is_empty()).then(|| {
            let steps: Vec<&str> = self.encoding.iter().map(|e| e.as_str()).collect();
            steps.join(",")
        })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} {}",
            self.path,
            self.line,
            self.column,
            self.kind.as_str(),
            self.key_id.as_deref().unwrap_or(&self.redacted)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_decoding_matches_published_examples() {
        // Published examples of the key-id encoding (Tal Be'ery, Aidan Steele).
        assert_eq!(
            account_from_key_id("ASIAY34FZKBOKMUTVV7A").as_deref(),
            Some("609629065308")
        );
        assert_eq!(account_from_key_id("AKIAIOSFODNN7EXAMPLE"), None);
    }

    #[test]
    fn encoding_label_names_the_steps_outermost_first() {
        let mut f: Finding = serde_json::from_value(serde_json::json!({
            "id": "i", "rule": "r", "kind": "access_key_id", "source": "file", "path": "p",
            "line": 1, "column": 1, "key_id": null, "key_type": null, "account_id": null,
            "credential": "c", "redacted": "AKIA…", "fingerprint": "sha256:00"
        }))
        .unwrap();
        assert_eq!(f.encoding_label(), None);
        f.encoding = vec![Encoding::Gzip, Encoding::Xz];
        assert_eq!(f.encoding_label().as_deref(), Some("gzip,xz"));
    }

    /// Every encoding's wire name is its serde name (state files and outputs agree).
    #[test]
    fn encoding_wire_names() {
        use Encoding::*;
        for e in [
            Gzip, Zstd, Xz, Base64, JsonEscape, JsEscape, HtmlEntity, UrlEscape, Concat,
        ] {
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        assert_eq!(Concat.as_str(), "concat");
    }

    #[test]
    fn redaction_keeps_four_characters() {
        assert_eq!(redact(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzzzzzzzz"), "wJal…");
        assert_eq!(redact(b"ab"), "ab…");
    }

    #[test]
    fn key_types() {
        assert_eq!(KeyType::of("AKIAQQQQ"), KeyType::LongTerm);
        assert_eq!(KeyType::of("ASIAQQQQ"), KeyType::Temporary);
        assert_eq!(KeyType::of("ABIAQQQQ"), KeyType::Other);
    }
}
