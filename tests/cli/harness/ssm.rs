//! The Systems Manager Compliance service the SSM tests run against (`tests/aws/ssm_server.py`,
//! moto has no `PutComplianceItems`): every request checked against botocore's `ssm` model and
//! its SigV4 signature computed again from the role credentials the IMDS emulator serves;
//! the items kept per instance with `COMPLETE` replace semantics; `InvalidResourceId` for an
//! instance not in [`SsmServer::set_managed`]. [`SsmServer`] panics when dropped with a
//! request the model or the signature check rejected on record.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

/// Role credentials of the SSM tests: what the IMDS emulator serves and the server checks
/// signatures with.
pub const ROLE_KEY_ID: &str = "ASIAQNMV2TESTROLE001";
/// The role's secret (never in a request, a record or a state file).
pub const ROLE_SECRET: &str = "r0leSecretKey/forTheSsmTests+0123456789ab";
/// The role's session token.
pub const ROLE_TOKEN: &str =
    "IQoJb3JpZ2luX2VjRoleTokenForTheSsmTests/0123456789+abcdefghijklmnopqrstuvwxyz";

/// A running `ssm_server.py` on 127.0.0.1, killed when dropped.
pub struct SsmServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    /// The role credentials signatures are checked with.
    creds: Value,
}

impl SsmServer {
    /// Starts the server with the venv's `python`; `managed` instances are registered;
    /// requests must be signed with [`ROLE_KEY_ID`].
    pub fn start(python: &Path, managed: &[&str]) -> SsmServer {
        let creds = json!({"AccessKeyId": ROLE_KEY_ID, "SecretAccessKey": ROLE_SECRET,
                           "SessionToken": ROLE_TOKEN});
        SsmServer::start_signed_by(python, managed, creds)
    }

    /// [`SsmServer::start`] checking signatures with `creds` (`AccessKeyId`,
    /// `SecretAccessKey`, `SessionToken`, as STS returns them) instead.
    pub fn start_signed_by(python: &Path, managed: &[&str], creds: Value) -> SsmServer {
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), &creds, managed, &[]);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aws/ssm_server.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ssm_server.py");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("ssm_server.py prints its port");
        SsmServer {
            child,
            port,
            dir,
            creds,
        }
    }

    /// Registers `managed` instances and denies the role on `denied` ones.
    pub fn configure(&self, managed: &[&str], denied: &[&str]) {
        write_config(self.dir.path(), &self.creds, managed, denied);
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_SSM`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The stored set of `instance` (`{"ExecutionSummary", "Items"}`), if one was accepted.
    pub fn items(&self, instance: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.path("store.json")).ok()?;
        let store: Value = serde_json::from_str(&text).unwrap();
        let set = &store[format!("{instance} Custom:CredentialHygiene")];
        (!set.is_null()).then(|| set.clone())
    }

    /// Every request on record: `operation`, `errors`, `body`, `status`, `code`.
    pub fn requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path("record.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Every byte of the server's record (bodies, operations, verdicts), to search for secrets.
    pub fn record(&self) -> Vec<u8> {
        std::fs::read(self.path("record.jsonl")).unwrap_or_default()
    }

    /// Every request body, one after another (to search for secrets).
    pub fn bodies(&self) -> Vec<u8> {
        (self.requests().iter())
            .flat_map(|r| r["body"].as_str().unwrap().as_bytes().to_vec())
            .collect()
    }
}

/// The server's `config.json` in `dir`, replaced whole (it is read on every request).
fn write_config(dir: &Path, creds: &Value, managed: &[&str], denied: &[&str]) {
    let credentials = json!({"AccessKeyId": creds["AccessKeyId"],
        "SecretAccessKey": creds["SecretAccessKey"], "SessionToken": creds["SessionToken"]});
    let config = json!({"credentials": credentials, "managed": managed, "denied": denied});
    let tmp = dir.join("config.json.tmp");
    std::fs::write(&tmp, config.to_string()).unwrap();
    std::fs::rename(tmp, dir.join("config.json")).unwrap();
}

impl Drop for SsmServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            return;
        }
        let rejected: Vec<Value> = (self.requests().into_iter())
            .filter(|r| !r["errors"].as_array().unwrap().is_empty())
            .collect();
        assert!(
            rejected.is_empty(),
            "the ssm model or signature check rejected: {rejected:?}"
        );
    }
}
