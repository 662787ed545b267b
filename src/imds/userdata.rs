//! User-data as the scanner needs it: gzip-compressed user-data (it starts `1f 8b`, as
//! cloud-init accepts it) is decompressed with a bound on the output, everything else
//! (shell scripts, cloud-config, MIME multipart archives) is scanned as the text it is.
//!
//! A MIME multipart archive (cloud-init's `make-mime`, `write-mime-multipart`) is scanned as
//! text too, but its parts are often base64-encoded (Python's `MIMEText` with UTF-8 does
//! that) and sometimes gzip-compressed, which would hide a key from the matcher. So each such
//! part's body is replaced by its decoded content, where it stands in the archive: a key is
//! found once, in the decoded text (not also by the matcher's own base64 decoding of the
//! part), and its line counts in the archive as rewritten. A part that does not decode is left
//! as it is, for the matcher.

use std::io::Read;

use base64::Engine as _;
use flate2::read::MultiGzDecoder;

/// The gzip magic bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why user-data could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum UserDataError {
    /// The decompressed user-data is larger than the limit.
    #[error("decompressed user-data is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The gzip stream is corrupt.
    #[error("user-data starts like gzip but cannot be decompressed: {source}")]
    Gzip {
        /// Why.
        source: std::io::Error,
    },
}

/// How deep MIME multiparts nest before the decoder stops looking inside.
const MAX_MIME_DEPTH: usize = 3;

/// Decodes raw user-data: gunzips it when it is gzip, then replaces the base64 or gzip parts
/// of a MIME multipart archive by their decoded content; the output is at most `limit` bytes.
pub fn decode(raw: Vec<u8>, limit: u64) -> Result<Vec<u8>, UserDataError> {
    let text = gunzip(raw, limit)?;
    let mut out = Vec::new();
    if !mime_rewritten(&text, limit, 0, &mut out)? {
        return Ok(text);
    }
    Ok(out)
}

/// Gunzips `raw` if it is gzip (bounded by `limit`); checks the size otherwise.
fn gunzip(raw: Vec<u8>, limit: u64) -> Result<Vec<u8>, UserDataError> {
    if !raw.starts_with(&GZIP_MAGIC) {
        if raw.len() as u64 > limit {
            return Err(UserDataError::TooLarge { limit });
        }
        return Ok(raw);
    }
    let mut out = Vec::new();
    // Read one byte more than the limit to tell "exactly the limit" from "larger".
    MultiGzDecoder::new(raw.as_slice())
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| UserDataError::Gzip { source })?;
    if out.len() as u64 > limit {
        return Err(UserDataError::TooLarge { limit });
    }
    Ok(out)
}

/// The parameter `boundary` of a multipart `Content-Type` in a header block.
fn boundary(headers: &[u8]) -> Option<Vec<u8>> {
    let lower = headers.to_ascii_lowercase();
    let ct = memchr::memmem::find(&lower, b"content-type:")?;
    let after = &lower[ct..];
    let mp = memchr::memmem::find(after, b"multipart/")?;
    // The Content-Type header ends at the first line that does not start with whitespace.
    let header_end = after
        .windows(2)
        .position(|w| w[0] == b'\n' && !matches!(w[1], b' ' | b'\t'))
        .unwrap_or(after.len());
    if mp > header_end {
        return None;
    }
    let b = memchr::memmem::find(&after[..header_end], b"boundary=")? + ct + "boundary=".len();
    let rest = &headers[b..];
    let value: Vec<u8> = if rest.first() == Some(&b'"') {
        rest[1..]
            .iter()
            .take_while(|&&c| c != b'"')
            .copied()
            .collect()
    } else {
        rest.iter()
            .take_while(|&&c| !matches!(c, b';' | b' ' | b'\t' | b'\r' | b'\n'))
            .copied()
            .collect()
    };
    (!value.is_empty()).then_some(value)
}

