//! Look-alikes (issue 13): values of a key's shape that are no key. Three pure rules, each
//! named in `builtin.toml` and fed by the `[ignore]` table's data:
//!
//! - [`derives_from`]: a documentation example with another ending (one rule for key ids,
//!   secrets and tokens alike);
//! - [`marked`]: a marker word (`TEST`, `FAKE`, …) or a masking run (`XXXX`) inside the value;
//! - [`Lexicon::ratio`]: how short a description of the value words, repeats and sequences
//!   give, against the bits of a random value of its length (the floor below which a value is a
//!   placeholder written in words, or a low-entropy pattern such as `DEADBEEFDEADBEEF`).
//!
//! Random keys are what these rules must never drop: `tests` measures the false-drop rate on
//! 100,000 random key ids and secrets drawn from the real alphabets with a fixed seed.

use std::sync::OnceLock;

/// The dictionary: the lower-case words of 4 to 14 letters of SCOWL's lists up to size 35
/// (public-domain sources; the file's header carries the licence notice and how it was made).
const WORDS: &str = include_str!("words.txt");

/// The shortest word looked up: a two-letter word costs no fewer bits than its letters.
const MIN_WORD: usize = 3;
/// The longest word looked up (the dictionary's longest).
const MAX_WORD: usize = 14;
/// The longest value the floor measures: key ids and secrets, not tokens (whose structured
/// heads, `IQoJb3JpZ2lu…`, are no sign of a placeholder); longer values pass.
pub(crate) const MAX_FLOOR_LEN: usize = 64;
/// Bits that say which kind of piece (a word, a run, a sequence, a copy) comes next.
const FLAG_BITS: f64 = 1.0;
/// Bits of a word's case form where the alphabet has both cases: lower, UPPER or Capitalized.
const CASE_BITS: f64 = 1.584_962_500_721_156; // log2(3)

/// A key id's body: `value` without the first of `prefixes` it starts with (the whole value
/// when it starts with none).
pub(crate) fn body<'v>(value: &'v [u8], prefixes: &[String]) -> &'v [u8] {
    (prefixes.iter())
        .find_map(|p| value.strip_prefix(p.as_bytes()))
        .unwrap_or(value)
}

/// The stem of a documented example: its body (see [`body`]) up to its `EXAMPLE` marker.
/// Only examples of a key id's or a secret's length (20 to 40 characters) have one: a session
/// token's head is structure that every real token shares (`IQoJb3JpZ2lu`, `AQoDYXdz`), and
/// `AKIDEXAMPLE` is a signing-test id of another shape.
fn stem<'e>(example: &'e [u8], prefixes: &[String]) -> Option<&'e [u8]> {
    if !(20..=40).contains(&example.len()) {
        return None;
    }
    let b = body(example, prefixes);
    let end = memchr::memmem::find(b, b"EXAMPLE").unwrap_or(b.len());
    Some(&b[..end]).filter(|s| !s.is_empty())
}

/// Whether `value` derives from one of the `documented` examples: its body (its key-id prefix
/// set aside, so `ASIA…` derives from `AKIA…`) holds the first `min` characters of an
/// example's stem anywhere. The documented body with another ending (or moved), one rule for
/// a key id (`AKIAIOSFODNN7…`) and a secret (`wJalrXUtnFEMI/K7…`) alike. `min` = 0 turns the
/// rule off.
///
/// A random key id holds a given 8 characters with odds of about 13 in 32^8 (a secret: 33 in
/// 64^8, a 4 KiB token 4,000 in 64^8). Stems shorter than `min` are not used: `J2E4` (of
/// `AKIAJ2E4EXAMPLEKEYID`) begins one random key id in 32^4, a million times the odds of the
/// others, so its derivatives are dropped only while they carry a marker.
pub(crate) fn derives_from(
    value: &[u8],
    documented: &[String],
    prefixes: &[String],
    min: usize,
) -> bool {
    if min == 0 {
        return false;
    }
    let b = body(value, prefixes);
    (documented.iter())
        .filter_map(|d| stem(d.as_bytes(), prefixes))
        .filter_map(|s| s.get(..min))
        .any(|head| memchr::memmem::find(b, head).is_some())
}

