//! Compressed files: gzip, zstd and xz streams recognised by their magic bytes (whatever the
//! file's name: rotated logs, backups, `user-data.txt.gz`) and read through a streaming
//! decoder, so that a key inside is found as in plain text.
//!
//! The reader sniffs the magic in the first chunk it reads anyway (no extra syscall for the
//! uncompressed majority) and hands that chunk over ([`Head`]): the chain built here decodes
//! it in place and reads the file on only past it, so a small compressed file (a rotated log)
//! is read from disk once and its compressed bytes are never copied. The streaming decoders
//! are pure Rust (flate2's zlib-rs backend, ruzstd, lzma-rust2); a gzip file that chunk holds
//! whole is decoded in one call by libdeflate instead ([`super::inflate`]), to the same text.
//!
//! Guarantees, per file:
//! - Memory: a decoder holds its window (gzip 32 KiB; zstd and xz at most [`MAX_WINDOW`],
//!   larger windows are refused before anything is allocated) and a [`BUF`] input buffer.
//! - Output: each layer's output stops at [`Limits::max_size`] decoded bytes, and at
//!   [`Limits::max_ratio`] times the bytes read from disk once past [`RATIO_FLOOR`]: a
//!   decompression bomb ends as [`Stop::Bomb`] after at most that much work, never a hang or an
//!   OOM. What was decoded up to there is scanned.
//! - Damage: a truncated or corrupt stream ends as [`Stop::Damaged`]; what was decoded before
//!   the damage is scanned, but for at most its last [`DAMAGE_LOSS`] bytes (the decoder's
//!   error replaces the output of the read that met the damage).
//! - Nesting: at most [`MAX_LAYERS`] layers (a `.gz` inside a `.gz`); a third is scanned as
//!   the bytes it is.
//!
//! Tar archives are not split into members: a `.tar.gz` is scanned as one decoded stream, tar
//! headers included, and its line numbers count within that stream.

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::rc::Rc;

use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

use super::inflate::Inflater;
use super::reader::{ReadEnd, Sniff};
use crate::finding::Encoding;

/// Compression layers read through at most (the file's, and one inside it).
pub(super) const MAX_LAYERS: usize = 2;
/// Largest zstd window or xz dictionary accepted (`zstd -19` and `xz -7` use at most this).
pub(super) const MAX_WINDOW: u64 = 16 << 20;
/// Input buffer of each decoder.
const BUF: usize = 64 << 10;
/// The most decoded bytes one read of a decoder asks for: on damage, what that read decoded
/// is lost (the decoder returns its error instead), the rest was scanned.
const DAMAGE_LOSS: usize = 32 << 10;
/// Decoded bytes of a layer before the expansion ratio is checked: the first blocks of a
/// stream may expand far more than the whole.
pub(super) const RATIO_FLOOR: u64 = 4 << 20;

/// The caps on what one file may decode to (`scan.max_decompressed_size`,
/// `scan.max_expansion_ratio`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Decoded bytes of each layer.
    pub max_size: u64,
    /// Decoded bytes per byte read from disk (0 = no ratio cap).
    pub max_ratio: u64,
}

impl Limits {
    /// The built-in caps: 256 MiB decoded per layer, 100 decoded bytes per byte read.
    pub const DEFAULT: Limits = Limits {
        max_size: 256 << 20,
        max_ratio: 100,
    };
}

/// The compression a stream's first bytes announce, if any.
pub(super) fn sniff(head: &[u8]) -> Option<Encoding> {
    match head {
        // ID1 ID2 CM=deflate, and no reserved flag bit set (RFC 1952).
        [0x1f, 0x8b, 0x08, flags, ..] if flags & 0xe0 == 0 => Some(Encoding::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Encoding::Zstd),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Some(Encoding::Xz),
        _ => None,
    }
}

/// Why a decoded stream ended before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stop {
    /// Over a cap: `decoded` bytes out of `read` bytes from disk.
    Bomb {
        encoding: Encoding,
        decoded: u64,
        read: u64,
        why: &'static str,
    },
    /// Truncated, corrupt or unsupported after `decoded` bytes.
    Damaged {
        encoding: Encoding,
        decoded: u64,
        error: String,
    },
}

impl Stop {
    /// One sentence for the log and the unreadable list (never content).
    pub(super) fn reason(&self) -> String {
        match self {
            Stop::Bomb {
                encoding,
                decoded,
                read,
                why,
            } => format!(
                "{} stream skipped as a decompression bomb ({why}: {decoded} bytes decoded from \
                 {read} read); the decoded part was scanned",
                encoding.as_str()
            ),
            Stop::Damaged {
                encoding,
                decoded,
                error,
            } => format!(
                "{} stream truncated or corrupt after {decoded} decoded bytes: {error}; the \
                 decoded part was scanned",
                encoding.as_str()
            ),
        }
    }
}

