//! Literals split in source code (issue 13): a key written as string pieces that the language
//! joins — `"AKIA" + "…"`, adjacent literals (`'…' '…'`, C and Python), `.` (PHP), `..`
//! (Lua), `"".join([…])` and `[…].join("")`, and a value continued over lines (a `\` before
//! the line break inside a YAML double-quoted scalar or a shell word, `"…" \` in C). The
//! joined value is confirmed by the rule as if it were written whole, and reported at the first
//! piece's first character with the encoding `concat`.
//!
//! Cost: nothing on text without a split. A join is tried only where a rule's candidate (a
//! keyword's value, a named value, a value near a key id) ends at a closing quote or at a `\`
//! before a line break, and only walked on if a join operator (after blanks) and another
//! literal follow. Which operators and list forms join is data: the `concat` decoder of
//! `src/rules/builtin.toml`.
//!
//! Bounds: at most [`MAX_PIECES`] pieces, at most [`MAX_GAP`] bytes and one line break between
//! two pieces, the whole chain within [`MAX_SPAN`] bytes of the value's start (inside the
//! reader's overlap, so findings do not depend on chunk borders). A piece that continues the
//! run of the literal before it (`"x" + "AKIA…"`) starts no value, so each chain is walked
//! once from its first piece: the work stays linear in the input.

use crate::finding::Encoding;
use crate::rules::{Alphabet, DecoderKind, DecoderSpec, Rule};

use super::runs::{self, continues_run};
use super::{Matcher, Pass, RawMatch, SecretBytes, CONTEXT_WINDOW, MAX_VALUE_LEN};

/// The most pieces one value is joined from (a session token of 1,200 characters in lines of
/// 40 is 30).
pub(super) const MAX_PIECES: usize = 64;
/// The most bytes between two pieces: blanks, an operator, a line break and indentation.
const MAX_GAP: usize = 128;
/// How far a chain reaches from its value's first byte: within the reader's overlap.
pub(super) const MAX_SPAN: usize = MAX_VALUE_LEN + MAX_PIECES * MAX_GAP;
/// How far (in bytes, blanks included) a list's opener is looked for before its first element,
/// and its closer after its last.
const LIST_REACH: usize = 64;
/// The quote characters of string literals.
const QUOTES: &[u8] = b"\"'`";

const _: () = assert!(MAX_SPAN + CONTEXT_WINDOW <= super::REQUIRED_OVERLAP);

/// How literals are joined, from the rule file's `concat` decoder; without one, nothing is.
#[derive(Debug, Default)]
pub(super) struct Joins {
    enabled: bool,
    /// Operators between two literals, longest first (`..` before `.`).
    operators: Vec<Vec<u8>>,
    /// Lists whose elements are joined: (what ends right before the first element's quote,
    /// what starts right after the last element's quote), blanks removed.
    lists: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Joins {
    /// The joins of the rule file's `concat` decoders.
    pub(super) fn new(decoders: &[DecoderSpec]) -> Joins {
        let mut joins = Joins::default();
        for d in decoders.iter().filter(|d| d.id == DecoderKind::Concat) {
            joins.enabled = true;
            joins
                .operators
                .extend(d.operators.iter().map(|o| o.as_bytes().to_vec()));
            joins.lists.extend(
                (d.lists.iter())
                    .map(|[open, close]| (compact(open.as_bytes()), compact(close.as_bytes()))),
            );
        }
        joins.operators.sort_by_key(|o| std::cmp::Reverse(o.len()));
        joins
    }
}

/// A value joined from two or more pieces.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Joined {
    /// The joined value (escapes in base64 pieces decoded, as in plain runs).
    pub(super) value: Vec<u8>,
    /// Where the last piece's run ends.
    pub(super) end: usize,
}