/// Whether a marker word or a masking run is inside `value`: one of `markers` in upper case,
/// lower case or capitalized (`SAMPLE`, `sample`, `Sample`), or one of `masks` as written
/// (`XXXXXX`).
pub(crate) fn marked(value: &[u8], markers: &[String], masks: &[String]) -> bool {
    let has = |needle: &[u8]| memchr::memmem::find(value, needle).is_some();
    masks.iter().any(|m| has(m.as_bytes()))
        || markers.iter().any(|m| {
            let upper = m.to_ascii_uppercase().into_bytes();
            let mut lower = m.to_ascii_lowercase().into_bytes();
            if has(&upper) || has(&lower) {
                return true;
            }
            if let Some(first) = lower.first_mut() {
                first.make_ascii_uppercase();
            }
            has(&lower)
        })
}

/// The embedded dictionary, parsed and sorted on first use (bytewise, for prefix search).
fn dictionary() -> &'static [&'static [u8]] {
    static DICT: OnceLock<Vec<&'static [u8]>> = OnceLock::new();
    DICT.get_or_init(|| {
        let mut words: Vec<&[u8]> = (WORDS.lines())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::as_bytes)
            .collect();
        words.sort_unstable();
        words.dedup();
        words
    })
}

/// Where `prefix` stands in the sorted `words`: whether some word starts with it, and whether
/// one is it.
fn lookup<T>(words: &[T], word: impl Fn(&T) -> &[u8], prefix: &[u8]) -> (bool, Option<usize>) {
    let at = words.partition_point(|w| word(w) < prefix);
    match words.get(at).map(&word) {
        Some(w) if w == prefix => (true, Some(at)),
        Some(w) => (w.starts_with(prefix), None),
        None => (false, None),
    }
}

/// The words a description may use: the rule file's `vocabulary` (placeholder words, cheapest
/// first) and the embedded dictionary.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lexicon {
    /// Lower-case vocabulary words, sorted, with their bits (log2 of rank + 2).
    vocabulary: Vec<(Vec<u8>, f64)>,
}

impl Lexicon {
    /// A lexicon over `vocabulary`, in order: the first word is the cheapest (words shorter
    /// than 3 letters are never looked up, and take no rank).
    pub(crate) fn new(vocabulary: &[String]) -> Lexicon {
        let mut words: Vec<(Vec<u8>, f64)> = Vec::new();
        for w in vocabulary.iter().filter(|w| w.len() >= MIN_WORD) {
            let w = w.to_ascii_lowercase().into_bytes();
            if !words.iter().any(|(known, _)| *known == w) {
                let bits = ((words.len() + 2) as f64).log2();
                words.push((w, bits));
            }
        }
        words.sort_by(|a, b| a.0.cmp(&b.0));
        Lexicon { vocabulary: words }
    }

    /// Whether a word of the lexicon starts with `lower` (lower case), and the bits that name
    /// `lower` if it is a word.
    fn word_bits(&self, lower: &[u8]) -> (bool, Option<f64>) {
        let dict = dictionary();
        let (v_more, v_hit) = lookup(&self.vocabulary, |(w, _)| w.as_slice(), lower);
        let (d_more, d_hit) = lookup(dict, |w| *w, lower);
        let bits = match (v_hit, d_hit) {
            (Some(i), _) => Some(self.vocabulary[i].1),
            (None, Some(_)) => Some((dict.len() as f64).log2()),
            (None, None) => None,
        };
        (v_more || d_more, bits)
    }

