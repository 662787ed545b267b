//! Names at the kernel's limits: 255-byte names, paths at and beyond `PATH_MAX` (4,096 bytes,
//! which only `openat`-style calls reach), and the exit code and counts the scan gives there.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{credhygiene, KEY_ID};

/// The longest name Linux file systems take (`NAME_MAX`).
const NAME_MAX: usize = 255;
/// The longest path the kernel resolves in one call (`PATH_MAX`, the terminating NUL included).
const PATH_MAX: usize = 4096;

/// A name of `len` bytes made of `c`.
fn name(c: u8, len: usize) -> Vec<u8> {
    vec![c; len]
}

/// Creates the directory `name` under the directory `parent` (a descriptor) and opens it,
/// whatever the length of the whole path: the calls are relative to `parent`.
fn mkdir_at(parent: libc::c_int, name: &[u8]) -> libc::c_int {
    let c = CString::new(name).unwrap();
    // SAFETY: `c` is a valid NUL-terminated string and `parent` an open directory.
    #[allow(unsafe_code)]
    unsafe {
        assert_eq!(libc::mkdirat(parent, c.as_ptr(), 0o755), 0, "mkdirat");
        let fd = libc::openat(parent, c.as_ptr(), libc::O_DIRECTORY | libc::O_RDONLY);
        assert!(fd >= 0, "openat");
        fd
    }
}

/// Writes `content` to the file `name` in the directory `dir` (a descriptor).
pub(crate) fn write_at(dir: libc::c_int, name: &[u8], content: &[u8]) {
    let c = CString::new(name).unwrap();
    // SAFETY: as in `mkdir_at`; `content` outlives the call.
    #[allow(unsafe_code)]
    unsafe {
        let fd = libc::openat(dir, c.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o644);
        assert!(fd >= 0, "openat for writing");
        let n = libc::write(fd, content.as_ptr().cast(), content.len());
        assert_eq!(n, content.len() as isize);
        libc::close(fd);
    }
}

pub(crate) fn open_dir(path: &Path) -> libc::c_int {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    #[allow(unsafe_code)]
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_DIRECTORY | libc::O_RDONLY) };
    assert!(fd >= 0);
    fd
}

/// Builds `root/ddd…/ddd…/…` with 255-byte directory names until the path would pass
/// `limit` bytes, and writes a key file with a 255-byte name at the bottom. Returns the
/// file's path (longer than `PATH_MAX` when `limit` is).
fn deep_tree(root: &Path, limit: usize, marker: u8) -> PathBuf {
    let mut fd = open_dir(root);
    let mut path = root.to_path_buf();
    let dir_name = name(marker, NAME_MAX);
    let file_name = name(b'f', NAME_MAX);
    while path.as_os_str().len() + 2 * (NAME_MAX + 1) < limit {
        let next = mkdir_at(fd, &dir_name);
        // SAFETY: `fd` is open and no longer used.
        #[allow(unsafe_code)]
        unsafe {
            libc::close(fd);
        }
        fd = next;
        path.push(std::ffi::OsStr::from_bytes(&dir_name));
    }
    write_at(fd, &file_name, format!("id = {KEY_ID}\n").as_bytes());
    // SAFETY: as above.
    #[allow(unsafe_code)]
    unsafe {
        libc::close(fd);
    }
    path.push(std::ffi::OsStr::from_bytes(&file_name));
    path
}

fn json_scan(root: &Path) -> (Value, i32) {
    let out = credhygiene()
        .args(["scan", "--format", "json"])
        .arg(root)
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (doc, out.status.code().unwrap_or(-1))
}

/// A key file with a 255-byte name at the bottom of a path just under `PATH_MAX` is found and
/// reported with its whole path.
#[test]
fn a_key_at_the_end_of_a_path_just_under_path_max_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let file = deep_tree(dir.path(), PATH_MAX - 1, b'd');
    assert!(file.as_os_str().len() < PATH_MAX);
    assert!(file.as_os_str().len() > PATH_MAX - 2 * (NAME_MAX + 1));
    let (doc, code) = json_scan(dir.path());
    assert_eq!(code, 1, "{doc}");
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{doc}");
    assert_eq!(
        findings[0]["path"].as_str().unwrap().as_bytes(),
        file.as_os_str().as_bytes()
    );
    assert_eq!(
        (findings[0]["line"].as_u64(), findings[0]["column"].as_u64()),
        (Some(1), Some(6))
    );
}

/// Beyond `PATH_MAX` the kernel refuses the path: the scan goes on, finds what is within
/// reach, and counts what it could not read (no crash, no hang).
#[test]
fn a_tree_deeper_than_path_max_is_scanned_to_its_limit_and_the_rest_counted() {
    let dir = tempfile::tempdir().unwrap();
    let shallow = deep_tree(dir.path(), 1024, b's');
    let deep = deep_tree(dir.path(), 2 * PATH_MAX, b'd');
    assert!(deep.as_os_str().len() > PATH_MAX);
    let (doc, code) = json_scan(dir.path());
    let paths: Vec<&[u8]> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().as_bytes())
        .collect();
    assert!(paths.contains(&shallow.as_os_str().as_bytes()), "{doc}");
    let stats = &doc["stats"];
    let found_deep = paths.contains(&deep.as_os_str().as_bytes());
    // Either the walker reaches the deep file (relative opens) or it says it could not.
    assert!(
        found_deep || stats["errors"].as_u64().unwrap_or(0) > 0,
        "the file beyond PATH_MAX is neither found nor counted: {doc}"
    );
    assert_eq!(
        code, 1,
        "findings exit 1 even with unreadable sources: {doc}"
    );
}
