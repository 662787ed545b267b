//! What IAM said about each key id, kept for [`TTL`] so that a daemon asks about a key a few
//! times a day, not every cycle, and bounded to [`MAX_ENTRIES`]. Pure (the clock is passed
//! in), with table tests.
//!
//! Why [`TTL`] is 6 hours: IAM's last-used data lags the use by up to about four hours (the
//! IAM User Guide says so of its last accessed information), so asking more often learns
//! little; a key an operator deactivates shows as `Inactive`
//! within 6 hours plus one interval; and IAM's API is one per account, global, with a
//! low request quota shared by every instance of the account: at the default 1 h interval the
//! cache cuts the calls six-fold. Only answers are kept (an owner, or "IAM does not know
//! this key"); a failed call is not, and is tried again next cycle.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::owner::Owner;

/// How long an answer is used before IAM is asked again.
pub(crate) const TTL: Duration = Duration::from_secs(6 * 3600);
/// At most this many key ids are remembered; beyond it the oldest answer is forgotten (a host
/// with more distinct keys of its own account than this asks about some each cycle).
pub(crate) const MAX_ENTRIES: usize = 1024;

/// The answers, by key id.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// Key id → (when asked, IAM's answer: `None` when IAM does not know the key).
    entries: HashMap<String, (Instant, Option<Owner>)>,
}

impl Cache {
    /// The answer for `key_id` still fresh at `now` (`Some(None)`: IAM did not know it).
    pub(crate) fn get(&self, key_id: &str, now: Instant) -> Option<Option<&Owner>> {
        let (at, owner) = self.entries.get(key_id)?;
        (now.saturating_duration_since(*at) < TTL).then_some(owner.as_ref())
    }

    /// Keeps IAM's answer for `key_id`, asked at `now`; forgets stale answers and, when still
    /// full, the oldest one.
    pub(crate) fn put(&mut self, key_id: &str, owner: Option<Owner>, now: Instant) {
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(key_id) {
            self.entries
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < TTL);
            if self.entries.len() >= MAX_ENTRIES {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.entries.remove(&k);
                }
            }
        }
        self.entries.insert(key_id.to_string(), (now, owner));
    }

    /// How many answers are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::owner::AccountClass;

    #[test]
    fn answers_are_fresh_for_the_ttl_only() {
        let t0 = Instant::now();
        let mut c = Cache::default();
        let owner = Owner::of_class(AccountClass::Own);
        c.put("AKIA1", Some(owner.clone()), t0);
        c.put("AKIA2", None, t0);
        let cases = [
            ("AKIA1", t0, Some(Some(&owner))),
            (
                "AKIA1",
                t0 + TTL - Duration::from_secs(1),
                Some(Some(&owner)),
            ),
            ("AKIA1", t0 + TTL, None),
            ("AKIA2", t0, Some(None)),
            ("AKIA3", t0, None),
        ];
        for (key, now, want) in cases {
            assert_eq!(c.get(key, now), want, "{key} at +{:?}", now - t0);
        }
    }

    #[test]
    fn the_size_is_bounded_and_the_oldest_goes_first() {
        let t0 = Instant::now();
        let mut c = Cache::default();
        for i in 0..MAX_ENTRIES {
            c.put(&format!("K{i}"), None, t0 + Duration::from_secs(i as u64));
        }
        assert_eq!(c.len(), MAX_ENTRIES);
        let later = t0 + Duration::from_secs(MAX_ENTRIES as u64);
        c.put("new", None, later);
        assert_eq!(c.len(), MAX_ENTRIES);
        assert_eq!(c.get("K0", later), None, "the oldest is forgotten");
        assert_eq!(c.get("K1", later), Some(None));
        assert_eq!(c.get("new", later), Some(None));
        // Stale answers go before fresh ones.
        let much_later = t0 + TTL + Duration::from_secs(2);
        c.put("newer", None, much_later);
        assert_eq!(c.get("new", much_later), Some(None));
        assert!(c.len() < MAX_ENTRIES);
    }
}
