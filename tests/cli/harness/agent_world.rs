//! The whole agent against moto: the `credhygiene` binary with role credentials served by
//! the IMDS emulator, reporting through a recording proxy and a model-checking front, over
//! HTTP or HTTPS (see [`agent_world`] and [`agent_world_with`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::fixtures::{plant_corpus, ACCOUNT, INSTANCE_ID};
use super::front::{Front, FrontOptions, TestCa};
use super::moto::Moto;
use super::proxy::Proxy;
use crate::common::{send_signal, SECRET2};
use crate::imds_emulator::Emulator;

/// What the agent runs against, end to end (see [`agent_world`]).
pub struct AgentWorld {
    /// The emulator the agent reports to.
    pub moto: Moto,
    /// Checks every request against the service model, before moto (the test fails on a
    /// rejection).
    pub front: Front,
    /// The recording proxy in front of the front: the agent's CloudWatch endpoint. Over
    /// HTTPS it sees only TLS records: [`Front::bodies`] holds what was sent.
    pub proxy: Proxy,
    /// The test CA, when the agent reports over HTTPS.
    pub ca: Option<TestCa>,
    /// The IMDS emulator: the agent's instance metadata and role credentials.
    pub emu: Emulator,
    /// A temporary directory: the planted tree in `srv`, the agent's state in `state`.
    pub dir: tempfile::TempDir,
    /// The planted tree (see [`plant_corpus`]), the one scanned path.
    pub tree: PathBuf,
    /// The agent's config file (see [`agent_config`]).
    pub cfg: PathBuf,
}

/// How the agent reaches CloudWatch in an [`AgentWorld`].
#[derive(Debug, Default, Clone, Copy)]
pub struct WorldOptions {
    /// HTTPS, with a certificate of a test CA (the agent must be given the CA,
    /// [`AgentWorld::trusting`]).
    pub tls: bool,
    /// The service's clock is this host's plus this many seconds ([`FrontOptions`]).
    pub clock_offset: i64,
}

/// [`agent_world_with`] over plain HTTP with the service's clock right.
pub async fn agent_world(interval: &str) -> Option<AgentWorld> {
    agent_world_with(interval, WorldOptions::default()).await
}

/// moto behind a model-checking front (HTTPS when `opts.tls`) and a recording proxy, the
/// IMDS emulator serving moto STS credentials of the "full" role for instance
/// [`INSTANCE_ID`] (IMDSv1 open, planted user-data), and an agent config over a planted tree
/// that runs a cycle every `interval`.
pub async fn agent_world_with(interval: &str, opts: WorldOptions) -> Option<AgentWorld> {
    let moto = Moto::start()?;
    let ca = opts.tls.then(|| TestCa::make(moto.python()));
    let front = moto.front(FrontOptions {
        tls: ca.as_ref(),
        clock_offset: opts.clock_offset,
    });
    let proxy = Proxy::start(front.addr()).await;
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
        front,
        proxy,
        ca,
        emu,
        dir,
        tree,
        cfg,
    })
}

impl AgentWorld {
    /// The agent's CloudWatch endpoint: the proxy, `https://` when the front speaks TLS.
    pub fn cw_url(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.proxy.addr())
    }

    /// The environment that makes the agent trust `ca` alone (`SSL_CERT_FILE`, as the AWS
    /// SDKs and OpenSSL read it).
    pub fn trusting(ca: &Path) -> Vec<(String, String)> {
        vec![("SSL_CERT_FILE".into(), ca.display().to_string())]
    }

    /// One `run --once` against this world, with `env` added.
    pub async fn run_once_env(&self, env: Vec<(String, String)>) -> Output {
        run_once_with(&self.cfg, &self.emu.endpoint(), &self.cw_url(), env).await
    }
}

/// An agent config over `tree` with its state in `dir/state`; Systems Manager off (these are
/// CloudWatch's tests; `AWS_ENDPOINT_URL` would send its calls to moto's front).
fn agent_config(dir: &Path, tree: &Path, interval: &str) -> PathBuf {
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"{interval}\"\nsplay = \"0s\"\nfirst_contact_splay = \"0s\"\nstate_dir = \"{}\"\n[scan]\npaths = [\"{}\"]\nenv_files = []\nprocesses = false\n[ssm]\ncompliance = false\n",
            dir.join("state").display(),
            tree.display()
        ),
    )
    .unwrap();
    cfg
}

/// The agent binary, pointed at the emulator and (through the proxy) at moto.
pub fn agent_command(cfg: &Path, imds: &str, cw: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("credhygiene"));
    cmd.args(["-vv", "--config", cfg.to_str().unwrap()])
        .args(args)
        .env_remove("CREDHYGIENE_CONFIG")
        .env("AWS_EC2_METADATA_DISABLED", "false")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds)
        .env("AWS_ENDPOINT_URL", cw);
    cmd
}

/// One `credhygiene run --once` of the agent (see [`agent_command`]), off the async runtime.
pub async fn run_once(cfg: &Path, imds: &str, cw: &str) -> Output {
    run_once_with(cfg, imds, cw, Vec::new()).await
}

/// [`run_once`] with `env` added to the agent's environment (`SSL_CERT_DIR` removed, so that
/// an `SSL_CERT_FILE` there is the only source of roots).
async fn run_once_with(cfg: &Path, imds: &str, cw: &str, env: Vec<(String, String)>) -> Output {
    let (cfg, imds, cw) = (cfg.to_path_buf(), imds.to_string(), cw.to_string());
    tokio::task::spawn_blocking(move || {
        agent_command(&cfg, &imds, &cw, &["run", "--once"])
            .env_remove("SSL_CERT_DIR")
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// A daemon with `-vv` whose stderr lines arrive on a channel.
pub struct LoggedDaemon {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl LoggedDaemon {
    /// Starts `credhygiene run` in `w`.
    pub fn start(w: &AgentWorld) -> LoggedDaemon {
        LoggedDaemon::spawn(agent_command(
            &w.cfg,
            &w.emu.endpoint(),
            &w.proxy.url(),
            &["run"],
        ))
    }

    /// Starts `cmd` (a daemon with `-vv`, e.g. from [`agent_command`]), its stderr read.
    pub fn spawn(mut cmd: Command) -> LoggedDaemon {
        let mut child = cmd
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
    pub fn next_cycle(&mut self) -> String {
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

    /// Stops the daemon with SIGTERM; returns every stderr line it wrote.
    pub fn stop(self) -> Vec<String> {
        self.end("TERM")
    }

    /// Kills the daemon with SIGKILL (no clean-up of any kind); returns every stderr line it
    /// wrote.
    pub fn kill(self) -> Vec<String> {
        self.end("KILL")
    }

    fn end(mut self, sig: &str) -> Vec<String> {
        send_signal(self.child.id(), sig);
        let _ = self.child.wait();
        self.seen.extend(self.lines.try_iter());
        self.seen
    }
}
