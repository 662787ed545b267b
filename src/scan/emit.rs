//! From match to [`Finding`]: the allow marker and the allowlist suppress it, the rule's kind
//! decides the key fields, and the parts of one credential found near each other are grouped
//! under one `credential` id.

use crate::finding::{self, Finding, KeyType, Kind, ProcessInfo, Source};

use super::keyids::KeyIds;
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
    if rule.kind == Kind::AccessKeyId {
        let mut f = key_id_finding(&rule.id, ctx, value, at.line, at.column);
        f.encoding.clone_from(&m.encoding);
        return Some(f);
    }
    Some(Finding {
        id: finding::short_id(&[&rule.id, ctx.source.as_str(), &location(ctx), &fp]),
        rule: rule.id.clone(),
        kind: rule.kind,
        source: ctx.source,
        path: ctx.path.to_string(),
        line: at.line,
        column: at.column,
        key_id: None,
        key_type: None,
        account_id: None,
        credential: finding::short_id(&["credential", &fp]),
        redacted: finding::redact(value),
        fingerprint: fp,
        process: ctx.process.cloned(),
        aggregate: None,
        encoding: m.encoding.clone(),
    })
}

/// The finding of access key id `value` found by rule `rule` at `line`:`column`: what a scan
/// makes of the match, and what [`super::keyids::KeyIds`] makes again of what it holds.
pub(super) fn key_id_finding(
    rule: &str,
    ctx: &Ctx<'_>,
    value: &[u8],
    line: u64,
    column: u64,
) -> Finding {
    let fp = finding::fingerprint(value);
    let id = String::from_utf8_lossy(value).into_owned();
    let (credential, key_type, account_id) = key_fields(&id);
    Finding {
        id: finding::short_id(&[rule, ctx.source.as_str(), &location(ctx), &fp]),
        rule: rule.to_string(),
        kind: Kind::AccessKeyId,
        source: ctx.source,
        path: ctx.path.to_string(),
        line,
        column,
        key_type: Some(key_type),
        account_id,
        credential,
        redacted: finding::redact(value),
        fingerprint: fp,
        key_id: Some(id),
        process: ctx.process.cloned(),
        aggregate: None,
        encoding: Vec::new(),
    }
}

/// What a key id says of its credential: the `credential` group id, the key type and the
/// account (where the id's format carries one).
pub(super) fn key_fields(key_id: &str) -> (String, KeyType, Option<String>) {
    (
        credential_of(key_id),
        KeyType::of(key_id),
        finding::account_from_key_id(key_id),
    )
}

/// The `credential` group id of the credential of a key id.
pub(super) fn credential_of(key_id: &str) -> String {
    finding::short_id(&["credential", key_id])
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
/// parts of one credential share `credential`, `key_id` and `account_id`. The key ids are
/// those among `found` and those `held` compactly (a source has one or the other), in the
/// order found: of two as close, the first found wins.
pub(super) fn group_credentials(found: &mut [Finding], held: Option<&KeyIds>) {
    let listed: Vec<(u64, u64, String)> = (found.iter())
        .filter(|f| f.kind == Kind::AccessKeyId)
        .filter_map(|f| Some((f.line, f.column, f.key_id.clone()?)))
        .collect();
    let ids = (listed.iter())
        .map(|(line, col, id)| (*line, *col, id.as_str()))
        .chain(held.into_iter().flat_map(KeyIds::places));
    if ids.clone().next().is_none() {
        return;
    }
    for f in found.iter_mut().filter(|f| f.kind.is_secret()) {
        let best = (ids.clone())
            .filter(|k| k.0.abs_diff(f.line) <= PAIR_LINES)
            .min_by_key(|k| (k.0.abs_diff(f.line), k.1.abs_diff(f.column)));
        if let Some((_, _, id)) = best {
            let (credential, key_type, account_id) = key_fields(id);
            f.credential = credential;
            f.key_id = Some(id.to_string());
            f.key_type = Some(key_type);
            f.account_id = account_id;
        }
    }
}
