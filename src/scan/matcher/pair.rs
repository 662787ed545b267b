//! Pair and label (issue 13): a secret's name and its value on different lines of one object.
//! An ECS `environment` item or a Kubernetes `env:` entry names the secret in `name` and holds
//! it in its sibling `value` (in either order); a CloudFormation or Terraform parameter holds
//! it in its child `Default`/`default`; an XML `<property>` may give `value` before `name`.
//! Also here: where a name ends, and a JWT named as a session token.
//!
//! Objects are told by their layout, never parsed (the matcher sees a window of bytes, not a
//! document): a name's siblings start at its line's content column (after a list dash), a
//! block's children are indented deeper. A line indented less, a line starting with a brace or
//! bracket, a new list item, or [`PAIR_LINES`] lines end the object, so the value of the NEXT
//! list item or object never pairs. Guarantee: every walk examines at most [`PAIR_LINES`]
//! lines within the bounds it is given (the matcher's `REGION_CAP` either side of the name),
//! which keeps the matcher linear and the pairing whole within the reader's overlap. Failure
//! window: an object laid out on one column with no braces (flat XML without indentation) has
//! no visible end, so a `value` within [`PAIR_LINES`] lines of a name pairs with it.

/// How many lines away from its name a paired value may be (a CloudFormation parameter's
/// `Default` comes after `Type`, `NoEcho`, `Description`, `AllowedPattern`, …).
const PAIR_LINES: usize = 8;

/// Labels whose value is the name of a setting (`"name": "AWS_SECRET_ACCESS_KEY"`), compared
/// without case.
const NAME_LABELS: &[&[u8]] = &[b"name", b"key", b"parameterkey", b"parameter_key"];

/// Labels whose value is the setting's value, compared without case (`valueFrom` is none:
/// it names where the value is kept).
const VALUE_LABELS: &[&[u8]] = &[b"value", b"default", b"parametervalue", b"parameter_value"];

/// A byte of an identifier that a name is part of (`fs.s3a.secret.key`, `AwsSecretAccessKey`,
/// `aws-secret-access-key`).
#[inline]
fn ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// The whole identifier around a name match `start..end` (a match of `aws.{0,3}secret` inside
/// `AwsSecretAccessKey`), within `lo..hi`: the value's search starts after it, so a long
/// camelCase name is never taken for its own value. A match that ends in a separator
/// (`secret:`) is not extended forward.
pub(super) fn name_span(
    hay: &[u8],
    start: usize,
    end: usize,
    lo: usize,
    hi: usize,
) -> (usize, usize) {
    let mut s = start;
    while s > lo && ident(hay[s - 1]) {
        s -= 1;
    }
    let mut e = end;
    if e > start && ident(hay[e - 1]) {
        while e < hi && ident(hay[e]) {
            e += 1;
        }
    }
    (s, e)
}

/// How a name relates to its value, read from the rest of its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The name is the value of a name label: its value is a sibling's.
    Sibling,
    /// The name is a key that opens a block: its value is a child's.
    Block,
}

/// The role of a name with `before` and `after` it on its line, if it has one: a key opening
/// a block (`AwsSecretAccessKey:`, `"AwsSecretKey": {`, `variable "aws_secret_key" {`), or
/// the value of a name label (`- name: `, `"name": "`, `<name>`, `name="`).
fn role(before: &[u8], after: &[u8]) -> Option<Role> {
    let a = trim_start(after, b"\"'` \t");
    let a = trim_end(a, b" \t\r");
    let opens = match a {
        b":" => true,
        [b':' | b'=', rest @ ..] => trim_start(rest, b" \t") == b"{",
        b"{" => true,
        _ => false,
    };
    if opens {
        return Some(Role::Block);
    }
    let b = trim_end(before, b"\"'` \t:=>");
    let word_start = b
        .iter()
        .rposition(|&c| !c.is_ascii_alphanumeric() && c != b'_');
    let word = &b[word_start.map_or(0, |p| p + 1)..];
    (NAME_LABELS.iter().any(|l| word.eq_ignore_ascii_case(l)) && b.len() < before.len())
        .then_some(Role::Sibling)
}

fn trim_start<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let n = s.iter().take_while(|c| set.contains(c)).count();
    &s[n..]
}

fn trim_end<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let n = s.iter().rev().take_while(|c| set.contains(c)).count();
    &s[..s.len() - n]
}

