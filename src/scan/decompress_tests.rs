//! Compressed streams through the chunked reader: keys across chunk borders inside a stream,
//! concatenated members and frames, nesting, truncation, damage and bombs.

use std::io::{Cursor, Write};
use std::time::Instant;

use super::*;
use crate::scan::matcher::Matcher;
use crate::scan::reader::tests::Got;
use crate::scan::reader::{ChunkReader, OVERLAP};

const KEY: &str = "AKIASXQV3SVWMFRRRM75";
const SECRET: &str = "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";
/// A small window (it must exceed the overlap), so that a few hundred KiB cross borders.
const SMALL: usize = OVERLAP + 4096;

pub(in crate::scan) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub(super) fn zstd(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

pub(super) fn xz(bytes: &[u8]) -> Vec<u8> {
    let options = lzma_rust2::XzOptions::with_preset(6);
    let mut w = lzma_rust2::XzWriter::new(Vec::new(), options).unwrap();
    w.write_all(bytes).unwrap();
    w.finish().unwrap()
}

/// What a read reported: bytes counted, and (line, column, value) of each match.
struct Seen {
    bytes: u64,
    found: Vec<(u64, u64, String)>,
}

/// Reads `file` as the worker reads a file (small windows), under `limits`; and checks that it
/// reads the same when the first read holds the whole file (a clean gzip member is then
/// decoded in one call, `inflate`) and when it holds only its start (always streamed).
fn read(file: &[u8], limits: Limits) -> (Seen, Decoded) {
    let (seen, d) = read_with_head(file, limits, None);
    for whole in [true, false] {
        let (other, other_d) = read_with_head(file, limits, Some(whole));
        assert_eq!(
            (other.bytes, &other.found, &other_d),
            (seen.bytes, &seen.found, &d),
            "the first read holding the whole file: {whole}"
        );
    }
    (seen, d)
}

/// [`read`], with the first read's bytes as the reader took them (`None`), or all of the file
/// (`Some(true)`), or only its start (`Some(false)`: at most [`SMALL`] bytes, never all).
fn read_with_head(file: &[u8], limits: Limits, whole: Option<bool>) -> (Seen, Decoded) {
    let matcher = Matcher::builtin().unwrap();
    let mut reader = ChunkReader::with_chunk(SMALL);
    let mut got = Got::default();
    let mut src = Cursor::new(file);
    let sniff = Sniff {
        bom: true,
        compressed: true,
    };
    let bounds = (u64::MAX, Some(file.len() as u64));
    let first = reader
        .read(&mut src, &matcher, bounds, sniff, &mut got)
        .unwrap();
    let mut taken = reader.take_head();
    let (sniffed, inflater) = taken.split();
    let bytes = match whole {
        None => sniffed,
        Some(true) => file,
        Some(false) => &file[..file.len().saturating_sub(1).min(SMALL)],
    };
    let head = Head {
        bytes,
        whole: bytes.len() == file.len(),
    };
    let d = read_through(&mut src, first, head, Some(limits), inflater, |r, sniff| {
        reader.read(r, &matcher, (u64::MAX, None), sniff, &mut got)
    })
    .unwrap();
    let found = got.found.into_iter();
    let found = found.map(|(at, v)| (at.line, at.column, v)).collect();
    (
        Seen {
            bytes: got.bytes,
            found,
        },
        d,
    )
}

/// Filler lines of `len` bytes, ending with a newline.
fn filler(len: usize) -> Vec<u8> {
    let line = b"filler line of text, nothing here\n";
    let mut out = Vec::with_capacity(len);
    while out.len() + line.len() < len {
        out.extend_from_slice(line);
    }
    out.resize(len - 1, b'.');
    out.push(b'\n');
    out
}

fn lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// Plain text with a key id straddling the first window's border and a secret after it.
fn straddling() -> (Vec<u8>, Vec<(u64, u64, String)>) {
    let mut text = filler(SMALL - 12);
    let before = lines(&text);
    text.extend_from_slice(format!("k={KEY}\naws_secret_access_key={SECRET}\n").as_bytes());
    text.extend_from_slice(&filler(3 * SMALL));
    let want = vec![
        (before + 1, 3, KEY.to_string()),
        (before + 2, 23, SECRET.to_string()),
    ];
    (text, want)
}

#[test]
fn magic_bytes_name_the_compression() {
    for (head, want) in [
        (&[0x1f, 0x8b, 0x08, 0x00][..], Some(Encoding::Gzip)),
        (&[0x1f, 0x8b, 0x08, 0x08, 0, 0][..], Some(Encoding::Gzip)),
        (&[0x1f, 0x8b, 0x08, 0x20][..], None), // a reserved flag bit
        (&[0x1f, 0x8b, 0x07, 0x00][..], None), // not deflate
        (&[0x1f, 0x8b][..], None),
        (&[0x28, 0xb5, 0x2f, 0xfd, 0x00][..], Some(Encoding::Zstd)),
        (
            &[0xfd, b'7', b'z', b'X', b'Z', 0x00][..],
            Some(Encoding::Xz),
        ),
        (&[0xfd, b'7', b'z', b'X', b'Z'][..], None),
        (b"PK\x03\x04", None),
        (b"", None),
        (b"plain text", None),
    ] {
        assert_eq!(sniff(head), want, "{head:x?}");
    }
}

#[test]
fn ratio_cap_applies_past_the_floor() {
    for (decoded, read, ratio, over) in [
        (RATIO_FLOOR, 1, 100, false), // not past the floor yet
        (RATIO_FLOOR + 1, 1, 100, true),
        (100 << 20, 1 << 20, 100, false), // exactly the ratio
        (101 << 20, 1 << 20, 100, true),
        (u64::MAX, 1, 0, false), // 0: no ratio cap
    ] {
        assert_eq!(
            over_ratio(decoded, read, ratio),
            over,
            "{decoded} {read} {ratio}"
        );
    }
}

#[test]
fn a_key_straddling_a_chunk_border_inside_each_compression_is_found_once() {
    let (text, want) = straddling();
    for (name, file, enc) in [
        ("gzip", gzip(&text), Encoding::Gzip),
        ("zstd", zstd(&text), Encoding::Zstd),
        ("xz", xz(&text), Encoding::Xz),
    ] {
        let (got, d) = read(&file, Limits::DEFAULT);
        assert_eq!(got.found, want, "{name}");
        assert_eq!(
            got.bytes,
            text.len() as u64,
            "{name}: decoded bytes counted once"
        );
        assert_eq!((d.layers, d.stop), (vec![enc], None), "{name}");
    }
}

#[test]
fn concatenated_members_frames_and_streams_are_one_stream() {
    let (text, want) = straddling();
    let (head, tail) = text.split_at(SMALL - 5); // the key id split between two members
    for (name, join) in [
        ("gzip", [gzip(head), gzip(tail)].concat()),
        ("zstd", [zstd(head), zstd(tail)].concat()),
        ("xz", [xz(head), xz(tail)].concat()),
    ] {
        let (got, d) = read(&join, Limits::DEFAULT);
        assert_eq!((got.found, d.stop), (want.clone(), None), "{name}");
    }
}

#[test]
fn one_nested_layer_is_read_and_a_third_is_not() {
    let mut text = filler(4096);
    text.extend_from_slice(format!("aws_access_key_id = {KEY}\n").as_bytes());
    let line = lines(&text);
    let (got, d) = read(&gzip(&xz(&text)), Limits::DEFAULT);
    assert_eq!(got.found, [(line, 21, KEY.to_string())]);
    assert_eq!(d.layers, [Encoding::Gzip, Encoding::Xz]);
    // Three layers: the innermost stream is scanned as the bytes it is (no key in sight).
    let (got, d) = read(&gzip(&gzip(&gzip(&text))), Limits::DEFAULT);
    assert_eq!((got.found.len(), d.layers.len()), (0, MAX_LAYERS));
}

#[test]
fn utf16_inside_gzip_is_decoded_too() {
    let mut utf16 = vec![0xFF, 0xFE];
    for u in format!("id={KEY}\r\n").encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let (got, d) = read(&gzip(&utf16), Limits::DEFAULT);
    assert_eq!(got.found, [(1, 4, KEY.to_string())]);
    assert!(d.utf16);
    assert_eq!(d.layers, [Encoding::Gzip]);
}

#[test]
fn a_truncated_stream_is_scanned_up_to_the_damage_and_reported() {
    let (mut text, want) = straddling();
    // Half a MiB of text that hardly compresses after the keys, for the cut to fall in: xz
    // decodes whole LZMA2 chunks (up to 2 MiB of text), so the keys' chunk must end before.
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..(512 << 10) / 64 {
        text.extend((0..63).map(|_| rng.u8(b'a'..=b'z')));
        text.push(b'\n');
    }
    for (name, file) in [
        ("gzip", gzip(&text)),
        ("xz", xz(&text)),
        ("zstd", zstd(&text)),
    ] {
        let cut = &file[..file.len() * 3 / 4];
        let (got, d) = read(cut, Limits::DEFAULT);
        assert_eq!(
            got.found, want,
            "{name}: the decoded part is scanned ({d:?})"
        );
        let Some(Stop::Damaged { decoded, .. }) = d.stop else {
            panic!("{name}: {:?}", d.stop)
        };
        assert!(
            decoded > 0 && decoded < text.len() as u64,
            "{name}: {decoded}"
        );
        assert_eq!(got.bytes, decoded, "{name}");
    }
    // Garbage after a valid member is damage too, after the whole member.
    let (text, want) = straddling();
    let mut trailing = gzip(&text);
    trailing.extend_from_slice(b"\x1f\x8b\x08\x00garbage");
    let (got, d) = read(&trailing, Limits::DEFAULT);
    assert_eq!(got.found, want);
    assert!(matches!(d.stop, Some(Stop::Damaged { decoded, .. }) if decoded == text.len() as u64));
}

#[test]
fn a_file_that_only_starts_like_gzip_is_scanned_as_bytes() {
    let mut bogus = vec![0x1f, 0x8b, 0x08, 0x00, 0xff, 0xff];
    bogus.extend_from_slice(format!("\nid={KEY}\n").as_bytes());
    let (got, d) = read(&bogus, Limits::DEFAULT);
    assert_eq!(got.found, [(2, 4, KEY.to_string())]);
    assert_eq!(got.bytes, bogus.len() as u64);
    assert_eq!(d.layers, []);
    assert!(matches!(
        d.stop,
        Some(Stop::Damaged {
            encoding: Encoding::Gzip,
            decoded: 0,
            ..
        })
    ));
}

/// 1 GiB of zeros in one gzip member (about 1 MiB): stopped by the ratio cap after a few MiB.
#[test]
fn a_gzip_bomb_is_stopped_quickly_by_the_ratio_cap() {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        e.write_all(&zeros).unwrap();
    }
    let mut bomb = e.finish().unwrap();
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    // A key after the zeros, in a second member: never reached.
    bomb.extend_from_slice(&gzip(format!("id={KEY}\n").as_bytes()));
    let started = Instant::now();
    let (got, d) = read(&bomb, Limits::DEFAULT);
    let Some(Stop::Bomb { decoded, read, .. }) = d.stop else {
        panic!("{:?}", d.stop)
    };
    // Stopped at the first check past the floor where the ratio was over 100.
    assert!(decoded <= RATIO_FLOOR + (8 << 20), "{decoded} decoded");
    assert!(read <= bomb.len() as u64);
    assert_eq!(got.bytes, decoded);
    assert!(got.found.is_empty());
    eprintln!(
        "bomb stopped after {decoded} bytes in {:?}",
        started.elapsed()
    );
}