/// A chain of literals walked from a first piece.
#[derive(Debug)]
pub(super) struct Chain {
    /// The whole chain, joined.
    pub(super) joined: Joined,
    /// Whether a piece after the first added to the value.
    pub(super) grew: bool,
    /// At the first weak link (two literals with only blanks between them, which some
    /// languages join — Python, C — and others keep apart — shell words, systemd's
    /// `Environment="A=…" "B=…"`, two statements on two lines): the value's length before it,
    /// where the piece before it ends, and whether the chain had grown by then. The chain up to
    /// there is certain; beyond, the whole is taken only if the rule accepts it.
    pub(super) certain: Option<(usize, usize, bool)>,
    /// The chain went on beyond the bounds: the whole is no value.
    pub(super) over: bool,
}

/// Why a chain of literals continues after a piece.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    /// A closing quote, then (after blanks) an operator, a list's comma or nothing, then the
    /// next literal.
    Quote,
    /// A `\` before a line break inside the literal (or a shell word): the next line goes on.
    Continuation,
}

/// How a piece ends at `end`, if it can be followed by another: a quote, or a `\` before a
/// line break. The one check paid by text without a split.
#[inline]
fn piece_end(hay: &[u8], end: usize) -> Option<Link> {
    match hay.get(end)? {
        b'"' | b'\'' | b'`' => Some(Link::Quote),
        b'\\' if line_break(hay, end + 1).is_some() => Some(Link::Continuation),
        _ => None,
    }
}

/// Whether an empty literal (`""`, `''`) is at `at`, not followed by a method call (`"".join(`
/// starts a value).
pub(super) fn empty_literal(hay: &[u8], at: usize) -> bool {
    matches!(hay[at], b'"' | b'\'')
        && hay.get(at + 1) == Some(&hay[at])
        && hay.get(at + 2) != Some(&b'.')
}

/// The end of a line break (`\n` or `\r\n`) at `at`.
fn line_break(hay: &[u8], at: usize) -> Option<usize> {
    match hay.get(at..)? {
        [b'\n', ..] => Some(at + 1),
        [b'\r', b'\n', ..] => Some(at + 2),
        _ => None,
    }
}

/// The bytes of `text` that are not blanks or line breaks.
fn compact(text: &[u8]) -> Vec<u8> {
    text.iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect()
}

/// Skips blanks from `at` (at most one line break, counted in `breaks`, a `\` before it
/// included), not beyond `limit`.
fn skip_blanks(hay: &[u8], mut at: usize, limit: usize, breaks: &mut usize) -> Option<usize> {
    while at < limit {
        match hay[at] {
            b' ' | b'\t' | b'\r' => at += 1,
            b'\n' => {
                *breaks += 1;
                at += 1;
            }
            b'\\' if line_break(hay, at + 1).is_some() => {
                *breaks += 1;
                at = line_break(hay, at + 1)?;
            }
            _ => break,
        }
        if *breaks > 1 {
            return None;
        }
    }
    Some(at)
}

/// The run of `alphabet` at `at` (for base64, escapes decoded), at most `cap` bytes of it:
/// its bytes and where it ends.
fn piece_run(hay: &[u8], at: usize, alphabet: Alphabet, cap: usize) -> (Vec<u8>, usize) {
    match alphabet {
        Alphabet::Word => {
            let n = (hay[at.min(hay.len())..].iter().take(cap))
                .take_while(|&&b| alphabet.contains(b))
                .count();
            (hay[at..at + n].to_vec(), at + n)
        }
        Alphabet::Base64 => {
            let ext = runs::run_extent(hay, at, at + cap);
            (runs::decode(hay, at, cap), ext.end)
        }
    }
}

