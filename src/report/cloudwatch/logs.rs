//! CloudWatch Logs (awsJson1.1, signing name `logs`): the finding-change and summary events,
//! and batching within the `PutLogEvents` limits.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::finding::Finding;
use crate::imds::model::IdentityDocument;
use crate::report::cycle::{Change, CycleReport};
use crate::report::json::FindingJson;

/// `X-Amz-Target` prefix of CloudWatch Logs operations.
pub const TARGET_PREFIX: &str = "Logs_20140328";
/// Content type of awsJson1.1.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// At most this many events per `PutLogEvents` call (API limit).
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// At most this many bytes per call: UTF-8 message bytes plus [`EVENT_OVERHEAD`] per event.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// Bytes the service counts for each event on top of its message.
pub const EVENT_OVERHEAD: usize = 26;
/// Largest event we send. The current API text says 1 MiB, older docs and some partitions
/// 256 KiB: we keep to the smaller (our events are about 1 KiB).
pub const MAX_EVENT_BYTES: usize = 256 * 1024 - EVENT_OVERHEAD;
/// The events of one call must span at most 24 hours.
pub const MAX_BATCH_SPAN: Duration = Duration::from_secs(24 * 3600);
/// Events older than this are rejected by the service; we drop them before sending (with a
/// margin of one hour under the 14-day limit).
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(14 * 24 * 3600 - 3600);

/// One log event as it waits in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvent {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The JSON text of the event.
    pub message: String,
}

impl LogEvent {
    /// Bytes this event counts towards [`MAX_BATCH_BYTES`].
    pub fn billed_size(&self) -> usize {
        self.message.len() + EVENT_OVERHEAD
    }
}

/// Milliseconds since the epoch of `t`.
pub fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn instance_fields(i: Option<&IdentityDocument>) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    if let Some(i) = i {
        m.insert("instance_id".into(), json!(i.instance_id));
        m.insert("instance_account_id".into(), json!(i.account_id));
        m.insert("region".into(), json!(i.region));
        m.insert("availability_zone".into(), json!(i.availability_zone));
        m.insert("image_id".into(), json!(i.image_id));
    }
    m
}

/// The event of one finding change: the fields of the scan JSON ([`FindingJson`], an
/// aggregate's `aggregate` object and the key's `owner` included), plus
/// `event`, `change`, `severity` (DESIGN.md "Key owner"), `time` and the instance (`instance_id`, `instance_account_id`, `region`,
/// `availability_zone`, `image_id`).
pub fn finding_event(f: &Finding, change: Change, report: &CycleReport) -> LogEvent {
    let mut m = match serde_json::to_value(FindingJson::new(f, &report.owners)) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    m.insert("event".into(), json!("finding"));
    m.insert("change".into(), json!(change.as_str()));
    let severity = report.owners.severity(f, report.time);
    m.insert("severity".into(), json!(severity.as_str()));
    m.insert(
        "time".into(),
        json!(humantime::format_rfc3339_seconds(report.time).to_string()),
    );
    m.extend(instance_fields(report.instance.as_ref()));
    LogEvent {
        timestamp: epoch_ms(report.time),
        message: serde_json::Value::Object(m).to_string(),
    }
}

/// The summary event of a cycle: totals, metrics, scan stats and the outbox's state.
pub fn summary_event(report: &CycleReport, pending: usize, dropped: u64) -> LogEvent {
    let mut m = serde_json::Map::new();
    m.insert("event".into(), json!("summary"));
    m.insert("version".into(), json!(1));
    m.insert(
        "time".into(),
        json!(humantime::format_rfc3339_seconds(report.time).to_string()),
    );
    m.extend(instance_fields(report.instance.as_ref()));
    let s = &report.summary;
    m.insert("role_status".into(), json!(s.role_status));
    m.insert("findings".into(), json!(s.findings));
    m.insert("credentials".into(), json!(s.credentials));
    m.insert(Change::New.as_str().into(), json!(report.changes.new.len()));
    m.insert(
        Change::Resolved.as_str().into(),
        json!(report.changes.resolved.len()),
    );
    m.insert("still_present".into(), json!(s.still_present));
    if s.carried > 0 {
        m.insert("carried".into(), json!(s.carried));
    }
    m.insert("metrics".into(), json!(report.metrics));
    m.insert("stats".into(), json!(s.stats));
    m.insert(
        "outbox".into(),
        json!({ "pending": pending, "dropped": dropped }),
    );
    LogEvent {
        timestamp: epoch_ms(report.time),
        message: serde_json::Value::Object(m).to_string(),
    }
}

