//! Which files are env files: the configured list (globs expanded), the files that systemd
//! units name in `EnvironmentFile=`, and files recognised by name while walking (`.env`,
//! docker-compose files, `~/.aws/credentials`).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use globset::GlobBuilder;

/// Expands the configured env-file entries: plain paths that exist, and globs (`*`, `?`, `[..]`
/// in any component), plus the `EnvironmentFile=` targets of every systemd unit among them.
///
/// One file is one source, whatever the number of paths to it: every path is resolved to its
/// canonical form (no symlink in it) and files are kept once by identity (device and inode).
/// On merged-`/usr` systems (`/lib -> usr/lib`) the default globs name every unit twice, and
/// alias symlinks in `/etc/systemd/system` name it again; all of them are
/// `/usr/lib/systemd/system/NAME`. An env file that is a symlink into a scanned tree is thus
/// read once, under the path the walk skips.
pub fn expand(patterns: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for pattern in patterns {
        if !pattern.contains(['*', '?', '[']) {
            let p = PathBuf::from(pattern);
            if p.is_file() {
                out.push(p);
            }
            continue;
        }
        expand_glob(Path::new(pattern), &mut out);
    }
    let mut referenced = Vec::new();
    for p in &out {
        if is_systemd_unit(p) {
            if let Ok(text) = std::fs::read(p) {
                referenced.extend(unit_environment_files(&text));
            }
        }
    }
    out.extend(referenced);
    one_path_per_file(out)
}

/// Canonical paths of the regular files among `paths`, each file once (the first by path
/// order wins among hard links), sorted.
fn one_path_per_file(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut canonical: Vec<PathBuf> = paths
        .into_iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    canonical.sort();
    canonical.dedup();
    let mut seen = HashSet::new();
    canonical.retain(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && seen.insert((m.dev(), m.ino())))
    });
    canonical
}

fn expand_glob(pattern: &Path, out: &mut Vec<PathBuf>) {
    let mut current = vec![PathBuf::from("/")];
    let components: Vec<_> = pattern
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    for (i, comp) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        let mut next = Vec::new();
        if comp.contains(['*', '?', '[']) {
            let Ok(glob) = GlobBuilder::new(comp).literal_separator(true).build() else {
                return;
            };
            let m = glob.compile_matcher();
            for dir in &current {
                let Ok(rd) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<_> = rd.filter_map(Result::ok).collect();
                names.sort_by_key(|e| e.file_name());
                for e in names {
                    if m.is_match(e.file_name()) {
                        next.push(e.path());
                    }
                }
            }
        } else {
            next = current.iter().map(|d| d.join(comp)).collect();
        }
        current = next
            .into_iter()
            .filter(|p| if last { p.is_file() } else { p.is_dir() })
            .collect();
    }
    out.extend(current);
}

fn is_systemd_unit(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e == "service" || e == "conf" || e == "socket")
}

/// The paths a systemd unit names in `EnvironmentFile=` (a leading `-` means optional;
/// paths with specifiers such as `%i` cannot be resolved here and are left out).
pub fn unit_environment_files(unit: &[u8]) -> Vec<PathBuf> {
    String::from_utf8_lossy(unit)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("EnvironmentFile="))
        .map(|v| v.trim().trim_start_matches('-').trim_matches('"'))
        .filter(|v| v.starts_with('/') && !v.contains('%'))
        .map(PathBuf::from)
        .collect()
}

/// Whether a file met while walking is an env file by its name: `.env`, `.env.*`, `*.env`,
/// docker-compose files, and `credentials` / `config` in a `.aws` directory.
pub fn is_env_file_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if name == ".env" || name.starts_with(".env.") || name.ends_with(".env") {
        return true;
    }
    if (name.starts_with("docker-compose") || name.starts_with("compose"))
        && (name.ends_with(".yml") || name.ends_with(".yaml"))
    {
        return true;
    }
    if name == "environment" && path.parent() == Some(Path::new("/etc")) {
        return true;
    }
    (name == "credentials" || name == "config")
        && path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|d| d == ".aws")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_file_directives() {
        let unit = b"[Service]\nEnvironmentFile=-/etc/default/app\nEnvironmentFile=/srv/%i.env\nEnvironmentFile=/opt/app/env\nEnvironment=A=1\n";
        assert_eq!(
            unit_environment_files(unit),
            vec![
                PathBuf::from("/etc/default/app"),
                PathBuf::from("/opt/app/env")
            ]
        );
    }

    #[test]
    fn env_file_names() {
        for p in [
            "/srv/app/.env",
            "/srv/app/.env.production",
            "/srv/app/prod.env",
            "/srv/app/docker-compose.yml",
            "/srv/app/compose.yaml",
            "/home/u/.aws/credentials",
            "/root/.aws/config",
        ] {
            assert!(is_env_file_name(Path::new(p)), "{p}");
        }
        for p in ["/srv/app/env.rs", "/etc/config", "/home/u/credentials"] {
            assert!(!is_env_file_name(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn one_file_is_one_source_on_a_merged_usr_system() {
        let tmp = tempfile::tempdir().unwrap();
        let d = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir_all(d.join("usr/lib/systemd/system")).unwrap();
        std::fs::create_dir_all(d.join("etc/systemd/system")).unwrap();
        let unit = d.join("usr/lib/systemd/system/app.service");
        std::fs::write(&unit, "[Service]\nEnvironment=A=1\n").unwrap();
        std::os::unix::fs::symlink("usr/lib", d.join("lib")).unwrap();
        std::os::unix::fs::symlink(&unit, d.join("etc/systemd/system/alias.service")).unwrap();
        // A hard link is the same file too.
        std::fs::hard_link(&unit, d.join("usr/lib/systemd/system/zz-linked.service")).unwrap();
        let patterns: Vec<String> = [
            "lib/systemd/system/*.service",
            "usr/lib/systemd/system/*.service",
            "etc/systemd/system/*.service",
        ]
        .iter()
        .map(|p| d.join(p).display().to_string())
        .collect();
        assert_eq!(expand(&patterns), vec![unit]);
    }

    #[test]
    fn globs_expand_in_any_component() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a", "b", "c"] {
            std::fs::create_dir_all(dir.path().join(d).join(".aws")).unwrap();
        }
        std::fs::write(dir.path().join("a/.aws/credentials"), "x").unwrap();
        std::fs::write(dir.path().join("c/.aws/credentials"), "x").unwrap();
        let unit = dir.path().join("app.service");
        let target = dir.path().join("app.env");
        std::fs::write(&target, "A=1").unwrap();
        std::fs::write(
            &unit,
            format!("[Service]\nEnvironmentFile=-{}\n", target.display()),
        )
        .unwrap();
        let pat = format!("{}/*/.aws/credentials", dir.path().display());
        let got = expand(&[pat, unit.display().to_string()]);
        assert_eq!(
            got,
            vec![
                dir.path().join("a/.aws/credentials"),
                target.clone(),
                unit.clone(),
                dir.path().join("c/.aws/credentials"),
            ]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
    }
}
