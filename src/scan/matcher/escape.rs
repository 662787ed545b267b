//! Escapes and character references in any mix, decoded in one pass over a line: JSON
//! (`\uXXXX` with surrogate pairs, `\"`, `\\`, `\/`, `\n` …), JavaScript (`\xNN`, `\u{…}`),
//! HTML/XML (`&#NN;`, `&#xNN;` and the named references that matter around keys) and URL
//! escapes (`%XX`). A sequence that is not a well-formed escape is kept as it is.

use crate::finding::Encoding;

use super::base64::Decoded;

/// The named character references decoded: the XML five, and the HTML names of the characters
/// of base64 values and their assignments.
const NAMED: &[(&[u8], u8)] = &[
    (b"amp", b'&'),
    (b"lt", b'<'),
    (b"gt", b'>'),
    (b"quot", b'"'),
    (b"apos", b'\''),
    (b"plus", b'+'),
    (b"sol", b'/'),
    (b"equals", b'='),
    (b"colon", b':'),
    (b"lowbar", b'_'),
    (b"nbsp", b' '),
];

/// Whether `hay[at..]` starts an escape of a kind only [`decode`] decodes (the matcher itself
/// reads `\/`, `%2F` and `%2B`): `\u`, `\x`, `&#` or a named reference.
#[inline]
pub(super) fn starts_escape(hay: &[u8], at: usize) -> bool {
    match (hay[at], hay.get(at + 1)) {
        (b'\\', Some(b'u' | b'x')) => true,
        (b'&', Some(b'#')) => true,
        (b'&', Some(_)) => named(hay, at + 1).is_some(),
        _ => false,
    }
}

/// Whether `line` holds an escape that [`starts_escape`] names.
pub(super) fn has_escape(line: &[u8]) -> bool {
    memchr::memchr2_iter(b'\\', b'&', line).any(|p| starts_escape(line, p))
}

/// For each block of `block` bytes of `hay`, whether an escape that [`starts_escape`] names
/// starts in it. One pass: after a block's first escape the search goes on at the next block,
/// so text dense in `&` and `\\` (source code) costs little more than a memchr.
pub(super) fn blocks(hay: &[u8], block: usize) -> Vec<bool> {
    let mut out = vec![false; hay.len().div_ceil(block.max(1))];
    let mut from = 0;
    while let Some(p) = memchr::memchr2(b'\\', b'&', &hay[from..]).map(|p| from + p) {
        if starts_escape(hay, p) {
            out[p / block] = true;
            from = (p / block + 1) * block;
        } else {
            from = p + 1;
        }
        if from >= hay.len() {
            break;
        }
    }
    out
}

/// The named reference at `at` (after the `&`): its byte and its length including `;`.
fn named(hay: &[u8], at: usize) -> Option<(u8, usize)> {
    NAMED.iter().find_map(|&(name, b)| {
        (hay[at..].starts_with(name) && hay.get(at + name.len()) == Some(&b';'))
            .then_some((b, name.len() + 1))
    })
}

/// A number of at most `max` digits in `radix` at `hay[at..]`: its value and length.
fn number(hay: &[u8], at: usize, radix: u32, max: usize) -> Option<(u32, usize)> {
    let digits = hay
        .get(at..)?
        .iter()
        .take(max)
        .take_while(|b| (**b as char).is_digit(radix))
        .count();
    if digits == 0 {
        return None;
    }
    let s = std::str::from_utf8(&hay[at..at + digits]).ok()?;
    Some((u32::from_str_radix(s, radix).ok()?, digits))
}

/// The escape at `i`: the code point (or byte, for `%XX` and `\xNN`), its length and kind.
fn escape(hay: &[u8], i: usize) -> Option<(Char, usize, Encoding)> {
    let next = *hay.get(i + 1)?;
    match hay[i] {
        b'\\' => match next {
            b'u' if hay.get(i + 2) == Some(&b'{') => {
                let (v, n) = number(hay, i + 3, 16, 6)?;
                (hay.get(i + 3 + n) == Some(&b'}')).then_some((
                    Char::Code(v),
                    n + 4,
                    Encoding::JsEscape,
                ))
            }
            b'u' => {
                let (v, n) = number(hay, i + 2, 16, 4)?;
                if n != 4 {
                    return None;
                }
                // A surrogate pair: `\uD83D\uDE00`.
                if (0xD800..0xDC00).contains(&v) && hay.get(i + 6..i + 8) == Some(b"\\u") {
                    if let Some((lo, 4)) = number(hay, i + 8, 16, 4) {
                        if (0xDC00..0xE000).contains(&lo) {
                            let c = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                            return Some((Char::Code(c), 12, Encoding::JsonEscape));
                        }
                    }
                }
                Some((Char::Code(v), 6, Encoding::JsonEscape))
            }
            b'x' => {
                let (v, n) = number(hay, i + 2, 16, 2)?;
                (n == 2).then_some((Char::Byte(v as u8), 4, Encoding::JsEscape))
            }
            b'"' | b'\\' | b'/' | b'\'' => Some((Char::Byte(next), 2, Encoding::JsonEscape)),
            b'n' => Some((Char::Byte(b'\n'), 2, Encoding::JsonEscape)),
            b't' => Some((Char::Byte(b'\t'), 2, Encoding::JsonEscape)),
            b'r' => Some((Char::Byte(b'\r'), 2, Encoding::JsonEscape)),
            _ => None,
        },
        b'&' if next == b'#' => {
            let (radix, at) = match hay.get(i + 2) {
                Some(b'x' | b'X') => (16, i + 3),
                _ => (10, i + 2),
            };
            let (v, n) = number(hay, at, radix, 7)?;
            (hay.get(at + n) == Some(&b';')).then_some((
                Char::Code(v),
                at + n + 1 - i,
                Encoding::HtmlEntity,
            ))
        }
        b'&' => named(hay, i + 1).map(|(b, n)| (Char::Byte(b), n + 1, Encoding::HtmlEntity)),
        b'%' => {
            let (v, n) = number(hay, i + 1, 16, 2)?;
            (n == 2).then_some((Char::Byte(v as u8), 3, Encoding::UrlEscape))
        }
        _ => None,
    }
}

