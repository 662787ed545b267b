//! What a key looks like: the rules of `builtin.toml`, parsed and compiled. The matching
//! itself lives in `scan::matcher`; this module only turns data into checked, compiled rules.

use regex::bytes::Regex;
use serde::Deserialize;

use crate::finding::Kind;

mod lookalike;

/// The rule file compiled into the binary.
pub const BUILTIN_RULES: &str = include_str!("builtin.toml");

/// A rule file that does not compile: a defect in the binary, reported with the rule id.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The TOML does not parse.
    #[error("rules file: {0}")]
    Parse(#[from] toml::de::Error),
    /// A regex does not compile.
    #[error("rule {id}: field {field}: {source}")]
    Regex {
        /// The rule.
        id: String,
        /// Which field.
        field: &'static str,
        /// The regex error.
        source: regex::Error,
    },
    /// A rule is inconsistent.
    #[error("rule {id}: {message}")]
    Invalid {
        /// The rule.
        id: String,
        /// What is wrong.
        message: String,
    },
}

/// How a rule finds its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// The keyword is the start of the value (key ids, token prefixes).
    #[serde(rename = "self")]
    SelfEvident,
    /// The keyword names the value, which is searched near it.
    Context,
}

/// The characters a value is a maximal run of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alphabet {
    /// `[A-Za-z0-9_]`
    Word,
    /// `[A-Za-z0-9+/]` (trailing `=` padding allowed after the run)
    Base64,
}

impl Alphabet {
    /// Whether `b` belongs to the alphabet.
    #[inline]
    pub fn contains(self, b: u8) -> bool {
        match self {
            Alphabet::Word => b.is_ascii_alphanumeric() || b == b'_',
            Alphabet::Base64 => b.is_ascii_alphanumeric() || b == b'+' || b == b'/',
        }
    }
}

/// A check that rejects values that are not random enough to be keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Upper and lower case letters, and a digit, `+` or `/`.
    CharClasses,
    /// Not only hexadecimal digits (hashes).
    NotHex,
    /// Not a placeholder with few distinct characters after the prefix.
    NotRepetitive,
    /// No marker word (`[ignore] markers`: `TEST`, `test`, `Test` …) and no masking run
    /// (`[ignore] masks`: `XXXX` …) inside.
    NotMarked,
    /// Not describable in fewer than `[ignore] floor` of a random value's bits by words, runs,
    /// sequences and repeats (placeholders in words, `DEADBEEF` patterns); see
    /// [`IgnoreSpec::guessable`].
    NotGuessable,
}

impl Filter {
    /// Whether `value` passes this filter; the look-alike filters read their data in `ignore`.
    pub fn passes(self, value: &[u8], ignore: &IgnoreSpec) -> bool {
        match self {
            Filter::CharClasses => {
                value.iter().any(u8::is_ascii_uppercase)
                    && value.iter().any(u8::is_ascii_lowercase)
                    && value
                        .iter()
                        .any(|b| b.is_ascii_digit() || *b == b'+' || *b == b'/')
            }
            Filter::NotHex => !value.iter().all(u8::is_ascii_hexdigit),
            Filter::NotRepetitive => {
                let body = value.get(4..).unwrap_or(value);
                let mut seen = [false; 256];
                body.iter().for_each(|&b| seen[b as usize] = true);
                seen.iter().filter(|s| **s).count() > 4
            }
            Filter::NotMarked => !lookalike::marked(value, &ignore.markers, &ignore.masks),
            Filter::NotGuessable => !ignore.guessable(value),
        }
    }
}

/// One rule as written in the rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable id, reported as `rule`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Which part of a credential the value is.
    pub kind: Kind,
    /// Literal, case-sensitive prefilter strings.
    pub keywords: Vec<String>,
    /// How the value is found.
    pub evidence: Evidence,
    /// For `context` rules: a line matching this names the value.
    #[serde(default)]
    pub context: Option<String>,
    /// A weaker name, accepted only with `weak_requires` nearby.
    #[serde(default)]
    pub weak_context: Option<String>,
    /// What must appear on the line or above for `weak_context` to count.
    #[serde(default)]
    pub weak_requires: Option<String>,
    /// How many lines above `weak_requires` may be.
    #[serde(default)]
    pub weak_lookback_lines: usize,
    /// A bare label (`secret:`), which names the value only inside a block clearly about
    /// AWS: with `bare_requires` within `bare_lines` lines either side. It must match the
    /// keyword's word followed by `=` or `:` (not `::`), which the matcher checks before it
    /// runs the regex, within 32 bytes of the keyword, and only when a value-length run
    /// follows within 256 bytes.
    #[serde(default)]
    pub bare_context: Option<String>,
    /// What must appear near a `bare_context` label for it to count.
    #[serde(default)]
    pub bare_requires: Option<String>,
    /// How many lines above and below `bare_requires` may be.
    #[serde(default)]
    pub bare_lines: usize,
    /// An access key id within this many lines is evidence.
    #[serde(default)]
    pub near_key_id_lines: usize,
    /// When a nearby key id is the only evidence, the value's line (up to the value) must
    /// match this too (a session token's line names a token: an S3 POST policy next to its
    /// `AWSAccessKeyId` is long base64 but no token).
    #[serde(default)]
    pub near_key_id_requires: Option<String>,
    /// The characters of the value.
    pub alphabet: Alphabet,
    /// Regex the whole value must match.
    pub pattern: String,
    /// Randomness checks.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Texts in which this rule must find something.
    pub examples: Vec<String>,
    /// Texts in which this rule must find nothing.
    pub negative_examples: Vec<String>,
    /// Documentation.
    #[serde(default)]
    pub references: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    ignore: IgnoreSpec,
    rule: Vec<RuleSpec>,
    #[serde(default)]
    decoder: Vec<DecoderSpec>,
}

