//! `credhygiene status`: the state directory as an operator sees it, beside a real daemon (IMDS
//! and CloudWatch off), after `run --once`, and when the state cannot be read.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{assert_exit, assert_no_secret, credhygiene, send_signal, KEY_ID, SECRET};

/// A host: a tree to scan and a config whose state directory is not created yet.
struct Host {
    dir: tempfile::TempDir,
    root: PathBuf,
    cfg: PathBuf,
}

impl Host {
    fn new(interval: &str) -> Host {
        let dir = tempfile::tempdir().unwrap();
        // Readable by the unprivileged user of the permission test, except the state itself.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().join("srv");
        fs::create_dir_all(&root).unwrap();
        let cfg = dir.path().join("credhygiene.toml");
        let text = crate::common::offline_config(
            &dir.path().join("state"),
            &root,
            &format!("interval = \"{interval}\"\n"),
            "",
        );
        fs::write(&cfg, text).unwrap();
        Host { dir, root, cfg }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn plant_key(&self) {
        let creds = format!("aws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n");
        fs::write(self.root.join("credentials"), creds).unwrap();
    }

    /// `credhygiene --config CFG ARGS…`, whose output holds no secret.
    fn run(&self, args: &[&str]) -> std::process::Output {
        let out = credhygiene()
            .args(["--config", self.cfg.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert_no_secret(&out.stdout, &[SECRET]);
        out
    }

    /// `status` as text.
    fn status_text(&self) -> String {
        String::from_utf8_lossy(&self.run(&["status"]).stdout).into_owned()
    }

    /// `status --format json`: exit code and document (none when stdout is empty).
    fn status(&self) -> (i32, Option<Value>, String) {
        let out = self.run(&["status", "--format", "json"]);
        let doc = serde_json::from_slice(&out.stdout).ok();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code().unwrap_or(-1), doc, err)
    }

    /// `status` exits 3 and says no daemon runs, `daemon.pid` naming `pid`; returns the
    /// document.
    fn assert_not_running(&self, pid: Value) -> Value {
        let (code, doc, err) = self.status();
        let doc = doc.unwrap_or_else(|| panic!("no status document: {err}"));
        assert_eq!(code, 3, "{doc:#}");
        assert_eq!(
            doc["daemon"],
            serde_json::json!({"running": false, "pid": pid})
        );
        doc
    }

    /// Polls `status` until `done` holds for its document.
    fn wait_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> (i32, Value) {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let (code, Some(doc), _) = self.status() {
                if done(&doc) {
                    return (code, doc);
                }
                assert!(Instant::now() < end, "no status with {what}: {doc:#}");
            }
            assert!(
                Instant::now() < end,
                "no readable status waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn start_daemon(&self) -> Child {
        Command::new(assert_cmd::cargo::cargo_bin("credhygiene"))
            .args(["--config", self.cfg.to_str().unwrap(), "run"])
            .env_remove("CREDHYGIENE_CONFIG")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    })
}

fn by_daemon(doc: &Value) -> bool {
    doc["last_cycle"]["by"] == "daemon" && doc["daemon"]["running"] == true
}

#[test]
fn a_missing_state_directory_is_exit_3_with_a_sentence_naming_it() {
    let host = Host::new("1h");
    let (code, doc, err) = host.status();
    assert_eq!(code, 3, "{err}");
    assert!(doc.is_none());
    let want = format!(
        "credhygiene: error: cannot read the state directory {}: No such file or directory",
        host.state().display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(
        !host.state().exists(),
        "status must not create the state directory"
    );
}

#[test]
fn a_state_directory_the_user_may_not_read_says_to_run_as_root() {
    let host = Host::new("1h");
    assert_exit(&host.run(&["run", "--once"]), 0);
    let bin = assert_cmd::cargo::cargo_bin("credhygiene");
    // As root, drop to nobody (the state directory is 0700 root); otherwise take the rights away.
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        fs::set_permissions(host.state(), fs::Permissions::from_mode(0o000)).unwrap();
        Command::new(&bin)
    };
    let out = cmd
        .env_remove("CREDHYGIENE_CONFIG")
        .args(["--config", host.cfg.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let want = format!(
        "cannot read the state directory {}: Permission denied (run as root)",
        host.state().display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn after_run_once_the_last_cycle_shows_but_no_daemon_runs() {
    let host = Host::new("1h");
    host.plant_key();
    assert_exit(&host.run(&["run", "--once"]), 0);
    let (code, doc, err) = host.status();
    let doc = doc.unwrap();
    assert_eq!(code, 3, "{err}");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["daemon"]["running"], false);
    assert_eq!(doc["daemon"]["pid"], Value::Null);
    let c = &doc["last_cycle"];
    assert_eq!(
        (&c["by"], &c["findings"], &c["new"]),
        (&"once".into(), &2.into(), &2.into())
    );
    assert_eq!(c["stale"], false, "{doc:#}");
    assert_eq!(doc["sinks"]["cloudwatch"]["state"], "disabled");
    assert_eq!(doc["sinks"]["journald"]["state"], "active");
    assert_eq!(doc["outbox"]["pending"], 0);
    let status_file = fs::read(host.state().join("status.json")).unwrap();
    assert_no_secret(&status_file, &[SECRET]);
    assert!(!String::from_utf8_lossy(&status_file).contains(KEY_ID));

    let text = host.status_text();
    assert!(text.starts_with("daemon:       not running\n"), "{text}");
    assert!(
        text.contains("findings:     2 finding(s), 1 credential(s): 2 new"),
        "{text}"
    );
}

/// A planted key gives 1 while the daemon runs, a clean tree 0; a clean stop removes the pid
/// file.
#[test]
fn beside_a_running_daemon_findings_give_1_a_clean_tree_0_and_a_stop_3() {
    let host = Host::new("2s");
    host.plant_key();
    let mut daemon = host.start_daemon();
    let (code, doc) = host.wait_status("a daemon cycle", by_daemon);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["daemon"]["pid"], daemon.id());
    assert_eq!(doc["last_cycle"]["findings"], 2);

    fs::remove_file(host.root.join("credentials")).unwrap();
    let (code, doc) = host.wait_status("a clean cycle", |d| {
        by_daemon(d) && d["last_cycle"]["findings"] == 0
    });
    assert_eq!(code, 0, "{doc:#}");

    send_signal(daemon.id(), "TERM");
    assert!(daemon.wait().unwrap().success());
    let doc = host.assert_not_running(Value::Null);
    assert_eq!(doc["last_cycle"]["findings"], 0);
}

/// A last cycle older than two intervals is 3 although the daemon runs; a daemon killed with
/// SIGKILL leaves its pid file, which names no running daemon (neither as a zombie nor after).
#[test]
fn a_stale_cycle_and_a_killed_daemon_are_3() {
    let host = Host::new("1h");
    let mut daemon = host.start_daemon();
    let (code, doc) = host.wait_status("a daemon cycle", by_daemon);
    assert_eq!(code, 0, "{doc:#}");

    let path = host.state().join("status.json");
    let text = fs::read_to_string(&path).unwrap();
    let finished = doc["last_cycle"]["time"].as_str().unwrap();
    fs::write(&path, text.replace(finished, "2020-01-01T00:00:00Z")).unwrap();
    let (code, doc, _) = host.status();
    let doc = doc.unwrap();
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(
        (&doc["daemon"]["running"], &doc["last_cycle"]["stale"]),
        (&true.into(), &true.into())
    );
    let text = host.status_text();
    assert!(text.contains("older than 2 intervals (2h)"), "{text}");

    let pid = daemon.id();
    daemon.kill().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    host.assert_not_running(pid.into()); // a zombie until reaped
    daemon.wait().unwrap();
    assert!(host.state().join("daemon.pid").exists());
    host.assert_not_running(pid.into());
    let text = host.status_text();
    assert!(
        text.contains(&format!("not running (daemon.pid names pid {pid}")),
        "{text}"
    );
}
