//! User-data as the scanner needs it: gzip-compressed user-data (it starts `1f 8b`, as
//! cloud-init accepts it) is decompressed with a bound on the output, everything else
//! (shell scripts, cloud-config, MIME multipart archives) is scanned as the text it is.

use std::io::Read;

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

/// Decodes raw user-data: gunzips it when it is gzip (at most `limit` bytes of output),
/// returns it unchanged otherwise.
pub fn decode(raw: Vec<u8>, limit: u64) -> Result<Vec<u8>, UserDataError> {
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

    #[test]
    fn plain_user_data_over_limit_is_refused() {
        assert!(matches!(
            decode(vec![b'x'; 100], 99).unwrap_err(),
            UserDataError::TooLarge { limit: 99 }
        ));
    }
}