/// The same bomb as gzip members (about 1 KiB each), under a size cap with no ratio cap.
#[test]
fn the_size_cap_stops_a_bomb_at_the_cap_and_a_stream_of_exactly_the_cap_is_whole() {
    let member = gzip(&vec![0u8; 1 << 20]);
    let bomb: Vec<u8> = member.repeat(1024);
    let limits = Limits {
        max_size: 8 << 20,
        max_ratio: 0,
    };
    let (got, d) = read(&bomb, limits);
    assert!(matches!(d.stop, Some(Stop::Bomb { decoded, .. }) if decoded == 8 << 20));
    assert_eq!(got.bytes, 8 << 20);
    let reason = d.stop.unwrap().reason();
    assert!(reason.contains("scan.max_decompressed_size"), "{reason}");
    // Exactly at the cap: whole, not a bomb.
    let (got, d) = read(&member.repeat(8), limits);
    assert_eq!((got.bytes, d.stop), (8 << 20, None));
}

#[test]
fn a_zstd_window_over_the_limit_is_refused_before_allocation() {
    // A frame header asking for a 2 GiB window (window descriptor exponent 21), no content.
    let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa8, 0x01, 0x00, 0x00];
    let mut file = frame.to_vec();
    file.extend_from_slice(format!("\nid={KEY}\n").as_bytes());
    let (got, d) = read(&file, Limits::DEFAULT);
    // Nothing decoded: the file is scanned as bytes, and reported.
    assert_eq!(got.found, [(2, 4, KEY.to_string())]);
    assert_eq!(d.layers, []);
    let reason = d.stop.unwrap().reason();
    assert!(
        reason.starts_with("zstd stream truncated or corrupt after 0"),
        "{reason}"
    );
}

