//! What the agent builds from one configuration (scanner, IMDS client, CloudWatch sink,
//! change tracker) and rebuilds on reload.

use std::sync::Arc;

use crate::config::Config;
use crate::error::Error;
use crate::imds::{CredentialsProvider, ImdsClient};
use crate::report::cloudwatch::{CloudWatchError, CloudWatchSink};
use crate::report::ec2::Ec2Client;
use crate::report::enrich::Enricher;
use crate::report::ssm::SsmSink;
use crate::scan::{Options, Scanner};
use crate::state::{self, FindingState, HeldState, StateError};

use super::track;

/// The CloudWatch sink of the agent (credentials from the instance role, when IMDS is on).
pub(super) type Sink = CloudWatchSink<Option<CredentialsProvider>>;

/// Why there is no sink when another credhygiene process holds the outbox.
const LOCKED_PREFIX: &str = "not used: another credhygiene process holds the outbox";

/// Everything built from one configuration; rebuilt on reload.
pub(super) struct Parts {
    pub(super) config: Config,
    pub(super) scanner: Arc<Scanner>,
    pub(super) imds: Option<Arc<ImdsClient>>,
    /// The sink, or why there is none (for the summary).
    pub(super) sink: Result<Sink, String>,
    /// The Security Hub sink, or why there is none.
    pub(super) securityhub: Result<super::securityhub::Sink, String>,
    /// Another credhygiene process holds the outbox: this one must not move the finding state
    /// on, or the changes it saw would never reach CloudWatch.
    pub(super) sink_locked: bool,
    /// CloudWatch was active earlier in this process: an inactive sink now is a passing fault
    /// (IMDS slow or throttled), and the changes must wait for the next cycle.
    pub(super) sink_was_active: bool,
    /// The daemon's change tracking (None for `run --once`, or where trees cannot be tracked).
    pub(super) tracker: Option<track::Tracker>,
    /// The finding state of the last cycle when it could not be written: the next cycle diffs
    /// against it rather than against the older file, so that what was spooled from it is not
    /// contradicted (a finding that comes and goes is reported new, then resolved).
    pub(super) uncommitted: Option<FindingState>,
    /// The finding state as the file holds it, kept between cycles (see [`HeldState`]).
    pub(super) held: HeldState,
    /// The last IMDSv1 probe: kept across reloads, so a reload does not probe again.
    pub(super) v1: super::probe::V1Memory,
    /// EC2 for `imds.v1_from_ec2_api` (None when it is off, or IMDS is).
    pub(super) ec2: Option<super::probe::Ec2>,
    /// The daemon's first CloudWatch call waits until then ([`crate::config::AgentConfig::first_contact_splay`]);
    /// `None` for `run --once` and once it has passed.
    pub(super) first_contact: Option<tokio::time::Instant>,
    /// The Systems Manager Compliance sink, or why there is none (`disabled`: `ssm.compliance`
    /// is off).
    pub(super) ssm: Result<SsmSink<Option<CredentialsProvider>>, String>,
    /// IAM for `[enrich] iam` (None when it is off, or IMDS is); its answers are kept across
    /// cycles, not across reloads.
    pub(super) enricher: Option<Enricher<CredentialsProvider>>,
}

impl Parts {
    pub(super) fn build(config: Config) -> Result<Parts, Error> {
        let (scanner, imds) = engine(&config)?;
        let sink = open_sink(&config, imds.as_ref());
        Ok(Parts {
            securityhub: super::securityhub::open(&config, imds.as_ref()),
            ec2: open_ec2(&config, imds.as_ref()),
            ssm: open_ssm(&config, imds.as_ref()),
            enricher: open_enricher(&config, imds.as_ref()),
            sink_locked: is_locked(&sink),
            config,
            scanner,
            imds,
            sink,
            sink_was_active: false,
            tracker: None,
            uncommitted: None,
            held: HeldState::default(),
            v1: Default::default(),
            first_contact: None,
        })
    }

    /// Starts the daemon's watches: early cycles for env files and trees, and incremental
    /// cycles (see [`track`]).
    pub(super) fn track(&mut self) {
        self.tracker = track::Tracker::start(&self.config.scan);
    }

    /// Applies a new, already validated configuration. The scanner and IMDS client are built
    /// first: if that fails, nothing changes. The CloudWatch sink is then reopened (its outbox
    /// is on disk, so nothing queued is lost).
    pub(super) fn reload(&mut self, config: Config) -> Result<(), Error> {
        let (scanner, imds) = engine(&config)?;
        self.sink = Err("reloading".into()); // releases the outbox lock before reopening it
        self.sink = open_sink(&config, imds.as_ref());
        self.sink_locked = is_locked(&self.sink);
        self.securityhub = Err("reloading".into()); // releases its state's lock first
        self.securityhub = super::securityhub::open(&config, imds.as_ref());
        self.ec2 = open_ec2(&config, imds.as_ref());
        self.ssm = open_ssm(&config, imds.as_ref());
        self.enricher = open_enricher(&config, imds.as_ref());
        self.scanner = scanner;
        self.imds = imds;
        self.config = config;
        self.track();
        Ok(())
    }

