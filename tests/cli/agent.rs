//! `credhygiene run`: the daemon under a fake systemd (a NOTIFY_SOCKET datagram socket), its
//! schedule, signals and finding changes. IMDS is disabled here; the runs against the IMDS
//! emulator and moto, SIGKILL and restart included, live in `cloudwatch.rs`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{assert_exit, assert_no_secret, offline_config, send_signal, KEY_ID, SECRET};

fn write_config(dir: &Path, scan_root: &Path, extra: &str) -> std::path::PathBuf {
    let cfg = dir.join("agent.toml");
    fs::write(
        &cfg,
        offline_config(
            &dir.join("state"),
            scan_root,
            "interval = \"2s\"\nrole_check_interval = \"1h\"\n",
            extra,
        ),
    )
    .unwrap();
    cfg
}

/// A config of [`write_config`] over an empty tree in `dir`, with IMDS at `endpoint` (plus
/// the `[imds]` lines `imds_extra`) and each `(from, to)` replacement applied.
fn config_with_imds(
    dir: &Path,
    endpoint: &str,
    imds_extra: &str,
    replace: &[(&str, &str)],
) -> std::path::PathBuf {
    let root = dir.join("srv");
    fs::create_dir_all(&root).unwrap();
    let cfg = write_config(dir, &root, "");
    let mut text = fs::read_to_string(&cfg).unwrap().replace(
        "disabled = true",
        &format!("endpoint = {endpoint:?}\n{imds_extra}"),
    );
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    fs::write(&cfg, text).unwrap();
    cfg
}

/// Runs `credhygiene -v run` with IMDS at `emu` until `emu` has answered at least `checks`
/// role checks (each reads iam/info), then stops it with SIGTERM; returns its output and the
/// role checks seen.
fn run_until_role_checks(
    cfg: &Path,
    emu: &crate::imds_emulator::Emulator,
    checks: usize,
) -> (std::process::Output, usize) {
    let child = Command::new(assert_cmd::cargo::cargo_bin("credhygiene"))
        .args(["-v", "--config", cfg.to_str().unwrap(), "run"])
        .env_remove("CREDHYGIENE_CONFIG")
        .env("AWS_EC2_METADATA_DISABLED", "false")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", emu.endpoint())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    let seen = || emu.requests("GET", "/latest/meta-data/iam/info").len();
    while seen() < checks && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    send_signal(child.id(), "TERM");
    (child.wait_with_output().unwrap(), seen())
}

struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn start(cfg: &Path, notify: Option<&Path>) -> Daemon {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("credhygiene"));
        cmd.args(["-v", "--config", cfg.to_str().unwrap(), "run"])
            .env_remove("CREDHYGIENE_CONFIG")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(sock) = notify {
            cmd.env("NOTIFY_SOCKET", sock)
                .env("WATCHDOG_USEC", "1000000");
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Daemon {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing all of `needles`.
    fn wait_for(&mut self, needles: &[&str], timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(l.clone());
                if needles.iter().all(|n| l.contains(n)) {
                    return l;
                }
            }
        }
        panic!(
            "no line with {needles:?} within {timeout:?}; saw:\n{}",
            self.seen.join("\n")
        );
    }

    /// Takes every stderr line that has arrived so far.
    fn drain(&mut self) {
        self.seen.extend(self.lines.try_iter());
    }

    fn signal(&self, sig: &str) {
        send_signal(self.child.id(), sig);
    }

    fn wait_exit(mut self, timeout: Duration) -> (i32, Vec<String>, Vec<u8>) {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut self.child.stdout.take().unwrap(), &mut out)
                    .unwrap();
                std::thread::sleep(Duration::from_millis(100));
                self.seen.extend(self.lines.try_iter());
                return (st.code().unwrap_or(-1), std::mem::take(&mut self.seen), out);
            }
            assert!(Instant::now() < end, "daemon did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[test]
fn daemon_reports_new_then_resolved_survives_bad_reload_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("readme.txt"), "nothing here\n").unwrap();
    let cfg = write_config(dir.path(), &root, "");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut d = Daemon::start(&cfg, Some(&sock_path));

    let mut messages = Vec::new();
    let recv_until = |want: &str, messages: &mut Vec<String>| {
        let end = Instant::now() + Duration::from_secs(15);
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = sock.recv(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                messages.push(m.clone());
                if m.contains(want) {
                    return;
                }
            }
        }
        panic!("no {want} from the daemon; got {messages:?}");
    };
    recv_until("READY=1", &mut messages);
    recv_until("STATUS=0 finding(s)", &mut messages);
    recv_until("WATCHDOG=1", &mut messages);

    // A key written between cycles is reported once, by the next cycle.
    let env_file = root.join(".env");
    fs::write(
        &env_file,
        format!("AWS_ACCESS_KEY_ID={KEY_ID}\nAWS_SECRET_ACCESS_KEY={SECRET}\n"),
    )
    .unwrap();
    d.wait_for(&["new", KEY_ID], Duration::from_secs(15));
    // Two more cycles pass without reporting it again.
    recv_until("STATUS=2 finding(s), 1 credential(s), 0 new", &mut messages);
    recv_until("STATUS=2 finding(s), 1 credential(s), 0 new", &mut messages);
    d.drain();
    assert_eq!(
        d.seen
            .iter()
            .filter(|l| l.contains("change=new") && l.contains("kind=access_key_id"))
            .count(),
        1,
        "reported once: {:#?}",
        d.seen
    );

    // A broken configuration on SIGHUP is logged with file, line and column; the old one runs on.
    fs::write(&cfg, "[agent]\ninterval = \"2s\"\nbogus = 1\n").unwrap();
    d.signal("HUP");
    let err = d.wait_for(&["reload failed"], Duration::from_secs(10));
    assert!(err.contains(&format!("{}:3:1", cfg.display())), "{err}");

    // Cleaning the file resolves the findings.
    fs::write(&env_file, "AWS_REGION=eu-west-1\n").unwrap();
    d.wait_for(&["resolved", KEY_ID], Duration::from_secs(15));

    d.signal("TERM");
    recv_until("STOPPING=1", &mut messages);
    let (code, lines, stdout) = d.wait_exit(Duration::from_secs(15));
    assert_eq!(code, 0, "{lines:#?}");
    assert!(stdout.is_empty(), "stdout stays clean in the daemon");
    let all = lines.join("\n");
    assert_no_secret(all.as_bytes(), &[SECRET]);
    assert!(messages.iter().any(|m| m.contains("STATUS=")));
}