/// The first read's bytes are decoded where they lie: a head holding the whole file reads
/// nothing more from the source (here zeros, which would decode to nothing), and a partial
/// head is continued from the source just past it.
#[test]
fn the_first_chunk_is_decoded_in_place_and_the_file_read_on_past_it() {
    let (text, want) = straddling();
    let want: Vec<(u64, u64)> = want.into_iter().map(|(l, c, _)| (l, c)).collect();
    let file = gzip(&text);
    let matcher = Matcher::builtin().unwrap();
    for (head_len, source) in [
        (file.len(), vec![0u8; file.len()]),
        (file.len() / 2, file.clone()),
        (10, file.clone()),
    ] {
        let head = Head {
            bytes: &file[..head_len],
            whole: head_len == file.len(),
        };
        let mut reader = ChunkReader::with_chunk(SMALL);
        let mut got = Got::default();
        let first = ReadEnd::Compressed(Encoding::Gzip);
        let d = read_through(
            &mut Cursor::new(source),
            first,
            head,
            Some(Limits::DEFAULT),
            &mut Inflater::default(),
            |r, s| reader.read(r, &matcher, (u64::MAX, None), s, &mut got),
        )
        .unwrap();
        assert_eq!(
            (d.layers, d.stop),
            (vec![Encoding::Gzip], None),
            "head {head_len}"
        );
        assert_eq!(got.bytes, text.len() as u64, "head {head_len}");
        let places: Vec<(u64, u64)> = got.found.iter().map(|(p, _)| (p.line, p.column)).collect();
        assert_eq!(places, want, "head {head_len}");
    }
}
