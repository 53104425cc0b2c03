//! `tarn ingest`: loads the files that land under a source prefix into a table, each file version exactly once, then
//! moves it to a processed prefix (or leaves or deletes it); files that cannot be loaded go to an error prefix with
//! their reason beside them.
//!
//! Exactly once rests on the table's load history (tarn-catalog's `loads`): a batch claims its files under the next
//! batch number with a create-if-absent put, after reading every earlier batch; its rows are written as hidden files
//! (an INSERT recorded as [`Statement::Ingest`](crate::write::commit::Statement)); its outcome — `committed`, written
//! by the loader, or `aborted`, written by whoever finds the loader dead — is decided by one more create-if-absent
//! put, and only a committed write publishes its files. A kill at any moment therefore leaves either a committed
//! batch whose files the next run publishes and moves, or an aborted one whose files are deleted and whose source
//! files are claimed again. Moving a source file happens after its batch committed, so a crash between the two
//! leaves a file the next run recognises (same name, same version) and only moves.
//!
//! A file is known by its URL and content ([`source_file`]): the same bytes delivered again under the same name are
//! not loaded again, other bytes under it are a new version. Content, not modification time, because S3 lists
//! modification times in whole seconds: a re-upload within the second of a loaded file would look like that file and
//! be moved away unloaded.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use datafusion::common::Column as LogicalColumn;
use datafusion::logical_expr::{Expr, lit};
use datafusion::scalar::ScalarValue;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;
use tarn_catalog::{Claim, Column, LoadLog, LoadOutcome, SourceFile, Table, TableKind};

use crate::context::{Ctx, PreparedQuery};
use crate::crawl::sniff::{self, FileSchema, Format};
use crate::error::{EngineError, Part, Result, from_datafusion};
use crate::listing::{list_files, parse_partition_segment};
use crate::names::AsOf;
use crate::storage::Location;
use crate::table::TarnTable;
use crate::write::commit::{LoadRef, host_name, process_start};

mod delta;
mod history;

use history::{FileState, History, Target};

/// How often a batch's loader says it is alive.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// What to do with a source file once its rows are in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterLoad {
    /// Move it under this prefix, keeping its key relative to the source.
    Move(String),
    /// Leave it where it is (the load history keeps it from being loaded twice).
    Keep,
    /// Delete it.
    Delete,
}

/// Columns a source file has that the table does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewColumns {
    /// The table gains them (a new table version), typed as the crawler would.
    Add,
    /// The file fails, naming them.
    Fail,
}

/// One `tarn ingest` pass.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The prefix files land under (`s3://landing/incoming/events/`, a local folder).
    pub source: String,
    /// The table to load into (`raw.events`, or a name in the current database).
    pub table: String,
    pub after: AfterLoad,
    /// Where files that cannot be loaded go, with a `<name>.error.txt` beside each; `None` leaves them in place (the
    /// history keeps them from being tried again until they change).
    pub errors: Option<String>,
    /// A batch (one write, one commit) takes at most this many files ...
    pub batch_files: usize,
    /// ... and stops adding files once it holds this many bytes.
    pub batch_bytes: u64,
    /// Files modified more recently than this are left for the next pass (a local file may still be being written;
    /// an S3 object appears whole, so 0 suits S3).
    pub settle: Duration,
    pub new_columns: NewColumns,
    /// The partition key whose value comes from `YYYY/MM/DD/` folders in a file's key below the source (Firehose's
    /// layout), as `YYYY-MM-DD`; a file without them fails.
    pub date_folders: Option<String>,
    /// Set (by Ctrl-C) to stop after the batch in flight.
    pub stop: Arc<AtomicBool>,
}

impl IngestOptions {
    pub fn new(source: impl Into<String>, table: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            table: table.into(),
            after: AfterLoad::Keep,
            errors: None,
            batch_files: 1000,
            batch_bytes: 256 << 20,
            settle: Duration::from_secs(2),
            new_columns: NewColumns::Fail,
            date_folders: None,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// A committed batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    pub number: u64,
    pub files: usize,
    pub rows: u64,
    /// Bytes of the source files loaded.
    pub bytes: u64,
    pub query_id: String,
}

/// A file that could not be loaded.
#[derive(Debug, Clone, Serialize)]
pub struct FailedFile {
    pub url: String,
    pub reason: String,
    /// Where it was moved, when there is an error prefix.
    pub moved_to: Option<String>,
}

/// What one pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    pub table: String,
    pub batches: Vec<BatchReport>,
    pub failed: Vec<FailedFile>,
    /// Files whose bytes were loaded before (by a pass interrupted before it moved them, or uploaded again): moved
    /// (or deleted) now, not loaded again.
    pub already_loaded: usize,
    /// Files left for a later pass: too recently modified, or in a batch another loader is running.
    pub waiting: usize,
    /// Columns the table gained.
    pub added_columns: Vec<String>,
}

