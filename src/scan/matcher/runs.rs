//! Runs of key-alphabet characters, with the escapes decoded inside them (`\/`, `%2F`, `%2B`):
//! where a run starts and ends, its decoded value; and where PEM blocks, newlines and braces
//! lie. Every function here examines a stretch bounded by its arguments (never "the rest of
//! the line") or indexes the haystack once, which is what keeps the matcher's work linear in
//! its input (issue 14).

use std::collections::VecDeque;

use crate::rules::Alphabet;

use super::MAX_VALUE_LEN;

/// The base64 byte an escape at `i` stands for, and its length: `\/`, `%2F`, `%2B`.
#[inline]
pub(super) fn escape_at(hay: &[u8], i: usize) -> Option<(u8, usize)> {
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

/// One element of a base64 run at `i`: the decoded byte and how many bytes it takes.
#[inline]
fn step(hay: &[u8], i: usize) -> Option<(u8, usize)> {
    let b = *hay.get(i)?;
    if Alphabet::Base64.contains(b) {
        Some((b, 1))
    } else {
        escape_at(hay, i)
    }
}

/// Whether a base64 run (or an escape in one) starts at `i`.
#[inline]
pub(super) fn is_run_byte(hay: &[u8], i: usize) -> bool {
    step(hay, i).is_some()
}

/// Where the base64 run through `at` starts, looking back at most `reach` bytes: a run
/// reaching further back gives a start `reach + 1` bytes before `at`. The walk back reads
/// bytes, not escapes: every escape ends with a base64 byte (`%2F` read backwards is `F`,
/// `2`, then the `%` that stops the walk).
pub(super) fn run_start(hay: &[u8], at: usize, reach: usize) -> usize {
    let floor = at.saturating_sub(reach + 1);
    let mut start = at;
    while start > floor && Alphabet::Base64.contains(hay[start - 1]) {
        start -= 1;
    }
    start
}

/// A base64 run walked forward from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Extent {
    /// Where the walk stopped: the run's end, or, for a long run, the first element boundary
    /// at or after the walk's limit if the run goes on past it.
    pub(super) end: usize,
    /// More than [`MAX_VALUE_LEN`] decoded bytes: longer than any key, so no value.
    pub(super) long: bool,
}

/// Walks the run starting at `start`. A run of at most [`MAX_VALUE_LEN`] decoded bytes is
/// walked to its end wherever that is; a longer one only to `limit` (or its end, if sooner),
/// so that a run much longer than the region being searched costs the region, not the run.
pub(super) fn run_extent(hay: &[u8], start: usize, limit: usize) -> Extent {
    let mut i = start;
    let mut n = 0;
    while let Some((_, l)) = step(hay, i) {
        if n > MAX_VALUE_LEN && i >= limit {
            break;
        }
        i += l;
        n += 1;
    }
    Extent {
        end: i,
        long: n > MAX_VALUE_LEN,
    }
}

/// The decoded bytes of the run from `from` (escapes decoded), at most `cap` of them.
pub(super) fn decode(hay: &[u8], from: usize, cap: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(cap.min(64));
    let mut i = from;
    while value.len() < cap {
        match step(hay, i) {
            Some((b, l)) => {
                value.push(b);
                i += l;
            }
            None => break,
        }
    }
    value
}

/// Whether `hay[s..at]` is an escape that ends right before a value: `%XX` or `\n`, `\t`, `\r`.
pub(super) fn escape_before(hay: &[u8], s: usize, at: usize) -> bool {
    (at - s == 2
        && s > 0
        && hay[s - 1] == b'%'
        && hay[s].is_ascii_hexdigit()
        && hay[s + 1].is_ascii_hexdigit())
        || (at - s == 1 && s > 0 && hay[s - 1] == b'\\' && matches!(hay[s], b'n' | b't' | b'r'))
}

/// Whether a value starting at `at` would continue a run of `alphabet` in front of it: then a
/// keyword there is inside a longer string, not the start of a key. An escape of a byte
/// outside the alphabet right before `at` (`%3D`, `\n`) ends the run; a base64 escape (`%2F`,
/// `%2B`, `\/`) decodes into it and continues it. Looks at most 3 bytes back: the only
/// allowed prefixes are 1 or 2 bytes long, so a run of 3 or more continues whatever its start.
pub(super) fn continues_run(hay: &[u8], at: usize, alphabet: Alphabet) -> bool {
    let start = match alphabet {
        Alphabet::Word => {
            let mut s = at;
            while s > 0 && at - s < 3 && Alphabet::Word.contains(hay[s - 1]) {
                s -= 1;
            }
            s
        }
        Alphabet::Base64 => {
            if at >= 3 && escape_at(hay, at - 3).is_some_and(|(_, l)| l == 3) {
                return true;
            }
            run_start(hay, at, 2)
        }
    };
    start < at && !escape_before(hay, start, at)
}

