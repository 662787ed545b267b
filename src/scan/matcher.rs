//! Prefilter, then confirm: one Aho-Corasick automaton over every rule's keywords finds the
//! places worth a look; each rule then confirms its value there (noseyparker's split). The
//! matcher is a plain struct: it sees bytes and returns [`RawMatch`]es, nothing else.

use std::cell::{Cell, OnceCell};
use std::fmt;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};

use crate::finding::{Encoding, Kind};
use crate::rules::{Alphabet, DecoderKind, Evidence, IgnoreSpec, Rule, RuleSet, RulesError};

mod base64;
mod decode;
mod escape;
mod pair;
mod runs;
mod split;

use decode::{Decoding, Target};
use runs::{continues_run, is_run_byte, ByteWindow, PemMarks};

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
    /// The decodings of the text the value was found in, outermost first (empty: plain
    /// text); `start` is then where the value's encoded form starts.
    pub encoding: Vec<Encoding>,
}

/// The compiled prefilter and the rules it serves.
#[derive(Debug)]
pub struct Matcher {
    rules: RuleSet,
    ac: AhoCorasick,
    targets: Vec<Target>,
    joins: split::Joins,
}

/// A region that may hold a value of a context rule: (rule, found only through a nearby key
/// id, from, to).
type Region = (usize, bool, usize, usize);

/// One call of [`Matcher::find`]: the haystack, the work done so far and the PEM markers
/// (found on first use: most haystacks have no candidate).
struct Pass<'h> {
    hay: &'h [u8],
    /// How many decodings lie between the scanned text and this haystack.
    depth: u8,
    work: Cell<u64>,
    pem: OnceCell<PemMarks>,
}

impl Pass<'_> {
    /// Counts `n` bytes examined: a slice handed to memchr or a regex, or walked byte by byte.
    #[inline]
    fn spend(&self, n: usize) {
        self.work.set(self.work.get() + n as u64);
    }

    /// Counts the work of a search of decoded bytes.
    fn spend_work(&self, w: u64) {
        self.work.set(self.work.get() + w);
    }

    /// Whether `at` lies between a `-----BEGIN ` (at most [`PEM_LOOKBACK`] bytes back) and its
    /// `-----END ` line.
    fn in_pem_block(&self, at: usize) -> bool {
        self.pem
            .get_or_init(|| {
                self.spend(2 * self.hay.len());
                PemMarks::new(self.hay)
            })
            .covers(at, PEM_LOOKBACK)
    }

    /// Whether `rule` accepts `value`.
    fn accepts(&self, rule: &Rule, value: &[u8], ignore: &IgnoreSpec) -> bool {
        self.spend(value.len());
        rule.accepts(value, ignore)
    }
}