impl IngestReport {
    pub fn files(&self) -> usize {
        self.batches.iter().map(|b| b.files).sum()
    }

    pub fn rows(&self) -> u64 {
        self.batches.iter().map(|b| b.rows).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.batches.iter().map(|b| b.bytes).sum()
    }
}

/// A listed source file, sniffed.
struct Candidate {
    file: SourceFile,
    meta: ObjectMeta,
    schema: std::result::Result<FileSchema, String>,
}

/// How many source files are hashed at once.
const HASH_CONCURRENCY: usize = 16;

/// The history's name for object `meta` under `source`: its URL, size and content (see [`SourceFile`]). On S3 the
/// content is the listed ETag; a local file (or an object listed without an ETag, as s3s-fs lists) is hashed: MD5,
/// the value of S3's ETag for a single-part upload. `known` holds versions by (URL, stamp), so an unchanged file is not
/// read again. `None` when the file is gone (another loader moved it since the listing).
pub async fn source_file(
    store: &dyn ObjectStore,
    source: &Location,
    meta: &ObjectMeta,
    known: &HashMap<(String, String), String>,
) -> Result<Option<SourceFile>> {
    let url = source.object_url(&meta.location);
    if let (true, Some(e_tag)) = (source.is_s3(), &meta.e_tag) {
        return Ok(Some(SourceFile {
            url,
            size: meta.size,
            version: e_tag.trim_matches('"').to_string(),
            stamp: None,
        }));
    }
    let stamp = match &meta.e_tag {
        Some(e_tag) => e_tag.clone(),
        None => format!("{}-{}", meta.size, meta.last_modified.timestamp_micros()),
    };
    let version = match known.get(&(url.clone(), stamp.clone())) {
        Some(version) => version.clone(),
        None => match md5_of(store, &meta.location).await {
            Ok(version) => version,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            // Unreadable: its load fails and says why, and the stamp keeps it failed until it changes.
            Err(_) => format!("unread {stamp}"),
        },
    };
    Ok(Some(SourceFile {
        url,
        size: meta.size,
        version,
        stamp: Some(stamp),
    }))
}

