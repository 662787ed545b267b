//! Calls and bytes per API, as the sink counts them: what each delivery reports and what
//! CloudWatch bills by (requests and ingested log bytes).

use serde::Serialize;

pub use crate::report::aws::ApiCount;

use super::endpoint::Api;

/// Calls and bytes per API, the inputs of a cost estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApiCounters {
    /// `PutMetricData`.
    pub put_metric_data: ApiCount,
    /// `CreateLogGroup`.
    pub create_log_group: ApiCount,
    /// `PutRetentionPolicy`.
    pub put_retention_policy: ApiCount,
    /// `CreateLogStream`.
    pub create_log_stream: ApiCount,
    /// `PutLogEvents`.
    pub put_log_events: ApiCount,
    /// Log bytes as CloudWatch Logs bills ingestion: message bytes + 26 per event accepted.
    pub log_ingested_bytes: u64,
    /// Metric data points accepted.
    pub metric_datums: u64,
}

impl ApiCounters {
    /// The counter of `api`.
    pub(crate) fn get(&mut self, api: Api) -> &mut ApiCount {
        match api {
            Api::PutMetricData => &mut self.put_metric_data,
            Api::CreateLogGroup => &mut self.create_log_group,
            Api::PutRetentionPolicy => &mut self.put_retention_policy,
            Api::CreateLogStream => &mut self.create_log_stream,
            Api::PutLogEvents => &mut self.put_log_events,
        }
    }

    /// The counters of every API.
    fn each(&self) -> [&ApiCount; 5] {
        [
            &self.put_metric_data,
            &self.create_log_group,
            &self.put_retention_policy,
            &self.create_log_stream,
            &self.put_log_events,
        ]
    }

    /// Adds `o`'s counts to these.
    pub(crate) fn add(&mut self, o: &ApiCounters) {
        let mine = [
            &mut self.put_metric_data,
            &mut self.create_log_group,
            &mut self.put_retention_policy,
            &mut self.create_log_stream,
            &mut self.put_log_events,
        ];
        for (mine, theirs) in mine.into_iter().zip(o.each()) {
            mine.calls += theirs.calls;
            mine.bytes_sent += theirs.bytes_sent;
            mine.errors += theirs.errors;
        }
        self.log_ingested_bytes += o.log_ingested_bytes;
        self.metric_datums += o.metric_datums;
    }

    /// Request bytes sent over all APIs.
    pub fn total_bytes_sent(&self) -> u64 {
        self.each().iter().map(|c| c.bytes_sent).sum()
    }

    /// Requests over all APIs.
    pub fn total_calls(&self) -> u64 {
        self.each().iter().map(|c| c.calls).sum()
    }
}
