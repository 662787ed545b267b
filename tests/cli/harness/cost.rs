//! The README's CloudWatch cost per instance, from the calls and bytes the sink counted:
//! `cloudwatch::planted_corpus_reaches_moto_with_metrics_and_events_and_no_secret` prints
//! the inputs and this estimate (`cargo test --test cli planted_corpus -- --nocapture`).

use std::time::Duration;

use credhygiene::report::cloudwatch::ApiCounters;
use serde::Serialize;

/// Hours in the month CloudWatch bills by (730).
pub const HOURS_PER_MONTH: f64 = 730.0;
/// CloudWatch API requests (`PutMetricData`), us-east-1 list price, per 1,000 (check live).
pub const USD_PER_1000_REQUESTS: f64 = 0.01;
/// CloudWatch Logs standard ingestion, us-east-1 list price, per GB (check live).
/// `PutLogEvents` requests themselves are not billed.
pub const USD_PER_GB_INGESTED: f64 = 0.50;

/// The monthly cost of repeating a cycle, from the counted calls and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostEstimate {
    /// Cycles in a month at the interval.
    pub cycles_per_month: u64,
    /// HTTP requests to CloudWatch in a month.
    pub calls_per_month: u64,
    /// Log bytes ingested in a month (message bytes + 26 per event).
    pub log_bytes_per_month: u64,
    /// API requests + ingestion, per instance and month, before the free tier.
    pub usd_per_instance_month: f64,
}

/// What one cycle with the counts `c` costs per instance and month, repeated every
/// `interval`, at the us-east-1 list prices above (API requests and log ingestion; the four
/// dimensionless metrics are billed per account and region, not per instance).
pub fn monthly_estimate(c: &ApiCounters, interval: Duration) -> CostEstimate {
    let cycles = (HOURS_PER_MONTH * 3600.0 / interval.as_secs_f64().max(1.0)).round();
    let requests = cycles * c.put_metric_data.calls as f64;
    let log_bytes = cycles * c.log_ingested_bytes as f64;
    CostEstimate {
        cycles_per_month: cycles as u64,
        calls_per_month: (cycles * c.total_calls() as f64) as u64,
        log_bytes_per_month: log_bytes as u64,
        usd_per_instance_month: requests / 1000.0 * USD_PER_1000_REQUESTS
            + log_bytes / 1e9 * USD_PER_GB_INGESTED,
    }
}
