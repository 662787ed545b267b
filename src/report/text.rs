//! Text for people: findings grouped by file, colour only on a terminal. A finding whose
//! key's owner is known says so in a few words ([`owner_note`]).

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::finding::{account_from_key_id, Aggregate, Finding, Kind};
use crate::owner::{self, AccountClass, Owner};
use crate::report::owners::Owners;
use crate::scan::ScanOutcome;

/// Whether to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// ANSI colours.
    Ansi,
    /// Plain text.
    Never,
}

impl Color {
    fn paint(self, code: &str, s: &str) -> String {
        match self {
            Color::Ansi => format!("\x1b[{code}m{s}\x1b[0m"),
            Color::Never => s.to_string(),
        }
    }
}

/// Renders a scan for a person, with the owners `owners` shows, their last use told
/// relative to `now`.
pub fn render(outcome: &ScanOutcome, owners: &Owners, now: SystemTime, color: Color) -> String {
    let mut out = String::new();
    let mut current: Option<&str> = None;
    for f in &outcome.findings {
        if current != Some(f.path.as_str()) {
            if current.is_some() {
                out.push('\n');
            }
            let mut head = f.path.clone();
            if let Some(p) = &f.process {
                let what = p.unit.as_deref().or(p.exe.as_deref()).unwrap_or("?");
                let _ = write!(head, " (pid {}, {what})", p.pid);
            }
            out.push_str(&color.paint("1;35", &head));
            out.push('\n');
            current = Some(f.path.as_str());
        }
        out.push_str(&line(f, owners.shown(f).as_ref(), now, color));
        out.push('\n');
    }
    if !outcome.findings.is_empty() {
        out.push('\n');
    }
    let s = &outcome.stats;
    let verdict = if outcome.findings.is_empty() {
        color.paint("1;32", "no hard-coded AWS keys found")
    } else {
        color.paint(
            "1;31",
            &format!(
                "{} finding(s), {} credential(s)",
                outcome.findings.len(),
                outcome.distinct_credentials()
            ),
        )
    };
    let _ = writeln!(
        out,
        "{verdict}: {} sources, {} bytes, {} skipped, {} errors, {} suppressed, {} ms{}",
        s.files,
        s.bytes,
        s.skipped,
        s.errors,
        s.suppressed,
        s.elapsed_ms,
        if outcome.cancelled {
            " (cancelled)"
        } else {
            ""
        }
    );
    out
}

/// What an aggregate stands for, in words: `12 key ids without a secret (11 distinct, 12
/// temporary), first ASIA…, ASIA…`.
fn aggregate_note(a: &Aggregate) -> String {
    format!(
        "{} key ids without a secret ({} distinct, {} temporary, {} long-term), first {}",
        a.count,
        a.distinct,
        a.temporary,
        a.long_term,
        a.key_ids.join(", ")
    )
}

/// Whose key, in a few words: `own key of deploy-bot, Active, used 2 days ago`, `canary key
/// (canarytokens.org (Thinkst)): a tripwire, do not use`, `foreign key`.
fn owner_note(o: &Owner, key_id: &str, now: SystemTime) -> String {
    let mut note = match o.account {
        AccountClass::Canary => {
            let issuer = account_from_key_id(key_id)
                .and_then(|a| owner::canary_issuer(&a))
                .unwrap_or("a canary-token service");
            return format!("canary key ({issuer}): a tripwire, do not use");
        }
        AccountClass::Own => "own key".to_string(),
        AccountClass::Foreign => "foreign key".to_string(),
        AccountClass::Unknown => "key of an unknown account".to_string(),
    };
    if let Some(u) = &o.user {
        let _ = write!(note, " of {u}");
    }
    if let Some(s) = o.status {
        let _ = write!(note, ", {}", s.as_str());
    }
    if o.user.is_some() {
        note.push_str(&match o.last_used.as_deref().map(|t| ago(t, now)) {
            Some(Some(ago)) => format!(", used {ago}"),
            Some(None) => format!(", used {}", o.last_used.as_deref().unwrap_or("")),
            None => ", never used".to_string(),
        });
    }
    note
}

/// `today`, `1 day ago`, `12 days ago` for an RFC 3339 time before `now`; `None` when it
/// does not parse or lies ahead.
fn ago(rfc3339: &str, now: SystemTime) -> Option<String> {
    let then = humantime::parse_rfc3339_weak(rfc3339).ok()?;
    let days = now.duration_since(then).ok()?.as_secs() / 86_400;
    Some(match days {
        0 => "today".to_string(),
        1 => "1 day ago".to_string(),
        n => format!("{n} days ago"),
    })
}

fn line(f: &Finding, owner: Option<&Owner>, now: SystemTime, color: Color) -> String {
    let value = match f.kind {
        Kind::AccessKeyId => f.key_id.clone().unwrap_or_else(|| f.redacted.clone()),
        _ => f.redacted.clone(),
    };
    let mut extra = Vec::new();
    if let Some(kt) = f.key_type {
        extra.push(format!("{kt:?}").to_lowercase());
    }
    if let Some(a) = &f.account_id {
        extra.push(format!("account {a}"));
    }
    if f.kind.is_secret() {
        if let Some(k) = &f.key_id {
            extra.push(format!("pairs with {k}"));
        }
    }
    if let Some(a) = &f.aggregate {
        extra.push(aggregate_note(a));
    }
    if !f.encoding.is_empty() {
        let steps: Vec<&str> = f.encoding.iter().map(|e| e.as_str()).collect();
        extra.push(format!("decoded from {}", steps.join(" > ")));
    }
    if let (Some(o), Some(k)) = (owner, &f.key_id) {
        extra.push(owner_note(o, k, now));
    }
    format!(
        "  {}  {:<17}  {}  {}  {}",
        color.paint("32", &format!("{}:{}", f.line, f.column)),
        f.kind.as_str(),
        color.paint("1", &value),
        if extra.is_empty() {
            String::new()
        } else {
            format!("({})", extra.join(", "))
        },
        color.paint("2", &f.fingerprint[..19.min(f.fingerprint.len())]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::owner::KeyStatus;

    #[test]
    fn owner_notes() {
        let now = humantime::parse_rfc3339("2026-11-30T12:00:00Z").unwrap();
        let canary = crate::owner::tests::key_id_of("AKIA", 52_310_077_262);
        let own = |status, last_used: Option<&str>| Owner {
            user: Some("deploy-bot".into()),
            status,
            last_used: last_used.map(str::to_string),
            ..Owner::of_class(AccountClass::Own)
        };
        let cases = [
            (
                own(Some(KeyStatus::Active), Some("2026-11-28T09:14:00Z")),
                "own key of deploy-bot, Active, used 2 days ago",
            ),
            (
                own(Some(KeyStatus::Inactive), None),
                "own key of deploy-bot, Inactive, never used",
            ),
            (
                own(None, Some("2026-11-30T08:00:00Z")),
                "own key of deploy-bot, used today",
            ),
            (Owner::of_class(AccountClass::Own), "own key"),
            (Owner::of_class(AccountClass::Foreign), "foreign key"),
            (
                Owner::of_class(AccountClass::Canary),
                "canary key (canarytokens.org (Thinkst)): a tripwire, do not use",
            ),
        ];
        for (o, want) in cases {
            assert_eq!(owner_note(&o, &canary, now), want);
        }
    }
}
