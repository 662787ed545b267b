//! The model-checking front (`tests/aws/front.py`) that the CloudWatch tests put in front of
//! moto: every request the agent sends is checked against the service model botocore ships
//! (operation, protocol headers, required members, types, enums, length limits, patterns;
//! see `tests/aws/model_check.py`) and recorded with its body, then forwarded. A request the
//! model rejects fails the test: [`Front`] panics when dropped with rejections on record
//! (unless the test expects them, [`Front::expect_rejections`]).
//!
//! It can also speak HTTPS with a certificate of a test CA ([`TestCa`], made per test), and
//! play a service whose clock differs from this host's ([`FrontOptions::clock_offset`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The certificates of one TLS test (`tests/aws/make_ca.py`): a CA, a server certificate it
/// signed for 127.0.0.1, and an unrelated CA.
pub struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    /// Makes a new CA and server certificate with the venv's `python`.
    pub fn make(python: &Path) -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        super::moto::run_ok(
            Command::new(python)
                .arg(script("make_ca.py"))
                .arg(dir.path()),
            "make_ca.py",
        );
        TestCa { dir }
    }

    /// The CA that signed the server certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A CA that did not sign it (PEM).
    pub fn other_ca(&self) -> PathBuf {
        self.dir.path().join("other-ca.pem")
    }

    fn server(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("server.pem"),
            self.dir.path().join("server.key"),
        )
    }
}

/// How a [`Front`] behaves beyond checking and forwarding.
#[derive(Default, Clone, Copy)]
pub struct FrontOptions<'a> {
    /// Speak HTTPS with this CA's server certificate.
    pub tls: Option<&'a TestCa>,
    /// The service's clock is this host's plus this many seconds: requests signed more than
    /// 5 minutes from it are refused as AWS refuses them.
    pub clock_offset: i64,
}

/// A running `front.py` on 127.0.0.1, killed when dropped.
pub struct Front {
    child: Child,
    port: u16,
    tls: bool,
    record: PathBuf,
    _dir: tempfile::TempDir,
    expect_rejections: bool,
}

/// `tests/aws/NAME`.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/aws")
        .join(name)
}

impl Front {
    /// Starts a front forwarding to `upstream` (`http://127.0.0.1:PORT`) with the venv's
    /// `python`.
    pub fn start(python: &Path, upstream: &str, opts: FrontOptions<'_>) -> Front {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("record.jsonl");
        let mut cmd = Command::new(python);
        cmd.arg(script("front.py"))
            .arg(upstream)
            .arg(&record)
            .arg("--clock-offset")
            .arg(opts.clock_offset.to_string());
        if let Some(ca) = opts.tls {
            let (cert, key) = ca.server();
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start front.py");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("front.py prints its port");
        Front {
            child,
            port,
            tls: opts.tls.is_some(),
            record,
            _dir: dir,
            expect_rejections: false,
        }
    }

    /// `http(s)://127.0.0.1:PORT`, for an endpoint setting.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Where it listens, for a [`super::proxy::Proxy`] in front of it.
    pub fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// Every record so far: requests (`operation`, `errors`, `body`, `status`, and
    /// `skew_rejected` when refused for the clock) and failed TLS handshakes (`tls_error`).
    pub fn records(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.record).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The request records.
    pub fn requests(&self) -> Vec<Value> {
        let mut r = self.records();
        r.retain(|e| e.get("tls_error").is_none());
        r
    }

    /// The requests the model rejected.
    pub fn rejected(&self) -> Vec<Value> {
        let mut r = self.requests();
        r.retain(|e| !e["errors"].as_array().unwrap().is_empty());
        r
    }

    /// Every request body, one after another (to search for secrets).
    pub fn bodies(&self) -> Vec<u8> {
        self.requests()
            .iter()
            .flat_map(|e| e["body"].as_str().unwrap().as_bytes().to_vec())
            .collect()
    }

    /// The operations of the requests, in order (`logs.PutLogEvents` …).
    pub fn operations(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|e| e["operation"].as_str().unwrap_or("?").to_string())
            .collect()
    }

    /// The test sends invalid requests on purpose: no check when dropped.
    pub fn expect_rejections(&mut self) {
        self.expect_rejections = true;
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.expect_rejections || std::thread::panicking() {
            return;
        }
        let rejected = self.rejected();
        assert!(
            rejected.is_empty(),
            "the service model rejects requests the agent sent:\n{}",
            rejected
                .iter()
                .map(|e| format!("{} {}", e["operation"], e["errors"]))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
