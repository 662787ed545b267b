//! IAM's answers (Query protocol, XML), read for what the `owner` object needs: who owns a
//! key and when it was last used (`GetAccessKeyLastUsed`), and whether it is active
//! (`ListAccessKeys` for that user). Pure, with table tests; `pub` (hidden) for the
//! `iam_answer` fuzz target.

use crate::owner::KeyStatus;
use crate::report::aws::xml_element;

/// What `GetAccessKeyLastUsed` says about a key.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUsed {
    /// The IAM user that owns the key (absent for a root user's key).
    pub user: Option<String>,
    /// When it last signed a request, RFC 3339 (absent: never, or before April 2015).
    pub date: Option<String>,
    /// The service of that request.
    pub service: Option<String>,
    /// The region of that request.
    pub region: Option<String>,
}

/// Reads a `GetAccessKeyLastUsedResponse`; `None` when it has no result element. IAM says
/// `N/A` for the service and region of a key never used: that is absence, not a name.
#[doc(hidden)]
pub fn last_used(xml: &str) -> Option<LastUsed> {
    let result = xml_element(xml, "GetAccessKeyLastUsedResult")?;
    let used = xml_element(&result, "AccessKeyLastUsed").unwrap_or_default();
    let known = |v: String| (!v.is_empty() && v != "N/A").then_some(v);
    // The user name follows the `AccessKeyLastUsed` element; look outside it.
    let outside = result.replacen(&used, "", 1);
    Some(LastUsed {
        user: xml_element(&outside, "UserName").and_then(known),
        date: xml_element(&used, "LastUsedDate").and_then(known),
        service: xml_element(&used, "ServiceName").and_then(known),
        region: xml_element(&used, "Region").and_then(known),
    })
}

/// The status of `key_id` in a `ListAccessKeysResponse`; `None` when the key is not listed
/// or its status is neither `Active` nor `Inactive`.
#[doc(hidden)]
pub fn key_status(xml: &str, key_id: &str) -> Option<KeyStatus> {
    xml.split("<member>").skip(1).find_map(|member| {
        let member = member.split("</member>").next()?;
        if xml_element(member, "AccessKeyId")? != key_id {
            return None;
        }
        match xml_element(member, "Status")?.as_str() {
            "Active" => Some(KeyStatus::Active),
            "Inactive" => Some(KeyStatus::Inactive),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = r#"xmlns="https://iam.amazonaws.com/doc/2010-05-08/""#;

    fn last_used_answer(used: &str, user: &str) -> String {
        format!(
            "<GetAccessKeyLastUsedResponse {NS}><GetAccessKeyLastUsedResult>\
             <AccessKeyLastUsed>{used}</AccessKeyLastUsed>{user}\
             </GetAccessKeyLastUsedResult><ResponseMetadata><RequestId>r</RequestId>\
             </ResponseMetadata></GetAccessKeyLastUsedResponse>"
        )
    }

    #[test]
    fn last_used_table() {
        let s = |v: &str| Some(v.to_string());
        let cases = [
            (
                last_used_answer(
                    "<LastUsedDate>2026-11-28T09:14:00Z</LastUsedDate>\
                     <ServiceName>s3</ServiceName><Region>eu-west-1</Region>",
                    "<UserName>deploy-bot</UserName>",
                ),
                Some(LastUsed {
                    user: s("deploy-bot"),
                    date: s("2026-11-28T09:14:00Z"),
                    service: s("s3"),
                    region: s("eu-west-1"),
                }),
            ),
            // Never used: N/A, and no date.
            (
                last_used_answer(
                    "<ServiceName>N/A</ServiceName><Region>N/A</Region>",
                    "<UserName>ci</UserName>",
                ),
                Some(LastUsed {
                    user: s("ci"),
                    date: None,
                    service: None,
                    region: None,
                }),
            ),
            // A root user's key: no user name.
            (
                last_used_answer("<Region>N/A</Region>", ""),
                Some(LastUsed {
                    user: None,
                    date: None,
                    service: None,
                    region: None,
                }),
            ),
            ("<ErrorResponse/>".to_string(), None),
        ];
        for (xml, want) in cases {
            assert_eq!(last_used(&xml), want, "{xml}");
        }
    }

    #[test]
    fn key_status_table() {
        let answer = format!(
            "<ListAccessKeysResponse {NS}><ListAccessKeysResult><UserName>ci</UserName>\
             <AccessKeyMetadata>\
             <member><UserName>ci</UserName><AccessKeyId>AKIAAAAAAAAAAAAAAAA1</AccessKeyId>\
             <Status>Inactive</Status><CreateDate>2026-01-01T00:00:00Z</CreateDate></member>\
             <member><UserName>ci</UserName><AccessKeyId>AKIAAAAAAAAAAAAAAAA2</AccessKeyId>\
             <Status>Active</Status><CreateDate>2026-02-01T00:00:00Z</CreateDate></member>\
             </AccessKeyMetadata><IsTruncated>false</IsTruncated></ListAccessKeysResult>\
             </ListAccessKeysResponse>"
        );
        let cases = [
            ("AKIAAAAAAAAAAAAAAAA1", Some(KeyStatus::Inactive)),
            ("AKIAAAAAAAAAAAAAAAA2", Some(KeyStatus::Active)),
            ("AKIAAAAAAAAAAAAAAAA3", None),
            ("AKIAAAAAAAAAAAAAAAA", None),
        ];
        for (key, want) in cases {
            assert_eq!(key_status(&answer, key), want, "{key}");
        }
        assert_eq!(key_status("<ListAccessKeysResponse/>", "AKIA"), None);
    }
}
