//! Base64 blobs around a prefilter hit: the literals that announce a keyword in base64, the
//! enclosing run of a hit, and its decoding with the place in the encoded text of every
//! decoded byte (so that a finding in decoded text points at its encoded form).
//!
//! A run is a stretch of base64 elements: the characters of the standard and the URL-safe
//! alphabets, the JSON escape `\/`, and line breaks followed by indentation (wrapped blobs,
//! YAML block scalars). `=` padding ends a run. A run whose extent exceeds [`MAX_BLOB`] bytes
//! is not decoded: the bound keeps every decoding inside the context the chunked reader keeps
//! around a match (`REQUIRED_OVERLAP`), so that what is found does not depend on chunk borders.

/// The longest run decoded, in encoded bytes (about 12 KiB decoded): Kubernetes Secret
/// values, credentials files and JWTs are far shorter.
pub(super) const MAX_BLOB: usize = 16 * 1024;
/// The shortest run decoded: 27 characters hold 20 bytes, the shortest thing worth finding
/// (a key id alone, as a Kubernetes Secret holds it).
const MIN_BLOB: usize = 27;

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The 6-bit value of a base64 character of either alphabet.
#[inline]
fn sextet(b: u8) -> Option<u8> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    })
}

/// The literals whose presence in text announces `keyword` in base64: for each of the three
/// alignments of the keyword in its 3-byte groups, the characters that depend on the keyword's
/// bytes only, in the standard alphabet and (where it differs) the URL-safe one. Each literal
/// comes with how many characters of its group precede it (the literal's first character is
/// that many characters after a group boundary).
pub(super) fn literals(keyword: &[u8]) -> Vec<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    for lead in 0..3usize {
        let mut bytes = vec![0u8; lead];
        bytes.extend_from_slice(keyword);
        let bits = 8 * bytes.len();
        // Characters wholly inside the keyword's bits: from the first at or after bit 8*lead
        // to the last ending at or before the keyword's end.
        let first = (8 * lead).div_ceil(6);
        let last = bits / 6;
        let chars: Vec<u8> = (first..last)
            .map(|k| {
                let v = (0..6).fold(0usize, |acc, j| {
                    let bit = 6 * k + j;
                    acc << 1 | usize::from(bytes[bit / 8] >> (7 - bit % 8) & 1)
                });
                STD[v]
            })
            .collect();
        let url: Vec<u8> = chars
            .iter()
            .map(|&c| match c {
                b'+' => b'-',
                b'/' => b'_',
                c => c,
            })
            .collect();
        let group_offset = first % 4;
        if url != chars {
            out.push((url, group_offset));
        }
        out.push((chars, group_offset));
    }
    out
}

/// One base64 element at `i` going forward: its 6-bit value (`None` for a line break, which
/// holds no data) and its length. `None` when no element starts at `i`.
#[inline]
fn element(hay: &[u8], i: usize) -> Option<(Option<u8>, usize)> {
    let b = *hay.get(i)?;
    if let Some(v) = sextet(b) {
        return Some((Some(v), 1));
    }
    match b {
        b'\\' if hay.get(i + 1) == Some(&b'/') => Some((Some(63), 2)),
        b'\r' | b'\n' => {
            // A line break (`\n`, `\r\n` or `\r`) continues a run when data follows it
            // after indentation.
            let mut j = i + 1;
            if b == b'\r' && hay.get(j) == Some(&b'\n') {
                j += 1;
            }
            while matches!(hay.get(j), Some(b' ' | b'\t')) {
                j += 1;
            }
            hay.get(j).and_then(|&c| sextet(c)).map(|_| (None, j - i))
        }
        _ => None,
    }
}

/// Whether an element ends at `i` (reading backwards), and where it starts.
#[inline]
fn element_back(hay: &[u8], i: usize) -> Option<usize> {
    let b = *hay.get(i.checked_sub(1)?)?;
    if b == b'/' && i >= 2 && hay[i - 2] == b'\\' {
        return Some(i - 2);
    }
    if sextet(b).is_some() {
        return Some(i - 1);
    }
    // Indentation after a line break that follows data.
    let mut j = i;
    while j > 0 && matches!(hay[j - 1], b' ' | b'\t') {
        j -= 1;
    }
    match j.checked_sub(1).map(|p| hay[p]) {
        Some(b'\n') => {
            j -= 1;
            if j > 0 && hay[j - 1] == b'\r' {
                j -= 1;
            }
        }
        Some(b'\r') => j -= 1,
        _ => return None,
    }
    let data_before = j > 0 && sextet(hay[j - 1]).is_some();
    (data_before && hay.get(i).is_some_and(|&c| sextet(c).is_some())).then_some(j)
}

