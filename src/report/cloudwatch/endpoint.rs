//! The operations the sink calls (names, IAM actions, SigV4 names, `X-Amz-Target`) and where
//! they go: an explicit endpoint (`AWS_ENDPOINT_URL*`, `cloudwatch.endpoint` /
//! `logs_endpoint`) when there is one, else the region's endpoint from the partition table
//! ([`crate::report::endpoints`]) in the variant the config asks for (FIPS, dual-stack).
//! A region or variant without an endpoint is an [`EndpointError`]: the sink goes inactive
//! and says why, rather than sending somewhere else or retrying.

use crate::config::CloudWatchConfig;
use crate::report::aws::{Operation, Target};
use crate::report::endpoints::{self, EndpointError, Variant};

use super::{logs, metrics};

/// The operations the sink calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Api {
    /// CloudWatch `PutMetricData`.
    PutMetricData,
    /// CloudWatch Logs `CreateLogGroup`.
    CreateLogGroup,
    /// CloudWatch Logs `PutRetentionPolicy` (on a group the sink created).
    PutRetentionPolicy,
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
            Api::PutRetentionPolicy => "PutRetentionPolicy",
            Api::CreateLogStream => "CreateLogStream",
            Api::PutLogEvents => "PutLogEvents",
        }
    }

    /// The IAM action that allows it (as real IAM names it; moto uses `monitoring:`).
    pub(crate) fn iam_action(self) -> &'static str {
        match self {
            Api::PutMetricData => "cloudwatch:PutMetricData",
            Api::CreateLogGroup => "logs:CreateLogGroup",
            Api::PutRetentionPolicy => "logs:PutRetentionPolicy",
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

impl Operation for Api {
    fn name(&self) -> &'static str {
        Api::name(*self)
    }

    fn iam_action(&self) -> &'static str {
        Api::iam_action(*self)
    }

    fn signing_name(&self) -> &'static str {
        Api::signing_name(*self)
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", self.content_type().to_string()),
            ("x-amz-target", self.target()),
        ]
    }

    /// The log group or stream ARN, or the metric namespace.
    fn resource(&self, target: &Target, body: &[u8]) -> String {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        if !self.is_logs() {
            let namespace = v["Namespace"].as_str().unwrap_or("*");
            return format!("* (namespace {namespace})");
        }
        let (p, region) = (partition(&target.region), &target.region);
        let account = target.account_or_any();
        let group = v["logGroupName"].as_str().unwrap_or("*");
        let base = format!("arn:{p}:logs:{region}:{account}:log-group:{group}");
        match (self, v["logStreamName"].as_str()) {
            (Api::CreateLogGroup, _) | (_, None) => base,
            (_, Some(s)) => format!("{base}:log-stream:{s}"),
        }
    }
}

/// Where calls of `api`, and of the other operations of its service, to `region` go: the
/// configured endpoint, else the regional one ([`endpoint_url`]).
pub(crate) fn target(
    cfg: &CloudWatchConfig,
    account: Option<&str>,
    api: Api,
    region: &str,
) -> Result<Target, EndpointError> {
    Ok(Target {
        region: region.to_string(),
        endpoint: endpoint_url(cfg, api, region)?,
        account: account.map(str::to_string),
    })
}

/// The partition id of `region` for ARNs (`aws`, `aws-cn`, `aws-us-gov`, `aws-iso*`,
/// `aws-eusc`); `aws` for a region no partition claims (only reachable with an explicit
/// endpoint, e.g. an emulator's made-up region).
pub(crate) fn partition(region: &str) -> &'static str {
    endpoints::partition_id(region).unwrap_or("aws")
}

/// The endpoint variant the config asks for (the environment already applied).
fn variant(cfg: &CloudWatchConfig) -> Variant {
    Variant {
        fips: cfg.use_fips_endpoint,
        dual_stack: cfg.use_dualstack_endpoint,
    }
}

/// Where calls of `api` to `region` go, without a trailing `/`: the configured endpoint of
/// its service, else the regional one of the configured variant.
pub(crate) fn endpoint_url(
    cfg: &CloudWatchConfig,
    api: Api,
    region: &str,
) -> Result<String, EndpointError> {
    let configured = if api.is_logs() {
        cfg.logs_endpoint.as_deref()
    } else {
        cfg.endpoint.as_deref()
    };
    match configured {
        Some(e) => Ok(e.trim_end_matches('/').to_string()),
        None => endpoints::resolve(api.signing_name(), region, variant(cfg)),
    }
}