/// Splits events (already in chronological order) into batches that respect the
/// `PutLogEvents` limits: count, bytes with per-event overhead, 24-hour span. Returns index
/// ranges into `events`.
pub fn batches(events: &[&LogEvent], max_events: usize) -> Vec<std::ops::Range<usize>> {
    let max_events = max_events.clamp(1, MAX_BATCH_EVENTS);
    let span = MAX_BATCH_SPAN.as_millis() as i64;
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, e) in events.iter().enumerate() {
        let size = e.billed_size();
        let full = i > start
            && (i - start >= max_events
                || bytes + size > MAX_BATCH_BYTES
                || e.timestamp - events[start].timestamp > span);
        if full {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < events.len() {
        out.push(start..events.len());
    }
    out
}

/// Body of `PutLogEvents`.
pub fn put_log_events_body(group: &str, stream: &str, events: &[&LogEvent]) -> Vec<u8> {
    let evs: Vec<_> = events
        .iter()
        .map(|e| json!({ "timestamp": e.timestamp, "message": e.message }))
        .collect();
    json!({ "logGroupName": group, "logStreamName": stream, "logEvents": evs })
        .to_string()
        .into_bytes()
}

/// Body of `CreateLogGroup`.
pub fn create_log_group_body(group: &str) -> Vec<u8> {
    json!({ "logGroupName": group }).to_string().into_bytes()
}

/// Body of `PutRetentionPolicy`.
pub fn put_retention_policy_body(group: &str, days: u32) -> Vec<u8> {
    json!({ "logGroupName": group, "retentionInDays": days })
        .to_string()
        .into_bytes()
}

/// Whether a `Create*` answer that counted as success created the resource: the service call
/// also takes "already exists" (an error answer, with its `__type`) as success.
pub(crate) fn created(resp: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(resp).map_or(true, |v| v.get("__type").is_none())
}

/// Body of `CreateLogStream`.
pub fn create_log_stream_body(group: &str, stream: &str) -> Vec<u8> {
    json!({ "logGroupName": group, "logStreamName": stream })
        .to_string()
        .into_bytes()
}

/// `rejectedLogEventsInfo` of a `PutLogEvents` answer: which events were not stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedInfo {
    /// Events from this index on were too far in the future.
    pub too_new_log_event_start_index: Option<usize>,
    /// Events up to (excluding) this index were too old.
    pub too_old_log_event_end_index: Option<usize>,
    /// Events up to (excluding) this index were older than the group's retention.
    pub expired_log_event_end_index: Option<usize>,
}

