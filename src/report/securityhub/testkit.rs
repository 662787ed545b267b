//! Pictures of an instance for the unit tests.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::finding::{Finding, KeyType, Kind, Source};
use crate::imds::model::IdentityDocument;
use crate::owner::{AccountClass, KeyStatus, Owner};
use crate::report::fleet::HostView;
use crate::role::{Check, Status};

use super::asff::Destination;

/// A key id that decodes to account 123456789012's neighbour… whatever it decodes to, the
/// tests give owners explicitly.
pub(super) const KEY: &str = "AKIASXQV3SVWMFRRRM75";
/// A value that must never appear in a document.
pub(super) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

pub(super) fn to() -> Destination {
    Destination {
        partition: "aws".into(),
        region: "eu-west-1".into(),
    }
}

pub(super) fn at(days: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + days * 24 * 3600)
}

pub(super) fn part(credential: &str, kind: Kind, key_id: Option<&str>, line: u64) -> Finding {
    Finding {
        id: format!("{credential}-{line}"),
        rule: "aws-access-key-id".into(),
        kind,
        source: Source::File,
        path: "/srv/app/.env".into(),
        line,
        column: 1,
        key_id: key_id.map(str::to_string),
        key_type: key_id.map(KeyType::of),
        account_id: Some("123456789012".into()),
        credential: credential.into(),
        redacted: "wJal…".into(),
        fingerprint: format!("sha256:{}", "ab".repeat(32)),
        process: None,
        aggregate: None,
        encoding: Vec::new(),
    }
}

pub(super) fn instance() -> IdentityDocument {
    IdentityDocument {
        instance_id: "i-0123456789abcdef0".into(),
        account_id: "123456789012".into(),
        region: "eu-west-1".into(),
        availability_zone: "eu-west-1a".into(),
        instance_type: "t3.micro".into(),
        image_id: "ami-0123".into(),
        architecture: None,
    }
}

pub(super) fn role_check(id: &'static str, status: Status) -> Check {
    Check {
        id,
        status,
        detail: format!("{id} detail"),
        remediation: None,
    }
}

/// An own, active key of user deploy-bot.
pub(super) fn own_owner() -> Owner {
    Owner {
        user: Some("deploy-bot".into()),
        status: Some(KeyStatus::Active),
        ..Owner::of_class(AccountClass::Own)
    }
}

/// A picture with `findings`, `checks`, and the owners given for [`KEY`].
pub(super) fn view(
    findings: &[Finding],
    checks: Option<Vec<Check>>,
    owner: Option<Owner>,
) -> HostView {
    let owners: HashMap<String, Owner> = owner.into_iter().map(|o| (KEY.to_string(), o)).collect();
    HostView::new(at(0), instance(), checks, findings, &owners)
}