    /// Opens the sink again when another process held the outbox (it may be done now).
    pub(super) fn retry_locked_sink(&mut self) {
        if self.sink_locked {
            self.sink = open_sink(&self.config, self.imds.as_ref());
            self.sink_locked = is_locked(&self.sink);
            if !self.sink_locked {
                log::info!("the outbox is free again: CloudWatch reporting resumes");
            }
        }
    }

    /// Whether CloudWatch took changes from this host before (a delivered generation, or an
    /// outbox not yet empty): an inactive sink is then a passing fault, even in a new process.
    pub(super) fn sink_has_history(&self) -> bool {
        self.sink
            .as_ref()
            .is_ok_and(|s| s.delivered().generation().is_some() || s.pending() > 0)
    }

    pub(super) fn sink_mut(&mut self) -> Option<&mut Sink> {
        self.sink.as_mut().ok()
    }
}

/// The scanner and the IMDS client of a configuration.
fn engine(config: &Config) -> Result<(Arc<Scanner>, Option<Arc<ImdsClient>>), Error> {
    state::prepare_dir(&config.agent.state_dir)?;
    let mut opts = Options::from_config(&config.scan, Some(config.agent.scan_threads))?;
    opts.read_rate_limit = config.agent.read_rate_limit.as_u64();
    opts.build_cache = true;
    let scanner = Arc::new(Scanner::new(opts)?);
    let imds = if config.imds.disabled {
        None
    } else {
        Some(Arc::new(ImdsClient::from_config(&config.imds)?))
    };
    Ok((scanner, imds))
}

fn is_locked(sink: &Result<Sink, String>) -> bool {
    sink.as_ref()
        .err()
        .is_some_and(|e| e.starts_with(LOCKED_PREFIX))
}

/// The EC2 client of `imds.v1_from_ec2_api`, signing with the instance role's credentials;
/// None when the opt-in or IMDS is off (or the client cannot be built: the probe is used).
fn open_ec2(config: &Config, imds: Option<&Arc<ImdsClient>>) -> Option<super::probe::Ec2> {
    let imds = imds.filter(|_| config.imds.v1_from_ec2_api)?;
    let source = CredentialsProvider::new(Arc::clone(imds));
    Ec2Client::new(config, source)
        .map_err(|e| log::error!(error:% = e; "imds.v1_from_ec2_api is off for this process"))
        .ok()
}

/// Why there is no Systems Manager sink when `ssm.compliance` is off.
pub(super) const SSM_DISABLED: &str = "disabled";

/// The Systems Manager Compliance sink, signing with the instance role's credentials.
fn open_ssm(
    config: &Config,
    imds: Option<&Arc<ImdsClient>>,
) -> Result<SsmSink<Option<CredentialsProvider>>, String> {
    if !config.ssm.compliance {
        return Err(SSM_DISABLED.into());
    }
    let source = imds.map(|c| CredentialsProvider::new(Arc::clone(c)));
    SsmSink::new(config, source).map_err(|e| {
        log::error!(error:% = e; "Systems Manager Compliance is off for this process");
        format!("not used: {e}")
    })
}

/// The IAM enrichment of `[enrich] iam`, signing with the instance role's credentials; None
/// when it or IMDS is off.
fn open_enricher(
    config: &Config,
    imds: Option<&Arc<ImdsClient>>,
) -> Option<Enricher<CredentialsProvider>> {
    let imds = imds.filter(|_| config.enrich.iam)?;
    Enricher::new(config, CredentialsProvider::new(Arc::clone(imds)))
        .map_err(|e| log::error!(error:% = e; "[enrich] iam is off for this process"))
        .ok()
}

/// The CloudWatch sink, or why there is none (disabled, or its outbox is held by another
/// credhygiene process, e.g. `run --once` beside the daemon).
fn open_sink(config: &Config, imds: Option<&Arc<ImdsClient>>) -> Result<Sink, String> {
    if !config.cloudwatch.enabled {
        return Err("disabled in the configuration".into());
    }
    let source = imds.map(|c| CredentialsProvider::new(Arc::clone(c)));
    CloudWatchSink::builder(&config.cloudwatch, &config.agent.state_dir, source)
        .build()
        .map_err(|e| {
            log::error!(error:% = e; "CloudWatch reporting is off for this process");
            if matches!(e, CloudWatchError::State(StateError::Locked { .. })) {
                format!("{LOCKED_PREFIX} ({e}); the finding state is left to it")
            } else {
                format!("not used: {e}")
            }
        })
}
