//! The configured sources: what `scan` with no PATH and every agent cycle read. The files of
//! `scan.*` (trees, env files, process environments) are scanned on a blocking thread while
//! user-data is fetched from IMDS (when `scan.user_data` is on and IMDS is not disabled);
//! user-data is then scanned as a `user_data` haystack and the two outcomes are merged. The
//! lone key ids of each source are then bounded ([`bound_lone_key_ids`]).
//!
//! User-data that could not be fetched or decoded (IMDS unreachable, throttled, failing) is
//! listed in [`crate::scan::ScanOutcome::unreadable`], so that its previous findings are
//! carried, not resolved; an instance without user-data is not. Off EC2 the fetch fails
//! within about a second, is logged at info and does not count as a scan error.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::config::Config;
use crate::finding::Source;
use crate::imds::{self, ImdsClient, ImdsError};
use crate::scan::{aggregate, Haystack, Plan, Reuse, ScanOutcome, Scanned, Scanner, Unreadable};

/// Scans the configured sources. The returned cache and index cover the files.
pub(crate) async fn scan(
    scanner: Arc<Scanner>,
    cfg: &Config,
    cancel: Arc<AtomicBool>,
    reuse: Reuse,
) -> Scanned {
    let plan = Plan::from_config(&cfg.scan);
    let files = {
        let scanner = Arc::clone(&scanner);
        let cancel = Arc::clone(&cancel);
        tokio::task::spawn_blocking(move || scanner.scan(&plan, &cancel, reuse))
    };
    let user_data = if cfg.scan.user_data && !cfg.imds.disabled {
        Some(user_data_haystack(cfg).await)
    } else {
        log::debug!("user-data not scanned: scan.user_data is off or IMDS is disabled");
        None
    };
    let mut scanned = match files.await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    if let Some(user_data) = user_data {
        add_user_data(&mut scanned.outcome, user_data, scanner, cancel).await;
    }
    bound_lone_key_ids(&mut scanned.outcome, cfg);
    scanned
}

/// Collapses the lone key ids of each source beyond `scan.max_lone_key_ids_per_source` into
/// one aggregate ([`crate::scan::aggregate`]): over the final findings, those of the files,
/// of the index and of user-data alike, and the key ids the scan held compactly (the outcome
/// holds none after it).
pub(crate) fn bound_lone_key_ids(outcome: &mut ScanOutcome, cfg: &Config) {
    aggregate::bound_outcome(outcome, cfg.scan.max_lone_key_ids_per_source);
}

/// Scans fetched user-data into `outcome`, or accounts for why it could not be fetched.
async fn add_user_data(
    outcome: &mut ScanOutcome,
    user_data: Result<Option<Haystack>, ImdsError>,
    scanner: Arc<Scanner>,
    cancel: Arc<AtomicBool>,
) {
    match user_data {
        Ok(Some(hay)) => {
            let plan = Plan {
                memory: vec![hay],
                ..Plan::default()
            };
            let (ud, _) = tokio::task::spawn_blocking(move || scanner.run(&plan, &cancel, None))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            outcome.merge(ud);
        }
        Ok(None) => log::debug!("the instance has no user-data"),
        Err(e) => {
            let unreadable = Unreadable::new(user_data_path(), &e);
            outcome.unreadable.push(if e.is_unreachable() {
                unreadable.absent()
            } else {
                unreadable
            });
            match e {
                e if e.is_unreachable() => {
                    log::info!(error:% = e; "user-data not scanned: IMDS is not reachable");
                }
                ImdsError::UserData { uri, source } => {
                    log::warn!(uri:% = uri, error:% = source; "user-data not scanned");
                    outcome.stats.skipped += 1;
                }
                e => {
                    log::warn!(error:% = e; "user-data could not be read from IMDS");
                    outcome.stats.errors += 1;
                }
            }
        }
    }
}

/// Fetches user-data as a haystack (`source: user_data`, `path: imds:/latest/user-data`);
/// `None` when the instance has none.
async fn user_data_haystack(cfg: &Config) -> Result<Option<Haystack>, ImdsError> {
    let client = ImdsClient::from_config(&cfg.imds)?;
    let bytes = client.user_data(cfg.scan.max_file_size.as_u64()).await?;
    Ok(bytes.map(|bytes| Haystack {
        source: Source::UserData,
        path: user_data_path(),
        bytes,
        process: None,
    }))
}

/// Where user-data findings and failures are said to be.
fn user_data_path() -> String {
    format!("imds:{}", imds::USER_DATA_PATH)
}
