//! The tracker's tests: every incremental cycle is checked against a full scan.

use super::*;
use crate::scan::{Options, Plan, ScanOutcome, Scanner};
use std::path::Path;
use std::sync::atomic::AtomicBool;

const KEY_ID: &str = "AKIASXQV3SVWMFRRRM75";
const SECRET: &str = "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";

fn scanner(exclude: Vec<String>) -> Scanner {
    Scanner::new(Options {
        threads: 1,
        max_file_size: 4096,
        decompress: Some(crate::scan::DecompressLimits::DEFAULT),
        follow_symlinks: false,
        same_file_system: true,
        exclude,
        allowlist: std::collections::HashSet::new(),
        read_rate_limit: 0,
        proc_root: PathBuf::from("/nonexistent"),
        build_cache: true,
    })
    .unwrap()
}

/// One random change to the tree under `root`, of the kinds inotify reports file by file
/// and of the kinds that make the tracker walk again.
fn mutate(root: &Path, rng: &mut fastrand::Rng, n: usize) {
    let dirs: Vec<PathBuf> = walk(root).into_iter().filter(|p| p.is_dir()).collect();
    let files: Vec<PathBuf> = walk(root)
        .into_iter()
        .filter(|p| {
            use std::os::unix::fs::FileTypeExt;
            // Not FIFOs: writing to one would wait for a reader.
            p.symlink_metadata()
                .is_ok_and(|m| !m.is_dir() && !m.file_type().is_fifo())
        })
        .collect();
    let dir = &dirs[rng.usize(..dirs.len())];
    let file = (!files.is_empty()).then(|| &files[rng.usize(..files.len())]);
    let content = match rng.u8(..4) {
        0 => format!("aws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"),
        1 => format!("x\n{KEY_ID} credhygiene:allow\n"),
        2 => "x".repeat(5000) + KEY_ID, // over max_file_size: skipped
        _ => "nothing here\n".to_string(),
    };
    let name = |ext: &str| format!("n{n}{ext}");
    let op = rng.u8(..13);
    let _ = match (op, file) {
        (0 | 1, _) => std::fs::write(dir.join(name(".conf")), &content),
        (2 | 3, Some(f)) => std::fs::write(f, &content),
        (4, Some(f)) => std::fs::remove_file(f),
        (5, Some(f)) => std::fs::rename(f, dir.join(name(".moved"))),
        (6, _) => std::fs::create_dir(dir.join(name("d")))
            .and_then(|()| std::fs::write(dir.join(name("d")).join("inner.env"), &content)),
        (7, _) if dir != root => std::fs::rename(dir, root.join(name("r"))),
        (8, _) if dir != root => std::fs::remove_dir_all(dir),
        (9, _) => std::os::unix::fs::symlink(dir, dir.join(name(".link"))),
        (10, _) => std::fs::write(dir.join(name(".skip")), &content),
        (12, Some(f)) => std::fs::hard_link(f, dir.join(name(".hard"))),
        (11, Some(f)) => {
            // An editor's save: a new file renamed over the old one.
            let tmp = dir.join(name(".tmp"));
            std::fs::write(&tmp, &content).and_then(|()| std::fs::rename(&tmp, f))
        }
        _ => std::process::Command::new("mkfifo")
            .arg(dir.join(name(".fifo")))
            .status()
            .map(drop),
    };
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if out[i].symlink_metadata().is_ok_and(|m| m.is_dir()) {
            let mut kids: Vec<PathBuf> = std::fs::read_dir(&out[i])
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect();
            kids.sort();
            out.extend(kids);
        }
        i += 1;
    }
    out
}

/// The tree of the random tests (`a/b/k.env` with a key), its scanner, plan and tracker,
/// and a generator seeded from `SEED` (else `seed`).
fn random_world(
    seed: u64,
) -> (
    tempfile::TempDir,
    PathBuf,
    Scanner,
    Plan,
    Tracker,
    fastrand::Rng,
) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(
        root.join("a/b/k.env"),
        format!("AWS_ACCESS_KEY_ID={KEY_ID}\n"),
    )
    .unwrap();
    let plan = Plan::from_paths(std::slice::from_ref(&root));
    let tracker = Tracker::for_trees(std::slice::from_ref(&root), false, true).unwrap();
    let seed = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(seed);
    let s = scanner(vec!["*.skip".into()]);
    (dir, root, s, plan, tracker, fastrand::Rng::with_seed(seed))
}