/// If a value label's word starts at `w` (`value`, `"Default"`, `<value>`), where its value
/// starts: after its closing quote and its separator (`:`, `=`, `:=`, `=>`, or the `>` of an
/// XML element).
fn value_label(hay: &[u8], w: usize, end: usize) -> Option<usize> {
    let len = hay[w..end]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    let word = &hay[w..w + len];
    if !VALUE_LABELS.iter().any(|l| word.eq_ignore_ascii_case(l)) {
        return None;
    }
    let mut i = w + len;
    if w > 0 && hay[w - 1] == b'<' {
        return (hay.get(i) == Some(&b'>')).then_some(i + 1);
    }
    if i < end && matches!(hay[i], b'"' | b'\'' | b'`') {
        i += 1;
    }
    while i < end && matches!(hay[i], b' ' | b'\t') {
        i += 1;
    }
    match hay.get(i..end.min(i + 2))? {
        [b':' | b'=', b'=' | b'>', ..] => Some(i + 2),
        [b':' | b'=', ..] => Some(i + 1),
        _ => None,
    }
}

/// One line's layout: where it starts and ends, its indentation, the column its content
/// starts at (after a `- ` list dash) and whether it has that dash.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    indent: usize,
    content: usize,
    dash: bool,
}

impl Line {
    fn at(hay: &[u8], start: usize, end: usize) -> Line {
        let col = |from: usize| {
            from + hay[from..end]
                .iter()
                .take_while(|c| matches!(c, b' ' | b'\t'))
                .count()
        };
        let first = col(start);
        // The dash and its blank both within the line: a `-` ending the line is no list dash
        // (fuzz/artifacts/userdata/crash-a4bb…: the blank after the line's end sent `col`
        // past it, a slice panic).
        let dash = first + 1 < end && hay[first] == b'-' && matches!(hay[first + 1], b' ' | b'\t');
        let content = if dash { col(first + 1) } else { first };
        Line {
            start,
            end,
            indent: first - start,
            content: content - start,
            dash,
        }
    }

    fn blank(&self, hay: &[u8]) -> bool {
        self.start + self.indent >= self.end || hay[self.start + self.indent] == b'\r'
    }

    /// Whether the line starts with a brace or bracket: an object's end or another's start.
    fn boundary(&self, hay: &[u8]) -> bool {
        matches!(hay[self.start + self.indent], b'{' | b'}' | b'[' | b']')
    }

    /// Where the value of a value label at the line's content starts, if it has one.
    fn value(&self, hay: &[u8]) -> Option<usize> {
        let mut w = self.start + self.content;
        if w < self.end && matches!(hay[w], b'"' | b'\'' | b'<') {
            w += 1;
        }
        value_label(hay, w, self.end)
    }
}

/// Where the values paired with the name at `name.0..name.1` may start, each the start of a
/// region that the matcher searches as a named value's (up to its end, `hi` for a value after
/// the name, the name itself for one before it). `lo..hi` bounds every line looked at; the
/// name's line is `line.0..line.1`. Returns the bytes examined.
pub(super) fn paired(
    hay: &[u8],
    name: (usize, usize),
    line: (usize, usize),
    (lo, hi): (usize, usize),
    out: &mut Vec<(usize, usize)>,
) -> usize {
    let Some(role) = role(&hay[line.0..name.0], &hay[name.1..line.1]) else {
        return line.1 - line.0;
    };
    let here = Line::at(hay, line.0, line.1);
    if role == Role::Sibling {
        // One object on the name's line (`{"value": "…", "name": "…"}`, an XML element's
        // attributes): a value label before the name, after the object's opening.
        let open = hay[line.0..name.0]
            .iter()
            .rposition(|c| matches!(c, b'{' | b'<'));
        let from = open.map_or(line.0, |p| line.0 + p + 1);
        if let Some(v) = (from..name.0)
            .filter(|&w| w == from || !ident(hay[w - 1]))
            .find_map(|w| value_label(hay, w, name.0))
        {
            out.push((v, name.0));
        }
    }
    let mut spent = line.1 - line.0 + forward(hay, &here, role, hi, out);
    if role == Role::Sibling && !here.dash {
        spent += backward(hay, &here, lo, name.0, out);
    }
    spent
}

