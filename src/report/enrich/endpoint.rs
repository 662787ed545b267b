//! IAM's endpoint and signing region per partition. IAM is global: one endpoint per
//! partition, signed for that partition's home region, whatever region the instance is in
//! (so the regional table of [`crate::report::endpoints`] does not apply).
//!
//! Source: botocore 1.44.8's resolver (`create_client("iam", region)` in each partition, with
//! `use_fips_endpoint` / `use_dualstack_endpoint`, and the credential scope of a signed
//! request), 2026-11-30. Variants botocore refuses, and the ISO partitions' dual-stack rows
//! (which botocore resolves to the commercial `iam.global.api.aws`), are left out: asking for
//! them is an error, not a silent fallback.

use crate::report::endpoints::{partition_id, EndpointError, Variant};

/// `(partition, fips, dual-stack, URL, signing region)`.
const IAM: &[(&str, bool, bool, &str, &str)] = &[
    (
        "aws",
        false,
        false,
        "https://iam.amazonaws.com",
        "us-east-1",
    ),
    (
        "aws",
        true,
        false,
        "https://iam-fips.amazonaws.com",
        "us-east-1",
    ),
    (
        "aws",
        false,
        true,
        "https://iam.global.api.aws",
        "us-east-1",
    ),
    (
        "aws",
        true,
        true,
        "https://iam-fips.aws-global.api.aws",
        "us-east-1",
    ),
    (
        "aws-cn",
        false,
        false,
        "https://iam.cn-north-1.amazonaws.com.cn",
        "cn-north-1",
    ),
    (
        "aws-cn",
        true,
        false,
        "https://iam-fips.aws-cn-global.amazonaws.com.cn",
        "cn-north-1",
    ),
    (
        "aws-cn",
        false,
        true,
        "https://iam.aws-cn-global.api.amazonwebservices.com.cn",
        "cn-north-1",
    ),
    (
        "aws-cn",
        true,
        true,
        "https://iam-fips.aws-cn-global.api.amazonwebservices.com.cn",
        "cn-north-1",
    ),
    (
        "aws-us-gov",
        false,
        false,
        "https://iam.us-gov.amazonaws.com",
        "us-gov-west-1",
    ),
    (
        "aws-us-gov",
        true,
        false,
        "https://iam.us-gov.amazonaws.com",
        "us-gov-west-1",
    ),
    (
        "aws-us-gov",
        false,
        true,
        "https://iam.aws-us-gov-global.api.aws",
        "us-gov-west-1",
    ),
    (
        "aws-us-gov",
        true,
        true,
        "https://iam-fips.aws-us-gov-global.api.aws",
        "us-gov-west-1",
    ),
    (
        "aws-iso",
        false,
        false,
        "https://iam.us-iso-east-1.c2s.ic.gov",
        "us-iso-east-1",
    ),
    (
        "aws-iso",
        true,
        false,
        "https://iam-fips.aws-iso-global.c2s.ic.gov",
        "us-iso-east-1",
    ),
    (
        "aws-iso-b",
        false,
        false,
        "https://iam.us-isob-east-1.sc2s.sgov.gov",
        "us-isob-east-1",
    ),
    (
        "aws-iso-b",
        true,
        false,
        "https://iam-fips.aws-iso-b-global.sc2s.sgov.gov",
        "us-isob-east-1",
    ),
    (
        "aws-iso-e",
        false,
        false,
        "https://iam.eu-isoe-west-1.cloud.adc-e.uk",
        "eu-isoe-west-1",
    ),
    (
        "aws-iso-e",
        true,
        false,
        "https://iam-fips.eu-isoe-west-1.cloud.adc-e.uk",
        "eu-isoe-west-1",
    ),
    (
        "aws-iso-f",
        false,
        false,
        "https://iam.us-isof-south-1.csp.hci.ic.gov",
        "us-isof-south-1",
    ),
    (
        "aws-iso-f",
        true,
        false,
        "https://iam-fips.aws-iso-f-global.csp.hci.ic.gov",
        "us-isof-south-1",
    ),
    (
        "aws-eusc",
        false,
        false,
        "https://iam.eusc-de-east-1.amazonaws.eu",
        "eusc-de-east-1",
    ),
    (
        "aws-eusc",
        true,
        false,
        "https://iam-fips.eusc-de-east-1.amazonaws.eu",
        "eusc-de-east-1",
    ),
    (
        "aws-eusc",
        false,
        true,
        "https://iam.eusc-de-east-1.api.amazonwebservices.eu",
        "eusc-de-east-1",
    ),
    (
        "aws-eusc",
        true,
        true,
        "https://iam-fips.eusc-de-east-1.api.amazonwebservices.eu",
        "eusc-de-east-1",
    ),
];

/// IAM's URL and signing region for an instance in `region`.
pub(crate) fn iam_endpoint(
    region: &str,
    variant: Variant,
) -> Result<(&'static str, &'static str), EndpointError> {
    let partition = partition_id(region)?;
    IAM.iter()
        .find(|(p, fips, dual, _, _)| {
            *p == partition && *fips == variant.fips && *dual == variant.dual_stack
        })
        .map(|&(_, _, _, url, signing)| (url, signing))
        .ok_or_else(|| EndpointError::NoVariant {
            service: "iam".into(),
            region: region.into(),
            variant: match (variant.fips, variant.dual_stack) {
                (true, true) => "FIPS dual-stack",
                (true, false) => "FIPS",
                _ => "dual-stack",
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_endpoint_table() {
        let plain = Variant::default();
        let fips = Variant {
            fips: true,
            dual_stack: false,
        };
        let dual = Variant {
            fips: false,
            dual_stack: true,
        };
        let cases = [
            (
                "eu-west-1",
                plain,
                Some(("https://iam.amazonaws.com", "us-east-1")),
            ),
            (
                "us-east-1",
                fips,
                Some(("https://iam-fips.amazonaws.com", "us-east-1")),
            ),
            (
                "ap-south-1",
                dual,
                Some(("https://iam.global.api.aws", "us-east-1")),
            ),
            (
                "cn-northwest-1",
                plain,
                Some(("https://iam.cn-north-1.amazonaws.com.cn", "cn-north-1")),
            ),
            (
                "us-gov-east-1",
                plain,
                Some(("https://iam.us-gov.amazonaws.com", "us-gov-west-1")),
            ),
            ("us-iso-east-1", dual, None),
            ("mars-north-1", plain, None),
        ];
        for (region, variant, want) in cases {
            assert_eq!(
                iam_endpoint(region, variant).ok(),
                want,
                "{region} {variant:?}"
            );
        }
        // Every partition the regional table knows has a plain IAM endpoint.
        for region in [
            "us-east-1",
            "cn-north-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "us-isof-south-1",
            "eusc-de-east-1",
        ] {
            assert!(iam_endpoint(region, plain).is_ok(), "{region}");
        }
    }
}