#[tokio::test]
async fn tracked_cycles_equal_full_scans_through_random_changes() {
    let (_dir, root, s, plan, mut tracker, mut rng) = random_world(0x5eed);
    let cancel = AtomicBool::new(false);
    let (mut updates, mut walks) = (0, 0);
    for round in 0..150 {
        if round > 0 {
            for k in 0..rng.usize(1..4) {
                mutate(&root, &mut rng, round * 10 + k);
            }
        }
        let reuse = tracker.reuse(test_cache()).await;
        let scanned = s.scan(&plan, &cancel, reuse);
        // An update has no stat cache to save; a walk (also one an update fell back to) has.
        let incremental = scanned.cache.is_none();
        tracker.finish(scanned.index);
        let (full, _) = s.run(&plan, &cancel, None);
        let (got, want) = (&scanned.outcome, &full);
        assert_eq!(
            got.findings, want.findings,
            "round {round} (update: {incremental})"
        );
        let counters = |o: &crate::scan::ScanOutcome| {
            (
                o.stats.files,
                o.stats.skipped,
                o.stats.errors,
                o.stats.suppressed,
            )
        };
        assert_eq!(
            counters(got),
            counters(want),
            "round {round} (update: {incremental})"
        );
        if incremental {
            updates += 1;
            let read = got.stats.files - got.stats.cached;
            assert!(read <= 12, "an update reads only what changed: {read} read");
        } else {
            walks += 1;
        }
    }
    // Both paths were exercised, and most cycles were updates.
    assert!(
        updates > 50 && walks > 10,
        "updates {updates}, walks {walks}"
    );
}

// ---- edge cases found by review: each one compares an update with a full scan ----

fn paths(o: &ScanOutcome) -> Vec<(String, String)> {
    o.findings
        .iter()
        .map(|f| (f.path.clone(), format!("{:?}", f.source)))
        .collect()
}

/// One tracked cycle with `plan`, then a full scan of the same plan.
async fn cycle(t: &mut Tracker, s: &Scanner, plan: &Plan) -> (bool, ScanOutcome, ScanOutcome) {
    let cancel = AtomicBool::new(false);
    let reuse = t.reuse(test_cache()).await;
    let upd = matches!(reuse, Reuse::Update { .. });
    let scanned = s.scan(plan, &cancel, reuse);
    t.finish(scanned.index);
    let (full, _) = s.run(plan, &cancel, None);
    (upd, scanned.outcome, full)
}

/// A scanner without exclude globs, the plan of the one tree `root`, and its tracker.
fn tracked(root: &Path) -> (Scanner, Plan, Tracker) {
    let plan = Plan::from_paths(&[root.to_path_buf()]);
    let tracker = Tracker::for_trees(&[root.to_path_buf()], false, true).unwrap();
    (scanner(vec![]), plan, tracker)
}

/// One tracked cycle, which must find what a full scan of the same moment finds.
async fn assert_cycle_matches(t: &mut Tracker, s: &Scanner, plan: &Plan) {
    let (update, got, want) = cycle(t, s, plan).await;
    assert_eq!(paths(&got), paths(&want), "update: {update}");
}

/// A write deep in a tree is noted for the next cycle; a write to an env file calls for
/// an early one, named.
#[tokio::test]
async fn an_env_file_change_calls_for_an_early_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let (root, env) = (dir.path().join("tree"), dir.path().join("etc/environment"));
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(&env, "PATH=/usr/bin\n").unwrap();
    let cfg = ScanConfig {
        paths: vec![root.clone()],
        env_files: vec![env.display().to_string()],
        processes: false,
        ..ScanConfig::default()
    };
    let mut t = Tracker::start(&cfg).unwrap();
    let _ = cycle(&mut t, &scanner(vec![]), &Plan::from_config(&cfg)).await;
    let wait = Duration::from_secs(3);
    std::fs::write(root.join("a/f"), "nothing\n").unwrap();
    let change = tokio::time::timeout(wait, t.next_change()).await;
    assert!(matches!(change, Ok(Change::Trees)), "{change:?}");
    std::fs::write(&env, format!("AWS_ACCESS_KEY_ID={KEY_ID}\n")).unwrap();
    match tokio::time::timeout(wait, t.next_change()).await {
        Ok(Change::Watched(path)) => assert_eq!(path, env),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_write_through_another_hard_link_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(root.join("b")).unwrap();
    std::fs::write(root.join("a/f"), "nothing\n").unwrap();
    std::fs::hard_link(root.join("a/f"), root.join("b/g")).unwrap();
    let (s, plan, mut t) = tracked(&root);
    let (upd, _, _) = cycle(&mut t, &s, &plan).await;
    assert!(!upd);
    // In place write through a/f (same inode as b/g).
    std::fs::write(root.join("a/f"), format!("id = {KEY_ID}\n")).unwrap();
    assert_cycle_matches(&mut t, &s, &plan).await;
}