/// The value label below the name's line `here`, among its siblings at its column or its
/// children deeper than it, pushed to `out` as the region `(value, hi)`. Returns the bytes
/// examined.
fn forward(hay: &[u8], here: &Line, role: Role, hi: usize, out: &mut Vec<(usize, usize)>) -> usize {
    let mut start = here.end;
    for _ in 0..PAIR_LINES {
        if start >= hi {
            break;
        }
        let from = start + 1;
        start = memchr::memchr(b'\n', &hay[from..hi]).map_or(hi, |p| from + p);
        let l = Line::at(hay, from, start);
        if l.blank(hay) {
            continue;
        }
        let ended = match role {
            Role::Sibling => l.indent < here.content || l.boundary(hay),
            Role::Block => l.indent <= here.content,
        };
        if ended {
            break;
        }
        if role == Role::Sibling && l.content > here.content {
            continue;
        }
        if let Some(v) = l.value(hay) {
            out.push((v, hi));
            break;
        }
    }
    start - here.end
}

/// The value label above the name's line `here` among its siblings, up to the first line of
/// its list item, pushed to `out` as the region `(value, name)`. Returns the bytes examined.
fn backward(
    hay: &[u8],
    here: &Line,
    lo: usize,
    name: usize,
    out: &mut Vec<(usize, usize)>,
) -> usize {
    let mut end = here.start;
    for _ in 0..PAIR_LINES {
        if end <= lo {
            break;
        }
        let stop = end - 1;
        end = memchr::memrchr(b'\n', &hay[lo..stop]).map_or(lo, |p| lo + p + 1);
        let l = Line::at(hay, end, stop);
        if l.blank(hay) {
            continue;
        }
        if l.boundary(hay) || l.content < here.content || (l.indent < here.content && !l.dash) {
            break;
        }
        if l.content == here.content {
            if let Some(v) = l.value(hay) {
                out.push((v, name));
                break;
            }
            if l.dash {
                // The first line of the name's list item.
                break;
            }
        }
    }
    here.start - end
}

