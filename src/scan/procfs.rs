//! Running processes: `/proc/PID/environ` (NUL-separated), the executable, and the systemd
//! unit from `/proc/PID/cgroup`. A process that exits mid-read is gone, not an error; one that
//! denies access is counted and named in one warning per scan (the agent lacks
//! `CAP_SYS_PTRACE`, or a security module refuses it), since its keys go unseen.

use std::io::Read;
use std::path::Path;

use crate::finding::{ProcessInfo, Source};
use crate::scan::Haystack;

/// The environments of every readable process under `proc_root` (normally `/proc`), except
/// this one. Returns the haystacks and how many processes could not be read.
pub fn environments(proc_root: &Path, max_size: u64) -> (Vec<Haystack>, u64) {
    let mut out = Vec::new();
    let mut unreadable = 0;
    let mut first_denied: Option<(u32, std::io::Error)> = None;
    let me = std::process::id();
    let Ok(rd) = std::fs::read_dir(proc_root) else {
        return (out, 1);
    };
    let mut pids: Vec<u32> = rd
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&pid| pid != me)
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let dir = proc_root.join(pid.to_string());
        let mut bytes = Vec::new();
        let read = std::fs::File::open(dir.join("environ"))
            .and_then(|f| f.take(max_size).read_to_end(&mut bytes));
        match read {
            Ok(0) => continue, // kernel threads and zombies have no environment
            Ok(_) => {}
            // ESRCH: the process exited between the listing and the read.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ESRCH) =>
            {
                continue
            }
            Err(e) => {
                log::debug!(pid, error:% = e; "cannot read process environment");
                unreadable += 1;
                first_denied.get_or_insert((pid, e));
                continue;
            }
        }
        // One variable per line, so that `line` is the variable's index.
        for b in bytes.iter_mut() {
            if *b == 0 {
                *b = b'\n';
            }
        }
        let exe = std::fs::read_link(dir.join("exe"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        let unit = std::fs::read_to_string(dir.join("cgroup"))
            .ok()
            .and_then(|c| unit_from_cgroup(&c));
        out.push(Haystack {
            source: Source::Process,
            path: format!("/proc/{pid}/environ"),
            bytes,
            process: Some(ProcessInfo { pid, exe, unit }),
        });
    }
    if let Some((pid, e)) = first_denied {
        log::warn!(unreadable, first_pid = pid, error:% = e;
            "cannot read {unreadable} process environment(s) (the first: /proc/{pid}/environ: {e}); keys in them are not seen");
    }
    (out, unreadable)
}

/// The systemd unit of a process from its cgroup file (v1 or v2): the last path component
/// that ends in `.service` or `.scope`.
pub fn unit_from_cgroup(cgroup: &str) -> Option<String> {
    cgroup
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .flat_map(|path| path.rsplit('/'))
        .find(|c| c.ends_with(".service") || c.ends_with(".scope"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_from_cgroup_v1_and_v2() {
        assert_eq!(
            unit_from_cgroup("0::/system.slice/nginx.service\n").as_deref(),
            Some("nginx.service")
        );
        assert_eq!(
            unit_from_cgroup("12:pids:/user.slice/user-1000.slice/session-3.scope\n1:name=systemd:/user.slice/user-1000.slice/session-3.scope\n").as_deref(),
            Some("session-3.scope")
        );
        assert_eq!(unit_from_cgroup("0::/\n"), None);
    }
}
