//! Issue 4: reporting to CloudWatch through outages, against a real emulator.
//!
//! Each test starts its own `moto_server` on 127.0.0.1 (a free port) from the venv that
//! `scripts/setup-test-deps` makes, with `INITIAL_NO_AUTH_ACTION_COUNT` so that, once
//! `tests/cloudwatch/moto_setup.py` has created the IAM roles and taken STS `AssumeRole`
//! credentials, every call is SigV4-verified (by botocore's signer) and IAM-authorised.
//! The agent's traffic goes through a small recording TCP proxy ([`Proxy`]) that can be
//! taken down, can hold connections, and can answer with canned errors. Read-back is done
//! with boto3 (`tests/cloudwatch/moto_read.py`).
//!
//! Without `CREDHYGIENE_TEST_VENV` (and no `tests/.venv`) the tests print a message and
//! skip, unless `CREDHYGIENE_REQUIRE_EMULATORS=1`, in which case they fail.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use credhygiene::config::CloudWatchConfig;
use credhygiene::finding::{Finding, KeyType, Kind, Source};
use credhygiene::imds::model::{IdentityDocument, RoleCredentials, Sensitive};
use credhygiene::report::cloudwatch::{
    CloudWatchError, CloudWatchSink, CredentialError, CredentialSource, NoCredentials,
    StaticCredentials,
};
use credhygiene::report::cycle::{CycleReport, RoleStatus, RoleSummary};
use credhygiene::scan::{Options, Plan, ScanOutcome, Scanner};
use credhygiene::state::{FindingChanges, FindingState, DELIVERED_FILE, OUTBOX_FILE};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::common::{assert_exit, assert_no_secret, send_signal, KEY_ID, SECRET, SECRET2, TOKEN};
use crate::imds_emulator::{closed_port, Emulator};

const INSTANCE_ID: &str = "i-0c0ffee0c0ffee001";
const ACCOUNT: &str = "123456789012";

// ---------------------------------------------------------------------------------------------
// moto_server