impl Joins {
    /// The value joined from the piece whose run is `start..end`, if at least one more piece
    /// adds to it, within the bounds. Returns `None` where nothing joins (the caller goes on
    /// with the piece as it is) and also where the piece only continues an earlier one.
    pub(super) fn join(
        &self,
        pass: &Pass<'_>,
        start: usize,
        end: usize,
        alphabet: Alphabet,
    ) -> Option<Chain> {
        let hay = pass.hay;
        let link = piece_end(hay, end)?;
        if !self.enabled {
            return None;
        }
        let (quote, opening) = match link {
            Link::Quote => {
                let q = hay[end];
                let from = start.saturating_sub(CONTEXT_WINDOW);
                pass.spend(start - from);
                let o = memchr::memrchr2(q, b'\n', &hay[from..start]).map(|p| from + p)?;
                if hay[o] != q {
                    return None;
                }
                (Some(q), Some(o))
            }
            Link::Continuation => {
                let q = (start > 0 && QUOTES.contains(&hay[start - 1])).then(|| hay[start - 1]);
                (q, q.map(|_| start - 1))
            }
        };
        if let Some(o) = opening.filter(|&o| o + 1 == start) {
            if self.continues_piece(pass, o, alphabet) {
                return None;
            }
        }
        if link == Link::Quote {
            let before = self.before_list(pass, opening.unwrap_or(start));
            for (open, close) in &self.lists {
                if !before.ends_with(open) {
                    continue;
                }
                if let Some(j) = self.walk(pass, start, end, alphabet, quote, true) {
                    if close.is_empty() || self.closes(pass, j.joined.end, close) {
                        return Some(j);
                    }
                }
            }
        }
        self.walk(pass, start, end, alphabet, quote, false)
    }

    /// Walks the chain from the piece `start..end` (its literal quoted with `quote`, if any);
    /// in a list (`list`), literals are separated by commas, else by an operator or nothing.
    /// `None` if no piece adds to the first.
    fn walk(
        &self,
        pass: &Pass<'_>,
        start: usize,
        end: usize,
        alphabet: Alphabet,
        mut quote: Option<u8>,
        list: bool,
    ) -> Option<Chain> {
        let hay = pass.hay;
        let (value, _) = piece_run(hay, start, alphabet, MAX_VALUE_LEN + 1);
        let mut chain = Chain {
            joined: Joined { value, end },
            grew: false,
            certain: None,
            over: false,
        };
        let mut pieces = 1;
        loop {
            let end = chain.joined.end;
            let next = match piece_end(hay, end) {
                Some(Link::Continuation) => {
                    let mut breaks = 0;
                    let from = line_break(hay, end + 1)?;
                    skip_blanks(hay, from, (from + MAX_GAP).min(hay.len()), &mut breaks)
                        .map(|at| (at, false))
                }
                Some(Link::Quote) if quote == Some(hay[end]) => {
                    self.gap(pass, end + 1, list).map(|(o, weak)| {
                        quote = Some(hay[o]);
                        (o + 1, weak)
                    })
                }
                _ => None,
            };
            let Some((next, weak)) = next else { break };
            let value = &mut chain.joined.value;
            let cap = MAX_VALUE_LEN + 1 - value.len().min(MAX_VALUE_LEN);
            let (more, next_end) = piece_run(hay, next, alphabet, cap);
            pass.spend(next_end - end);
            if is_key(hay, next_end, quote) {
                break;
            }
            if weak && chain.certain.is_none() {
                chain.certain = Some((value.len(), end, chain.grew));
            }
            pieces += 1;
            if pieces > MAX_PIECES || next_end - start > MAX_SPAN {
                chain.over = true;
                break;
            }
            chain.grew |= !more.is_empty();
            value.extend_from_slice(&more);
            chain.joined.end = next_end;
        }
        (chain.grew || chain.certain.is_some_and(|c| c.2)).then_some(chain)
    }

