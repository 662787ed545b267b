//! Text for people: findings grouped by file, colour only on a terminal.

use std::fmt::Write as _;

use crate::finding::{Aggregate, Finding, Kind};
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

/// Renders a scan for a person.
pub fn render(outcome: &ScanOutcome, color: Color) -> String {
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
        out.push_str(&line(f, color));
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

fn line(f: &Finding, color: Color) -> String {
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