async fn md5_of(store: &dyn ObjectStore, path: &Path) -> object_store::Result<String> {
    use md5::Digest;
    let mut hasher = md5::Md5::new();
    let mut stream = store.get(path).await?.into_stream();
    while let Some(chunk) = stream.try_next().await? {
        hasher.update(&chunk);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// How a batch ended for its loader.
enum Loaded {
    Committed(BatchReport, Vec<SourceFile>, Vec<FailedSource>),
    /// Someone decided the batch aborted first (this loader was taken for dead).
    Lost,
}

/// Where one pass finds its files and where it puts them afterwards.
struct Places {
    source: Location,
    store: Arc<dyn ObjectStore>,
    /// `--processed`: loaded files are moved below it.
    processed: Option<Location>,
    /// `--errors`: failed files are moved below it, each with its reason.
    errors: Option<Location>,
    /// The table's own folder, which the source may not hold.
    table: Location,
}

impl Places {
    /// Whether a listed file is one this pass (or an earlier one) put away: the processed and error prefixes may be
    /// inside the source.
    fn put_away(&self, url: &str) -> bool {
        [&self.processed, &self.errors]
            .into_iter()
            .flatten()
            .any(|p| url.starts_with(&p.url))
    }
}

/// A batch's file that can be read: its history name, its listing and its sniffed schema.
type Readable = (SourceFile, ObjectMeta, FileSchema);

/// A batch's file that fails, with the reason.
pub(super) type FailedSource = (SourceFile, String);

impl Ctx {
    /// One pass of `tarn ingest` (see the module docs): loads every settled file under the source that the table's
    /// history does not hold, in batches, and finishes what earlier passes left (moves, error files).
    pub(crate) async fn ingest(&mut self, options: &IngestOptions) -> Result<IngestReport> {
        let (mut table, target) = self.ingest_target(&options.table).await?;
        let places = self.ingest_places(options, &table)?;
        // Writes of loaders that died are published or removed first (deciding their batches), so that a pass
        // leaves no file of an uncommitted write in the table's folders even when it has nothing to load.
        if let Target::Hive = target {
            let table_store = self.registry.store_for(&places.table)?;
            self.recover(&table_store, &places.table).await?;
        }
        let log = self.catalog.load_log(&table);
        let mut history = History::default();
        history.refresh(self, &log, &table, &target).await?;
        let mut report = IngestReport {
            table: table.qualified_name(),
            ..Default::default()
        };
        let mut pending = self
            .new_files(&places, &history, options, &mut report)
            .await?
            .into_iter()
            .peekable();
        let mut carried: Vec<Candidate> = Vec::new();
        while !options.stop.load(Ordering::Relaxed) {
            let batch = take_batch(&places.store, &mut carried, &mut pending, options).await;
            if batch.is_empty() {
                break;
            }
            // The files were listed before batches that other loaders claimed since; a claim of the next number
            // stands on the history as read now (every batch below that number), so the batch is checked against it.
            let batch = unclaimed(batch, &history, &mut report);
            if batch.is_empty() {
                continue;
            }
            let number = history.next_number();
            if !log.claim(number, &claim_of(&batch, &places.source)).await? {
                // Another loader took this number: learn what it claimed, and put back what is still free.
                history.refresh(self, &log, &table, &target).await?;
                let free = unclaimed(batch, &history, &mut report);
                carried.splice(0..0, free);
                continue;
            }
            let paths: HashMap<String, Path> = batch
                .iter()
                .map(|c| (c.file.url.clone(), c.meta.location.clone()))
                .collect();
            let beat_log = log.clone();
            let heartbeat = tokio::spawn(async move {
                loop {
                    let _ = beat_log.beat(number).await;
                    tokio::time::sleep(HEARTBEAT_EVERY).await;
                }
            });
            let loaded = self
                .load_batch(
                    &mut table,
                    &target,
                    &log,
                    number,
                    &places.source,
                    batch,
                    options,
                    &mut report,
                )
                .await;
            heartbeat.abort();
            let (batch_report, files, failed) = match loaded {
                Ok(Loaded::Committed(batch_report, files, failed)) => (batch_report, files, failed),
                Ok(Loaded::Lost) => {
                    history.refresh(self, &log, &table, &target).await?;
                    continue;
                }
                Err(e) => {
                    let _ = self.give_up(&target, &log, &table, number, e.to_string()).await;
                    return Err(e);
                }
            };
            history.refresh(self, &log, &table, &target).await?;
            report.batches.push(batch_report);
            for path in files.iter().filter_map(|f| paths.get(&f.url)) {
                self.after_load(&places, path, &options.after).await?;
            }
            for (file, reason) in failed {
                let moved_to = match paths.get(&file.url) {
                    Some(path) => self.move_failed(&places, path, &reason).await?,
                    None => None,
                };
                report.failed.push(FailedFile {
                    url: file.url,
                    reason,
                    moved_to,
                });
            }
        }
        Ok(report)
    }

    /// The table `name` and how a batch commits into it; a Delta table's columns are read from its log.
    async fn ingest_target(&mut self, name: &str) -> Result<(Table, Target)> {
        let name = crate::parse::TarnParser::new(name)?.qualified_name()?;
        let table = self.table(&name).await?;
        match table.kind() {
            TableKind::Hive => Ok((table, Target::Hive)),
            TableKind::Delta => {
                let location = Location::parse(&table.storage.location)?;
                let opened = self.open_delta(&location, AsOf::Latest).await?;
                let table = self.delta_shape(&table, &opened).await?;
                Ok((table, Target::Delta(location)))
            }
            TableKind::View => Err(EngineError::invalid(
                Part::ObjectKind,
                format!("{} is a view; tarn ingest loads into tables", table.qualified_name()),
            )),
        }
    }

    /// The pass's source and prefixes, refused when they overlap in ways that would load files twice.
    fn ingest_places(&self, options: &IngestOptions, table: &Table) -> Result<Places> {
        let source = Location::parse(&options.source)?;
        let processed = match &options.after {
            AfterLoad::Move(url) => Some(Location::parse(url)?),
            _ => None,
        };
        let errors = options.errors.as_deref().map(Location::parse).transpose()?;
        for (what, place) in [("--processed", &processed), ("--errors", &errors)] {
            if place.as_ref().is_some_and(|p| p.url == source.url) {
                return Err(EngineError::invalid(
                    Part::Clause,
                    format!("{what} is the source itself ({}); give a prefix of its own", source.url),
                ));
            }
        }
        if let Some(key) = &options.date_folders
            && !table.partition_keys.iter().any(|k| k.name.eq_ignore_ascii_case(key))
        {
            let keys: Vec<&str> = table.partition_keys.iter().map(|k| k.name.as_str()).collect();
            return Err(EngineError::invalid(
                Part::Clause,
                format!(
                    "--date-folders {key}: {} has no partition key {key} (its keys: {})",
                    table.qualified_name(),
                    keys.join(", ")
                ),
            ));
        }
        // A source above the table's own folder would load the table's files into itself, pass after pass.
        let table_location = Location::parse(&table.storage.location)?;
        if table_location.url.starts_with(&source.url) {
            return Err(EngineError::invalid(
                Part::Clause,
                format!(
                    "the source {} holds the table's own files ({}); give the folder files land in",
                    source.url, table_location.url
                ),
            ));
        }
        Ok(Places {
            store: self.registry.store_for(&source)?,
            source,
            processed,
            errors,
            table: table_location,
        })
    }

    /// The settled files under the source that the history does not hold, in key order. Files it holds are
    /// finished on the way: loaded ones moved (or deleted), failed ones put under the error prefix; files of a
    /// batch in flight, or modified too recently, are counted as waiting.
    async fn new_files(
        &self,
        places: &Places,
        history: &History,
        options: &IngestOptions,
        report: &mut IngestReport,
    ) -> Result<Vec<(SourceFile, ObjectMeta)>> {
        let listed = list_files(places.store.as_ref(), &places.source, &places.source.prefix).await?;
        let settled_before = Utc::now() - chrono::Duration::from_std(options.settle).unwrap_or_default();
        let listed = listed
            .into_iter()
            .filter(|meta| !places.put_away(&places.source.object_url(&meta.location)));
        let identified: Vec<_> = futures::stream::iter(listed)
            .map(|meta| async move {
                let file = source_file(places.store.as_ref(), &places.source, &meta, &history.stamps).await?;
                Ok::<_, EngineError>(file.map(|f| (f, meta)))
            })
            .buffered(HASH_CONCURRENCY)
            .try_collect()
            .await?;
        let mut pending = Vec::new();
        for (file, meta) in identified.into_iter().flatten() {
            match history.files.get(&file.key()) {
                Some(FileState::Loaded) => {
                    self.after_load(places, &meta.location, &options.after).await?;
                    if options.after != AfterLoad::Keep {
                        report.already_loaded += 1;
                    }
                }
                Some(FileState::Failed(reason)) => {
                    if let Some(moved) = self.move_failed(places, &meta.location, reason).await? {
                        report.failed.push(FailedFile {
                            url: file.url.clone(),
                            reason: reason.clone(),
                            moved_to: Some(moved),
                        });
                    }
                }
                Some(FileState::InFlight) => report.waiting += 1,
                None if meta.last_modified > settled_before => report.waiting += 1,
                None => pending.push((file, meta)),
            }
        }
        pending.sort_by(|a, b| a.0.url.cmp(&b.0.url));
        Ok(pending)
    }

    /// Loads batch `number` (claimed) into `table`: reads its files as one source, adds or refuses new columns,
    /// writes hidden files, and commits if no one decided the batch aborted first. A file that cannot be read fails
    /// alone: the batch is written again without it.
    #[allow(clippy::too_many_arguments)]
    async fn load_batch(
        &mut self,
        table: &mut Table,
        target: &Target,
        log: &LoadLog,
        number: u64,
        source: &Location,
        batch: Vec<Candidate>,
        options: &IngestOptions,
        report: &mut IngestReport,
    ) -> Result<Loaded> {
        let (mut good, mut failed, new_columns) = screen(batch, table, source, options);
        if !new_columns.is_empty() {
            let mut changed = table.clone();
            for (n, t) in &new_columns {
                changed.storage.columns.push(Column::new(n, t)?);
            }
            // A Delta table's columns live in its log: the batch's commit adds them (schema merge).
            *table = match target {
                Target::Hive => self.catalog.update_table(changed, "INGEST ADD COLUMNS").await?,
                Target::Delta(_) => changed,
            };
            report
                .added_columns
                .extend(new_columns.iter().map(|(n, t)| format!("{n} {t}")));
        }
        loop {
            if good.is_empty() {
                // Nothing to write: the batch records its failures only.
                return record_failures(log, number, failed).await;
            }
            let prepared = self.batch_query(table, source, &good, options.date_folders.as_deref())?;
            let loaded: Vec<SourceFile> = good.iter().map(|(f, _, _)| f.clone()).collect();
            let committed = match target {
                Target::Hive => {
                    self.commit_hive_batch(table, log, number, prepared, &loaded, &failed)
                        .await
                }
                Target::Delta(location) => {
                    let merge = !new_columns.is_empty();
                    self.commit_delta_batch(location, table, log, number, prepared, &loaded, &failed, merge)
                        .await
                }
            };
            return match committed {
                Ok(Some((query_id, rows))) => Ok(Loaded::Committed(
                    BatchReport {
                        number,
                        files: loaded.len(),
                        rows,
                        bytes: loaded.iter().map(|f| f.size).sum(),
                        query_id,
                    },
                    loaded,
                    failed,
                )),
                Ok(None) => Ok(Loaded::Lost),
                Err(EngineError::Interrupted) => Err(EngineError::Interrupted),
                Err(e) => {
                    // A failed write stops its other writers through the session's interrupt; this batch goes on
                    // without the files to blame.
                    self.interrupt.clear();
                    let culprits = self
                        .culprits(table, source, &good, options.date_folders.as_deref(), &e)
                        .await;
                    if culprits.is_empty() {
                        return Err(e);
                    }
                    for (i, reason) in culprits.into_iter().rev() {
                        let (file, _, _) = good.remove(i);
                        failed.push((file, reason));
                    }
                    continue;
                }
            };
        }
    }
    /// Writes batch `number`'s rows as hidden files and publishes them if its `committed` outcome wins. `Some((query
    /// id, rows))` once published, `None` when someone decided the batch aborted first.
    async fn commit_hive_batch(
        &mut self,
        table: &Table,
        log: &LoadLog,
        number: u64,
        prepared: PreparedQuery,
        loaded: &[SourceFile],
        failed: &[FailedSource],
    ) -> Result<Option<(String, u64)>> {
        let load = LoadRef {
            table_created: table.create_time,
            batch: number,
        };
        let staged = self.stage_insert(table, prepared, None, Some(load)).await?;
        let query_id = staged.query_id.clone();
        let rows = staged.rows();
        let outcome = LoadOutcome::Committed {
            query_id: query_id.clone(),
            rows,
            loaded: loaded.to_vec(),
            failed: failed.to_vec(),
            at: Utc::now(),
        };
        let decide = async {
            Ok(matches!(
                log.decide(number, &outcome).await?,
                LoadOutcome::Committed { query_id: q, .. } if q == query_id
            ))
        };
        Ok(staged
            .publish_if(self, decide, crate::write::commit::Readers::AtCommit)
            .await?
            .map(|_| (query_id, rows)))
    }

    /// The query that reads `files` as `table`'s rows: columns by name (by position for CSV without a header), with
    /// the table's types, so a value that is not of its column's type fails its file instead of becoming NULL;
    /// partition keys from a column of the same name, else from a `key=value` folder of the file's key.
    fn batch_query(
        &self,
        table: &Table,
        source: &Location,
        files: &[Readable],
        date_key: Option<&str>,
    ) -> Result<PreparedQuery> {
        let schemas: Vec<(String, FileSchema)> = files.iter().map(|(f, _, s)| (f.url.clone(), s.clone())).collect();
        let (mut definition, _) = crate::crawl::files_table(&source.url, &schemas)?;
        let headerless = matches!(schemas[0].1.format, Format::Csv { header: false, .. });
        for (i, column) in definition.storage.columns.iter_mut().enumerate() {
            if headerless && let Some(target) = table.storage.columns.get(i) {
                column.name = target.name.clone();
            }
            if let Some(target) = table.all_columns().find(|t| t.name == column.name) {
                column.data_type = target.data_type.clone();
            }
        }
        let present: Vec<String> = definition.storage.columns.iter().map(|c| c.name.clone()).collect();
        // Partition keys the files do not carry come from their `key=value` folders (below the source).
        let from_path: Vec<String> = table
            .partition_keys
            .iter()
            .filter(|p| !present.contains(&p.name))
            .map(|p| p.name.clone())
            .collect();
        for key in &from_path {
            definition.partition_keys.push(Column::new(key, "string")?);
        }
        let files: Vec<(ObjectMeta, Vec<ScalarValue>)> = files
            .iter()
            .map(|(f, meta, _)| {
                let relative = f.url.strip_prefix(&source.url).unwrap_or(&f.url);
                let folders: Vec<(String, Option<String>)> =
                    relative.split('/').filter_map(parse_partition_segment).collect();
                let values = from_path
                    .iter()
                    .map(|key| {
                        if date_key.is_some_and(|d| d.eq_ignore_ascii_case(key)) {
                            return ScalarValue::Utf8(date_from_folders(relative));
                        }
                        let value = folders.iter().find(|(k, _)| k.eq_ignore_ascii_case(key));
                        ScalarValue::Utf8(value.and_then(|(_, v)| v.clone()))
                    })
                    .collect();
                (meta.clone(), values)
            })
            .collect();
        let provider = TarnTable::try_new(definition)?.with_files(files);
        let (mut state, meter) = self.metered_with(Arc::clone(self.state.catalog_list()), true);
        state.mark_start_execution();
        let columns: Vec<Expr> = table
            .all_columns()
            .map(|c| {
                if present.contains(&c.name) || from_path.contains(&c.name) {
                    Expr::Column(LogicalColumn::from_name(&c.name)).alias(&c.name)
                } else {
                    lit(ScalarValue::Null).alias(&c.name)
                }
            })
            .collect();
        PreparedQuery::reading(Arc::new(provider), columns, (state, meter), source.clone())
    }

    /// The files (index, reason) to blame for `error`: those it names, else each that fails when read alone.
    async fn culprits(
        &self,
        table: &Table,
        source: &Location,
        files: &[Readable],
        date_key: Option<&str>,
        error: &EngineError,
    ) -> Vec<(usize, String)> {
        let text = error.to_string();
        let named: Vec<(usize, String)> = files
            .iter()
            .enumerate()
            .filter(|(_, (f, m, _))| text.contains(&f.url) || text.contains(m.location.as_ref()))
            .map(|(i, _)| (i, text.clone()))
            .collect();
        if !named.is_empty() || files.len() < 2 {
            return if files.len() == 1 && is_data_error(error) {
                vec![(0, text)]
            } else {
                named
            };
        }
        let mut blamed = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let alone = std::slice::from_ref(file);
            let read = async {
                let prepared = self.batch_query(table, source, alone, date_key)?;
                let frame = datafusion::dataframe::DataFrame::new(prepared.state, prepared.plan);
                frame.count().await.map_err(from_datafusion)
            };
            if let Err(e) = read.await
                && is_data_error(&e)
            {
                blamed.push((i, e.to_string()));
            }
        }
        blamed
    }

    /// After a file's batch committed: moves it under the processed prefix (keeping its key below the source), or
    /// deletes it, or leaves it.
    async fn after_load(&self, places: &Places, path: &Path, after: &AfterLoad) -> Result<()> {
        match (after, &places.processed) {
            (AfterLoad::Move(_), Some(processed)) => {
                self.move_object(&places.store, &places.source, path, processed).await?;
            }
            (AfterLoad::Delete, _) => match places.store.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(places.source.store_error(e)),
            },
            _ => {}
        }
        Ok(())
    }

    /// Moves a file that failed under the error prefix, with its reason beside it (`<name>.error.txt`, written
    /// first, so a file in the error prefix always has its reason). Returns where it went; `None` without an error
    /// prefix (the file stays, and the history keeps it from being tried again until it changes).
    async fn move_failed(&self, places: &Places, path: &Path, reason: &str) -> Result<Option<String>> {
        let (Some(errors), source) = (&places.errors, &places.source) else {
            return Ok(None);
        };
        let target_store = self.registry.store_for(errors)?;
        let target = relative_target(source, path, errors)?;
        let note = Path::from(format!("{target}.error.txt"));
        let text = format!("{}\n{reason}\n", source.object_url(path));
        target_store
            .put(&note, PutPayload::from(text.into_bytes()))
            .await
            .map_err(|e| errors.store_error(e))?;
        self.move_object(&places.store, source, path, errors).await.map(Some)
    }

    /// Moves `path` (below `source`) to the same relative key below `to`; a file already moved is fine.
    async fn move_object(
        &self,
        store: &Arc<dyn ObjectStore>,
        source: &Location,
        path: &Path,
        to: &Location,
    ) -> Result<String> {
        let target = relative_target(source, path, to)?;
        let url = to.object_url(&target);
        let moved = if to.store_url == source.store_url {
            store.rename(path, &target).await
        } else {
            let target_store = self.registry.store_for(to)?;
            match store.get(path).await {
                Ok(got) => {
                    let bytes = got.bytes().await.map_err(|e| source.store_error(e))?;
                    target_store
                        .put(&target, PutPayload::from(bytes))
                        .await
                        .map_err(|e| to.store_error(e))?;
                    store.delete(path).await
                }
                Err(e) => Err(e),
            }
        };
        match moved {
            Ok(()) => Ok(url),
            Err(object_store::Error::NotFound { .. }) => Ok(url),
            Err(e) => Err(source.store_error(e)),
        }
    }
}

