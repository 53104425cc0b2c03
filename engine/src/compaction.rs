//! `OPTIMIZE` for Hive-layout tables: each folder's files (a partition's, or an unpartitioned table's) are rewritten
//! into files of the table's target size, swapped in atomically for tarn's readers, and the files they replaced are
//! deleted by a later `OPTIMIZE`, once no query can still be reading them.
//!
//! One folder's compaction, with its record in the folder's `_tarn_compaction/` (see [`crate::compaction_log`]):
//! 1. it reads exactly the files a query would read now, and writes their rows as hidden files, as an INSERT does
//!    (partitioned and bucketed alike);
//! 2. `writing`, naming the new files, is put with a create-if-absent put: two compactions of one folder cannot both
//!    go on. Then the new files are renamed into place; readers skip them;
//! 3. `swapped`, naming the files read, is put: the commit point. From then on readers read the new files and skip
//!    the old ones. A query that listed the folder before still reads the old files, which stay;
//! 4. an `OPTIMIZE` at least [`GRACE_SETTING`] later (1 hour by default) deletes the old files and puts `finished`.
//!
//! Files that land in the folder meanwhile (INSERT, `tarn ingest`) are in no record, so they stay visible throughout.
//! Other engines list the folder and see both old and new files from step 2 until step 4: run `OPTIMIZE` when they
//! are not reading, or give the grace as little as your longest tarn query.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use datafusion::common::Column as LogicalColumn;
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use tarn_catalog::Table;

use crate::bucket::bucket_from_file_name;
use crate::compaction_log::{Phase, Record, absolute, put_record, relative};
use crate::context::{Ctx, PreparedQuery};
use crate::error::{EngineError, Result};
use crate::listing::{PartitionFolder, live_files_and_record};
use crate::meter::ScanMeter;
use crate::result::Outcome;
use crate::storage::Location;
use crate::table::TarnTable;
use crate::units::{counted, format_count};
use crate::write::hive_path::partition_segment;

pub const GRACE_SETTING: &str = "tarn.optimize.grace";
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// A grace as `SET` takes it: `1h`, `10m`, `30s`, `250ms`.
pub fn format_grace(grace: Duration) -> String {
    let (secs, millis) = (grace.as_secs(), grace.subsec_millis());
    match (secs, millis) {
        (0, 0) => "0s".into(),
        (s, 0) if s % 3600 == 0 => format!("{}h", s / 3600),
        (s, 0) if s % 60 == 0 => format!("{}m", s / 60),
        (s, 0) => format!("{s}s"),
        _ => format!("{}ms", grace.as_millis()),
    }
}

/// What became of one folder.
enum Compacted {
    /// Its files were rewritten: (files before, files after, rows).
    Done(usize, usize, u64),
    /// Nothing to do: one file or none.
    Nothing,
    /// Left alone, and why.
    Skipped(String),
}

/// A partition filter of `OPTIMIZE ... WHERE`: (column, operator, values), as parsed.
pub(crate) type PartitionFilter = (String, String, Vec<String>);