/// The run through a hit, as far as it was walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    /// Where the run starts (for a long run: where the walk gave up or started).
    pub(super) start: usize,
    /// Where the run ends (for a long run: where the forward walk gave up).
    pub(super) end: usize,
    /// Longer than [`MAX_BLOB`]: not decoded.
    pub(super) long: bool,
}

/// The run through `at`, walked at most [`MAX_BLOB`] bytes back and forth; returns it and the
/// bytes walked. `prev` is the run found for the previous hit: a walk back reaching the end of
/// a long one is in that long run (which keeps the walks over one long run linear).
pub(super) fn run_through(hay: &[u8], at: usize, prev: Option<Run>) -> (Run, usize) {
    let floor = at.saturating_sub(MAX_BLOB + 1);
    let long_end = prev.filter(|p| p.long).map(|p| p.end);
    let mut start = at;
    while start > floor {
        if long_end == Some(start) {
            break;
        }
        match element_back(hay, start) {
            Some(s) => start = s,
            None => break,
        }
    }
    let walked_back = at - start;
    if long_end == Some(start)
        || (start <= floor && start > 0 && element_back(hay, start).is_some())
    {
        let end = walk_forward(hay, at, at + MAX_BLOB);
        return (
            Run {
                start: at,
                end,
                long: true,
            },
            walked_back + end - at,
        );
    }
    let end = walk_forward(hay, start, start + MAX_BLOB + 1);
    let run = Run {
        start,
        end,
        long: end - start > MAX_BLOB,
    };
    (run, walked_back + end - start)
}

/// Walks elements forward from `from`, stopping at the run's end or at the first element
/// boundary at or past `limit`.
fn walk_forward(hay: &[u8], from: usize, limit: usize) -> usize {
    let mut i = from;
    while i < limit {
        match element(hay, i) {
            Some((_, l)) => i += l,
            None => break,
        }
    }
    i
}

/// Decoded bytes and, for each, where its encoded form starts in the text decoded.
#[derive(Debug, Default)]
pub(super) struct Decoded {
    /// The decoded bytes.
    pub(super) bytes: Vec<u8>,
    /// `origin[i]`: the offset in the encoded text of the element holding byte `i`'s first
    /// bits (the escape holding it, for escapes).
    pub(super) origin: Vec<usize>,
}

/// The elements of a run with their places: (6-bit value, offset of the element). Empty for a
/// long run or one too short to hold anything worth finding.
pub(super) fn elements(hay: &[u8], run: Run) -> Vec<(u8, usize)> {
    if run.long || run.end - run.start < MIN_BLOB {
        return Vec::new();
    }
    let mut vals = Vec::with_capacity(run.end - run.start);
    let mut i = run.start;
    while let Some((v, l)) = element(hay, i).filter(|_| i < run.end) {
        if let Some(v) = v {
            vals.push((v, i));
        }
        i += l;
    }
    vals
}

/// How many of `elements` precede the first group boundary when the element at offset `hit`
/// is `lead` elements after a boundary; `None` if no element is at `hit`.
pub(super) fn phase(elements: &[(u8, usize)], hit: usize, lead: usize) -> Option<usize> {
    let index = elements.binary_search_by_key(&hit, |e| e.1).ok()?;
    Some((index + 4 - lead % 4) % 4)
}

/// Decodes `elements` from the group boundary `skip` elements in (the elements before it are
/// the tail of something else: a name run into the blob, a prefix).
pub(super) fn decode(elements: &[(u8, usize)], skip: usize) -> Decoded {
    let mut out = Decoded::default();
    for group in elements.get(skip..).unwrap_or_default().chunks(4) {
        let bits = group
            .iter()
            .fold(0u32, |acc, &(v, _)| acc << 6 | u32::from(v))
            << (6 * (4 - group.len()));
        for (j, &(_, at)) in group.iter().take(group.len() - 1).enumerate() {
            out.bytes.push((bits >> (16 - 8 * j)) as u8);
            out.origin.push(at);
        }
    }
    out
}