/// A tree whose unit names `opt/secrets` (a key) in `EnvironmentFile=` or not; the unit
/// is rewritten between two cycles, from naming it (`before`) to not, or the reverse. The
/// walk leaves env files out of the index, so the update must notice the other set.
async fn env_file_set_change(before: bool) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(root.join("units")).unwrap();
    std::fs::create_dir_all(root.join("opt")).unwrap();
    let secret = root.join("opt/secrets");
    std::fs::write(&secret, format!("AWS_ACCESS_KEY_ID={KEY_ID}\n")).unwrap();
    let unit = root.join("units/app.service");
    let text = |names: bool| match names {
        true => format!("[Service]\nEnvironmentFile={}\n", secret.display()),
        false => "[Service]\nExecStart=/bin/true\n".to_string(),
    };
    std::fs::write(&unit, text(before)).unwrap();
    let cfg = ScanConfig {
        paths: vec![root.clone()],
        env_files: vec![format!("{}/units/*.service", root.display())],
        processes: false,
        ..ScanConfig::default()
    };
    let s = scanner(vec![]);
    let mut t = Tracker::for_trees(std::slice::from_ref(&root), false, true).unwrap();
    let _ = cycle(&mut t, &s, &Plan::from_config(&cfg)).await;
    std::fs::write(&unit, text(!before)).unwrap();
    assert_cycle_matches(&mut t, &s, &Plan::from_config(&cfg)).await;
}

#[tokio::test]
async fn a_file_leaving_the_env_file_set_is_scanned_as_a_tree_file() {
    env_file_set_change(true).await;
}

#[tokio::test]
async fn a_file_joining_the_env_file_set_is_reported_once() {
    env_file_set_change(false).await;
}

/// A configured single file that matches an exclude glob: the walk reads it (roots are not
/// filtered), an update drops it.
#[tokio::test]
async fn an_excluded_single_file_tree_is_scanned_as_the_walk_does() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("creds.skip");
    std::fs::write(&f, format!("id = {KEY_ID}\n")).unwrap();
    let s = scanner(vec!["*.skip".into()]);
    let plan = Plan::from_paths(std::slice::from_ref(&f));
    let mut t = Tracker::for_trees(std::slice::from_ref(&f), false, true).unwrap();
    let (_, walked, _) = cycle(&mut t, &s, &plan).await;
    eprintln!("walk: {:?}", paths(&walked));
    assert_cycle_matches(&mut t, &s, &plan).await;
}

/// Nested trees: the walk visits the inner files twice, the index once.
#[tokio::test]
async fn nested_trees_are_scanned_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::write(root.join("a/k"), format!("id = {KEY_ID}\n")).unwrap();
    let trees = vec![root.clone(), root.join("a")];
    let s = scanner(vec![]);
    let plan = Plan::from_paths(&trees);
    let mut t = Tracker::for_trees(&trees, false, true).unwrap();
    let _ = cycle(&mut t, &s, &plan).await;
    let (upd, got, want) = cycle(&mut t, &s, &plan).await;
    eprintln!(
        "update={upd} got files={} findings={}; want files={} findings={}",
        got.stats.files,
        got.findings.len(),
        want.stats.files,
        want.findings.len()
    );
    assert_eq!(
        (got.stats.files, got.findings.len()),
        (want.stats.files, want.findings.len())
    );
}

/// Mounts (`mount ARGS… TARGET`) inside the tree `root`, walks, writes a key to
/// `key_file`, and compares the update that follows with a full scan. Skipped where this
/// machine does not allow mounting.
async fn update_with_mount(
    root: &Path,
    args: &[&str],
    source: Option<&Path>,
    target: &Path,
    key_file: &Path,
) {
    let mut mount = std::process::Command::new("mount");
    mount.args(args).args(source).arg(target);
    if !mount.status().is_ok_and(|s| s.success()) {
        eprintln!("cannot mount here: skipped");
        return;
    }
    let (s, plan, mut t) = tracked(root);
    let _ = cycle(&mut t, &s, &plan).await;
    std::fs::write(key_file, format!("id = {KEY_ID}\n")).unwrap();
    let (_, got, want) = cycle(&mut t, &s, &plan).await;
    let _ = std::process::Command::new("umount").arg(target).status();
    assert_eq!(paths(&got), paths(&want));
}

