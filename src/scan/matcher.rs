//! Prefilter, then confirm: one Aho-Corasick automaton over every rule's keywords finds the
//! places worth a look; each rule then confirms its value there (noseyparker's split). The
//! matcher is a plain struct: it sees bytes and returns [`RawMatch`]es, nothing else.

use std::fmt;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::finding::Kind;
use crate::rules::{Alphabet, Evidence, Rule, RuleSet, RulesError};

/// How far around a keyword its line is examined for a context name, and how far an evidence
/// region reaches on a very long line (minified JSON).
const CONTEXT_WINDOW: usize = 256;
/// Cap of an evidence region on either side of its anchor.
const REGION_CAP: usize = 4096;
/// How far back a `-----BEGIN` is looked for (values inside PEM blocks are not keys).
const PEM_LOOKBACK: usize = 16 * 1024;
/// The longest value considered (the longest session tokens are a few KiB).
const MAX_VALUE_LEN: usize = 8192;
/// After a name, runs shorter than this are syntax or words (`value=`, `!Ref`, `os.environ`)
/// and are stepped over; the first longer run is the named value, whether a rule accepts it
/// or not. Key ids (20), secrets (40) and tokens (100+) are all longer.
const MIN_VALUE_RUN: usize = 16;
/// The context a caller must keep before fresh data so that every evidence region and value
/// is whole: the [`crate::scan`] reader overlaps its chunks by this much.
pub const REQUIRED_OVERLAP: usize = PEM_LOOKBACK + REGION_CAP;

/// A value held by the matcher: its `Debug` shows only a redacted prefix and the length.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// The bytes, for fingerprinting and redaction only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretBytes({} bytes, {})",
            self.0.len(),
            crate::finding::redact(&self.0)
        )
    }
}

/// A confirmed value in a haystack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMatch {
    /// Index of the rule in the rule set.
    pub rule: usize,
    /// Byte offset of the value's first byte in the haystack.
    pub start: usize,
    /// The value, with `\/` and URL escapes decoded.
    pub value: SecretBytes,
}

/// The compiled prefilter and the rules it serves.
#[derive(Debug)]
pub struct Matcher {
    rules: RuleSet,
    ac: AhoCorasick,
    keyword_rule: Vec<usize>,
}

