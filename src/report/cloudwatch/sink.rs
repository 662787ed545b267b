//! The sink: turns a cycle into outbox entries, queues them durably (all or none), and
//! drains the outbox oldest first through the [`Service`], data points by namespace and log
//! events by stream, trimming only what CloudWatch accepted.
//!
//! Log streams are created lazily: `PutLogEvents` comes first, and only its
//! `ResourceNotFoundException` makes the sink create the stream (and the group, when that is
//! what is missing), once per batch, before it puts again. A restarted agent whose stream
//! exists makes no `Create*` call. A group the sink creates gets `log_retention_days` at once
//! (`PutRetentionPolicy`); a group that exists (the CloudFormation stack's) is never created
//! again nor has its retention touched, and creating a missing group is said in the log, so
//! a group deleted under the agent is never re-created silently. Where the stack owns the
//! group, its role has no `logs:CreateLogGroup` and the re-creation fails as `AccessDenied`.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::config::CloudWatchConfig;
use crate::imds::model::{IdentityDocument, RoleCredentials};
use crate::report::cycle::CycleReport;
use crate::report::endpoints::EndpointError;
use crate::state::{DeliveredKeys, Outbox, OUTBOX_FILE};

use super::delivery::{change_key, key_generation, Delivery, Item};
use super::endpoint::{self, Api};
use super::logs::{self, LogEvent};
use super::metrics::{self, Datum, Dimensions};
use super::ApiCounters;
use super::CloudWatchError;
use crate::report::aws::RetryPolicy;
use crate::report::aws::{CredentialError, CredentialSource};
use crate::report::aws::{Service, Target};
#[cfg(doc)]
use crate::report::aws::{DEFAULT_ATTEMPTS, DEFAULT_MAX_BACKOFF, DEFAULT_MIN_BACKOFF};

/// Knobs of the sink beyond the config file.
#[derive(Debug)]
pub struct Builder<'a, C> {
    cfg: &'a CloudWatchConfig,
    state_dir: &'a Path,
    source: C,
    tuning: Tuning,
}

/// How the sink batches, retries and labels its metrics: set by [`Builder`], kept by the sink.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    dimensions: Dimensions,
    max_batch_events: usize,
    retry: RetryPolicy,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            dimensions: Dimensions::default(),
            max_batch_events: logs::MAX_BATCH_EVENTS,
            retry: RetryPolicy::default(),
        }
    }
}

impl<C: CredentialSource> Builder<'_, C> {
    /// Dimension sets of the metrics (default: [`Dimensions::Fleet`]).
    pub fn dimensions(mut self, d: Dimensions) -> Self {
        self.tuning.dimensions = d;
        self
    }

    /// At most this many events per `PutLogEvents` (default and maximum 10,000).
    pub fn max_batch_events(mut self, n: usize) -> Self {
        self.tuning.max_batch_events = n.clamp(1, logs::MAX_BATCH_EVENTS);
        self
    }

    /// Attempts per call for retriable errors (default [`DEFAULT_ATTEMPTS`]).
    pub fn attempts(mut self, n: usize) -> Self {
        self.tuning.retry.attempts = n.max(1);
        self
    }

    /// Backoff ceilings (defaults [`DEFAULT_MIN_BACKOFF`], [`DEFAULT_MAX_BACKOFF`]).
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.tuning.retry.min_backoff = min;
        self.tuning.retry.max_backoff = max.max(min);
        self
    }

    /// Opens the outbox and builds the HTTP client.
    pub fn build(self) -> Result<CloudWatchSink<C>, CloudWatchError> {
        let outbox = Outbox::open(
            self.state_dir,
            OUTBOX_FILE,
            self.cfg.outbox_max_size.as_u64(),
        )?;
        Ok(CloudWatchSink {
            cfg: self.cfg.clone(),
            service: Service::new(self.source, self.tuning.retry)?,
            tuning: self.tuning,
            delivered: DeliveredKeys::load(self.state_dir),
            outbox,
            totals: ApiCounters::default(),
            inactive_logged: false,
            account: None,
        })
    }
}

/// The CloudWatch sink, generic over where its credentials come from.
#[derive(Debug)]
pub struct CloudWatchSink<C> {
    cfg: CloudWatchConfig,
    service: Service<C>,
    tuning: Tuning,
    outbox: Outbox<Item>,
    delivered: DeliveredKeys,
    totals: ApiCounters,
    inactive_logged: bool,
    account: Option<String>,
}