#[test]
fn run_once_prints_a_summary_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    fs::create_dir_all(&root).unwrap();
    fs::write(
        root.join("creds"),
        format!("aws_secret_access_key = {SECRET}\nid {KEY_ID}\n"),
    )
    .unwrap();
    let cfg = write_config(dir.path(), &root, "");
    let out = crate::common::credhygiene()
        .args(["--config", cfg.to_str().unwrap(), "run", "--once"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cycle complete"), "{text}");
    assert!(
        text.contains("2 finding(s), 1 credential(s): 2 new"),
        "{text}"
    );
    assert!(
        text.contains("role check: skipped (IMDS disabled)"),
        "{text}"
    );
    assert_no_secret(&out.stdout, &[SECRET]);
    assert_no_secret(&out.stderr, &[SECRET]);
    // The second cycle reads nothing again and reports nothing new.
    let out = crate::common::credhygiene()
        .args(["--config", cfg.to_str().unwrap(), "run", "--once"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("0 new, 0 resolved"), "{text}");
    assert!(text.contains("1 from cache"), "{text}");
    // State files hold no secret.
    for entry in fs::read_dir(dir.path().join("state")).unwrap() {
        let p = entry.unwrap().path();
        assert_no_secret(&fs::read(&p).unwrap(), &[SECRET]);
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &fs::metadata(dir.path().join("state"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o700);
}

/// A cycle that finds what the last one found writes no state, also when a file holds the same
/// key more than once (one finding id, several occurrences: a repeated log line).
#[test]
fn a_quiet_cycle_writes_no_finding_state_when_a_key_repeats_in_a_file() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    fs::create_dir_all(&root).unwrap();
    let line = format!("AWS_ACCESS_KEY_ID={KEY_ID}\n");
    fs::write(root.join("app.log"), line.repeat(3)).unwrap();
    let cfg = write_config(dir.path(), &root, "");
    let state = dir.path().join("state").join("findings.json");
    let cycle = || {
        let out = crate::common::credhygiene()
            .args(["--config", cfg.to_str().unwrap(), "run", "--once"])
            .output()
            .unwrap();
        assert_exit(&out, 0);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let meta = fs::metadata(&state).unwrap();
        (text, (meta.ino(), meta.mtime_nsec(), meta.len()))
    };
    let (text, first) = cycle();
    assert!(text.contains("1 new"), "{text}");
    let (text, second) = cycle();
    assert!(text.contains("0 new, 0 resolved"), "{text}");
    assert_eq!(first, second, "the quiet cycle rewrote findings.json");
}

#[test]
fn a_key_written_to_a_watched_env_file_is_reported_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    let etc = dir.path().join("etc");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&etc).unwrap();
    let env_file = etc.join("environment");
    fs::write(&env_file, "PATH=/usr/bin\n").unwrap();
    let cfg = write_config(dir.path(), &root, "");
    // A long interval: only the watcher can trigger the second cycle.
    let text = fs::read_to_string(&cfg)
        .unwrap()
        .replace("interval = \"2s\"", "interval = \"1h\"")
        .replace(
            "env_files = []",
            &format!("env_files = [\"{}\"]", env_file.display()),
        );
    fs::write(&cfg, text).unwrap();
    let mut d = Daemon::start(&cfg, None);
    d.wait_for(&["cycle complete", "findings=0"], Duration::from_secs(15));
    let written = Instant::now();
    fs::write(
        &env_file,
        format!("PATH=/usr/bin\nAWS_ACCESS_KEY_ID={KEY_ID}\n"),
    )
    .unwrap();
    let line = d.wait_for(
        &["change=new", "kind=access_key_id"],
        Duration::from_secs(10),
    );
    assert!(line.contains("source=env_file"), "{line}");
    assert!(written.elapsed() < Duration::from_secs(10));
    d.signal("TERM");
    let (code, _, _) = d.wait_exit(Duration::from_secs(15));
    assert_eq!(code, 0);
}

/// A nested tree: `a0/b/c.conf` … `a19/b/c.conf`, nothing in them.
fn nested_tree(root: &Path) {
    for i in 0..20 {
        let d = root.join(format!("a{i}/b"));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("c.conf"), "nothing here\n").unwrap();
    }
}

#[test]
fn the_daemon_reads_only_the_files_inotify_reports_and_walks_after_a_directory_change() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    nested_tree(&root);
    let cfg = write_config(dir.path(), &root, "");
    let mut d = Daemon::start(&cfg, None);
    let wait = Duration::from_secs(15);
    d.wait_for(&["cycle complete", "files=20 cached=0"], wait);
    // Unchanged: every file comes from the index; nothing is read.
    d.wait_for(
        &["cycle complete", "new=0", "files=20 cached=20 bytes_read=0"],
        wait,
    );

    // A key written deep in the tree: the next cycle reads that one file, and finds the key.
    let keyed = root.join("a3/b/c.conf");
    fs::write(&keyed, format!("aws_access_key_id = {KEY_ID}\n")).unwrap();
    d.wait_for(&["cycle complete", "new=1", "files=20 cached=19"], wait);

    // A new directory: inotify cannot say what is in it, so the trees are walked again.
    fs::create_dir(root.join("a7/new")).unwrap();
    fs::write(
        root.join("a7/new/.env"),
        format!("AWS_SECRET_ACCESS_KEY={SECRET}\n"),
    )
    .unwrap();
    d.wait_for(
        &["walking the scanned trees", "directory was created"],
        wait,
    );
    d.wait_for(&["cycle complete", "new=1", "files=21"], wait);
    d.wait_for(
        &["cycle complete", "new=0", "files=21 cached=21 bytes_read=0"],
        wait,
    );

    // A file deleted: resolved by an update, without a walk.
    fs::remove_file(&keyed).unwrap();
    d.wait_for(
        &["cycle complete", "resolved=1", "files=20 cached=20"],
        wait,
    );
    d.signal("TERM");
    let (code, seen, _) = d.wait_exit(wait);
    assert_eq!(code, 0);
    let log = seen.join("\n");
    assert_eq!(
        log.matches("walking the scanned trees").count(),
        2,
        "the first cycle and the new directory: {log}"
    );
    assert_no_secret(log.as_bytes(), &[SECRET]);
}