/// `YYYY-MM-DD` from the first `YYYY/MM/DD` run of folders in `relative` (a key below the source), as Firehose and
/// many partners lay files out (`2024/01/26/13/events-1.gz`).
fn date_from_folders(relative: &str) -> Option<String> {
    let folders: Vec<&str> = relative.split('/').collect();
    let folders = &folders[..folders.len().saturating_sub(1)];
    folders.windows(3).find_map(|w| {
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        let (month, day) = (w[1].parse::<u32>().ok()?, w[2].parse::<u32>().ok()?);
        (digits(w[0], 4) && digits(w[1], 2) && digits(w[2], 2) && (1..=12).contains(&month) && (1..=31).contains(&day))
            .then(|| format!("{}-{}-{}", w[0], w[1], w[2]))
    })
}

/// Whether `error` is about the data read (a file's bytes or values), which blames a file, rather than the store or
/// the session.
fn is_data_error(error: &EngineError) -> bool {
    !matches!(
        error,
        EngineError::Storage { .. }
            | EngineError::Interrupted
            | EngineError::CancelledLate
            | EngineError::ScanLimitExceeded { .. }
            | EngineError::OutOfMemory { .. }
            | EngineError::WorkerUnreachable { .. }
            | EngineError::WorkerLost { .. }
            | EngineError::Catalog(_)
    )
}