impl Matcher {
    /// Builds the matcher over a rule set.
    pub fn new(rules: RuleSet) -> Result<Matcher, RulesError> {
        let mut keywords = Vec::new();
        let mut targets = Vec::new();
        for (i, rule) in rules.rules.iter().enumerate() {
            for k in &rule.spec.keywords {
                keywords.push(k.as_bytes().to_vec());
                targets.push(Target::Rule(i));
            }
        }
        let of_kind = |kind| {
            (rules.decoders.iter())
                .filter(|d| d.id == kind)
                .flat_map(|d| d.keywords.iter().cloned())
                .collect::<Vec<String>>()
        };
        for (lit, target) in decode::patterns(
            &of_kind(DecoderKind::Base64),
            &of_kind(DecoderKind::Escape),
            &of_kind(DecoderKind::Jwt),
        ) {
            keywords.push(lit);
            targets.push(target);
        }
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&keywords)
            .map_err(|e| RulesError::Invalid {
                id: "(keywords)".into(),
                message: e.to_string(),
            })?;
        let joins = split::Joins::new(&rules.decoders);
        Ok(Matcher {
            rules,
            ac,
            targets,
            joins,
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
    ///
    /// Linear time: every step examines a stretch bounded by a constant of this module
    /// ([`CONTEXT_WINDOW`], [`REGION_CAP`], [`MAX_VALUE_LEN`]) and runs are walked once per
    /// region, so a long line of key-alphabet characters costs no more per byte than short
    /// lines do (issue 14; [`Matcher::find_counting`] measures it).
    pub fn find(&self, hay: &[u8], out: &mut Vec<RawMatch>) {
        self.find_counting(hay, out);
    }

    /// [`Matcher::find`], returning the work done: the bytes examined, counted per slice given
    /// to a scan (the prefilter, memchr, a regex, a walk over a run), an upper bound of the
    /// real work. For the tests that prove the matcher linear without timing it.
    #[doc(hidden)]
    pub fn find_counting(&self, hay: &[u8], out: &mut Vec<RawMatch>) -> u64 {
        self.find_at(hay, 0, out)
    }

    /// [`Matcher::find_counting`] on a haystack `depth` decodings deep.
    fn find_at(&self, hay: &[u8], depth: u8, out: &mut Vec<RawMatch>) -> u64 {
        let pass = Pass {
            hay,
            depth,
            work: Cell::new(0),
            pem: OnceCell::new(),
        };
        let first = out.len();
        let mut regions: Vec<Region> = Vec::new();
        let key_ids = self.keywords(&pass, &mut regions, out);
        self.key_id_regions(&pass, &key_ids, &mut regions);
        self.search_regions(&pass, regions, out);
        self.sort_dedup(first, out);
        pass.work.get()
    }

    /// The prefilter pass: confirms self-evident values (appended to `out`) and notes the
    /// regions named by context keywords. Returns where the access key ids found start.
    fn keywords(
        &self,
        pass: &Pass<'_>,
        regions: &mut Vec<Region>,
        out: &mut Vec<RawMatch>,
    ) -> Vec<usize> {
        let hay = pass.hay;
        pass.spend(hay.len());
        let mut key_ids = Vec::new();
        let mut dec = Decoding::new();
        let mut pos = 0;
        while let Some(m) = self.ac.find(Input::new(hay).range(pos..)) {
            let rule_index = match self.targets[m.pattern().as_usize()] {
                Target::Rule(i) => i,
                // A decoder's hit overlapping a keyword must not hide it: the search goes on
                // from the next byte.
                Target::Base64(lead) => {
                    self.decode_base64(pass, &mut dec, m.start(), lead, out);
                    pos = m.start() + 1;
                    continue;
                }
                Target::Escape => {
                    self.decode_escapes(pass, &mut dec, m.start(), out);
                    pos = m.start() + 1;
                    continue;
                }
                Target::Jwt => {
                    self.decode_jwt(pass, &mut dec, m.start(), out);
                    pos = m.start() + 1;
                    continue;
                }
            };
            pos = m.end();
            self.decode_escapes(pass, &mut dec, m.start(), out);
            let rule = &self.rules.rules[rule_index];
            match rule.spec.evidence {
                Evidence::SelfEvident => {
                    // A value split into literals is judged joined (split.rs).
                    let found = match self.confirm_joined(pass, rule_index, m.start()) {
                        Some((found, _)) => found,
                        None => self.confirm_self(pass, rule_index, m.start()),
                    };
                    if let Some(found) = found {
                        if rule.spec.kind == Kind::AccessKeyId {
                            key_ids.push(found.start);
                        }
                        out.push(found);
                    }
                }
                Evidence::Context => self.named_regions(pass, rule_index, m.start(), regions),
            }
        }
        key_ids
    }

    /// The regions of a name over the keyword at `at`, if the rule's context names its value
    /// there: the rest of the name's line and the next line, and the values paired with the
    /// name in its object on other lines ([`pair::paired`]).
    fn named_regions(
        &self,
        pass: &Pass<'_>,
        rule_index: usize,
        at: usize,
        regions: &mut Vec<Region>,
    ) {
        let hay = pass.hay;
        let Some((name, line)) = context_name(pass, &self.rules.rules[rule_index], at) else {
            return;
        };
        let cap = (at + REGION_CAP).min(hay.len());
        regions.push((rule_index, false, name.1, cap));
        let mut found = Vec::new();
        let bounds = (at.saturating_sub(REGION_CAP), cap);
        pass.spend(pair::paired(hay, name, line, bounds, &mut found));
        regions.extend(
            found
                .into_iter()
                .map(|(lo, hi)| (rule_index, false, lo, hi)),
        );
    }

    /// The neighbourhood of each key id, for each rule that takes a nearby key id as evidence:
    /// `near_key_id_lines` lines either way, at most [`REGION_CAP`] bytes, narrowed to its
    /// object on a line with braces. Key ids come in order of position: the newlines and
    /// braces around them are found by windows sliding over the haystack once.
    fn key_id_regions(&self, pass: &Pass<'_>, key_ids: &[usize], regions: &mut Vec<Region>) {
        let hay = pass.hay;
        let near: Vec<(usize, usize)> = (self.rules.rules.iter().enumerate())
            .filter(|(_, r)| r.spec.evidence == Evidence::Context && r.spec.near_key_id_lines > 0)
            .map(|(i, r)| (i, r.spec.near_key_id_lines))
            .collect();
        if near.is_empty() {
            return;
        }
        let mut windows = [b'\n', b'{', b'}'].map(ByteWindow::new);
        for &k in key_ids {
            let (floor, ceil) = (k.saturating_sub(REGION_CAP), hay.len().min(k + REGION_CAP));
            for w in &mut windows {
                pass.spend(w.cover(hay, floor, ceil) + 1);
            }
            let [newlines, open, close] = &windows;
            for &(rule, n) in &near {
                let lo = newlines.back(k, n, floor).map_or(floor, |p| p + 1);
                let hi = newlines.forward(k, n, ceil).unwrap_or(ceil);
                // The innermost `{…}` around the key id on its own line, if that line has
                // braces: on a minified JSON line (a one-line dict, an HCL block), values of
                // the other objects are not the key id's parts.
                let line_lo = newlines.back(k, 0, lo).map_or(lo, |p| p + 1);
                let line_hi = newlines.forward(k, 0, hi).unwrap_or(hi);
                let lo = open.back(k, 0, line_lo).unwrap_or(lo);
                let hi = close.forward(k, 0, line_hi).unwrap_or(hi);
                regions.push((rule, true, lo, hi));
            }
        }
    }

    /// Searches each region once: the key-id regions of a rule are merged where they overlap
    /// (a name's region holds one value, so those are not).
    fn search_regions(&self, pass: &Pass<'_>, mut regions: Vec<Region>, out: &mut Vec<RawMatch>) {
        regions.sort_unstable();
        let mut merged: Vec<Region> = Vec::new();
        for r in regions {
            match merged.last_mut() {
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
            self.search_region(pass, rule_index, lo, hi, mode, out);
        }
    }

    /// Sorts the matches appended after `first` by position and drops a second value of the
    /// same kind at the same place (two rules finding one token).
    fn sort_dedup(&self, first: usize, out: &mut Vec<RawMatch>) {
        let found = &mut out[first..];
        // Plain text first: a value found both plainly and in decoded text is plain.
        found.sort_by_key(|m| {
            let kind = self.rules.rules[m.rule].spec.kind;
            (m.start, kind, m.encoding.len(), m.rule)
        });
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

    /// The value a self-evident keyword at `at` starts, if its rule accepts it. A keyword that
    /// continues a run before it is inside a longer string: looked at no further.
    fn confirm_self(&self, pass: &Pass<'_>, rule_index: usize, at: usize) -> Option<RawMatch> {
        let hay = pass.hay;
        let rule = &self.rules.rules[rule_index];
        let alphabet = rule.spec.alphabet;
        pass.spend(3);
        if continues_run(hay, at, alphabet) {
            return None;
        }
        // The value holds at most MAX_VALUE_LEN + 1 bytes (a longer run is cut there), for
        // base64 counted from the `%XX` or `\n` escape before it if there is one.
        let value = match alphabet {
            Alphabet::Word => {
                let end = hay[at..]
                    .iter()
                    .take(MAX_VALUE_LEN + 1)
                    .position(|&b| !alphabet.contains(b))
                    .map_or((at + MAX_VALUE_LEN + 1).min(hay.len()), |p| at + p);
                hay[at..end].to_vec()
            }
            Alphabet::Base64 => runs::decode(
                hay,
                at,
                MAX_VALUE_LEN + 1 - (at - runs::run_start(hay, at, 2)),
            ),
        };
        pass.spend(value.len());
        if !pass.accepts(rule, &value, &self.rules.ignore) || pass.in_pem_block(at) {
            return None;
        }
        Some(RawMatch {
            rule: rule_index,
            start: at,
            value: SecretBytes(value),
            encoding: Vec::new(),
        })
    }

    /// Searches `hay[lo..hi]` for values of a context rule (see [`Evidenced`]). Each run is
    /// walked once: a run longer than [`MAX_VALUE_LEN`] is no value and is stepped over to
    /// its end or to `hi`, whichever comes first.
    fn search_region(
        &self,
        pass: &Pass<'_>,
        rule_index: usize,
        lo: usize,
        hi: usize,
        mode: Evidenced<'_>,
        out: &mut Vec<RawMatch>,
    ) {
        let hay = pass.hay;
        let rule = &self.rules.rules[rule_index];
        let (first_only, requires) = match mode {
            Evidenced::Named => (true, None),
            Evidenced::NearKeyId(requires) => (false, requires),
        };
        let mut i = lo;
        let mut on_next_line = false;
        while i < hi {
            if first_only && matches!(hay[i], 0 | b'}') {
                // A NUL ends a field (environ entries, C strings), a `}` the name's object:
                // the name's value is not beyond it.
                return;
            }
            if first_only && split::empty_literal(hay, i) {
                // `""`: the name's value is empty.
                return;
            }
            if first_only && hay[i] == b'\n' {
                if on_next_line {
                    return;
                }
                on_next_line = true;
                i += 1;
                continue;
            }
            if !is_run_byte(hay, i) {
                i += 1;
                continue;
            }
            // Only the region's first run can start before `i` (any later one follows a byte
            // that is no run byte): the walk back stops at once for those.
            let start = runs::run_start(hay, i, MAX_VALUE_LEN);
            let run = runs::run_extent(hay, start, hi);
            pass.spend(i - start + run.end - start);
            i = run.end.max(i + 1);
            if first_only && start < lo {
                // The run goes on back into the name (`awsUsecret/30IK…`): a value does not
                // hold its own name, and the name's value is this run or nothing.
                return;
            }
            if first_only && self.named_jwt(pass, rule_index, start, out) {
                return;
            }
            let value = if run.long {
                None
            } else {
                Some(runs::decode(hay, start, MAX_VALUE_LEN))
            };
            // A value split into literals is judged joined (split.rs).
            let joined = (value.as_ref())
                .and_then(|_| self.push_joined(pass, rule_index, start, run.end, requires, out));
            if let Some(last) = joined {
                i = i.max(last);
                if first_only {
                    return;
                }
                continue;
            }
            if first_only && value.as_ref().is_some_and(|v| v.len() < MIN_VALUE_RUN) {
                if on_next_line {
                    // The next line starts with something else (`OTHER_NAME=`): the name's
                    // value, if any, was on its own line.
                    return;
                }
                continue;
            }
            let line_ok = || line_matches(pass, start, requires);
            let found =
                value.and_then(|v| self.value_or_decoded(pass, rule, v, first_only, run.end));
            if let Some((value, encoding)) = found {
                if !pass.in_pem_block(start) && line_ok() {
                    out.push(RawMatch {
                        rule: rule_index,
                        start,
                        value: SecretBytes(value),
                        encoding,
                    });
                }
            }
            if first_only {
                return;
            }
        }
    }
}

impl Matcher {
    /// A JWT at `start` named by a rule that accepts JWTs (a session token's name: S3-compatible
    /// stores issue them), appended to `out`; whether one was.
    fn named_jwt(
        &self,
        pass: &Pass<'_>,
        rule_index: usize,
        start: usize,
        out: &mut Vec<RawMatch>,
    ) -> bool {
        let hay = pass.hay;
        let rule = &self.rules.rules[rule_index];
        let Some(end) = pair::jwt_end(hay, start, MAX_VALUE_LEN) else {
            return false;
        };
        pass.spend(end - start);
        let value = &hay[start..end];
        if !pass.accepts(rule, value, &self.rules.ignore) || pass.in_pem_block(start) {
            return false;
        }
        out.push(RawMatch {
            rule: rule_index,
            start,
            value: SecretBytes(value.to_vec()),
            encoding: Vec::new(),
        });
        true
    }

    /// `value` if `rule` accepts it; else, for a named value (`named`), the value read as
    /// base64 if the rule accepts that (a Kubernetes Secret's `data:`), with its encoding.
    fn value_or_decoded(
        &self,
        pass: &Pass<'_>,
        rule: &Rule,
        value: Vec<u8>,
        named: bool,
        end: usize,
    ) -> Option<(Vec<u8>, Vec<Encoding>)> {
        if pass.accepts(rule, &value, &self.rules.ignore) {
            return Some((value, Vec::new()));
        }
        if !named || pass.depth >= decode::MAX_DEPTH {
            return None;
        }
        pass.spend(value.len());
        (base64::decode_value(pass.hay, end, &value))
            .filter(|d| pass.accepts(rule, d, &self.rules.ignore))
            .map(|d| (d, vec![Encoding::Base64]))
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

/// A name of the rule's value over the keyword at `at` (the context regex matches over the
/// keyword, not merely somewhere on its line; or the weak one with its requirement above; or
/// the bare label with its requirement within `bare_lines` lines either side): the name's
/// span, widened to the whole identifier (`AwsSecretAccessKey`), and its line's bounds (at most
/// [`CONTEXT_WINDOW`] either way). `search_region` takes the value after the name: the first
/// run of [`MIN_VALUE_RUN`] or more characters on the rest of the line, or the first run of
/// the next line (YAML block scalars, continuation lines), and stops at a NUL or a `}`.
fn context_name(
    pass: &Pass<'_>,
    rule: &Rule,
    at: usize,
) -> Option<((usize, usize), (usize, usize))> {
    let hay = pass.hay;
    let from = at.saturating_sub(CONTEXT_WINDOW);
    let to = (at + CONTEXT_WINDOW).min(hay.len());
    let lo = memchr::memrchr(b'\n', &hay[from..at]).map_or(from, |p| from + p + 1);
    let hi = memchr::memchr(b'\n', &hay[at..to]).map_or(to, |p| at + p);
    pass.spend(to - from);
    // The match of `re` in `hay[a..b]` that covers `at`: the name over the keyword.
    let name_over = |re: &regex::bytes::Regex, a: usize, b: usize| {
        pass.spend(b - a);
        re.find_iter(&hay[a..b])
            .take_while(|m| a + m.start() <= at)
            .find(|m| at < a + m.end())
            .map(|m| (a + m.start(), a + m.end()))
    };
    let name_over_keyword = |re: &regex::bytes::Regex| name_over(re, lo, hi);
    let floor = at.saturating_sub(REGION_CAP);
    let near = |re: &Option<regex::bytes::Regex>, above: usize, below: usize| {
        pass.spend(below - above);
        re.as_ref()
            .is_some_and(|req| req.is_match(&hay[above..below]))
    };
    let (s, e) = rule
        .context
        .as_ref()
        .and_then(name_over_keyword)
        .or_else(|| {
            let name = rule.weak_context.as_ref().and_then(name_over_keyword)?;
            let above = lines_back(pass, at, rule.spec.weak_lookback_lines, floor);
            near(&rule.weak_requires, above, hi).then_some(name)
        })
        .or_else(|| {
            let re = rule.bare_context.as_ref()?;
            // Bare words abound in code (`let token = …`, `token: Token`), and a regex search
            // costs about 2,000 instructions however short its window: the label's
            // separator is looked for first, and the label near its keyword only. (A label
            // anchored at the line's start is still seen as one: `lo` is kept when near.)
            if !separator_follows(hay, at, hi) {
                return None;
            }
            let (near_lo, near_hi) = (
                at.saturating_sub(BARE_REACH).max(lo),
                (at + BARE_REACH).min(hi),
            );
            let name = name_over(re, near_lo, near_hi)?;
            // The lines around it are searched for the AWS words only when a value could
            // follow it.
            if !run_follows(pass, name.1) {
                return None;
            }
            let n = rule.spec.bare_lines;
            let above = lines_back(pass, at, n, floor);
            let below = lines_forward(pass, at, n, (at + REGION_CAP).min(hay.len()));
            near(&rule.bare_requires, above, below).then_some(name)
        })?;
    Some((pair::name_span(hay, s, e, lo, hi), (lo, hi)))
}

/// Whether the word through `at` is followed, after an optional quote and blanks, by `=` or
/// `:` before `hi`: what a bare label (`bare_context`, `secret:`, `token =`) ends with. A `::`
/// is a path (`token::Paren`), never a label's end.
fn separator_follows(hay: &[u8], at: usize, hi: usize) -> bool {
    let mut i = at;
    while i < hi && (hay[i].is_ascii_alphanumeric() || hay[i] == b'_') {
        i += 1;
    }
    if i < hi && matches!(hay[i], b'"' | b'\'' | b'`') {
        i += 1;
    }
    while i < hi && matches!(hay[i], b' ' | b'\t') {
        i += 1;
    }
    match hay.get(i..hi.min(i + 2)) {
        Some([b':', b':', ..]) => false,
        Some([b'=' | b':', ..]) => true,
        _ => false,
    }
}

/// How far either side of its keyword a bare label is looked for.
const BARE_REACH: usize = 32;
/// How far past a bare label [`run_follows`] looks for its value.
const BARE_VALUE_REACH: usize = 256;

/// Whether a run of [`MIN_VALUE_RUN`] base64 characters starts within [`BARE_VALUE_REACH`]
/// bytes after `at`, on its line or the next: a bare label's value could follow.
fn run_follows(pass: &Pass<'_>, at: usize) -> bool {
    let hay = pass.hay;
    let end = (at + BARE_VALUE_REACH).min(hay.len());
    pass.spend(end - at);
    let (mut run, mut breaks) = (0, 0);
    for &b in &hay[at..end] {
        if Alphabet::Base64.contains(b) {
            run += 1;
            if run >= MIN_VALUE_RUN {
                return true;
            }
        } else {
            run = 0;
            if b == b'\n' {
                breaks += 1;
                if breaks == 2 {
                    return false;
                }
            }
        }
    }
    false
}

/// End of the line `n` lines below the line holding `at`, or `ceil` if that lies beyond
/// `ceil`.
fn lines_forward(pass: &Pass<'_>, at: usize, n: usize, ceil: usize) -> usize {
    let mut pos = at;
    for _ in 0..=n {
        match memchr::memchr(b'\n', &pass.hay[pos..ceil]) {
            Some(p) => pos = pos + p + 1,
            None => {
                pass.spend(ceil - at);
                return ceil;
            }
        }
    }
    pass.spend(pos - at);
    pos - 1
}

/// Whether the line up to `start` matches `requires`, if there is such a requirement (a
/// value found only through a nearby key id).
fn line_matches(pass: &Pass<'_>, start: usize, requires: Option<&regex::bytes::Regex>) -> bool {
    requires.is_none_or(|re| {
        let hay = pass.hay;
        let from = start.saturating_sub(CONTEXT_WINDOW);
        pass.spend(2 * (start - from));
        let ls = memchr::memrchr(b'\n', &hay[from..start]).map_or(from, |p| from + p + 1);
        re.is_match(&hay[ls..start])
    })
}

/// Start of the line `n` lines above the line holding `at`, or `floor` if that lies before
/// `floor` (no newline before `floor` is looked at).
fn lines_back(pass: &Pass<'_>, at: usize, n: usize, floor: usize) -> usize {
    let mut pos = at;
    for _ in 0..=n {
        match memchr::memrchr(b'\n', &pass.hay[floor..pos]) {
            Some(p) => pos = floor + p,
            None => {
                pass.spend(at - floor);
                return floor;
            }
        }
    }
    pass.spend(at - pos);
    pos + 1
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

    /// The rule file's decoder examples: each yields a finding through its decoder (the
    /// outermost decoding is its kind); no negative example yields any finding.
    #[test]
    fn decoder_examples() {
        let m = matcher();
        for d in &m.rules().decoders {
            let through = |e: &Encoding| match d.id {
                DecoderKind::Base64 | DecoderKind::Jwt => *e == Encoding::Base64,
                DecoderKind::Concat => *e == Encoding::Concat,
                DecoderKind::Escape => *e != Encoding::Base64,
            };
            for ex in &d.examples {
                let mut out = Vec::new();
                m.find(ex.as_bytes(), &mut out);
                assert!(
                    out.iter().any(|r| r.encoding.first().is_some_and(through)),
                    "decoder {:?} misses its example {ex:?}: {out:?}",
                    d.id
                );
                for r in &out {
                    assert!(r.start < ex.len());
                }
            }
            for ex in &d.negative_examples {
                let mut out = Vec::new();
                m.find(ex.as_bytes(), &mut out);
                assert!(
                    out.is_empty(),
                    "decoder {:?} finds in {ex:?}: {out:?}",
                    d.id
                );
            }
        }
        // Every prefilter literal is long enough for the packed searcher.
        assert!(
            m.ac.patterns_len() <= 64,
            "{} patterns",
            m.ac.patterns_len()
        );
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

    /// The long fuzz run's decode crash-2b2a…: a 40-character run holding the name that
    /// announces it (`awsUsecret…`) was reported as the name's value at the start of a line,
    /// and not once the line was JSON-escaped behind `v="`.
    #[test]
    fn a_value_does_not_hold_its_own_name() {
        let m = matcher();
        for text in [
            "awsUsecret/30IKIASEQV2SVEMWXAMPLEFRRRM75\"\"sglfws\n",
            "v=\"awsUsecret/30IKIASEQV2SVEMWXAMPLEFRRRM75\"\"sglfws\"\n",
            "AWSSECRETV+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQ\n",
        ] {
            assert!(ids_in(&m, text).is_empty(), "{text}");
        }
        let named = "awsSecret=V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw\n";
        assert_eq!(ids_in(&m, named).len(), 1);
    }

    /// The long run's userdata crash-a4bb…: a `-` ending a line, followed by a blank past the
    /// line's end, made the pairing's line layout slice backwards (a panic on file content).
    /// Its input finds nothing; the layout around a real pair still pairs.
    #[test]
    fn a_dash_ending_a_line_is_no_list_dash() {
        let m = matcher();
        let raw = include_bytes!(
            "../../fuzz/artifacts/userdata/crash-a4bb18e4e3c107e03b93b76f97fa43d4c288ca10"
        );
        let text = crate::imds::userdata::decode(raw[2..].to_vec(), 1 << 20).unwrap_or_default();
        assert!(ids_in(&m, &String::from_utf8_lossy(&text)).is_empty());
        let mut out = Vec::new();
        m.find(&text, &mut out);
        assert!(out.is_empty(), "{} found in the artifact", out.len());
        // The same layout where a finding is due: a dash alone on the line between the name
        // and its value, the next line's blanks right after it.
        let secret = "V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw";
        for text in [
            format!("env:\n  - name: AWS_SECRET_ACCESS_KEY\n    -\n    value: {secret}\n"),
            format!("env:\n  - name: AWS_SECRET_ACCESS_KEY\n    value: {secret}\n    -\n  "),
        ] {
            let found = ids_in(&m, &text);
            assert_eq!(found.len(), 1, "{text:?}");
            assert_eq!(found[0].1, secret.as_bytes());
        }
    }

    /// The long run's decode crash-57f3…, a property of the fuzz target's wrapper (its quotes
    /// make adjacent pieces of what was bare text): a key id followed by an empty literal is
    /// one, two adjacent literals join to no key id.
    #[test]
    fn quotes_around_pieces_decide_how_they_join() {
        let m = matcher();
        assert_eq!(ids_in(&m, "AKIASXQV2SVNMFRRRRM7\"\"X\n").len(), 1);
        assert!(ids_in(&m, "v=\"AKIASXQV2SVNMFRRRRM7\"\"X\"\n").is_empty());
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = SecretBytes(b"V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw".to_vec());
        let d = format!("{s:?}");
        assert!(!d.contains("X9XfPTT4"), "{d}");
    }
}
