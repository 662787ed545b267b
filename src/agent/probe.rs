//! When the daemon sends the token-less IMDSv1 probe (CIS AWS 5.6), or asks EC2 instead.
//!
//! EC2 counts every token-less request in the instance's `MetadataNoToken` metric (and, where
//! IMDSv1 is closed, in `MetadataNoTokenRejected`). Operators watch those metrics to find the
//! software that still uses IMDSv1 before they require tokens; an agent that probed at every
//! role check (every 5 minutes) would look like a permanent IMDSv1 user on every host. So the
//! daemon probes once at start and then at most once per `imds.v1_probe_interval` (24 h by
//! default; `0s` never), and reports the remembered answer in between. The effect on the
//! metrics: one token-less request per host per interval and per restart.
//!
//! With `imds.v1_from_ec2_api` (opt-in) the same times read the instance's
//! `MetadataOptions.HttpTokens` from EC2 ([`crate::report::ec2`]) and no token-less request is
//! sent. When that call fails the probe rule applies as without the opt-in: a denied call is
//! said once (with the missing action) and asked again only when the interval has passed; a
//! passing failure (network, throttling) is asked again at the next role check, meanwhile the
//! probe's (or an earlier) answer is used.

use std::time::Duration;

use tokio::time::Instant;

use crate::imds::{CredentialsProvider, ImdsClient, V1Status};
use crate::report::ec2::{Ec2Client, Ec2Error, IAM_ACTION};
use crate::role::V1Probe;

/// The EC2 client of the opt-in, signing with the instance role's credentials.
pub(super) type Ec2 = Ec2Client<CredentialsProvider>;

/// When the last probe (or EC2 read) ran, and its answer (`None`: it failed or IMDS was not
/// reached).
type LastProbe = Option<(Instant, Option<V1Status>)>;

/// The last probe and its answer, and how the EC2 reads went.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct V1Memory {
    last: LastProbe,
    /// The last EC2 read failed in a way that may pass: read again at the next role check.
    ec2_retry: bool,
    /// A denied EC2 read was said (at warning level) once in this process.
    ec2_denied_said: bool,
}

/// Where the next role check gets IMDSv1's status from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// As the probe rule says.
    Probe(V1Probe),
    /// Read EC2's `HttpTokens`; when that fails, `fallback`.
    Ec2 { fallback: V1Probe },
}

impl V1Memory {
    /// What the next role check does about IMDSv1 without the EC2 opt-in.
    pub(super) fn choose(&self, interval: Duration, now: Instant) -> V1Probe {
        choose(self.last, interval, now)
    }

    /// Remembers the answer of a role check that was told to probe.
    pub(super) fn probed(&mut self, at: Instant, status: Option<V1Status>) {
        self.last = Some((at, status));
    }

    /// What the role check at `now` does about IMDSv1: with `ec2`, EC2's answer when it is
    /// due and the call succeeds (remembered as a probe's would be), else the probe rule.
    pub(super) async fn decide(
        &mut self,
        ec2: Option<&Ec2>,
        imds: &ImdsClient,
        interval: Duration,
        now: Instant,
    ) -> V1Probe {
        let (ec2, fallback) = match (plan(self, ec2.is_some(), interval, now), ec2) {
            (Plan::Ec2 { fallback }, Some(ec2)) => (ec2, fallback),
            (Plan::Probe(p), _) | (Plan::Ec2 { fallback: p }, None) => return p,
        };
        match read_ec2(ec2, imds).await {
            Ok(status) => {
                self.ec2_retry = false;
                self.probed(now, Some(status));
                V1Probe::Remembered(status)
            }
            Err(e) => {
                self.ec2_failed(&e);
                fallback
            }
        }
    }