/// What an escape stands for.
enum Char {
    /// A Unicode code point, written as UTF-8 (`?` if it is none).
    Code(u32),
    /// A byte as it is.
    Byte(u8),
}

/// Decodes `text`, returning the decoded bytes with their origins (offsets in `text`) and the
/// kinds of escape decoded, in the order [`Encoding`] lists them.
pub(super) fn decode(text: &[u8]) -> (Decoded, Vec<Encoding>) {
    let mut out = Decoded {
        bytes: Vec::with_capacity(text.len()),
        origin: Vec::with_capacity(text.len()),
    };
    let mut kinds = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        let esc = if matches!(b, b'\\' | b'&' | b'%') {
            escape(text, i)
        } else {
            None
        };
        let Some((c, len, kind)) = esc else {
            out.bytes.push(b);
            out.origin.push(i);
            i += 1;
            continue;
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
        let mut utf8 = [0u8; 4];
        let bytes: &[u8] = match c {
            Char::Byte(b) => {
                utf8[0] = b;
                &utf8[..1]
            }
            Char::Code(v) => char::from_u32(v)
                .unwrap_or('?')
                .encode_utf8(&mut utf8)
                .as_bytes(),
        };
        for &d in bytes {
            out.bytes.push(d);
            out.origin.push(i);
        }
        i += len;
    }
    kinds.sort_unstable();
    (out, kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_table() {
        use Encoding::*;
        let cases: &[(&str, &str, &[Encoding])] = &[
            (r"\u0041KIA", "AKIA", &[JsonEscape]),
            (r"\x41\u{4B}IA", "AKIA", &[JsEscape]),
            ("&#65;&#x4b;&#X49;A", "AKIA", &[HtmlEntity]),
            (
                "&quot;k&quot;:&quot;a&#43;b&sol;c&equals;&quot;",
                "\"k\":\"a+b/c=\"",
                &[HtmlEntity],
            ),
            (
                r"a\u002Fb%2Bc&#47;d",
                "a/b+c/d",
                &[JsonEscape, HtmlEntity, UrlEscape],
            ),
            (r"\ud83d\ude00", "\u{1F600}", &[JsonEscape]),
            (r#"{\"k\":\"v\\n\"}"#, "{\"k\":\"v\\n\"}", &[JsonEscape]),
            // Not escapes: kept as they are.
            (
                r"\u12 \xZZ &#; &bogus; %zz \q",
                r"\u12 \xZZ &#; &bogus; %zz \q",
                &[],
            ),
            (r"\u{110000}", "?", &[JsEscape]),
        ];
        for &(text, want, kinds) in cases {
            let (d, k) = decode(text.as_bytes());
            assert_eq!(String::from_utf8_lossy(&d.bytes), want, "{text}");
            assert_eq!(k, kinds, "{text}");
            assert_eq!(d.origin.len(), d.bytes.len());
            assert!(
                d.origin.windows(2).all(|w| w[0] <= w[1]),
                "{text}: origins in order"
            );
        }
    }

    #[test]
    fn blocks_table() {
        let cases: &[(&str, usize, &[bool])] = &[
            ("", 4, &[]),
            ("abcdefgh", 4, &[false, false]),
            (r"a\u0041bcd", 4, &[true, false, false]),
            ("a & b &#65; c", 4, &[false, true, false, false]),
            ("&&&&&amp;", 4, &[false, true, false]),
            (r"\n\t\/ %2F", 4, &[false, false, false]),
            (r"xyz\x41", 4, &[true, false]),
        ];
        for &(text, block, want) in cases {
            assert_eq!(blocks(text.as_bytes(), block), want, "{text}");
        }
    }

    #[test]
    fn escape_starts() {
        for (text, want) in [
            (r"a\u0041", true),
            (r"a\x41", true),
            ("a&#65;", true),
            ("a&amp;", true),
            ("a & b", false),
            ("a&ampx", false),
            (r"a\/b\n", false),
            ("100%2F", false),
        ] {
            assert_eq!(has_escape(text.as_bytes()), want, "{text}");
        }
    }
}