impl Ctx {
    /// `OPTIMIZE t [WHERE partition filters]` on a Hive-layout table.
    pub(crate) async fn optimize_hive(&mut self, def: Table, filters: &[PartitionFilter]) -> Result<Outcome> {
        let location = Location::parse(&def.storage.location)?;
        let store = self.registry.store_for(&location)?;
        let registered = self.catalog.partitions(&def).await?.partitions;
        let table = TarnTable::try_new(def.clone())?.with_partitions(registered)?;
        let keys: Vec<String> = def.partition_keys.iter().map(|k| k.name.clone()).collect();
        let folders: Vec<PartitionFolder> = table
            .folders(&store)
            .await?
            .into_iter()
            .filter(|f| filters.iter().all(|filter| matches(filter, &keys, &f.texts)))
            .collect();
        // One meter for every folder's read: the statement's bytes scanned.
        let (mut state, meter) = self.metered_with(Arc::clone(self.state.catalog_list()), self.settings.text_strict);
        state.mark_start_execution();
        let reading = (state, meter);
        let (mut compacted, mut before, mut after, mut rows) = (0usize, 0usize, 0usize, 0u64);
        let mut skipped: Vec<String> = Vec::new();
        for folder in &folders {
            // INSERT writes a partition's rows under `key=value` folders of the table; a partition registered
            // elsewhere would get its new files in a folder its readers do not list.
            let mut expected = location.prefix.clone();
            for (key, value) in keys.iter().zip(&folder.texts) {
                expected = location.child(&expected, &partition_segment(key, value.as_deref()))?;
            }
            let url = location.folder_url(&folder.path);
            if expected != folder.path {
                skipped.push(format!("{url}: its partition is registered at a location of its own"));
                continue;
            }
            match self
                .compact_folder(&def, &table, &store, &location, folder, &reading)
                .await?
            {
                Compacted::Done(b, a, r) => {
                    compacted += 1;
                    (before, after, rows) = (before + b, after + a, rows + r);
                }
                Compacted::Nothing => {}
                Compacted::Skipped(why) => skipped.push(format!("{url}: {why}")),
            }
        }
        let mut message = format!(
            "optimized {}: {} rewritten into {} in {} of {} ({} rows)",
            def.qualified_name(),
            counted(before, "file"),
            counted(after, "file"),
            counted(compacted, "folder"),
            format_count(folders.len() as u64),
            format_count(rows)
        );
        if !skipped.is_empty() {
            message.push_str(&format!("; left alone: {}", skipped.join("; ")));
        }
        Ok(Outcome::written(message, rows, reading.1))
    }

    async fn compact_folder(
        &mut self,
        def: &Table,
        table: &TarnTable,
        store: &Arc<dyn ObjectStore>,
        location: &Location,
        folder: &PartitionFolder,
        reading: &(SessionState, Arc<ScanMeter>),
    ) -> Result<Compacted> {
        let grace = chrono::Duration::from_std(self.settings.optimize_grace).unwrap_or(chrono::Duration::MAX);
        let (mut files, record) = live_files_and_record(store.as_ref(), location, &folder.path).await?;
        let mut next = record.as_ref().map_or(1, |r| r.seq + 1);
        if let Some(record) = &record {
            let age = Utc::now() - record.at;
            let until = (record.at + grace).format("%Y-%m-%d %H:%M:%S UTC");
            match record.phase {
                Phase::Writing if age < grace => {
                    return Ok(Compacted::Skipped(format!(
                        "another compaction (query {}) is under way",
                        record.query_id
                    )));
                }
                Phase::Swapped if age < grace => {
                    return Ok(Compacted::Skipped(format!(
                        "compacted at {}; the files it replaced are kept for running queries until {until} ({} = {})",
                        record.at.format("%Y-%m-%d %H:%M:%S UTC"),
                        GRACE_SETTING,
                        format_grace(self.settings.optimize_grace)
                    )));
                }
                Phase::Writing | Phase::Swapped => {
                    // A compaction that never swapped died: its new files go. One that swapped long enough ago: its
                    // old files go. The record comes first, so readers already skip what is deleted.
                    let (phase, doomed) = match record.phase {
                        Phase::Writing => (Phase::Abandoned, &record.written),
                        _ => (Phase::Finished, &record.replaced),
                    };
                    let done = Record {
                        seq: next,
                        phase,
                        at: Utc::now(),
                        ..record.clone()
                    };
                    if !put_record(store.as_ref(), location, &folder.path, &done).await? {
                        return Ok(Compacted::Skipped("another OPTIMIZE is at work on it".into()));
                    }
                    for name in doomed {
                        match store.delete(&absolute(&folder.path, name)).await {
                            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                            Err(e) => return Err(location.store_error(e)),
                        }
                    }
                    next += 1;
                    files = live_files_and_record(store.as_ref(), location, &folder.path).await?.0;
                }
                Phase::Finished | Phase::Abandoned => {}
            }
        }
        // A bucketed table keeps one file per bucket at best.
        let mut groups: Vec<Option<u32>> = files
            .iter()
            .map(|m| match def.storage.bucketing {
                Some(_) => m.location.filename().and_then(bucket_from_file_name),
                None => None,
            })
            .collect();
        groups.sort_unstable();
        if groups.windows(2).all(|pair| pair[0] != pair[1]) {
            return Ok(Compacted::Nothing);
        }
        let values = table.typed_values(folder)?;
        let replaced: Vec<String> = files.iter().map(|m| relative(&folder.path, &m.location)).collect();
        let files = files.iter().map(|m| (m.clone(), values.clone())).collect();
        let prepared = read_exactly(def, files, reading)?;
        let staged = self.stage_insert(def, prepared, None, None).await?;
        let query_id = staged.query_id.clone();
        let rows = staged.rows();
        let written: Vec<String> = staged.final_paths().map(|p| relative(&folder.path, p)).collect();
        let writing = Record {
            seq: next,
            query_id: query_id.clone(),
            phase: Phase::Writing,
            replaced,
            written,
            at: Utc::now(),
        };
        let outside = staged
            .final_paths()
            .find(|p| p.prefix_match(&folder.path).is_none())
            .cloned();
        let decide = async {
            if let Some(path) = outside {
                return Err(EngineError::internal(format!(
                    "a compaction of {} wrote {path} outside it",
                    location.folder_url(&folder.path)
                )));
            }
            put_record(store.as_ref(), location, &folder.path, &writing).await
        };
        if staged
            .publish_if(self, decide, crate::write::commit::Readers::WhenRenamed)
            .await?
            .is_none()
        {
            return Ok(Compacted::Skipped("another OPTIMIZE is at work on it".into()));
        }
        let swapped = Record {
            seq: next + 1,
            phase: Phase::Swapped,
            at: Utc::now(),
            ..writing
        };
        if !put_record(store.as_ref(), location, &folder.path, &swapped).await? {
            return Err(EngineError::internal(format!(
                "the compaction record {} of {} was taken while query {query_id} held {}",
                next + 1,
                location.folder_url(&folder.path),
                next
            )));
        }
        Ok(Compacted::Done(swapped.replaced.len(), swapped.written.len(), rows))
    }
}

