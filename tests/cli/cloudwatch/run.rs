//! The whole agent against moto: `credhygiene run` and `run --once` with role credentials
//! served by the IMDS emulator, reporting through a recording proxy and a front that checks
//! every request against the service model ([`crate::harness::agent_world`]); over HTTPS
//! with a test CA, and against a service whose clock differs from the host's.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{assert_exit, assert_no_secret, send_signal, KEY_ID};
use crate::harness::agent_world::{
    agent_command, agent_world, agent_world_with, run_once, AgentWorld, LoggedDaemon, WorldOptions,
};
use crate::harness::fixtures::{changes_of, events_of, finding_keys, queued_again, INSTANCE_ID};
use crate::harness::moto::read_back;
use crate::harness::proxy::count;
use credhygiene::state::OUTBOX_FILE;

/// CloudWatch over HTTPS, with the service's clock right.
const HTTPS: WorldOptions = WorldOptions {
    tls: true,
    clock_offset: 0,
};

/// The binary end to end: moto STS credentials served through the IMDS emulator, a planted
/// tree and planted user-data, two `run --once` cycles through a recording proxy; boto3 reads
/// back the events and metrics, and no secret (planted, or the role's own) crossed the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_reports_to_moto_with_credentials_from_the_imds_emulator() {
    let Some(w) = agent_world("1h").await else {
        return;
    };
    reports_to_moto(&w, Vec::new()).await;
    // Every API the agent calls went through the model check (which fails the test when it
    // rejects one).
    let ops = w.front.operations();
    for op in [
        "logs.CreateLogGroup",
        "logs.CreateLogStream",
        "logs.PutLogEvents",
        "cloudwatch.PutMetricData",
    ] {
        assert!(ops.iter().any(|o| o == op), "{op} not seen: {ops:?}");
    }
}

/// The same over HTTPS: the front speaks TLS with a certificate of a CA the test made, which
/// the agent trusts through `SSL_CERT_FILE` alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_reports_over_https_trusting_a_ca_from_ssl_cert_file() {
    let Some(w) = agent_world_with("1h", HTTPS).await else {
        return;
    };
    let env = AgentWorld::trusting(&w.ca.as_ref().unwrap().ca());
    reports_to_moto(&w, env).await;
    assert!(w.cw_url().starts_with("https://"));
    assert!(w
        .front
        .records()
        .iter()
        .all(|r| r.get("tls_error").is_none()));
    assert!(w.front.requests().len() >= 4);
    // The proxy saw only TLS records: not one byte of a request in the clear.
    assert_eq!(count(&w.proxy.recorded(), b"POST /"), 0);
}

