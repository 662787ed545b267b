//! The rule that keeps findings from being lost between the scan and CloudWatch: the finding
//! state moves on only when the cycle's changes are safely handled (spooled in the outbox, or
//! with no CloudWatch waiting for them). Otherwise the next cycle computes the same changes
//! again, and the sink does not queue a change it already holds.

use crate::report::cloudwatch::{CloudWatchError, Delivery};

/// What the CloudWatch sink did with a cycle's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SinkState {
    /// No CloudWatch for this process (disabled, or it could not be opened): nobody waits for
    /// the changes.
    Off,
    /// Another credhygiene process holds the outbox: the finding state is left to it, or the
    /// changes it saw would never reach CloudWatch.
    Locked,
    /// Active, and the changes are in the outbox.
    Spooled,
    /// Active, but the outbox could not be written (the enqueue is all or nothing: nothing was
    /// queued).
    SpoolFailed,
    /// Inactive (no credentials), and CloudWatch never took changes from this host: an
    /// instance without a role, where nobody waits for the changes.
    NeverActive,
    /// Inactive now, but CloudWatch took changes earlier (in this process, or a delivered
    /// generation or a pending outbox on disk): a passing fault (IMDS slow or throttled).
    Interrupted,
}

impl SinkState {
    /// Classifies an enqueue (`None`: there is no sink). `took_changes_before`: the sink was
    /// active earlier in this process or has history on disk.
    pub(super) fn of(
        delivery: Option<&Delivery>,
        locked: bool,
        took_changes_before: bool,
    ) -> SinkState {
        match delivery {
            Some(d) if d.active => {
                if d.errors
                    .iter()
                    .any(|e| matches!(e, CloudWatchError::State(_)))
                {
                    SinkState::SpoolFailed
                } else {
                    SinkState::Spooled
                }
            }
            Some(_) if took_changes_before => SinkState::Interrupted,
            Some(_) => SinkState::NeverActive,
            None if locked => SinkState::Locked,
            None => SinkState::Off,
        }
    }

    /// Whether the changes are safely handled, so that the state may move on.
    fn handled(self) -> bool {
        match self {
            SinkState::Off | SinkState::Spooled | SinkState::NeverActive => true,
            SinkState::Locked | SinkState::SpoolFailed | SinkState::Interrupted => false,
        }
    }
}

/// What to do with the finding state after the sinks ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Write the new state.
    Commit,
    /// Nothing to write: the state file already holds these findings (no write at all in a
    /// quiet cycle).
    Keep,
    /// Leave the state where it was: the same changes are computed again next cycle.
    Hold,
}

/// The facts about the finding state that the rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StateFacts {
    /// The cycle found new or resolved findings.
    pub(super) changed: bool,
    /// The state is the one a previous cycle could not write (it is not on disk).
    pub(super) in_memory: bool,
    /// The state already holds exactly this cycle's findings (a commit would change nothing
    /// but the generation).
    pub(super) holds: bool,
}

/// May the finding state move on, given what the outbox did?
pub(super) fn next(sink: SinkState, state: StateFacts) -> Next {
    if !sink.handled() {
        Next::Hold
    } else if !state.changed && !state.in_memory && state.holds {
        Next::Keep
    } else {
        Next::Commit
    }
}

#[cfg(test)]
mod tests {
    use super::Next::{Commit as C, Hold as H, Keep as K};
    use super::*;

    const ALL: [SinkState; 6] = [
        SinkState::Off,
        SinkState::Locked,
        SinkState::Spooled,
        SinkState::SpoolFailed,
        SinkState::NeverActive,
        SinkState::Interrupted,
    ];

    /// Column `i`: changed = bit 2, in memory = bit 1, holds = bit 0.
    #[rustfmt::skip]
    const TABLE: [(SinkState, [Next; 8]); 6] = [
        //                         changed:  -  -  -  -  y  y  y  y
        //                       in memory:  -  -  y  y  -  -  y  y
        //                           holds:  -  y  -  y  -  y  -  y
        (SinkState::Off,                    [C, K, C, C, C, C, C, C]),
        (SinkState::Spooled,                [C, K, C, C, C, C, C, C]),
        (SinkState::NeverActive,            [C, K, C, C, C, C, C, C]),
        (SinkState::Locked,                 [H, H, H, H, H, H, H, H]),
        (SinkState::SpoolFailed,            [H, H, H, H, H, H, H, H]),
        (SinkState::Interrupted,            [H, H, H, H, H, H, H, H]),
    ];

    #[test]
    fn every_combination() {
        for sink in ALL {
            let row = TABLE
                .iter()
                .find(|(s, _)| *s == sink)
                .expect("a row per state");
            for (i, expected) in row.1.iter().enumerate() {
                let state = StateFacts {
                    changed: i & 4 != 0,
                    in_memory: i & 2 != 0,
                    holds: i & 1 != 0,
                };
                assert_eq!(next(sink, state), *expected, "{sink:?} {state:?}");
            }
        }
    }

    #[test]
    fn sink_states_of_an_enqueue() {
        let active = Delivery {
            active: true,
            ..Delivery::default()
        };
        let spool_failed = Delivery {
            active: true,
            errors: vec![CloudWatchError::State(crate::state::StateError::Locked {
                path: "outbox.lock".into(),
            })],
            ..Delivery::default()
        };
        let inactive = Delivery::default();
        let cases = [
            (Some(&active), false, false, SinkState::Spooled),
            (Some(&active), true, true, SinkState::Spooled),
            (Some(&spool_failed), false, true, SinkState::SpoolFailed),
            (Some(&inactive), false, false, SinkState::NeverActive),
            (Some(&inactive), false, true, SinkState::Interrupted),
            (None, false, false, SinkState::Off),
            (None, false, true, SinkState::Off),
            (None, true, false, SinkState::Locked),
        ];
        for (delivery, locked, before, expected) in cases {
            assert_eq!(SinkState::of(delivery, locked, before), expected);
        }
    }
}