/// The files of `batch` that no batch of the history holds; the others are counted as waiting (another loader has
/// them).
fn unclaimed(batch: Vec<Candidate>, history: &History, report: &mut IngestReport) -> Vec<Candidate> {
    let (free, taken): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .partition(|c| !history.files.contains_key(&c.file.key()));
    report.waiting += taken.len();
    free
}

/// This loader's claim of `batch`: the files, and who claims them (so another loader can tell whether it is alive).
fn claim_of(batch: &[Candidate], source: &Location) -> Claim {
    Claim {
        files: batch.iter().map(|c| c.file.clone()).collect(),
        source: source.url.clone(),
        host: host_name(),
        pid: std::process::id(),
        process_start: process_start(std::process::id()),
        claimed_at: Utc::now(),
    }
}

/// Sorts a batch's files into those it can load and those that fail before any row is read (unsniffable, no date
/// folders for `--date-folders`, a header-less CSV of the wrong width, new columns without `--new-columns add`), and
/// gives the columns (name, Hive type) the table gains.
fn screen(
    batch: Vec<Candidate>,
    table: &Table,
    source: &Location,
    options: &IngestOptions,
) -> (Vec<Readable>, Vec<FailedSource>, Vec<(String, String)>) {
    let known: Vec<String> = table.all_columns().map(|c| c.name.clone()).collect();
    let (mut good, mut failed): (Vec<Readable>, Vec<FailedSource>) = (Vec::new(), Vec::new());
    let mut new_columns: Vec<(String, String)> = Vec::new();
    for c in batch {
        let schema = match c.schema {
            Ok(schema) => schema,
            Err(reason) => {
                failed.push((c.file, reason));
                continue;
            }
        };
        match fits(&c.file, &schema, table, source, options, &known) {
            Err(reason) => failed.push((c.file, reason)),
            Ok(extra) => {
                for (n, k) in extra {
                    if !new_columns.iter().any(|(m, _)| *m == n) {
                        new_columns.push((n, k.hive()));
                    }
                }
                good.push((c.file, c.meta, schema));
            }
        }
    }
    (good, failed, new_columns)
}

