//! moto_server for the CloudWatch tests: started per test on 127.0.0.1 (a free port) from
//! the venv that `scripts/setup-test-deps` makes, with `INITIAL_NO_AUTH_ACTION_COUNT` so that,
//! once `tests/cloudwatch/moto_setup.py` has created the IAM roles and taken STS `AssumeRole`
//! credentials, every call is SigV4-verified and IAM-authorised; what reached it is read
//! back with boto3 (`tests/cloudwatch/moto_read.py`).
//!
//! Without `CREDHYGIENE_TEST_VENV` (and no `tests/.venv`) [`Moto::start`] prints a message
//! and returns `None` (the test skips), unless `CREDHYGIENE_REQUIRE_EMULATORS=1`, in which
//! case it panics.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use credhygiene::config::CloudWatchConfig;
use credhygiene::imds::model::{RoleCredentials, Sensitive};
use credhygiene::report::cloudwatch::{CloudWatchSink, CredentialError, CredentialSource};
use serde_json::Value;

use super::fixtures::{cw_config, INSTANCE_ID};
use super::front::{Front, FrontOptions};
use super::proxy::Proxy;
use crate::common::{SECRET, SECRET2, TOKEN};
use crate::imds_emulator::closed_port;

/// The venv with moto_server and boto3, or `None` when the emulator tests skip.
pub fn venv() -> Option<PathBuf> {
    let v = std::env::var_os("CREDHYGIENE_TEST_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/.venv");
            local.exists().then_some(local)
        });
    let ok = v
        .as_ref()
        .is_some_and(|v| v.join("bin/moto_server").exists());
    if !ok {
        if std::env::var("CREDHYGIENE_REQUIRE_EMULATORS").as_deref() == Ok("1") {
            panic!("CREDHYGIENE_REQUIRE_EMULATORS=1 but no moto_server venv (run scripts/setup-test-deps)");
        }
        eprintln!("skipping: no moto_server venv (set CREDHYGIENE_TEST_VENV or run scripts/setup-test-deps)");
        return None;
    }
    v
}

