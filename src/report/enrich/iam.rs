//! The IAM calls of the enrichment: `GetAccessKeyLastUsed` (who owns a key, when and where it
//! was last used), then `ListAccessKeys` for that user (whether the key is active). IAM's
//! Query protocol (a form POST, an XML answer), signed (SigV4, service `iam`) through the
//! shared call layer ([`Service`]) with the instance role's credentials: the found secret is
//! never used. IAM is global: the calls go to the partition's endpoint, signed for its home
//! region ([`super::endpoint`]), or to `enrich.iam_endpoint`.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::imds::model::RoleCredentials;
use crate::owner::{AccountClass, Owner};
use crate::report::aws::{ApiCount, AwsError, CredentialSource, Operation, Service, Target};
use crate::report::endpoints::partition_id;

use super::answer;

/// The IAM API version of the Query protocol.
const API_VERSION: &str = "2010-05-08";
/// The Query protocol's content type.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// What a form value keeps unencoded (RFC 3986 unreserved).
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The two IAM operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IamApi {
    /// Who owns a key, and its last use.
    GetAccessKeyLastUsed,
    /// A user's keys and their status.
    ListAccessKeys,
}

impl Operation for IamApi {
    fn name(&self) -> &'static str {
        match self {
            IamApi::GetAccessKeyLastUsed => "GetAccessKeyLastUsed",
            IamApi::ListAccessKeys => "ListAccessKeys",
        }
    }

    fn iam_action(&self) -> &'static str {
        match self {
            IamApi::GetAccessKeyLastUsed => "iam:GetAccessKeyLastUsed",
            IamApi::ListAccessKeys => "iam:ListAccessKeys",
        }
    }

    fn signing_name(&self) -> &'static str {
        "iam"
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![("content-type", FORM_CONTENT_TYPE.to_string())]
    }

    /// Both act on the account's users: `arn:<partition>:iam::<account>:user/*`.
    fn resource(&self, target: &Target, _body: &[u8]) -> String {
        let partition = partition_id(&target.region).unwrap_or("aws");
        format!("arn:{partition}:iam::{}:user/*", target.account_or_any())
    }
}

/// The form of `GetAccessKeyLastUsed` for `key_id`; `None` unless it is an access key id
/// (letters and digits only: nothing else is sent).
pub(crate) fn last_used_form(key_id: &str) -> Option<String> {
    (key_id.len() >= 16 && key_id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| format!("Action=GetAccessKeyLastUsed&Version={API_VERSION}&AccessKeyId={key_id}"))
}

/// The form of `ListAccessKeys` for `user` (percent-encoded: user names may hold `+=,.@`).
pub(crate) fn list_keys_form(user: &str) -> String {
    let user = utf8_percent_encode(user, FORM_VALUE);
    format!("Action=ListAccessKeys&Version={API_VERSION}&UserName={user}")
}

/// Asks IAM about `key_id` (of the instance's account) through `service` to `target`:
/// `Ok(None)` when IAM does not know the key (`NoSuchEntity`: deleted, or not this
/// account's after all), else the owner with what IAM said.
pub(crate) async fn look_up<C: CredentialSource>(
    service: &Service<C>,
    target: &Target,
    key_id: &str,
    creds: &mut RoleCredentials,
    counter: &mut ApiCount,
) -> Result<Option<Owner>, AwsError> {
    let Some(form) = last_used_form(key_id) else {
        return Ok(None);
    };
    let api = IamApi::GetAccessKeyLastUsed;
    let xml = match service
        .call(&api, target, form.as_bytes(), creds, counter)
        .await
    {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if is_no_such_entity(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(used) = answer::last_used(&xml) else {
        return Ok(None);
    };
    let status = match &used.user {
        Some(user) => {
            let form = list_keys_form(user);
            let api = IamApi::ListAccessKeys;
            match service
                .call(&api, target, form.as_bytes(), creds, counter)
                .await
            {
                Ok(bytes) => answer::key_status(&String::from_utf8_lossy(&bytes), key_id),
                Err(e) if is_no_such_entity(&e) => None,
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    Ok(Some(Owner {
        account: AccountClass::Own,
        user: used.user,
        status,
        last_used: used.date,
        last_used_service: used.service,
        last_used_region: used.region,
    }))
}

/// IAM's "no such key / user" answer.
fn is_no_such_entity(e: &AwsError) -> bool {
    matches!(e, AwsError::Service { code, .. } | AwsError::Validation { code, .. } if code == "NoSuchEntity")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_send_only_what_is_safe() {
        assert_eq!(
            last_used_form("AKIASXQV3SVWMFRRRM75").as_deref(),
            Some("Action=GetAccessKeyLastUsed&Version=2010-05-08&AccessKeyId=AKIASXQV3SVWMFRRRM75")
        );
        for bad in [
            "",
            "AKIA",
            "AKIASXQV3SVWMFRR&Action=x",
            "AKIASXQV3SVWMFRRRM7 ",
        ] {
            assert_eq!(last_used_form(bad), None, "{bad:?}");
        }
        assert_eq!(
            list_keys_form("ci+deploy=1,a.b@c-d_e"),
            "Action=ListAccessKeys&Version=2010-05-08&UserName=ci%2Bdeploy%3D1%2Ca.b%40c-d_e"
        );
    }

    #[test]
    fn a_denied_call_names_the_users_of_the_account() {
        let target = |region: &str, account: Option<&str>| Target {
            region: region.into(),
            endpoint: "https://iam.amazonaws.com".into(),
            account: account.map(str::to_string),
        };
        let cases = [
            (
                IamApi::GetAccessKeyLastUsed,
                target("us-east-1", Some("123456789012")),
                "iam:GetAccessKeyLastUsed",
                "arn:aws:iam::123456789012:user/*",
            ),
            (
                IamApi::ListAccessKeys,
                target("cn-north-1", Some("123456789012")),
                "iam:ListAccessKeys",
                "arn:aws-cn:iam::123456789012:user/*",
            ),
            (
                IamApi::ListAccessKeys,
                target("us-gov-west-1", None),
                "iam:ListAccessKeys",
                "arn:aws-us-gov:iam::*:user/*",
            ),
        ];
        for (api, t, action, resource) in cases {
            assert_eq!(api.iam_action(), action);
            assert_eq!(api.resource(&t, b""), resource);
        }
    }
}
