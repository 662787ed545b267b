//! The sink: turns a cycle into outbox entries, queues them durably (all or none), and
//! drains the outbox oldest first through the [`Service`], data points by namespace and log
//! events by stream, trimming only what CloudWatch accepted.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::config::CloudWatchConfig;
use crate::imds::model::{IdentityDocument, RoleCredentials};
use crate::report::cycle::CycleReport;
use crate::state::{DeliveredKeys, Outbox, OUTBOX_FILE};

use super::credentials::{CredentialError, CredentialSource};
use super::delivery::{change_key, key_generation, Delivery, Item};
use super::endpoint::Api;
use super::logs::{self, LogEvent};
use super::metrics::{self, Datum, Dimensions};
use super::retry::{CloudWatchError, RetryPolicy};
#[cfg(doc)]
use super::retry::{DEFAULT_ATTEMPTS, DEFAULT_MAX_BACKOFF, DEFAULT_MIN_BACKOFF};
use super::service::{Service, Target};
use super::ApiCounters;

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
            ready_streams: HashSet::new(),
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
    ready_streams: HashSet<StreamKey>,
    inactive_logged: bool,
    account: Option<String>,
}

/// A log stream: region, log group, stream name.
type StreamKey = (String, String, String);

/// An outbox log event with its sequence number and its change key.
type Keyed = (u64, LogEvent, Option<String>);

/// The outbox sorted for sending.
#[derive(Default)]
struct Pending {
    /// Data points by region and namespace, with their sequence numbers.
    metrics: BTreeMap<(String, String), Vec<(u64, Datum)>>,
    /// Log events by stream.
    logs: BTreeMap<StreamKey, Vec<Keyed>>,
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

    /// The outbox entries of a cycle: one event per finding change not already queued or
    /// delivered, the summary event, and the data points.
    fn items(
        &self,
        cycle: &CycleReport,
        instance: &IdentityDocument,
        generation: &str,
    ) -> Vec<Item> {
        let region = self
            .cfg
            .region
            .clone()
            .unwrap_or_else(|| instance.region.clone());
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
    pub async fn flush(&mut self) -> Delivery {
        let mut d = Delivery {
            active: true,
            ..Delivery::default()
        };
        if !self.outbox.is_empty() {
            match self.service.source().credentials().await {
                Ok(creds) => self.deliver(creds, &mut d).await,
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
    async fn deliver(&mut self, mut creds: RoleCredentials, d: &mut Delivery) {
        let pending = self.pending_by_destination(SystemTime::now());
        if !self.drop_expired(&pending.expired, d) {
            return;
        }
        for ((region, namespace), data) in pending.metrics {
            let flow = self
                .send_metrics(&region, &namespace, data, &mut creds, d)
                .await;
            if flow == Flow::Stop {
                return;
            }
        }
        for (stream, events) in pending.logs {
            if self.send_stream(stream, events, &mut creds, d).await == Flow::Stop {
                return;
            }
        }
    }

    /// The outbox entries by destination, and those the service would refuse at `now`.
    fn pending_by_destination(&self, now: SystemTime) -> Pending {
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
                        p.logs
                            .entry((region.clone(), group.clone(), stream.clone()))
                            .or_default()
                            .push((e.seq, event.clone(), key.clone()));
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
                        p.metrics
                            .entry((region.clone(), namespace.clone()))
                            .or_default()
                            .push((e.seq, datum.clone()));
                    }
                }
            }
        }
        p
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
        region: &str,
        namespace: &str,
        mut data: Vec<(u64, Datum)>,
        creds: &mut RoleCredentials,
        d: &mut Delivery,
    ) -> Flow {
        data.sort_by_key(|(_, m)| m.timestamp);
        let target = self.target(Api::PutMetricData, region);
        for chunk in data.chunks(metrics::MAX_DATUMS_PER_CALL) {
            let refs: Vec<&Datum> = chunk.iter().map(|(_, m)| m).collect();
            let body = metrics::put_metric_data_body(namespace, &refs);
            let seqs: Vec<u64> = chunk.iter().map(|(s, _)| *s).collect();
            let res = self
                .service
                .call(Api::PutMetricData, &target, &body, creds, &mut d.calls)
                .await;
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
        stream: StreamKey,
        mut events: Vec<Keyed>,
        creds: &mut RoleCredentials,
        d: &mut Delivery,
    ) -> Flow {
        events.sort_by_key(|(_, e, _)| e.timestamp);
        let target = self.target(Api::PutLogEvents, &stream.0);
        let refs: Vec<&LogEvent> = events.iter().map(|(_, e, _)| e).collect();
        for range in logs::batches(&refs, self.tuning.max_batch_events) {
            let batch = Batch {
                events: &refs[range.clone()],
                seqs: events[range.clone()].iter().map(|(s, ..)| *s).collect(),
                keys: events[range].iter().map(|(.., k)| k.clone()).collect(),
            };
            match self.send_batch(&target, &stream, &batch, creds, d).await {
                Flow::Next => {}
                flow => return flow,
            }
        }
        Flow::Next
    }

    /// One batch to its stream, creating the stream first if this sink has not yet, and
    /// once more if it was deleted under us (`ResourceNotFoundException`).
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
        let mut recreated = false;
        loop {
            if !self.ready_streams.contains(stream) {
                match self.ensure_stream(target, group, name, creds, d).await {
                    Ok(()) => {
                        self.ready_streams.insert(stream.clone());
                    }
                    Err(e) => {
                        d.errors.push(e);
                        return Flow::Skip;
                    }
                }
            }
            let res = self
                .service
                .call(Api::PutLogEvents, target, &body, creds, &mut d.calls)
                .await;
            match res {
                Ok(resp) => return self.accepted(stream, batch, &resp, d),
                Err(CloudWatchError::Service { code, .. })
                    if code == "ResourceNotFoundException" && !recreated =>
                {
                    // The group or stream was deleted under us: create it again, once.
                    self.ready_streams.remove(stream);
                    recreated = true;
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

    /// `CreateLogStream`, and `CreateLogGroup` first if the group does not exist;
    /// "already exists" is success.
    async fn ensure_stream(
        &self,
        target: &Target,
        group: &str,
        stream: &str,
        creds: &mut RoleCredentials,
        d: &mut Delivery,
    ) -> Result<(), CloudWatchError> {
        let body = logs::create_log_stream_body(group, stream);
        let calls = &mut d.calls;
        match self
            .service
            .call(Api::CreateLogStream, target, &body, creds, calls)
            .await
        {
            Ok(_) => return Ok(()),
            Err(CloudWatchError::Service { code, .. }) if code == "ResourceNotFoundException" => {}
            Err(e) => return Err(e),
        }
        let gbody = logs::create_log_group_body(group);
        self.service
            .call(Api::CreateLogGroup, target, &gbody, creds, calls)
            .await?;
        self.service
            .call(Api::CreateLogStream, target, &body, creds, calls)
            .await
            .map(|_| ())
    }

    /// Where calls of `api` to `region` go now.
    fn target(&self, api: Api, region: &str) -> Target {
        Target::new(&self.cfg, self.account.as_deref(), api, region)
    }
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
