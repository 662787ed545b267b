//! The fleet view end to end (issue 12): the daemon (`credhygiene run`) on an instance whose
//! role (moto STS credentials, served by the IMDS emulator) may read IAM and report; an IAM
//! user's key of moto's account planted on disk; `[enrich] iam = true`. Security Hub and
//! CloudWatch go to moto through a recording proxy and a model-checking front, IAM to moto
//! through a second recording proxy, Systems Manager to the recording SSM server; moto and the
//! SSM server check every signature. Read back with boto3 (Security Hub) and from the SSM
//! server's store: owner, severity, resources, remediation; then the lifecycle through a
//! SIGKILL, restarts and a clean-up; the planted secret in no byte any server received, no
//! state file and no log line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use credhygiene::report::ssm::MEMORY_FILE;
use credhygiene::state::{FINDINGS_FILE, OUTBOX_FILE};
use serde_json::{json, Value};

use crate::common::{assert_no_secret, credhygiene};
use crate::harness::agent_world::{agent_command, LoggedDaemon};
use crate::harness::fixtures::{events_of, queued_again, ACCOUNT, INSTANCE_ID};
use crate::harness::front::{Front, FrontOptions};
use crate::harness::moto::{read_back, run_ok, Moto};
use crate::harness::proxy::{count, Proxy};
use crate::harness::ssm::SsmServer;
use crate::imds_emulator::Emulator;

/// What the instance role may do besides reading IAM: report to Security Hub and CloudWatch.
const REPORTING: &str = "securityhub:BatchImportFindings,logs:*,monitoring:*,cloudwatch:*";

/// Everything the daemon reports to, and the planted key.
struct Fleet {
    moto: Moto,
    /// Before moto for Security Hub and CloudWatch: checks each request against its model.
    front: Front,
    /// Before the front: every byte sent to Security Hub and CloudWatch.
    proxy: Proxy,
    /// Before moto: every byte sent to IAM.
    iam: Proxy,
    ssm: SsmServer,
    emu: Emulator,
    /// What `tests/iam/moto_iam.py` printed: the key, its secret, the role.
    setup: Value,
    dir: tempfile::TempDir,
    cfg: PathBuf,
}

/// What the services hold at one moment.
#[derive(Debug, PartialEq)]
struct Picture {
    /// Security Hub's findings by `Id`: (`RecordState`, `UpdatedAt`, `Compliance.Status`).
    findings: BTreeMap<String, (String, String, String)>,
    /// `BatchImportFindings` calls so far.
    imports: usize,
    /// `PutComplianceItems` calls so far.
    ssm_calls: usize,
    /// The instance's compliance set.
    ssm_set: Value,
}

impl Fleet {
    async fn start() -> Option<Fleet> {
        let moto = Moto::start()?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/iam/moto_iam.py");
        let out = run_ok(
            Command::new(moto.python())
                .arg(script)
                .arg(moto.endpoint())
                .arg(REPORTING),
            "moto_iam.py",
        );
        let setup: Value = serde_json::from_slice(&out).unwrap();
        // moto 5 derives its key ids from its own account: the instance's account, so the
        // key is `own` and Security Hub's product is moto's.
        assert_eq!(setup["account"], ACCOUNT, "{setup}");
        let front = moto.front(FrontOptions::default());
        let proxy = Proxy::start(front.addr()).await;
        let iam = Proxy::start(moto.addr()).await;
        let role = &setup["role"];
        let ssm = SsmServer::start_signed_by(moto.python(), &[INSTANCE_ID], role.clone());
        let emu = emulator(role);
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("srv");
        std::fs::create_dir_all(&tree).unwrap();
        let planted = format!(
            "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
            setup["key_id"].as_str().unwrap(),
            setup["secret"].as_str().unwrap()
        );
        std::fs::write(tree.join("deploy.env"), planted).unwrap();
        let cfg = dir.path().join("c.toml");
        let text = format!(
            "[agent]\ninterval = \"1s\"\nsplay = \"0s\"\nfirst_contact_splay = \"0s\"\nstate_dir = \"{}\"\n\
             [scan]\npaths = [\"{}\"]\nenv_files = []\nprocesses = false\nuser_data = false\n\
             [enrich]\niam = true\n",
            dir.path().join("state").display(),
            tree.display()
        );
        std::fs::write(&cfg, text).unwrap();
        Some(Fleet {
            moto,
            front,
            proxy,
            iam,
            ssm,
            emu,
            setup,
            dir,
            cfg,
        })
    }

    fn key_id(&self) -> &str {
        self.setup["key_id"].as_str().unwrap()
    }

