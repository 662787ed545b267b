//! The DESIGN.md `scan --format json` document (version 1), and [`FindingJson`], the one
//! finding shape of that contract: stdout and the CloudWatch finding events serialise it; the
//! state and the scan cache keep their own internal form ([`Finding`]'s derive).
//!
//! The additions to the version 1 shape are optional: an aggregate finding (see
//! [`crate::scan::aggregate`]) has an `aggregate` object (`count`, `distinct`, `long_term`,
//! `temporary`, `key_ids`), a finding whose key's owner is known has an `owner` object
//! (DESIGN.md "Key owner", [`Owners::shown`]), and a finding in decoded text (a compressed
//! file) has an `encoding` list (`["gzip"]`, outermost first); other findings do not have
//! these keys, so their bytes are unchanged.

use serde::Serialize;

use crate::finding::{Aggregate, Encoding, Finding, KeyType, ProcessInfo};
use crate::owner::Owner;
use crate::report::owners::Owners;
use crate::scan::{ScanOutcome, Stats};

/// Version of the JSON document; bumped only on incompatible changes.
pub const VERSION: u32 = 1;

/// The document `scan --format json` prints.
#[derive(Debug, Serialize)]
struct ScanDocument<'a> {
    /// Always [`VERSION`].
    version: u32,
    /// One entry per part of a credential found.
    findings: Vec<FindingJson<'a>>,
    /// Counters.
    stats: &'a Stats,
}

/// One DESIGN.md `findings[]` entry. Field order and names are the contract: a change here
/// is a new document [`VERSION`].
#[derive(Debug, Serialize)]
pub(crate) struct FindingJson<'a> {
    id: &'a str,
    rule: &'a str,
    kind: &'static str,
    source: &'static str,
    path: &'a str,
    line: u64,
    column: u64,
    key_id: Option<&'a str>,
    key_type: Option<&'static str>,
    account_id: Option<&'a str>,
    credential: &'a str,
    redacted: &'a str,
    fingerprint: &'a str,
    /// Only on `process` findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<ProcessJson<'a>>,
    /// Only on aggregates (additive: ordinary findings keep their bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregate: Option<AggregateJson<'a>>,
    /// Only on findings in decoded text: the decoding steps, outermost first (`["gzip"]`,
    /// `["base64"]`).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    encoding: &'a [Encoding],
    /// Whose key, when something is known (additive, as `aggregate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<Owner>,
}

impl<'a> FindingJson<'a> {
    /// The entry of `f`, with the owner `owners` shows for it.
    pub(crate) fn new(f: &'a Finding, owners: &Owners) -> FindingJson<'a> {
        FindingJson {
            owner: owners.shown(f),
            ..FindingJson::from(f)
        }
    }
}

/// The `aggregate` object of an aggregate finding.
#[derive(Debug, Serialize)]
struct AggregateJson<'a> {
    count: u64,
    distinct: u64,
    long_term: u64,
    temporary: u64,
    key_ids: &'a [String],
}

impl<'a> From<&'a Aggregate> for AggregateJson<'a> {
    fn from(a: &'a Aggregate) -> AggregateJson<'a> {
        AggregateJson {
            count: a.count,
            distinct: a.distinct,
            long_term: a.long_term,
            temporary: a.temporary,
            key_ids: &a.key_ids,
        }
    }
}

/// The `process` object of a finding.
#[derive(Debug, Serialize)]
struct ProcessJson<'a> {
    pid: u32,
    exe: Option<&'a str>,
    unit: Option<&'a str>,
}

impl<'a> From<&'a Finding> for FindingJson<'a> {
    fn from(f: &'a Finding) -> FindingJson<'a> {
        FindingJson {
            id: &f.id,
            rule: &f.rule,
            kind: f.kind.as_str(),
            source: f.source.as_str(),
            path: &f.path,
            line: f.line,
            column: f.column,
            key_id: f.key_id.as_deref(),
            key_type: f.key_type.map(KeyType::as_str),
            account_id: f.account_id.as_deref(),
            credential: &f.credential,
            redacted: &f.redacted,
            fingerprint: &f.fingerprint,
            process: f.process.as_ref().map(ProcessJson::from),
            aggregate: f.aggregate.as_deref().map(AggregateJson::from),
            owner: None,
            encoding: &f.encoding,
        }
    }
}