/// A file system mounted inside a tree is neither walked nor watched: an update does not
/// read what is written there either.
#[tokio::test]
async fn a_mount_point_inside_a_tree_is_neither_walked_nor_watched() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(root.join("mnt")).unwrap();
    let (mnt, key) = (root.join("mnt"), root.join("mnt/k"));
    update_with_mount(&root, &["-t", "tmpfs", "tmpfs"], None, &mnt, &key).await;
}

/// The same directory at two paths of a tree (a bind mount of the same file system) has one
/// watch: a write is read at both paths.
#[tokio::test]
async fn a_bind_mounted_directory_is_seen_at_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(root.join("site")).unwrap();
    std::fs::create_dir_all(root.join("www")).unwrap();
    let (site, www) = (root.join("site"), root.join("www"));
    update_with_mount(&root, &["--bind"], Some(&site), &www, &site.join("k")).await;
}

/// Inotify watches of this process on the directories under `root` (from fdinfo, whose
/// `ino:` is hex; other tests' watches are on other inodes).
fn kernel_watches_under(root: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let inodes: HashSet<String> = walk(root)
        .iter()
        .filter_map(|p| p.metadata().ok())
        .map(|m| format!("ino:{:x} ", m.ino()))
        .collect();
    let mut n = 0;
    for e in std::fs::read_dir("/proc/self/fdinfo").unwrap().flatten() {
        if let Ok(s) = std::fs::read_to_string(e.path()) {
            n += (s.lines())
                .filter(|l| {
                    l.starts_with("inotify wd:") && inodes.iter().any(|i| l.contains(i.as_str()))
                })
                .count();
        }
    }
    n
}

/// Budget exhausted: no index, and none of the watches the walk added stays.
#[tokio::test]
async fn an_exhausted_watch_budget_leaves_no_watch_behind() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    for i in 0..20 {
        std::fs::create_dir_all(root.join(format!("d{i}"))).unwrap();
    }
    let (s, plan, mut t) = tracked(&root);
    t.budget = 10;
    assert_eq!(kernel_watches_under(&root), 0);
    let _ = cycle(&mut t, &s, &plan).await;
    assert_eq!(t.watched(), 0, "no index");
    assert_eq!(
        kernel_watches_under(&root),
        0,
        "the walk's watches are removed"
    );
}

#[tokio::test]
async fn a_burst_of_events_is_read_whole_before_the_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(&root).unwrap();
    let n = 6000;
    let name = |i: usize| root.join(format!("{i:05}{}", "x".repeat(230)));
    for i in 0..n {
        std::fs::write(name(i), "nothing\n").unwrap();
    }
    let (s, plan, mut t) = tracked(&root);
    let _ = cycle(&mut t, &s, &plan).await;
    t.drain().await;
    // A burst: every file rewritten (MODIFY + CLOSE_WRITE each), the last with a key.
    for i in 0..n {
        let text = if i == n - 1 {
            "id = AKIASXQV3SVWMFRRRM75\n"
        } else {
            "nothing.\n"
        };
        std::fs::write(name(i), text).unwrap();
    }
    // Every event must be read before the cycle, though tokio's budget ends a poll at 128.
    assert_cycle_matches(&mut t, &s, &plan).await;
}

/// The configured tree is reached through a symlink that a deployment switches
/// (`current -> releases/N`): no watched directory sees the switch.
#[tokio::test]
async fn a_root_behind_a_switched_symlink_is_walked_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("releases/1/config")).unwrap();
    std::fs::create_dir_all(d.join("releases/2/config")).unwrap();
    std::fs::write(d.join("releases/1/config/app.conf"), "nothing\n").unwrap();
    std::os::unix::fs::symlink("releases/1", d.join("current")).unwrap();
    let root = d.join("current/config");
    let (s, plan, mut t) = tracked(&root);
    let _ = cycle(&mut t, &s, &plan).await;
    // Deploy release 2 (with a key) and switch the symlink atomically.
    std::fs::write(
        d.join("releases/2/config/app.conf"),
        "id = AKIASXQV3SVWMFRRRM75\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("releases/2", d.join("current.new")).unwrap();
    std::fs::rename(d.join("current.new"), d.join("current")).unwrap();
    for _ in 0..2 {
        assert_cycle_matches(&mut t, &s, &plan).await;
    }
}