    fn secret(&self) -> &str {
        self.setup["secret"].as_str().unwrap()
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `credhygiene run`, IAM and SSM at their recorders, the rest at the proxy.
    fn daemon(&self) -> LoggedDaemon {
        let mut cmd = agent_command(&self.cfg, &self.emu.endpoint(), &self.proxy.url(), &["run"]);
        cmd.env("AWS_ENDPOINT_URL_IAM", self.iam.url())
            .env("AWS_ENDPOINT_URL_SSM", self.ssm.url());
        LoggedDaemon::spawn(cmd)
    }

    /// `credhygiene status ARGS` for the daemon's configuration; its stdout.
    fn status_out(&self, args: &[&str]) -> Vec<u8> {
        let out = credhygiene()
            .arg("--config")
            .arg(&self.cfg)
            .arg("status")
            .args(args)
            .output()
            .unwrap();
        out.stdout
    }

    fn status(&self) -> Value {
        serde_json::from_slice(&self.status_out(&["--format", "json"])).unwrap()
    }

    fn status_text(&self) -> String {
        String::from_utf8(self.status_out(&[])).unwrap()
    }

    fn findings(&self) -> Vec<Value> {
        self.moto.securityhub_findings()
    }

    fn picture(&self) -> Picture {
        let field = |f: &Value, k: &str| f[k].as_str().unwrap_or_default().to_string();
        let findings = (self.findings().iter())
            .map(|f| {
                let state = (
                    field(f, "RecordState"),
                    field(f, "UpdatedAt"),
                    field(&f["Compliance"], "Status"),
                );
                (field(f, "Id"), state)
            })
            .collect();
        let imports = (self.front.operations().iter())
            .filter(|o| *o == "securityhub.BatchImportFindings")
            .count();
        Picture {
            findings,
            imports,
            ssm_calls: self.ssm.requests().len(),
            ssm_set: self.ssm.items(INSTANCE_ID).unwrap_or(Value::Null),
        }
    }

    /// The planted secret (and the role's secret key) in no byte any server received, no
    /// state file and none of `logs`; the role's session token only in request headers.
    fn assert_clean(&self, logs: &[String]) {
        let role = &self.setup["role"];
        let (planted, role_secret) = (self.secret(), role["SecretAccessKey"].as_str().unwrap());
        let token = role["SessionToken"].as_str().unwrap();
        for (what, bytes) in [
            ("Security Hub and CloudWatch (wire)", self.proxy.recorded()),
            ("IAM (wire)", self.iam.recorded()),
        ] {
            assert!(!bytes.is_empty(), "nothing reached {what}");
            assert_no_secret(&bytes, &[planted, role_secret]);
        }
        assert_no_secret(&self.front.bodies(), &[planted, role_secret, token]);
        assert_no_secret(&self.ssm.record(), &[planted, role_secret, token]);
        for name in ["securityhub.json", MEMORY_FILE, OUTBOX_FILE, FINDINGS_FILE] {
            assert!(self.state_dir().join(name).is_file(), "no {name}");
        }
        for entry in std::fs::read_dir(self.state_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                assert_no_secret(&bytes, &[planted, role_secret, token]);
            }
        }
        assert_no_secret(logs.join("\n").as_bytes(), &[planted, role_secret, token]);
    }
}

/// The IMDS emulator: instance [`INSTANCE_ID`] of [`ACCOUNT`], IMDSv2 only, with `role`'s
/// credentials (the JSON of STS credentials with `RoleName`).
fn emulator(role: &Value) -> Emulator {
    let expiration =
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600));
    Emulator::start(json!({
        "role": role["RoleName"],
        "identity": {
            "accountId": ACCOUNT, "architecture": "x86_64", "availabilityZone": "us-east-1a",
            "imageId": "ami-0abcdef1234567890", "instanceId": INSTANCE_ID,
            "instanceType": "t3.micro", "pendingTime": "2026-11-25T08:00:00Z",
            "privateIp": "10.0.0.12", "region": "us-east-1", "version": "2017-09-30"
        },
        "credentials": {
            "Code": "Success", "Type": "AWS-HMAC",
            "AccessKeyId": role["AccessKeyId"], "SecretAccessKey": role["SecretAccessKey"],
            "Token": role["SessionToken"], "Expiration": expiration.to_string(),
        }
    }))
}

/// Waits for `n` more cycles of `d`.
fn cycles(d: &mut LoggedDaemon, n: usize) {
    for _ in 0..n {
        d.next_cycle();
    }
}

/// Waits for a cycle that resolved something (a clean-up the daemon has seen).
fn resolving_cycle(d: &mut LoggedDaemon) -> String {
    for _ in 0..20 {
        let line = d.next_cycle();
        if !line.contains("resolved=0") {
            return line;
        }
    }
    panic!("no cycle resolved anything");
}

