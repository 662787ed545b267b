//! The access key id findings of one source with many of them, held compactly (issue 15). A
//! CloudTrail file or CLI debug output names a key id on every line; as [`Finding`]s they
//! cost about 1.3 KB each, and whether they are reported one by one or as one aggregate is
//! known only when the whole scan has ended (an id is lone only if no secret of its
//! credential turns up anywhere, and a later cycle may add one). Every key id finding of one
//! source differs from the others only in the id and the place, so [`KeyIds`] keeps the
//! source once, each distinct id once, and 16 bytes per occurrence (id number, column,
//! line): about 40 bytes per finding where every id is new, 16 where ids repeat.
//!
//! Guarantees: [`KeyIds::finding`] gives back exactly the finding the scan made there
//! (it is built by the same function, [`emit::key_id_finding`]); a source with at most
//! [`KEPT_IN_FULL`] key id findings, and one whose ids cannot be held exactly (a value that is
//! not UTF-8, a column beyond 4 GiB), keeps them in full; a [`KeyIds`] read back from a scan
//! cache is checked ([`KeyIds::is_valid`]) before it is trusted.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::emit::{self, Ctx};
use crate::finding::{Encoding, Finding, Kind, ProcessInfo, Source};

/// Key id findings of one source kept in full before they are held compactly: the handful in
/// a config or an env file stay plain findings, as they are (and cost less so).
pub const KEPT_IN_FULL: usize = 8;

/// The access key id findings of one source, compactly (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyIds {
    /// The rule that found them.
    rule: String,
    /// The source they were read from.
    source: Source,
    /// Its path.
    path: String,
    /// For a process environment: the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    process: Option<ProcessInfo>,
    /// The distinct key ids, one after the other, in the order first found.
    ids: String,
    /// Where each id of `ids` ends.
    ends: Vec<u32>,
    /// Each finding, in the order found.
    at: Vec<At>,
    /// The decoding steps of the source's text (a compressed file), shared by its findings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    encoding: Vec<Encoding>,
}

/// One finding of a [`KeyIds`]: the number of its id, its column and its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct At(u32, u32, u64);

impl KeyIds {
    /// An empty set for the source of `f`.
    fn for_source_of(f: &Finding) -> KeyIds {
        KeyIds {
            rule: f.rule.clone(),
            source: f.source,
            path: f.path.clone(),
            process: f.process.clone(),
            ids: String::new(),
            ends: Vec::new(),
            at: Vec::new(),
            encoding: f.encoding.clone(),
        }
    }

    /// How many findings it holds.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether it holds no finding.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// The rule, source and path the findings share (what an aggregate is per).
    pub(super) fn place(&self) -> (Source, &str, &str) {
        (self.source, self.path.as_str(), self.rule.as_str())
    }

    /// The distinct key ids, by number.
    pub(super) fn ids(&self) -> impl Iterator<Item = &str> {
        (0..self.ends.len()).filter_map(|n| self.id(n as u32))
    }

    /// Key id number `n`.
    fn id(&self, n: u32) -> Option<&str> {
        let n = n as usize;
        let start = n
            .checked_sub(1)
            .map_or(Some(0), |p| self.ends.get(p).copied())?;
        self.ids.get(start as usize..*self.ends.get(n)? as usize)
    }

    /// Each finding as (id number, line, column), in the order found.
    pub(super) fn occurrences(&self) -> impl Iterator<Item = (u32, u64, u64)> + Clone + '_ {
        self.at.iter().map(|a| (a.0, a.2, u64::from(a.1)))
    }

    /// Each finding as (line, column, key id), in the order found.
    pub(super) fn places(&self) -> impl Iterator<Item = (u64, u64, &str)> + Clone + '_ {
        (self.occurrences()).filter_map(|(n, line, col)| Some((line, col, self.id(n)?)))
    }

    /// Key id number `n` of finding `i`, its line and column.
    pub(super) fn occurrence(&self, i: usize) -> Option<(&str, u64, u64)> {
        let a = self.at.get(i)?;
        Some((self.id(a.0)?, a.2, u64::from(a.1)))
    }

    /// Finding `i` as the scan made it.
    pub fn finding(&self, i: usize) -> Option<Finding> {
        let (id, line, column) = self.occurrence(i)?;
        let ctx = Ctx {
            source: self.source,
            path: &self.path,
            process: self.process.as_ref(),
        };
        let mut f = emit::key_id_finding(&self.rule, &ctx, id.as_bytes(), line, column);
        f.encoding.clone_from(&self.encoding);
        Some(f)
    }

    /// Every finding as the scan made it, in the order found.
    pub fn findings(&self) -> impl Iterator<Item = Finding> + '_ {
        (0..self.len()).filter_map(|i| self.finding(i))
    }

    /// Whether a set read back from a scan cache is whole: ids that end in order on
    /// character boundaries, every finding naming one of them, and at least one finding.
    pub(super) fn is_valid(&self) -> bool {
        let ends_ok = self.ends.windows(2).all(|w| w[0] <= w[1])
            && self
                .ends
                .last()
                .map_or(self.ids.is_empty(), |&e| e as usize == self.ids.len())
            && (self.ends.iter()).all(|&e| self.ids.is_char_boundary(e as usize));
        ends_ok && !self.at.is_empty() && (self.at.iter()).all(|a| (a.0 as usize) < self.ends.len())
    }

    /// Bytes on the heap: the figure the memory test bounds.
    #[doc(hidden)]
    pub fn heap_bytes(&self) -> usize {
        self.rule.capacity()
            + self.path.capacity()
            + self.ids.capacity()
            + self.ends.capacity() * std::mem::size_of::<u32>()
            + self.at.capacity() * std::mem::size_of::<At>()
    }
}