    /// Logs a failed EC2 read (a denial once at warning level) and notes whether to retry.
    fn ec2_failed(&mut self, e: &Ec2Error) {
        let first = !self.ec2_retry;
        self.ec2_retry = e.is_transient();
        let said = match e {
            Ec2Error::AccessDenied { .. } => std::mem::replace(&mut self.ec2_denied_said, true),
            _ => !first,
        };
        if said {
            log::debug!(action = IAM_ACTION, error:% = e;
                "EC2 did not say whether IMDSv1 is open; using the token-less probe rule");
        } else {
            log::warn!(action = IAM_ACTION, error:% = e;
                "EC2 did not say whether IMDSv1 is open (imds.v1_from_ec2_api); using the token-less probe rule");
        }
    }
}

/// This instance's IMDSv1 status from EC2, for the id and region of its identity document.
async fn read_ec2(ec2: &Ec2, imds: &ImdsClient) -> Result<V1Status, Ec2Error> {
    let doc = imds.identity_document().await;
    let Ok(Some(doc)) = doc else {
        let message = match doc {
            Err(e) => format!("no identity document: {e}"),
            Ok(_) => "no identity document".to_string(),
        };
        return Err(Ec2Error::Transient {
            endpoint: String::new(),
            message,
        });
    };
    ec2.v1_status(&doc.instance_id, &doc.region).await
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

/// With the EC2 opt-in: EC2 wherever the probe rule would probe, and at the next check after
/// a passing EC2 failure; the probe rule's choice is the fallback.
fn plan(memory: &V1Memory, ec2: bool, interval: Duration, now: Instant) -> Plan {
    let rule = memory.choose(interval, now);
    match rule {
        V1Probe::Now if ec2 => Plan::Ec2 { fallback: rule },
        V1Probe::Remembered(_) if ec2 && memory.ec2_retry => Plan::Ec2 { fallback: rule },
        _ => Plan::Probe(rule),
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

    #[test]
    fn ec2_plan_table() {
        let t0 = Instant::now();
        let day = Duration::from_secs(86_400);
        let min = Duration::from_secs(60);
        let fresh = Some((t0, Some(V1Status::Closed)));
        let memory = |last: LastProbe, ec2_retry: bool| V1Memory {
            last,
            ec2_retry,
            ec2_denied_said: false,
        };
        let kept = V1Probe::Remembered(V1Status::Closed);
        #[rustfmt::skip]
        let rows: [(V1Memory, bool, Duration, Instant, Plan); 7] = [
            // opt-in off: the probe rule alone
            (memory(None, false), false, day, t0, Plan::Probe(V1Probe::Now)),
            // opt-in on: EC2 where the rule would probe, the probe if EC2 fails
            (memory(None, false), true, day, t0, Plan::Ec2 { fallback: V1Probe::Now }),
            (memory(fresh, false), true, day, t0 + day, Plan::Ec2 { fallback: V1Probe::Now }),
            // a fresh answer and no passing failure: no request at all
            (memory(fresh, false), true, day, t0 + min, Plan::Probe(kept)),
            // a passing failure: EC2 again at the next check, the fresh answer meanwhile
            (memory(fresh, true), true, day, t0 + min, Plan::Ec2 { fallback: kept }),
            (memory(fresh, true), false, day, t0 + min, Plan::Probe(kept)),
            // "0s": neither
            (memory(fresh, true), true, Duration::ZERO, t0, Plan::Probe(V1Probe::Off)),
        ];
        for (i, (m, ec2, interval, now, expected)) in rows.into_iter().enumerate() {
            assert_eq!(plan(&m, ec2, interval, now), expected, "row {i}");
        }
    }

    #[test]
    fn a_denial_is_said_once_and_not_retried_before_the_interval() {
        let mut m = V1Memory::default();
        let denied = || Ec2Error::AccessDenied {
            endpoint: "http://127.0.0.1:1".into(),
            message: "HTTP 403 UnauthorizedOperation".into(),
        };
        m.ec2_failed(&denied());
        assert!(m.ec2_denied_said && !m.ec2_retry);
        m.ec2_failed(&Ec2Error::Transient {
            endpoint: String::new(),
            message: "connection refused".into(),
        });
        assert!(m.ec2_retry);
        m.ec2_failed(&denied());
        assert!(!m.ec2_retry);
    }
}