impl Matcher {
    /// Builds the matcher over a rule set.
    pub fn new(rules: RuleSet) -> Result<Matcher, RulesError> {
        let mut keywords = Vec::new();
        let mut keyword_rule = Vec::new();
        for (i, rule) in rules.rules.iter().enumerate() {
            for k in &rule.spec.keywords {
                keywords.push(k.as_bytes().to_vec());
                keyword_rule.push(i);
            }
        }
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&keywords)
            .map_err(|e| RulesError::Invalid {
                id: "(keywords)".into(),
                message: e.to_string(),
            })?;
        Ok(Matcher {
            rules,
            ac,
            keyword_rule,
        })
    }

    /// The built-in rules.
    pub fn builtin() -> Result<Matcher, RulesError> {
        Matcher::new(RuleSet::builtin()?)
    }

    /// The rule set.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The rule at `index`.
    pub fn rule(&self, index: usize) -> &Rule {
        &self.rules.rules[index]
    }

    /// Finds every value in `hay`, in order of position, appending to `out`.
    pub fn find(&self, hay: &[u8], out: &mut Vec<RawMatch>) {
        let first = out.len();
        // (rule, found only through a nearby key id, lo, hi)
        let mut regions: Vec<(usize, bool, usize, usize)> = Vec::new();
        let mut key_ids: Vec<usize> = Vec::new();
        for m in self.ac.find_iter(hay) {
            let rule_index = self.keyword_rule[m.pattern().as_usize()];
            let rule = &self.rules.rules[rule_index];
            match rule.spec.evidence {
                Evidence::SelfEvident => {
                    if let Some(found) = self.confirm_self(rule_index, rule, hay, m.start()) {
                        if rule.spec.kind == Kind::AccessKeyId {
                            key_ids.push(found.start);
                        }
                        out.push(found);
                    }
                }
                Evidence::Context => {
                    if let Some(region) = context_region(rule, hay, m.start()) {
                        regions.push((rule_index, false, region.0, region.1));
                    }
                }
            }
        }
        if !key_ids.is_empty() {
            for (i, rule) in self.rules.rules.iter().enumerate() {
                let n = rule.spec.near_key_id_lines;
                if rule.spec.evidence == Evidence::Context && n > 0 {
                    for &k in &key_ids {
                        let lo = lines_back(hay, k, n).max(k.saturating_sub(REGION_CAP));
                        let hi = lines_forward(hay, k, n).min(hay.len().min(k + REGION_CAP));
                        let (lo, hi) = same_object(hay, k, lo, hi);
                        regions.push((i, true, lo, hi));
                    }
                }
            }
        }
        if !regions.is_empty() {
            regions.sort_unstable();
            let mut merged: Vec<(usize, bool, usize, usize)> = Vec::new();
            for r in regions {
                match merged.last_mut() {
                    // A name's region holds one value: only key-id regions are merged.
                    Some(last) if r.1 && last.0 == r.0 && last.1 && r.2 <= last.3 => {
                        last.3 = last.3.max(r.3)
                    }
                    _ => merged.push(r),
                }
            }
            for (rule_index, near_only, lo, hi) in merged {
                let mode = if near_only {
                    Evidenced::NearKeyId(self.rules.rules[rule_index].near_key_id_requires.as_ref())
                } else {
                    Evidenced::Named
                };
                self.search_region(rule_index, hay, lo, hi, mode, out);
            }
        }
        let found = &mut out[first..];
        found.sort_by_key(|m| (m.start, self.rules.rules[m.rule].spec.kind, m.rule));
        let mut kept = first;
        for i in first..out.len() {
            let dup = kept > first && {
                let prev = &out[kept - 1];
                prev.start == out[i].start
                    && self.rules.rules[prev.rule].spec.kind
                        == self.rules.rules[out[i].rule].spec.kind
            };
            if !dup {
                out.swap(kept, i);
                kept += 1;
            }
        }
        out.truncate(kept);
    }

    fn confirm_self(
        &self,
        rule_index: usize,
        rule: &Rule,
        hay: &[u8],
        at: usize,
    ) -> Option<RawMatch> {
        let alphabet = rule.spec.alphabet;
        let (start, value) = match alphabet {
            Alphabet::Word => {
                let mut s = at;
                while s > 0 && alphabet.contains(hay[s - 1]) {
                    s -= 1;
                }
                // `%3DAKIA…` and `\nAKIA…`: an escape before the value is not part of it.
                if s < at && !escape_before(hay, s, at) {
                    return None;
                }
                let mut e = at;
                while e < hay.len() && e - at <= MAX_VALUE_LEN && alphabet.contains(hay[e]) {
                    e += 1;
                }
                (at, hay[at..e].to_vec())
            }
            Alphabet::Base64 => {
                let run = decoded_run(hay, at);
                if run.start < at && !escape_before(hay, run.start, at) {
                    return None;
                }
                let skip = decoded_len(hay, run.start, at);
                (at, run.value[skip..].to_vec())
            }
        };
        if !rule.accepts(&value, &self.rules.ignore) || in_pem_block(hay, start) {
            return None;
        }
        Some(RawMatch {
            rule: rule_index,
            start,
            value: SecretBytes(value),
        })
    }

    fn search_region(
        &self,
        rule_index: usize,
        hay: &[u8],
        lo: usize,
        hi: usize,
        mode: Evidenced<'_>,
        out: &mut Vec<RawMatch>,
    ) {
        let rule = &self.rules.rules[rule_index];
        let (first_only, requires) = match mode {
            Evidenced::Named => (true, None),
            Evidenced::NearKeyId(requires) => (false, requires),
        };
        let mut i = lo;
        let mut on_next_line = false;
        while i < hi {
            if first_only && hay[i] == 0 {
                // A NUL ends a field (environ entries, C strings): the name's value is not
                // beyond it.
                return;
            }
            if first_only && matches!(hay[i], b'"' | b'\'') && hay.get(i + 1) == Some(&hay[i]) {
                // `""`: the name's value is empty.
                return;
            }
            if first_only && hay[i] == b'\n' {
                if on_next_line {
                    return;
                }
                on_next_line = true;
                i += 1;
            } else if is_run_byte(hay, i) {
                let run = decoded_run(hay, i);
                i = run.end.max(i + 1);
                if first_only && run.value.len() < MIN_VALUE_RUN {
                    if on_next_line {
                        // The next line starts with something else (`OTHER_NAME=`): the
                        // name's value, if any, was on its own line.
                        return;
                    }
                    continue;
                }
                let line_ok = || {
                    requires.is_none_or(|re| {
                        let from = run.start.saturating_sub(CONTEXT_WINDOW);
                        let ls = memchr::memrchr(b'\n', &hay[from..run.start])
                            .map_or(from, |p| from + p + 1);
                        re.is_match(&hay[ls..run.start])
                    })
                };
                if rule.accepts(&run.value, &self.rules.ignore)
                    && !in_pem_block(hay, run.start)
                    && line_ok()
                {
                    out.push(RawMatch {
                        rule: rule_index,
                        start: run.start,
                        value: SecretBytes(run.value),
                    });
                }
                if first_only {
                    return;
                }
            } else {
                i += 1;
            }
        }
    }
}

