//! When the daemon sends the token-less IMDSv1 probe (CIS AWS 5.6).
//!
//! EC2 counts every token-less request in the instance's `MetadataNoToken` metric (and, where
//! IMDSv1 is closed, in `MetadataNoTokenRejected`). Operators watch those metrics to find the
//! software that still uses IMDSv1 before they require tokens; an agent that probed at every
//! role check (every 5 minutes) would look like a permanent IMDSv1 user on every host. So the
//! daemon probes once at start and then at most once per `imds.v1_probe_interval` (24 h by
//! default; `0s` never), and reports the remembered answer in between. The effect on the
//! metrics: one token-less request per host per interval and per restart.

use std::time::Duration;

use tokio::time::Instant;

use crate::imds::V1Status;
use crate::role::V1Probe;

/// When the last probe ran, and its answer (`None`: it failed or IMDS was not reached).
type LastProbe = Option<(Instant, Option<V1Status>)>;

/// The last probe and its answer.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct V1Memory {
    last: LastProbe,
}

impl V1Memory {
    /// What the next role check does about IMDSv1.
    pub(super) fn choose(&self, interval: Duration, now: Instant) -> V1Probe {
        choose(self.last, interval, now)
    }

    /// Remembers the answer of a role check that was told to probe.
    pub(super) fn probed(&mut self, at: Instant, status: Option<V1Status>) {
        self.last = Some((at, status));
    }
}

/// The rule: never with a zero interval; at the first check, after a probe without an answer
/// (an unreachable IMDS counts nowhere) and once the interval has passed; else the remembered
/// answer.
fn choose(last: LastProbe, interval: Duration, now: Instant) -> V1Probe {
    if interval.is_zero() {
        return V1Probe::Off;
    }
    match last {
        Some((at, Some(status))) if now.saturating_duration_since(at) < interval => {
            V1Probe::Remembered(status)
        }
        _ => V1Probe::Now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_table() {
        let t0 = Instant::now();
        let day = Duration::from_secs(86_400);
        let min = Duration::from_secs(60);
        let open = Some(V1Status::Open);
        #[rustfmt::skip]
        let rows: [(LastProbe, Duration, Instant, V1Probe); 8] = [
            // never probed: probe now
            (None, day, t0, V1Probe::Now),
            // probed a minute ago: the remembered answer, no request
            (Some((t0, open)), day, t0 + min, V1Probe::Remembered(V1Status::Open)),
            (Some((t0, Some(V1Status::Closed))), day, t0 + min, V1Probe::Remembered(V1Status::Closed)),
            // just under the interval: still remembered; at the interval: probe again
            (Some((t0, open)), day, t0 + day - min, V1Probe::Remembered(V1Status::Open)),
            (Some((t0, open)), day, t0 + day, V1Probe::Now),
            // the last probe got no answer: probe at the next check
            (Some((t0, None)), day, t0 + min, V1Probe::Now),
            // "0s": never, not even at the start
            (None, Duration::ZERO, t0, V1Probe::Off),
            (Some((t0, open)), Duration::ZERO, t0 + day, V1Probe::Off),
        ];
        for (i, (last, interval, now, expected)) in rows.into_iter().enumerate() {
            assert_eq!(choose(last, interval, now), expected, "row {i}");
        }
    }
}