/// Whether both services the sink calls have an endpoint in `region`.
pub(crate) fn check_region(cfg: &CloudWatchConfig, region: &str) -> Result<(), EndpointError> {
    for api in [Api::PutMetricData, Api::PutLogEvents] {
        endpoint_url(cfg, api, region)?;
    }
    Ok(())
}

/// Why the sink is inactive when an endpoint cannot be resolved: the error, and the settings
/// that decide it.
pub(crate) fn inactive_reason(err: &EndpointError) -> String {
    let settings = match err {
        EndpointError::UnknownRegion { .. } => {
            "set cloudwatch.region / AWS_REGION, or the endpoints"
        }
        EndpointError::NoVariant { .. } => {
            "see cloudwatch.use_fips_endpoint / AWS_USE_FIPS_ENDPOINT and \
             cloudwatch.use_dualstack_endpoint / AWS_USE_DUALSTACK_ENDPOINT"
        }
    };
    format!("no CloudWatch endpoint: {err} ({settings})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(fips: bool, dual_stack: bool) -> CloudWatchConfig {
        CloudWatchConfig {
            use_fips_endpoint: fips,
            use_dualstack_endpoint: dual_stack,
            ..CloudWatchConfig::default()
        }
    }

    /// Every partition, from the table: the old prefix rules knew only China and "the rest".
    #[test]
    fn regional_endpoints_of_every_partition() {
        let plain = cfg(false, false);
        for (region, partition_id, logs) in [
            ("eu-west-1", "aws", "https://logs.eu-west-1.amazonaws.com"),
            (
                "cn-north-1",
                "aws-cn",
                "https://logs.cn-north-1.amazonaws.com.cn",
            ),
            (
                "us-gov-west-1",
                "aws-us-gov",
                "https://logs.us-gov-west-1.amazonaws.com",
            ),
            (
                "us-iso-east-1",
                "aws-iso",
                "https://logs.us-iso-east-1.c2s.ic.gov",
            ),
            (
                "us-isob-east-1",
                "aws-iso-b",
                "https://logs.us-isob-east-1.sc2s.sgov.gov",
            ),
            (
                "eusc-de-east-1",
                "aws-eusc",
                "https://logs.eusc-de-east-1.amazonaws.eu",
            ),
        ] {
            assert_eq!(partition(region), partition_id, "{region}");
            let got = endpoint_url(&plain, Api::PutLogEvents, region).unwrap();
            assert_eq!(got, logs, "{region}");
            assert_eq!(check_region(&plain, region), Ok(()), "{region}");
        }
        assert_eq!(
            endpoint_url(&plain, Api::PutMetricData, "us-iso-east-1").unwrap(),
            "https://monitoring.us-iso-east-1.c2s.ic.gov"
        );
    }

    #[test]
    fn variants_and_explicit_endpoints() {
        let fips = cfg(true, false);
        assert_eq!(
            endpoint_url(&fips, Api::PutLogEvents, "us-east-1").unwrap(),
            "https://logs-fips.us-east-1.amazonaws.com"
        );
        let dual = cfg(false, true);
        assert_eq!(
            endpoint_url(&dual, Api::PutMetricData, "eu-west-1").unwrap(),
            "https://monitoring.eu-west-1.api.aws"
        );
        // An explicit endpoint wins over region and variant.
        let explicit = CloudWatchConfig {
            logs_endpoint: Some("http://127.0.0.1:4566/".into()),
            ..cfg(true, true)
        };
        assert_eq!(
            endpoint_url(&explicit, Api::CreateLogStream, "mars-1").unwrap(),
            "http://127.0.0.1:4566"
        );
        // ...but only for its own service.
        assert!(endpoint_url(&explicit, Api::PutMetricData, "mars-1").is_err());
    }

    #[test]
    fn a_missing_variant_or_region_says_which_settings() {
        let err = check_region(&cfg(true, true), "us-isof-south-1").unwrap_err();
        let why = inactive_reason(&err);
        assert!(
            why.contains("has no FIPS dual-stack endpoint in us-isof-south-1"),
            "{why}"
        );
        assert!(why.contains("AWS_USE_FIPS_ENDPOINT"), "{why}");
        let err = check_region(&cfg(false, false), "mars-1").unwrap_err();
        let why = inactive_reason(&err);
        assert!(
            why.contains("\"mars-1\" belongs to no known AWS partition"),
            "{why}"
        );
        assert!(why.contains("AWS_REGION"), "{why}");
    }
}
