//! Making writes all-or-nothing on stores without transactions.
//!
//! Every write records itself under `<location>/_tarn_writes/<query id>/` (a folder readers skip):
//! `started.json` before the first file, a `heartbeat` while it runs, `commit.json` (INSERT: the renames that publish
//! its hidden files) and `done.json` when it is complete. Every file a write makes carries its query id in the name.
//! The commit point is the catalog for CTAS (the table appears), `commit.json` for INSERT, `done.json` for UNLOAD.
//! A write whose commit waits for a decision made elsewhere (an ingest batch, a compaction) records its renames in
//! `staged.json` first and writes `commit.json` once the decision is made (a compaction never does: its own record
//! decides what readers see, see [`Readers`]).
//!
//! An INSERT's files are renamed one by one, so a listing can catch some published and some still hidden. Readers
//! therefore read a hidden file (`.name`, carrying the query id of a write whose `commit.json` is there) as if it
//! were published: see [`crate::publication`]. From its `commit.json` on, a
//! write is wholly visible, whether or not its process lives to finish the renames.
//!
//! Before tarn writes into a location it recovers that location: a write that is not done and whose process is gone
//! (same host: the pid is dead; another host: no heartbeat for [`STALE_AFTER`]) is rolled forward if it had
//! committed, and otherwise its files — and only its files, found by query id — are deleted. A killed CTAS therefore
//! leaves nothing that stops the same statement from running again. A write that failed while its files were being
//! written by workers leaves `aborted.json` as its record, and recovery deletes its files once more (a worker's task
//! may complete a file after the coordinator gave up on it).
//!
//! A write's record lives at its *root*: the location itself, except for a CTAS without `external_location`, whose
//! files go to a folder of their own (`<warehouse>/<db>.db/<table>/<query id>/`) and whose record goes to the
//! table's folder above it, so the next CTAS of that name (or `DROP TABLE … PURGE`) finds and removes it.
//!
//! On a local disk object_store writes a file as `name#N` and renames it into place, and its listings skip such
//! names, so a write killed mid-file leaves a file no listing shows: cleanup there also walks the folders on disk,
//! and removes the folders the write's files were in once they are empty.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::storage::Location;

pub use crate::publication::WRITES_DIR;
use crate::publication::{ABORTED, COMMIT, DONE, STAGED, query_id_in, writes_dir};
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// A write on another host with no heartbeat for this long is taken for dead (allows for clock skew).
const STALE_AFTER: Duration = Duration::from_secs(180);
/// A local record folder without its first file is taken for a write killed as it began once it is this old.
const UNSTARTED_GRACE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Statement {
    Ctas,
    Insert,
    Unload,
    /// A CTAS into a Delta table: delta-rs names its files itself, so a dead one is cleaned up by removing the log
    /// and delta-rs' data files from the folder, which the CTAS found empty.
    #[serde(rename = "DELTA_CTAS")]
    DeltaCtas,
    /// A batch of `tarn ingest`: an INSERT whose commit point is its batch's outcome in the table's load history
    /// (tarn-catalog's `loads`), not its `commit.json`, so that the rows and the record of the files they came from
    /// are published together.
    Ingest,
}

