//! Hot reload for `--fixtures DIR --watch`: a polling watcher that notices when
//! `DIR/coworkersettings.json` changes and swaps the store to its records in one
//! step. A file that does not load (half-saved, bad JSON, a bad record) leaves the
//! old records in place; the reason is logged and shown by `GET /__admin/health`.
//!
//! Polling (a stat every interval) rather than inotify: it sees edits made by
//! editors that write a new file and rename it, works on every file system
//! (including bind mounts into containers) and needs no extra dependency.
//! `users.json` is read at start only; a change to it is logged, not applied.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::fixtures::{self, RECORDS_FILE, USERS_FILE};
use crate::server::App;
use crate::server::frontend::WatchStatus;

/// How often the files are checked unless told otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: u64,
}

fn signature(path: &Path) -> Option<Signature> {
    let m = std::fs::metadata(path).ok()?;
    Some(Signature {
        len: m.len(),
        modified: m.modified().ok(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&m),
    })
}

/// Starts watching `dir` on the current tokio runtime; stops when the handle is
/// aborted or dropped with the runtime.
pub fn spawn(app: Arc<App>, dir: PathBuf, every: Duration) -> tokio::task::JoinHandle<()> {
    *app.frontend.watch.lock().unwrap_or_else(|e| e.into_inner()) = Some(WatchStatus {
        dir: dir.display().to_string(),
        ..WatchStatus::default()
    });
    let records_path = dir.join(RECORDS_FILE);
    let users_path = dir.join(USERS_FILE);
    let mut records_seen = signature(&records_path);
    let mut users_seen = signature(&users_path);
    tracing::info!(dir = %dir.display(), "watching fixtures for changes");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = signature(&users_path);
            if now != users_seen {
                users_seen = now;
                tracing::warn!(file = %users_path.display(), "users changed; users are read at start only, so restart to apply them");
            }
            let now = signature(&records_path);
            if now == records_seen {
                continue;
            }
            records_seen = now.clone();
            if now.is_none() {
                record(
                    &app,
                    Err(format!(
                        "{} was removed; keeping the current records",
                        records_path.display()
                    )),
                );
                continue;
            }
            reload(&app, &records_path);
        }
    })
}

fn reload(app: &App, path: &Path) {
    let shown = path.display().to_string();
    let result = std::fs::read_to_string(path)
        .map_err(|e| format!("{shown}: cannot read: {e}"))
        .and_then(|text| fixtures::parse_records(&text, &shown).map_err(|e| e.to_string()))
        .and_then(|records| {
            app.load_records(records)
                .map_err(|resp| format!("{shown}: {}", String::from_utf8_lossy(&resp.body)))
        });
    record(app, result.map(|n| (n, shown)));
}

fn record(app: &App, result: Result<(usize, String), String>) {
    let mut status = app.frontend.watch.lock().unwrap_or_else(|e| e.into_inner());
    let status = status.get_or_insert_with(WatchStatus::default);
    match result {
        Ok((n, file)) => {
            tracing::info!(file = %file, records = n, "fixtures reloaded");
            status.reloads += 1;
            status.last_reload =
                Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            status.last_error = None;
        }
        Err(why) => {
            tracing::warn!(error = %why, "fixtures not reloaded; keeping the current records");
            status.last_error = Some(why);
        }
    }
}
