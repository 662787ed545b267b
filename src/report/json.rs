//! The DESIGN.md `scan --format json` document (version 1).

use serde::Serialize;

use crate::finding::Finding;
use crate::scan::{ScanOutcome, Stats};

/// Version of the JSON document; bumped only on incompatible changes.
pub const VERSION: u32 = 1;

/// The document `scan --format json` prints.
#[derive(Debug, Serialize)]
pub struct ScanDocument<'a> {
    /// Always [`VERSION`].
    pub version: u32,
    /// One entry per part of a credential found.
    pub findings: &'a [Finding],
    /// Counters.
    pub stats: &'a Stats,
}

/// Renders a scan as the DESIGN.md JSON document (one line, newline-terminated).
pub fn render(outcome: &ScanOutcome) -> String {
    let doc = ScanDocument {
        version: VERSION,
        findings: &outcome.findings,
        stats: &outcome.stats,
    };
    let mut s = serde_json::to_string(&doc)
        .unwrap_or_else(|e| format!("{{\"version\":{VERSION},\"error\":\"cannot render: {e}\"}}"));
    s.push('\n');
    s
}