/// The load batch an ingest write belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadRef {
    /// The target table's creation time: which incarnation's history.
    pub table_created: DateTime<Utc>,
    pub batch: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Started {
    pub query_id: String,
    pub statement: Statement,
    /// Where the files go, when not at the record's root (a CTAS's own folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `db.table` for CTAS and INSERT.
    pub table: Option<String>,
    pub host: String,
    pub pid: u32,
    /// The process's start time (`/proc/<pid>/stat`), so a reused pid is not mistaken for the writer.
    pub process_start: Option<u64>,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Commit {
    /// (hidden path, final path) pairs, as object paths.
    renames: Vec<(String, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Heartbeat {
    at: DateTime<Utc>,
}

/// When readers see a write's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// From its commit on, under their staged names until they are renamed (see [`crate::publication`]).
    AtCommit,
    /// Only under their own names, as they are renamed: a compaction, whose record hides its new files until its
    /// swap, which is its commit point for readers.
    WhenRenamed,
}

/// The record of one write in progress.
pub struct WriteLog {
    store: Arc<dyn ObjectStore>,
    /// Where the record is, and under which the write's files are found.
    location: Location,
    /// The folder of its own a CTAS writes to below `location`, if it has one.
    own_folder: Option<Location>,
    dir: Path,
    pub query_id: String,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    /// Its files are written by workers' tasks, which may still finish a file after the write failed here.
    on_workers: AtomicBool,
}

/// The record a failed write that ran on workers leaves in place of its own, so that the next write to the
/// location deletes its files once more.
#[derive(Debug, Serialize, Deserialize)]
struct Aborted {
    at: DateTime<Utc>,
    /// A CTAS's own folder, removed once empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<String>,
}

async fn put_json<T: Serialize>(
    store: &dyn ObjectStore,
    path: &Path,
    value: &T,
    mode: PutMode,
) -> object_store::Result<()> {
    let json = serde_json::to_vec_pretty(value).unwrap_or_default();
    let options = PutOptions {
        mode,
        ..Default::default()
    };
    store
        .put_opts(path, PutPayload::from(Bytes::from(json)), options)
        .await
        .map(|_| ())
}

async fn get_json<T: for<'de> Deserialize<'de>>(store: &dyn ObjectStore, path: &Path) -> Option<T> {
    let bytes = store.get(path).await.ok()?.bytes().await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl WriteLog {
    /// Records the start of a write at `root` (see the module docs) and begins its heartbeat; its files go to
    /// `location`, which is `root` or a folder below it.
    pub async fn start(
        store: Arc<dyn ObjectStore>,
        root: &Location,
        location: &Location,
        query_id: &str,
        statement: Statement,
        table: Option<String>,
        load: Option<LoadRef>,
    ) -> Result<Self> {
        let dir = writes_dir(root).join(query_id);
        let pid = std::process::id();
        let started = Started {
            query_id: query_id.to_string(),
            statement,
            location: (location != root).then(|| location.url.clone()),
            table,
            host: host_name(),
            pid,
            process_start: process_start(pid),
            started_at: Utc::now(),
            load,
        };
        put_json(
            store.as_ref(),
            &dir.clone().join("started.json"),
            &started,
            PutMode::Create,
        )
        .await
        .map_err(|e| root.store_error(e))?;
        let beat_store = Arc::clone(&store);
        let beat_path = dir.clone().join("heartbeat");
        let heartbeat = tokio::spawn(async move {
            loop {
                let _ = put_json(
                    beat_store.as_ref(),
                    &beat_path,
                    &Heartbeat { at: Utc::now() },
                    PutMode::Overwrite,
                )
                .await;
                tokio::time::sleep(HEARTBEAT_EVERY).await;
            }
        });
        Ok(Self {
            store,
            location: root.clone(),
            own_folder: (location != root).then(|| location.clone()),
            dir,
            query_id: query_id.to_string(),
            heartbeat: Some(heartbeat),
            on_workers: AtomicBool::new(false),
        })
    }

    /// The folder of the write's record (in the store of its files).
    pub fn record_dir(&self) -> Path {
        self.dir.clone()
    }

    /// The write's files come from workers' tasks.
    pub fn set_on_workers(&self) {
        self.on_workers.store(true, Ordering::Relaxed);
    }

    fn stop_heartbeat(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }

    /// INSERT's commit: records the renames (from then on the write counts as done, even if this process dies
    /// before finishing them: readers see its files, and recovery completes the renames), performs them, and marks
    /// the write done.
    pub async fn commit_renames(self, renames: &[(Path, Path)]) -> Result<()> {
        let commit = self.record_renames(renames, COMMIT).await?;
        apply_renames(self.store.as_ref(), &commit)
            .await
            .map_err(|e| self.location.store_error(e))?;
        self.finish().await
    }

    /// A commit decided elsewhere (an ingest batch's outcome in the load history, a compaction's record): records
    /// the renames as staged, then asks `decide` whether the write committed. Committed: records the commit if
    /// `Readers::AtCommit` (from then on readers see the files), performs the renames and marks the write done; not:
    /// removes the write's files. An error from `decide` leaves the record for recovery, which asks an ingest
    /// batch's outcome again.
    pub async fn commit_renames_if<F>(self, renames: &[(Path, Path)], decide: F, readers: Readers) -> Result<bool>
    where
        F: std::future::Future<Output = Result<bool>>,
    {
        let commit = self.record_renames(renames, STAGED).await?;
        if !decide.await? {
            self.abort().await;
            return Ok(false);
        }
        if readers == Readers::AtCommit {
            put_json(
                self.store.as_ref(),
                &self.dir.clone().join(COMMIT),
                &commit,
                PutMode::Create,
            )
            .await
            .map_err(|e| self.location.store_error(e))?;
        }
        apply_renames(self.store.as_ref(), &commit)
            .await
            .map_err(|e| self.location.store_error(e))?;
        self.finish().await?;
        Ok(true)
    }

    /// Writes the renames that publish the write's hidden files to the record's `name`.
    async fn record_renames(&self, renames: &[(Path, Path)], name: &str) -> Result<Commit> {
        let commit = Commit {
            renames: renames.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        };
        put_json(
            self.store.as_ref(),
            &self.dir.clone().join(name),
            &commit,
            PutMode::Create,
        )
        .await
        .map_err(|e| self.location.store_error(e))?;
        Ok(commit)
    }

    /// Marks the write complete (UNLOAD's commit point), then removes its record: a finished write leaves only
    /// its data behind.
    pub async fn finish(mut self) -> Result<()> {
        self.stop_heartbeat();
        let done = self.dir.clone().join(DONE);
        put_json(
            self.store.as_ref(),
            &done,
            &Heartbeat { at: Utc::now() },
            PutMode::Create,
        )
        .await
        .map_err(|e| self.location.store_error(e))?;
        remove_record(self.store.as_ref(), &self.location, &self.dir).await;
        Ok(())
    }

    /// Removes every file this write made and its record. Only files named with its query id are touched.
    ///
    /// A write that ran on workers cannot know that every task of it stopped: a task on another worker, cancelled
    /// as the query failed, may still complete a file after this. Its record is replaced by an `aborted.json`, and
    /// the next write to the location (its recovery) deletes the write's files again, then the record.
    pub async fn abort(mut self) {
        self.stop_heartbeat();
        if self.on_workers.load(Ordering::Relaxed) {
            // First, so that a worker still writing stops at its next file (see [`RecordGuard`]).
            let aborted = Aborted {
                at: Utc::now(),
                location: self.own_folder.as_ref().map(|l| l.url.clone()),
            };
            let path = self.dir.clone().join(ABORTED);
            let _ = put_json(self.store.as_ref(), &path, &aborted, PutMode::Overwrite).await;
            let _ = delete_write(self.store.as_ref(), &self.location, &self.query_id).await;
            // `delete_write` took the record too; the marker goes back for the next write's recovery.
            let _ = put_json(self.store.as_ref(), &path, &aborted, PutMode::Overwrite).await;
            return;
        }
        let _ = delete_write(self.store.as_ref(), &self.location, &self.query_id).await;
        if let Some(folder) = &self.own_folder {
            remove_if_empty(&self.location, folder);
        }
    }
}

/// What a worker checks before it completes each file of a write, and again after: that the write is still running
/// (its record is there, not marked aborted). A worker's task may outlive the query it belongs to (its coordinator
/// failed, was interrupted or killed, and cancelling a task reaches it late); this stops it at its next file, and
/// removes a file it completed while the write was being given up, instead of leaving files that nobody will commit
/// or, once the location was recovered, remove. [`WriteLog::abort`] marks the record before it lists the files to
/// delete, so a file is either listed there or found aborted by the check after it.
#[derive(Debug, Clone)]
pub struct RecordGuard {
    store: Arc<dyn ObjectStore>,
    dir: Path,
}

impl RecordGuard {
    pub fn new(store: Arc<dyn ObjectStore>, dir: Path) -> Self {
        Self { store, dir }
    }

    pub async fn check(&self) -> Result<()> {
        let started = self.store.head(&self.dir.clone().join("started.json")).await.is_ok();
        let aborted = !matches!(
            self.store.head(&self.dir.clone().join(ABORTED)).await,
            Err(object_store::Error::NotFound { .. })
        );
        if started && !aborted {
            return Ok(());
        }
        Err(EngineError::internal(format!(
            "write {} was stopped by its coordinator",
            self.dir.filename().unwrap_or_default()
        )))
    }
}

impl Drop for WriteLog {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

async fn apply_renames(store: &dyn ObjectStore, commit: &Commit) -> object_store::Result<()> {
    for (from, to) in &commit.renames {
        // The strings are object paths already: parse keeps them as they are (`from` would re-encode `%`).
        let (from, to) = (Path::parse(from)?, Path::parse(to)?);
        match store.rename(&from, &to).await {
            Ok(()) => {}
            // Renamed before a crash: the source is gone and the target is there.
            Err(object_store::Error::NotFound { .. }) if store.head(&to).await.is_ok() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Deletes a write's record (best effort: a leftover record of a finished write is removed by the next recovery).
async fn remove_record(store: &dyn ObjectStore, root: &Location, dir: &Path) {
    // The record's done marker goes last, so a record is never left without it once the write finished, and
    // `commit.json` just before it, so a committed write always shows one of the two to readers.
    for name in ["started.json", "heartbeat", STAGED, COMMIT, DONE] {
        let _ = store.delete(&dir.clone().join(name)).await;
    }
    if let Some(local) = local_path(root, dir) {
        // A heartbeat killed mid-write leaves `heartbeat#N`, which no listing shows.
        let _ = std::fs::remove_dir_all(&local);
        remove_empty_dirs(
            root,
            [local.parent().map(std::path::Path::to_path_buf)].into_iter().flatten(),
        );
    }
}

/// Deletes the files of write `query_id` found under `root` (its record's root), then its record.
async fn delete_write(store: &dyn ObjectStore, root: &Location, query_id: &str) -> object_store::Result<usize> {
    let log = writes_dir(root).join(query_id);
    // Its record (`writes/<query id>/…`) and every file it wrote carry the query id in their paths.
    let mine: Vec<Path> = store
        .list(Some(&root.prefix))
        .try_filter_map(|meta| async move { Ok(meta.location.as_ref().contains(query_id).then_some(meta.location)) })
        .try_collect()
        .await?;
    let mut count = mine.len();
    let mut folders = std::collections::BTreeSet::new();
    for path in mine {
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        if let Some(parent) = local_path(root, &path).and_then(|p| p.parent().map(std::path::Path::to_path_buf)) {
            folders.insert(parent);
        }
    }
    if let Some(dir) = root.local_dir() {
        let (files, empty_candidates) = local_leftovers(&dir, query_id);
        folders.extend(empty_candidates);
        for leftover in files {
            if std::fs::remove_file(&leftover).is_ok() {
                count += 1;
            }
            if let Some(parent) = leftover.parent() {
                folders.insert(parent.to_path_buf());
            }
        }
        if let Some(record) = local_path(root, &log) {
            let _ = std::fs::remove_dir_all(&record);
            if let Some(parent) = record.parent() {
                folders.insert(parent.to_path_buf());
            }
        }
        remove_empty_dirs(root, folders);
    }
    Ok(count)
}

/// Removes `folder` (below `root`, on a local disk) if it is empty, and then `root` if that is empty too.
pub(crate) fn remove_if_empty(root: &Location, folder: &Location) {
    if let (Some(root), Some(folder)) = (root.local_dir(), folder.local_dir()) {
        for dir in [folder, root] {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The file a path of a local store is.
pub(crate) fn local_path(root: &Location, path: &Path) -> Option<std::path::PathBuf> {
    root.local_dir().map(|_| std::path::PathBuf::from(format!("/{path}")))
}

/// What listings skip under `dir` that belongs to write `query_id`, on a local disk: files carrying its query id
/// with object_store's `#N` staging suffix (killed before they were renamed into place), and folders whose path
/// carries it (a Delta CTAS's table folder, made before its first file was).
fn local_leftovers(dir: &std::path::Path, query_id: &str) -> (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let mine = path.to_string_lossy().contains(query_id);
            match entry.file_type() {
                Ok(t) if t.is_dir() => {
                    if mine {
                        folders.push(path.clone());
                    }
                    pending.push(path);
                }
                Ok(_) if mine && is_staging(&name) => files.push(path),
                _ => {}
            }
        }
    }
    (files, folders)
}

/// object_store's name for a local file being written: `name#N`.
fn is_staging(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(base, n)| !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes each of `folders` that is empty, then its parents while they are empty, up to (not including) `root`'s
/// folder. Only folders tarn's files were in are given, so no folder a user made is touched unless tarn wrote in it.
pub(crate) fn remove_empty_dirs(root: &Location, folders: impl IntoIterator<Item = std::path::PathBuf>) {
    let Some(stop) = root.local_dir() else { return };
    for folder in folders {
        let mut current = Some(folder.as_path());
        while let Some(dir) = current {
            if dir == stop || !dir.starts_with(&stop) || std::fs::remove_dir(dir).is_err() {
                break;
            }
            current = dir.parent();
        }
    }
}

fn written_by_tarn(name: &str) -> bool {
    query_id_in(name).is_some()
}

/// DROP TABLE ... PURGE: deletes the files under `location` that tarn's writes made (named with a query id) and
/// returns how many, with the objects it left because something else wrote them.
pub async fn purge_written_files(store: &dyn ObjectStore, location: &Location) -> Result<(usize, Vec<String>)> {
    let objects: Vec<Path> = store
        .list(Some(&location.prefix))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
        .map_err(|e| location.store_error(e))?;
    let mut deleted = 0;
    let mut kept = Vec::new();
    let mut folders = std::collections::BTreeSet::new();
    for path in objects {
        let in_log = path.parts().any(|p| p.as_ref() == WRITES_DIR);
        if in_log || written_by_tarn(path.filename().unwrap_or_default()) {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(e) => return Err(location.store_error(e)),
            }
            folders.extend(local_path(location, &path).and_then(|p| p.parent().map(std::path::Path::to_path_buf)));
        } else {
            kept.push(location.object_url(&path));
        }
    }
    if let Some(dir) = location.local_dir() {
        folders.insert(dir.join(WRITES_DIR));
        remove_empty_dirs(location, folders);
    }
    Ok((deleted, kept))
}

/// A write that has not finished and whose process still seems to run.
#[derive(Debug, Clone)]
pub struct LiveWrite {
    pub started: Started,
}

/// What recovery found in a location.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Writes still running elsewhere.
    pub live: Vec<LiveWrite>,
    /// Dead, uncommitted writes whose files were removed.
    pub cleaned: usize,
    /// Dead writes that had committed and were completed.
    pub completed: usize,
}

/// Recovers `location` (see the module docs). `committed(started)` says whether a dead CTAS registered its table
/// and whether a dead ingest batch committed (deciding it aborted if it had not).
pub async fn recover<F, Fut>(store: &Arc<dyn ObjectStore>, location: &Location, committed: F) -> Result<Recovery>
where
    F: Fn(Started) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut recovery = Recovery::default();
    let listing = store
        .list_with_delimiter(Some(&writes_dir(location)))
        .await
        .map_err(|e| location.store_error(e))?;
    for dir in listing.common_prefixes {
        let Some(query_id) = dir.filename().map(str::to_string) else {
            continue;
        };
        if store.head(&dir.clone().join(DONE)).await.is_ok() {
            remove_record(store.as_ref(), location, &dir).await;
            continue;
        }
        if let Some(aborted) = get_json::<Aborted>(store.as_ref(), &dir.clone().join(ABORTED)).await {
            delete_write(store.as_ref(), location, &query_id)
                .await
                .map_err(|e| location.store_error(e))?;
            if let Some(folder) = aborted.location.as_deref().and_then(|url| Location::parse(url).ok()) {
                remove_if_empty(location, &folder);
            }
            recovery.cleaned += 1;
            continue;
        }
        let Some(started) = get_json::<Started>(store.as_ref(), &dir.clone().join("started.json")).await else {
            // Killed while its first record was being written: nothing else of it exists. (On S3 a folder without
            // objects does not exist at all; on a local disk the grace keeps clear of a write just starting.)
            if let Some(local) = local_path(location, &dir)
                && std::fs::metadata(&local)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > UNSTARTED_GRACE))
            {
                let _ = std::fs::remove_dir_all(&local);
                recovery.cleaned += 1;
            }
            continue;
        };
        let heartbeat = get_json::<Heartbeat>(store.as_ref(), &dir.clone().join("heartbeat")).await;
        if is_alive(&started, heartbeat.as_ref()) {
            recovery.live.push(LiveWrite { started });
            continue;
        }
        let commit = get_json::<Commit>(store.as_ref(), &dir.clone().join(COMMIT)).await;
        let committed = match (&commit, started.statement) {
            (_, Statement::Ingest) | (None, Statement::Ctas | Statement::DeltaCtas) => committed(started.clone()).await,
            (Some(_), _) => true,
            (None, _) => false,
        };
        if committed {
            let renames = match commit {
                Some(commit) => Some(commit),
                // Decided committed after its writer died: recorded as committed first, so that readers see all of
                // it while the renames below run.
                None => match get_json::<Commit>(store.as_ref(), &dir.clone().join(STAGED)).await {
                    Some(staged) => {
                        put_json(store.as_ref(), &dir.clone().join(COMMIT), &staged, PutMode::Overwrite)
                            .await
                            .map_err(|e| location.store_error(e))?;
                        Some(staged)
                    }
                    None => None,
                },
            };
            if let Some(commit) = &renames {
                apply_renames(store.as_ref(), commit)
                    .await
                    .map_err(|e| location.store_error(e))?;
            }
            put_json(
                store.as_ref(),
                &dir.clone().join(DONE),
                &Heartbeat { at: Utc::now() },
                PutMode::Overwrite,
            )
            .await
            .map_err(|e| location.store_error(e))?;
            remove_record(store.as_ref(), location, &dir).await;
            recovery.completed += 1;
        } else if started.statement == Statement::DeltaCtas {
            let data = match &started.location {
                Some(url) => Location::parse(url)?,
                None => location.clone(),
            };
            purge_delta_files(store.as_ref(), &data).await?;
            delete_write(store.as_ref(), location, &query_id)
                .await
                .map_err(|e| location.store_error(e))?;
            recovery.cleaned += 1;
        } else {
            delete_write(store.as_ref(), location, &query_id)
                .await
                .map_err(|e| location.store_error(e))?;
            recovery.cleaned += 1;
        }
        if let Some(folder) = started.location.as_deref().and_then(|url| Location::parse(url).ok()) {
            remove_if_empty(location, &folder);
        }
    }
    Ok(recovery)
}

fn is_alive(started: &Started, heartbeat: Option<&Heartbeat>) -> bool {
    process_alive(
        &started.host,
        started.pid,
        started.process_start,
        heartbeat.map(|h| h.at).unwrap_or(started.started_at),
    )
}

/// Whether process `pid` of `host` still runs: on this host, /proc says (a reused pid has another start time); on
/// another, whether it said so within [`STALE_AFTER`] of now (`last`).
pub fn process_alive(host: &str, pid: u32, start: Option<u64>, last: DateTime<Utc>) -> bool {
    if host == host_name() && std::path::Path::new("/proc/self").exists() {
        // Same machine: the process tells.
        return pid == std::process::id() || process_start(pid).is_some_and(|s| Some(s) == start);
    }
    Utc::now()
        .signed_duration_since(last)
        .to_std()
        .map(|age| age < STALE_AFTER)
        .unwrap_or(true)
}

pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks), where there is a /proc.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it start after the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Objects under `location` other than tarn's write records: what makes a CTAS or UNLOAD target "not empty".
pub async fn existing_objects(store: &dyn ObjectStore, location: &Location, limit: usize) -> Result<Vec<String>> {
    let records = writes_dir(location);
    let mut found = Vec::new();
    let mut listing = store.list(Some(&location.prefix));
    while let Some(meta) = listing.try_next().await.map_err(|e| location.store_error(e))? {
        if meta.location.prefix_match(&records).is_none() {
            found.push(location.object_url(&meta.location));
            if found.len() >= limit {
                break;
            }
        }
    }
    Ok(found)
}

/// Deletes a Delta table tarn created: its log and the data files delta-rs named (`part-NNNNN-<uuid>-c000...`).
/// Anything else in the folder is kept and returned.
pub(crate) async fn purge_delta_files(store: &dyn ObjectStore, location: &Location) -> Result<(usize, Vec<String>)> {
    let data_file = regex::Regex::new(r"(^|/)part-\d{5}-[0-9a-f-]{36}-c\d{3}(\.[a-z0-9]+)?\.parquet$")
        .map_err(|e| EngineError::internal(e.to_string()))?;
    let prefix = (!location.prefix.as_ref().is_empty()).then_some(&location.prefix);
    let objects: Vec<_> = store
        .list(prefix)
        .try_collect()
        .await
        .map_err(|e| crate::storage::describe_store_error(&e))?;
    let base = location.prefix.as_ref().len();
    let (mut deleted, mut kept) = (0, Vec::new());
    let mut folders = std::collections::BTreeSet::new();
    for object in objects {
        let relative = object
            .location
            .as_ref()
            .get(base..)
            .unwrap_or_default()
            .trim_start_matches('/');
        if relative.starts_with("_delta_log/") || data_file.is_match(relative) {
            object_store::ObjectStoreExt::delete(store, &object.location)
                .await
                .map_err(|e| crate::storage::describe_store_error(&e))?;
            deleted += 1;
            folders.extend(
                crate::write::commit::local_path(location, &object.location)
                    .and_then(|p| p.parent().map(std::path::Path::to_path_buf)),
            );
        } else {
            kept.push(location.object_url(&object.location));
        }
    }
    // A write killed mid-file leaves `name#N` on a local disk, which listings skip.
    if let Some(dir) = location.local_dir() {
        let mut pending = vec![dir];
        while let Some(folder) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(path);
                    continue;
                }
                let relative = path.to_string_lossy().get(base + 2..).unwrap_or_default().to_string();
                if let Some((name, n)) = relative.rsplit_once('#')
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && (name.starts_with("_delta_log/") || data_file.is_match(name))
                    && std::fs::remove_file(&path).is_ok()
                {
                    deleted += 1;
                    folders.extend(path.parent().map(std::path::Path::to_path_buf));
                }
            }
        }
    }
    crate::write::commit::remove_empty_dirs(location, folders);
    Ok((deleted, kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_pid_is_not() {
        let me = Started {
            query_id: "q".into(),
            statement: Statement::Ctas,
            location: None,
            table: None,
            host: host_name(),
            pid: std::process::id(),
            process_start: process_start(std::process::id()),
            started_at: Utc::now(),
            load: None,
        };
        assert!(is_alive(&me, None));
        let dead = Started {
            pid: u32::MAX - 7,
            ..me.clone()
        };
        assert!(!is_alive(&dead, None));
        let elsewhere_stale = Started {
            host: "another-host".into(),
            started_at: Utc::now() - chrono::Duration::hours(1),
            ..me
        };
        assert!(!is_alive(&elsewhere_stale, None));
        assert!(is_alive(&elsewhere_stale, Some(&Heartbeat { at: Utc::now() })));
    }

    /// delta-rs makes a CTAS's folder (and sub-folders) before its first file: a Delta CTAS killed then leaves
    /// folders with no file in them, which the next write's recovery must remove too.
    #[tokio::test]
    async fn a_dead_delta_ctas_leaves_no_empty_folders() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let query_id = "20261202_000000_00000_abcde";
        let root = Location::parse(&format!("{}/t/", dir.path().display()))?;
        let own = Location::parse(&format!("{}/t/{query_id}/", dir.path().display()))?;
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::local::LocalFileSystem::new());
        let started = Started {
            query_id: query_id.into(),
            statement: Statement::DeltaCtas,
            location: Some(own.url.clone()),
            table: Some("default.t".into()),
            host: host_name(),
            pid: u32::MAX - 7,
            process_start: None,
            started_at: Utc::now(),
            load: None,
        };
        let record = writes_dir(&root).join(query_id);
        put_json(
            store.as_ref(),
            &record.clone().join("started.json"),
            &started,
            PutMode::Create,
        )
        .await
        .map_err(|e| root.store_error(e))?;
        let folder = own.local_dir().ok_or("not local")?;
        std::fs::create_dir_all(folder.join("_delta_log"))?;
        std::fs::create_dir_all(folder.join("state=CA"))?;
        let recovery = recover(&store, &root, |_| async { false }).await?;
        assert_eq!(recovery.cleaned, 1);
        let left: Vec<_> = walkdir(&dir.path().join("t"));
        assert!(left.is_empty(), "left behind: {left:?}");
        Ok(())
    }

    fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            found.push(entry.path());
            found.extend(walkdir(&entry.path()));
        }
        found
    }
}