    /// After a closing quote at `from - 1`: where the next literal's opening quote is, if
    /// blanks, then an operator (or, in a list, a comma) or nothing, then blanks lead to one;
    /// and whether the link is weak (nothing but blanks between the two literals).
    fn gap(&self, pass: &Pass<'_>, from: usize, list: bool) -> Option<(usize, bool)> {
        let hay = pass.hay;
        let limit = (from + MAX_GAP).min(hay.len());
        let mut breaks = 0;
        let mut at = skip_blanks(hay, from, limit, &mut breaks)?;
        let sep = if list {
            (hay.get(at) == Some(&b',')).then_some(1)
        } else {
            (self.operators.iter())
                .find(|op| hay[at..limit].starts_with(op))
                .map(|op| op.len())
        };
        if let Some(n) = sep {
            at = skip_blanks(hay, at + n, limit, &mut breaks)?;
        } else if list {
            return None;
        }
        pass.spend(at - from);
        let weak = sep.is_none() && at > from && !hay[from..at].contains(&b'\\');
        (at < limit && QUOTES.contains(&hay[at])).then_some((at, weak))
    }

    /// Whether the literal opened at `o` continues a literal before it whose run it extends
    /// (`"x" + "AKIA…"`, `"x""AKIA…"`): then a value does not start at its first character. A
    /// literal with only blanks between (a weak link, see [`Chain::certain`]) does not count.
    fn continues_piece(&self, pass: &Pass<'_>, o: usize, alphabet: Alphabet) -> bool {
        let hay = pass.hay;
        let floor = o.saturating_sub(MAX_GAP);
        let mut at = o;
        let (mut breaks, mut joined) = (0, false);
        let is_op_byte = |b: u8| self.operators.iter().any(|op| op.contains(&b));
        while at > floor {
            match hay[at - 1] {
                b'\n' => breaks += 1,
                b' ' | b'\t' | b'\r' => {}
                b if b == b'\\' || is_op_byte(b) => joined = true,
                _ => break,
            }
            if breaks > 1 {
                return false;
            }
            at -= 1;
        }
        pass.spend(o - at);
        (at == o || joined)
            && at >= 2
            && QUOTES.contains(&hay[at - 1])
            && alphabet.contains(hay[at - 2])
    }

    /// The text before the opening quote at `o` that a list opener may end with, blanks
    /// removed.
    fn before_list(&self, pass: &Pass<'_>, o: usize) -> Vec<u8> {
        let from = o.saturating_sub(LIST_REACH);
        pass.spend(o - from);
        compact(&pass.hay[from..o])
    }

    /// Whether the text after the closing quote at `q` (if it is one) starts with a list closer `close`
    /// (blanks and a trailing comma ignored).
    fn closes(&self, pass: &Pass<'_>, q: usize, close: &[u8]) -> bool {
        let hay = pass.hay;
        if !hay.get(q).is_some_and(|b| QUOTES.contains(b)) {
            return false;
        }
        let to = (q + 1 + LIST_REACH).min(hay.len());
        pass.spend(to - q);
        let after = compact(&hay[(q + 1).min(to)..to]);
        let after = after.strip_prefix(b",").unwrap_or(&after);
        after.starts_with(close)
    }
}

/// Whether the literal whose run ends at `end` (quoted with `quote`) is a mapping's key, not a
/// piece of a value: its closing quote is followed by a `:` (a YAML or JSON key on the line
/// after a continued value).
fn is_key(hay: &[u8], end: usize, quote: Option<u8>) -> bool {
    let Some(q) = quote else { return false };
    if hay.get(end) != Some(&q) {
        return false;
    }
    let rest = &hay[end + 1..(end + 1 + 8).min(hay.len())];
    rest.iter()
        .find(|b| !matches!(b, b' ' | b'\t'))
        .is_some_and(|&b| b == b':')
}

/// A join's verdict: the match if the rule accepts the joined value (`None` if it does not:
/// the piece alone is no whole value either), and where the chain's last run ends.
pub(super) type Verdict = (Option<RawMatch>, usize);