/// Splits `data` at its first empty line into headers and body.
fn split_headers(data: &[u8]) -> (&[u8], &[u8]) {
    let crlf = memchr::memmem::find(data, b"\r\n\r\n").map(|p| (p, 4));
    let lf = memchr::memmem::find(data, b"\n\n").map(|p| (p, 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => {
            let (p, n) = if a.0 < b.0 { a } else { b };
            (&data[..p], &data[p + n..])
        }
        (Some((p, n)), None) | (None, Some((p, n))) => (&data[..p], &data[p + n..]),
        (None, None) => (data, &data[data.len()..]),
    }
}

/// Writes `data` to `out` with the body of each base64 or gzip part of its MIME multipart
/// replaced by the decoded content (nested multiparts likewise, to [`MAX_MIME_DEPTH`]).
/// `false`, with nothing written, when `data` is no multipart.
fn mime_rewritten(
    data: &[u8],
    limit: u64,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<bool, UserDataError> {
    if depth >= MAX_MIME_DEPTH {
        return Ok(false);
    }
    let (headers, body) = split_headers(data);
    let Some(boundary) = boundary(headers) else {
        return Ok(false);
    };
    // `data` is copied through to `out` up to `copied`, with decoded bodies in between.
    let body_at = data.len() - body.len();
    let mut copied = body_at;
    out.extend_from_slice(&data[..copied]);
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(&boundary);
    let mut parts = memchr::memmem::find_iter(body, &delim).collect::<Vec<_>>();
    parts.push(body.len());
    for w in parts.windows(2) {
        let part = &body[w[0] + delim.len()..w[1]];
        if part.starts_with(b"--") {
            break; // the closing delimiter
        }
        let part = part.trim_ascii_start();
        // Offsets in `data` of the part (it ends where the next delimiter starts) and its body.
        let (part_at, end) = (body_at + w[1] - part.len(), body_at + w[1]);
        let (part_headers, part_body) = split_headers(part);
        let part_body_at = end - part_body.len();
        let lower = part_headers.to_ascii_lowercase();
        let mut decoded =
            if memchr::memmem::find(&lower, b"content-transfer-encoding: base64").is_some() {
                let clean: Vec<u8> = part_body
                    .iter()
                    .copied()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                match base64::engine::general_purpose::STANDARD.decode(&clean) {
                    Ok(d) => d,
                    Err(e) => {
                        log::debug!(error:% = e; "user-data: a base64 MIME part does not decode");
                        continue;
                    }
                }
            } else if part_body.starts_with(&GZIP_MAGIC) {
                part_body.to_vec()
            } else {
                let mut nested = Vec::new();
                if mime_rewritten(part, limit, depth + 1, &mut nested)? {
                    out.extend_from_slice(&data[copied..part_at]);
                    out.extend_from_slice(&nested);
                    copied = end;
                }
                continue;
            };
        if decoded.starts_with(&GZIP_MAGIC) {
            decoded = gunzip(decoded, limit)?;
        }
        out.extend_from_slice(&data[copied..part_body_at]);
        out.extend_from_slice(&decoded);
        // The next delimiter starts a line of its own, as it did.
        if !decoded.ends_with(b"\n") {
            out.push(b'\n');
        }
        copied = end;
        if out.len() as u64 > limit {
            return Err(UserDataError::TooLarge { limit });
        }
    }
    out.extend_from_slice(&data[copied..]);
    if out.len() as u64 > limit {
        return Err(UserDataError::TooLarge { limit });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_user_data_is_returned_as_is() {
        let text = b"#!/bin/bash\necho hi\n".to_vec();
        assert_eq!(decode(text.clone(), 1024).unwrap(), text);
    }

    #[test]
    fn gzip_user_data_is_decompressed() {
        let text = b"#cloud-config\nruncmd:\n - echo hi\n";
        assert_eq!(decode(gzip(text), 1024).unwrap(), text);
    }

    #[test]
    fn gzip_bomb_is_bounded() {
        let big = vec![b'a'; 1 << 20];
        let z = gzip(&big);
        assert!(z.len() < 4096);
        let err = decode(z.clone(), 64 * 1024).unwrap_err();
        assert!(
            matches!(err, UserDataError::TooLarge { limit: 65536 }),
            "{err}"
        );
        assert_eq!(decode(z, 1 << 20).unwrap().len(), 1 << 20);
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut z = gzip(b"hello world hello world");
        let n = z.len();
        z.truncate(n - 12);
        z.extend_from_slice(&[0xff; 4]);
        assert!(matches!(
            decode(z, 1024).unwrap_err(),
            UserDataError::Gzip { .. }
        ));
    }

    const KEY: &str = "AKIASXQV3SVWMFRRRM75";

    fn b64(data: &[u8]) -> String {
        let s = base64::engine::general_purpose::STANDARD.encode(data);
        s.as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The shape `cloud-init devel make-mime` writes (Python's email package).
    fn mime(parts: &[(&str, &str, &str)]) -> Vec<u8> {
        let mut s = String::from(
            "Content-Type: multipart/mixed;\n boundary=\"===============4242==\"\nMIME-Version: 1.0\n\n",
        );
        for (ctype, cte, body) in parts {
            s.push_str(&format!(
                "--===============4242==\nContent-Type: {ctype}; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: {cte}\nContent-Disposition: attachment; filename=\"part\"\n\n{body}\n"
            ));
        }
        s.push_str("--===============4242==--\n");
        s.into_bytes()
    }

    #[test]
    fn mime_base64_parts_are_decoded_in_place() {
        let script = format!("#!/bin/bash\nexport AWS_ACCESS_KEY_ID={KEY}\n");
        let encoded = b64(script.as_bytes());
        let raw = mime(&[
            ("text/cloud-config", "7bit", "#cloud-config\npackages: [jq]"),
            ("text/x-shellscript", "base64", &encoded),
            ("text/plain", "base64", "not base64!"),
        ]);
        assert!(!String::from_utf8_lossy(&raw).contains(KEY));
        let text = String::from_utf8(decode(raw.clone(), 1 << 20).unwrap()).unwrap();
        let want = String::from_utf8(raw)
            .unwrap()
            .replace(&format!("{encoded}\n"), &script);
        assert_eq!(text, want, "only the decodable base64 body is replaced");
        assert_eq!(text.matches(KEY).count(), 1);
    }

    #[test]
    fn nested_multiparts_are_rewritten_and_their_outer_text_kept() {
        let script = format!("export AWS_ACCESS_KEY_ID={KEY}\n");
        let inner = format!(
            "--inner\nContent-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n\n{}\n\
             --inner--",
            b64(script.as_bytes())
        );
        let raw = mime(&[
            ("text/plain", "7bit", "before"),
            ("multipart/mixed; boundary=\"inner\"", "7bit", &inner),
        ]);
        let text = String::from_utf8(decode(raw, 1 << 20).unwrap()).unwrap();
        assert_eq!(text.matches(KEY).count(), 1, "{text}");
        assert!(text.starts_with("Content-Type: multipart/mixed;"), "{text}");
        assert!(
            text.contains("\nbefore\n--===============4242==\n"),
            "{text}"
        );
        assert!(text.contains(&format!("\n\n{script}--inner--\n")), "{text}");
        assert!(text.ends_with("--===============4242==--\n"), "{text}");
    }

    #[test]
    fn mime_gzip_parts_and_gzip_archives_are_decoded() {
        let script = format!("export AWS_ACCESS_KEY_ID={KEY}\n");
        let part = b64(&gzip(script.as_bytes()));
        let raw = gzip(&mime(&[("application/x-gzip", "base64", &part)]));
        let text = String::from_utf8(decode(raw, 1 << 20).unwrap()).unwrap();
        assert!(text.contains(KEY), "{text}");
    }

    #[test]
    fn mime_decoding_respects_the_limit() {
        // The limit holds for the user-data as read and as rewritten; a base64 part is
        // replaced by its text, not appended.
        let big = vec![b'k'; 10_000];
        let raw = mime(&[("text/plain", "base64", &b64(&big))]);
        assert!(raw.len() > 13_000);
        let out = decode(raw.clone(), raw.len() as u64).unwrap();
        assert!(out.len() < 10_300, "replaced, not appended: {}", out.len());
        assert!(matches!(
            decode(raw.clone(), raw.len() as u64 - 1).unwrap_err(),
            UserDataError::TooLarge { .. }
        ));
        // A gzip bomb in a part.
        let bomb = mime(&[(
            "application/x-gzip",
            "base64",
            &b64(&gzip(&[b'k'; 1 << 20])),
        )]);
        assert!(bomb.len() < 4096);
        assert!(matches!(
            decode(bomb, 64 << 10).unwrap_err(),
            UserDataError::TooLarge { .. }
        ));
    }

    #[test]
    fn not_mime_is_not_touched() {
        let text = b"#!/bin/sh\necho 'Content-Type: text/plain'\n".to_vec();
        assert_eq!(decode(text.clone(), 1024).unwrap(), text);
    }

    #[test]
    fn plain_user_data_over_limit_is_refused() {
        assert!(matches!(
            decode(vec![b'x'; 100], 99).unwrap_err(),
            UserDataError::TooLarge { limit: 99 }
        ));
    }
}