/// The end of a JWT (`eyJ…` header `.` payload `.` signature, base64url) starting at `at`, if
/// one does, at most `cap` bytes long: the whole token is the value when a session token's
/// name names it (S3-compatible stores issue JWTs as session tokens).
pub(super) fn jwt_end(hay: &[u8], at: usize, cap: usize) -> Option<usize> {
    if !hay[at..].starts_with(b"eyJ") {
        return None;
    }
    let limit = hay.len().min(at + cap);
    let mut i = at;
    let mut dots = 0;
    while i < limit {
        match hay[i] {
            b'.' if dots < 2 && hay[i - 1] != b'.' => dots += 1,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => {}
            _ => break,
        }
        i += 1;
    }
    (dots == 2 && hay[i - 1] != b'.').then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values paired with the first occurrence of `name` in `text`, as text up to the end
    /// of the value's line.
    fn pairs(text: &str, name: &str) -> Vec<String> {
        let hay = text.as_bytes();
        let s = text.find(name).unwrap();
        let (s, e) = name_span(hay, s, s + name.len(), 0, hay.len());
        let ls = text[..s].rfind('\n').map_or(0, |p| p + 1);
        let le = text[e..].find('\n').map_or(text.len(), |p| e + p);
        let mut out = Vec::new();
        paired(hay, (s, e), (ls, le), (0, hay.len()), &mut out);
        (out.into_iter())
            .map(|(v, hi)| {
                let rest = &text[v..hi];
                rest[..rest.find('\n').unwrap_or(rest.len())]
                    .trim()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn name_spans_cover_the_identifier() {
        let t = b"  AwsSecretAccessKey: x\nfs.s3a.secret.key=y\nsecret: z";
        assert_eq!(name_span(t, 2, 11, 0, t.len()), (2, 20));
        assert_eq!(name_span(t, 27, 37, 0, t.len()), (24, 41));
        // a match ending in its separator is not extended into the value
        assert_eq!(name_span(t, 44, 51, 0, t.len()), (44, 51));
    }

    #[test]
    fn roles_from_the_line() {
        let cases: &[(&str, &str, Option<Role>)] = &[
            ("  ", ":", Some(Role::Block)),
            ("    \"", "\": {", Some(Role::Block)),
            ("variable \"", "\" {", Some(Role::Block)),
            ("  - name: ", "", Some(Role::Sibling)),
            ("      \"name\": \"", "\",", Some(Role::Sibling)),
            ("    <name>", "</name>", Some(Role::Sibling)),
            ("<property value=\"x\" name=\"", "\"/>", Some(Role::Sibling)),
            ("[{\"ParameterKey\": \"", "\", ", Some(Role::Sibling)),
            ("", " = x", None),
            ("export ", "=", None),
            ("  username: ", "", None),
            ("name", "", None),
        ];
        for (before, after, want) in cases {
            assert_eq!(
                role(before.as_bytes(), after.as_bytes()),
                *want,
                "{before:?} {after:?}"
            );
        }
    }

    #[test]
    fn value_labels_and_separators() {
        let cases: &[(&str, Option<usize>)] = &[
            ("value: x", Some(6)),
            ("\"value\": \"x\"", None), // the quote is the caller's: `w` is the word
            ("Default = x", Some(9)),
            ("ParameterValue\" := x", Some(18)),
            ("value => x", Some(8)),
            ("valueFrom: x", None),
            ("values: x", None),
            ("value x", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                value_label(text.as_bytes(), 0, text.len()),
                *want,
                "{text:?}"
            );
        }
        assert_eq!(value_label(b"<value>x", 1, 8), Some(7));
        assert_eq!(value_label(b"\"value\": \"x\"", 1, 12), Some(8));
    }

    /// (text, name, the values paired with the name's first occurrence).
    const PAIRS: &[(&str, &str, &[&str])] = &[
        // siblings, in either order, within one object only
        ("[\n  {\n    \"name\": \"AWS_SECRET\",\n    \"value\": \"S1\"\n  },\n  {\n    \"value\": \"S2\",\n    \"name\": \"OTHER\"\n  }\n]", "AWS_SECRET", &["\"S1\""]),
        ("[\n  {\n    \"value\": \"S1\",\n    \"name\": \"AWS_SECRET\"\n  }\n]", "AWS_SECRET", &["\"S1\","]),
        ("  {\n    \"name\": \"AWS_SECRET\",\n    \"valueFrom\": \"arn\"\n  },\n  {\n    \"name\": \"X\",\n    \"value\": \"S2\"\n  }", "AWS_SECRET", &[]),
        ("  {\n    \"value\": \"S2\",\n    \"name\": \"X\"\n  },\n  {\n    \"name\": \"AWS_SECRET\",\n    \"valueFrom\": \"arn\"\n  }", "AWS_SECRET", &[]),
        ("env:\n  - name: AWS_SECRET\n    value: S1\n  - name: B\n    value: S2\n", "AWS_SECRET", &["S1"]),
        ("env:\n  - value: 'S1'\n    name: AWS_SECRET\n  - name: B\n    value: S2\n", "AWS_SECRET", &["'S1'"]),
        ("env:\n  - name: A\n    value: S0\n  - name: AWS_SECRET\n    valueFrom:\n      secretKeyRef:\n        key: k\n  - name: B\n    value: S2\n", "AWS_SECRET", &[]),
        // a list nested in a sibling, at the siblings' column or deeper, is skipped
        ("- name: AWS_SECRET\n  args:\n  - a\n    - b\n  value: S1\n- name: B\n  value: S2\n", "AWS_SECRET", &["S1"]),
        ("- value: S1\n  args:\n    - a\n  name: AWS_SECRET\n- value: S2\n", "AWS_SECRET", &["S1"]),
        ("  <property>\n    <name>fs.s3a.secret.key</name>\n    <value>S1</value>\n  </property>\n  <property>\n    <value>S2</value>", "fs.s3a.secret.key", &["S1</value>"]),
        ("<property value=\"S1\" name=\"aws.secretKey\"/>", "aws.secretKey", &["\"S1\" name=\""]),
        ("<a value=\"S0\"/><property name=\"aws.secretKey\"/>", "aws.secretKey", &[]),
        // children, until the block ends
        ("Parameters:\n  AwsSecretAccessKey:\n    Type: String\n    NoEcho: true\n    Default: S1\n  Other:\n    Default: S2\n", "AwsSecretAccessKey", &["S1"]),
        ("Parameters:\n  AwsSecretAccessKey:\n    Type: String\n  Other:\n    Default: S2\n", "AwsSecretAccessKey", &[]),
        ("  \"AwsSecretKey\": {\n    \"Type\": \"String\",\n    \"Default\": \"S1\"\n  },\n", "AwsSecretKey", &["\"S1\""]),
        ("  \"AwsSecretKey\": {\n    \"Type\": \"String\"\n  },\n  \"B\": {\n    \"Default\": \"S2\"\n  }", "AwsSecretKey", &[]),
        ("variable \"aws_secret_key\" {\n  type = string\n  default = \"S1\"\n}\n", "aws_secret_key", &["\"S1\""]),
        ("variable \"aws_secret_key\" {\n  type = string\n}\nvariable \"b\" {\n  default = \"S2\"\n}\n", "aws_secret_key", &[]),
        // a key with its value on its own line is no block
        ("aws_secret_key = x\ndefault = S2\n", "aws_secret_key", &[]),
    ];

    #[test]
    fn names_pair_with_values_in_their_object_only() {
        for (text, name, want) in PAIRS {
            assert_eq!(pairs(text, name), *want, "{text:?}");
        }
    }

    /// A `-` that ends its line is no list dash, whatever follows the line's end (the blank
    /// after it once sent the layout past the line: a slice panic, fuzz crash-a4bb…).
    #[test]
    fn a_dash_ending_a_line_is_no_list_dash() {
        let at = |hay: &[u8], end: usize| {
            let l = Line::at(hay, 0, end);
            (l.dash, l.indent, l.content)
        };
        assert_eq!(at(b"  -\n   x", 3), (false, 2, 2));
        // The line ends at the dash, a blank after its end (a bound inside a longer line).
        assert_eq!(at(b"  - x", 3), (false, 2, 2));
        assert_eq!(at(b"  - \n", 4), (true, 2, 4));
        assert_eq!(at(b"  - x", 5), (true, 2, 4));
        assert_eq!(at(b"  -x", 4), (false, 2, 2));
        assert_eq!(at(b"   ", 3), (false, 3, 3));
    }

    #[test]
    fn pairing_stops_after_a_few_lines() {
        let far = format!(
            "- name: AWS_SECRET\n{}  value: S1\n",
            "  x: 1\n".repeat(PAIR_LINES)
        );
        assert!(pairs(&far, "AWS_SECRET").is_empty());
    }

    /// Pairing costs a bounded stretch per name, whatever surrounds it: on inputs made only of
    /// names whose objects hold no value, four times the bytes cost about four times the work
    /// (counted, not timed), a few hundred bytes examined per byte at most.
    #[test]
    fn pairing_work_is_linear() {
        let m = crate::scan::matcher::Matcher::builtin().unwrap();
        let units = [
            "    \"name\": \"AWS_SECRET_ACCESS_KEY\",\n",
            "- name: AWS_SECRET_ACCESS_KEY\n  valueFrom: x\n",
            "AwsSecretAccessKey:\n",
            "  AwsSecretAccessKey: {\n",
            "<property name=\"aws.secretKey\" value=\"\" ",
            "    secret: x aws\n",
        ];
        for unit in units {
            let per_byte = |n: usize| {
                let hay = unit.repeat(n);
                let mut out = Vec::new();
                let w = m.find_counting(hay.as_bytes(), &mut out);
                assert!(out.is_empty(), "{unit:?}: {out:?}");
                w as f64 / hay.len() as f64
            };
            let (w1, w4) = (per_byte(500), per_byte(2000));
            eprintln!("{unit:?}: {w1:.0} then {w4:.0} bytes examined per byte");
            assert!(
                w4 < w1 * 1.125 && w4 < 512.0,
                "{unit:?}: {w1:.0} then {w4:.0} per byte"
            );
        }
    }

    #[test]
    fn jwts() {
        let t = b"v: eyJhbGci.eyJzdWIi.c2ln rest";
        assert_eq!(jwt_end(t, 3, 100), Some(25));
        assert_eq!(jwt_end(b"eyJhbGci.eyJzdWIi", 0, 100), None);
        assert_eq!(jwt_end(b"eyJhbGci..c2ln", 0, 100), None);
        assert_eq!(jwt_end(b"eyJhbGci.eyJzdWIi.", 0, 100), None);
        assert_eq!(jwt_end(b"eyJhbGci.eyJzdWIi.c2ln", 0, 10), None);
        assert_eq!(jwt_end(b"abc.def.ghi", 0, 100), None);
    }
}