/// Whether a sniffed file fits `table`: its columns the table lacks (to add), or why it fails.
fn fits(
    file: &SourceFile,
    schema: &FileSchema,
    table: &Table,
    source: &Location,
    options: &IngestOptions,
    known: &[String],
) -> std::result::Result<Vec<(String, sniff::Kind)>, String> {
    if let Some(key) = options.date_folders.as_deref()
        && !schema.columns.iter().any(|(n, _)| n.eq_ignore_ascii_case(key))
    {
        let relative = file.url.strip_prefix(&source.url).unwrap_or(&file.url);
        if date_from_folders(relative).is_none() {
            return Err(format!(
                "has no YYYY/MM/DD/ folders in its key below the source for {key} (--date-folders)"
            ));
        }
    }
    if matches!(schema.format, Format::Csv { header: false, .. }) {
        let expected = table.storage.columns.len();
        if schema.columns.len() != expected {
            return Err(format!(
                "has {} fields per line and no header, but {} has {expected} columns",
                schema.columns.len(),
                table.qualified_name()
            ));
        }
        return Ok(Vec::new());
    }
    let extra: Vec<(String, sniff::Kind)> = schema
        .columns
        .iter()
        .filter(|(n, _)| !known.contains(n))
        .cloned()
        .collect();
    if !extra.is_empty() && options.new_columns == NewColumns::Fail {
        let names: Vec<&str> = extra.iter().map(|(n, _)| n.as_str()).collect();
        return Err(format!(
            "has columns {} does not ({}); run with --new-columns add to add them",
            table.qualified_name(),
            names.join(", ")
        ));
    }
    Ok(extra)
}