/// Where the PEM armour lines of a haystack are, found in one pass on first use, so that each
/// candidate's "inside a PEM block?" is a binary search, not a scan of the bytes before it.
#[derive(Debug)]
pub(super) struct PemMarks {
    begins: Vec<usize>,
    ends: Vec<usize>,
}

const PEM_BEGIN: &[u8] = b"-----BEGIN ";
const PEM_END: &[u8] = b"-----END ";

impl PemMarks {
    /// Finds every `-----BEGIN ` and `-----END ` (neither overlaps itself, so the
    /// non-overlapping search finds them all).
    pub(super) fn new(hay: &[u8]) -> PemMarks {
        PemMarks {
            begins: memchr::memmem::find_iter(hay, PEM_BEGIN).collect(),
            ends: memchr::memmem::find_iter(hay, PEM_END).collect(),
        }
    }

    /// Whether `at` lies after a `-----BEGIN ` that starts at most `lookback` bytes before it
    /// (the last such) with no `-----END ` between them: values in PEM blocks are not keys.
    pub(super) fn covers(&self, at: usize, lookback: usize) -> bool {
        let before = self.begins.partition_point(|&b| b + PEM_BEGIN.len() <= at);
        let Some(&b) = before.checked_sub(1).and_then(|i| self.begins.get(i)) else {
            return false;
        };
        if b < at.saturating_sub(lookback) {
            return false;
        }
        let first_end = self.ends.partition_point(|&e| e < b);
        self.ends
            .get(first_end)
            .is_none_or(|&e| e + PEM_END.len() > at)
    }
}

/// The positions of one byte (a newline, a brace) within a window that slides forward over
/// the haystack: the neighbourhoods of key ids, which come in order of position, are measured
/// from it, so that a long line full of key ids is scanned once, not once per key id.
#[derive(Debug)]
pub(super) struct ByteWindow {
    byte: u8,
    seen: VecDeque<usize>,
    scanned_to: usize,
}

impl ByteWindow {
    pub(super) fn new(byte: u8) -> ByteWindow {
        ByteWindow {
            byte,
            seen: VecDeque::new(),
            scanned_to: 0,
        }
    }

    /// Makes the window hold the positions in `from..to` (both never decreasing from one call
    /// to the next); returns how many bytes it scanned.
    pub(super) fn cover(&mut self, hay: &[u8], from: usize, to: usize) -> usize {
        let start = self.scanned_to.max(from);
        let to = to.min(hay.len()).max(start);
        let byte = self.byte;
        self.seen
            .extend(memchr::memchr_iter(byte, &hay[start..to]).map(|p| start + p));
        self.scanned_to = to;
        while self.seen.front().is_some_and(|&p| p < from) {
            self.seen.pop_front();
        }
        to - start
    }

    /// The `n + 1`-th occurrence before `at`, if the window holds it and it is at `floor` or
    /// after (the window must cover `floor..at`).
    pub(super) fn back(&self, at: usize, n: usize, floor: usize) -> Option<usize> {
        let before = self.seen.partition_point(|&p| p < at);
        let p = *self.seen.get(before.checked_sub(n + 1)?)?;
        (p >= floor).then_some(p)
    }