impl Matcher {
    /// A self-evident keyword at `at` whose value is split into literals: `None` if nothing
    /// joins there (the plain value decides), else the verdict on the joined value (outside
    /// PEM blocks).
    pub(super) fn confirm_joined(
        &self,
        pass: &Pass<'_>,
        rule_index: usize,
        at: usize,
    ) -> Option<Verdict> {
        let hay = pass.hay;
        let alphabet = self.rules.rules[rule_index].spec.alphabet;
        pass.spend(3);
        if continues_run(hay, at, alphabet) {
            return None;
        }
        let (_, end) = piece_run(hay, at, alphabet, MAX_VALUE_LEN + 1);
        pass.spend(end - at);
        piece_end(hay, end)?;
        let (found, last) = self.joined(pass, rule_index, at, end)?;
        Some((found.filter(|_| !pass.in_pem_block(at)), last))
    }

    /// [`Matcher::joined`] for a context rule's value at `start..end`: appends the match to
    /// `out` if it lies outside PEM blocks and its line meets `requires`; returns where the
    /// chain ends, `None` if nothing joins there.
    pub(super) fn push_joined(
        &self,
        pass: &Pass<'_>,
        rule_index: usize,
        start: usize,
        end: usize,
        requires: Option<&regex::bytes::Regex>,
        out: &mut Vec<RawMatch>,
    ) -> Option<usize> {
        let (found, last) = self.joined(pass, rule_index, start, end)?;
        out.extend(
            found.filter(|_| {
                !pass.in_pem_block(start) && super::line_matches(pass, start, requires)
            }),
        );
        Some(last)
    }