/// How a source was read in the end.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Decoded {
    /// The compression layers read through, outermost first.
    pub(super) layers: Vec<Encoding>,
    /// Whether the text was UTF-16 with a BOM, decoded to UTF-8.
    pub(super) utf16: bool,
    /// Why the decoded stream ended early, if it did.
    pub(super) stop: Option<Stop>,
}

/// The bytes a source's first read holds (from its start), handed from the reader to the
/// decoders so that they are not read again.
#[derive(Debug, Clone, Copy)]
pub(super) struct Head<'h> {
    /// The source's first bytes.
    pub(super) bytes: &'h [u8],
    /// Whether they are all of it (the source is not read again at all).
    pub(super) whole: bool,
}

/// Reads `src` again, from its start, through what its first read announced (`first`): a
/// UTF-16 decoder or decompressors (with `limits`; `None`: compressed streams are not sniffed
/// for). The first read's bytes come from `head`, the rest from `src` past them. `scan` reads
/// one stream through the chunked reader, sniffing for what it is told, and says how it ended;
/// each sniffed layer costs one more `scan` of the first chunk.
///
/// A stream whose magic bytes lead to nothing decodable (damaged before its first decoded
/// byte: a file that only starts like gzip, a zstd window over [`MAX_WINDOW`]) is scanned as
/// the bytes it is instead, and still reported as damaged.
///
/// A gzip file that the first read holds whole is decoded in one call into `whole` (see
/// [`Inflater`]) when it is one clean member within the caps: the same text, faster.
pub(super) fn read_through<S: Read + Seek>(
    src: &mut S,
    first: ReadEnd,
    head: Head<'_>,
    limits: Option<Limits>,
    whole: &mut Inflater,
    mut scan: impl FnMut(&mut dyn Read, Sniff) -> io::Result<ReadEnd>,
) -> io::Result<Decoded> {
    let caps = limits.unwrap_or(Limits {
        max_size: u64::MAX,
        max_ratio: 0,
    });
    let mut d = Decoded::default();
    let mut sniff_compressed = limits.is_some();
    // A stream refused before its first decoded byte, reported after the bytes are scanned.
    let mut refused = None;
    let mut end = first;
    loop {
        match end {
            ReadEnd::Utf16Bom => d.utf16 = true,
            ReadEnd::Compressed(e) => d.layers.push(e),
            ReadEnd::Scanned => match &d.stop {
                Some(Stop::Damaged { decoded: 0, .. }) if !d.layers.is_empty() && !d.utf16 => {
                    d.layers.pop();
                    refused = d.stop.take();
                    sniff_compressed = false;
                }
                _ => {
                    d.stop = d.stop.or(refused);
                    return Ok(d);
                }
            },
        }
        let sniff = Sniff {
            bom: true,
            compressed: sniff_compressed && d.layers.len() < MAX_LAYERS,
        };
        if head.whole && !d.utf16 && d.layers == [Encoding::Gzip] {
            if let Some(text) = whole.gunzip(head.bytes, caps.max_size) {
                end = scan(&mut &*text, sniff)?;
                continue;
            }
        }
        let rest: Box<dyn BufRead + '_> = if head.whole {
            Box::new(io::empty())
        } else {
            src.seek(SeekFrom::Start(head.bytes.len() as u64))?;
            Box::new(BufReader::with_capacity(BUF, &mut *src))
        };
        let mut chain = Chain::new(head.bytes.chain(rest), &d.layers, caps);
        end = if d.utf16 {
            let mut text = encoding_rs_io::DecodeReaderBytesBuilder::new()
                .bom_sniffing(true)
                .build(chain.reader());
            scan(&mut text, Sniff::default())?
        } else {
            scan(chain.reader(), sniff)?
        };
        d.stop = chain.stop();
    }
}

/// What the layers of one chain share: bytes read from disk, and the first stop.
#[derive(Debug, Default)]
struct Progress {
    disk: Cell<u64>,
    stop: RefCell<Option<Stop>>,
}

/// The layers of decoders over one file, read outermost first.
pub(super) struct Chain<'f> {
    reader: Box<dyn Read + 'f>,
    progress: Rc<Progress>,
}

impl<'f> Chain<'f> {
    /// Decoders for `layers` (outermost first) over `src`, read from its current position:
    /// the outermost reads `src`'s buffer as it is, each inner one a [`BUF`] buffer of the
    /// layer outside it.
    pub(super) fn new(src: impl BufRead + 'f, layers: &[Encoding], limits: Limits) -> Chain<'f> {
        let progress = Rc::new(Progress::default());
        let counted: Box<dyn BufRead + 'f> = Box::new(Counting {
            inner: src,
            progress: Rc::clone(&progress),
        });
        let mut input = Some(counted);
        let mut reader: Box<dyn Read + 'f> = Box::new(io::empty());
        for &encoding in layers {
            let buffered = match input.take() {
                Some(outermost) => outermost,
                None => Box::new(BufReader::with_capacity(BUF, reader)),
            };
            reader = Box::new(Guard {
                inner: decoder(encoding, buffered),
                encoding,
                limits,
                decoded: 0,
                progress: Rc::clone(&progress),
            });
        }
        if let Some(plain) = input {
            reader = plain;
        }
        Chain { reader, progress }
    }

    /// The decoded stream: it ends at the end of the data or at the first [`Stop`].
    pub(super) fn reader(&mut self) -> &mut (dyn Read + 'f) {
        &mut *self.reader
    }

    /// Why the stream ended early, if it did.
    pub(super) fn stop(&self) -> Option<Stop> {
        self.progress.stop.borrow().clone()
    }
}