/// The planted key's Security Hub finding: owner, severity, resources, remediation.
fn assert_key_finding(w: &Fleet, f: &Value) {
    let key = w.key_id();
    assert_eq!(f["GeneratorId"], "credhygiene/hardcoded-credential");
    assert_eq!(
        (&f["RecordState"], &f["Compliance"]["Status"]),
        (&json!("ACTIVE"), &json!("FAILED"))
    );
    assert_eq!(
        f["Severity"]["Label"], "CRITICAL",
        "active, used recently: {f:#}"
    );
    let pf = &f["ProductFields"];
    assert_eq!(pf["credhygiene/owner_account"], "own");
    assert_eq!(pf["credhygiene/owner_user"], "deploy-bot");
    assert_eq!(pf["credhygiene/owner_status"], "Active");
    assert_eq!(pf["credhygiene/owner_last_used_service"], "sts");
    let resources = f["Resources"].as_array().unwrap();
    let types: Vec<&str> = resources
        .iter()
        .map(|r| r["Type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["AwsEc2Instance", "AwsIamAccessKey"], "{f:#}");
    let details = &resources[1]["Details"]["AwsIamAccessKey"];
    assert_eq!(resources[1]["Id"], format!("AWS::IAM::AccessKey:{key}"));
    assert_eq!(details["PrincipalName"], "deploy-bot");
    assert_eq!(details["PrincipalType"], "IAMUser");
    assert_eq!(details["Status"], "Active");
    assert_eq!(details["AccountId"], ACCOUNT);
    let remedy = f["Remediation"]["Recommendation"]["Text"].as_str().unwrap();
    let command = format!(
        "aws iam update-access-key --user-name deploy-bot --access-key-id {key} --status Inactive"
    );
    assert!(remedy.contains(&command), "{remedy}");
}

/// The planted key's SSM item.
fn assert_key_item(w: &Fleet, set: &Value) {
    let items = set["Items"].as_array().unwrap();
    let item = (items.iter())
        .find(|i| i["Details"]["key_id"] == w.key_id())
        .unwrap_or_else(|| panic!("no item of the key: {set:#}"));
    assert_eq!(
        (&item["Status"], &item["Severity"]),
        (&json!("NON_COMPLIANT"), &json!("CRITICAL"))
    );
    assert_eq!(item["Details"]["owner_account"], "own");
    assert_eq!(item["Details"]["owner_user"], "deploy-bot");
    assert!(item["Details"]["path"]
        .as_str()
        .unwrap()
        .ends_with("/srv/deploy.env"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reports_whose_key_it_is_and_keeps_the_fleet_view_through_kills_and_a_clean_up()
{
    let Some(w) = Fleet::start().await else {
        return;
    };
    let mut logs = Vec::new();

    // The daemon's first cycles: the key is imported, once, with its owner.
    let mut d = w.daemon();
    cycles(&mut d, 2);
    let first = w.picture();
    let findings = w.findings();
    let key = (findings.iter())
        .find(|f| f["ProductFields"]["credhygiene/key_id"] == w.key_id())
        .unwrap_or_else(|| panic!("no finding of the key: {findings:#?}"));
    assert_eq!(
        key["Id"],
        format!(
            "credhygiene/{INSTANCE_ID}/{}",
            key["ProductFields"]["credhygiene/credential"]
                .as_str()
                .unwrap()
        )
    );
    assert_key_finding(&w, key);
    let static_keys = format!("credhygiene/{INSTANCE_ID}/no_static_keys_with_role");
    assert_eq!(
        first.findings.len(),
        2,
        "the key and the role+keys check: {findings:#?}"
    );
    let check = (findings.iter())
        .find(|f| f["Id"] == static_keys.as_str())
        .expect("the role+keys check's finding");
    assert_eq!(check["Compliance"]["Status"], "FAILED");
    // One check, one severity in both services: the most severe credential's.
    let item = (first.ssm_set["Items"].as_array().unwrap().iter())
        .find(|i| i["Id"] == "no_static_keys_with_role")
        .unwrap();
    assert_eq!(check["Severity"]["Label"], "CRITICAL");
    assert_eq!(item["Severity"], "CRITICAL");
    println!(
        "ASFF of the check: {}",
        serde_json::to_string_pretty(check).unwrap()
    );
    assert_eq!(first.imports, 1, "one import of both findings");
    assert_key_item(&w, &first.ssm_set);
    assert_eq!(first.ssm_calls, 1);
    println!(
        "ASFF as read back: {}",
        serde_json::to_string_pretty(key).unwrap()
    );
    println!(
        "PutComplianceItems as received: {}",
        w.ssm.requests()[0]["body"]
    );

    // SIGKILL mid-run, a restart: nothing imported again, nothing updated, the set unchanged.
    cycles(&mut d, 1);
    std::thread::sleep(Duration::from_millis(400));
    logs.extend(d.kill());
    let mut d = w.daemon();
    cycles(&mut d, 3);
    assert_eq!(
        w.picture(),
        first,
        "a restart changed what the services hold"
    );

    // Security Hub and CloudWatch become unreachable, and the key is removed: the archive
    // waits in the sink's state (`status` shows it), the SSM set is replaced at once.
    w.proxy.down();
    std::fs::remove_file(w.dir.path().join("srv/deploy.env")).unwrap();
    resolving_cycle(&mut d);
    let doc = w.status();
    assert_eq!(doc["daemon"]["running"], true);
    assert_eq!(
        doc["outbox"]["securityhub"],
        json!({"pending": 2, "dropped": 0}),
        "{doc:#}"
    );
    let ssm = &doc["outbox"]["ssm"];
    assert!(
        ssm["pending"].is_null() && ssm["last"]["time"].is_string(),
        "{doc:#}"
    );
    assert!(doc["outbox"]["pending"].as_u64().unwrap() > 0, "{doc:#}");
    let text = w.status_text();
    assert!(
        text.contains("Security Hub: 2 finding(s) pending, 0 dropped"),
        "{text}"
    );
    assert!(
        text.contains("SSM: nothing pending; last set delivered"),
        "{text}"
    );
    assert_eq!(
        w.picture().imports,
        first.imports,
        "Security Hub is unreachable"
    );

    // SIGKILL with the archive pending; a restart with Security Hub back delivers it once:
    // archived and passed, not duplicated.
    logs.extend(d.kill());
    w.proxy.up();
    let mut d = w.daemon();
    cycles(&mut d, 2);
    let doc = w.status();
    assert_eq!(
        doc["outbox"]["securityhub"],
        json!({"pending": 0, "dropped": 0}),
        "{doc:#}"
    );
    assert_eq!(doc["outbox"]["pending"], 0, "{doc:#}");
    logs.extend(d.stop());
    let cleaned = w.picture();
    assert_eq!(
        cleaned.findings.keys().collect::<Vec<_>>(),
        first.findings.keys().collect::<Vec<_>>(),
        "the same findings, none duplicated"
    );
    for (id, (record, updated, compliance)) in &cleaned.findings {
        assert_eq!(
            (record.as_str(), compliance.as_str()),
            ("ARCHIVED", "PASSED"),
            "{id}"
        );
        assert!(
            updated > &first.findings[id].1,
            "{id}: UpdatedAt moves on a change"
        );
    }
    assert_eq!(cleaned.imports, 2, "one import archives both");
    assert_eq!(cleaned.ssm_calls, 2);
    let items = cleaned.ssm_set["Items"].as_array().unwrap();
    let ids: std::collections::BTreeSet<&str> =
        items.iter().map(|i| i["Id"].as_str().unwrap()).collect();
    let checks = [
        "imdsv2_required",
        "instance_profile_attached",
        "no_static_keys_with_role",
        "role_credentials_valid",
    ];
    assert_eq!(ids, checks.into(), "only the checks are left");
    assert!(
        items.iter().all(|i| i["Status"] == "COMPLIANT"),
        "{items:#?}"
    );

    // A further restart imports nothing and sends no new set.
    let mut d = w.daemon();
    cycles(&mut d, 2);
    logs.extend(d.stop());
    assert_eq!(w.picture(), cleaned);
    let doc = w.status();
    assert_eq!(
        doc["sinks"]["securityhub"],
        json!({"state": "active"}),
        "{doc:#}"
    );
    assert_eq!(doc["sinks"]["ssm"], json!({"state": "active"}), "{doc:#}");
    // CloudWatch (same proxy, same kill): each change of the key once, with owner and severity.
    let (events, _) = read_back(&w.moto).await;
    assert!(queued_again(&events).is_empty(), "a change queued twice");
    let of_key: Vec<&Value> = (events_of(&events, "finding").into_iter())
        .filter(|e| e["key_id"] == w.key_id() && e["kind"] == "access_key_id")
        .collect();
    let changes: Vec<&str> = of_key
        .iter()
        .map(|e| e["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["new", "resolved"], "{of_key:#?}");
    assert_eq!(of_key[0]["owner"]["user"], "deploy-bot");
    assert_eq!(of_key[0]["severity"], "CRITICAL");

    // IAM was asked once by each daemon that saw the key (the answer is cached for hours).
    let asked = count(&w.iam.recorded(), b"Action=GetAccessKeyLastUsed");
    assert_eq!(asked, 2, "IAM asked every cycle");
    w.assert_clean(&logs);
}
