use super::*;
use crate::finding::Kind;
use crate::owner::{AccountClass, Owner};
use crate::report::securityhub::testkit::*;
use crate::role::Status;

#[test]
fn a_credential_finding_has_every_field_the_design_names() {
    let v = view(
        &[
            part("c1", Kind::AccessKeyId, Some(KEY), 3),
            part("c1", Kind::SecretAccessKey, Some(KEY), 4),
        ],
        None,
        Some(own_owner()),
    );
    let docs = documents(&v, &to());
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d.id, "credhygiene/i-0123456789abcdef0/c1");
    assert_eq!(d.generator_id, CREDENTIAL_GENERATOR);
    assert_eq!(
        d.product_arn,
        "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
    );
    assert_eq!(d.schema_version, "2018-10-08");
    assert_eq!(d.compliance.status, ComplianceStatus::Failed);
    assert_eq!(d.compliance.related_requirements, vec![CIS_ROLES]);
    assert_eq!(d.resources[0].kind, "AwsEc2Instance");
    assert_eq!(
        d.resources[0].id,
        "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0"
    );
    assert_eq!(d.resources[1].kind, "AwsIamAccessKey");
    assert_eq!(
        d.remediation.recommendation.text,
        format!("Run: aws iam update-access-key --user-name deploy-bot --access-key-id {KEY} --status Inactive, then remove it from /srv/app/.env line 3 and use the instance role's credentials instead.")
    );
    for (k, want) in [
        ("path", "/srv/app/.env"),
        ("line", "3"),
        ("key_id", KEY),
        ("redacted", "wJal…"),
        ("source", "file"),
        ("owner_account", "own"),
        ("owner_user", "deploy-bot"),
        ("owner_status", "Active"),
    ] {
        assert_eq!(d.product_fields[&format!("credhygiene/{k}")], want, "{k}");
    }
    assert!(d.product_fields["credhygiene/fingerprint"].starts_with("sha256:"));
    assert_eq!(d.types, d.finding_provider_fields.types);
    let json = serde_json::to_string(d).unwrap();
    assert!(!json.contains(SECRET));
    assert!(json.contains("\"Label\":\"HIGH\""), "{json}");
}

#[test]
fn only_an_own_key_is_a_resource_and_the_remedy_follows_the_owner() {
    let cases: Vec<(Option<Owner>, usize, &str)> = vec![
        (
            Some(Owner::of_class(AccountClass::Foreign)),
            1,
            "Ask the owner of account 123456789012",
        ),
        (
            Some(Owner::of_class(AccountClass::Canary)),
            1,
            "Do not use or verify",
        ),
        (
            Some(Owner::of_class(AccountClass::Own)),
            2,
            "Run: aws iam get-access-key-last-used",
        ),
        (
            Some(Owner::of_class(AccountClass::Unknown)),
            1,
            "In the account that owns",
        ),
    ];
    for (owner, resources, remedy) in cases {
        let what = format!("{owner:?}");
        let v = view(&[part("c1", Kind::AccessKeyId, Some(KEY), 3)], None, owner);
        let d = &documents(&v, &to())[0];
        assert_eq!(d.resources.len(), resources, "{what}");
        assert!(
            d.remediation.recommendation.text.starts_with(remedy),
            "{what}: {}",
            d.remediation.recommendation.text
        );
    }
    let v = view(&[part("c2", Kind::SecretAccessKey, None, 9)], None, None);
    let d = &documents(&v, &to())[0];
    assert_eq!(d.severity.label, crate::owner::Severity::High);
    assert!(!d.product_fields.contains_key("credhygiene/key_id"));
}

#[test]
fn one_finding_per_failed_check_with_its_cis_control() {
    let checks = vec![
        role_check(role::CHECK_PROFILE, Status::Pass),
        role_check(role::CHECK_IMDSV2, Status::Fail),
        role_check(role::CHECK_STATIC_KEYS, Status::Unknown),
    ];
    let v = view(&[], Some(checks), None);
    let docs = documents(&v, &to());
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d.id, "credhygiene/i-0123456789abcdef0/imdsv2_required");
    assert_eq!(d.generator_id, "credhygiene/imdsv2_required");
    assert_eq!(d.compliance.related_requirements, vec![CIS_IMDSV2]);
    assert_eq!(d.severity.label, crate::owner::Severity::High);
}

#[test]
fn long_texts_are_clipped_to_the_asff_limits() {
    let mut f = part("c1", Kind::AccessKeyId, Some(KEY), 3);
    f.path = format!("/{}", "é".repeat(3000));
    let v = view(&[f], None, None);
    let d = &documents(&v, &to())[0];
    assert_eq!(d.title.chars().count(), 256);
    assert_eq!(d.description.chars().count(), 1024);
    assert!(d.remediation.recommendation.text.chars().count() <= 512);
    assert_eq!(d.product_fields["credhygiene/path"].chars().count(), 2048);
    assert!(d.title.ends_with('…'));
}

/// Regression (found by tests/cli/fleet.rs): the role+keys check was `HIGH` in Security Hub
/// and the credential's `CRITICAL` in Systems Manager, for the same host and cycle.
#[test]
fn a_failed_check_has_the_severity_systems_manager_gives_it() {
    let checks = vec![role_check(role::CHECK_STATIC_KEYS, Status::Fail)];
    for owner in [Some(own_owner()), None] {
        let v = view(
            &[part("c1", Kind::AccessKeyId, Some(KEY), 3)],
            Some(checks.clone()),
            owner,
        );
        let docs = documents(&v, &to());
        let check = docs
            .iter()
            .find(|d| d.generator_id == "credhygiene/no_static_keys_with_role")
            .unwrap();
        let want = crate::report::fleet::check_severity(role::CHECK_STATIC_KEYS, &v.credentials);
        assert_eq!(check.severity.label, want);
        assert_eq!(want, v.credentials[0].severity.max(Severity::Medium));
    }
}
