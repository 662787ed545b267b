//! The chunked reader: reads a source through one reusable buffer of [`CHUNK`] bytes plus an
//! overlap, so memory does not grow with file size, and reports every match once with its
//! line and column (ripgrep keeps its line buffer in a file of its own, too).
//!
//! Each window holds `OVERLAP` bytes of context in front of the bytes it reports and reads
//! `OVERLAP` bytes ahead of them, so a key (and the evidence around it) straddling a chunk
//! border is seen whole exactly once. Lines and columns are counted incrementally over the
//! windows: newlines dropped with each window are carried over, `\r` counts as a column.

use std::io::{self, Read};

use super::decompress;
use super::inflate::Inflater;
use super::matcher::{self, Matcher, RawMatch};
use crate::finding::Encoding;

/// Bytes read per chunk of a file.
pub const CHUNK: usize = 1 << 20;
/// Bytes kept from the previous chunk (see [`matcher::REQUIRED_OVERLAP`]); public for the fuzz
/// targets and property tests, whose chunks must exceed it.
#[doc(hidden)]
pub const OVERLAP: usize = matcher::REQUIRED_OVERLAP;
use super::markers::Markers;
pub use super::markers::ALLOW_MARKER;

/// How [`ChunkReader::read`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadEnd {
    /// Read and scanned to the end (or to `max_file_size`).
    Scanned,
    /// A file starting with a UTF-16 BOM: nothing scanned, to be read through a decoder.
    Utf16Bom,
    /// A compressed stream (its magic bytes at the start): nothing scanned, to be read
    /// through a decompressor.
    Compressed(Encoding),
}

/// What [`ChunkReader::read`] looks for in the first bytes of a source before it scans any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Sniff {
    /// A UTF-16 BOM ([`ReadEnd::Utf16Bom`]).
    pub(super) bom: bool,
    /// The magic bytes of a compressed stream ([`ReadEnd::Compressed`]).
    pub(super) compressed: bool,
}

/// Where a match lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Place {
    /// 1-based line.
    pub(super) line: u64,
    /// 1-based column, in bytes.
    pub(super) column: u64,
    /// Whether its line carries [`ALLOW_MARKER`].
    pub(super) marked: bool,
}

/// What receives the reader's progress and matches.
pub(super) trait Sink {
    /// `n` more bytes were read.
    fn read(&mut self, n: u64);
    /// `n` bytes read are given back: the source is read again another way.
    fn unread(&mut self, n: u64);
    /// A match, reported once.
    fn found(&mut self, m: &RawMatch, at: Place);
}

/// The per-thread read buffer and match scratch.
#[derive(Debug)]
pub(super) struct ChunkReader {
    /// Bytes reported per window: [`CHUNK`], smaller in tests so that they need no 1 MiB
    /// files to cross a border.
    chunk: usize,
    buf: Vec<u8>,
    /// A second buffer of the same size, swapped with `buf` when a read's first chunk is
    /// handed to the decoders ([`ChunkReader::take_head`]): allocated on the first compressed
    /// or UTF-16 source, then reused.
    spare: Vec<u8>,
    /// What decodes a gzip file held whole by its first chunk in one call (given out with the
    /// head; see `inflate`): set up on the first such file, then reused.
    inflater: Inflater,
    /// Bytes of `buf` that the last read sniffed and gave back.
    sniffed: usize,
    matches: Vec<RawMatch>,
}

impl Default for ChunkReader {
    fn default() -> Self {
        ChunkReader {
            chunk: CHUNK,
            buf: Vec::new(),
            spare: Vec::new(),
            inflater: Inflater::default(),
            sniffed: 0,
            matches: Vec::new(),
        }
    }
}

/// A read's first chunk, taken from the reader ([`ChunkReader::take_head`]) and given back
/// ([`ChunkReader::give_back`]).
#[derive(Debug)]
pub(super) struct TakenHead {
    buf: Vec<u8>,
    len: usize,
    inflater: Inflater,
}

impl TakenHead {
    /// The source's first bytes, as the sniffing read left them, and the decoder a whole gzip
    /// file is decoded by ([`decompress::read_through`]'s `whole`).
    pub(super) fn split(&mut self) -> (&[u8], &mut Inflater) {
        (&self.buf[..self.len], &mut self.inflater)
    }
}