/// A log stream: region, log group, stream name.
type StreamKey = (String, String, String);

/// An outbox log event with its sequence number and its change key.
type Keyed = (u64, LogEvent, Option<String>);

/// An outbox data point with its sequence number.
type Numbered = (u64, Datum);

/// The outbox sorted for sending, each destination with where its calls go.
#[derive(Default)]
struct Pending {
    /// Data points by region and namespace, with their sequence numbers.
    metrics: BTreeMap<(String, String), (Target, Vec<Numbered>)>,
    /// Log events by stream.
    logs: BTreeMap<StreamKey, (Target, Vec<Keyed>)>,
    /// Entries the service would refuse (older than it accepts, or too large).
    expired: Vec<u64>,
}

/// One `PutLogEvents` worth of a stream's events.
struct Batch<'a> {
    events: &'a [&'a LogEvent],
    seqs: Vec<u64>,
    keys: Vec<Option<String>>,
}

/// What the rest of a flush does after one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Go on with the next batch.
    Next,
    /// Leave this namespace or stream (its entries stay) and go on with the next one.
    Skip,
    /// Stop the flush: the outbox itself failed.
    Stop,
}

impl<C: CredentialSource> CloudWatchSink<C> {
    /// A builder with the config file's settings, the outbox in `state_dir`, and `source`.
    pub fn builder<'a>(
        cfg: &'a CloudWatchConfig,
        state_dir: &'a Path,
        source: C,
    ) -> Builder<'a, C> {
        Builder {
            cfg,
            state_dir,
            source,
            tuning: Tuning::default(),
        }
    }

    /// Applies a reloaded `[cloudwatch]` section (SIGHUP) without reopening the outbox:
    /// namespace, log group and region apply to entries queued from now on, endpoints to the
    /// next flush, the outbox bound to the next push.
    pub fn set_config(&mut self, cfg: &CloudWatchConfig) {
        self.cfg = cfg.clone();
        self.outbox.set_max_bytes(cfg.outbox_max_size.as_u64());
    }

    /// Calls and bytes since the sink was built.
    pub fn totals(&self) -> &ApiCounters {
        &self.totals
    }

    /// Entries waiting in the outbox.
    pub fn pending(&self) -> usize {
        self.outbox.len()
    }

    /// The outbox (for inspection).
    pub fn outbox(&self) -> &Outbox<Item> {
        &self.outbox
    }

    /// The changes already delivered from the current finding-state generation (for
    /// inspection).
    pub fn delivered(&self) -> &DeliveredKeys {
        &self.delivered
    }

    /// Sets what the outbox holds now (`pending`, `dropped`) in `d`, and returns it.
    fn with_outbox_counts(&self, mut d: Delivery) -> Delivery {
        d.pending = self.outbox.len() as u64;
        d.dropped = self.outbox.dropped();
        d
    }

    fn inactive(&mut self, reason: String) -> Delivery {
        if !self.inactive_logged && said_first_time(&reason) {
            log::warn!(reason:% = reason;
                "CloudWatch reporting is inactive: {reason}; nothing is queued for CloudWatch");
        }
        self.inactive_logged = true;
        self.with_outbox_counts(Delivery {
            active: false,
            inactive_reason: Some(reason),
            ..Delivery::default()
        })
    }

    /// Queues a cycle's metrics and events durably, then tries to deliver everything that
    /// waits. Off EC2, or without role credentials, queues nothing.
    pub async fn report(&mut self, cycle: &CycleReport) -> Delivery {
        let mut d = self.enqueue(cycle, "").await;
        if d.active {
            let flushed = self.flush().await;
            d.absorb(flushed);
        }
        d
    }

    /// Queues a cycle's metrics and events durably (written and fsynced) without sending.
    /// `generation` identifies the finding state the changes were computed from (see
    /// [`crate::state::FindingState::generation`]); a change already queued, or already
    /// delivered, from the same generation is not queued again (an empty `generation` turns
    /// the delivered check off). Off EC2, or without role credentials, queues nothing and
    /// returns an inactive delivery.
    ///
    /// All or nothing: when the delivery carries a [`CloudWatchError::State`] error, nothing
    /// of this cycle was queued and the finding state must not move on.
    pub async fn enqueue(&mut self, cycle: &CycleReport, generation: &str) -> Delivery {
        let instance = match self.activate(cycle).await {
            Ok(instance) => instance,
            Err(inactive) => return inactive,
        };
        let mut d = Delivery {
            active: true,
            ..Delivery::default()
        };
        if !generation.is_empty() {
            if let Err(e) = self.delivered.begin(generation) {
                d.errors.push(e.into());
                return self.with_outbox_counts(d);
            }
        }
        let items = self.items(cycle, instance, generation);
        let enqueued = items.len() as u64;
        match self.outbox.push_all(items) {
            Ok(_) => d.enqueued = enqueued,
            Err(e) => d.errors.push(e.into()),
        }
        self.with_outbox_counts(d)
    }

    /// The instance a cycle is reported for, when the sink is active for it; otherwise the
    /// inactive delivery (no identity document, or no credentials to be had here).
    async fn activate<'c>(
        &mut self,
        cycle: &'c CycleReport,
    ) -> Result<&'c IdentityDocument, Delivery> {
        let Some(instance) = cycle.instance.as_ref() else {
            return Err(self.inactive(
                "no instance identity document (not on EC2, or IMDS disabled or unreachable)"
                    .into(),
            ));
        };
        if let Err(e) = endpoint::check_region(&self.cfg, &self.region(instance)) {
            return Err(self.inactive(endpoint::inactive_reason(&e)));
        }
        match self.service.source().credentials().await {
            Err(CredentialError::Unavailable(why)) => return Err(self.inactive(why)),
            Err(e @ CredentialError::Failed(_)) => {
                // Transient: queue now, deliver when credentials come back.
                log::warn!(error:% = e; "CloudWatch: no credentials for now; queueing");
            }
            Ok(_) => {}
        }
        if self.inactive_logged {
            log::info!("CloudWatch reporting is active again");
            self.inactive_logged = false;
        }
        self.account = Some(instance.account_id.clone());
        Ok(instance)
    }

    /// The region entries for `instance` go to: the configured one, else the instance's.
    fn region(&self, instance: &IdentityDocument) -> String {
        self.cfg
            .region
            .clone()
            .unwrap_or_else(|| instance.region.clone())
    }

    /// The outbox entries of a cycle: one event per finding change not already queued or
    /// delivered, the summary event, and the data points.
    fn items(
        &self,
        cycle: &CycleReport,
        instance: &IdentityDocument,
        generation: &str,
    ) -> Vec<Item> {
        let region = self.region(instance);
        let group = self.cfg.log_group.clone();
        let stream = instance.instance_id.clone();
        let queued: HashSet<String> = self
            .outbox
            .entries()
            .filter_map(|e| match &e.item {
                Item::Log { key: Some(k), .. } => Some(k.clone()),
                _ => None,
            })
            .collect();
        let log_item = |event: LogEvent, key: Option<String>| Item::Log {
            region: region.clone(),
            group: group.clone(),
            stream: stream.clone(),
            event,
            key,
        };
        let mut items = Vec::new();
        for (f, change) in cycle.each_change() {
            let key = change_key(&f.id, change, generation);
            if queued.contains(&key) || self.delivered.contains(&key) {
                continue;
            }
            items.push(log_item(logs::finding_event(f, change, cycle), Some(key)));
        }
        items.push(log_item(
            logs::summary_event(cycle, self.outbox.len(), self.outbox.dropped()),
            None,
        ));
        for datum in metrics::datums(cycle, self.tuning.dimensions) {
            items.push(Item::Metric {
                region: region.clone(),
                namespace: self.cfg.namespace.clone(),
                datum,
            });
        }
        items
    }

    /// Sends what waits in the outbox, oldest first; after a 2xx records the finding changes
    /// the service accepted ([`DeliveredKeys`]), then removes the entries. A batch is sent
    /// twice only when the process dies, or the 2xx is lost, between the service accepting it
    /// and its removal being on disk (see the module docs).
    /// An entry whose region has no endpoint (the variant was changed by a reload) makes the
    /// sink inactive, said once, and sends nothing.
    pub async fn flush(&mut self) -> Delivery {
        let mut d = Delivery {
            active: true,
            ..Delivery::default()
        };
        if !self.outbox.is_empty() {
            let pending = match self.pending_by_destination(SystemTime::now()) {
                Ok(pending) => pending,
                Err(e) => return self.inactive(endpoint::inactive_reason(&e)),
            };
            match self.service.source().credentials().await {
                Ok(creds) => self.deliver(pending, creds, &mut d).await,
                Err(e) => d.errors.push(e.into()),
            }
        }
        let d = self.with_outbox_counts(d);
        self.totals.add(&d.calls);
        for e in &d.errors {
            log::warn!(error:% = e; "CloudWatch delivery incomplete; entries stay in the outbox");
        }
        d
    }

    /// Removes entries the service refused for good (invalid, not retryable) and counts them.
    /// Returns false when the outbox itself failed (the error is recorded in `d`).
    fn reject(&mut self, seqs: &[u64], e: CloudWatchError, d: &mut Delivery) -> bool {
        log::error!(error:% = e; "CloudWatch refused entries as invalid; removing them from the outbox");
        d.rejected += seqs.len() as u64;
        d.errors.push(e);
        match self.outbox.remove(seqs) {
            Ok(()) => true,
            Err(e) => {
                d.errors.push(e.into());
                false
            }
        }
    }

    /// Drains the outbox: drops what the service would refuse, then sends the data points
    /// and the log events.
    async fn deliver(&mut self, pending: Pending, mut creds: RoleCredentials, d: &mut Delivery) {
        if !self.drop_expired(&pending.expired, d) {
            return;
        }
        for ((_, namespace), (target, data)) in pending.metrics {
            let flow = self
                .send_metrics(&target, &namespace, data, &mut creds, d)
                .await;
            if flow == Flow::Stop {
                return;
            }
        }
        for (stream, (target, events)) in pending.logs {
            let flow = self
                .send_stream(&target, stream, events, &mut creds, d)
                .await;
            if flow == Flow::Stop {
                return;
            }
        }
    }

    /// The outbox entries by destination, and those the service would refuse at `now`;
    /// an error when a destination's region has no endpoint.
    fn pending_by_destination(&self, now: SystemTime) -> Result<Pending, EndpointError> {
        let mut p = Pending::default();
        let oldest_ms = logs::epoch_ms(now) - logs::MAX_EVENT_AGE.as_millis() as i64;
        for e in self.outbox.entries() {
            match &e.item {
                Item::Log {
                    region,
                    group,
                    stream,
                    event,
                    key,
                } => {
                    if event.timestamp < oldest_ms || event.message.len() > logs::MAX_EVENT_BYTES {
                        p.expired.push(e.seq);
                    } else {
                        let dest = (region.clone(), group.clone(), stream.clone());
                        let events = match p.logs.entry(dest) {
                            Entry::Occupied(o) => o.into_mut(),
                            Entry::Vacant(v) => {
                                let target = self.target(Api::PutLogEvents, region)?;
                                v.insert((target, Vec::new()))
                            }
                        };
                        events.1.push((e.seq, event.clone(), key.clone()));
                    }
                }
                Item::Metric {
                    region,
                    namespace,
                    datum,
                } => {
                    if metrics::too_old(datum, now) {
                        p.expired.push(e.seq);
                    } else {
                        let data = match p.metrics.entry((region.clone(), namespace.clone())) {
                            Entry::Occupied(o) => o.into_mut(),
                            Entry::Vacant(v) => {
                                let target = self.target(Api::PutMetricData, region)?;
                                v.insert((target, Vec::new()))
                            }
                        };
                        data.1.push((e.seq, datum.clone()));
                    }
                }
            }
        }
        Ok(p)
    }

    /// Removes and counts the entries the service would refuse. Returns false when the
    /// outbox itself failed (the error is recorded in `d`).
    fn drop_expired(&mut self, expired: &[u64], d: &mut Delivery) -> bool {
        if expired.is_empty() {
            return true;
        }
        log::warn!(entries = expired.len();
            "CloudWatch: dropping outbox entries the service would refuse (older than 14 days or too large)");
        d.rejected += expired.len() as u64;
        if let Err(e) = self.outbox.remove(expired) {
            d.errors.push(e.into());
            return false;
        }
        true
    }

    /// `PutMetricData` of one namespace's data points, oldest first, in chunks of at most
    /// [`metrics::MAX_DATUMS_PER_CALL`].
    async fn send_metrics(
        &mut self,
        target: &Target,
        namespace: &str,
        mut data: Vec<Numbered>,
        creds: &mut RoleCredentials,
        d: &mut Delivery,
    ) -> Flow {
        data.sort_by_key(|(_, m)| m.timestamp);
        for chunk in data.chunks(metrics::MAX_DATUMS_PER_CALL) {
            let refs: Vec<&Datum> = chunk.iter().map(|(_, m)| m).collect();
            let body = metrics::put_metric_data_body(namespace, &refs);
            let seqs: Vec<u64> = chunk.iter().map(|(s, _)| *s).collect();
            let res = self.call(Api::PutMetricData, target, &body, creds, d).await;
            match res {
                Ok(_) => {
                    d.delivered_datums += seqs.len() as u64;
                    d.calls.metric_datums += seqs.len() as u64;
                    if let Err(e) = self.outbox.remove(&seqs) {
                        d.errors.push(e.into());
                        return Flow::Stop;
                    }
                }
                Err(e @ CloudWatchError::Validation { .. }) => {
                    if !self.reject(&seqs, e, d) {
                        return Flow::Stop;
                    }
                }
                Err(e) => {
                    d.errors.push(e);
                    return Flow::Skip;
                }
            }
        }
        Flow::Next
    }

    /// `PutLogEvents` of one stream's events in time order (stable: the events of one
    /// cycle keep their order), in batches within the service's limits.
    async fn send_stream(
        &mut self,
        target: &Target,
        stream: StreamKey,
        mut events: Vec<Keyed>,
        creds: &mut RoleCredentials,
        d: &mut Delivery,
    ) -> Flow {
        events.sort_by_key(|(_, e, _)| e.timestamp);
        let refs: Vec<&LogEvent> = events.iter().map(|(_, e, _)| e).collect();
        for range in logs::batches(&refs, self.tuning.max_batch_events) {
            let batch = Batch {
                events: &refs[range.clone()],
                seqs: events[range.clone()].iter().map(|(s, ..)| *s).collect(),
                keys: events[range].iter().map(|(.., k)| k.clone()).collect(),
            };
            match self.send_batch(target, &stream, &batch, creds, d).await {
                Flow::Next => {}
                flow => return flow,
            }
        }
        Flow::Next
    }

    /// One batch to its stream. The stream is created only when the put says it (or its
    /// group) does not exist, once per batch, and the put is made again.
    async fn send_batch(
        &mut self,
        target: &Target,
        stream: &StreamKey,
        batch: &Batch<'_>,
        creds: &mut RoleCredentials,
        d: &mut Delivery,
    ) -> Flow {
        let (_, group, name) = stream;
        let body = logs::put_log_events_body(group, name, batch.events);
        let mut created = false;
        loop {
            let res = self.call(Api::PutLogEvents, target, &body, creds, d).await;
            match res {
                Ok(resp) => return self.accepted(stream, batch, &resp, d),
                Err(e) if is_not_found(&e) && !created => {
                    created = true;
                    if let Err(e) = self.create_stream(target, group, name, creds, d).await {
                        d.errors.push(e);
                        return Flow::Skip;
                    }
                }
                Err(e @ CloudWatchError::Validation { .. }) => {
                    return if self.reject(&batch.seqs, e, d) {
                        Flow::Next
                    } else {
                        Flow::Stop
                    };
                }
                Err(e) => {
                    d.errors.push(e);
                    return Flow::Skip;
                }
            }
        }
    }

    /// After a 2xx to `PutLogEvents`: counts what the service accepted and refused, records
    /// the accepted changes as delivered, then trims the batch from the outbox.
    fn accepted(
        &mut self,
        (_, group, stream): &StreamKey,
        batch: &Batch<'_>,
        resp: &[u8],
        d: &mut Delivery,
    ) -> Flow {
        let len = batch.events.len();
        let accepted = logs::RejectedInfo::from_response(resp).map_or(0..len, |r| r.accepted(len));
        let rejected = len - accepted.len();
        if rejected > 0 {
            log::warn!(rejected = rejected, group:% = group, stream:% = stream;
                "CloudWatch Logs refused some events (too old or too far in the future)");
        }
        d.rejected += rejected as u64;
        d.delivered_events += accepted.len() as u64;
        d.calls.log_ingested_bytes += batch.events[accepted.clone()]
            .iter()
            .map(|e| e.billed_size() as u64)
            .sum::<u64>();
        // The accepted changes are recorded before the outbox is trimmed: a crash in between
        // resends the batch (the one duplicate window) but never queues the changes again.
        let delivered = batch.keys[accepted]
            .iter()
            .filter_map(|k| k.as_deref())
            .map(|k| (key_generation(k), k));
        if let Err(e) = self.delivered.record(delivered) {
            d.errors.push(e.into());
        }
        if let Err(e) = self.outbox.remove(&batch.seqs) {
            d.errors.push(e.into());
            return Flow::Stop;
        }
        Flow::Next
    }

    /// One call of `api`, counted in `d`.
    async fn call(
        &self,
        api: Api,
        target: &Target,
        body: &[u8],
        creds: &mut RoleCredentials,
        d: &mut Delivery,
    ) -> Result<Vec<u8>, CloudWatchError> {
        let counter = d.calls.get(api);
        self.service.call(&api, target, body, creds, counter).await
    }

    /// `CreateLogStream`, and first the group ([`Self::create_group`]) if that is what
    /// does not exist; "already exists" is success.
    async fn create_stream(
        &self,
        target: &Target,
        group: &str,
        stream: &str,
        creds: &mut RoleCredentials,
        d: &mut Delivery,
    ) -> Result<(), CloudWatchError> {
        let body = logs::create_log_stream_body(group, stream);
        match self
            .call(Api::CreateLogStream, target, &body, creds, d)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
        self.create_group(target, group, creds, d).await?;
        self.call(Api::CreateLogStream, target, &body, creds, d)
            .await
            .map(|_| ())
    }

    /// `CreateLogGroup`, said in the log (a group the stack owns and someone deleted is not
    /// re-created silently), then `PutRetentionPolicy` with `log_retention_days` when this call
    /// created the group (not when it already existed) and a retention is configured. A
    /// retention that cannot be set is reported in `d` and does not hold up delivery.
    async fn create_group(
        &self,
        target: &Target,
        group: &str,
        creds: &mut RoleCredentials,
        d: &mut Delivery,
    ) -> Result<(), CloudWatchError> {
        let body = logs::create_log_group_body(group);
        let resp = self
            .call(Api::CreateLogGroup, target, &body, creds, d)
            .await?;
        let days = self.cfg.log_retention_days;
        if !logs::created(&resp) {
            return Ok(());
        }
        log::warn!(group:% = group, retention_days = days;
            "CloudWatch Logs: the log group did not exist; created it (if a CloudFormation stack owns it, it was deleted)");
        if days == 0 {
            return Ok(());
        }
        let body = logs::put_retention_policy_body(group, days);
        let res = self
            .call(Api::PutRetentionPolicy, target, &body, creds, d)
            .await;
        if let Err(e) = res {
            log::warn!(error:% = e, group:% = group;
                "CloudWatch Logs: cannot set the retention of the new log group; its events never expire until it is set");
            d.errors.push(e);
        }
        Ok(())
    }

    /// Where calls of `api` to `region` go now.
    fn target(&self, api: Api, region: &str) -> Result<Target, EndpointError> {
        endpoint::target(&self.cfg, self.account.as_deref(), api, region)
    }
}

