//! The Security Hub step of a cycle: the instance's whole picture (after the carry step, so
//! carried findings count as present) planned and written durably, then flushed within the
//! flush deadline. Both the daemon and `run --once` run it (from [`super::cycle`]).

use std::sync::Arc;

use crate::config::Config;
use crate::imds::{CredentialsProvider, ImdsClient};
use crate::report::aws::AwsError;
use crate::report::fleet::HostView;
use crate::report::securityhub::{Delivery, SecurityHubSink};
use crate::state::SinkState;

use super::cycle::FLUSH_DEADLINE;
use super::parts::Parts;

/// The agent's Security Hub sink (credentials from the instance role, when IMDS is on).
pub(super) type Sink = SecurityHubSink<Option<CredentialsProvider>>;

/// The sink, or why there is none (disabled, or its state is held by another process).
pub(super) fn open(config: &Config, imds: Option<&Arc<ImdsClient>>) -> Result<Sink, String> {
    if !config.securityhub.enabled {
        return Err("disabled in the configuration".into());
    }
    let source = imds.map(|c| CredentialsProvider::new(Arc::clone(c)));
    SecurityHubSink::open(config, source).map_err(|e| {
        log::error!(error:% = e; "Security Hub reporting is off for this process");
        format!("not used: {e}")
    })
}

/// Plans and sends the cycle's picture (`None`: no instance identity). `None` when the sink
/// is off.
pub(super) async fn report(parts: &mut Parts, view: Option<&HostView>) -> Option<Delivery> {
    let before_contact = parts
        .first_contact
        .is_some_and(|t| tokio::time::Instant::now() < t);
    let sink = parts.securityhub.as_mut().ok()?;
    let Some(view) = view else {
        return Some(Delivery {
            inactive_reason: Some("no instance identity (IMDS disabled or unreachable)".into()),
            pending: sink.pending(),
            ..Delivery::default()
        });
    };
    let now = view.time;
    let planned = sink.observe(view, now);
    let mut d = if before_contact {
        Delivery {
            active: true,
            pending: sink.pending(),
            ..Delivery::default()
        }
    } else {
        match tokio::time::timeout(FLUSH_DEADLINE, sink.flush(now)).await {
            Ok(d) => d,
            Err(_) => {
                log::warn!("Security Hub flush took too long; the rest is sent next time");
                Delivery {
                    active: true,
                    pending: sink.pending(),
                    ..Delivery::default()
                }
            }
        }
    };
    if let Err(e) = planned {
        log::error!(error:% = e; "cannot write the Security Hub state; the findings are planned again next cycle");
        d.errors.push(AwsError::State(e));
    }
    Some(d)
}

/// The sink as `status` shows it.
pub(super) fn state(delivery: Option<&Delivery>, off: Option<&str>, enabled: bool) -> SinkState {
    match (delivery, off) {
        (Some(d), _) if d.active => SinkState::Active,
        (Some(d), _) => SinkState::Inactive {
            reason: d
                .inactive_reason
                .clone()
                .unwrap_or_else(|| "no credentials".into()),
        },
        (None, _) if !enabled => SinkState::Disabled,
        (None, reason) => SinkState::Inactive {
            reason: reason.unwrap_or("not opened").to_string(),
        },
    }
}