/// Why a region may hold a value of a context rule.
#[derive(Clone, Copy)]
enum Evidenced<'a> {
    /// A name of the value ends where the region starts: the region holds one value.
    Named,
    /// An access key id is near: every value in the region, whose line (up to the value)
    /// matches the rule's `near_key_id_requires` if it has one.
    NearKeyId(Option<&'a regex::bytes::Regex>),
}

/// Whether the keyword at `at` is part of a name of the rule's value (the context regex
/// matches over the keyword, not merely somewhere on its line); if so, where the value may be:
/// from the end of the name to the end of the next line (bounded). `search_region` takes the
/// first run of [`MIN_VALUE_RUN`] or more characters there, or the first run of the next line
/// (YAML block scalars, continuation lines), and stops at a NUL.
fn context_region(rule: &Rule, hay: &[u8], at: usize) -> Option<(usize, usize)> {
    let line_start = memchr::memrchr(b'\n', &hay[at.saturating_sub(REGION_CAP)..at])
        .map_or(at.saturating_sub(REGION_CAP), |p| {
            at.saturating_sub(REGION_CAP) + p + 1
        });
    let line_end = memchr::memchr(b'\n', &hay[at..(at + REGION_CAP).min(hay.len())])
        .map_or((at + REGION_CAP).min(hay.len()), |p| at + p);
    let lo = line_start.max(at.saturating_sub(CONTEXT_WINDOW));
    let hi = line_end.min(at + CONTEXT_WINDOW);
    let window = &hay[lo..hi];
    let rel = at - lo;
    let name_over_keyword = |re: &regex::bytes::Regex| {
        re.find_iter(window)
            .take_while(|m| m.start() <= rel)
            .find(|m| rel < m.end())
            .map(|m| lo + m.end())
    };
    let name_end = rule
        .context
        .as_ref()
        .and_then(name_over_keyword)
        .or_else(|| {
            let end = rule.weak_context.as_ref().and_then(name_over_keyword)?;
            let above = lines_back(hay, at, rule.spec.weak_lookback_lines)
                .max(at.saturating_sub(REGION_CAP));
            rule.weak_requires
                .as_ref()
                .is_some_and(|req| req.is_match(&hay[above..hi]))
                .then_some(end)
        })?;
    let next_end = if line_end < hay.len() {
        let from = line_end + 1;
        memchr::memchr(b'\n', &hay[from..(from + REGION_CAP).min(hay.len())])
            .map_or((from + REGION_CAP).min(hay.len()), |p| from + p)
    } else {
        line_end
    };
    Some((name_end, next_end.min(at + REGION_CAP)))
}