// ---- sources that cannot be read this cycle keep their findings ------------------------------

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Gives `path` and everything under it to nobody (65534), so that the agent can run as
/// nobody and a file of mode 000 is unreadable to it even though the tests run as root.
fn give_to_nobody(path: &Path) {
    std::os::unix::fs::chown(path, Some(65534), Some(65534)).unwrap();
    if path.is_dir() {
        for e in fs::read_dir(path).unwrap() {
            give_to_nobody(&e.unwrap().path());
        }
    }
}

/// One `run --once` cycle; with `as_nobody` and running as root, under setpriv as nobody
/// (root reads a file of mode 000). Returns (exit code, stdout, stderr).
fn cycle_once(cfg: &Path, as_nobody: bool, env: &[(&str, &str)]) -> (i32, String, String) {
    let bin = assert_cmd::cargo::cargo_bin("credhygiene");
    let mut cmd = if as_nobody && is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    cmd.env_remove("CREDHYGIENE_CONFIG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["-v", "--config", cfg.to_str().unwrap(), "run", "--once"])
        .output()
        .unwrap();
    assert_no_secret(&out.stdout, &[SECRET]);
    assert_no_secret(&out.stderr, &[SECRET]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs one cycle and checks that it completed and that its summary holds every `want`.
fn expect_cycle(cfg: &Path, as_nobody: bool, env: &[(&str, &str)], want: &[&str]) -> String {
    let (code, stdout, stderr) = cycle_once(cfg, as_nobody, env);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for w in want {
        assert!(stdout.contains(w), "no {w:?} in:\n{stdout}\n{stderr}");
    }
    stdout + &stderr
}

/// Runs one cycle (see [`expect_cycle`]) over a tree that still holds its one credential (two
/// findings), readable again, and checks that nothing is new, resolved or carried.
fn expect_unchanged(cfg: &Path, as_nobody: bool) {
    let text = expect_cycle(
        cfg,
        as_nobody,
        &[],
        &["2 finding(s), 1 credential(s): 0 new, 0 resolved"],
    );
    assert!(!text.contains("carried"), "{text}");
}

#[test]
fn an_unreadable_file_keeps_its_findings_until_it_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    fs::create_dir_all(&root).unwrap();
    let creds = root.join("creds");
    fs::write(
        &creds,
        format!("aws_secret_access_key = {SECRET}\nid {KEY_ID}\n"),
    )
    .unwrap();
    fs::write(root.join("readme.txt"), "nothing here\n").unwrap();
    let cfg = write_config(dir.path(), &root, "");
    if is_root() {
        give_to_nobody(dir.path());
    }
    let mode = |m| fs::set_permissions(&creds, std::os::unix::fs::PermissionsExt::from_mode(m));

    expect_cycle(
        &cfg,
        true,
        &[],
        &["2 finding(s), 1 credential(s): 2 new, 0 resolved"],
    );

    // Unreadable (EACCES): not resolved, and still counted.
    mode(0o000).unwrap();
    for _ in 0..2 {
        let text = expect_cycle(
            &cfg,
            true,
            &[],
            &[
                "2 finding(s), 1 credential(s): 0 new, 0 resolved",
                "1 errors",
                "carried:    2 finding(s) of 1 unreadable source(s)",
            ],
        );
        assert!(
            text.contains("carried 2 finding(s) of 1 unreadable source(s)"),
            "{text}"
        );
        assert!(
            text.contains(&format!("path={}", creds.display())),
            "the source is named: {text}"
        );
        assert!(!text.contains("change=resolved"), "{text}");
    }

    // Readable again: nothing new, nothing resolved, nothing carried.
    mode(0o644).unwrap();
    expect_unchanged(&cfg, true);

    // Unreadable, then deleted: a file that is gone resolves.
    mode(0o000).unwrap();
    expect_cycle(&cfg, true, &[], &["0 new, 0 resolved", "carried:    2"]);
    fs::remove_file(&creds).unwrap();
    let text = expect_cycle(
        &cfg,
        true,
        &[],
        &[
            "0 finding(s), 0 credential(s): 0 new, 2 resolved",
            "0 errors",
        ],
    );
    assert!(!text.contains("carried"), "{text}");
}

#[test]
fn a_missing_tree_root_keeps_its_findings_while_it_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    let volume = dir.path().join("mnt/data");
    let never = dir.path().join("never-existed");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(volume.join("app")).unwrap();
    fs::write(
        volume.join("app/.env"),
        format!("AWS_ACCESS_KEY_ID={KEY_ID}\nAWS_SECRET_ACCESS_KEY={SECRET}\n"),
    )
    .unwrap();
    let cfg = write_config(dir.path(), &root, "");
    let paths = |roots: &[&Path]| {
        let text = fs::read_to_string(&cfg).unwrap();
        let start = text.find("paths = [").unwrap();
        let end = start + text[start..].find('\n').unwrap();
        let list: Vec<String> = roots
            .iter()
            .map(|r| format!("{:?}", r.display().to_string()))
            .collect();
        fs::write(
            &cfg,
            format!(
                "{}paths = [{}]{}",
                &text[..start],
                list.join(", "),
                &text[end..]
            ),
        )
        .unwrap();
    };
    paths(&[&root, &volume, &never]);

    expect_cycle(&cfg, false, &[], &["2 finding(s), 1 credential(s): 2 new"]);

    // The volume is unmounted (its root is gone): its findings are carried, with a warning
    // each cycle; a configured root that never had findings is not worth one.
    let unmounted = dir.path().join("mnt/data.off");
    fs::rename(&volume, &unmounted).unwrap();
    for _ in 0..2 {
        let text = expect_cycle(
            &cfg,
            false,
            &[],
            &[
                "2 finding(s), 1 credential(s): 0 new, 0 resolved",
                "carried:    2 finding(s) of 1 unreadable source(s)",
            ],
        );
        let warning = text
            .lines()
            .find(|l| l.contains("warning: source could not be read"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(warning.contains(&volume.display().to_string()), "{warning}");
        assert!(warning.contains("configured tree is missing"), "{warning}");
        assert!(
            !text
                .lines()
                .any(|l| l.contains("warning") && l.contains("never-existed")),
            "{text}"
        );
    }

    // Mounted again: unchanged.
    fs::rename(&unmounted, &volume).unwrap();
    expect_unchanged(&cfg, false);

    // Gone for good: taking it out of scan.paths resolves its findings.
    fs::rename(&volume, &unmounted).unwrap();
    expect_cycle(&cfg, false, &[], &["carried:    2"]);
    paths(&[&root, &never]);
    expect_cycle(
        &cfg,
        false,
        &[],
        &["0 finding(s), 0 credential(s): 0 new, 2 resolved"],
    );
}

#[test]
fn user_data_imds_does_not_hand_out_keeps_its_findings() {
    use crate::imds_emulator::{closed_port, Emulator};
    let emu = Emulator::start(serde_json::json!({
        "user_data": format!("#!/bin/bash\nexport AWS_ACCESS_KEY_ID={KEY_ID}\nexport AWS_SECRET_ACCESS_KEY={SECRET}\n"),
    }));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_imds(
        dir.path(),
        &emu.endpoint(),
        "",
        &[("user_data = false", "user_data = true")],
    );
    let at = |endpoint: &str| {
        vec![
            ("AWS_EC2_METADATA_DISABLED", "false"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect::<Vec<_>>()
    };
    let run = |endpoint: &str, want: &[&str]| {
        let env = at(endpoint);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        expect_cycle(&cfg, false, &env, want)
    };
    let live = emu.endpoint();

    run(&live, &["2 finding(s), 1 credential(s): 2 new"]);

    // IMDS answers everything but user-data with 500s: carried.
    emu.control(serde_json::json!({"fail": 1000, "fault_paths": ["/latest/user-data"]}));
    let text = run(
        &live,
        &[
            "2 finding(s), 1 credential(s): 0 new, 0 resolved",
            "carried:    2 finding(s) of 1 unreadable source(s)",
        ],
    );
    assert!(text.contains("path=imds:/latest/user-data"), "{text}");

    // IMDS throttles: carried.
    emu.control(serde_json::json!({"fail": 0, "throttle": 1000}));
    run(&live, &["0 new, 0 resolved", "carried:    2"]);

    // IMDS unreachable (connection refused): carried.
    let off = format!("http://127.0.0.1:{}", closed_port());
    run(&off, &["0 new, 0 resolved", "carried:    2"]);

    // IMDS is back and the instance has no user-data any more (404): resolved.
    emu.control(serde_json::json!({"throttle": 0, "user_data": null}));
    let text = run(&live, &["0 finding(s), 0 credential(s): 0 new, 2 resolved"]);
    assert!(!text.contains("carried"), "{text}");
}

// ---- the IMDSv1 probe and EC2's MetadataNoToken metric ---------------------------------------

/// The daemon sends its token-less IMDSv1 probe once at start and then at most once per
/// `imds.v1_probe_interval`: many role checks, one token-less request (each one counts in the
/// instance's `MetadataNoToken` metric). With `v1_probe_interval = "0s"`, none at all.
#[test]
fn the_daemon_probes_imdsv1_once_not_at_every_role_check() {
    use crate::imds_emulator::Emulator;
    for (probe_interval, expected) in [("24h", 1), ("0s", 0)] {
        let emu = Emulator::start(serde_json::json!({"v1_open": true}));
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_with_imds(
            dir.path(),
            &emu.endpoint(),
            &format!("v1_probe_interval = {probe_interval:?}"),
            &[(
                "role_check_interval = \"1h\"",
                "role_check_interval = \"300ms\"",
            )],
        );
        let (_, checks) = run_until_role_checks(&cfg, &emu, 8);
        assert!(checks >= 8, "only {checks} role checks");
        let tokenless = emu
            .log()
            .iter()
            .filter(|r| r["method"] == "GET")
            .filter(|r| r["headers"].get("x-aws-ec2-metadata-token").is_none())
            .count();
        assert_eq!(tokenless, expected, "v1_probe_interval = {probe_interval}");
    }
}

/// A host with a hard-coded key and an attached role fails the "static keys beside the role"
/// check; the role checks between cycles must see that too, not a change of the role, or every
/// role check (5 minutes by default) would run a full cycle.
#[test]
fn role_checks_between_cycles_do_not_see_a_change_where_there_is_none() {
    use crate::imds_emulator::Emulator;
    let emu = Emulator::start(serde_json::json!({}));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_imds(
        dir.path(),
        &emu.endpoint(),
        "",
        &[
            ("interval = \"2s\"", "interval = \"1h\""),
            (
                "role_check_interval = \"1h\"",
                "role_check_interval = \"300ms\"",
            ),
        ],
    );
    fs::write(
        dir.path().join("srv/app.env"),
        format!("AWS_ACCESS_KEY_ID={KEY_ID}\nAWS_SECRET_ACCESS_KEY={SECRET}\n"),
    )
    .unwrap();
    let (out, checks) = run_until_role_checks(&cfg, &emu, 8);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(checks >= 8, "only {checks} role checks:\n{log}");
    assert!(
        log.contains("no_static_keys_with_role") || log.contains("cycle complete"),
        "{log}"
    );
    assert_eq!(log.matches("cycle complete").count(), 1, "{log}");
    assert!(!log.contains("the role check changed"), "{log}");
    assert_no_secret(&out.stderr, &[SECRET]);
}

/// The first-contact splay only delays AWS calls: a daemon with CloudWatch off keeps its cycle
/// interval (it once waited up to `first_contact_splay` for its second cycle).
#[test]
fn without_cloudwatch_the_first_contact_splay_does_not_delay_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    fs::create_dir_all(&root).unwrap();
    let cfg = write_config(dir.path(), &root, "");
    let text = fs::read_to_string(&cfg).unwrap().replace(
        "first_contact_splay = \"0s\"",
        "first_contact_splay = \"1h\"",
    );
    fs::write(&cfg, text).unwrap();
    let mut d = Daemon::start(&cfg, None);
    let wait = Duration::from_secs(15);
    d.wait_for(&["cycle complete"], wait);
    d.wait_for(&["cycle complete"], wait);
    d.signal("TERM");
    let (code, _, _) = d.wait_exit(wait);
    assert_eq!(code, 0);
}
