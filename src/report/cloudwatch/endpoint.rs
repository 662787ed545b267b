//! The four operations the sink calls (names, IAM actions, SigV4 names, `X-Amz-Target`) and
//! where they go: the AWS partition of a region and the regional endpoints. Self-contained,
//! so that a full partition table can replace the prefix rules here.

use super::{logs, metrics};

/// The four operations the sink calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Api {
    /// CloudWatch `PutMetricData`.
    PutMetricData,
    /// CloudWatch Logs `CreateLogGroup`.
    CreateLogGroup,
    /// CloudWatch Logs `CreateLogStream`.
    CreateLogStream,
    /// CloudWatch Logs `PutLogEvents`.
    PutLogEvents,
}

impl Api {
    /// The operation name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Api::PutMetricData => "PutMetricData",
            Api::CreateLogGroup => "CreateLogGroup",
            Api::CreateLogStream => "CreateLogStream",
            Api::PutLogEvents => "PutLogEvents",
        }
    }

    /// The IAM action that allows it (as real IAM names it; moto uses `monitoring:`).
    pub(crate) fn iam_action(self) -> &'static str {
        match self {
            Api::PutMetricData => "cloudwatch:PutMetricData",
            Api::CreateLogGroup => "logs:CreateLogGroup",
            Api::CreateLogStream => "logs:CreateLogStream",
            Api::PutLogEvents => "logs:PutLogEvents",
        }
    }

    /// Whether it is a CloudWatch Logs operation (the others are CloudWatch's).
    pub(crate) fn is_logs(self) -> bool {
        !matches!(self, Api::PutMetricData)
    }

    /// SigV4 signing name.
    pub(crate) fn signing_name(self) -> &'static str {
        if self.is_logs() {
            "logs"
        } else {
            "monitoring"
        }
    }

    /// The `X-Amz-Target` header: the service's JSON protocol prefix and the operation.
    pub(crate) fn target(self) -> String {
        let prefix = if self.is_logs() {
            logs::TARGET_PREFIX
        } else {
            metrics::TARGET_PREFIX
        };
        format!("{prefix}.{}", self.name())
    }

    /// The `Content-Type` of its JSON protocol.
    pub(crate) fn content_type(self) -> &'static str {
        if self.is_logs() {
            logs::CONTENT_TYPE
        } else {
            metrics::CONTENT_TYPE
        }
    }
}

/// The AWS partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The regional endpoint of `monitoring` or `logs` (`.amazonaws.com.cn` in China).
pub(crate) fn regional_endpoint(signing_name: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{signing_name}.{region}.{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_partitions() {
        assert_eq!(
            regional_endpoint("monitoring", "eu-west-1"),
            "https://monitoring.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint("logs", "cn-north-1"),
            "https://logs.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(partition("cn-northwest-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("us-east-1"), "aws");
    }
}