/// Which decoder a `[[decoder]]` entry configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecoderKind {
    /// Base64 blobs, announced by the base64 forms of `keywords` (at the three alignments).
    Base64,
    /// Escapes and character references, announced by `keywords` as they are (escaped key-id
    /// starts) and by any rule keyword on a line holding escapes.
    Escape,
    /// JWTs, announced by `keywords` (header starts): the payload is decoded as base64.
    Jwt,
    /// String literals split in source code and joined (`"AKIA" + "…"`): no keywords; tried
    /// where a rule's candidate value ends at a closing quote or a line continuation.
    Concat,
}

/// A decoder as written in the rule file: what announces text worth decoding, and texts in
/// which something is (or nothing is) found only through it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderSpec {
    /// Which decoder.
    pub id: DecoderKind,
    /// For `base64`: keywords whose base64 forms are prefilter literals; for `escape`:
    /// literal triggers.
    pub keywords: Vec<String>,
    /// For `concat`: the operators that join two string literals (`+`, `.`, `..` …); adjacent
    /// literals are joined without one.
    #[serde(default)]
    pub operators: Vec<String>,
    /// For `concat`: lists whose string elements are joined, each `[opener, closer]` as the
    /// text that ends right before the first element and starts right after the last (blanks
    /// ignored; an empty closer is not checked): `['"".join([', '']`, `['[', '].join("")']`.
    #[serde(default)]
    pub lists: Vec<[String; 2]>,
    /// Texts in which a value is found through this decoder.
    pub examples: Vec<String>,
    /// Texts in which nothing is found (encoded innocent text, encoded documentation keys).
    pub negative_examples: Vec<String>,
}

/// Values never to report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreSpec {
    /// Exact values (the AWS documentation examples).
    pub values: Vec<String>,
    /// Any value ending in one of these.
    pub suffixes: Vec<String>,
    /// Any value containing one of these (documentation markers such as `EXAMPLE`: a random
    /// key holds a given 7-letter word with odds of about one in 10^10).
    #[serde(default)]
    pub contains: Vec<String>,
    /// `sha256:` fingerprints of published example values that carry no marker (the AWS CLI,
    /// botocore and SDK documentation examples installed on many hosts).
    #[serde(default)]
    pub fingerprints: Vec<String>,
    /// The key-id prefixes: a key id's body is what follows one (look-alike rules compare
    /// bodies, so `ASIA…` derives from `AKIA…`).
    #[serde(default)]
    pub id_prefixes: Vec<String>,
    /// How many leading characters of a documented example's stem make a value its
    /// derivative (0: off); see `lookalike::derives_from`.
    #[serde(default)]
    pub derived_min: usize,
    /// Marker words of filter `not_marked`, matched in upper, lower and capitalized form.
    #[serde(default)]
    pub markers: Vec<String>,
    /// Masking runs of filter `not_marked`, matched as written.
    #[serde(default)]
    pub masks: Vec<String>,
    /// Placeholder words of filter `not_guessable`, cheapest first (besides the embedded
    /// dictionary).
    #[serde(default)]
    pub vocabulary: Vec<String>,
    /// Filter `not_guessable` drops a value describable in less than this share of a random
    /// value's bits (0: off).
    #[serde(default)]
    pub floor: f64,
    /// `vocabulary` compiled, on first use.
    #[serde(skip)]
    lexicon: std::sync::OnceLock<lookalike::Lexicon>,
}

impl IgnoreSpec {
    /// Whether a value is a documented example or placeholder.
    pub fn ignores(&self, value: &[u8]) -> bool {
        self.values.iter().any(|v| v.as_bytes() == value)
            || self.suffixes.iter().any(|s| value.ends_with(s.as_bytes()))
            || self
                .contains
                .iter()
                .any(|c| memchr::memmem::find(value, c.as_bytes()).is_some())
            || lookalike::derives_from(value, &self.values, &self.id_prefixes, self.derived_min)
            || (!self.fingerprints.is_empty()
                && self
                    .fingerprints
                    .contains(&crate::finding::fingerprint(value)))
    }