fn venv() -> Option<PathBuf> {
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

struct Moto {
    child: Child,
    port: u16,
    python: PathBuf,
    creds: Value,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tests/cloudwatch/NAME ARGS` with the venv's `python`; panics, with its stderr, if
/// it fails; returns its stdout.
fn run_script(python: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cloudwatch")
        .join(name);
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
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
fn role_credentials(role: &str, kind: Option<&str>, c: &Value) -> RoleCredentials {
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
    fn start() -> Option<Moto> {
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

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// Role credentials taken from moto's STS AssumeRole ("full" or "limited").
    fn role(&self, which: &str) -> RoleCredentials {
        let c = &self.creds[which];
        role_credentials(c["RoleName"].as_str().unwrap(), Some("AWS-HMAC"), c)
    }

    /// What reached moto: log messages of the stream and metric statistics.
    fn read(&self, cfg: &CloudWatchConfig) -> (Vec<Value>, Value) {
        read_moto(
            &self.python,
            &self.endpoint(),
            &self.creds["full"].to_string(),
            cfg,
        )
    }

    /// Every secret the agent's output must not show: the planted ones, and the "full"
    /// role's secret key and session token.
    fn secrets(&self) -> [&str; 5] {
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
fn static_sink(
    cfg: &CloudWatchConfig,
    state: &Path,
    creds: RoleCredentials,
) -> CloudWatchSink<StaticCredentials> {
    CloudWatchSink::builder(cfg, state, StaticCredentials(creds))
        .build()
        .unwrap()
}

/// moto_server and what a sink test against it needs: a config that points at moto (straight,
/// or through a [`Proxy`]) and a temporary directory for the sink's state, removed when the
/// world is dropped.
struct MotoWorld {
    moto: Moto,
    cfg: CloudWatchConfig,
    /// The sink's state directory, `state` in [`MotoWorld::tmp`].
    state: PathBuf,
    tmp: tempfile::TempDir,
}

impl MotoWorld {
    /// Starts moto ([`Moto::start`]); `None` when the emulator tests skip.
    fn start() -> Option<MotoWorld> {
        let moto = Moto::start()?;
        let tmp = tempfile::tempdir().unwrap();
        Some(MotoWorld {
            cfg: cw_config(&moto.endpoint()),
            state: tmp.path().join("state"),
            moto,
            tmp,
        })
    }

    /// Like [`MotoWorld::start`], with a recording [`Proxy`] in front of moto, which the
    /// config points at instead.
    async fn start_proxied() -> Option<(MotoWorld, Proxy)> {
        let mut w = MotoWorld::start()?;
        let proxy = Proxy::start(w.moto.addr()).await;
        w.cfg = cw_config(&proxy.url());
        Some((w, proxy))
    }

    /// A sink over [`MotoWorld::state`] with the credentials of moto's role `which` ("full"
    /// or "limited"); a second one over the same state is the agent after a restart.
    fn sink(&self, which: &str) -> CloudWatchSink<StaticCredentials> {
        static_sink(&self.cfg, &self.state, self.moto.role(which))
    }

    /// What reached moto ([`Moto::read`]).
    fn read(&self) -> (Vec<Value>, Value) {
        self.moto.read(&self.cfg)
    }
}

// ---------------------------------------------------------------------------------------------
// A recording TCP proxy that can fail on purpose

#[derive(Default)]
struct Shared {
    up: AtomicBool,
    hold: AtomicBool,
    recorded: Mutex<Vec<u8>>,
    inject: Mutex<VecDeque<String>>,
    requests: AtomicUsize,
    stop_after: AtomicUsize,
    cancel: Mutex<CancellationToken>,
}

impl Shared {
    /// Unreachable: new connections are closed at once, open ones are cut.
    fn go_down(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut c = self.cancel.lock().unwrap();
        c.cancel();
        *c = CancellationToken::new();
    }
}

#[derive(Clone)]
struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        shared.up.store(true, Ordering::SeqCst);
        shared.stop_after.store(usize::MAX, Ordering::SeqCst);
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(handle(sock, upstream, s.clone()));
            }
        });
        Proxy { addr, shared }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Unreachable from now on (until [`Proxy::up`]).
    fn down(&self) {
        self.shared.go_down();
    }

    fn up(&self) {
        self.shared.stop_after.store(usize::MAX, Ordering::SeqCst);
        self.shared.up.store(true, Ordering::SeqCst);
    }

    /// Goes down when request number `n + 1` arrives (it is not forwarded).
    fn stop_after(&self, n: usize) {
        self.shared.stop_after.store(n, Ordering::SeqCst);
    }

    /// The next new connection is answered with this HTTP response instead of forwarded.
    fn inject(&self, status: &str, body: &str) {
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        self.shared.inject.lock().unwrap().push_back(resp);
    }

    fn recorded(&self) -> Vec<u8> {
        self.shared.recorded.lock().unwrap().clone()
    }

    fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

async fn read_request(sock: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return buf;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return buf;
            }
        }
    }
}

async fn handle(mut client: TcpStream, upstream: SocketAddr, s: Arc<Shared>) {
    if !s.up.load(Ordering::SeqCst) {
        return;
    }
    if s.hold.load(Ordering::SeqCst) {
        let req = read_request(&mut client).await;
        s.recorded.lock().unwrap().extend_from_slice(&req);
        s.requests.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(600)).await;
        return;
    }
    let canned = s.inject.lock().unwrap().pop_front();
    if let Some(resp) = canned {
        let req = read_request(&mut client).await;
        s.recorded.lock().unwrap().extend_from_slice(&req);
        s.requests.fetch_add(1, Ordering::SeqCst);
        let _ = client.write_all(resp.as_bytes()).await;
        let _ = client.shutdown().await;
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let cancel = s.cancel.lock().unwrap().clone();
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let s2 = s.clone();
    let c2s = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = cr.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            let new = count(&buf[..n], b"POST /");
            if new > 0 {
                let total = s2.requests.fetch_add(new, Ordering::SeqCst) + new;
                if total > s2.stop_after.load(Ordering::SeqCst) {
                    s2.go_down();
                    return;
                }
            }
            s2.recorded.lock().unwrap().extend_from_slice(&buf[..n]);
            if sw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let s2c = async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
    };
    tokio::select! {
        _ = c2s => {}
        _ = s2c => {}
        _ = cancel.cancelled() => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Cycle data

fn identity() -> IdentityDocument {
    IdentityDocument {
        instance_id: INSTANCE_ID.into(),
        account_id: ACCOUNT.into(),
        region: "us-east-1".into(),
        availability_zone: "us-east-1a".into(),
        instance_type: "t3.micro".into(),
        image_id: "ami-0123456789abcdef0".into(),
        architecture: Some("x86_64".into()),
    }
}

fn role() -> RoleSummary {
    RoleSummary {
        status: RoleStatus::Fail,
        instance_profile_missing: Some(false),
        imdsv1_open: Some(true),
    }
}

fn cw_config(endpoint: &str) -> CloudWatchConfig {
    CloudWatchConfig {
        endpoint: Some(endpoint.into()),
        logs_endpoint: Some(endpoint.into()),
        region: Some("us-east-1".into()),
        ..CloudWatchConfig::default()
    }
}

fn synthetic(id: &str) -> Finding {
    Finding {
        id: id.into(),
        rule: "aws.access_key_id".into(),
        kind: Kind::AccessKeyId,
        source: Source::File,
        path: format!("/srv/app/{id}.env"),
        line: 1,
        column: 19,
        key_id: Some(KEY_ID.into()),
        key_type: Some(KeyType::LongTerm),
        account_id: None,
        credential: format!("cred-{id}"),
        redacted: "AKIA…".into(),
        fingerprint: format!("sha256:{id}"),
        process: None,
    }
}

/// A cycle whose scan found `findings`, diffed against (and committed to) `state_dir`.
fn cycle_of(state_dir: &Path, findings: Vec<Finding>) -> CycleReport {
    let mut st = FindingState::load(state_dir).unwrap();
    let changes = st.diff(&findings);
    let outcome = ScanOutcome {
        findings: findings.clone(),
        ..ScanOutcome::default()
    };
    st.commit(state_dir, &findings).unwrap();
    CycleReport::new(
        SystemTime::now(),
        Some(identity()),
        role(),
        &outcome,
        changes,
    )
}

fn scan_dir(dir: &Path) -> ScanOutcome {
    let scanner = Scanner::new(
        Options::from_config(&credhygiene::config::ScanConfig::default(), Some(1)).unwrap(),
    )
    .unwrap();
    let cancel = AtomicBool::new(false);
    scanner
        .run(&Plan::from_paths(&[dir.to_path_buf()]), &cancel, None)
        .0
}

fn plant_corpus(dir: &Path) {
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(
        dir.join(".env"),
        format!("AWS_ACCESS_KEY_ID={KEY_ID}\nAWS_SECRET_ACCESS_KEY={SECRET}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("app/config.ini"),
        format!("aws_secret_access_key = \"{SECRET2}\"\naws_session_token = \"{TOKEN}\"\n"),
    )
    .unwrap();
}

fn events_of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// (finding id, change) of every finding event, with how many times each arrived.
fn finding_keys(events: &[Value]) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for e in events_of(events, "finding") {
        *m.entry((
            e["id"].as_str().unwrap().to_string(),
            e["change"].as_str().unwrap().to_string(),
        ))
        .or_insert(0) += 1;
    }
    m
}

// ---------------------------------------------------------------------------------------------
// Tests

/// The whole pipeline on a planted corpus: scan, diff, CycleReport, sink, moto. Every byte
/// that reached the server is searched for the planted secrets and the role's secret key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_corpus_reaches_moto_with_metrics_and_events_and_no_secret() {
    let Some((w, proxy)) = MotoWorld::start_proxied().await else {
        return;
    };
    let corpus = w.tmp.path().join("corpus");
    plant_corpus(&corpus);
    let creds = w.moto.role("full");
    let role_secret = creds.secret_access_key.expose().to_string();
    let mut sink = static_sink(&w.cfg, &w.state, creds);

    // Cycle 1: everything is new.
    let scan1 = scan_dir(&corpus);
    assert_eq!(scan1.findings.len(), 4, "{:?}", scan1.findings);
    let mut st = FindingState::load(&w.state).unwrap();
    let changes = st.diff(&scan1.findings);
    assert_eq!(changes.new.len(), 4);
    let c1 = CycleReport::new(SystemTime::now(), Some(identity()), role(), &scan1, changes);
    let d1 = sink.report(&c1).await;
    st.commit(&w.state, &scan1.findings).unwrap();
    assert!(d1.is_complete(), "{:?}", d1.errors);
    assert_eq!(d1.delivered_events, 5, "4 new + 1 summary");
    assert_eq!(d1.delivered_datums, 4);
    let first_cycle = d1.calls;

    // Cycle 2: the config.ini credential is removed: two parts resolved.
    std::fs::remove_file(corpus.join("app/config.ini")).unwrap();
    let scan2 = scan_dir(&corpus);
    let changes = st.diff(&scan2.findings);
    assert_eq!((changes.new.len(), changes.resolved.len()), (0, 2));
    let c2 = CycleReport::new(SystemTime::now(), Some(identity()), role(), &scan2, changes);
    let d2 = sink.report(&c2).await;
    st.commit(&w.state, &scan2.findings).unwrap();
    assert!(d2.is_complete(), "{:?}", d2.errors);
    assert_eq!(d2.delivered_events, 3);

    // Read back with boto3.
    let (events, metrics) = w.read();
    assert_eq!(events.len(), 8, "{events:#?}");
    let keys = finding_keys(&events);
    assert!(keys.values().all(|&n| n == 1), "duplicates: {keys:?}");
    assert_eq!(keys.keys().filter(|(_, c)| c == "new").count(), 4);
    assert_eq!(keys.keys().filter(|(_, c)| c == "resolved").count(), 2);
    let secret_event = events_of(&events, "finding")
        .into_iter()
        .find(|e| e["kind"] == "secret_access_key" && e["path"].as_str().unwrap().ends_with(".env"))
        .expect("the .env secret's event");
    for field in [
        "id",
        "rule",
        "kind",
        "source",
        "path",
        "line",
        "column",
        "key_id",
        "key_type",
        "account_id",
        "credential",
        "redacted",
        "fingerprint",
    ] {
        assert!(
            secret_event.get(field).is_some(),
            "field {field} missing: {secret_event}"
        );
    }
    assert_eq!(secret_event["line"], 2);
    assert_eq!(secret_event["key_id"], KEY_ID);
    assert_eq!(secret_event["redacted"], "V+Hg…");
    assert_eq!(secret_event["instance_id"], INSTANCE_ID);
    assert_eq!(secret_event["instance_account_id"], ACCOUNT);
    assert_eq!(secret_event["region"], "us-east-1");
    assert_eq!(secret_event["image_id"], "ami-0123456789abcdef0");
    assert!(secret_event["fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let summaries = events_of(&events, "summary");
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[0]["findings"], 4);
    assert_eq!(summaries[0]["credentials"], 3);
    assert_eq!(summaries[0]["new"], 4);
    assert_eq!(summaries[1]["resolved"], 2);
    assert_eq!(summaries[1]["role_status"], "fail");

    // Metrics: one data point per cycle, no dimensions.
    assert_eq!(metrics["HardcodedCredentials"]["sum"], 3.0 + 1.0);
    assert_eq!(metrics["HardcodedCredentials"]["count"], 2.0);
    assert_eq!(metrics["IMDSv1Open"]["max"], 1.0);
    assert_eq!(metrics["InstanceProfileMissing"]["max"], 0.0);
    assert_eq!(metrics["ScanErrors"]["sum"], 0.0);

    // No secret anywhere: the wire, what moto stored, the outbox and the state files.
    let wire = proxy.recorded();
    assert!(wire.len() > 1000, "the proxy saw the traffic");
    assert!(
        count(&wire, KEY_ID.as_bytes()) >= 2,
        "the events (with key ids) were recorded"
    );
    assert!(
        count(&wire, b"x-amz-security-token") > 0,
        "requests carried the role session token"
    );
    let planted = [SECRET, SECRET2, TOKEN, role_secret.as_str()];
    assert_no_secret(&wire, &planted);
    assert_no_secret(serde_json::to_string(&events).unwrap().as_bytes(), &planted);
    for f in std::fs::read_dir(&w.state).unwrap() {
        assert_no_secret(&std::fs::read(f.unwrap().path()).unwrap(), &planted);
    }
    assert_no_secret(format!("{d1:?}{d2:?}").as_bytes(), &planted);

    // Cycle 3: nothing changed; the steady state of a clean or unchanged host.
    let scan3 = scan_dir(&corpus);
    let changes = st.diff(&scan3.findings);
    assert!(changes.is_empty());
    let c3 = CycleReport::new(SystemTime::now(), Some(identity()), role(), &scan3, changes);
    let d3 = sink.report(&c3).await;
    assert!(d3.is_complete(), "{:?}", d3.errors);
    assert_eq!((d3.delivered_events, d3.delivered_datums), (1, 4));

    // Cost inputs, from the counts the sink made (printed for the README).
    let steady = d3.calls;
    let est = steady.monthly_estimate(Duration::from_secs(3600));
    eprintln!(
        "cloudwatch cost inputs: first cycle {}; one resolved-change cycle {}; steady cycle {}; \
         per instance-month at 1h: {}",
        serde_json::to_string(&first_cycle).unwrap(),
        serde_json::to_string(&d2.calls).unwrap(),
        serde_json::to_string(&steady).unwrap(),
        serde_json::to_string(&est).unwrap(),
    );
    assert_eq!(est.calls_per_month, 730 * 2);
    assert!(est.usd_per_instance_month < 0.01, "{est:?}");
    assert_eq!(sink.totals().put_metric_data.calls, 3);
    assert_eq!(steady.put_metric_data.calls, 1);
    assert_eq!(steady.put_log_events.calls, 1);
    assert_eq!(
        steady.create_log_stream.calls, 0,
        "the stream is created once"
    );
}

/// A wrong secret: moto answers SignatureDoesNotMatch, the sink says so and keeps the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_reported_and_data_stays_in_the_outbox() {
    let Some(w) = MotoWorld::start() else { return };
    let mut bad = w.moto.role("full");
    let good = bad.clone();
    let wrong = "wrongwrongwrongwrongwrongwrongwrongwrong";
    bad.secret_access_key = Sensitive::new(wrong);
    let mut sink = static_sink(&w.cfg, &w.state, bad);
    let cycle = cycle_of(&w.state, vec![synthetic("a"), synthetic("b")]);
    let d = sink.report(&cycle).await;
    assert_eq!(d.enqueued, 3 + 4);
    assert_eq!(d.delivered_events + d.delivered_datums, 0);
    assert_eq!(d.pending, 7, "everything stays in the outbox");
    let msg = d
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        d.errors.iter().any(
            |e| matches!(e, CloudWatchError::Auth { code, .. } if code == "SignatureDoesNotMatch")
        ),
        "{msg}"
    );
    assert!(
        msg.contains("SignatureDoesNotMatch") && msg.contains("127.0.0.1"),
        "{msg}"
    );
    assert_eq!(
        d.calls.put_metric_data.calls, 1,
        "auth errors are not retried"
    );
    assert_no_secret(msg.as_bytes(), &[wrong, good.session_token.expose()]);
    drop(sink);

    // With the right secret (a restart), the kept entries arrive.
    let mut sink = static_sink(&w.cfg, &w.state, good);
    assert_eq!(sink.pending(), 7, "the outbox survived the restart");
    let d = sink.flush().await;
    assert!(d.is_complete(), "{:?}", d.errors);
    assert_eq!((d.delivered_events, d.delivered_datums), (3, 4));
    let (events, _) = w.read();
    assert_eq!(events.len(), 3);
}

/// The endpoint goes away in the middle of a delivery and comes back: after recovery every
/// event and metric has arrived, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_mid_delivery_then_recovery_delivers_everything_exactly_once() {
    let Some((w, proxy)) = MotoWorld::start_proxied().await else {
        return;
    };
    let mut sink =
        CloudWatchSink::builder(&w.cfg, &w.state, StaticCredentials(w.moto.role("full")))
            .max_batch_events(2)
            .attempts(3)
            .backoff(Duration::from_millis(5), Duration::from_millis(20))
            .build()
            .unwrap();

    // Requests: PutMetricData, CreateLogStream (group missing), CreateLogGroup,
    // CreateLogStream, then PutLogEvents batches of 2. Cut after the first batch.
    proxy.stop_after(5);
    let ids: Vec<Finding> = (0..9).map(|i| synthetic(&format!("f{i}"))).collect();
    let c1 = cycle_of(&w.state, ids.clone());
    let d1 = sink.report(&c1).await;
    assert_eq!(d1.delivered_datums, 4);
    assert_eq!(
        d1.delivered_events, 2,
        "one batch got through before the cut"
    );
    assert_eq!(d1.pending, 8);
    assert!(
        d1.errors
            .iter()
            .any(|e| matches!(e, CloudWatchError::Network { .. })),
        "{:?}",
        d1.errors
    );
    assert!(
        d1.calls.put_log_events.calls >= 2,
        "the failed batch was retried"
    );

    // Another cycle during the outage: queued, not delivered.
    let mut more = ids.clone();
    more.push(synthetic("late"));
    let c2 = cycle_of(&w.state, more);
    let d2 = sink.report(&c2).await;
    assert_eq!(d2.delivered_events + d2.delivered_datums, 0);
    assert_eq!(d2.pending, 8 + 2 + 4);
    assert!(!d2.errors.is_empty());

    // Recovery.
    proxy.up();
    let d3 = sink.flush().await;
    assert!(d3.is_complete(), "{:?}", d3.errors);
    assert_eq!(d3.pending, 0);
    let (events, metrics) = w.read();
    let keys = finding_keys(&events);
    assert_eq!(keys.len(), 10, "{keys:?}");
    assert!(keys.values().all(|&n| n == 1), "duplicates: {keys:?}");
    assert_eq!(events_of(&events, "summary").len(), 2);
    assert_eq!(events.len(), 12);
    assert_eq!(metrics["HardcodedCredentials"]["count"], 2.0, "{metrics}");
    assert_eq!(metrics["HardcodedCredentials"]["sum"], 9.0 + 10.0);
    // Nothing left to send: a further flush makes no call.
    let d4 = sink.flush().await;
    assert_eq!(d4.calls.total_calls(), 0);
}

/// Child half of the SIGKILL test: queues a cycle and starts sending to a proxy that never
/// answers, until the parent kills it.
#[tokio::test]
#[ignore = "run by sigkill_between_write_and_send_then_restart_delivers_once"]
async fn crash_child() {
    let Ok(state) = std::env::var("CW_CRASH_STATE_DIR") else {
        return;
    };
    let endpoint = std::env::var("CW_CRASH_ENDPOINT").unwrap();
    let creds: Value = serde_json::from_str(&std::env::var("CW_CRASH_CREDS").unwrap()).unwrap();
    let rc = role_credentials("r", None, &creds);
    let state = PathBuf::from(state);
    let cfg = cw_config(&endpoint);
    let mut sink = static_sink(&cfg, &state, rc);
    let cycle = cycle_of(
        &state,
        (0..3).map(|i| synthetic(&format!("k{i}"))).collect(),
    );
    let _ = sink.report(&cycle).await;
    unreachable!("the parent kills this process while the send hangs");
}

/// SIGKILL between the durable write and the send: the restarted sink delivers everything,
/// once; a second restart sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_write_and_send_then_restart_delivers_once() {
    let Some(w) = MotoWorld::start() else { return };
    let hold = Proxy::start(w.moto.addr()).await;
    hold.shared.hold.store(true, Ordering::SeqCst);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "cloudwatch::crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CW_CRASH_STATE_DIR", &w.state)
        .env("CW_CRASH_ENDPOINT", hold.url())
        .env("CW_CRASH_CREDS", w.moto.creds["full"].to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the child has written its outbox and its first request is in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while hold.requests() == 0 {
        assert!(Instant::now() < deadline, "the child never sent");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child exited early"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let lines = std::fs::read_to_string(w.state.join(OUTBOX_FILE)).unwrap();
    assert_eq!(
        lines.lines().count(),
        1 + 4 + 4,
        "header + 4 events + 4 datums"
    );

    let mut sink = w.sink("full");
    assert_eq!(sink.pending(), 8);
    let d = sink.flush().await;
    assert!(d.is_complete(), "{:?}", d.errors);
    assert_eq!((d.delivered_events, d.delivered_datums), (4, 4));
    drop(sink);
    let mut sink = w.sink("full");
    let d = sink.flush().await;
    assert_eq!(d.calls.total_calls(), 0, "a restart does not resend");
    let (events, metrics) = w.read();
    assert_eq!(events.len(), 4);
    assert!(finding_keys(&events).values().all(|&n| n == 1));
    assert_eq!(metrics["HardcodedCredentials"]["count"], 1.0);
}

/// A role without logs:PutLogEvents: the error names the action and the stream ARN, the call
/// is made once, the events stay queued; the metrics (allowed) are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_names_the_missing_action_and_is_not_retried() {
    let Some(w) = MotoWorld::start() else { return };
    let mut sink = w.sink("limited");
    let cycle = cycle_of(&w.state, vec![synthetic("a")]);
    let d = sink.report(&cycle).await;
    assert_eq!(d.delivered_datums, 4);
    assert_eq!(d.delivered_events, 0);
    assert_eq!(d.pending, 2);
    assert_eq!(
        d.calls.put_log_events.calls, 1,
        "no retry loop on AccessDenied"
    );
    let denied = d
        .errors
        .iter()
        .find_map(|e| match e {
            CloudWatchError::AccessDenied {
                action, resource, ..
            } => Some((action.to_string(), resource.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{:?}", d.errors));
    assert_eq!(denied.0, "logs:PutLogEvents");
    assert_eq!(
        denied.1,
        format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/credhygiene/findings:log-stream:{INSTANCE_ID}")
    );
    let msg = d.errors[0].to_string();
    assert!(msg.contains("logs:PutLogEvents"), "{msg}");
}

/// A credential source that counts refreshes.
#[derive(Clone)]
struct Counting {
    creds: RoleCredentials,
    refreshes: Arc<AtomicUsize>,
}

impl CredentialSource for Counting {
    async fn credentials(&self) -> Result<RoleCredentials, CredentialError> {
        Ok(self.creds.clone())
    }
    async fn refresh(&self) -> Result<RoleCredentials, CredentialError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(self.creds.clone())
    }
}

/// Throttling and 5xx are retried with backoff; ExpiredToken makes the sink refresh its credentials
/// once and retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_5xx_are_retried_and_expired_token_refreshes_credentials_once() {
    let Some((w, proxy)) = MotoWorld::start_proxied().await else {
        return;
    };
    proxy.inject(
        "400 Bad Request",
        r#"{"__type":"GraniteServiceVersion20100801#ThrottlingException","message":"Rate exceeded"}"#,
    );
    proxy.inject("503 Service Unavailable", "");
    proxy.inject(
        "400 Bad Request",
        r#"{"__type":"com.amazonaws#ExpiredTokenException","message":"The security token included in the request is expired"}"#,
    );
    let refreshes = Arc::new(AtomicUsize::new(0));
    let source = Counting {
        creds: w.moto.role("full"),
        refreshes: refreshes.clone(),
    };
    let mut sink = CloudWatchSink::builder(&w.cfg, &w.state, source)
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .build()
        .unwrap();
    let d = sink.report(&cycle_of(&w.state, vec![synthetic("a")])).await;
    assert!(d.is_complete(), "{:?}", d.errors);
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(
        d.calls.put_metric_data.calls, 4,
        "throttled, 503, expired, then accepted"
    );
    assert_eq!(d.calls.put_metric_data.errors, 3);
    let (events, _) = w.read();
    assert_eq!(events.len(), 2);
}

/// Off EC2 the sink is inactive, says why, and nothing piles up in the outbox.
#[tokio::test]
async fn off_ec2_the_sink_is_inactive_and_queues_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let cfg = cw_config("http://127.0.0.1:9");
    let mut sink = CloudWatchSink::builder(
        &cfg,
        &state,
        NoCredentials("IMDS is disabled (AWS_EC2_METADATA_DISABLED)".into()),
    )
    .build()
    .unwrap();
    for instance in [None, Some(identity())] {
        let cycle = CycleReport::new(
            SystemTime::now(),
            instance,
            RoleSummary::default(),
            &ScanOutcome {
                findings: vec![synthetic("a")],
                ..ScanOutcome::default()
            },
            FindingChanges {
                new: vec![synthetic("a")],
                ..FindingChanges::default()
            },
        );
        let d = sink.report(&cycle).await;
        assert!(!d.active);
        assert!(d.inactive_reason.as_deref().unwrap().len() > 10);
        assert_eq!((d.enqueued, d.pending), (0, 0));
        assert_eq!(d.calls.total_calls(), 0);
    }
    assert!(sink.outbox().is_empty());
    // IMDS disabled in the config: the agent passes `None` for the credential source.
    let other = tmp.path().join("other");
    let mut off = CloudWatchSink::builder(&cfg, &other, None::<StaticCredentials>)
        .build()
        .unwrap();
    let d = off.report(&cycle_of(&other, vec![synthetic("a")])).await;
    assert!(!d.active);
    assert!(d
        .inactive_reason
        .unwrap()
        .contains("AWS_EC2_METADATA_DISABLED"));
    assert!(off.outbox().is_empty());
    let header_only = std::fs::read_to_string(state.join(OUTBOX_FILE)).unwrap();
    assert_eq!(header_only.lines().count(), 1);
}

/// The log group deleted behind the agent's back: PutLogEvents gets ResourceNotFound, the
/// sink re-creates group and stream once and delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_log_group_is_recreated() {
    let Some(w) = MotoWorld::start() else { return };
    let mut sink = w.sink("full");
    let d = sink.report(&cycle_of(&w.state, vec![synthetic("a")])).await;
    assert!(d.is_complete(), "{:?}", d.errors);
    run_script(
        &w.moto.python,
        "moto_delete_group.py",
        &[
            &w.moto.endpoint(),
            &w.moto.creds["full"].to_string(),
            &w.cfg.log_group,
        ],
    );
    let d = sink
        .report(&cycle_of(&w.state, vec![synthetic("a"), synthetic("b")]))
        .await;
    assert!(d.is_complete(), "{:?}", d.errors);
    assert_eq!(
        d.calls.put_log_events.calls, 2,
        "one refused, one after re-creation"
    );
    assert_eq!(d.calls.create_log_group.calls, 1);
    let (events, _) = w.read();
    assert_eq!(
        events.len(),
        2,
        "the new group holds the second cycle's events"
    );
}

/// While CloudWatch is unreachable the outbox stays within its bound: the oldest entries
/// are dropped, counted, and the count is reported (in the result and the summary event).
#[tokio::test]
async fn full_outbox_drops_the_oldest_and_reports_the_count() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    // A port nobody listens on: connection refused.
    let mut cfg = cw_config(&format!("http://127.0.0.1:{}", closed_port()));
    cfg.outbox_max_size = bytesize::ByteSize::kib(4);
    let creds = role_credentials(
        "r",
        None,
        &serde_json::json!({
            "AccessKeyId": "ASIAQQQQQQQQQQQQQQQQ",
            "SecretAccessKey": "unused-unused-unused-unused-unused-unuse",
            "SessionToken": "unused",
        }),
    );
    let mut sink = CloudWatchSink::builder(&cfg, &state, StaticCredentials(creds))
        .attempts(1)
        .build()
        .unwrap();
    let mut last = None;
    for i in 0..6 {
        let d = sink
            .report(&cycle_of(&state, vec![synthetic(&format!("c{i}"))]))
            .await;
        assert!(
            matches!(d.errors[0], CloudWatchError::Network { .. }),
            "{:?}",
            d.errors
        );
        assert!(sink.outbox().bytes() <= 4096);
        last = Some(d);
    }
    let last = last.unwrap();
    assert!(last.dropped > 0, "{last:?}");
    assert_eq!(last.pending as usize, sink.outbox().len());
    // The newest cycle is kept whole; its summary event reports the earlier drops.
    let summaries: Vec<Value> = sink
        .outbox()
        .entries()
        .filter_map(|e| match &e.item {
            credhygiene::report::cloudwatch::Item::Log { event, .. } => {
                let v: Value = serde_json::from_str(&event.message).unwrap();
                (v["event"] == "summary").then_some(v)
            }
            _ => None,
        })
        .collect();
    let newest = summaries.last().unwrap();
    assert!(
        newest["outbox"]["dropped"].as_u64().unwrap() > 0,
        "{newest}"
    );
    // The drop count survives a restart.
    let dropped = last.dropped;
    drop(sink);
    let ob: credhygiene::state::Outbox<credhygiene::report::cloudwatch::Item> =
        credhygiene::state::Outbox::open(&state, OUTBOX_FILE, 4096).unwrap();
    assert_eq!(ob.dropped(), dropped);
}

/// A cycle whose scan found `findings`, diffed against `state` and not committed.
fn uncommitted_cycle(state: &FindingState, findings: &[Finding]) -> CycleReport {
    let outcome = ScanOutcome {
        findings: findings.to_vec(),
        ..ScanOutcome::default()
    };
    CycleReport::new(
        SystemTime::now(),
        Some(identity()),
        role(),
        &outcome,
        state.diff(findings),
    )
}

/// Regression (outbox review, defect 2a): the finding state cannot be committed, so every
/// cycle computes the same changes from the same generation; each change is delivered once,
/// and the later cycles queue only their summary and metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_that_cannot_be_committed_does_not_deliver_a_change_twice() {
    let Some(w) = MotoWorld::start() else { return };
    let state_dir = &w.state;
    let mut sink = w.sink("full");
    let state = FindingState::load(state_dir).unwrap();
    let generation = state.generation();
    let findings = vec![synthetic("a"), synthetic("b")];
    for round in 0..3 {
        let d = sink
            .enqueue(&uncommitted_cycle(&state, &findings), &generation)
            .await;
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        let changes = if round == 0 { 2 } else { 0 };
        assert_eq!(d.enqueued, changes + 1 + 4, "round {round}");
        // ... the commit of findings.json fails here ...
        let f = sink.flush().await;
        assert!(f.is_complete(), "{:?}", f.errors);
        assert_eq!(f.delivered_events, changes + 1);
    }
    assert_eq!(sink.delivered().generation(), Some(generation.as_str()));
    assert_eq!(sink.delivered().len(), 2);
    // The state finally moves on: the delivered keys of the old generation are forgotten.
    let mut state = state;
    state.commit(state_dir, &findings).unwrap();
    let d = sink
        .enqueue(
            &uncommitted_cycle(&state, &findings[..1]),
            &state.generation(),
        )
        .await;
    assert_eq!(d.enqueued, 1 + 1 + 4, "b resolved");
    assert!(sink.flush().await.is_complete());
    assert_eq!(sink.delivered().len(), 1);

    let (events, _) = w.read();
    let keys = finding_keys(&events);
    assert_eq!(
        keys.keys()
            .map(|(id, c)| format!("{id}:{c}"))
            .collect::<Vec<_>>(),
        ["a:new", "b:new", "b:resolved"]
    );
    assert!(keys.values().all(|&n| n == 1), "duplicates: {keys:?}");
    assert_eq!(events_of(&events, "summary").len(), 4);
    let delivered = std::fs::read(state_dir.join(DELIVERED_FILE)).unwrap();
    assert_no_secret(&delivered, &[SECRET, SECRET2, TOKEN]);
}

/// Regression (outbox review, defect 2b): the agent dies after queueing a cycle's changes and
/// before committing the finding state; after the restart the outbox retry flushes them
/// before the first cycle, which then computes the same changes from the same state. They are
/// not queued again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_before_the_first_cycle_after_a_restart_does_not_deliver_a_change_twice() {
    let Some(w) = MotoWorld::start() else { return };
    let state_dir = &w.state;
    let state = FindingState::load(state_dir).unwrap();
    let findings: Vec<Finding> = (0..3).map(|i| synthetic(&format!("r{i}"))).collect();
    {
        let mut sink = w.sink("full");
        let d = sink
            .enqueue(&uncommitted_cycle(&state, &findings), &state.generation())
            .await;
        assert_eq!(d.enqueued, 3 + 1 + 4);
        // Killed here: findings.json not committed, nothing sent.
    }
    let mut sink = w.sink("full");
    assert_eq!(sink.pending(), 8);
    let retry = sink.flush().await;
    assert!(retry.is_complete(), "{:?}", retry.errors);
    assert_eq!(retry.delivered_events, 4);
    drop(sink); // and once more, to show the record is on disk, not only in memory
    let mut sink = w.sink("full");
    let state = FindingState::load(state_dir).unwrap();
    let d = sink
        .enqueue(&uncommitted_cycle(&state, &findings), &state.generation())
        .await;
    assert_eq!(d.enqueued, 1 + 4, "the changes are not queued again");
    state.clone().commit(state_dir, &findings).unwrap();
    assert!(sink.flush().await.is_complete());

    let (events, metrics) = w.read();
    let keys = finding_keys(&events);
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.values().all(|&n| n == 1), "duplicates: {keys:?}");
    assert_eq!(events_of(&events, "summary").len(), 2);
    assert_eq!(metrics["HardcodedCredentials"]["count"], 2.0, "{metrics}");
}

// ---------------------------------------------------------------------------------------------
// The whole agent: `credhygiene run --once`, role credentials served by the IMDS emulator

/// What the agent runs against, end to end (see [`agent_world`]).
struct AgentWorld {
    moto: Moto,
    /// The recording proxy in front of moto: the agent's CloudWatch endpoint.
    proxy: Proxy,
    emu: Emulator,
    /// A temporary directory: the planted tree in `srv`, the agent's state in `state`.
    dir: tempfile::TempDir,
    /// The planted tree (see [`plant_corpus`]), the one scanned path.
    tree: PathBuf,
    /// The agent's config file (see [`agent_config`]).
    cfg: PathBuf,
}

/// moto, a recording proxy in front of it, the IMDS emulator serving moto STS credentials
/// of the "full" role for instance [`INSTANCE_ID`] (IMDSv1 open, planted user-data), and an
/// agent config over a planted tree that runs a cycle every `interval`.
async fn agent_world(interval: &str) -> Option<AgentWorld> {
    let moto = Moto::start()?;
    let proxy = Proxy::start(moto.addr()).await;
    let full = &moto.creds["full"];
    let expiration =
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600));
    let identity: Value = serde_json::json!({
        "accountId": ACCOUNT, "architecture": "x86_64", "availabilityZone": "us-east-1a",
        "billingProducts": null, "imageId": "ami-0abcdef1234567890", "instanceId": INSTANCE_ID,
        "instanceType": "t3.micro", "pendingTime": "2026-11-25T08:00:00Z",
        "privateIp": "10.0.0.12", "region": "us-east-1", "version": "2017-09-30"
    });
    let emu = Emulator::start(serde_json::json!({
        "v1_open": true,
        "role": full["RoleName"],
        "identity": identity,
        "user_data": format!("#!/bin/bash\nexport AWS_SECRET_ACCESS_KEY={SECRET2}\n"),
        "credentials": {
            "Code": "Success", "Type": "AWS-HMAC",
            "AccessKeyId": full["AccessKeyId"], "SecretAccessKey": full["SecretAccessKey"],
            "Token": full["SessionToken"], "Expiration": expiration.to_string(),
            "LastUpdated": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }));
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("srv");
    plant_corpus(&tree);
    let cfg = agent_config(dir.path(), &tree, interval);
    Some(AgentWorld {
        moto,
        proxy,
        emu,
        dir,
        tree,
        cfg,
    })
}

/// An agent config over `tree` with its state in `dir/state`.
fn agent_config(dir: &Path, tree: &Path, interval: &str) -> PathBuf {
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"{interval}\"\nsplay = \"0s\"\nstate_dir = \"{}\"\n[scan]\npaths = [\"{}\"]\nenv_files = []\nprocesses = false\n",
            dir.join("state").display(),
            tree.display()
        ),
    )
    .unwrap();
    cfg
}

/// The agent binary, pointed at the emulator and (through the proxy) at moto.
fn agent_command(cfg: &Path, imds: &str, cw: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("credhygiene"));
    cmd.args(["-vv", "--config", cfg.to_str().unwrap()])
        .args(args)
        .env_remove("CREDHYGIENE_CONFIG")
        .env("AWS_EC2_METADATA_DISABLED", "false")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds)
        .env("AWS_ENDPOINT_URL", cw);
    cmd
}

/// Every event in the instance's stream and the metric statistics, read back with boto3.
async fn read_back(moto: &Moto) -> (Vec<Value>, Value) {
    let cw_cfg = cw_config(&moto.endpoint());
    let python = moto.python.clone();
    let endpoint = moto.endpoint();
    let creds = moto.creds["full"].to_string();
    tokio::task::spawn_blocking(move || read_moto(&python, &endpoint, &creds, &cw_cfg))
        .await
        .unwrap()
}

/// One `credhygiene run --once` of the agent (see [`agent_command`]), off the async runtime.
async fn run_once(cfg: &Path, imds: &str, cw: &str) -> Output {
    let (cfg, imds, cw) = (cfg.to_path_buf(), imds.to_string(), cw.to_string());
    tokio::task::spawn_blocking(move || {
        agent_command(&cfg, &imds, &cw, &["run", "--once"])
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// The binary end to end: moto STS credentials served through the IMDS emulator, a planted
/// tree and planted user-data, two `run --once` cycles through a recording proxy; boto3 reads
/// back the events and metrics, and no secret (planted, or the role's own) crossed the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_reports_to_moto_with_credentials_from_the_imds_emulator() {
    let Some(w) = agent_world("1h").await else {
        return;
    };
    let full = w.moto.creds["full"].clone();
    let first = run_once(&w.cfg, &w.emu.endpoint(), &w.proxy.url()).await;
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(text.contains("role check: fail"), "IMDSv1 is open: {text}");
    assert!(text.contains(", 0 pending"), "everything delivered: {text}");
    let second = run_once(&w.cfg, &w.emu.endpoint(), &w.proxy.url()).await;
    let text2 = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(text2.contains("0 new, 0 resolved"), "{text2}");

    let (events, metrics) = read_back(&w.moto).await;
    let findings = events_of(&events, "finding");
    let summaries = events_of(&events, "summary");
    assert_eq!(summaries.len(), 2, "one summary per cycle");
    assert!(!findings.is_empty());
    assert!(findings
        .iter()
        .all(|e| e["change"] == "new" && e["instance_id"] == INSTANCE_ID));
    assert!(
        findings
            .iter()
            .any(|e| e["source"] == "user_data" && e["path"] == "imds:/latest/user-data"),
        "user-data finding reported: {findings:#?}"
    );
    let ids: std::collections::BTreeSet<_> = findings.iter().map(|e| e["id"].to_string()).collect();
    assert_eq!(ids.len(), findings.len(), "no finding event twice");
    assert_eq!(metrics["IMDSv1Open"]["max"], 1.0, "{metrics}");
    assert_eq!(metrics["InstanceProfileMissing"]["max"], 0.0, "{metrics}");
    assert!(
        metrics["HardcodedCredentials"]["max"].as_f64().unwrap() >= 2.0,
        "{metrics}"
    );

    // Nothing secret crossed the wire: planted secrets, and the role's own secret and token
    // (those go only into the signature and the security-token header, never the body).
    let secrets = w.moto.secrets();
    let wire = w.proxy.recorded();
    assert!(!wire.is_empty());
    // All but the session token, which the x-amz-security-token header carries.
    assert_no_secret(&wire, &secrets[..4]);
    for out in [&first, &second] {
        assert_no_secret(&out.stdout, &secrets);
        assert_no_secret(&out.stderr, &secrets);
    }
    // The credentials came from the emulator over IMDSv2.
    assert!(!w
        .emu
        .requests(
            "GET",
            &format!(
                "/latest/meta-data/iam/security-credentials/{}",
                full["RoleName"].as_str().unwrap()
            )
        )
        .is_empty());
}

/// The daemon killed with SIGKILL at arbitrary points of its cycles and restarted, a key added
/// and a file cleaned along the way, then stopped with SIGTERM while CloudWatch is unreachable
/// (the outbox keeps what could not be sent), and finally one `run --once` once CloudWatch is
/// back: every finding change reached CloudWatch, and none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_killed_and_stopped_mid_cycle_loses_and_repeats_nothing() {
    let Some(w) = agent_world("1s").await else {
        return;
    };
    // Bulk, so that cycles take a while and the kills land inside them.
    let blob = vec![b'a'; 4 << 20];
    for i in 0..8 {
        std::fs::write(w.tree.join(format!("blob{i}")), &blob).unwrap();
    }
    let (imds, cw) = (w.emu.endpoint(), w.proxy.url());
    for (round, delay_ms) in [600u64, 150, 900, 40, 1300, 400, 2200]
        .into_iter()
        .enumerate()
    {
        if round == 2 {
            std::fs::write(
                w.tree.join("late.env"),
                "AWS_ACCESS_KEY_ID=AKIAU5TZVBXQWVFUYTU4\n",
            )
            .unwrap();
        }
        if round == 4 {
            std::fs::remove_file(w.tree.join("app/config.ini")).unwrap();
        }
        let mut child = agent_command(&w.cfg, &imds, &cw, &["run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        child.kill().unwrap();
        child.wait().unwrap();
    }

    // CloudWatch goes away; a new key is found and queued; SIGTERM stops the daemon cleanly.
    w.proxy.down();
    std::fs::write(
        w.tree.join("later.env"),
        "AWS_ACCESS_KEY_ID=ASIAVW3SHZU7JUMHF7CT\n",
    )
    .unwrap();
    let child = agent_command(&w.cfg, &imds, &cw, &["run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    send_signal(child.id(), "TERM");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_exit(&out, 0);
    assert!(out.stdout.is_empty(), "the daemon keeps stdout clean");
    let outbox = std::fs::read(w.dir.path().join("state").join(OUTBOX_FILE)).unwrap();
    assert!(
        count(&outbox, b"ASIAVW3SHZU7JUMHF7CT") >= 1,
        "the new finding waits in the outbox"
    );

    // CloudWatch is back: one more cycle delivers everything that waits.
    w.proxy.up();
    let last = run_once(&w.cfg, &imds, &cw).await;
    let text = String::from_utf8_lossy(&last.stdout).into_owned();
    assert_eq!(last.status.code(), Some(0), "{text}");
    assert!(
        text.contains("0 new, 0 resolved") && text.contains(", 0 pending"),
        "{text}"
    );

    let (events, _) = read_back(&w.moto).await;
    let keys = finding_keys(&events);
    let twice: Vec<_> = keys.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "changes delivered twice: {twice:?}");
    let new: std::collections::BTreeSet<&str> = keys
        .keys()
        .filter(|(_, c)| c == "new")
        .map(|(id, _)| id.as_str())
        .collect();
    let resolved: std::collections::BTreeSet<&str> = keys
        .keys()
        .filter(|(_, c)| c == "resolved")
        .map(|(id, _)| id.as_str())
        .collect();
    assert!(
        resolved.is_subset(&new),
        "resolved only what was reported new"
    );
    assert_eq!(
        resolved.len(),
        2,
        "config.ini held a secret and a token: {keys:?}"
    );
    // What CloudWatch believes is present is exactly what the agent's state holds.
    let state: Value = serde_json::from_slice(
        &std::fs::read(w.dir.path().join("state").join("findings.json")).unwrap(),
    )
    .unwrap();
    let present: std::collections::BTreeSet<&str> = state["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    let believed: std::collections::BTreeSet<&str> = new.difference(&resolved).copied().collect();
    assert_eq!(believed, present);
    assert!(events_of(&events, "finding")
        .iter()
        .any(|e| e["key_id"] == "ASIAVW3SHZU7JUMHF7CT"));
}

/// Regression (outbox review, defect 2a), end to end: `findings.json` cannot be written (a
/// directory has its name), so every `run --once` computes the same changes; CloudWatch gets
/// each of them once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_with_an_unwritable_finding_state_delivers_each_change_once() {
    let Some(w) = agent_world("1h").await else {
        return;
    };
    let blocker = w.dir.path().join("state").join("findings.json");
    std::fs::create_dir_all(blocker.join("blocked")).unwrap();
    let mut outputs = Vec::new();
    for _ in 0..3 {
        let out = run_once(&w.cfg, &w.emu.endpoint(), &w.proxy.url()).await;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(text.contains(", 0 pending"), "{text}\n{err}");
        assert!(err.contains("cannot write the finding state"), "{err}");
        // Delivered, but the state did not move on: an operator must look (exit 3).
        assert!(text.contains("state:      not saved"), "{text}");
        assert_eq!(out.status.code(), Some(3), "{text}\n{err}");
        outputs.push(out);
    }
    let (events, _) = read_back(&w.moto).await;
    let keys = finding_keys(&events);
    assert!(keys.len() >= 4, "{keys:?}");
    assert!(keys.keys().all(|(_, c)| c == "new"));
    let twice: Vec<_> = keys.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "changes delivered twice: {twice:?}");
    assert_eq!(events_of(&events, "summary").len(), 3);
    let secrets = w.moto.secrets();
    for out in &outputs {
        assert_no_secret(&out.stdout, &secrets);
        assert_no_secret(&out.stderr, &secrets);
    }
    for f in std::fs::read_dir(w.dir.path().join("state")).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            assert_no_secret(&std::fs::read(&p).unwrap(), &secrets);
        }
    }
}

/// A `run --once` while IMDS is throttled (the sink is inactive, and this is the process's
/// first cycle) must not move the finding state on: the host delivered before, so the change
/// waits for the next run, which delivers it. The throttled run says so and exits 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_with_imds_throttled_keeps_its_changes_for_the_next_run() {
    let Some(w) = agent_world("1h").await else {
        return;
    };
    let first = run_once(&w.cfg, &w.emu.endpoint(), &w.proxy.url()).await;
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );
    std::fs::write(
        w.tree.join("late.env"),
        format!("AWS_ACCESS_KEY_ID={KEY_ID}\n"),
    )
    .unwrap();

    w.emu.control(serde_json::json!({"throttle": 1000000}));
    let second = run_once(&w.cfg, &w.emu.endpoint(), &w.proxy.url()).await;
    let text2 = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(text2.contains("changes not sent"), "{text2}");
    assert_eq!(second.status.code(), Some(3), "{text2}");
    let state = std::fs::read_to_string(w.dir.path().join("state/findings.json")).unwrap();
    assert!(
        !state.contains("late.env"),
        "the state moved on without spooling"
    );

    w.emu.control(serde_json::json!({"throttle": 0}));
    let third = run_once(&w.cfg, &w.emu.endpoint(), &w.proxy.url()).await;
    let text3 = String::from_utf8_lossy(&third.stdout).into_owned();
    assert_eq!(third.status.code(), Some(0), "{text3}");
    let (events, _) = read_back(&w.moto).await;
    let late = changes_of(&events, "late.env");
    assert_eq!(late, ["new"], "{text3}");
}

/// The `change` fields of the finding events for paths ending in `suffix`, in order.
fn changes_of(events: &[Value], suffix: &str) -> Vec<String> {
    events_of(events, "finding")
        .into_iter()
        .filter(|e| e["path"].as_str().unwrap_or("").ends_with(suffix))
        .map(|e| e["change"].as_str().unwrap_or("").to_string())
        .collect()
}

/// A daemon with `-vv` whose stderr lines arrive on a channel.
struct LoggedDaemon {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl LoggedDaemon {
    fn start(w: &AgentWorld) -> LoggedDaemon {
        let mut child = agent_command(&w.cfg, &w.emu.endpoint(), &w.proxy.url(), &["run"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(l);
            }
        });
        LoggedDaemon {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the next `cycle complete` line; returns it.
    fn next_cycle(&mut self) -> String {
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < end {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(l.clone());
                if l.contains("cycle complete") {
                    return l;
                }
            }
        }
        panic!("no cycle within 30 s:\n{}", self.seen.join("\n"));
    }

    fn stop(mut self) -> Vec<String> {
        send_signal(self.child.id(), "TERM");
        let _ = self.child.wait();
        self.seen.extend(self.lines.try_iter());
        self.seen
    }
}

/// While `findings.json` cannot be replaced (immutable), the daemon diffs against the state
/// it could not write: a finding that comes and goes is delivered as new, then resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_finding_state_still_reports_a_finding_that_comes_and_goes() {
    let Some(w) = agent_world("2s").await else {
        return;
    };
    let state_file = w.dir.path().join("state").join("findings.json");
    let chattr = |flag: &str| {
        let ok = Command::new("chattr").arg(flag).arg(&state_file).status();
        assert!(
            ok.unwrap().success(),
            "chattr {flag} (needs root and ext4/xfs)"
        );
    };
    let mut d = LoggedDaemon::start(&w);
    d.next_cycle();
    chattr("+i");
    let late = w.tree.join("late.env");
    std::fs::write(&late, format!("AWS_ACCESS_KEY_ID={KEY_ID}\n")).unwrap();
    let added = d.next_cycle();
    assert!(added.contains("new=1"), "{added}");
    std::fs::remove_file(&late).unwrap();
    let removed = d.next_cycle();
    assert!(removed.contains("resolved=1"), "{removed}");
    chattr("-i");
    let quiet = d.next_cycle();
    assert!(quiet.contains("new=0 resolved=0"), "{quiet}");
    let log = d.stop().join("\n");
    assert!(log.contains("cannot write the finding state"), "{log}");
    let (events, _) = read_back(&w.moto).await;
    assert_eq!(
        changes_of(&events, "late.env"),
        ["new", "resolved"],
        "{log}"
    );
}

/// A daemon started while another credhygiene process holds the outbox lock (here `flock`,
/// as a `run --once` would) opens the sink again once the lock is free, and reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_started_beside_a_locked_outbox_reports_once_it_is_free() {
    let Some(w) = agent_world("2s").await else {
        return;
    };
    let state = w.dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let mut holder = Command::new("flock")
        .arg(state.join(format!("{OUTBOX_FILE}.lock")))
        .args(["sleep", "2"])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut d = LoggedDaemon::start(&w);
    let first = d.next_cycle();
    holder.wait().unwrap();
    let mut log = first;
    for _ in 0..3 {
        log = d.next_cycle();
        if log.contains("new=") && !log.contains("new=0") {
            break;
        }
    }
    let seen = d.stop().join("\n");
    assert!(seen.contains("the outbox is free again"), "{seen}");
    let (events, _) = read_back(&w.moto).await;
    assert!(
        !events_of(&events, "finding").is_empty(),
        "nothing reached CloudWatch: {log}\n{seen}"
    );
}
