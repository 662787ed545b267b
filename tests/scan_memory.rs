//! Issue 15: the memory a scan holds for many lone key ids, counted by a counting global
//! allocator (its own test binary, one test, so nothing else allocates meanwhile). A
//! CloudTrail-like file of 100,000 records, each with a fresh temporary `ASIA…` id and no
//! secret, and one real credential planted in the middle: one aggregate and the credential
//! part by part, and heap bytes per record far below the ~1.3 KB of a finding that the scan
//! held for each before (about 126 MiB for this file).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use credhygiene::config::ScanConfig;
use credhygiene::finding::Kind;
use credhygiene::scan::aggregate::bound_outcome;
use credhygiene::scan::{Options, Plan, Scanner};

#[path = "support/cloudtrail.rs"]
mod cloudtrail;
use cloudtrail::planted_log;

/// Heap bytes in use, and the most since the last [`reset_peak`].
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting.
struct Counting;

fn grew(n: usize) {
    let now = NOW.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// A global allocator cannot be written without `unsafe`: this one only forwards each call to
// the system allocator, unchanged, and counts sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            NOW.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Starts a new peak from the bytes in use now; returns them.
fn reset_peak() -> usize {
    let now = NOW.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

const RECORDS: usize = 100_000;
/// Peak heap of the scan and the bounding of its findings, beyond what was in use before:
/// per record (the compact key ids, about 40 bytes, the table of ids seen while the file is
/// read, the members of the aggregate while it is counted).
const MAX_PEAK_PER_RECORD: usize = 160;
/// Heap held between the scan and the bounding (the outcome, and the scan cache the daemon
/// keeps, which shares the compact key ids): per record.
const MAX_HELD_PER_RECORD: usize = 64;
/// What [`credhygiene::scan::KeyIds::heap_bytes`] may count per record.
const MAX_COMPACT_PER_RECORD: usize = 48;

#[test]
fn issue_15_a_cloudtrail_file_of_100k_lone_ids_costs_bytes_per_record_not_a_finding_each() {
    let dir = tempfile::tempdir().unwrap();
    let (log, cred) = planted_log(dir.path(), RECORDS);
    let mut opts = Options::from_config(&ScanConfig::default(), Some(1)).unwrap();
    // The daemon's walk: a scan cache too, holding the file's findings.
    opts.build_cache = true;
    let scanner = Scanner::new(opts).unwrap();
    let plan = Plan::from_paths(std::slice::from_ref(&log));

    let before = reset_peak();
    let (mut outcome, cache) = scanner.run(&plan, &AtomicBool::new(false), None);
    let held = NOW.load(Ordering::Relaxed).saturating_sub(before);
    let compact: usize = outcome.key_ids.iter().map(|k| k.heap_bytes()).sum();
    bound_outcome(&mut outcome, 10);
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    drop(cache);

    let f = &outcome.findings;
    eprintln!(
        "issue 15: {RECORDS} records: peak {peak} B ({} B/record), held {held} B ({} B/record), \
         compact key ids {compact} B ({} B/record); {} findings",
        peak / RECORDS,
        held / RECORDS,
        compact / RECORDS,
        f.len()
    );
    assert_eq!(f.len(), 3, "{f:#?}");
    let agg = f[0].aggregate.as_deref().expect("the aggregate first");
    assert_eq!(
        (agg.count, agg.distinct, agg.temporary),
        (RECORDS as u64, RECORDS as u64, RECORDS as u64)
    );
    assert_eq!(f[1].key_id.as_deref(), Some(cred.key_id.as_str()));
    assert_eq!(f[2].kind, Kind::SecretAccessKey);
    assert_eq!(
        (f[1].credential.as_str(), f[1].line),
        (f[2].credential.as_str(), f[2].line - 1)
    );
    assert!(f[1].aggregate.is_none() && f[2].aggregate.is_none());
    assert!(outcome.key_ids.is_empty());

    assert!(
        compact <= MAX_COMPACT_PER_RECORD * RECORDS,
        "{compact} B compact"
    );
    assert!(held <= MAX_HELD_PER_RECORD * RECORDS, "{held} B held");
    assert!(peak <= MAX_PEAK_PER_RECORD * RECORDS, "{peak} B peak");
}