/// Where the window stands in the source.
#[derive(Debug, Default)]
struct Window {
    /// Bytes in the buffer.
    filled: usize,
    /// Matches starting before this offset in the buffer were reported by the previous window.
    fresh_from: usize,
    /// Offset in the source of the buffer's first byte.
    base: u64,
    /// Newlines in the source before `base`.
    lines_before: u64,
    /// Offset in the source of the last newline before `base`.
    last_nl_before: Option<u64>,
    /// Bytes read from the source.
    total: u64,
}

impl ChunkReader {
    /// A reader reporting `chunk` bytes per window, which must exceed the overlap.
    #[cfg(test)]
    pub(super) fn with_chunk(chunk: usize) -> Self {
        assert!(chunk > OVERLAP, "a window must report more than it keeps");
        ChunkReader {
            chunk,
            ..ChunkReader::default()
        }
    }

    /// Reads `r` chunk by chunk, keeping `OVERLAP` bytes of the previous chunk in front, and
    /// reports the matches of `matcher` to `sink`. Reads at most `limit` bytes.
    ///
    /// `file_len` is the size of a regular file from its fstat: reading stops there (no extra
    /// read for EOF; a file growing meanwhile is scanned as it was at fstat). A size of 0
    /// (procfs) reads to EOF. What `sniff` names, found at the start of the source, returns
    /// [`ReadEnd::Utf16Bom`] or [`ReadEnd::Compressed`] before anything is scanned (its bytes
    /// given back with [`Sink::unread`]), for the caller to read it again through a decoder.
    pub(super) fn read<R: Read>(
        &mut self,
        mut r: R,
        matcher: &Matcher,
        (limit, file_len): (u64, Option<u64>),
        sniff: Sniff,
        sink: &mut impl Sink,
    ) -> io::Result<ReadEnd> {
        let cap = self.chunk + OVERLAP;
        if self.buf.len() != cap {
            self.buf = vec![0; cap];
        }
        let mut w = Window::default();
        loop {
            let eof = self.fill(&mut r, &mut w, limit, file_len, sink)?;
            if w.base == 0 {
                if let Some(end) = sniffed(&self.buf[..w.filled], sniff) {
                    sink.unread(w.total);
                    self.sniffed = w.filled;
                    return Ok(end);
                }
            }
            let fresh_to = if eof { w.filled } else { w.filled - OVERLAP };
            self.report(matcher, &w, fresh_to, sink);
            if eof {
                return Ok(ReadEnd::Scanned);
            }
            self.slide(&mut w, fresh_to);
        }
    }

    /// The first chunk of the source whose read just returned [`ReadEnd::Utf16Bom`] or
    /// [`ReadEnd::Compressed`], for the decoders to start from (it is not read again): the
    /// reader goes on with its spare buffer. No copy: the two buffers are swapped.
    pub(super) fn take_head(&mut self) -> TakenHead {
        let mut buf = std::mem::take(&mut self.spare);
        std::mem::swap(&mut buf, &mut self.buf);
        let len = std::mem::take(&mut self.sniffed).min(buf.len());
        let inflater = std::mem::take(&mut self.inflater);
        TakenHead { buf, len, inflater }
    }

    /// Takes back a buffer that [`ChunkReader::take_head`] gave out, as the spare.
    pub(super) fn give_back(&mut self, head: TakenHead) {
        self.spare = head.buf;
        self.inflater = head.inflater;
    }