impl RejectedInfo {
    /// Parses the answer of `PutLogEvents`; `None` when every event was accepted.
    pub fn from_response(body: &[u8]) -> Option<RejectedInfo> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Resp {
            rejected_log_events_info: Option<RejectedInfo>,
        }
        serde_json::from_slice::<Resp>(body)
            .ok()
            .and_then(|r| r.rejected_log_events_info)
    }

    /// The events of a batch of `n` that were accepted: those neither too old (nor expired)
    /// at the start of the batch nor too new at its end.
    pub fn accepted(&self, n: usize) -> std::ops::Range<usize> {
        let start = self
            .too_old_log_event_end_index
            .unwrap_or(0)
            .max(self.expired_log_event_end_index.unwrap_or(0))
            .min(n);
        let end = self.too_new_log_event_start_index.unwrap_or(n).min(n);
        start..end.max(start)
    }

    /// How many of `n` events were rejected.
    pub fn count(&self, n: usize) -> usize {
        let old = self
            .too_old_log_event_end_index
            .unwrap_or(0)
            .max(self.expired_log_event_end_index.unwrap_or(0))
            .min(n);
        let new = n - self.too_new_log_event_start_index.unwrap_or(n).min(n);
        (old + new).min(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, len: usize) -> LogEvent {
        LogEvent {
            timestamp: ts,
            message: "x".repeat(len),
        }
    }

    #[test]
    fn an_aggregate_event_carries_its_aggregate() {
        use crate::finding::{Aggregate, Kind, Source};
        let f = Finding {
            id: "agg1".into(),
            rule: "aws-access-key-id".into(),
            kind: Kind::AccessKeyId,
            source: Source::File,
            path: "/var/log/cloudtrail.json".into(),
            line: 2,
            column: 103,
            key_id: Some("ASIAY34FZKBOKMUTVV7A".into()),
            key_type: Some(crate::finding::KeyType::Temporary),
            account_id: None,
            credential: "c1".into(),
            redacted: "ASIA…".into(),
            fingerprint: "sha256:00".into(),
            process: None,
            aggregate: Aggregate::sample(20_000, 0, &["ASIAY34FZKBOKMUTVV7A"]),
            encoding: Vec::new(),
        };
        let report = CycleReport::new(
            SystemTime::UNIX_EPOCH,
            None,
            crate::report::cycle::RoleSummary::default(),
            &crate::scan::ScanOutcome::default(),
            crate::state::FindingChanges::default(),
        );
        let ev = finding_event(&f, Change::New, &report);
        let v: serde_json::Value = serde_json::from_str(&ev.message).unwrap();
        assert_eq!(v["aggregate"]["count"], 20_000);
        assert_eq!(v["aggregate"]["key_ids"][0], "ASIAY34FZKBOKMUTVV7A");
        assert_eq!(v["change"], "new");
    }

    #[test]
    fn batches_respect_count_bytes_and_span() {
        // Count.
        let evs: Vec<LogEvent> = (0..25).map(|i| ev(i, 10)).collect();
        let refs: Vec<&LogEvent> = evs.iter().collect();
        let b = batches(&refs, 10);
        assert_eq!(b, vec![0..10, 10..20, 20..25]);
        // Bytes, counting 26 bytes of overhead per event: 4 events of 262,118 + 26 = 262,144
        // bytes fill exactly 1 MiB; a fifth does not fit.
        let evs: Vec<LogEvent> = (0..5).map(|i| ev(i, 262_118)).collect();
        let refs: Vec<&LogEvent> = evs.iter().collect();
        assert_eq!(batches(&refs, MAX_BATCH_EVENTS), vec![0..4, 4..5]);
        // Span: 24 h + 1 ms apart splits.
        let day = 24 * 3600 * 1000;
        let evs = [ev(0, 1), ev(day, 1), ev(day + 1, 1)];
        let refs: Vec<&LogEvent> = evs.iter().collect();
        assert_eq!(batches(&refs, MAX_BATCH_EVENTS), vec![0..2, 2..3]);
        // 10,001 events: two calls even with the default limit.
        let evs: Vec<LogEvent> = (0..10_001).map(|i| ev(i, 1)).collect();
        let refs: Vec<&LogEvent> = evs.iter().collect();
        assert_eq!(
            batches(&refs, MAX_BATCH_EVENTS),
            vec![0..10_000, 10_000..10_001]
        );
    }

    #[test]
    fn created_tells_already_exists_apart() {
        assert!(created(b""));
        assert!(created(b"{}"));
        assert!(!created(
            br#"{"__type":"ResourceAlreadyExistsException","message":"exists"}"#
        ));
        let body: serde_json::Value =
            serde_json::from_slice(&put_retention_policy_body("/g", 90)).unwrap();
        assert_eq!(body, json!({ "logGroupName": "/g", "retentionInDays": 90 }));
    }

    #[test]
    fn rejected_info_counts() {
        let r = RejectedInfo::from_response(
            br#"{"rejectedLogEventsInfo":{"tooOldLogEventEndIndex":2,"tooNewLogEventStartIndex":4}}"#,
        )
        .unwrap();
        assert_eq!(r.count(5), 3);
        assert_eq!(r.accepted(5), 2..4);
        let all_old = RejectedInfo::from_response(
            br#"{"rejectedLogEventsInfo":{"expiredLogEventEndIndex":5,"tooNewLogEventStartIndex":1}}"#,
        )
        .unwrap();
        assert_eq!((all_old.count(5), all_old.accepted(5).len()), (5, 0));
        assert!(RejectedInfo::from_response(br#"{"nextSequenceToken":"1"}"#).is_none());
    }
}