/// The query that reads exactly `files` (each with its partition values) as `def`'s rows, in its column order.
fn read_exactly(
    def: &Table,
    files: Vec<(ObjectMeta, Vec<datafusion::scalar::ScalarValue>)>,
    (state, meter): &(SessionState, Arc<ScanMeter>),
) -> Result<PreparedQuery> {
    let provider = TarnTable::try_new(def.clone())?.with_files(files);
    let columns: Vec<Expr> = def
        .all_columns()
        .map(|c| Expr::Column(LogicalColumn::from_name(&c.name)).alias(&c.name))
        .collect();
    let location = Location::parse(&def.storage.location)?;
    PreparedQuery::reading(
        Arc::new(provider),
        columns,
        (state.clone(), Arc::clone(meter)),
        location,
    )
}

/// Whether a folder with partition values `texts` (for `keys`) passes `filter`. Values compare as numbers when both
/// sides are numbers, else as text; the NULL partition passes only `<>`.
fn matches(filter: &PartitionFilter, keys: &[String], texts: &[Option<String>]) -> bool {
    let (column, op, values) = filter;
    let Some(value) = keys.iter().position(|k| k == column).and_then(|i| texts.get(i)) else {
        return false;
    };
    let Some(value) = value else {
        return op == "<>" || op == "!=";
    };
    let order = |other: &String| match (value.parse::<f64>(), other.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b),
        _ => Some(value.as_str().cmp(other.as_str())),
    };
    use std::cmp::Ordering::*;
    let first = values.first().and_then(order);
    match op.as_str() {
        "=" => first == Some(Equal),
        "<>" | "!=" => first != Some(Equal),
        "<" => first == Some(Less),
        "<=" => matches!(first, Some(Less | Equal)),
        ">" => first == Some(Greater),
        ">=" => matches!(first, Some(Greater | Equal)),
        "IN" => values.iter().any(|v| order(v) == Some(Equal)),
        _ => false,
    }
}
