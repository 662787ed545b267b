//! Calls and bytes per API, as the sink counts them: what each delivery reports and what
//! CloudWatch bills by (requests and ingested log bytes).

use serde::Serialize;

use super::endpoint::Api;

/// Calls and bytes of one API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApiCount {
    /// HTTP requests sent (retries included).
    pub calls: u64,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Requests answered with an error or not answered.
    pub errors: u64,
}

/// Calls and bytes per API, the inputs of a cost estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApiCounters {
    /// `PutMetricData`.
    pub put_metric_data: ApiCount,
    /// `CreateLogGroup`.
    pub create_log_group: ApiCount,
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
            Api::CreateLogStream => &mut self.create_log_stream,
            Api::PutLogEvents => &mut self.put_log_events,
        }
    }

    /// Adds `o`'s counts to these.
    pub(crate) fn add(&mut self, o: &ApiCounters) {
        for (mine, theirs) in [
            (&mut self.put_metric_data, &o.put_metric_data),
            (&mut self.create_log_group, &o.create_log_group),
            (&mut self.create_log_stream, &o.create_log_stream),
            (&mut self.put_log_events, &o.put_log_events),
        ] {
            mine.calls += theirs.calls;
            mine.bytes_sent += theirs.bytes_sent;
            mine.errors += theirs.errors;
        }
        self.log_ingested_bytes += o.log_ingested_bytes;
        self.metric_datums += o.metric_datums;
    }

    /// Request bytes sent over all APIs.
    pub fn total_bytes_sent(&self) -> u64 {
        self.put_metric_data.bytes_sent
            + self.create_log_group.bytes_sent
            + self.create_log_stream.bytes_sent
            + self.put_log_events.bytes_sent
    }

    /// Requests over all APIs.
    pub fn total_calls(&self) -> u64 {
        self.put_metric_data.calls
            + self.create_log_group.calls
            + self.create_log_stream.calls
            + self.put_log_events.calls
    }
}
