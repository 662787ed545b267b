//! Whole-buffer gzip decoding (libdeflate) for the compressed files that fit in the reader's
//! first chunk: a rotated log is decoded in one call, about 1.5 times as fast as the
//! streaming decoder (zlib-rs) on the benchmark's logs, which matters because inflate is
//! nearly all of what decompression costs (docs/benchmarks.md).
//!
//! It is only a faster way to the same text: [`Inflater::gunzip`] answers `None` for anything
//! it would not decode exactly as the streaming chain in [`super::decompress`] does (more than
//! one member, bytes after the member, damage, a size field that lies, output over the caps),
//! and the caller then reads the file through that chain, which reports damage and bombs. So
//! findings, `encoding` and the unreadable list do not depend on which path decoded a file.
//!
//! Memory: the output buffer grows to the largest decoded size seen, at most [`WHOLE_MAX`]
//! per scanning thread, and libdeflate's decoder state (about 11 KiB) is kept with it.

use std::ptr::NonNull;

use libdeflate_sys as ffi;

/// Largest decoded size decoded whole; larger streams are decoded streaming. At most
/// [`super::decompress::RATIO_FLOOR`], below which the streaming chain does not check the
/// expansion ratio either.
pub(super) const WHOLE_MAX: usize = 4 << 20;

/// A scanning thread's whole-buffer decoder: libdeflate's state, allocated on the first gzip
/// file and reused (an allocation zeroes about 11 KiB: 4 % of the instructions of decoding
/// small man pages, though no wall time that the benchmark can tell), and the output buffer,
/// grown to the largest decoded size seen (at most [`WHOLE_MAX`]). A failed call leaves
/// nothing behind that the next one reads.
#[derive(Default)]
pub(super) struct Inflater {
    decoder: Option<Decoder>,
    out: Vec<u8>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("decoder", &self.decoder.is_some())
            .field("out", &self.out.len())
            .finish()
    }
}

impl Inflater {
    /// The decoded text of `src` if it is exactly one gzip member (RFC 1952) that decodes
    /// clean (CRC-32 and length checked) to at most `max` bytes (and [`WHOLE_MAX`]); `None`
    /// for anything else, left to the streaming decoder.
    pub(super) fn gunzip(&mut self, src: &[u8], max: u64) -> Option<&[u8]> {
        // ISIZE, the member's decoded length mod 2^32, in its last four bytes: the buffer
        // needed.
        let isize_field = src.len().checked_sub(4).and_then(|at| src.get(at..))?;
        let want = u32::from_le_bytes(isize_field.try_into().ok()?) as usize;
        if want > WHOLE_MAX || want as u64 > max {
            return None;
        }
        // Grown with zeros once, then reused: no clearing per file.
        if self.out.len() < want {
            self.out.resize(want, 0);
        }
        if self.decoder.is_none() {
            self.decoder = Decoder::new();
        }
        let (used, made) = self.decoder.as_ref()?.gzip(src, &mut self.out[..want])?;
        // Bytes after the member (a second member, padding) are the streaming decoder's to
        // judge.
        (used == src.len() && made == want).then(|| &self.out[..made])
    }
}

/// One libdeflate decompressor, freed on drop. libdeflate keeps no state between calls that
/// a call depends on, so one decompressor serves any number of files, one call at a time.
struct Decoder(NonNull<ffi::libdeflate_decompressor>);

// SAFETY: the decompressor is plain heap memory that libdeflate ties to no thread; moving it
// to another thread is sound, and using it from two at once is ruled out by not being `Sync`.
#[allow(unsafe_code)]
unsafe impl Send for Decoder {}

impl Decoder {
    fn new() -> Option<Decoder> {
        // SAFETY: no preconditions; a null answer (out of memory) is handled.
        #[allow(unsafe_code)]
        let p = unsafe { ffi::libdeflate_alloc_decompressor() };
        NonNull::new(p).map(Decoder)
    }

    /// Decodes the gzip member at the start of `src` into `out`: (bytes of `src` it used,
    /// bytes decoded), or `None` on damage or when `out` is too small.
    fn gzip(&self, src: &[u8], out: &mut [u8]) -> Option<(usize, usize)> {
        let (mut used, mut made) = (0usize, 0usize);
        // SAFETY: both pointers come with the length of the slice they point into, the
        // decompressor is this live one and is used by one call at a time (`&self` of a type
        // that is not Sync), and libdeflate writes only `out[..out.len()]` and the two counts.
        #[allow(unsafe_code)]
        let result = unsafe {
            ffi::libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                src.as_ptr().cast(),
                src.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut used,
                &mut made,
            )
        };
        (result == ffi::libdeflate_result_LIBDEFLATE_SUCCESS).then_some((used, made))
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor and freed once, here.
        #[allow(unsafe_code)]
        unsafe {
            ffi::libdeflate_free_decompressor(self.0.as_ptr())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::decompress::tests::gzip;

    fn text(n: usize) -> Vec<u8> {
        (0..n).map(|i| b"abcdefghij klmnop\n"[i % 18]).collect()
    }

    #[test]
    fn one_member_is_decoded_whole_and_anything_else_is_left_to_the_stream() {
        let plain = text(100_000);
        let one = gzip(&plain);
        let mut out = Inflater::default();
        assert_eq!(out.gunzip(&one, u64::MAX), Some(&plain[..]));
        assert_eq!(out.gunzip(&gzip(b""), u64::MAX), Some(&b""[..]));

        let two = [one.clone(), gzip(b"more")].concat();
        let padded = [one.clone(), vec![0; 8]].concat();
        let cut = &one[..one.len() - 9];
        let mut bad_crc = one.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 1;
        // A size field smaller or larger than the text.
        let mut small = one.clone();
        let at = small.len() - 4;
        small[at..].copy_from_slice(&1000u32.to_le_bytes());
        let mut large = one.clone();
        large[at..].copy_from_slice(&200_000u32.to_le_bytes());
        for (what, src) in [
            ("two members", &two[..]),
            ("padding after the member", &padded[..]),
            ("truncated", cut),
            ("bad CRC", &bad_crc[..]),
            ("size field too small", &small[..]),
            ("size field too large", &large[..]),
            ("not gzip", &plain[..]),
            ("shorter than a size field", &one[..3]),
        ] {
            assert_eq!(out.gunzip(src, u64::MAX), None, "{what}");
        }
        // The decompressor, reused after those failures, decodes a clean member as before.
        assert_eq!(out.gunzip(&one, u64::MAX), Some(&plain[..]));
    }

    #[test]
    fn the_caps_send_larger_streams_to_the_streaming_decoder() {
        let plain = text(WHOLE_MAX + 1);
        let mut out = Inflater::default();
        assert_eq!(out.gunzip(&gzip(&plain), u64::MAX), None);
        let plain = text(5000);
        assert_eq!(out.gunzip(&gzip(&plain), 4999), None);
        assert_eq!(out.gunzip(&gzip(&plain), 5000), Some(&plain[..]));
        // A later, smaller file is not mixed with the buffer's older bytes.
        assert_eq!(out.gunzip(&gzip(b"short"), 5000), Some(&b"short"[..]));
    }
}