/// Decides a batch none of whose files could be loaded: it commits its failures only.
async fn record_failures(log: &LoadLog, number: u64, failed: Vec<FailedSource>) -> Result<Loaded> {
    let outcome = LoadOutcome::Committed {
        query_id: String::new(),
        rows: 0,
        loaded: Vec::new(),
        failed: failed.clone(),
        at: Utc::now(),
    };
    Ok(match log.decide(number, &outcome).await? {
        LoadOutcome::Committed { .. } => Loaded::Committed(
            BatchReport {
                number,
                files: 0,
                rows: 0,
                bytes: 0,
                query_id: String::new(),
            },
            Vec::new(),
            failed,
        ),
        LoadOutcome::Aborted { .. } => Loaded::Lost,
    })
}

fn relative_target(source: &Location, path: &Path, to: &Location) -> Result<Path> {
    let relative: Vec<String> = path
        .prefix_match(&source.prefix)
        .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
        .unwrap_or_else(|| vec![path.filename().unwrap_or_default().to_string()]);
    Ok(relative.iter().fold(to.prefix.clone(), |p, part| p.join(part.as_str())))
}

/// The next batch: files in key order, each sniffed, up to the batch limits; a file of another format than the
/// batch's first stays for the next batch. Files that cannot be sniffed join the batch, to be recorded as failed.
async fn take_batch(
    store: &Arc<dyn ObjectStore>,
    carried: &mut Vec<Candidate>,
    pending: &mut std::iter::Peekable<std::vec::IntoIter<(SourceFile, ObjectMeta)>>,
    options: &IngestOptions,
) -> Vec<Candidate> {
    let mut batch: Vec<Candidate> = Vec::new();
    let mut signature: Option<String> = None;
    let mut bytes = 0u64;
    let mut left: Vec<Candidate> = Vec::new();
    let mut next = std::mem::take(carried).into_iter();
    loop {
        if batch.len() >= options.batch_files.max(1) || bytes >= options.batch_bytes {
            break;
        }
        let candidate = match next.next() {
            Some(c) => c,
            None => match pending.next() {
                Some((file, meta)) => {
                    let schema = sniff::sniff(store, &meta).await;
                    Candidate { file, meta, schema }
                }
                None => break,
            },
        };
        if let Ok(schema) = &candidate.schema {
            let sig = format!("{} {:?}", schema.format.signature(), schema.codec);
            match &signature {
                Some(s) if *s != sig => {
                    left.push(candidate);
                    continue;
                }
                None => signature = Some(sig),
                _ => {}
            }
        }
        bytes += candidate.file.size;
        batch.push(candidate);
    }
    left.extend(next);
    *carried = left;
    batch
}