/// A [`KeyIds`] being filled, with the number of each id seen so far.
struct Compacting {
    held: KeyIds,
    numbers: HashMap<Box<str>, u32>,
}

impl Compacting {
    /// Adds `f`, a key id finding of the source; `false` when it cannot be held exactly (and
    /// nothing was added).
    fn add(&mut self, f: &Finding) -> bool {
        let (Some(id), Ok(column)) = (f.key_id.as_deref(), u32::try_from(f.column)) else {
            return false;
        };
        if f.rule != self.held.rule
            || f.kind != Kind::AccessKeyId
            || f.encoding != self.held.encoding
        {
            return false;
        }
        let n = match self.numbers.get(id) {
            Some(&n) => n,
            None => {
                let (Ok(n), Ok(end)) = (
                    u32::try_from(self.held.ends.len()),
                    u32::try_from(self.held.ids.len() + id.len()),
                ) else {
                    return false;
                };
                self.held.ids.push_str(id);
                self.held.ends.push(end);
                self.numbers.insert(id.into(), n);
                n
            }
        };
        self.held.at.push(At(n, column, f.line));
        true
    }
}

/// The key id findings of the source a worker is reading: the first [`KEPT_IN_FULL`] in
/// full, then all of them compactly, unless one cannot be held exactly (then all in full).
#[derive(Default)]
pub(super) struct KeyIdsBuilder {
    full: Vec<Finding>,
    compact: Option<Compacting>,
    /// A finding could not be held exactly: the source's stay in full.
    in_full: bool,
}

impl KeyIdsBuilder {
    /// Adds a key id finding; `exact` says whether its value is UTF-8 (its key id is then
    /// exactly the value, and the finding can be made again from it).
    pub(super) fn push(&mut self, f: Finding, exact: bool) {
        if self.in_full {
            self.full.push(f);
        } else if let Some(c) = self.compact.as_mut() {
            if !(exact && c.add(&f)) {
                self.full = c.held.findings().collect();
                self.full.push(f);
                self.compact = None;
                self.in_full = true;
            }
        } else {
            self.in_full = !exact;
            self.full.push(f);
            if self.full.len() > KEPT_IN_FULL && !self.in_full {
                self.compact_all();
            }
        }
    }

    /// Marks every finding of the source as read from text decoded by `layers` (known only
    /// once the source is read: see the worker's `read_file`).
    pub(super) fn set_encoding(&mut self, layers: &[Encoding]) {
        for f in &mut self.full {
            f.encoding.splice(0..0, layers.iter().copied());
        }
        if let Some(c) = self.compact.as_mut() {
            c.held.encoding.splice(0..0, layers.iter().copied());
        }
    }

    /// Moves the findings kept in full into a compact set, if all of them fit.
    fn compact_all(&mut self) {
        let Some(first) = self.full.first() else {
            return;
        };
        let mut c = Compacting {
            held: KeyIds::for_source_of(first),
            numbers: HashMap::new(),
        };
        if self.full.iter().all(|f| c.add(f)) {
            self.full.clear();
            self.compact = Some(c);
        } else {
            self.in_full = true;
        }
    }

    /// The findings of the source: those in full, and the compact set if there is one.
    /// The builder is then empty, for the next source.
    pub(super) fn take(&mut self) -> (Vec<Finding>, Option<Arc<KeyIds>>) {
        let full = std::mem::take(&mut self.full);
        let held = self.compact.take().map(|mut c| {
            c.held.ids.shrink_to_fit();
            c.held.ends.shrink_to_fit();
            c.held.at.shrink_to_fit();
            Arc::new(c.held)
        });
        self.in_full = false;
        (full, held)
    }
}

