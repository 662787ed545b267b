//! CloudWatch `PutMetricData` in the JSON 1.0 protocol (`X-Amz-Target:
//! GraniteServiceVersion20100801.PutMetricData`, signing name `monitoring`), the protocol the
//! AWS SDKs use today; moto answers it too.
//!
//! **Dimensions, chosen for fleet cost.** Every distinct namespace + name + dimension set is
//! one billed custom metric ($0.30 per metric-month for the first 10,000). With an
//! `InstanceId` dimension, 4 metrics × 10,000 instances is 40,000 metrics, about $6,000 a
//! month after tiering (more than the $2.10/instance of EC2 detailed monitoring). So by
//! default ([`Dimensions::Fleet`]) the agent publishes the four metrics **without
//! dimensions**: 4 metrics per account and region whatever the fleet size ($1.20 a month).
//! `Maximum` says whether any instance has a problem, `Sum` how many (each instance
//! publishes one value per cycle: `HardcodedCredentials` Sum = credentials fleet-wide,
//! `IMDSv1Open` Sum = instances with IMDSv1 open), `SampleCount` how many instances
//! reported. *Which* instances is answered by the Logs events (one stream per instance id,
//! a summary per cycle), which cost per byte, not per instance.
//! [`Dimensions::FleetAndInstance`] adds a per-instance copy for small fleets that want
//! per-instance alarms, at 4 metrics per instance.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::report::cycle::CycleReport;

/// `X-Amz-Target` prefix of CloudWatch operations.
pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801";
/// Content type of awsJson1.0.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// At most this many datums per call (API limit: 1,000).
pub const MAX_DATUMS_PER_CALL: usize = 1000;
/// The service accepts data points up to two weeks old; older ones are dropped before
/// sending (with a one-hour margin).
pub const MAX_DATUM_AGE: std::time::Duration =
    std::time::Duration::from_secs(14 * 24 * 3600 - 3600);

/// Metric names (DESIGN.md).
pub const HARDCODED_CREDENTIALS: &str = "HardcodedCredentials";
/// 1 when no instance profile is attached.
pub const INSTANCE_PROFILE_MISSING: &str = "InstanceProfileMissing";
/// 1 when IMDSv1 is answered.
pub const IMDSV1_OPEN: &str = "IMDSv1Open";
/// Unreadable files or sources.
pub const SCAN_ERRORS: &str = "ScanErrors";

/// Which dimension sets each metric is published with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dimensions {
    /// No dimensions: 4 billed metrics per account and region, whatever the fleet size.
    #[default]
    Fleet,
    /// No dimensions, and a second copy with `InstanceId`: 4 more metrics per instance.
    FleetAndInstance,
}

/// One data point, as it waits in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Datum {
    /// Metric name.
    pub name: String,
    /// Value (a count or 0/1).
    pub value: f64,
    /// Seconds since the epoch.
    pub timestamp: i64,
    /// `(name, value)` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<(String, String)>,
}

/// The data points of one cycle. Unknown values (`None`) are not published.
pub fn datums(report: &CycleReport, dims: Dimensions) -> Vec<Datum> {
    let ts = report
        .time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let m = &report.metrics;
    let b = |v: bool| if v { 1.0 } else { 0.0 };
    let values: Vec<(&str, f64)> = [
        Some((HARDCODED_CREDENTIALS, m.hardcoded_credentials as f64)),
        m.instance_profile_missing
            .map(|v| (INSTANCE_PROFILE_MISSING, b(v))),
        m.imdsv1_open.map(|v| (IMDSV1_OPEN, b(v))),
        Some((SCAN_ERRORS, m.scan_errors as f64)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut out = Vec::new();
    for (name, value) in &values {
        out.push(Datum {
            name: name.to_string(),
            value: *value,
            timestamp: ts,
            dimensions: Vec::new(),
        });
    }
    if dims == Dimensions::FleetAndInstance {
        if let Some(i) = &report.instance {
            for (name, value) in &values {
                out.push(Datum {
                    name: name.to_string(),
                    value: *value,
                    timestamp: ts,
                    dimensions: vec![("InstanceId".into(), i.instance_id.clone())],
                });
            }
        }
    }
    out
}

/// Whether a datum is too old for the service to accept.
pub fn too_old(d: &Datum, now: SystemTime) -> bool {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    now - d.timestamp > MAX_DATUM_AGE.as_secs() as i64
}

/// Body of `PutMetricData` (JSON 1.0: timestamps as epoch seconds).
pub fn put_metric_data_body(namespace: &str, data: &[&Datum]) -> Vec<u8> {
    let md: Vec<_> = data
        .iter()
        .map(|d| {
            let mut v = json!({
                "MetricName": d.name,
                "Timestamp": d.timestamp,
                "Value": d.value,
                "Unit": "Count",
            });
            if !d.dimensions.is_empty() {
                v["Dimensions"] = d
                    .dimensions
                    .iter()
                    .map(|(n, val)| json!({ "Name": n, "Value": val }))
                    .collect();
            }
            v
        })
        .collect();
    json!({ "Namespace": namespace, "MetricData": md })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::cycle::{CycleMetrics, CycleReport};

    fn report(instance: bool) -> CycleReport {
        CycleReport {
            time: UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
            instance: instance.then(|| crate::imds::model::IdentityDocument {
                instance_id: "i-0123".into(),
                account_id: "123456789012".into(),
                region: "us-east-1".into(),
                availability_zone: "us-east-1a".into(),
                instance_type: "t3.micro".into(),
                image_id: "ami-1".into(),
                architecture: None,
            }),
            metrics: CycleMetrics {
                hardcoded_credentials: 2,
                instance_profile_missing: Some(false),
                imdsv1_open: None,
                scan_errors: 5,
            },
            changes: Default::default(),
            summary: Default::default(),
            owners: Default::default(),
        }
    }

    #[test]
    fn fleet_metrics_have_no_dimensions_and_skip_unknowns() {
        let d = datums(&report(true), Dimensions::Fleet);
        let names: Vec<&str> = d.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [HARDCODED_CREDENTIALS, INSTANCE_PROFILE_MISSING, SCAN_ERRORS]
        );
        assert!(d.iter().all(|d| d.dimensions.is_empty()));
        assert_eq!(d[0].value, 2.0);
        assert_eq!(d[0].timestamp, 1_700_000_000);
        let d = datums(&report(true), Dimensions::FleetAndInstance);
        assert_eq!(d.len(), 6);
        assert_eq!(d[5].dimensions, [("InstanceId".into(), "i-0123".into())]);
    }

    #[test]
    fn body_is_json_1_0() {
        let d = datums(&report(false), Dimensions::Fleet);
        let refs: Vec<&Datum> = d.iter().collect();
        let body: serde_json::Value =
            serde_json::from_slice(&put_metric_data_body("CredHygiene", &refs)).unwrap();
        assert_eq!(body["Namespace"], "CredHygiene");
        assert_eq!(body["MetricData"][0]["MetricName"], "HardcodedCredentials");
        assert_eq!(body["MetricData"][0]["Timestamp"], 1_700_000_000);
        assert!(body["MetricData"][0].get("Dimensions").is_none());
    }
}
