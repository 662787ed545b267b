//! Whether the sink may call Security Hub: the pure rule behind "inactive where it cannot
//! work". Security Hub not enabled in the account and region (`InvalidAccessException`, "not
//! subscribed") or the role lacking `securityhub:BatchImportFindings` (`AccessDenied…`) will
//! not change by retrying every cycle: the sink says so once, stops calling, and asks again
//! after [`RECHECK`]. The gate is written to the sink's state file (what an operator reads
//! there); a new process or a configuration reload opens it again ([`Gate::reset`]), since the
//! operator may just have enabled Security Hub or granted the permission.
//!
//! | gate | call outcome | next gate | said |
//! |---|---|---|---|
//! | open | accepted, transient failure | open | – |
//! | open | not enabled / denied | closed until now + [`RECHECK`] | warning, once |
//! | closed, before its time | – (no call) | closed | – |
//! | closed, time come | accepted | open | info: active again |
//! | closed, time come | not enabled / denied | closed until now + [`RECHECK`] | – |
//! | closed, time come | transient failure | closed until now + [`RECHECK`] | – |

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long the sink stays silent after Security Hub said it cannot take findings here.
pub(crate) const RECHECK: Duration = Duration::from_secs(24 * 3600);

/// The gate, as kept in the state file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gate", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Gate {
    /// Calls go out.
    #[default]
    Open,
    /// No call before `until` (seconds since the epoch), for `reason`.
    Closed {
        /// Why, with the missing action where there is one.
        reason: String,
        /// When to ask again.
        until: u64,
    },
}

/// What one call to Security Hub came to, for the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Security Hub answered the import (whatever it said of each finding).
    Answered,
    /// Security Hub is not enabled here, or the role may not import: the reason.
    Refused(String),
    /// Throttled, 5xx, network, credentials not to be had now: says nothing of the gate.
    Transient,
}

/// What the sink says when the gate moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Say {
    /// Nothing.
    Nothing,
    /// The sink stops calling (a warning with the reason).
    Inactive(String),
    /// The sink calls again (information).
    Active,
}

impl Gate {
    /// Whether a call may go out at `now` (seconds since the epoch).
    pub(crate) fn open_at(&self, now: u64) -> bool {
        match self {
            Gate::Open => true,
            Gate::Closed { until, .. } => now >= *until,
        }
    }

    /// Why the sink is inactive (None when it is not).
    pub(crate) fn reason(&self) -> Option<&str> {
        match self {
            Gate::Open => None,
            Gate::Closed { reason, .. } => Some(reason),
        }
    }

    /// The gate after a call that came to `outcome` at `now`, and what to say.
    pub(crate) fn after(&self, outcome: Outcome, now: u64) -> (Gate, Say) {
        let until = now.saturating_add(RECHECK.as_secs());
        match (self, outcome) {
            (Gate::Open, Outcome::Answered | Outcome::Transient) => (Gate::Open, Say::Nothing),
            (Gate::Open, Outcome::Refused(reason)) => (
                Gate::Closed {
                    reason: reason.clone(),
                    until,
                },
                Say::Inactive(reason),
            ),
            (Gate::Closed { .. }, Outcome::Answered) => (Gate::Open, Say::Active),
            (Gate::Closed { reason, .. }, Outcome::Transient) => (
                Gate::Closed {
                    reason: reason.clone(),
                    until,
                },
                Say::Nothing,
            ),
            (Gate::Closed { .. }, Outcome::Refused(reason)) => {
                (Gate::Closed { reason, until }, Say::Nothing)
            }
        }
    }

    /// Opens the gate: a new process or a reloaded configuration deserves a fresh try.
    pub(crate) fn reset(&mut self) {
        *self = Gate::Open;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_table() {
        let day = RECHECK.as_secs();
        let closed = |until| Gate::Closed {
            reason: "r".into(),
            until,
        };
        let refused = || Outcome::Refused("r".into());
        let cases: Vec<(Gate, Outcome, u64, Gate, Say)> = vec![
            (Gate::Open, Outcome::Answered, 10, Gate::Open, Say::Nothing),
            (Gate::Open, Outcome::Transient, 10, Gate::Open, Say::Nothing),
            (
                Gate::Open,
                refused(),
                10,
                closed(10 + day),
                Say::Inactive("r".into()),
            ),
            (closed(10), Outcome::Answered, 20, Gate::Open, Say::Active),
            (closed(10), refused(), 20, closed(20 + day), Say::Nothing),
            (
                closed(10),
                Outcome::Transient,
                20,
                closed(20 + day),
                Say::Nothing,
            ),
        ];
        for (gate, outcome, now, want_gate, want_say) in cases {
            let what = format!("{gate:?} {outcome:?}");
            assert_eq!(gate.after(outcome, now), (want_gate, want_say), "{what}");
        }
    }

    #[test]
    fn a_closed_gate_lets_no_call_out_before_its_time() {
        let g = Gate::Closed {
            reason: "r".into(),
            until: 100,
        };
        assert!(!g.open_at(99));
        assert!(g.open_at(100));
        assert!(Gate::Open.open_at(0));
        assert_eq!(g.reason(), Some("r"));
        let mut g = g;
        g.reset();
        assert_eq!(g, Gate::Open);
    }
}
