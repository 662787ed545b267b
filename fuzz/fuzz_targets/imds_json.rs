//! Every JSON document IMDS answers: the identity document, `iam/info` and the role
//! credentials. The credentials' secret key and session token are never shown by the `Debug`
//! of what is parsed, nor by the `Display`/`Debug` of the error.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use credhygiene::imds::model::{IamInfo, IdentityDocument};
use credhygiene::imds::parse_credentials;

const SECRET_FIELDS: [&str; 2] = ["SecretAccessKey", "Token"];

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = serde_json::from_slice::<IdentityDocument>(data) {
        let _ = format!("{doc:?}");
    }
    if let Ok(info) = serde_json::from_slice::<IamInfo>(data) {
        let _ = format!("{info:?}");
    }
    let shown = match parse_credentials(
        "role",
        "/latest/meta-data/iam/security-credentials/role",
        data,
    ) {
        Ok(c) => {
            let _ = c.to_aws();
            format!("{c:?}")
        }
        Err(e) => format!("{e} {e:?}"),
    };
    let Ok(serde_json::Value::Object(doc)) = serde_json::from_slice(data) else {
        return;
    };
    let mut may_show = Vec::new();
    for (k, v) in &doc {
        if !SECRET_FIELDS.contains(&k.as_str()) {
            strings(v, &mut may_show);
        }
        may_show.push(k.clone());
    }
    let may_show: Vec<&str> = may_show.iter().map(String::as_str).collect();
    for field in SECRET_FIELDS {
        if let Some(serde_json::Value::String(secret)) = doc.get(field) {
            common::assert_not_shown(&shown, secret, &may_show);
        }
    }
});

/// Every string in `v` (the values that are not secrets may be shown, e.g. in a message).
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out)
        }),
        other => out.push(other.to_string()),
    }
}