/// Serde of an `Option<Arc<KeyIds>>` (serde's `rc` feature is off): as the set itself.
pub(super) mod shared {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::KeyIds;

    pub(in crate::scan) fn serialize<S: Serializer>(
        v: &Option<Arc<KeyIds>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.as_deref().serialize(s)
    }

    pub(in crate::scan) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Arc<KeyIds>>, D::Error> {
        Ok(Option::<KeyIds>::deserialize(d)?.map(Arc::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::ProcessInfo;

    fn f(id: &str, line: u64, column: u64, process: Option<&ProcessInfo>) -> Finding {
        let ctx = Ctx {
            source: if process.is_some() {
                Source::Process
            } else {
                Source::File
            },
            path: "/var/log/x",
            process,
        };
        emit::key_id_finding("aws-access-key-id", &ctx, id.as_bytes(), line, column)
    }

    /// Builds the findings of `ids` (line i + 1, column 3) and returns what the builder holds.
    fn built(ids: &[&str], exact: bool) -> (Vec<Finding>, Option<Arc<KeyIds>>, Vec<Finding>) {
        let mut b = KeyIdsBuilder::default();
        let input: Vec<Finding> = (ids.iter().enumerate())
            .map(|(i, id)| f(id, i as u64 + 1, 3, None))
            .collect();
        for x in &input {
            b.push(x.clone(), exact);
        }
        let (full, held) = b.take();
        (full, held, input)
    }

    #[test]
    fn a_few_stay_in_full_more_are_held_and_given_back_exactly() {
        let few = ["ASIAAAAAAAAAAAAAAAA2"; KEPT_IN_FULL];
        let (full, held, input) = built(&few, true);
        assert_eq!((full, held), (input, None));

        let ids: Vec<String> = (0..50).map(|i| format!("ASIAQ{:015}", i % 20)).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (full, held, input) = built(&ids, true);
        let held = held.unwrap();
        assert!(full.is_empty());
        assert_eq!((held.len(), held.ids().count()), (50, 20));
        assert!(held.is_valid());
        assert_eq!(held.findings().collect::<Vec<_>>(), input);
        assert_eq!(held.places().nth(21), Some((22, 3, ids[21])));

        let (full, held, input) = built(&ids, false);
        assert_eq!((full, held), (input, None), "a value that is not UTF-8");
    }

    #[test]
    fn one_that_does_not_fit_puts_the_source_back_in_full() {
        let mut b = KeyIdsBuilder::default();
        let mut input: Vec<Finding> = (0..20)
            .map(|i| f(&format!("AKIAQ{i:015}"), i + 1, 1, None))
            .collect();
        input.push(f("AKIAQ000000000000099", 30, u64::from(u32::MAX) + 1, None));
        input.push(f("AKIAQ000000000000098", 31, 1, None));
        for x in &input {
            b.push(x.clone(), true);
        }
        assert_eq!(b.take(), (input, None));
        assert_eq!(b.take(), (Vec::new(), None), "empty for the next source");
    }

    #[test]
    fn a_process_keeps_its_process_and_a_damaged_set_is_not_valid() {
        let p = ProcessInfo {
            pid: 7,
            exe: Some("/usr/bin/app".into()),
            unit: None,
        };
        let mut b = KeyIdsBuilder::default();
        let input: Vec<Finding> = (0..10)
            .map(|i| f(&format!("ASIAQ{i:015}"), 1, i * 30 + 1, Some(&p)))
            .collect();
        input.iter().for_each(|x| b.push(x.clone(), true));
        let held = b.take().1.unwrap();
        assert_eq!(held.findings().collect::<Vec<_>>(), input);
        let json = serde_json::to_string(&*held).unwrap();
        let back: KeyIds = serde_json::from_str(&json).unwrap();
        assert!(back.is_valid() && back == *held);
        let mut damaged: Vec<serde_json::Value> = Vec::new();
        let value = serde_json::to_value(&*held).unwrap();
        for (field, to) in [
            ("at", serde_json::json!([[10, 1, 1]])),
            ("at", serde_json::json!([])),
            ("ends", serde_json::json!([20, 10, 200])),
            ("ends", serde_json::json!([201])),
            ("ids", serde_json::json!("ASIA")),
        ] {
            let mut v = value.clone();
            v[field] = to;
            damaged.push(v);
        }
        for d in damaged {
            let k: KeyIds = serde_json::from_value(d.clone()).unwrap();
            assert!(!k.is_valid(), "{d}");
            let _ = k.findings().count();
        }
    }
}