    /// The `n + 1`-th occurrence at or after `at`, if it is before `ceil` (the window must cover
    /// `at..ceil`).
    pub(super) fn forward(&self, at: usize, n: usize, ceil: usize) -> Option<usize> {
        let from = self.seen.partition_point(|&p| p < at);
        let p = *self.seen.get(from + n)?;
        (p < ceil).then_some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continues_run_table() {
        let cases: &[(&str, usize, Alphabet, bool)] = &[
            ("AKIAX", 0, Alphabet::Word, false),
            (" AKIAX", 1, Alphabet::Word, false),
            ("xAKIAX", 1, Alphabet::Word, true),
            ("AKIAAKIAX", 4, Alphabet::Word, true),
            ("a%3DAKIAX", 4, Alphabet::Word, false),
            ("%3DAKIAX", 3, Alphabet::Word, false),
            ("x\\nAKIAX", 3, Alphabet::Word, false),
            ("x\\tAKIAX", 3, Alphabet::Word, false),
            ("x\\xAKIAX", 3, Alphabet::Word, true),
            ("abc%3DAKIAX", 6, Alphabet::Word, false),
            ("=IQoD", 1, Alphabet::Base64, false),
            ("/IQoD", 1, Alphabet::Base64, true),
            ("+IQoD", 1, Alphabet::Base64, true),
            ("\\/IQoD", 2, Alphabet::Base64, true),
            ("%2FIQoD", 3, Alphabet::Base64, true),
            ("%2fIQoD", 3, Alphabet::Base64, true),
            ("x%2BIQoD", 4, Alphabet::Base64, true),
            ("%3DIQoD", 3, Alphabet::Base64, false),
            ("x\\nIQoD", 3, Alphabet::Base64, false),
            ("IQoDIQoD", 4, Alphabet::Base64, true),
        ];
        for &(hay, at, alphabet, want) in cases {
            assert_eq!(
                continues_run(hay.as_bytes(), at, alphabet),
                want,
                "{hay:?} at {at} ({alphabet:?})"
            );
        }
    }

    #[test]
    fn run_start_and_extent() {
        let hay = b"x=ab\\/cd%2Bef gh";
        assert_eq!(
            run_start(hay, 8, 64),
            5,
            "backwards, `\\/` is a `/` after a `\\`"
        );
        assert_eq!(
            run_start(hay, 8, 1),
            6,
            "a walk stops `reach + 1` bytes back"
        );
        assert_eq!(
            run_start(hay, 11, 64),
            9,
            "backwards, `%2B` is `2B` after a `%`"
        );
        assert_eq!(
            run_extent(hay, 2, 0),
            Extent {
                end: 13,
                long: false
            }
        );
        assert_eq!(decode(hay, 2, 64), b"ab/cd+ef");
        assert_eq!(decode(hay, 2, 4), b"ab/c");
        let long = vec![b'A'; 3 * MAX_VALUE_LEN];
        let e = run_extent(&long, 0, 10);
        assert_eq!(
            (e.end, e.long),
            (MAX_VALUE_LEN + 1, true),
            "a long run stops once known"
        );
        let e = run_extent(&long, 0, 2 * MAX_VALUE_LEN);
        assert_eq!(
            (e.end, e.long),
            (2 * MAX_VALUE_LEN, true),
            "or at the limit"
        );
        let e = run_extent(&long[..MAX_VALUE_LEN], 0, 0);
        assert_eq!(
            (e.end, e.long),
            (MAX_VALUE_LEN, false),
            "a run of the maximum is a value"
        );
    }

    #[test]
    fn pem_marks_table() {
        let hay = b"a -----BEGIN X-----\nbody\n-----END X-----\nafter -----BEGIN Y\nopen";
        let m = PemMarks::new(hay);
        let at = |s: &str| memchr::memmem::find(hay, s.as_bytes()).unwrap();
        assert!(!m.covers(0, 1 << 14));
        assert!(m.covers(at("body"), 1 << 14));
        assert!(!m.covers(at("after"), 1 << 14));
        assert!(m.covers(at("open"), 1 << 14));
        assert!(
            !m.covers(at("open"), 5),
            "a BEGIN beyond the lookback does not count"
        );
        assert!(
            !m.covers(at("BEGIN X") + 2, 1 << 14),
            "inside its own BEGIN line"
        );
    }

    #[test]
    fn byte_window_table() {
        let hay = b"a\nb\nc\nd{e}f\ng";
        let mut w = ByteWindow::new(b'\n');
        assert_eq!(w.cover(hay, 0, 8), 8);
        assert_eq!(w.back(6, 0, 0), Some(5));
        assert_eq!(w.back(6, 2, 0), Some(1));
        assert_eq!(w.back(6, 3, 0), None, "fewer newlines above");
        assert_eq!(w.back(6, 2, 2), None, "above the floor");
        assert_eq!(w.forward(2, 1, 8), Some(5));
        assert_eq!(
            w.cover(hay, 4, hay.len()),
            hay.len() - 8,
            "each byte is scanned once"
        );
        assert_eq!(w.forward(2, 1, hay.len()), Some(11));
        assert_eq!(w.forward(2, 1, 11), None, "beyond the ceiling");
        assert_eq!(w.back(6, 1, 0), None, "dropped below the window");
    }
}
