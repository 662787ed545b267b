//! `[enrich] iam`: whose key it is, from IAM (moto), with the instance role's credentials
//! from the IMDS emulator, through a recording proxy: `scan --format json` and a daemon cycle
//! show the owner (user, status, last use) and the severity; a canary key is never asked
//! about; the planted secret is in no byte IAM received; a denied role is said once.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::common::{assert_exit, assert_no_secret, credhygiene};
use crate::harness::moto::{run_ok, Moto};
use crate::harness::proxy::{count, Proxy};
use crate::imds_emulator::Emulator;

/// moto with a user's key whose id encodes an account, and the role of the enrichment.
struct IamWorld {
    moto: Moto,
    proxy: Proxy,
    /// What `tests/iam/moto_iam.py` printed.
    setup: Value,
    dir: tempfile::TempDir,
}

impl IamWorld {
    async fn start() -> Option<IamWorld> {
        let moto = Moto::start()?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/iam/moto_iam.py");
        let out = run_ok(
            std::process::Command::new(moto.python())
                .arg(script)
                .arg(moto.endpoint()),
            "moto_iam.py",
        );
        let setup: Value = serde_json::from_slice(&out).unwrap();
        let proxy = Proxy::start(moto.addr()).await;
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("srv");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(
            tree.join("deploy.env"),
            format!(
                "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
                setup["key_id"].as_str().unwrap(),
                setup["secret"].as_str().unwrap()
            ),
        )
        .unwrap();
        std::fs::write(
            tree.join("trap.txt"),
            format!(
                "aws_access_key_id = {}\n",
                setup["canary_key_id"].as_str().unwrap()
            ),
        )
        .unwrap();
        Some(IamWorld {
            moto,
            proxy,
            setup,
            dir,
        })
    }

    fn tree(&self) -> String {
        self.dir.path().join("srv").display().to_string()
    }

    fn key_id(&self) -> &str {
        self.setup["key_id"].as_str().unwrap()
    }

    /// The IMDS emulator: an instance of the key's account with `role`'s credentials
    /// (`role`: the JSON of STS credentials with `RoleName`).
    fn imds(&self, role: &Value) -> Emulator {
        let expiration =
            humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600));
        Emulator::start(serde_json::json!({
            "role": role["RoleName"],
            "identity": {
                "accountId": self.setup["account"], "architecture": "x86_64",
                "availabilityZone": "us-east-1a", "imageId": "ami-0abcdef1234567890",
                "instanceId": "i-0c0ffee0c0ffee001", "instanceType": "t3.micro",
                "pendingTime": "2026-11-25T08:00:00Z", "privateIp": "10.0.0.12",
                "region": "us-east-1", "version": "2017-09-30"
            },
            "credentials": {
                "Code": "Success", "Type": "AWS-HMAC",
                "AccessKeyId": role["AccessKeyId"], "SecretAccessKey": role["SecretAccessKey"],
                "Token": role["SessionToken"], "Expiration": expiration.to_string(),
            }
        }))
    }

    /// A config with `[enrich] iam = true` (CloudWatch off: only IAM is called).
    fn config(&self) -> std::path::PathBuf {
        let cfg = self.dir.path().join("c.toml");
        std::fs::write(
            &cfg,
            format!(
                "[agent]\nsplay = \"0s\"\nfirst_contact_splay = \"0s\"\nstate_dir = \"{}\"\n\
                 [scan]\npaths = [\"{}\"]\nenv_files = []\nprocesses = false\nuser_data = false\n\
                 [cloudwatch]\nenabled = false\n[enrich]\niam = true\n",
                self.dir.path().join("state").display(),
                self.tree()
            ),
        )
        .unwrap();
        cfg
    }

    /// `credhygiene ARGS` against `emu` and, through the proxy, moto's IAM.
    async fn run(&self, emu: &Emulator, args: &[&str]) -> Output {
        let mut cmd = credhygiene();
        cmd.arg("--config")
            .arg(self.config())
            .args(args)
            .env("AWS_EC2_METADATA_DISABLED", "false")
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", emu.endpoint())
            .env("AWS_ENDPOINT_URL_IAM", self.proxy.url());
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    /// Nothing IAM received holds the planted secret, nor a call about the canary key.
    fn assert_clean(&self) {
        let recorded = self.proxy.recorded();
        assert_no_secret(&recorded, &[self.setup["secret"].as_str().unwrap()]);
        let canary = self.setup["canary_key_id"].as_str().unwrap();
        assert_eq!(
            count(&recorded, canary.as_bytes()),
            0,
            "a canary key was looked up"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_and_a_cycle_show_the_owner_from_iam_and_never_touch_the_secret() {
    let Some(w) = IamWorld::start().await else {
        return;
    };
    let emu = w.imds(&w.setup["role"]);
    let out = w.run(&emu, &["scan", "--format", "json", &w.tree()]).await;
    assert_exit(&out, 1);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    let of =
        |key: &str| -> Vec<&Value> { findings.iter().filter(|f| f["key_id"] == key).collect() };
    let own = of(w.key_id());
    assert_eq!(own.len(), 2, "key id and secret: {doc:#}");
    for f in own {
        let o = &f["owner"];
        assert_eq!(o["account"], "own", "{f:#}");
        assert_eq!(o["user"], "deploy-bot");
        assert_eq!(o["status"], "Active");
        assert!(o["last_used"].as_str().unwrap().starts_with("20"), "{o}");
        assert_eq!(o["last_used_service"], "sts");
    }
    let canary = of(w.setup["canary_key_id"].as_str().unwrap());
    assert_eq!(canary[0]["owner"], serde_json::json!({"account": "canary"}));
    let calls = |r: &[u8]| count(r, b"Action=GetAccessKeyLastUsed");
    assert_eq!(calls(&w.proxy.recorded()), 1, "one key, looked up once");
    assert_eq!(count(&w.proxy.recorded(), b"Action=ListAccessKeys"), 1);

    // A cycle of the agent: the journal records (stderr here) carry owner and severity.
    let out = w.run(&emu, &["-v", "run", "--once"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("owner_user=deploy-bot"), "{stderr}");
    assert!(stderr.contains("severity=CRITICAL"), "{stderr}");
    assert!(stderr.contains("severity=INFORMATIONAL"), "{stderr}");
    assert_eq!(calls(&w.proxy.recorded()), 2, "the cycle asked once more");
    w.assert_clean();
    assert_no_secret(&out.stderr, &[w.setup["secret"].as_str().unwrap()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_role_is_said_once_and_the_scan_goes_on() {
    let Some(w) = IamWorld::start().await else {
        return;
    };
    // The "limited" role may not read IAM.
    let emu = w.imds(&w.moto.creds["limited"]);
    let out = w.run(&emu, &["scan", "--format", "json", &w.tree()]).await;
    assert_exit(&out, 1);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &doc["findings"][0];
    assert_eq!(f["owner"], serde_json::json!({"account": "own"}), "{doc:#}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("IAM enrichment is off").count(),
        1,
        "{stderr}"
    );
    let account = w.setup["account"].as_str().unwrap();
    let missing = format!("iam:GetAccessKeyLastUsed on arn:aws:iam::{account}:user/*");
    assert!(stderr.contains(&missing), "{stderr}");
    w.assert_clean();
}
