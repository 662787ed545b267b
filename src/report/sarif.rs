//! SARIF 2.1.0, for code-scanning tools (GitHub code scanning, Security Hub via converters).
//!
//! Each result's `level` follows the DESIGN.md severity (`CRITICAL`, `HIGH` → `error`;
//! `MEDIUM` → `warning`; `LOW`, `INFORMATIONAL` → `note`), except an aggregate of lone key
//! ids, which keeps its own rule; its `properties` carry `severity` and, when known, the
//! key's `owner` (DESIGN.md "Key owner").

use std::time::SystemTime;

use serde_json::{json, Value};

use crate::finding::{Finding, KeyType};
use crate::owner::Severity;
use crate::report::owners::Owners;
use crate::rules::RuleSet;
use crate::scan::ScanOutcome;

/// The SARIF schema this output follows.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Renders a scan as one SARIF 2.1.0 log with one run, with the owners and severities
/// `owners` gives at `now`.
pub fn render(outcome: &ScanOutcome, rules: &RuleSet, owners: &Owners, now: SystemTime) -> String {
    let rule_index = |id: &str| rules.rules.iter().position(|r| r.spec.id == id);
    let driver_rules: Vec<Value> = rules
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.spec.id,
                "name": r.spec.name,
                "shortDescription": { "text": format!("Hard-coded {}", r.spec.name) },
                "fullDescription": { "text": format!(
                    "A hard-coded {} was found. CIS AWS Foundations 1.18: EC2 instances must use an IAM instance role, not access keys in files or environments.", r.spec.name) },
                "helpUri": r.spec.references.first().cloned().unwrap_or_default(),
                "defaultConfiguration": { "level": "error" },
                "properties": { "tags": ["security", "secrets", "aws"] }
            })
        })
        .collect();
    let results: Vec<Value> = outcome
        .findings
        .iter()
        .map(|f| result(f, rule_index(&f.rule), owners, now))
        .collect();
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "credhygiene",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": driver_rules,
            }},
            "columnKind": "utf16CodeUnits",
            "results": results,
            "properties": { "stats": outcome.stats },
        }]
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// The SARIF level of a severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Informational => "note",
    }
}

fn result(f: &Finding, rule_index: Option<usize>, owners: &Owners, now: SystemTime) -> Value {
    let severity = owners.severity(f, now);
    let shown = f
        .key_id
        .as_deref()
        .filter(|_| !f.kind.is_secret())
        .unwrap_or(&f.redacted);
    let (level, text) = match &f.aggregate {
        // Only temporary ids, none with a secret: the lowest severity (docs/detection.md).
        Some(a) => (
            if a.only_temporary() { "note" } else { "error" },
            format!(
                "{} AWS access key ids without a secret ({} temporary), first {} ({})",
                a.count,
                a.temporary,
                a.key_ids.join(", "),
                f.source.as_str()
            ),
        ),
        None => (
            level(severity),
            format!(
                "Hard-coded AWS {} {} ({})",
                f.kind.as_str().replace('_', " "),
                shown,
                f.source.as_str()
            ),
        ),
    };
    let mut r = json!({
        "ruleId": f.rule,
        "level": level,
        "message": { "text": text },
        "locations": [{ "physicalLocation": {
            "artifactLocation": { "uri": artifact_uri(&f.path) },
            "region": { "startLine": f.line, "startColumn": f.column }
        }}],
        "partialFingerprints": { "credhygiene/v1": f.id, "secretFingerprint/v1": f.fingerprint },
        "properties": {
            "kind": f.kind.as_str(), "source": f.source.as_str(), "key_id": f.key_id,
            "key_type": f.key_type.map(KeyType::as_str),
            "account_id": f.account_id, "credential": f.credential, "redacted": f.redacted,
            "fingerprint": f.fingerprint, "severity": severity.as_str(),
        }
    });
    if let Some(o) = owners.shown(f) {
        r["properties"]["owner"] = json!(o);
    }
    if let Some(i) = rule_index {
        r["ruleIndex"] = json!(i);
    }
    if !f.encoding.is_empty() {
        r["properties"]["encoding"] = json!(f.encoding);
    }
    if let Some(a) = &f.aggregate {
        r["properties"]["aggregate"] = json!({
            "count": a.count, "distinct": a.distinct, "long_term": a.long_term,
            "temporary": a.temporary, "key_ids": a.key_ids,
        });
    }
    r
}

/// A path as a SARIF artifact URI: `file://` for absolute paths, a relative reference
/// otherwise, percent-encoded.
pub fn artifact_uri(path: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'.')
        .remove(b'-')
        .remove(b'_')
        .remove(b'~');
    let enc = percent_encoding::utf8_percent_encode(path, KEEP).to_string();
    if path.starts_with('/') {
        format!("file://{enc}")
    } else {
        enc.trim_start_matches("./").to_string()
    }
}
