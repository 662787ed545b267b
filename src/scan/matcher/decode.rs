//! Decoding where it can pay (issue 13): the prefilter's hits on the base64 forms of rule
//! keywords and on escaped key-id starts, and rule keywords on lines holding escapes, lead to
//! a bounded decoding that the matcher searches again; what it finds there is reported at the
//! encoded text, naming the decodings in `encoding`, outermost first.
//!
//! Guarantees: each base64 run is decoded at most once per alignment (four times) and each line
//! at most once, so the work stays linear in the input; decoding nests at most [`MAX_DEPTH`]
//! deep; and every decoding depends only on the text within [`base64::MAX_BLOB`] or
//! [`MAX_LINE`] bytes of what it reports, which the chunked reader's overlap keeps whole, so
//! findings do not depend on chunk borders.

use crate::finding::Encoding;

use super::base64::{self, Decoded, Run};
use super::escape;
use super::runs::ByteWindow;
use super::{Matcher, Pass, RawMatch};

/// How many decodings may nest (a JWT in a base64 Secret value: two).
pub(super) const MAX_DEPTH: u8 = 2;
/// The longest JWT header walked over to its payload.
const MAX_JWT_HEADER: usize = 1024;
/// The longest line reach decoded for escapes, either side of its trigger: longer (minified)
/// lines are not decoded.
const MAX_LINE: usize = 8 * 1024;
/// The granularity of [`Decoding::escape_near`].
const ESCAPE_BLOCK: usize = 4 * 1024;

/// What a prefilter pattern stands for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target {
    /// A keyword of the rule at this index.
    Rule(usize),
    /// A base64 form of a keyword, this many characters after a group boundary.
    Base64(usize),
    /// An escaped start of a key id (`\u0041`, `&#65;` …).
    Escape,
    /// The start of a JWT header (`{"alg"` in base64url): its payload follows a `.`.
    Jwt,
}

/// The decoders' state over one haystack: the last base64 run seen (with its elements and the
/// alignments decoded), the last line decoded for escapes, and which blocks of the haystack
/// hold an escape at all (found on the first keyword hit).
pub(super) struct Decoding {
    run: Option<Run>,
    elements: Vec<(u8, usize)>,
    phases_done: u8,
    lines: ByteWindow,
    last_line: Option<usize>,
    escape_blocks: Option<Vec<bool>>,
}

impl Decoding {
    pub(super) fn new() -> Decoding {
        Decoding {
            run: None,
            elements: Vec::new(),
            phases_done: 0,
            lines: ByteWindow::new(b'\n'),
            last_line: None,
            escape_blocks: None,
        }
    }

    /// Whether an escape starts within [`MAX_LINE`] bytes of `at`, or maybe does (a block
    /// that holds one anywhere counts): when not, the line around `at` has none, and the
    /// common case (a keyword on a line without escapes) costs one lookup instead of a walk
    /// over the line. The haystack is read once for all its keywords.
    fn escape_near(&mut self, pass: &Pass<'_>, at: usize) -> bool {
        let hay = pass.hay;
        let blocks = self.escape_blocks.get_or_insert_with(|| {
            pass.spend(hay.len());
            escape::blocks(hay, ESCAPE_BLOCK)
        });
        let first = at.saturating_sub(MAX_LINE) / ESCAPE_BLOCK;
        let last = ((at + MAX_LINE) / ESCAPE_BLOCK).min(blocks.len().saturating_sub(1));
        blocks.get(first..=last).is_some_and(|b| b.contains(&true))
    }
}

impl Matcher {
    /// A base64 form of a keyword at `at`, `lead` characters after a group boundary: decodes
    /// its run at that alignment (once) and searches the decoded bytes.
    pub(super) fn decode_base64(
        &self,
        pass: &Pass<'_>,
        dec: &mut Decoding,
        at: usize,
        lead: usize,
        out: &mut Vec<RawMatch>,
    ) {
        if pass.depth >= MAX_DEPTH {
            return;
        }
        let same_run = dec.run.is_some_and(|r| r.start <= at && at < r.end);
        if !same_run {
            let (run, walked) = base64::run_through(pass.hay, at, dec.run);
            pass.spend(walked);
            dec.elements = base64::elements(pass.hay, run);
            pass.spend(run.end - run.start);
            dec.run = Some(run);
            dec.phases_done = 0;
        }
        let Some(skip) = base64::phase(&dec.elements, at, lead) else {
            return;
        };
        if dec.phases_done & (1 << skip) != 0 {
            return;
        }
        dec.phases_done |= 1 << skip;
        let decoded = base64::decode(&dec.elements, skip);
        pass.spend(decoded.bytes.len());
        self.match_decoded(pass, &decoded, 0, &[Encoding::Base64], out);
    }

