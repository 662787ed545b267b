//! Whether a match's line carries the allow marker (`credhygiene:allow`), looked up in linear
//! time over one window of the reader.
//!
//! The rule: the marker counts when it lies wholly on the match's line and within
//! [`CONTEXT_LINE_CAP`] bytes of the match's start, either way. Asked afresh for every match,
//! that is up to 128 KiB of marker search and 64 KiB of newline search per match, which on a
//! long line full of keys (a hostile file, or a log of key ids) made the reader's work grow
//! with the product of the line's length and its matches. The matches of a window come in
//! order of their start, so [`Markers`] searches each byte of the window for the marker once
//! and for the next newline once, and answers every match from what it found.

/// The most bytes looked at on either side of a match for the marker.
pub(super) const CONTEXT_LINE_CAP: usize = 64 * 1024;

/// The marker that suppresses the findings of its line.
pub const ALLOW_MARKER: &[u8] = b"credhygiene:allow";

/// What one window's buffer holds of markers and newlines, found as the matches ask.
/// Queries must come with non-decreasing `start` (a new window starts a new value).
#[derive(Debug, Default)]
pub(super) struct Markers {
    /// Starts of the markers found, ascending.
    found: Vec<usize>,
    /// Every marker starting before this has been found.
    decided: usize,
    /// No newline lies in `clear.0..clear.1`; `clear.1` is a newline when `nl` is set.
    clear: (usize, usize),
    nl: bool,
}

impl Markers {
    /// Whether the marker is on the line of a match at `start` in `hay`, whose line starts at
    /// `line_start` (0: before the buffer), within [`CONTEXT_LINE_CAP`] bytes either way.
    pub(super) fn marked(&mut self, hay: &[u8], start: usize, line_start: usize) -> bool {
        let from = line_start.max(start.saturating_sub(CONTEXT_LINE_CAP));
        let cap = (start + CONTEXT_LINE_CAP).min(hay.len());
        let to = self.line_end(hay, start, cap);
        self.search(hay, to);
        let i = self.found.partition_point(|&p| p < from);
        self.found
            .get(i)
            .is_some_and(|&p| p + ALLOW_MARKER.len() <= to)
    }

    /// The first newline in `start..cap`, else `cap`; each byte is searched once over the
    /// window's queries.
    fn line_end(&mut self, hay: &[u8], start: usize, cap: usize) -> usize {
        let (lo, hi) = self.clear;
        let resume = if (lo..=hi).contains(&start) {
            if self.nl {
                return hi.min(cap);
            }
            if hi >= cap {
                return cap;
            }
            hi
        } else {
            self.clear.0 = start;
            start
        };
        match memchr::memchr(b'\n', &hay[resume..cap]) {
            Some(p) => {
                (self.clear.1, self.nl) = (resume + p, true);
                resume + p
            }
            None => {
                (self.clear.1, self.nl) = (cap, false);
                cap
            }
        }
    }

    /// Finds the markers that end by `to` and were not looked for yet.
    fn search(&mut self, hay: &[u8], to: usize) {
        let from = self.decided;
        if to < from + ALLOW_MARKER.len() {
            return;
        }
        let window = &hay[from..to];
        self.found
            .extend(memchr::memmem::find_iter(window, ALLOW_MARKER).map(|p| from + p));
        self.decided = to + 1 - ALLOW_MARKER.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule, asked afresh: what [`Markers`] must answer.
    fn marked_afresh(hay: &[u8], start: usize, line_start: usize) -> bool {
        let from = line_start.max(start.saturating_sub(CONTEXT_LINE_CAP));
        let cap = (start + CONTEXT_LINE_CAP).min(hay.len());
        let to = memchr::memchr(b'\n', &hay[start..cap]).map_or(cap, |p| start + p);
        memchr::memmem::find(&hay[from..to], ALLOW_MARKER).is_some()
    }

    fn line_start_of(hay: &[u8], start: usize) -> usize {
        memchr::memrchr(b'\n', &hay[..start]).map_or(0, |p| p + 1)
    }

    /// Random buffers of markers, newlines and filler, queried at increasing starts, answer
    /// as the rule asked afresh does (lines longer than the cap included).
    #[test]
    fn answers_as_the_rule_asked_afresh() {
        let mut rng = fastrand::Rng::with_seed(0xa110);
        for round in 0..300 {
            let big = round % 10 == 0;
            let len = if big { 200_000 } else { rng.usize(1..600) };
            let mut hay = vec![b'x'; len];
            let pieces = if big { 40 } else { rng.usize(0..12) };
            for _ in 0..pieces {
                let at = rng.usize(..len);
                if rng.bool() {
                    hay[at] = b'\n';
                } else {
                    let end = (at + ALLOW_MARKER.len()).min(len);
                    hay[at..end].copy_from_slice(&ALLOW_MARKER[..end - at]);
                }
            }
            let mut m = Markers::default();
            let mut start = 0;
            while start < len {
                let ls = line_start_of(&hay, start);
                assert_eq!(
                    m.marked(&hay, start, ls),
                    marked_afresh(&hay, start, ls),
                    "round {round}, start {start}"
                );
                start += rng.usize(1..if big { 5_000 } else { 40 });
            }
        }
    }

    /// A line of a million bytes full of matches costs each byte one search, not one per
    /// match: the number of markers found stays that of the line, and every answer is right.
    #[test]
    fn a_long_line_of_matches_is_answered_from_one_pass() {
        let mut hay = b"AKIAXXXXXXXXXXXXXXXX ".repeat(50_000);
        hay.extend_from_slice(b"# credhygiene:allow\n");
        let mut m = Markers::default();
        let mut marked = 0;
        for start in (0..hay.len() - 40).step_by(21) {
            marked += usize::from(m.marked(&hay, start, 0));
        }
        assert_eq!(m.found.len(), 1);
        // Only the matches within the cap of the marker see it.
        assert!(
            marked > 0 && marked <= 2 * CONTEXT_LINE_CAP / 21 + 1,
            "{marked}"
        );
    }
}