/// A streaming decoder of `encoding` over `buffered`.
fn decoder<'f>(encoding: Encoding, buffered: Box<dyn BufRead + 'f>) -> Box<dyn Read + 'f> {
    match encoding {
        Encoding::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Encoding::Zstd => Box::new(ZstdFrames::new(buffered)),
        Encoding::Xz => {
            // The LZMA2 dictionary plus the decoder's own state, in KiB.
            let limit_kb = (MAX_WINDOW >> 10) as u32 + 1024;
            Box::new(lzma_rust2::XzReader::new_mem_limit(
                buffered, true, limit_kb,
            ))
        }
        // Text decodings happen in the matcher (issue 13); `sniff` never names them.
        Encoding::Base64
        | Encoding::JsonEscape
        | Encoding::JsEscape
        | Encoding::HtmlEntity
        | Encoding::UrlEscape
        | Encoding::Concat => Box::new(buffered),
    }
}

/// Counts the bytes read from the file, for the expansion ratio.
struct Counting<R> {
    inner: R,
    progress: Rc<Progress>,
}

impl<R> Counting<R> {
    fn count(&self, n: usize) {
        let p = &self.progress.disk;
        p.set(p.get() + n as u64);
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count(n);
        Ok(n)
    }
}

/// Bytes are counted as the decoder consumes them from the buffer.
impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.count(n);
        self.inner.consume(n);
    }
}

/// One decoder's output under the caps: the first error or cap ends its stream (EOF) and is
/// kept as the chain's [`Stop`].
struct Guard<'f> {
    inner: Box<dyn Read + 'f>,
    encoding: Encoding,
    limits: Limits,
    decoded: u64,
    progress: Rc<Progress>,
}

impl Guard<'_> {
    fn stop(&self, stop: Stop) -> io::Result<usize> {
        let mut slot = self.progress.stop.borrow_mut();
        slot.get_or_insert(stop);
        Ok(0)
    }

    fn bomb(&self, why: &'static str) -> io::Result<usize> {
        self.stop(Stop::Bomb {
            encoding: self.encoding,
            decoded: self.decoded,
            read: self.progress.disk.get(),
            why,
        })
    }
}

impl Read for Guard<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.progress.stop.borrow().is_some() {
            return Ok(0);
        }
        let room = self.limits.max_size.saturating_sub(self.decoded);
        // At the cap, one byte more tells a stream that ends there from a bomb. A decoder
        // that meets damage returns an error, not the bytes it decoded in that call: a
        // call asks for at most DAMAGE_LOSS bytes, so no more than that is lost before it.
        let want = (buf.len().min(DAMAGE_LOSS)).min(room.max(1).try_into().unwrap_or(usize::MAX));
        let n = loop {
            match self.inner.read(&mut buf[..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return self.stop(Stop::Damaged {
                        encoding: self.encoding,
                        decoded: self.decoded,
                        error: e.to_string(),
                    })
                }
            }
        };
        if n > 0 && room == 0 {
            return self.bomb("over scan.max_decompressed_size");
        }
        self.decoded += n as u64;
        if over_ratio(
            self.decoded,
            self.progress.disk.get(),
            self.limits.max_ratio,
        ) {
            // These bytes are scanned; the next read ends the stream.
            self.bomb("over scan.max_expansion_ratio")?;
        }
        Ok(n)
    }
}

/// Whether `decoded` bytes from `read` bytes of disk exceed `ratio` (0 = no cap), once past
/// [`RATIO_FLOOR`].
fn over_ratio(decoded: u64, read: u64, ratio: u64) -> bool {
    ratio > 0 && decoded > RATIO_FLOOR && decoded / ratio > read
}

/// Concatenated zstd frames as one stream (ruzstd's `StreamingDecoder` reads one frame).
struct ZstdFrames<R> {
    src: R,
    frames: FrameDecoder,
    started: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(src: R) -> Self {
        let mut frames = FrameDecoder::new();
        frames.set_max_window_size(MAX_WINDOW);
        ZstdFrames {
            src,
            frames,
            started: false,
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.started || (self.frames.is_finished() && self.frames.can_collect() == 0) {
                if self.started && self.src.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                self.frames.reset(&mut self.src).map_err(io::Error::other)?;
                self.started = true;
            }
            while self.frames.can_collect() == 0 && !self.frames.is_finished() {
                (self.frames)
                    .decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(io::Error::other)?;
            }
            let n = self.frames.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

#[cfg(test)]
#[path = "decompress_tests.rs"]
pub(super) mod tests;