    /// Whether a value's body (a key id without its prefix) can be described in less than
    /// `floor` of the bits a random value of its length and alphabet takes: a placeholder in
    /// words (`ThisIsMyAwsSecretKeyForTheProductionApp1`), upper-case words after a key-id
    /// prefix (`AKIAMYACCESSKEYIDHER`) or a pattern (`AKIADEADBEEFDEADBEEF`). Values longer than
    /// 64 characters (tokens) are not measured.
    pub fn guessable(&self, value: &[u8]) -> bool {
        self.floor > 0.0
            && self
                .lexicon
                .get_or_init(|| lookalike::Lexicon::new(&self.vocabulary))
                .ratio(lookalike::body(value, &self.id_prefixes))
                .is_some_and(|r| r < self.floor)
    }
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// The rule as written.
    pub spec: RuleSpec,
    /// `^(?:pattern)$`
    pub full: Regex,
    /// The context regex.
    pub context: Option<Regex>,
    /// The weak context regex.
    pub weak_context: Option<Regex>,
    /// What the weak context requires.
    pub weak_requires: Option<Regex>,
    /// The bare label regex.
    pub bare_context: Option<Regex>,
    /// What the bare label requires nearby.
    pub bare_requires: Option<Regex>,
    /// What the value's line must show when a nearby key id is the only evidence.
    pub near_key_id_requires: Option<Regex>,
}

impl Rule {
    /// Whether a candidate value (a maximal run of the rule's alphabet) is this rule's value.
    pub fn accepts(&self, value: &[u8], ignore: &IgnoreSpec) -> bool {
        self.full.is_match(value)
            && self.spec.filters.iter().all(|f| f.passes(value, ignore))
            && !ignore.ignores(value)
    }
}

/// All rules, compiled, plus the ignore list.
#[derive(Debug)]
pub struct RuleSet {
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// Values never reported.
    pub ignore: IgnoreSpec,
    /// The decoders and their triggers.
    pub decoders: Vec<DecoderSpec>,
    /// A digest of the rule file: scan caches keyed by it are dropped when rules change.
    pub version: String,
}

impl RuleSet {
    /// The rules compiled into the binary.
    pub fn builtin() -> Result<RuleSet, RulesError> {
        RuleSet::from_toml(BUILTIN_RULES)
    }

    /// Parses and compiles a rule file.
    pub fn from_toml(text: &str) -> Result<RuleSet, RulesError> {
        let file: RuleFile = toml::from_str(text)?;
        let compile = |id: &str, field: &'static str, re: &str| {
            regex::bytes::RegexBuilder::new(re)
                .unicode(false)
                .size_limit(1 << 20)
                .build()
                .map_err(|source| RulesError::Regex {
                    id: id.to_string(),
                    field,
                    source,
                })
        };
        let mut rules = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for spec in file.rule {
            if !ids.insert(spec.id.clone()) {
                return Err(RulesError::Invalid {
                    id: spec.id,
                    message: "duplicate id".into(),
                });
            }
            if spec.keywords.iter().any(|k| k.len() < 4) || spec.keywords.is_empty() {
                return Err(RulesError::Invalid {
                    id: spec.id,
                    message: "needs keywords of at least 4 bytes".into(),
                });
            }
            if spec.evidence == Evidence::Context && spec.context.is_none() {
                return Err(RulesError::Invalid {
                    id: spec.id,
                    message: "a context rule needs `context`".into(),
                });
            }
            let opt = |field, re: &Option<String>| {
                re.as_deref()
                    .map(|r| compile(&spec.id, field, r))
                    .transpose()
            };
            let rule = Rule {
                full: compile(&spec.id, "pattern", &format!("^(?:{})$", spec.pattern))?,
                context: opt("context", &spec.context)?,
                weak_context: opt("weak_context", &spec.weak_context)?,
                weak_requires: opt("weak_requires", &spec.weak_requires)?,
                bare_context: opt("bare_context", &spec.bare_context)?,
                bare_requires: opt("bare_requires", &spec.bare_requires)?,
                near_key_id_requires: opt("near_key_id_requires", &spec.near_key_id_requires)?,
                spec,
            };
            rules.push(rule);
        }
        let version = crate::finding::short_id(&[text]);
        if let Some(d) = (file.decoder.iter()).find(|d| d.keywords.iter().any(|k| k.len() < 4)) {
            return Err(RulesError::Invalid {
                id: format!("decoder {:?}", d.id),
                message: "needs keywords of at least 4 bytes".into(),
            });
        }
        if let Some(d) = (file.decoder.iter()).find(|d| {
            (d.operators.iter()).any(|o| o.is_empty() || o.bytes().any(|b| b.is_ascii_whitespace()))
                || d.lists.iter().any(|[open, _]| open.trim().is_empty())
        }) {
            return Err(RulesError::Invalid {
                id: format!("decoder {:?}", d.id),
                message: "operators must be non-empty without blanks; lists need an opener".into(),
            });
        }
        if !(0.0..=1.0).contains(&file.ignore.floor) {
            return Err(RulesError::Invalid {
                id: "[ignore]".into(),
                message: format!("floor {} is not between 0 and 1", file.ignore.floor),
            });
        }
        Ok(RuleSet {
            rules,
            ignore: file.ignore,
            decoders: file.decoder,
            version,
        })
    }
}