/// A running moto_server on 127.0.0.1, killed when dropped.
pub struct Moto {
    child: Child,
    port: u16,
    python: PathBuf,
    /// moto's STS credentials of the roles `moto_setup.py` made, by role ("full",
    /// "limited"): `RoleName`, `AccessKeyId`, `SecretAccessKey`, `SessionToken`.
    pub creds: Value,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tests/cloudwatch/NAME ARGS` with the venv's `python`; panics, with its stderr, if
/// it fails; returns its stdout.
pub fn run_script(python: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cloudwatch")
        .join(name);
    run_ok(Command::new(python).arg(script).args(args), name)
}

/// Runs `cmd` (a Python helper of the tests); panics, with its stderr, unless it succeeds;
/// returns its stdout.
pub fn run_ok(cmd: &mut Command, what: &str) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// What reached moto at `endpoint`, read back with boto3 (`moto_read.py`) using `creds` (the
/// JSON of the "full" role's credentials): the events of the instance's stream in `cfg`'s log
/// group, and the statistics of the metrics in `cfg`'s namespace.
fn read_moto(
    python: &Path,
    endpoint: &str,
    creds: &str,
    cfg: &CloudWatchConfig,
) -> (Vec<Value>, Value) {
    let out = run_script(
        python,
        "moto_read.py",
        &[endpoint, creds, &cfg.log_group, INSTANCE_ID, &cfg.namespace],
    );
    let v: Value = serde_json::from_slice(&out).unwrap();
    let events = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| serde_json::from_str(m.as_str().unwrap()).unwrap())
        .collect();
    (events, v["metrics"].clone())
}

/// Role credentials named `role` from a JSON object with `AccessKeyId`, `SecretAccessKey` and
/// `SessionToken` (as STS returns them), valid for an hour.
pub fn role_credentials(role: &str, kind: Option<&str>, c: &Value) -> RoleCredentials {
    RoleCredentials {
        role: role.into(),
        code: "Success".into(),
        kind: kind.map(Into::into),
        access_key_id: c["AccessKeyId"].as_str().unwrap().into(),
        secret_access_key: Sensitive::new(c["SecretAccessKey"].as_str().unwrap()),
        session_token: Sensitive::new(c["SessionToken"].as_str().unwrap()),
        expiration: SystemTime::now() + Duration::from_secs(3600),
        last_updated: None,
    }
}

impl Moto {
    /// Starts moto_server, sets up the roles, turns SigV4 checking on.
    pub fn start() -> Option<Moto> {
        let venv = venv()?;
        // A port nothing listens on yet, for moto to take.
        let port = closed_port();
        let child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "1000000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let mut moto = Moto {
            child,
            port,
            python: venv.join("bin/python"),
            creds: Value::Null,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = run_script(&moto.python, "moto_setup.py", &[&moto.endpoint()]);
        moto.creds = serde_json::from_slice(&out).unwrap();
        Some(moto)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A model-checking [`Front`] before moto.
    pub fn front(&self, opts: FrontOptions<'_>) -> Front {
        Front::start(&self.python, &self.endpoint(), opts)
    }

    /// The venv's Python (boto3, botocore, cryptography).
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// Where moto listens, for a [`Proxy`] in front of it.
    pub fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// Role credentials taken from moto's STS AssumeRole ("full" or "limited").
    pub fn role(&self, which: &str) -> RoleCredentials {
        let c = &self.creds[which];
        role_credentials(c["RoleName"].as_str().unwrap(), Some("AWS-HMAC"), c)
    }

    /// Every finding in moto's Security Hub, read with boto3 as the "full" role
    /// (`tests/aws/securityhub_read.py`).
    pub fn securityhub_findings(&self) -> Vec<Value> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aws/securityhub_read.py");
        let out = run_ok(
            Command::new(&self.python)
                .arg(script)
                .arg(self.endpoint())
                .arg(self.creds["full"].to_string()),
            "securityhub_read.py",
        );
        serde_json::from_slice(&out).unwrap()
    }

    /// Deletes the log group `group` behind the sink's back (`moto_delete_group.py`).
    pub fn delete_log_group(&self, group: &str) {
        run_script(
            &self.python,
            "moto_delete_group.py",
            &[&self.endpoint(), &self.creds["full"].to_string(), group],
        );
    }

    /// What reached moto: log messages of the stream and metric statistics.
    pub fn read(&self, cfg: &CloudWatchConfig) -> (Vec<Value>, Value) {
        read_moto(
            &self.python,
            &self.endpoint(),
            &self.creds["full"].to_string(),
            cfg,
        )
    }

    /// Every secret the agent's output must not show: the planted ones, and the "full"
    /// role's secret key and session token.
    pub fn secrets(&self) -> [&str; 5] {
        let full = &self.creds["full"];
        [
            SECRET,
            SECRET2,
            TOKEN,
            full["SecretAccessKey"].as_str().unwrap(),
            full["SessionToken"].as_str().unwrap(),
        ]
    }
}

/// A sink over `state` with `creds`, and the default batching, attempts and backoff.
pub fn static_sink(
    cfg: &CloudWatchConfig,
    state: &Path,
    creds: RoleCredentials,
) -> CloudWatchSink<StaticCredentials> {
    CloudWatchSink::builder(cfg, state, StaticCredentials(creds))
        .build()
        .unwrap()
}

/// moto_server and what a sink test against it needs: a model-checking [`Front`] before it,
/// a config that points at the front (straight, or through a [`Proxy`]) and a temporary
/// directory for the sink's state, removed when the world is dropped.
pub struct MotoWorld {
    /// The emulator.
    pub moto: Moto,
    /// Checks every request against the service model (the test fails on a rejection).
    pub front: Front,
    /// Points at the front, or at the proxy in front of it.
    pub cfg: CloudWatchConfig,
    /// The sink's state directory, `state` in [`MotoWorld::tmp`].
    pub state: PathBuf,
    /// The test's temporary directory.
    pub tmp: tempfile::TempDir,
}

impl MotoWorld {
    /// Starts moto ([`Moto::start`]); `None` when the emulator tests skip.
    pub fn start() -> Option<MotoWorld> {
        let moto = Moto::start()?;
        let front = moto.front(FrontOptions::default());
        let tmp = tempfile::tempdir().unwrap();
        Some(MotoWorld {
            cfg: cw_config(&front.url()),
            front,
            state: tmp.path().join("state"),
            moto,
            tmp,
        })
    }

    /// Like [`MotoWorld::start`], with a recording [`Proxy`] before the front, which the
    /// config points at instead.
    pub async fn start_proxied() -> Option<(MotoWorld, Proxy)> {
        let mut w = MotoWorld::start()?;
        let proxy = Proxy::start(w.front.addr()).await;
        w.cfg = cw_config(&proxy.url());
        Some((w, proxy))
    }

    /// A sink over [`MotoWorld::state`] with the credentials of moto's role `which` ("full"
    /// or "limited"); a second one over the same state is the agent after a restart.
    pub fn sink(&self, which: &str) -> CloudWatchSink<StaticCredentials> {
        static_sink(&self.cfg, &self.state, self.moto.role(which))
    }

    /// What reached moto ([`Moto::read`]).
    pub fn read(&self) -> (Vec<Value>, Value) {
        self.moto.read(&self.cfg)
    }
}

/// Every event in the instance's stream and the metric statistics, read back with boto3.
pub async fn read_back(moto: &Moto) -> (Vec<Value>, Value) {
    let cw_cfg = cw_config(&moto.endpoint());
    let python = moto.python.clone();
    let endpoint = moto.endpoint();
    let creds = moto.creds["full"].to_string();
    tokio::task::spawn_blocking(move || read_moto(&python, &endpoint, &creds, &cw_cfg))
        .await
        .unwrap()
}

/// A fixed set of credentials: what the tests sign with instead of the instance role's.
#[derive(Debug, Clone)]
pub struct StaticCredentials(pub RoleCredentials);

impl CredentialSource for StaticCredentials {
    async fn credentials(&self) -> Result<RoleCredentials, CredentialError> {
        Ok(self.0.clone())
    }
    async fn refresh(&self) -> Result<RoleCredentials, CredentialError> {
        Ok(self.0.clone())
    }
}