// ---- unreadable sources in updates: permissions do not apply to root, so these run as
// nobody (setpriv) from the driver below ----

fn unreadable_paths(o: &ScanOutcome) -> Vec<String> {
    o.unreadable.iter().map(|u| u.path.clone()).collect()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(true)
}

fn chmod(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// A tree root that cannot be listed, then can again (and has a key): the update keeps
/// reporting the root unreadable, and misses the key, until the next full rescan.
#[tokio::test]
#[ignore = "run as nobody by unreadable_sources_in_updates_as_nobody"]
async fn nobody_an_unreadable_root_that_becomes_readable_is_walked_again() {
    assert!(!is_root(), "needs a user that permissions apply to");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("old"), format!("id = {KEY_ID}\n")).unwrap();
    chmod(&root, 0o000);
    let (s, plan, mut t) = tracked(&root);
    let (upd, got, _) = cycle(&mut t, &s, &plan).await;
    assert!(!upd);
    assert_eq!(unreadable_paths(&got), [root.display().to_string()]);
    chmod(&root, 0o755);
    std::fs::write(root.join("new"), format!("id = {KEY_ID}\n")).unwrap();
    for round in 0..3 {
        let (upd, got, want) = cycle(&mut t, &s, &plan).await;
        eprintln!(
            "round {round} update={upd}: got unreadable {:?} findings {:?}; full scan unreadable {:?} findings {:?}",
            unreadable_paths(&got), paths(&got), unreadable_paths(&want), paths(&want)
        );
        assert_eq!(
            unreadable_paths(&got),
            unreadable_paths(&want),
            "round {round}, update: {upd}"
        );
        assert_eq!(paths(&got), paths(&want), "round {round}, update: {upd}");
    }
}

/// A configured single file matching an exclude glob (roots are scanned whatever the globs
/// say), unreadable in the walk: updates keep reporting it unreadable (its findings are
/// carried) while it is, and read it once it is readable again.
#[tokio::test]
#[ignore = "run as nobody by unreadable_sources_in_updates_as_nobody"]
async fn nobody_an_excluded_single_file_tree_that_fails_stays_unreadable_then_is_read() {
    assert!(!is_root(), "needs a user that permissions apply to");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("creds.skip");
    std::fs::write(&f, format!("id = {KEY_ID}\n")).unwrap();
    chmod(&f, 0o000);
    let s = scanner(vec!["*.skip".into()]);
    let plan = Plan::from_paths(std::slice::from_ref(&f));
    let mut t = Tracker::for_trees(std::slice::from_ref(&f), false, true).unwrap();
    let (upd, got, _) = cycle(&mut t, &s, &plan).await;
    assert!(!upd);
    assert_eq!(unreadable_paths(&got), [f.display().to_string()]);
    let (upd, got, want) = cycle(&mut t, &s, &plan).await;
    let unreadable = (unreadable_paths(&got), unreadable_paths(&want));
    assert_eq!(
        unreadable.0, unreadable.1,
        "still unreadable, update: {upd}"
    );
    chmod(&f, 0o644);
    assert_cycle_matches(&mut t, &s, &plan).await;
}