    /// Reads until the buffer is full; `true` at the end of the source: EOF, `limit`, the
    /// fstat size, or a read that would block (a FIFO or a device opened non-blocking).
    fn fill<R: Read>(
        &mut self,
        r: &mut R,
        w: &mut Window,
        limit: u64,
        file_len: Option<u64>,
        sink: &mut impl Sink,
    ) -> io::Result<bool> {
        let cap = self.buf.len();
        while w.filled < cap {
            if w.total >= limit {
                return Ok(true);
            }
            let want = (cap - w.filled).min((limit - w.total) as usize);
            match r.read(&mut self.buf[w.filled..w.filled + want]) {
                Ok(0) => return Ok(true),
                Ok(n) => {
                    w.filled += n;
                    w.total += n as u64;
                    sink.read(n as u64);
                    if file_len.is_some_and(|l| l > 0 && w.total >= l) {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Reports the matches of the window that start in `fresh_from..fresh_to`.
    fn report(&mut self, matcher: &Matcher, w: &Window, fresh_to: usize, sink: &mut impl Sink) {
        let hay = &self.buf[..w.filled];
        self.matches.clear();
        matcher.find(hay, &mut self.matches);
        let mut lines = LineCounter::default();
        let mut markers = Markers::default();
        for m in (self.matches.iter()).filter(|m| m.start >= w.fresh_from && m.start < fresh_to) {
            lines.advance(hay, m.start);
            sink.found(m, w.place(hay, m.start, &lines, &mut markers));
        }
    }

    /// Keeps `OVERLAP` bytes of context in front of the first byte not yet reported
    /// (`fresh_to`): the next window reports from there on, with its context whole.
    fn slide(&mut self, w: &mut Window, fresh_to: usize) {
        let discard = fresh_to - OVERLAP;
        let dropped = &self.buf[..discard];
        w.lines_before += bytecount::count(dropped, b'\n') as u64;
        if let Some(p) = memchr::memrchr(b'\n', dropped) {
            w.last_nl_before = Some(w.base + p as u64);
        }
        self.buf.copy_within(discard..w.filled, 0);
        w.filled -= discard;
        w.base += discard as u64;
        w.fresh_from = fresh_to - discard;
    }
}

/// What the first bytes of a source, `head`, announce among what `sniff` looks for.
fn sniffed(head: &[u8], sniff: Sniff) -> Option<ReadEnd> {
    if sniff.bom && matches!(head.get(..2), Some([0xFF, 0xFE] | [0xFE, 0xFF])) {
        return Some(ReadEnd::Utf16Bom);
    }
    if sniff.compressed {
        return decompress::sniff(head).map(ReadEnd::Compressed);
    }
    None
}

/// One match as the reader reports it, for the fuzz targets and property tests (not used in
/// production): the rule, where the value lies and whether its line is marked.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMatch {
    /// Index of the rule in the rule set.
    pub rule: usize,
    /// 1-based line.
    pub line: u64,
    /// 1-based column, in bytes.
    pub column: u64,
    /// Whether its line carries [`ALLOW_MARKER`].
    pub marked: bool,
    /// The value (its `Debug` is redacted).
    pub value: matcher::SecretBytes,
}

/// Collects what a read reports, for [`read_chunked`] and [`read_decoded`].
struct Collect(Vec<ReadMatch>);

impl Sink for Collect {
    fn read(&mut self, _: u64) {}
    fn unread(&mut self, _: u64) {}
    fn found(&mut self, m: &RawMatch, at: Place) {
        self.0.push(ReadMatch {
            rule: m.rule,
            line: at.line,
            column: at.column,
            marked: at.marked,
            value: m.value.clone(),
        });
    }
}

/// Reads `bytes` through a [`ChunkReader`] that reports `chunk` bytes per window (raised to
/// the smallest size allowed, the overlap plus one; a chunk over the input's size reads it whole) and returns every match in order, as
/// production reads a process environment or user-data. For the fuzz targets and property
/// tests: the findings must not depend on `chunk`.
#[doc(hidden)]
pub fn read_chunked(matcher: &Matcher, bytes: &[u8], chunk: usize) -> Vec<ReadMatch> {
    let mut reader = ChunkReader {
        // A chunk larger than the input reads it whole, as one of exactly its size does.
        chunk: chunk.min(bytes.len() + 1).max(OVERLAP + 1),
        ..ChunkReader::default()
    };
    let mut sink = Collect(Vec::new());
    // Reading from memory cannot fail, and nothing is sniffed.
    let _ = reader.read(
        bytes,
        matcher,
        (u64::MAX, None),
        Sniff::default(),
        &mut sink,
    );
    sink.0
}

/// What [`read_decoded`] found: the matches, the layers read through and why decoding
/// stopped early (the reason as the unreadable list gives it).
#[doc(hidden)]
#[derive(Debug, PartialEq, Eq)]
pub struct DecodedMatches {
    /// Every match, in order.
    pub matches: Vec<ReadMatch>,
    /// The compression layers read through, outermost first.
    pub encoding: Vec<Encoding>,
    /// Why decoding stopped early, if it did.
    pub stop: Option<String>,
}

/// Reads `bytes` as production reads a file of them: sniffed in the first chunk, then read
/// again through decoders under `limits` (see [`decompress`]). For the fuzz targets: no input
/// may panic, hang or decode past the caps. `whole`: a gzip file the first chunk holds whole
/// may be decoded in one call (`inflate`), as production does; without it every stream goes
/// through the streaming decoders, which must read the same.
#[doc(hidden)]
pub fn read_decoded(
    matcher: &Matcher,
    bytes: &[u8],
    limits: decompress::Limits,
    whole: bool,
) -> DecodedMatches {
    let mut reader = ChunkReader::default();
    let mut sink = Collect(Vec::new());
    let mut src = io::Cursor::new(bytes);
    let sniff = Sniff {
        bom: true,
        compressed: true,
    };
    let bounds = (u64::MAX, Some(bytes.len() as u64));
    // Reading from memory cannot fail; the decoders' errors end their streams.
    let first =
        (reader.read(&mut src, matcher, bounds, sniff, &mut sink)).unwrap_or(ReadEnd::Scanned);
    let mut taken = reader.take_head();
    let (head, inflater) = taken.split();
    let head = decompress::Head {
        bytes: head,
        whole: whole && head.len() == bytes.len(),
    };
    let limits = Some(limits);
    let decoded = decompress::read_through(&mut src, first, head, limits, inflater, |r, sniff| {
        sink.0.clear();
        reader.read(r, matcher, (u64::MAX, None), sniff, &mut sink)
    });
    let decoded = decoded.unwrap_or_default();
    DecodedMatches {
        matches: sink.0,
        encoding: decoded.layers,
        stop: decoded.stop.map(|s| s.reason()),
    }
}

/// Newlines of the window up to the current match. Matches come sorted by position, so lines
/// are counted incrementally: a file full of keys costs one pass, not one pass per key.
#[derive(Debug, Default)]
struct LineCounter {
    counted_to: usize,
    lines: u64,
    last_nl: Option<usize>,
}

impl LineCounter {
    fn advance(&mut self, hay: &[u8], to: usize) {
        if to > self.counted_to {
            let part = &hay[self.counted_to..to];
            self.lines += bytecount::count(part, b'\n') as u64;
            if let Some(p) = memchr::memrchr(b'\n', part) {
                self.last_nl = Some(self.counted_to + p);
            }
            self.counted_to = to;
        }
    }
}

impl Window {
    /// The place of a match at `start` in the buffer `hay`, with `lines` counted up to it and
    /// the window's `markers` (queried in order of `start`).
    fn place(&self, hay: &[u8], start: usize, lines: &LineCounter, markers: &mut Markers) -> Place {
        let line_start = lines.last_nl.map(|p| p + 1);
        let abs = self.base + start as u64;
        let column = match (line_start, self.last_nl_before) {
            (Some(ls), _) => (start - ls) as u64 + 1,
            (None, Some(nl)) => abs - nl,
            (None, None) => abs + 1,
        };
        Place {
            line: self.lines_before + lines.lines + 1,
            column,
            marked: markers.marked(hay, start, line_start.unwrap_or(0)),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::finding::Source;
    use crate::scan::scanner::tests::scanner;
    use crate::scan::{Haystack, Plan};

    const KEY: &str = "AKIASXQV3SVWMFRRRM75";
    const SECRET: &str = "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";
    /// A small window (it must exceed the overlap): 100 KiB cross several borders.
    const SMALL: usize = OVERLAP + 4096;
    const LIMIT: u64 = 1 << 30;

    /// What a read reported: bytes counted, and each match with its place and value.
    #[derive(Debug, Default, PartialEq)]
    pub(in crate::scan) struct Got {
        pub(in crate::scan) bytes: u64,
        pub(in crate::scan) found: Vec<(Place, String)>,
    }

    impl Sink for Got {
        fn read(&mut self, n: u64) {
            self.bytes += n;
        }
        fn unread(&mut self, n: u64) {
            self.bytes -= n;
        }
        fn found(&mut self, m: &RawMatch, at: Place) {
            let value = String::from_utf8_lossy(m.value.expose()).into_owned();
            self.found.push((at, value));
        }
    }

    /// Reads `bytes` with windows of `chunk` bytes.
    fn read(bytes: &[u8], chunk: usize, file_len: Option<u64>) -> (ReadEnd, Got) {
        read_with(ChunkReader::with_chunk(chunk), bytes, LIMIT, file_len)
    }

    fn read_with(
        mut reader: ChunkReader,
        bytes: &[u8],
        limit: u64,
        file_len: Option<u64>,
    ) -> (ReadEnd, Got) {
        let matcher = Matcher::builtin().unwrap();
        let mut got = Got::default();
        let sniff = Sniff {
            bom: file_len.is_some(),
            compressed: false,
        };
        let end = (reader.read(bytes, &matcher, (limit, file_len), sniff, &mut got)).unwrap();
        (end, got)
    }

    /// Reads `bytes` with small windows, checks that one window (as large as the input) reads
    /// the same, and returns what was found.
    fn read_small(bytes: &[u8]) -> Vec<(Place, String)> {
        let (end, small) = read(bytes, SMALL, Some(bytes.len() as u64));
        let (_, whole) = read(bytes, bytes.len().max(SMALL), Some(bytes.len() as u64));
        assert_eq!(end, ReadEnd::Scanned);
        assert_eq!(small, whole, "small windows read what one window reads");
        assert_eq!(small.bytes, bytes.len() as u64);
        small.found
    }

    /// Filler lines, `len` bytes exactly, ending with a newline (`eol` ends each line).
    fn filler(len: usize, eol: &str) -> Vec<u8> {
        let line = format!("filler line of text, nothing here{eol}");
        let mut out = Vec::with_capacity(len);
        while len - out.len() >= 2 * line.len() {
            out.extend_from_slice(line.as_bytes());
        }
        let rest = len - out.len() - eol.len();
        out.extend(std::iter::repeat_n(b'.', rest));
        out.extend_from_slice(eol.as_bytes());
        out
    }

    fn lines_in(bytes: &[u8]) -> u64 {
        bytes.iter().filter(|b| **b == b'\n').count() as u64
    }

    fn at(line: u64, column: u64) -> Place {
        Place {
            line,
            column,
            marked: false,
        }
    }

    #[test]
    fn key_straddling_the_chunk_border_is_found_once_with_its_line() {
        let mut body = filler(SMALL - 12, "\n");
        let lines_before = lines_in(&body);
        body.extend_from_slice(format!("k={KEY}\n").as_bytes());
        body.extend_from_slice(&[0u8; 100]); // a NUL after the first window: still scanned
        body.extend_from_slice(format!("\naws_secret_access_key={SECRET}\n").as_bytes());
        body.extend_from_slice(&filler(2 * SMALL, "\n"));
        let found = read_small(&body);
        assert_eq!(
            found,
            [
                (at(lines_before + 1, 3), KEY.to_string()),
                (at(lines_before + 3, 23), SECRET.to_string())
            ]
        );
    }

    #[test]
    fn keys_at_the_edges_of_the_overlap_are_found_once() {
        // Window 1 reports 0..SMALL and reads SMALL..SMALL+OVERLAP ahead; window 2 keeps
        // SMALL-OVERLAP..SMALL as context and reports from SMALL on.
        for pos in [
            SMALL - OVERLAP - 1,
            SMALL - OVERLAP,
            SMALL - KEY.len(),
            SMALL - 1,
            SMALL,
            SMALL + 1,
            SMALL + OVERLAP - 1,
            SMALL + OVERLAP,
        ] {
            let mut body = filler(pos, "\n");
            let line = lines_in(&body) + 1;
            body.extend_from_slice(format!("{KEY}\n").as_bytes());
            body.extend_from_slice(&filler(2 * SMALL, "\n"));
            assert_eq!(
                read_small(&body),
                [(at(line, 1), KEY.to_string())],
                "at {pos}"
            );
        }
    }

    #[test]
    fn crlf_lines_are_counted_across_the_border() {
        let mut body = filler(SMALL - 7, "\r\n");
        let first = lines_in(&body) + 1;
        body.extend_from_slice(format!("  k = {KEY}\r\n").as_bytes());
        body.extend_from_slice(&filler(SMALL, "\r\n"));
        let second = lines_in(&body) + 1;
        body.extend_from_slice(format!("k={KEY}\r\n").as_bytes());
        assert_eq!(
            read_small(&body),
            [
                (at(first, 7), KEY.to_string()),
                (at(second, 3), KEY.to_string())
            ]
        );
    }

    #[test]
    fn a_line_begun_in_an_earlier_window_keeps_its_columns() {
        // Line 1 fills the first window: no newline before the key at all.
        let mut body = vec![b' '; SMALL + 100];
        body.extend_from_slice(format!("{KEY}\n").as_bytes());
        // A line that starts before the window reporting its key: the column counts from the
        // newline that window dropped.
        let nl = body.len() - 1;
        body.extend_from_slice(&[b' '; 2 * SMALL]);
        let second = body.len();
        body.extend_from_slice(format!("{KEY} credhygiene:allow\n").as_bytes());
        body.extend_from_slice(&filler(2 * SMALL, "\n"));
        let found = read_small(&body);
        let marked = Place {
            marked: true,
            ..at(2, (second - nl) as u64)
        };
        assert_eq!(
            found,
            [
                (at(1, SMALL as u64 + 101), KEY.to_string()),
                (marked, KEY.to_string())
            ]
        );
    }

    #[test]
    fn a_file_exactly_one_chunk_or_one_buffer_long_is_read_to_its_end() {
        for len in [SMALL, SMALL + OVERLAP] {
            let mut body = filler(len - KEY.len() - 1, "\n");
            let line = lines_in(&body) + 1;
            body.extend_from_slice(format!("{KEY}\n").as_bytes());
            assert_eq!(body.len(), len);
            for file_len in [Some(len as u64), None] {
                let (end, got) = read(&body, SMALL, file_len);
                assert_eq!(end, ReadEnd::Scanned);
                assert_eq!(got.bytes, len as u64);
                assert_eq!(got.found, [(at(line, 1), KEY.to_string())], "{file_len:?}");
            }
        }
        // The production chunk, with its key in the last bytes.
        let mut body = filler(CHUNK - KEY.len(), "\n");
        body.extend_from_slice(KEY.as_bytes());
        let (end, got) = read_with(ChunkReader::default(), &body, LIMIT, Some(CHUNK as u64));
        assert_eq!(
            (end, got.bytes, got.found.len()),
            (ReadEnd::Scanned, CHUNK as u64, 1)
        );
    }

    #[test]
    fn a_file_smaller_than_the_overlap_is_read_in_one_window() {
        let body = format!("# config\nid = {KEY}\n");
        assert!(body.len() < OVERLAP);
        assert_eq!(read_small(body.as_bytes()), [(at(2, 6), KEY.to_string())]);
        // A UTF-16 BOM of a file: nothing scanned, nothing counted, to be decoded.
        let utf16 = [0xFF, 0xFE, b'k', 0, b'=', 0];
        let (end, got) = read(&utf16, SMALL, Some(utf16.len() as u64));
        assert_eq!((end, got), (ReadEnd::Utf16Bom, Got::default()));
        // Memory sources are not sniffed.
        assert_eq!(read(&utf16, SMALL, None).0, ReadEnd::Scanned);
    }

    #[test]
    fn reading_stops_at_the_limit() {
        let mut body = filler(SMALL, "\n");
        body.extend_from_slice(format!("{KEY}\n").as_bytes());
        let limit = (SMALL + 10) as u64;
        let (_, got) = read_with(ChunkReader::with_chunk(SMALL), &body, limit, None);
        assert_eq!((got.bytes, got.found.len()), (limit, 0));
    }

    #[test]
    fn many_keys_across_windows_get_their_own_lines_and_columns() {
        let mut bytes = Vec::new();
        for i in 0..3000 {
            bytes.extend_from_slice(format!("{:>width$}{KEY}\n", "", width = i % 7).as_bytes());
        }
        let found = read_small(&bytes);
        assert_eq!(found.len(), 3000);
        for (i, (place, _)) in found.iter().enumerate() {
            assert_eq!(*place, at(i as u64 + 1, (i % 7) as u64 + 1));
        }
    }

    #[test]
    fn many_keys_get_their_own_lines_and_columns() {
        let s = scanner();
        let mut bytes = Vec::new();
        for i in 0..3000 {
            bytes.extend_from_slice(
                format!("{:>width$}AKIASXQV3SVWMFRRRM75\n", "", width = i % 7).as_bytes(),
            );
        }
        let plan = Plan {
            memory: vec![Haystack {
                source: Source::File,
                path: "many".into(),
                bytes,
                process: None,
            }],
            ..Plan::default()
        };
        let (mut out, _) = s.run(&plan, &AtomicBool::new(false), None);
        crate::scan::aggregate::bound_outcome(&mut out, 0); // the compact key ids, in full
        assert_eq!(out.findings.len(), 3000);
        for (i, f) in out.findings.iter().enumerate() {
            assert_eq!((f.line, f.column), (i as u64 + 1, (i % 7) as u64 + 1));
        }
    }
}