/// Narrows a key id's neighbourhood `lo..hi` to the innermost `{…}` around the key id on its
/// own line, if that line has braces: on a minified JSON line (or a one-line dict, HCL block),
/// values of the other objects are not the key id's parts.
fn same_object(hay: &[u8], k: usize, lo: usize, hi: usize) -> (usize, usize) {
    let line_lo = memchr::memrchr(b'\n', &hay[lo..k]).map_or(lo, |p| lo + p + 1);
    let line_hi = memchr::memchr(b'\n', &hay[k..hi]).map_or(hi, |p| k + p);
    let open = memchr::memrchr(b'{', &hay[line_lo..k]).map(|p| line_lo + p);
    let close = memchr::memchr(b'}', &hay[k..line_hi]).map(|p| k + p);
    (open.unwrap_or(lo), close.unwrap_or(hi))
}

/// Start of the line `n` lines above the line holding `at`.
fn lines_back(hay: &[u8], at: usize, n: usize) -> usize {
    let mut pos = at;
    for _ in 0..=n {
        match memchr::memrchr(b'\n', &hay[..pos]) {
            Some(p) => pos = p,
            None => return 0,
        }
    }
    pos + 1
}

/// End of the line `n` lines below the line holding `at`.
fn lines_forward(hay: &[u8], at: usize, n: usize) -> usize {
    let mut pos = at;
    for _ in 0..=n {
        match memchr::memchr(b'\n', &hay[pos..]) {
            Some(p) => pos = pos + p + 1,
            None => return hay.len(),
        }
    }
    pos - 1
}

/// Whether `hay[s..at]` is an escape that ends right before a value: `%XX` or `\n`, `\t`, `\r`.
fn escape_before(hay: &[u8], s: usize, at: usize) -> bool {
    (at - s == 2
        && s > 0
        && hay[s - 1] == b'%'
        && hay[s].is_ascii_hexdigit()
        && hay[s + 1].is_ascii_hexdigit())
        || (at - s == 1 && s > 0 && hay[s - 1] == b'\\' && matches!(hay[s], b'n' | b't' | b'r'))
}

/// The base64 byte an escape at `i` stands for, and its length: `\/`, `%2F`, `%2B`.
#[inline]
fn escape_at(hay: &[u8], i: usize) -> Option<(u8, usize)> {
    match hay.get(i)? {
        b'\\' if hay.get(i + 1) == Some(&b'/') => Some((b'/', 2)),
        b'%' => match (hay.get(i + 1)?, hay.get(i + 2)?.to_ascii_uppercase()) {
            (b'2', b'F') => Some((b'/', 3)),
            (b'2', b'B') => Some((b'+', 3)),
            _ => None,
        },
        _ => None,
    }
}

#[inline]
fn is_run_byte(hay: &[u8], i: usize) -> bool {
    Alphabet::Base64.contains(hay[i]) || escape_at(hay, i).is_some()
}

struct Run {
    start: usize,
    end: usize,
    value: Vec<u8>,
}

/// The maximal run of base64 characters (escapes decoded) through `at`.
fn decoded_run(hay: &[u8], at: usize) -> Run {
    let mut start = at;
    loop {
        if start > 0 && Alphabet::Base64.contains(hay[start - 1]) {
            start -= 1;
        } else if start >= 2 && escape_at(hay, start - 2).is_some_and(|(_, l)| l == 2) {
            start -= 2;
        } else if start >= 3 && escape_at(hay, start - 3).is_some_and(|(_, l)| l == 3) {
            start -= 3;
        } else {
            break;
        }
        if at - start > MAX_VALUE_LEN {
            break;
        }
    }
    let mut value = Vec::with_capacity(64);
    let mut i = start;
    while i < hay.len() && value.len() <= MAX_VALUE_LEN {
        let b = hay[i];
        if Alphabet::Base64.contains(b) {
            value.push(b);
            i += 1;
        } else if let Some((d, l)) = escape_at(hay, i) {
            value.push(d);
            i += l;
        } else {
            break;
        }
    }
    Run {
        start,
        end: i,
        value,
    }
}