impl<'a> From<&'a ProcessInfo> for ProcessJson<'a> {
    fn from(p: &'a ProcessInfo) -> ProcessJson<'a> {
        ProcessJson {
            pid: p.pid,
            exe: p.exe.as_deref(),
            unit: p.unit.as_deref(),
        }
    }
}

/// Renders a scan as the DESIGN.md JSON document (one line, newline-terminated), each
/// finding with the owner `owners` shows for it.
pub fn render(outcome: &ScanOutcome, owners: &Owners) -> String {
    let doc = ScanDocument {
        version: VERSION,
        findings: outcome
            .findings
            .iter()
            .map(|f| FindingJson::new(f, owners))
            .collect(),
        stats: &outcome.stats,
    };
    let mut s = serde_json::to_string(&doc)
        .unwrap_or_else(|e| format!("{{\"version\":{VERSION},\"error\":\"cannot render: {e}\"}}"));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Kind, Source};

    fn finding(process: Option<ProcessInfo>) -> Finding {
        Finding {
            id: "f1".into(),
            rule: "aws-secret-access-key".into(),
            kind: Kind::SecretAccessKey,
            source: Source::Process,
            path: "/proc/42/environ".into(),
            line: 1,
            column: 23,
            key_id: Some("AKIASXQV3SVWMFRRRM75".into()),
            key_type: Some(KeyType::LongTerm),
            account_id: None,
            credential: "c1".into(),
            redacted: "V+Hg…".into(),
            fingerprint: "sha256:abcd".into(),
            process,
            aggregate: None,
            encoding: Vec::new(),
        }
    }

    /// The contract's bytes, field by field and in order.
    #[test]
    fn finding_json_is_the_design_shape() {
        let process = ProcessInfo {
            pid: 42,
            exe: Some("/usr/bin/app".into()),
            unit: None,
        };
        let json = |f: &Finding| serde_json::to_string(&FindingJson::from(f)).unwrap();
        let head = r#"{"id":"f1","rule":"aws-secret-access-key","kind":"secret_access_key","source":"process","path":"/proc/42/environ","line":1,"column":23,"key_id":"AKIASXQV3SVWMFRRRM75","key_type":"long_term","account_id":null,"credential":"c1","redacted":"V+Hg…","fingerprint":"sha256:abcd""#;
        assert_eq!(json(&finding(None)), format!("{head}}}"));
        assert_eq!(
            json(&finding(Some(process))),
            format!(r#"{head},"process":{{"pid":42,"exe":"/usr/bin/app","unit":null}}}}"#)
        );
        let aggregate = Finding {
            aggregate: Aggregate::sample(12, 0, &["ASIAY34FZKBOKMUTVV7A"]),
            ..finding(None)
        };
        assert_eq!(
            json(&aggregate),
            format!(
                r#"{head},"aggregate":{{"count":12,"distinct":12,"long_term":0,"temporary":12,"key_ids":["ASIAY34FZKBOKMUTVV7A"]}}}}"#
            )
        );
        let decoded = Finding {
            encoding: vec![Encoding::Gzip, Encoding::Base64, Encoding::JsonEscape],
            ..finding(None)
        };
        assert_eq!(
            json(&decoded),
            format!(r#"{head},"encoding":["gzip","base64","json-escape"]}}"#)
        );
    }

    #[test]
    fn the_owner_is_added_when_known_and_absent_otherwise() {
        let canary = crate::owner::tests::key_id_of("AKIA", 52_310_077_262);
        let f = Finding {
            key_id: Some(canary),
            ..finding(None)
        };
        let json = |owners: &Owners| serde_json::to_value(FindingJson::new(&f, owners)).unwrap();
        assert_eq!(
            json(&Owners::new(None))["owner"],
            serde_json::json!({"account": "canary"})
        );
        let plain = Finding {
            key_id: Some("AKIASXQV3SVWMFRRRM75".into()),
            ..finding(None)
        };
        let v = serde_json::to_value(FindingJson::new(&plain, &Owners::new(None))).unwrap();
        assert!(v.get("owner").is_none(), "unknown account: no owner");
    }
}