/// Random changes including permission changes (never of the root), as a non-root user:
/// the update's findings and unreadable sources equal a full scan's.
#[tokio::test]
#[ignore = "run as nobody by unreadable_sources_in_updates_as_nobody"]
async fn nobody_tracked_cycles_equal_full_scans_through_permission_changes() {
    assert!(!is_root(), "needs a user that permissions apply to");
    let (dir, root, s, plan, mut tracker, mut rng) = random_world(7);
    let cancel = AtomicBool::new(false);
    let mut failures = Vec::new();
    let mut stats = (0usize, 0usize, 0usize);
    for round in 0..200 {
        if round > 0 {
            for k in 0..rng.usize(1..4) {
                if rng.u8(..6) == 0 {
                    let all: Vec<PathBuf> =
                        walk(&root).into_iter().filter(|p| p != &root).collect();
                    if !all.is_empty() {
                        let p = &all[rng.usize(..all.len())];
                        let m = if rng.bool() {
                            if p.is_dir() {
                                0o755
                            } else {
                                0o644
                            }
                        } else {
                            [0o000, 0o311, 0o444, 0o200][rng.usize(..4)]
                        };
                        use std::os::unix::fs::PermissionsExt;
                        let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
                    }
                } else {
                    mutate(&root, &mut rng, round * 10 + k);
                }
            }
        }
        let reuse = tracker.reuse(test_cache()).await;
        let upd = matches!(reuse, Reuse::Update { .. });
        let scanned = s.scan(&plan, &cancel, reuse);
        tracker.finish(scanned.index);
        let (full, _) = s.run(&plan, &cancel, None);
        let (got, want) = (&scanned.outcome, &full);
        stats.0 += upd as usize;
        stats.1 += (!got.unreadable.is_empty()) as usize;
        stats.2 += got.findings.len();
        if paths(got) != paths(want) || unreadable_paths(got) != unreadable_paths(want) {
            failures.push(format!(
                "round {round} update={upd}\n  got  findings {:?}\n  want findings {:?}\n  got  unreadable {:?}\n  want unreadable {:?}",
                paths(got), paths(want), unreadable_paths(got), unreadable_paths(want)
            ));
        }
    }
    eprintln!(
        "updates {} rounds-with-unreadable {} findings-total {}",
        stats.0, stats.1, stats.2
    );
    // Let the tempdir go.
    for p in walk(&root) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
    }
    let _ = std::process::Command::new("chmod")
        .args(["-R", "u+rwx"])
        .arg(dir.path())
        .status();
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn drain_bound_table() {
    // (fs.inotify.max_queued_events, events one drain takes at most)
    let table = [
        (0, 1025),
        (16_384, 17_409),
        (1 << 20, (1 << 20) + 1025),
        (usize::MAX, usize::MAX),
    ];
    for (max_queued, bound) in table {
        assert_eq!(drain_bound(max_queued), bound, "max_queued {max_queued}");
    }
}

/// Two files written as fast as the machine can (busy logs) while the tracker drains:
/// the drain returns while the writes go on (it once took events until the writers
/// stopped, for as long as they ran, on a machine where they outran it).
#[tokio::test]
async fn draining_returns_while_files_are_written_continuously() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(&root).unwrap();
    let (s, plan, mut t) = tracked(&root);
    let _ = cycle(&mut t, &s, &plan).await;
    // A small bound, as on a host with a small kernel queue, so the writers outrun it
    // on any machine.
    t.drain_limit = 64;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|i| {
            let stop = stop.clone();
            let path = root.join(format!("busy{i}.log"));
            std::thread::spawn(move || {
                use std::io::Write;
                let mut f = std::fs::File::create(&path).unwrap();
                // Only a safety net against a hang: the drain must end the writes.
                let deadline = std::time::Instant::now() + Duration::from_secs(120);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if std::time::Instant::now() > deadline {
                        return false;
                    }
                    let _ = f.write_all(b"x");
                }
                true
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.drain().await;
    t.drain().await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        assert!(
            w.join().unwrap(),
            "the drain returned only after the writers gave up"
        );
    }
    // Whatever the drain left is taken by the next ones, and the changes are read.
    std::fs::write(root.join("busy0.log"), format!("id = {KEY_ID}\n")).unwrap();
    let (_, got, want) = cycle(&mut t, &s, &plan).await;
    assert_eq!(paths(&got), paths(&want));
    assert_eq!(paths(&got).len(), 1, "{:?}", paths(&got));
}

/// Runs the `nobody_*` tests as nobody when this process is root (as in CI), through
/// setpriv, and checks that each ran and passed; as another user, runs them here.
#[test]
fn unreadable_sources_in_updates_as_nobody() {
    let names = [
        "nobody_an_unreadable_root_that_becomes_readable_is_walked_again",
        "nobody_an_excluded_single_file_tree_that_fails_stays_unreadable_then_is_read",
        "nobody_tracked_cycles_equal_full_scans_through_permission_changes",
    ];
    let exe = std::env::current_exe().unwrap();
    for name in names {
        let test = format!("agent::track::tests::{name}");
        let mut cmd = if is_root() {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let out = cmd
            .args(["--ignored", "--exact", &test, "--test-threads=1"])
            .env("TMPDIR", "/tmp")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{test}:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