/// How many decoded bytes `hay[from..to]` holds.
fn decoded_len(hay: &[u8], from: usize, to: usize) -> usize {
    let mut n = 0;
    let mut i = from;
    while i < to {
        i += escape_at(hay, i).map_or(1, |(_, l)| l);
        n += 1;
    }
    n
}

/// Whether `at` lies between a `-----BEGIN ` and its `-----END ` line.
fn in_pem_block(hay: &[u8], at: usize) -> bool {
    let lo = at.saturating_sub(PEM_LOOKBACK);
    let before = &hay[lo..at];
    match memchr::memmem::rfind(before, b"-----BEGIN ") {
        Some(b) => memchr::memmem::find(&before[b..], b"-----END ").is_none(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> Matcher {
        Matcher::builtin().unwrap()
    }

    fn ids_in(m: &Matcher, text: &str) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        m.find(text.as_bytes(), &mut out);
        out.into_iter()
            .map(|r| (m.rule(r.rule).spec.id.clone(), r.value.expose().to_vec()))
            .collect()
    }

    /// The rule file's own examples: every positive found by its rule, no negative found by it.
    #[test]
    fn rule_examples() {
        let m = matcher();
        for rule in &m.rules().rules {
            for ex in &rule.spec.examples {
                let found = ids_in(&m, ex);
                assert!(
                    found.iter().any(|(id, _)| *id == rule.spec.id),
                    "rule {} misses its example {ex:?}: {found:?}",
                    rule.spec.id
                );
                assert!(
                    rule.spec.keywords.iter().any(|k| ex.contains(k.as_str()))
                        || rule.spec.near_key_id_lines > 0,
                    "rule {}: keywords do not cover {ex:?}",
                    rule.spec.id
                );
            }
            for ex in &rule.spec.negative_examples {
                let found = ids_in(&m, ex);
                assert!(
                    !found.iter().any(|(id, _)| *id == rule.spec.id),
                    "rule {} matches its negative example {ex:?}",
                    rule.spec.id
                );
            }
        }
    }

    #[test]
    fn escaped_values_are_decoded() {
        let m = matcher();
        let found = ids_in(
            &m,
            r#"{"AccessKeyId":"AKIASXQV3SVWMFRRRM75","SecretAccessKey":"FmpPoLXeI5yF+HCyKgmpdVP0\/0ciSnxUyadC5BS+"}"#,
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1].1, b"FmpPoLXeI5yF+HCyKgmpdVP0/0ciSnxUyadC5BS+");
    }

    #[test]
    fn url_escaped_key_id_after_equals() {
        let m = matcher();
        let found = ids_in(&m, "q=a%3DAKIASXQV3SVWMFRRRM75%26b");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, b"AKIASXQV3SVWMFRRRM75");
    }

    #[test]
    fn pem_blocks_are_not_keys() {
        let m = matcher();
        let text = "aws_secret_access_key = see below\n-----BEGIN RSA PRIVATE KEY-----\nV+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw\n-----END RSA PRIVATE KEY-----\n";
        assert!(ids_in(&m, text).is_empty());
    }

    #[test]
    fn secret_needs_evidence_and_key_id_is_evidence() {
        let m = matcher();
        assert!(ids_in(&m, "x = V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw\n").is_empty());
        let text =
            "id: AKIASXQV3SVWMFRRRM75\nfoo: 1\nkey: V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw\n";
        assert_eq!(ids_in(&m, text).len(), 2);
        let far = format!(
            "id: AKIASXQV3SVWMFRRRM75\n{}key: V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw\n",
            "x\n".repeat(10)
        );
        assert_eq!(ids_in(&m, &far).len(), 1);
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = SecretBytes(b"V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw".to_vec());
        let d = format!("{s:?}");
        assert!(!d.contains("X9XfPTT4"), "{d}");
    }
}