/// Two `run --once` against `w` with `env` added, checked end to end (see
/// [`run_once_reports_to_moto_with_credentials_from_the_imds_emulator`]).
async fn reports_to_moto(w: &AgentWorld, env: Vec<(String, String)>) {
    let full = w.moto.creds["full"].clone();
    let first = w.run_once_env(env.clone()).await;
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(text.contains("role check: fail"), "IMDSv1 is open: {text}");
    assert!(text.contains(", 0 pending"), "everything delivered: {text}");
    let second = w.run_once_env(env).await;
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
    // The request bodies, in the clear even over HTTPS: none.
    let bodies = w.front.bodies();
    assert!(!bodies.is_empty());
    assert_no_secret(&bodies, &secrets);
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
    // A SIGKILL between CloudWatch accepting a batch and the fsync of `delivered.json` resends
    // that batch after the restart: the documented duplicate window, whose copies are the same
    // event (same body, same cycle time). A change queued again by a later cycle would be a
    // different event: that must never happen.
    let requeued = queued_again(&events);
    assert!(requeued.is_empty(), "changes queued again: {requeued:?}");
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
    // A SIGKILL between CloudWatch accepting a batch and the fsync of `delivered.json` resends
    // that batch after the restart: the documented duplicate window, whose copies are the same
    // event (same body, same cycle time). A change queued again by a later cycle would be a
    // different event: that must never happen.
    let requeued = queued_again(&events);
    assert!(requeued.is_empty(), "changes queued again: {requeued:?}");
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

/// A CA that did not sign the endpoint's certificate: `run --once` exits 3 with an error that
/// names the endpoint and the failed certificate verification, no request reaches the
/// service, and the outbox keeps everything; a run that trusts the right CA delivers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_naming_the_endpoint_and_keeps_the_outbox() {
    let Some(w) = agent_world_with("1h", HTTPS).await else {
        return;
    };
    let ca = w.ca.as_ref().unwrap();
    let wrong = w.run_once_env(AgentWorld::trusting(&ca.other_ca())).await;
    let text = String::from_utf8_lossy(&wrong.stdout).into_owned();
    let err = String::from_utf8_lossy(&wrong.stderr).into_owned();
    assert_eq!(wrong.status.code(), Some(3), "{text}\n{err}");
    let endpoint = w.cw_url();
    let named = err
        .lines()
        .chain(text.lines())
        .find(|l| l.contains(&endpoint) && l.contains("certificate"));
    assert!(
        named.is_some(),
        "no line names {endpoint} and the certificate:\n{text}\n{err}"
    );
    assert!(err.contains("UnknownIssuer"), "{err}");
    eprintln!("a wrong CA prints: {}", named.unwrap());
    assert!(w.front.requests().is_empty(), "{:?}", w.front.records());
    assert!(!w.front.records().is_empty(), "the handshake was refused");
    let outbox = std::fs::read(w.dir.path().join("state").join(OUTBOX_FILE)).unwrap();
    assert!(count(&outbox, KEY_ID.as_bytes()) >= 1, "the findings wait");

    let right = w.run_once_env(AgentWorld::trusting(&ca.ca())).await;
    let text = String::from_utf8_lossy(&right.stdout).into_owned();
    assert_eq!(right.status.code(), Some(0), "{text}");
    assert!(text.contains(", 0 pending"), "{text}");
    let (events, _) = read_back(&w.moto).await;
    assert!(events_of(&events, "finding")
        .iter()
        .any(|e| e["key_id"] == KEY_ID));
    assert_eq!(events_of(&events, "summary").len(), 2, "both cycles");
    let secrets = w.moto.secrets();
    for out in [&wrong, &right] {
        assert_no_secret(&out.stdout, &secrets);
        assert_no_secret(&out.stderr, &secrets);
    }
}

/// The service's clock is two hours ahead of the host's: the first request is refused for
/// its signing time; the agent takes the offset from the answer's `Date`, signs again and
/// keeps the offset, so the rest of the run (both services) is accepted first time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_clock_is_corrected_from_the_date_of_the_refusal() {
    let opts = WorldOptions {
        clock_offset: 2 * 3600,
        ..WorldOptions::default()
    };
    let Some(w) = agent_world_with("1h", opts).await else {
        return;
    };
    let out = run_once(&w.cfg, &w.emu.endpoint(), &w.proxy.url()).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}\n{err}");
    assert!(text.contains(", 0 pending"), "{text}");
    assert!(err.contains("refused the signing time"), "{err}");
    // The CloudWatch requests; the Security Hub sink has a service (and a learnt offset) of
    // its own: refused once too, then signed right.
    let (requests, securityhub): (Vec<_>, Vec<_>) = w.front.requests().into_iter().partition(|r| {
        !r["operation"]
            .as_str()
            .unwrap_or("")
            .starts_with("securityhub.")
    });
    let skewed =
        |rs: &[serde_json::Value]| rs.iter().filter(|r| r["skew_rejected"] == true).count();
    assert_eq!(
        skewed(&requests),
        1,
        "refused once, then signed right: {requests:#?}"
    );
    assert!(skewed(&securityhub) <= 1, "{securityhub:#?}");
    assert_eq!(requests[0]["skew_rejected"], true);
    assert_eq!(requests[1]["operation"], requests[0]["operation"]);
    let ops = w.front.operations();
    assert!(ops.iter().any(|o| o.starts_with("logs.")), "{ops:?}");
    assert!(ops.iter().any(|o| o.starts_with("cloudwatch.")), "{ops:?}");
    let (events, metrics) = read_back(&w.moto).await;
    assert!(!events_of(&events, "finding").is_empty());
    assert_eq!(metrics["IMDSv1Open"]["max"], 1.0, "{metrics}");
}