/// Whether the service said the log group or stream does not exist.
fn is_not_found(e: &CloudWatchError) -> bool {
    matches!(e, CloudWatchError::Service { code, .. } if code == "ResourceNotFoundException")
}

/// Whether this process has not yet said that CloudWatch is inactive for `reason`: the warning
/// is said once per reason and process, across the sinks that reloads build anew.
fn said_first_time(reason: &str) -> bool {
    static SAID: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let mut said = SAID
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if said.as_deref() == Some(reason) {
        return false;
    }
    *said = Some(reason.to_string());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imds::model::Sensitive;
    use crate::report::cycle::RoleSummary;
    use crate::scan::ScanOutcome;
    use crate::state::FindingChanges;

    /// Credentials that are never sent anywhere: these tests make no call.
    struct Fixed;

    impl CredentialSource for Fixed {
        async fn credentials(&self) -> Result<RoleCredentials, CredentialError> {
            Ok(RoleCredentials {
                role: "r".into(),
                code: "Success".into(),
                kind: None,
                access_key_id: "ASIAEXAMPLEEXAMPLE00".into(),
                secret_access_key: Sensitive::new("unused"),
                session_token: Sensitive::new("unused"),
                expiration: SystemTime::now() + Duration::from_secs(3600),
                last_updated: None,
            })
        }
        async fn refresh(&self) -> Result<RoleCredentials, CredentialError> {
            self.credentials().await
        }
    }

    fn cycle_in(region: &str) -> CycleReport {
        let instance = IdentityDocument {
            instance_id: "i-0123456789abcdef0".into(),
            account_id: "123456789012".into(),
            region: region.into(),
            availability_zone: format!("{region}a"),
            instance_type: "m7g.large".into(),
            image_id: "ami-0123456789abcdef0".into(),
            architecture: None,
        };
        CycleReport::new(
            SystemTime::now(),
            Some(instance),
            RoleSummary::default(),
            &ScanOutcome::default(),
            FindingChanges::default(),
        )
    }

    /// The instance's region picks the partition's endpoints: ISO and EUSC regions used to get
    /// `.amazonaws.com` hosts that do not exist there, and retried them for ever.
    #[tokio::test]
    async fn iso_and_eusc_regions_resolve_through_the_sink() {
        for (region, logs, monitoring) in [
            (
                "us-iso-east-1",
                "https://logs.us-iso-east-1.c2s.ic.gov",
                "https://monitoring.us-iso-east-1.c2s.ic.gov",
            ),
            (
                "us-isob-east-1",
                "https://logs.us-isob-east-1.sc2s.sgov.gov",
                "https://monitoring.us-isob-east-1.sc2s.sgov.gov",
            ),
            (
                "eusc-de-east-1",
                "https://logs.eusc-de-east-1.amazonaws.eu",
                "https://monitoring.eusc-de-east-1.amazonaws.eu",
            ),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let cfg = CloudWatchConfig::default();
            let mut sink = CloudWatchSink::builder(&cfg, tmp.path(), Fixed)
                .build()
                .unwrap();
            let d = sink.enqueue(&cycle_in(region), "").await;
            assert!(d.active && d.enqueued > 0, "{region}: {d:?}");
            let p = sink.pending_by_destination(SystemTime::now()).unwrap();
            let (target, _) = p.logs.values().next().unwrap();
            assert!(format!("{target:?}").contains(logs), "{target:?}");
            let (target, _) = p.metrics.values().next().unwrap();
            assert!(format!("{target:?}").contains(monitoring), "{target:?}");
        }
    }

    /// FIPS dual-stack does not exist in us-isof-south-1: the sink is inactive and says why,
    /// queues nothing, and after a reload that asks for it sends nothing (no retry loop).
    #[tokio::test]
    async fn a_region_without_the_variant_makes_the_sink_inactive() {
        let tmp = tempfile::tempdir().unwrap();
        let both = CloudWatchConfig {
            use_fips_endpoint: true,
            use_dualstack_endpoint: true,
            ..CloudWatchConfig::default()
        };
        let mut sink = CloudWatchSink::builder(&both, tmp.path(), Fixed)
            .build()
            .unwrap();
        let d = sink.enqueue(&cycle_in("us-isof-south-1"), "").await;
        assert!(!d.active);
        let why = d.inactive_reason.unwrap_or_default();
        assert!(
            why.contains("no FIPS dual-stack endpoint in us-isof-south-1"),
            "{why}"
        );
        assert_eq!((d.enqueued, sink.pending()), (0, 0));

        // Queued with plain endpoints, then a reload asks for the missing variant.
        let other = tmp.path().join("other");
        let mut sink = CloudWatchSink::builder(&CloudWatchConfig::default(), &other, Fixed)
            .build()
            .unwrap();
        let queued = sink.enqueue(&cycle_in("us-isof-south-1"), "").await;
        assert!(queued.active && queued.enqueued > 0);
        sink.set_config(&both);
        let d = sink.flush().await;
        assert!(!d.active && d.inactive_reason.is_some(), "{d:?}");
        assert_eq!(d.calls.total_calls(), 0);
        assert_eq!(d.pending, queued.enqueued, "the entries stay queued");
    }
}