/// A named value read as base64: `value` is a run of the standard alphabet ending at `end`
/// in `hay`, where `=` padding may follow. `None` unless it is whole base64 (its length and
/// padding agree) decoding to printable ASCII, as a key in base64 does.
pub(super) fn decode_value(hay: &[u8], end: usize, value: &[u8]) -> Option<Vec<u8>> {
    use ::base64::Engine;
    let pad = hay[end..]
        .iter()
        .take(2)
        .take_while(|&&b| b == b'=')
        .count();
    if !(value.len() + pad).is_multiple_of(4) || value.len() % 4 == 1 {
        return None;
    }
    let decoded = ::base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(value)
        .ok()?;
    decoded
        .iter()
        .all(|b| b.is_ascii_graphic())
        .then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::base64::Engine;

    #[test]
    fn literals_are_found_in_every_alignment() {
        for kw in [&b"AKIA"[..], b"secret", b"SECRET", b"ASIA"] {
            let lits = literals(kw);
            for pre in 0..3 {
                let mut text = b"xy"[..pre.min(2)].to_vec();
                text.extend(std::iter::repeat_n(b'-', pre.saturating_sub(2)));
                text.extend_from_slice(kw);
                text.extend_from_slice(b"?>~");
                for engine in [
                    &::base64::engine::general_purpose::STANDARD,
                    &::base64::engine::general_purpose::URL_SAFE_NO_PAD,
                ] {
                    let enc = engine.encode(&text);
                    let hit = lits.iter().find_map(|(l, lead)| {
                        memchr::memmem::find(enc.as_bytes(), l).map(|p| (p, *lead))
                    });
                    let (p, lead) = hit.unwrap_or_else(|| panic!("{kw:?} after {pre}: {enc}"));
                    assert_eq!((p - lead) % 4, 0, "{enc}: the lead gives the group");
                }
            }
        }
        assert!(literals(b"AKIA").iter().all(|(l, _)| l.len() >= 4));
    }

    #[test]
    fn decode_table() {
        let b64 = |s: &[u8]| ::base64::engine::general_purpose::STANDARD.encode(s);
        let plain = b"[default]\naws_access_key_id = AKIASXQV3SVWMFRRRM75\n";
        let enc = b64(plain);
        let wrapped = format!("k: |\n  {}\n  {}\n", &enc[..40], &enc[40..]);
        let wrapped_cr = format!("k: |\r  {}\r\n\t{}\r", &enc[..40], &enc[40..]);
        let cases: Vec<(String, &[u8])> = vec![
            (format!("data: {enc}\n"), plain),
            (format!("\"{}\"", enc.replace('/', "\\/")), plain),
            (wrapped, plain),
            (wrapped_cr, plain),
            (
                format!(
                    "x {}",
                    ::base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(plain)
                ),
                plain,
            ),
        ];
        for (text, want) in cases {
            let hay = text.as_bytes();
            let hit = memchr::memmem::find(hay, b"QUtJQ").unwrap();
            let (run, _) = run_through(hay, hit, None);
            let els = elements(hay, run);
            let d = decode(
                &els,
                phase(&els, hit, 0).unwrap_or_else(|| panic!("{text}")),
            );
            let got = memchr::memmem::find(&d.bytes, b"[default]").map(|p| &d.bytes[p..]);
            assert_eq!(got.map(|g| &g[..want.len()]), Some(want), "{text}");
            let at = memchr::memmem::find(&d.bytes, b"AKIA").unwrap();
            assert!(hay[d.origin[at]..].starts_with(b"QUtJQ"), "{text}: origin");
        }
    }

    #[test]
    fn long_and_short_runs_are_not_decoded() {
        let long = "QUtJQ".repeat(MAX_BLOB / 4);
        let (run, _) = run_through(long.as_bytes(), MAX_BLOB / 2, None);
        assert!(run.long);
        let (run, _) = run_through(b" QUtJQVNYUVYz ", 1, None);
        assert!(elements(b" QUtJQVNYUVYz ", run).is_empty());
    }
}