    /// The literal whose run is `start..end`, for the rule at `rule_index`: `None` if nothing
    /// joins to it, else the verdict on the joined value.
    pub(super) fn joined(
        &self,
        pass: &Pass<'_>,
        rule_index: usize,
        start: usize,
        end: usize,
    ) -> Option<Verdict> {
        let rule: &Rule = &self.rules.rules[rule_index];
        let chain = self.joins.join(pass, start, end, rule.spec.alphabet)?;
        let accept = |value: &[u8]| {
            pass.accepts(rule, value, &self.rules.ignore)
                .then(|| RawMatch {
                    rule: rule_index,
                    start,
                    value: SecretBytes(value.to_vec()),
                    encoding: vec![Encoding::Concat],
                })
        };
        let whole = &chain.joined;
        if !chain.over && chain.grew {
            if let Some(found) = accept(&whole.value) {
                return Some((Some(found), whole.end));
            }
        }
        match chain.certain {
            // Up to the first weak link the chain is certain: its verdict is final.
            Some((len, last, true)) => Some((accept(&whole.value[..len]), last)),
            // Only the first piece is certain: the plain value decides.
            Some((_, _, false)) => None,
            None if chain.over => None,
            None => Some((None, whole.end)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::fingerprint;

    const KEY_ID: &str = "AKIASXQV3SVWMFRRRM75";
    const SECRET: &str = "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";

    fn matcher() -> Matcher {
        Matcher::builtin().unwrap()
    }

    /// What the matcher finds in `text`: (rule kind, column of the value, fingerprint,
    /// encoding), never the value itself.
    fn found(m: &Matcher, text: &str) -> Vec<(Kind, usize, String, Vec<Encoding>)> {
        let mut out = Vec::new();
        m.find(text.as_bytes(), &mut out);
        out.into_iter()
            .map(|r| {
                let kind = m.rule(r.rule).spec.kind;
                (kind, r.start, fingerprint(r.value.expose()), r.encoding)
            })
            .collect()
    }

    use crate::finding::Kind;

    /// Split shapes of every language the `concat` decoder names: each yields the key id or
    /// the secret, at the first piece's first character, joined.
    #[test]
    fn split_literals_are_joined() {
        let m = matcher();
        let (kid, sk) = (KEY_ID, SECRET);
        // Key ids: the id is cut at `n`; `{a}` and `{b}` are its two pieces.
        let id_shapes: [(&str, usize); 10] = [
            (r#"k = "{a}" + "{b}""#, 4),
            ("k = '{a}''{b}'", 9),
            ("k = '{a}' \"{b}\"", 9),
            (r#"$k = "{a}"."{b}";"#, 4),
            (r#"k = "{a}" .. "{b}""#, 4),
            ("k = \"{a}\" +\n    \"{b}\"", 4),
            ("k = \"{a}\" \\\r\n  \"{b}\"", 4),
            (r#"k = ''.join(("{a}", "{b}"))"#, 4),
            ("k = [\n  '{a}',\n  '{b}',\n].join('')", 4),
            ("id: \"{a}\\\n   {b}\"", 6),
        ];
        let mut cases: Vec<(String, Kind, &str)> = (id_shapes.iter())
            .map(|(shape, n)| {
                let text = shape.replace("{a}", &kid[..*n]).replace("{b}", &kid[*n..]);
                (text, Kind::AccessKeyId, kid)
            })
            .collect();
        cases.extend([
            (
                format!(
                    r#"aws_secret_access_key = "{}" + "{}""#,
                    &sk[..16],
                    &sk[16..]
                ),
                Kind::SecretAccessKey,
                sk,
            ),
            // a first piece shorter than a value's least run
            (
                format!(r#"aws_secret_access_key = "{}" + "{}""#, &sk[..3], &sk[3..]),
                Kind::SecretAccessKey,
                sk,
            ),
            (
                format!(
                    r#"aws_secret_access_key = ''.join(('{}', '{}'))"#,
                    &sk[..9],
                    &sk[9..]
                ),
                Kind::SecretAccessKey,
                sk,
            ),
            // escaped slashes inside a piece, as in plain values
            (
                format!(
                    r#"aws_secret_access_key = "{}" "{}""#,
                    &sk[..20],
                    sk[20..].replace('/', "\\/")
                ),
                Kind::SecretAccessKey,
                sk,
            ),
            // no name: a key id near the split secret is the evidence
            (
                format!(
                    "id = \"{kid}\"\nkey = (\"{}\"\n       \"{}\")",
                    &sk[..7],
                    &sk[7..]
                ),
                Kind::SecretAccessKey,
                sk,
            ),
            (
                format!("AWS_SECRET_ACCESS_KEY={}\\\n{}\n", &sk[..30], &sk[30..]),
                Kind::SecretAccessKey,
                sk,
            ),
        ]);
        for (i, (text, kind, value)) in cases.iter().enumerate() {
            let first = text
                .find(&value[..1])
                .filter(|_| *kind == Kind::AccessKeyId);
            let got = found(&m, text);
            let hit = got.iter().find(|f| f.0 == *kind);
            assert!(
                hit.is_some_and(|f| f.2 == fingerprint(value.as_bytes())
                    && f.3 == [Encoding::Concat]
                    && first.is_none_or(|c| c == f.1)),
                "case {i}: {:?}",
                got.iter().map(|f| (f.0, f.1, &f.3)).collect::<Vec<_>>()
            );
        }
    }

    /// Concatenations that must stay silent, and pieces that are no whole value.
    #[test]
    fn what_does_not_join() {
        let m = matcher();
        let sk = SECRET;
        let cases = [
            r#"k = "AKIA" + rest"#.to_string(),
            r#"k = "AKIA" + "SXQV3SVWMFRRRM75" + "Z""#.to_string(),
            r#"k = "AKIA" + "SXQV3SVWMF" + "RRRM75Z""#.to_string(),
            r#"k = "x" + "AKIA" + "SXQV3SVWMFRRRM75""#.to_string(),
            r#"k = ["AKIA", "SXQV3SVWMFRRRM75"]"#.to_string(),
            r#"k = "-".join(["AKIA", "SXQV3SVWMFRRRM75"])"#.to_string(),
            r#"k = "AKIAIOSFODNN7" + "EXAMPLE""#.to_string(),
            // two line breaks between pieces
            "k = \"AKIA\"\n\n\"SXQV3SVWMFRRRM75\"".to_string(),
            // a named value joined with more than a value holds
            format!(
                r#"aws_secret_access_key = "{}" + "{}" + "x""#,
                &sk[..16],
                &sk[16..]
            ),
            // a YAML double-quoted value folds a plain line break into a space
            format!("aws_secret_access_key: \"{}\n  {}\"", &sk[..16], &sk[16..]),
        ];
        for (i, text) in cases.iter().enumerate() {
            let got = found(&m, text);
            assert!(
                got.is_empty(),
                "case {i}: {:?}",
                got.iter().map(|f| (f.0, f.1, &f.3)).collect::<Vec<_>>()
            );
        }
    }

    /// A whole key next to a literal that does not continue its run stays a plain finding.
    #[test]
    fn a_whole_key_next_to_other_literals_is_plain() {
        let m = matcher();
        for text in [
            format!(r#"k = "{KEY_ID}" + "-rotated""#),
            format!(r#"k = "{KEY_ID}" + suffix"#),
            format!(r#"k = ["{KEY_ID}", "ASIA"]"#),
            // separate words: systemd assignments, a shell array over lines
            format!(r#"Environment="AWS_ACCESS_KEY_ID={KEY_ID}" "REGION=eu-west-1""#),
            format!("KEYS=(\n  \"{KEY_ID}\"\n  \"AKIA\"\n)"),
        ] {
            let got = found(&m, &text);
            assert_eq!(
                got.len(),
                1,
                "{:?}",
                got.iter().map(|f| (f.0, f.1)).collect::<Vec<_>>()
            );
            assert!(got[0].3.is_empty());
        }
    }

    /// The bounds: [`MAX_PIECES`] pieces join; one more joins nothing.
    #[test]
    fn chains_are_bounded() {
        let m = matcher();
        let split = |n: usize| {
            let body = SECRET.chars().cycle().take(4 * (n - 1)).collect::<String>();
            let token = format!("IQoJb3JpZ2lu{body}");
            let pieces: Vec<String> = std::iter::once("IQoJb3JpZ2lu".to_string())
                .chain(
                    body.as_bytes()
                        .chunks(4)
                        .map(|c| String::from_utf8_lossy(c).into()),
                )
                .map(|p| format!("\"{p}\""))
                .collect();
            assert_eq!(pieces.len(), n);
            (
                token,
                format!("aws_session_token = {}", pieces.join(" +\n  ")),
            )
        };
        let (token, text) = split(MAX_PIECES);
        let within = found(&m, &text);
        assert_eq!(within.len(), 1);
        assert_eq!(within[0].2, fingerprint(token.as_bytes()));
        assert!(found(&m, &split(MAX_PIECES + 1).1).is_empty());
    }

    #[test]
    fn piece_ends_table() {
        for (text, at, want) in [
            ("ab\"", 2, Some(Link::Quote)),
            ("ab`", 2, Some(Link::Quote)),
            ("ab\\\n", 2, Some(Link::Continuation)),
            ("ab\\\r\n", 2, Some(Link::Continuation)),
            ("ab\\n", 2, None),
            ("ab ", 2, None),
            ("ab", 2, None),
        ] {
            assert!(piece_end(text.as_bytes(), at) == want, "{text:?}");
        }
    }

    #[test]
    fn compact_and_blanks() {
        assert_eq!(compact(b" [ 'a' ] . join ( '' ) "), b"['a'].join('')");
        let mut breaks = 0;
        assert_eq!(skip_blanks(b"  \\\n  x", 0, 7, &mut breaks), Some(6));
        assert_eq!(breaks, 1);
        let mut breaks = 0;
        assert_eq!(skip_blanks(b" \n \n x", 0, 6, &mut breaks), None);
    }
}