    /// The shortest description of `value` in bits, over its length times the bits of one
    /// character of its alphabet (5 where it is all base32 upper case `A-Z2-7`, as a key id's
    /// body is; 6 otherwise): about 1 for a random value (never under 0.59 for 10 million
    /// random key-id bodies, 0.85 for 10 million secrets), under a half for a placeholder of words
    /// (`ThisIsMyAwsSecretKeyForTheProductionApp1`: 0.36) or a pattern
    /// (`DEADBEEFDEADBEEF`: 0.26). `None` for an empty value or one longer than
    /// [`MAX_FLOOR_LEN`] (not measured).
    ///
    /// The description is a sequence of pieces, each the cheapest that fits (a dynamic
    /// programme over the positions): a character (5 or 6 bits); a word of the lexicon in one
    /// case form (its bits, plus the form's where the alphabet has both cases); a run of the
    /// previous character, a sequence stepping by one from it (`ABCD`, `2345`), or a copy of
    /// earlier text (`DEADBEEF` again), each a few bits and the log of its length.
    pub(crate) fn ratio(&self, value: &[u8]) -> Option<f64> {
        let n = value.len();
        if n == 0 || n > MAX_FLOOR_LEN {
            return None;
        }
        let base32 = (value.iter()).all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(b));
        let (char_bits, case_bits) = if base32 { (5.0, 0.0) } else { (6.0, CASE_BITS) };
        let mut best = [f64::INFINITY; MAX_FLOOR_LEN + 1];
        best[0] = 0.0;
        for i in 0..n {
            let here = best[i];
            let mut relax = |end: usize, bits: f64| {
                if here + bits < best[end] {
                    best[end] = here + bits;
                }
            };
            relax(i + 1, char_bits);
            self.words_at(value, i, |len, bits| {
                relax(i + len, FLAG_BITS + case_bits + bits)
            });
            patterns_at(value, i, |len, bits| relax(i + len, FLAG_BITS + bits));
        }
        Some(best[n] / (n as f64 * char_bits))
    }

    /// Calls `found(length, bits)` for every word of the lexicon at `value[at..]` written in
    /// one case form (lower, UPPER or Capitalized).
    fn words_at(&self, value: &[u8], at: usize, mut found: impl FnMut(usize, f64)) {
        let rest = &value[at..];
        let upper_tail = rest.get(1).is_some_and(u8::is_ascii_uppercase);
        let mut lower = [0u8; MAX_WORD];
        for (k, &b) in rest.iter().take(MAX_WORD).enumerate() {
            let fits = match k {
                0 => b.is_ascii_alphabetic(),
                _ if upper_tail => b.is_ascii_uppercase(),
                _ => b.is_ascii_lowercase(),
            };
            if !fits {
                return;
            }
            lower[k] = b.to_ascii_lowercase();
            if k + 1 >= MIN_WORD {
                let (more, bits) = self.word_bits(&lower[..=k]);
                if let Some(bits) = bits {
                    found(k + 1, bits);
                }
                if !more {
                    return;
                }
            }
        }
    }
}

/// Calls `found(length, bits)` for the patterns that continue `value` at `at` from what comes
/// before: a run of the previous character (2 or more), a sequence stepping by +1 or -1 from it
/// (2 or more), a copy of earlier text (3 or more characters, overlapping allowed).
fn patterns_at(value: &[u8], at: usize, mut found: impl FnMut(usize, f64)) {
    let Some(&prev) = at.checked_sub(1).and_then(|p| value.get(p)) else {
        return;
    };
    let rest = &value[at..];
    let run = rest.iter().take_while(|&&b| b == prev).count();
    for k in 2..=run {
        found(k, 1.0 + (k as f64).log2());
    }
    for step in [1i16, -1] {
        let seq = (0..rest.len())
            .take_while(|&k| {
                let before = if k == 0 { prev } else { rest[k - 1] };
                i16::from(rest[k]) - i16::from(before) == step
            })
            .count();
        for k in 2..=seq {
            found(k, 2.0 + (k as f64).log2());
        }
    }
    for from in 0..at {
        let same = (value[from..].iter().zip(rest))
            .take_while(|(a, b)| a == b)
            .count();
        for k in 3..=same {
            found(k, (at as f64).log2() + (k as f64).log2());
        }
    }
}

#[cfg(test)]
#[path = "lookalike_tests.rs"]
mod tests;
