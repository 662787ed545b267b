//! `credhygiene scan`: output formats, exit codes, and a hostile file system.

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde_json::Value;

use crate::common::{assert_no_secret, credhygiene, KEY_ID, SECRET, SECRET2, TOKEN};

fn json_scan(args: &[&str]) -> (Value, i32, Vec<u8>) {
    let out = credhygiene()
        .arg("scan")
        .arg("--format")
        .arg("json")
        .args(args)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (doc, out.status.code().unwrap(), out.stderr)
}

fn planted(dir: &Path) {
    fs::create_dir_all(dir.join(".aws")).unwrap();
    fs::write(
        dir.join(".aws/credentials"),
        format!("[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\naws_session_token = {TOKEN}\n"),
    )
    .unwrap();
    fs::write(
        dir.join("app.env"),
        format!("export AWS_SECRET_ACCESS_KEY=\"{SECRET2}\"\n"),
    )
    .unwrap();
}

#[test]
fn json_document_has_the_design_shape() {
    let dir = tempfile::tempdir().unwrap();
    planted(dir.path());
    let root = dir.path().to_str().unwrap();
    let (doc, code, stderr) = json_scan(&[root]);
    assert_eq!(code, 1, "{}", String::from_utf8_lossy(&stderr));
    assert_eq!(doc["version"], 1);
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 4, "{doc:#}");
    let id = &findings[0];
    assert_eq!(id["rule"], "aws-access-key-id");
    assert_eq!(id["kind"], "access_key_id");
    assert_eq!(id["source"], "env_file");
    assert_eq!(id["path"], format!("{root}/.aws/credentials"));
    assert_eq!(
        (id["line"].as_u64(), id["column"].as_u64()),
        (Some(2), Some(21))
    );
    assert_eq!(id["key_id"], KEY_ID);
    assert_eq!(id["key_type"], "long_term");
    let secret = &findings[1];
    assert_eq!(secret["kind"], "secret_access_key");
    assert_eq!(secret["redacted"], "V+Hg…");
    assert_eq!(secret["key_id"], KEY_ID, "the secret pairs with its key id");
    assert_eq!(secret["credential"], id["credential"]);
    assert!(secret["fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(secret["fingerprint"].as_str().unwrap().len(), 7 + 64);
    assert_eq!(findings[2]["kind"], "session_token");
    assert_eq!(findings[3]["path"], format!("{root}/app.env"));
    assert_ne!(findings[3]["credential"], id["credential"]);
    for k in ["files", "bytes", "skipped", "errors", "elapsed_ms"] {
        assert!(doc["stats"][k].is_u64(), "stats.{k}");
    }
    assert_eq!(doc["stats"]["files"], 2);
    // Stable ids: the same finding has the same id in another run.
    let (again, _, _) = json_scan(&[root]);
    assert_eq!(again["findings"][1]["id"], secret["id"]);
}

#[test]
fn no_secret_in_any_output_format_or_log() {
    let dir = tempfile::tempdir().unwrap();
    planted(dir.path());
    let root = dir.path().to_str().unwrap();
    for format in ["text", "json", "sarif"] {
        let out = credhygiene()
            .args(["-vvv", "scan", "--format", format, root])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{format}");
        assert!(!out.stdout.is_empty());
        assert_no_secret(&out.stdout, &[SECRET, SECRET2, TOKEN]);
        assert_no_secret(&out.stderr, &[SECRET, SECRET2, TOKEN]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(KEY_ID),
            "{format}"
        );
    }
}

#[test]
fn sarif_is_2_1_0_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    planted(dir.path());
    let out = credhygiene()
        .args(["scan", "--format", "sarif", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    let run = &doc["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "credhygiene");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let loc = &results[0]["locations"][0]["physicalLocation"];
    assert!(loc["artifactLocation"]["uri"]
        .as_str()
        .unwrap()
        .starts_with("file:///"));
    assert_eq!(loc["region"]["startLine"], 2);
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let idx = results[0]["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[idx]["id"], results[0]["ruleId"]);
}

#[test]
fn text_groups_by_file_and_clean_tree_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    planted(dir.path());
    let out = credhygiene()
        .args(["scan", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("\x1b["), "no colour when not a terminal");
    assert_eq!(text.matches(".aws/credentials\n").count(), 1, "{text}");
    assert!(text.contains("4 finding(s), 2 credential(s)"), "{text}");

    let clean = tempfile::tempdir().unwrap();
    fs::write(clean.path().join("a.txt"), "nothing to see\n").unwrap();
    credhygiene()
        .args(["scan", clean.path().to_str().unwrap()])
        .assert()
        .code(0);
}

#[test]
fn allow_marker_and_allowlist_suppress_and_count() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("a.cfg"),
        format!("aws_access_key_id = {KEY_ID} # credhygiene:allow\n"),
    )
    .unwrap();
    let (doc, code, _) = json_scan(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(doc["stats"]["suppressed"], 1);

    fs::write(
        dir.path().join("a.cfg"),
        format!("aws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    let (doc, _, _) = json_scan(&[dir.path().to_str().unwrap()]);
    let fp = doc["findings"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let cfg_dir = tempfile::tempdir().unwrap();
    let allow = cfg_dir.path().join("allowlist");
    fs::write(&allow, format!("# reviewed: test fixture\n{fp}\n")).unwrap();
    let cfg = cfg_dir.path().join("c.toml");
    fs::write(
        &cfg,
        format!("[scan]\nallowlist = \"{}\"\n", allow.display()),
    )
    .unwrap();
    let (doc, code, _) = json_scan(&[
        "--config",
        cfg.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["stats"]["suppressed"], 1);
}

#[test]
fn key_straddling_the_read_chunk_is_found_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = Vec::new();
    let line = b"filler line of text, nothing here\n";
    while body.len() + line.len() < (1 << 20) - 10 {
        body.extend_from_slice(line);
    }
    let lines_before = body.iter().filter(|b| **b == b'\n').count() as u64;
    body.extend_from_slice(format!("k={KEY_ID}\n").as_bytes());
    body.extend_from_slice(&[0u8; 100]); // a NUL after the first buffer: still scanned
    body.extend_from_slice(format!("\naws_secret_access_key={SECRET}\n").as_bytes());
    fs::write(dir.path().join("big.log"), &body).unwrap();
    let (doc, code, _) = json_scan(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    let f = doc["findings"].as_array().unwrap();
    assert_eq!(f.len(), 2, "{doc:#}");
    assert_eq!(f[0]["line"].as_u64(), Some(lines_before + 1));
    assert_eq!(f[0]["column"], 3);
    assert_eq!(f[1]["line"].as_u64(), Some(lines_before + 3));
}

#[test]
fn fifo_socket_and_symlink_loop_are_skipped_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let _sock = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
    fs::create_dir(dir.path().join("loop")).unwrap();
    std::os::unix::fs::symlink("..", dir.path().join("loop/up")).unwrap();
    fs::write(dir.path().join("k.txt"), format!("{KEY_ID}\n")).unwrap();
    let cfg = dir.path().join("follow.toml");
    fs::write(&cfg, "[scan]\nfollow_symlinks = true\n").unwrap();
    for extra in [vec![], vec!["--config", cfg.to_str().unwrap()]] {
        let mut args = extra.clone();
        args.push(dir.path().to_str().unwrap());
        let (doc, code, _) = json_scan(&args);
        assert_eq!(code, 1);
        assert_eq!(doc["findings"].as_array().unwrap().len(), 1, "{doc:#}");
        assert_eq!(doc["stats"]["skipped"], 2, "fifo and socket: {doc:#}");
        if !extra.is_empty() {
            assert!(
                doc["stats"]["errors"].as_u64().unwrap() >= 1,
                "loop: {doc:#}"
            );
        }
    }
}

#[test]
fn unreadable_files_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let secret = dir.path().join("secret.cfg");
    fs::write(&secret, format!("{KEY_ID}\n")).unwrap();
    fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    fs::write(dir.path().join("open.cfg"), format!("{KEY_ID}\n")).unwrap();
    fs::set_permissions(
        dir.path().join("open.cfg"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let mut cmd = as_nobody();
    let out = cmd
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["scan", "--format", "json", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_eq!(doc["findings"].as_array().unwrap().len(), 1);
    assert_eq!(doc["stats"]["errors"], 1, "{doc:#}");
}

/// The binary, run as nobody when the tests run as root (root reads everything, so an
/// unreadable file needs another user).
fn as_nobody() -> std::process::Command {
    let bin = assert_cmd::cargo::cargo_bin("credhygiene");
    if nix_is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        std::process::Command::new(&bin)
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn non_utf8_names_are_scanned_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.cfg");
    fs::write(dir.path().join(name), format!("id={KEY_ID}\n")).unwrap();
    let (doc, code, _) = json_scan(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    let path = doc["findings"][0]["path"].as_str().unwrap();
    assert!(path.ends_with("caf\u{FFFD}.cfg"), "{path}");
}

#[test]
fn huge_sparse_file_is_skipped_then_found_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse.img");
    let mut f = fs::File::create(&path).unwrap();
    let size: u64 = 3 << 30;
    f.set_len(size).unwrap();
    let tail = format!("\naws_access_key_id={KEY_ID}\n");
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(size - tail.len() as u64)).unwrap();
    f.write_all(tail.as_bytes()).unwrap();
    drop(f);

    let (doc, code, _) = json_scan(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(doc["stats"]["skipped"], 1);

    let cfg = dir.path().join("big.toml");
    fs::write(&cfg, "[scan]\nmax_file_size = \"4GiB\"\n").unwrap();
    // Under a 256 MiB address-space limit: reading 3 GiB must not grow memory.
    let bin = assert_cmd::cargo::cargo_bin("credhygiene");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -v 262144; exec "$0" --config "$1" scan --format json -j 1 "$2""#)
        .arg(&bin)
        .arg(&cfg)
        .arg(&path)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(1));
    let f = &doc["findings"][0];
    assert_eq!(f["key_id"], KEY_ID);
    assert_eq!(f["line"], 2);
    assert_eq!(doc["stats"]["bytes"].as_u64(), Some(size));
}

#[test]
fn file_truncated_during_the_scan_does_not_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shrinking.log");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let chunk = vec![b'x'; 1 << 20];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut f = fs::File::create(&path).unwrap();
                for _ in 0..16 {
                    f.write_all(&chunk).unwrap();
                }
                f.set_len(100).unwrap();
            }
        })
    };
    for _ in 0..5 {
        let (doc, code, _) = json_scan(&[dir.path().to_str().unwrap()]);
        assert_eq!(code, 0, "{doc:#}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}

#[test]
fn fifty_thousand_files_in_one_directory() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..50_000 {
        fs::write(dir.path().join(format!("f{i:05}.conf")), b"k=v\n").unwrap();
    }
    fs::write(dir.path().join("f49999.conf"), format!("k={KEY_ID}\n")).unwrap();
    let (doc, code, _) = json_scan(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(doc["stats"]["files"], 50_000);
    assert_eq!(doc["findings"].as_array().unwrap().len(), 1);
}

#[test]
fn exclude_globs_are_gitignore_style_and_hidden_files_are_scanned() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("cache/deep")).unwrap();
    fs::write(dir.path().join("cache/deep/k"), format!("{KEY_ID}\n")).unwrap();
    fs::write(dir.path().join("x.iso"), format!("{KEY_ID}\n")).unwrap();
    fs::write(dir.path().join(".hidden"), format!("{KEY_ID}\n")).unwrap();
    fs::write(dir.path().join(".gitignore"), ".hidden\n").unwrap();
    let cfg = dir.path().join("c.toml");
    fs::write(
        &cfg,
        format!(
            "[scan]\nexclude = [\"{}/cache\", \"*.iso\", \"*.toml\"]\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let (doc, _, _) = json_scan(&[
        "--config",
        cfg.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    let paths: Vec<_> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths, vec![format!("{}/.hidden", dir.path().display())]);
}

#[test]
fn malformed_config_is_exit_2_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    fs::write(
        &cfg,
        "[scan]\nmax_file_size = \"32MiB\"\nfollow_symlink = true\n",
    )
    .unwrap();
    let out = credhygiene()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "scan",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:1:", cfg.display())), "{err}");
    assert!(err.contains("follow_symlink"), "{err}");
    assert_eq!(err.lines().count(), 1, "one sentence: {err}");
}

#[test]
fn config_check_prints_the_effective_config() {
    let out = credhygiene()
        .args(["config", "check", "config/credhygiene.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(
        parsed["imds"]["endpoint"].as_str(),
        Some("http://169.254.169.254")
    );
    assert_eq!(
        parsed["cloudwatch"]["namespace"].as_str(),
        Some("CredHygiene")
    );
    let out = credhygiene()
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")
        .args(["config", "check", "config/credhygiene.toml"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("http://[fd00:ec2::254]"));
    credhygiene()
        .args(["config", "check", "/nonexistent/credhygiene.toml"])
        .assert()
        .code(2);
    let quiet = credhygiene()
        .args(["config", "check", "--quiet", "config/credhygiene.toml"])
        .output()
        .unwrap();
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty());
}

#[test]
fn utf16_with_bom_is_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("aws_access_key_id={KEY_ID}\r\naws_secret_access_key={SECRET}\r\n");
    let mut bytes = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    fs::write(dir.path().join("creds.txt"), bytes).unwrap();
    let (doc, code, _) = json_scan(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(doc["findings"].as_array().unwrap().len(), 2, "{doc:#}");
    assert_eq!(doc["findings"][1]["line"], 2);
}

/// As an AMI bake gate: a PATH typo is a usage error, and a scan that could not read everything
/// and found nothing is "not proven clean" (exit 3), with each unreadable path named on stderr.
#[test]
fn a_missing_path_is_a_usage_error_and_unreadable_sources_are_not_clean() {
    let out = crate::common::credhygiene()
        .args(["scan", "/nonexistent/credhygiene-test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/credhygiene-test: No such file or directory"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let locked = dir.path().join("locked.cfg");
    fs::write(&locked, format!("{KEY_ID}\n")).unwrap();
    fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    fs::write(dir.path().join("clean.cfg"), "nothing here\n").unwrap();
    fs::set_permissions(
        dir.path().join("clean.cfg"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let mut cmd = as_nobody();
    let out = cmd
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["scan", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("credhygiene: {}: ", locked.display()))
            && err.contains("Permission denied"),
        "{err}"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// (path relative to `dir`, line, column, kind, encoding) of each finding.
fn placed(doc: &Value, dir: &Path) -> Vec<(String, u64, u64, String, Value)> {
    let prefix = format!("{}/", dir.display());
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"]
                    .as_str()
                    .unwrap()
                    .strip_prefix(&prefix)
                    .unwrap()
                    .to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["kind"].as_str().unwrap().to_string(),
                f.get("encoding").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// Keys in gzip (by name, by magic alone, concatenated members, nested), zstd and xz files are
/// found at their lines and columns in the decoded text, with `encoding`; `scan.decompress =
/// false` scans the bytes as they are.
#[test]
fn keys_in_compressed_files_are_found_with_their_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let creds =
        format!("[backup]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n");
    let mut log = Vec::new();
    for i in 0..5000 {
        writeln!(
            log,
            "2026-11-25T08:00:{:02}Z INFO request served id={i}",
            i % 60
        )
        .unwrap();
    }
    let log_line = 5001;
    writeln!(log, "env AWS_ACCESS_KEY_ID={KEY_ID}").unwrap();
    fs::write(dir.path().join("user-data.txt.gz"), gzip(creds.as_bytes())).unwrap();
    // logrotate's name: gzip by its magic bytes alone; two members as `cat a.gz b.gz` makes.
    let (head, tail) = log.split_at(log.len() - 30);
    fs::write(
        dir.path().join("app.log.1"),
        [gzip(head), gzip(tail)].concat(),
    )
    .unwrap();
    fs::write(dir.path().join("nested.gz"), gzip(&gzip(creds.as_bytes()))).unwrap();
    let zst = ruzstd::encoding::compress_to_vec(
        creds.as_bytes(),
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    fs::write(dir.path().join("creds.zst"), zst).unwrap();
    let mut xz =
        lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(6)).unwrap();
    xz.write_all(creds.as_bytes()).unwrap();
    fs::write(dir.path().join("creds.xz"), xz.finish().unwrap()).unwrap();

    let (doc, code, _) = json_scan(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{doc:#}");
    let enc = |e: &[&str]| serde_json::json!(e);
    let (id, secret) = ("access_key_id", "secret_access_key");
    let table: [(&str, u64, u64, &str, &[&str]); 9] = [
        ("app.log.1", log_line, 23, id, &["gzip"]),
        ("creds.xz", 2, 21, id, &["xz"]),
        ("creds.xz", 3, 25, secret, &["xz"]),
        ("creds.zst", 2, 21, id, &["zstd"]),
        ("creds.zst", 3, 25, secret, &["zstd"]),
        ("nested.gz", 2, 21, id, &["gzip", "gzip"]),
        ("nested.gz", 3, 25, secret, &["gzip", "gzip"]),
        ("user-data.txt.gz", 2, 21, id, &["gzip"]),
        ("user-data.txt.gz", 3, 25, secret, &["gzip"]),
    ];
    let mut want: Vec<_> = (table.iter())
        .map(|(p, l, c, k, e)| (p.to_string(), *l, *c, k.to_string(), enc(e)))
        .collect();
    assert_eq!(placed(&doc, dir.path()), want);
    assert_eq!(
        (
            doc["stats"]["errors"].as_u64(),
            doc["stats"]["skipped"].as_u64()
        ),
        (Some(0), Some(0))
    );

    // Text and SARIF say so too, and no output shows the secret.
    let text = credhygiene()
        .args(["scan", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(shown.contains("decoded from gzip > gzip"), "{shown}");
    assert_no_secret(&text.stdout, &[SECRET]);
    let sarif = credhygiene()
        .args(["scan", "--format", "sarif", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_slice(&sarif.stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results[0]["properties"]["encoding"], enc(&["gzip"]));
    let region = &results[0]["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (region["startLine"].as_u64(), region["startColumn"].as_u64()),
        (Some(log_line), Some(23))
    );

    // Off: the bytes as they are. ruzstd's fastest level stores a small input as a raw
    // block, the text in plain sight: found, as plain text; the others hold no key.
    let cfg = dir.path().join("off.toml");
    fs::write(&cfg, "[scan]\ndecompress = false\n").unwrap();
    let (doc, code, _) = json_scan(&[
        "--config",
        cfg.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    want.retain(|w| w.0 == "creds.zst");
    want.iter_mut().for_each(|w| w.4 = Value::Null);
    assert_eq!((code, placed(&doc, dir.path())), (1, want));
}

/// A gzip bomb (1 GiB of zeros in about 1 MiB) is stopped by the expansion ratio under a
/// 256 MiB address-space limit, counted as skipped and named as not proven clean; a truncated
/// stream has what was decoded before the damage scanned, and is counted as an error.
#[test]
fn a_gzip_bomb_is_skipped_and_a_truncated_stream_is_scanned_to_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = dir.path().join("bomb.gz");
    fs::write(&bomb, e.finish().unwrap()).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("credhygiene");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -v 262144; exec "$0" scan --format json -j 1 "$1""#)
        .arg(&bin)
        .arg(&bomb)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{err}"));
    assert_eq!(out.status.code(), Some(3), "not proven clean: {err}");
    assert_eq!(doc["stats"]["skipped"], 1);
    assert!(doc["stats"]["bytes"].as_u64().unwrap() < 16 << 20, "{doc}");
    assert!(
        err.contains("bomb.gz") && err.contains("decompression bomb"),
        "{err}"
    );

    // Truncated inside the compressed stream, after the key id's line.
    let mut log = format!("AWS_ACCESS_KEY_ID={KEY_ID}\n").into_bytes();
    let mut rng = 7u64;
    for _ in 0..20_000 {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        writeln!(log, "{rng:016x} {:x}", rng >> 7).unwrap();
    }
    let whole = gzip(&log);
    let cut = dir.path().join("rotated.log.gz");
    fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let out = credhygiene()
        .args(["scan", "--format", "json", cut.to_str().unwrap()])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let f = &doc["findings"][0];
    assert_eq!(
        (
            f["key_id"].as_str(),
            f["line"].as_u64(),
            f["column"].as_u64()
        ),
        (Some(KEY_ID), Some(1), Some(19))
    );
    assert_eq!(doc["stats"]["errors"], 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gzip stream truncated or corrupt"), "{err}");
}

/// A compressed log with many lone key ids (held compactly by the scanner, see
/// `scan::keyids`) and one paired credential: the findings rebuilt from the compact form carry
/// `encoding` like the others.
#[test]
fn key_ids_held_compactly_keep_the_encoding_of_their_file() {
    let dir = tempfile::tempdir().unwrap();
    const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut log = String::new();
    for i in 0..20 {
        let tail: String = [B32[i % 32], B32[(i * 7 + 3) % 32]]
            .iter()
            .map(|&b| b as char)
            .collect();
        log.push_str(&format!("request by id={}{tail}\n", &KEY_ID[..18]));
    }
    log.push_str(&format!(
        "aws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
    ));
    fs::write(dir.path().join("calls.log.gz"), gzip(log.as_bytes())).unwrap();
    let (doc, code, _) = json_scan(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{doc}");
    let found = placed(&doc, dir.path());
    let gz = serde_json::json!(["gzip"]);
    let pair: Vec<_> = found.iter().filter(|f| f.1 >= 21).collect();
    assert_eq!(pair.len(), 2, "{doc}");
    for f in &found {
        assert_eq!(f.4, gz, "{f:?} in {doc}");
    }
}