    /// A JWT header at `at`: decodes the payload after it (the header and signature hold no
    /// keys) and searches it.
    pub(super) fn decode_jwt(
        &self,
        pass: &Pass<'_>,
        dec: &mut Decoding,
        at: usize,
        out: &mut Vec<RawMatch>,
    ) {
        let hay = pass.hay;
        let header = (hay[at..].iter().take(MAX_JWT_HEADER))
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            .count();
        pass.spend(header);
        if hay.get(at + header) == Some(&b'.') {
            self.decode_base64(pass, dec, at + header + 1, 0, out);
        }
    }

    /// A keyword or an escaped key-id start at `at`: if its line (at most [`MAX_LINE`] bytes
    /// either side) holds escapes, decodes the line (once) and searches it.
    pub(super) fn decode_escapes(
        &self,
        pass: &Pass<'_>,
        dec: &mut Decoding,
        at: usize,
        out: &mut Vec<RawMatch>,
    ) {
        if pass.depth >= MAX_DEPTH || !dec.escape_near(pass, at) {
            return;
        }
        let hay = pass.hay;
        let (floor, ceil) = (at.saturating_sub(MAX_LINE), (at + MAX_LINE).min(hay.len()));
        pass.spend(dec.lines.cover(hay, floor, ceil) + 1);
        let lo = match dec.lines.back(at, 0, floor) {
            Some(p) => p + 1,
            None if floor == 0 => 0,
            None => return,
        };
        let hi = match dec.lines.forward(at, 0, ceil) {
            Some(p) => p,
            None if ceil == hay.len() => ceil,
            None => return,
        };
        if dec.last_line == Some(lo) {
            return;
        }
        dec.last_line = Some(lo);
        pass.spend(hi - lo);
        if !escape::has_escape(&hay[lo..hi]) {
            return;
        }
        let (decoded, kinds) = escape::decode(&hay[lo..hi]);
        pass.spend(hi - lo);
        if !kinds.is_empty() {
            self.match_decoded(pass, &decoded, lo, &kinds, out);
        }
    }

    /// Searches decoded bytes one level deeper and reports what is found at the encoded text
    /// (`base` plus the origin of the value's first byte), its encoding `layers` first.
    fn match_decoded(
        &self,
        pass: &Pass<'_>,
        decoded: &Decoded,
        base: usize,
        layers: &[Encoding],
        out: &mut Vec<RawMatch>,
    ) {
        let mut inner = Vec::new();
        pass.spend_work(self.find_at(&decoded.bytes, pass.depth + 1, &mut inner));
        for m in inner {
            let mut encoding = layers.to_vec();
            encoding.extend_from_slice(&m.encoding);
            out.push(RawMatch {
                start: base + decoded.origin[m.start],
                encoding,
                ..m
            });
        }
    }
}

/// The decoders' prefilter patterns, each with its [`Target`]: the base64 forms of
/// `base64_keywords` at the three alignments, the escape and JWT triggers as they are, and
/// each JWT trigger's base64 form at alignment 0 only (a JWT that is a whole base64 value, as
/// a Kubernetes Secret holds it: its run is decoded, and the JWT in it is decoded in turn).
pub(super) fn patterns(
    base64_keywords: &[String],
    escape_triggers: &[String],
    jwt_triggers: &[String],
) -> Vec<(Vec<u8>, Target)> {
    let mut out: Vec<(Vec<u8>, Target)> = Vec::new();
    for k in base64_keywords {
        for (lit, lead) in base64::literals(k.as_bytes()) {
            if !out.iter().any(|(l, _)| *l == lit) {
                out.push((lit, Target::Base64(lead)));
            }
        }
    }
    out.extend(
        escape_triggers
            .iter()
            .map(|t| (t.as_bytes().to_vec(), Target::Escape)),
    );
    out.extend(
        jwt_triggers
            .iter()
            .map(|t| (t.as_bytes().to_vec(), Target::Jwt)),
    );
    for t in jwt_triggers {
        let at_start = base64::literals(t.as_bytes()).into_iter();
        out.extend(
            at_start
                .filter(|&(_, lead)| lead == 0)
                .map(|(lit, _)| (lit, Target::Base64(0))),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefilter stays within Teddy's slim mode (at most 32 patterns) with a 4-byte
    /// fingerprint (no pattern shorter than 4 bytes): see the budget in `builtin.toml`.
    #[test]
    fn prefilter_budget() {
        let m = Matcher::builtin().unwrap();
        assert!(
            m.ac.patterns_len() <= 32,
            "{} patterns",
            m.ac.patterns_len()
        );
        assert!(m.ac.min_pattern_len() >= 4, "{}", m.ac.min_pattern_len());
    }

    #[test]
    fn jwt_triggers_add_their_start_in_base64() {
        let jwt = ["eyJhbGci".to_string()];
        let got = patterns(&[], &[], &jwt);
        let lits: Vec<&[u8]> = got.iter().map(|(l, _)| l.as_slice()).collect();
        assert_eq!(lits, [&b"eyJhbGci"[..], b"ZXlKaGJHY2"]);
        assert!(matches!(got[1].1, Target::Base64(0)));
    }
}
