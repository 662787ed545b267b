//! From match to [`Finding`]: the allow marker and the allowlist suppress it, the rule's kind
//! decides the key fields, and the parts of one credential found near each other are grouped
//! under one `credential` id.

use crate::finding::{self, Finding, KeyType, Kind, ProcessInfo, Source};

use super::matcher::RawMatch;
use super::reader::Place;
use super::scanner::Scanner;

/// How many lines apart a secret and a key id may be to count as one credential.
const PAIR_LINES: u64 = 5;

/// The source a match was found in.
pub(super) struct Ctx<'a> {
    pub(super) source: Source,
    /// The path reported.
    pub(super) path: &'a str,
    /// For process environments: the process.
    pub(super) process: Option<&'a ProcessInfo>,
}

/// The finding for a match at `at`, or `None` when the allow marker on its line or the
/// allowlist suppresses it.
pub(super) fn finding(
    scanner: &Scanner,
    m: &RawMatch,
    ctx: &Ctx<'_>,
    at: Place,
) -> Option<Finding> {
    let rule = &scanner.matcher.rule(m.rule).spec;
    let value = m.value.expose();
    let fp = finding::fingerprint(value);
    if at.marked || scanner.opts.allowlist.contains(&fp) {
        return None;
    }
    let (key_id, key_type, account_id) = if rule.kind == Kind::AccessKeyId {
        let id = String::from_utf8_lossy(value).into_owned();
        let acct = finding::account_from_key_id(&id);
        (Some(id.clone()), Some(KeyType::of(&id)), acct)
    } else {
        (None, None, None)
    };
    let credential = finding::short_id(&["credential", key_id.as_deref().unwrap_or(&fp)]);
    Some(Finding {
        id: finding::short_id(&[&rule.id, ctx.source.as_str(), &location(ctx), &fp]),
        rule: rule.id.clone(),
        kind: rule.kind,
        source: ctx.source,
        path: ctx.path.to_string(),
        line: at.line,
        column: at.column,
        key_id,
        key_type,
        account_id,
        credential,
        redacted: finding::redact(value),
        fingerprint: fp,
        process: ctx.process.cloned(),
        aggregate: None,
        encoding: Vec::new(),
    })
}

/// Where a finding lives for its id: a process by its unit or executable (its PID changes),
/// anything else by its path.
fn location(ctx: &Ctx<'_>) -> String {
    match ctx.process {
        Some(p) => p
            .unit
            .clone()
            .or_else(|| p.exe.clone())
            .unwrap_or_else(|| "process".into()),
        None => ctx.path.to_string(),
    }
}

/// Gives the secrets and tokens of one haystack the key id found closest to them, so that the
/// parts of one credential share `credential`, `key_id` and `account_id`.
pub(super) fn group_credentials(found: &mut [Finding]) {
    let ids: Vec<Finding> = found
        .iter()
        .filter(|f| f.kind == Kind::AccessKeyId)
        .cloned()
        .collect();
    if ids.is_empty() {
        return;
    }
    for f in found.iter_mut().filter(|f| f.kind.is_secret()) {
        let best = ids
            .iter()
            .filter(|k| k.line.abs_diff(f.line) <= PAIR_LINES)
            .min_by_key(|k| (k.line.abs_diff(f.line), k.column.abs_diff(f.column)));
        if let Some(k) = best {
            f.credential = k.credential.clone();
            f.key_id = k.key_id.clone();
            f.key_type = k.key_type;
            f.account_id = k.account_id.clone();
        }
    }
}
