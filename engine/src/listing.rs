//! Finding a table's files the way Athena does: every file under LOCATION, in sub-folders too, except names that
//! start with `_` or `.` (`_SUCCESS`, `.crc`, `_temporary/`) and zero-byte folder markers; Hive `key=value` folders
//! give partition values, and partition filters are applied folder by folder, so `WHERE dt = '2024-01-01'` lists
//! one folder instead of the whole table.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::execution_props::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::utils::conjunction;
use datafusion::physical_expr::create_physical_expr;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
pub use tarn_catalog::HIVE_DEFAULT_PARTITION;

use crate::compaction_log;
use crate::error::{EngineError, Result, from_datafusion};
use crate::storage::Location;
const LIST_CONCURRENCY: usize = 16;

/// Whether `path` (below `root`) is hidden from queries.
pub fn is_hidden(root: &Path, path: &Path) -> bool {
    let Some(parts) = path.prefix_match(root) else {
        return true;
    };
    let parts: Vec<_> = parts.collect();
    parts
        .iter()
        .any(|p| p.as_ref().starts_with('_') || p.as_ref().starts_with('.'))
        || parts.last().is_some_and(|p| p.as_ref().ends_with("_$folder$"))
}

/// Every visible, non-empty file under `prefix`, sorted by path.
pub async fn list_files(store: &dyn ObjectStore, location: &Location, prefix: &Path) -> Result<Vec<ObjectMeta>> {
    let mut files: Vec<ObjectMeta> = store
        .list(Some(prefix))
        .try_filter(|meta| futures::future::ready(meta.size > 0 && !is_hidden(prefix, &meta.location)))
        .try_collect()
        .await
        .map_err(|e| location.store_error(e))?;
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
}

/// The files of `folder` a query reads ([`FolderFiles::live`]), and the folder's newest compaction record.
pub async fn live_files_and_record(
    store: &dyn ObjectStore,
    location: &Location,
    folder: &Path,
) -> Result<(Vec<ObjectMeta>, Option<compaction_log::Record>)> {
    let files = folder_files(store, location, folder).await?;
    Ok((files.live, files.record))
}

/// A file of a tarn write still under its staged name (`.name`); see [`crate::publication`].
#[derive(Debug, Clone)]
pub struct Staged {
    pub meta: ObjectMeta,
    pub query_id: String,
    /// Where the write publishes it.
    pub published: Path,
}

/// One listing of a folder, as queries read it.
#[derive(Debug, Default)]
pub struct FolderFiles {
    /// Every non-empty file under the folder that a query reads: visible (no `_` or `.` in its path below the
    /// folder), and not hidden by the folder's newest compaction record. Sorted by path.
    pub live: Vec<ObjectMeta>,
    /// Files of writes not (or not yet) published, which a query reads if their write committed.
    pub staged: Vec<Staged>,
    /// The folder's newest compaction record.
    pub record: Option<compaction_log::Record>,
}

/// Lists `folder` (see [`FolderFiles`]).
pub async fn folder_files(store: &dyn ObjectStore, location: &Location, folder: &Path) -> Result<FolderFiles> {
    // A listing racing a compaction's swap may miss some of its new files; the second one cannot.
    for _ in 0..2 {
        let mut listed: Vec<ObjectMeta> = store
            .list(Some(folder))
            .try_collect()
            .await
            .map_err(|e| location.store_error(e))?;
        let newest_listed = listed
            .iter()
            .filter_map(|m| compaction_log::record_seq(folder, &m.location))
            .max();
        listed.retain(|m| m.size > 0);
        let mut staged: Vec<Staged> = listed
            .iter()
            .filter(|m| is_hidden(folder, &m.location))
            .filter_map(|m| {
                let (query_id, published) = crate::publication::published_path(&m.location)?;
                (!is_hidden(folder, &published)).then(|| Staged {
                    meta: m.clone(),
                    query_id,
                    published,
                })
            })
            .collect();
        listed.retain(|m| !is_hidden(folder, &m.location));
        listed.sort_by(|a, b| a.location.cmp(&b.location));
        // A folder never compacted has no records: it costs nothing more than its listing.
        if newest_listed.is_none() {
            return Ok(FolderFiles {
                live: listed,
                staged,
                record: None,
            });
        }
        let Some(record) = compaction_log::newest_record(store, location, folder, newest_listed).await? else {
            return Ok(FolderFiles {
                live: listed,
                staged,
                record: None,
            });
        };
        let names: std::collections::HashSet<String> = listed
            .iter()
            .map(|m| compaction_log::relative(folder, &m.location))
            .collect();
        if record.phase == compaction_log::Phase::Swapped && record.written.iter().any(|w| !names.contains(w)) {
            continue;
        }
        let hidden: std::collections::HashSet<&String> = record.hidden().iter().collect();
        listed.retain(|m| !hidden.contains(&compaction_log::relative(folder, &m.location)));
        staged.retain(|s| !hidden.contains(&compaction_log::relative(folder, &s.published)));
        return Ok(FolderFiles {
            live: listed,
            staged,
            record: Some(record),
        });
    }
    Err(EngineError::Storage {
        location: location.folder_url(folder),
        message: format!(
            "the newest compaction record in {}/ names files that are not there; was the folder changed by hand?",
            compaction_log::RECORD_DIR
        ),
    })
}

/// Undoes Hive's partition path escaping (`%3A` → `:`); invalid escapes are kept as written, as Hive does.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Splits `key=value` (value Hive-unescaped, the default partition as NULL).
pub fn parse_partition_segment(segment: &str) -> Option<(String, Option<String>)> {
    let (key, value) = segment.split_once('=')?;
    let value = percent_decode(value);
    let value = (value != HIVE_DEFAULT_PARTITION).then_some(value);
    Some((percent_decode(key).to_lowercase(), value))
}

/// A partition folder: where its files are and its values (as text; `None` is NULL) for the leading partition
/// columns. Found by walking `key=value` folders, or read from the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionFolder {
    pub path: Path,
    pub texts: Vec<Option<String>>,
}

/// Walks the Hive `key=value` folders of a table partitioned on `partition_cols`, keeping at each level only the
/// folders that can satisfy `filters` (filters referencing only partition columns). Folders whose key is not the
/// next partition column are skipped, as Hive and MSCK REPAIR skip them.
pub async fn find_partition_folders(
    store: &Arc<dyn ObjectStore>,
    location: &Location,
    partition_cols: &[Field],
    filters: &[Expr],
) -> Result<Vec<PartitionFolder>> {
    let mut level = vec![PartitionFolder {
        path: location.prefix.clone(),
        texts: Vec::new(),
    }];
    for (depth, column) in partition_cols.iter().enumerate() {
        let listed: Vec<Vec<PartitionFolder>> = futures::stream::iter(level.into_iter().map(|parent| {
            let store = Arc::clone(store);
            async move {
                let listing = store
                    .list_with_delimiter(Some(&parent.path))
                    .await
                    .map_err(|e| location.store_error(e))?;
                let mut children = Vec::new();
                for dir in listing.common_prefixes {
                    let Some(name) = dir.filename() else { continue };
                    let Some((key, value)) = parse_partition_segment(name) else {
                        continue;
                    };
                    if key != *column.name() {
                        continue;
                    }
                    let mut texts = parent.texts.clone();
                    texts.push(value);
                    children.push(PartitionFolder { path: dir, texts });
                }
                Ok::<_, EngineError>(children)
            }
        }))
        .buffer_unordered(LIST_CONCURRENCY)
        .try_collect()
        .await?;
        let candidates: Vec<PartitionFolder> = listed.into_iter().flatten().collect();
        level = prune_partitions(candidates, &partition_cols[..=depth], filters, location)?;
    }
    level.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(level)
}

/// Lists the files of `partitions` (complete partitions of a table partitioned on `partition_cols`, or the table's
/// root with no columns); each file carries its partition's typed values. One listing per partition folder; one more
/// of the table's write records when a folder holds staged files.
///
/// A query sees a write's files all or not at all: a staged file is read (under its staged name) when its write has
/// committed and the listing did not show it published. A write that published its files and removed its record
/// while the folders were listed can show some of its files published and others staged, with no record left to say
/// it committed: the folders are then listed again.
pub async fn list_partition_files(
    store: Arc<dyn ObjectStore>,
    location: &Location,
    partition_cols: &[Field],
    partitions: Vec<PartitionFolder>,
) -> Result<Vec<PartitionedFile>> {
    for _ in 0..LISTING_ATTEMPTS {
        let per_partition: Vec<(Vec<PartitionedFile>, Vec<StagedIn>)> =
            futures::stream::iter(partitions.iter().cloned().map(|partition| {
                let store = Arc::clone(&store);
                async move {
                    let values = typed_values(&partition, partition_cols, location)?;
                    let files = folder_files(store.as_ref(), location, &partition.path).await?;
                    let live = files
                        .live
                        .into_iter()
                        .map(|meta| PartitionedFile::new_from_meta(meta).with_partition_values(values.clone()))
                        .collect();
                    let staged = files.staged.into_iter().map(|s| (s, values.clone())).collect();
                    Ok::<_, EngineError>((live, staged))
                }
            }))
            .buffer_unordered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let (mut files, mut staged) = (Vec::new(), Vec::new());
        for (live, pending) in per_partition {
            files.extend(live);
            staged.extend(pending);
        }
        if !staged.is_empty() {
            let Some(committed) = committed_staged(store.as_ref(), location, &files, staged).await? else {
                continue;
            };
            files.extend(committed);
        }
        files.sort_by(|a, b| a.path().cmp(b.path()));
        return Ok(files);
    }
    Err(EngineError::Storage {
        location: location.url.clone(),
        message: format!(
            "writes kept publishing files while the table was listed ({LISTING_ATTEMPTS} times); run the query again"
        ),
    })
}

const LISTING_ATTEMPTS: usize = 4;

/// A staged file with the typed values of its partition.
type StagedIn = (Staged, Vec<ScalarValue>);

/// The staged files a query reads (see [`list_partition_files`]), or `None` when the listing must be taken again.
async fn committed_staged(
    store: &dyn ObjectStore,
    location: &Location,
    live: &[PartitionedFile],
    staged: Vec<StagedIn>,
) -> Result<Option<Vec<PartitionedFile>>> {
    let committed = crate::publication::committed_writes(store, location).await?;
    let published: std::collections::HashSet<&Path> = live.iter().map(|f| &f.object_meta.location).collect();
    let mut read = Vec::new();
    for (file, values) in staged {
        // Published by now (on S3 a rename copies before it deletes): the listing has it under its own name.
        if published.contains(&file.published) {
            continue;
        }
        if committed.contains(&file.query_id) {
            read.push(PartitionedFile::new_from_meta(file.meta).with_partition_values(values));
        } else if published
            .iter()
            .any(|p| p.filename().and_then(crate::publication::query_id_in) == Some(file.query_id.as_str()))
        {
            return Ok(None);
        }
    }
    Ok(Some(read))
}

fn typed_values(partition: &PartitionFolder, columns: &[Field], location: &Location) -> Result<Vec<ScalarValue>> {
    partition
        .texts
        .iter()
        .zip(columns)
        .map(|(text, column)| typed_partition_value(text.clone(), column, location, &partition.path))
        .collect()
}

pub fn typed_partition_value(
    value: Option<String>,
    column: &Field,
    location: &Location,
    dir: &Path,
) -> Result<ScalarValue> {
    let Some(text) = value else {
        return ScalarValue::try_from(column.data_type()).map_err(from_datafusion);
    };
    ScalarValue::Utf8(Some(text.clone()))
        .cast_to(column.data_type())
        .ok()
        .filter(|v| !v.is_null())
        .ok_or_else(|| EngineError::DataFile {
            location: location.object_url(dir),
            line: None,
            message: format!(
                "partition value '{text}' is not a valid {} for partition column '{}'",
                crate::types::arrow_to_hive(column.data_type()).unwrap_or_default(),
                column.name()
            ),
        })
}

/// Keeps the partitions for which every applicable filter can be true. A filter applies once all its columns are
/// among `columns` (the partition columns resolved so far, in order).
pub fn prune_partitions(
    candidates: Vec<PartitionFolder>,
    columns: &[Field],
    filters: &[Expr],
    location: &Location,
) -> Result<Vec<PartitionFolder>> {
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let names: Vec<&str> = columns.iter().map(|f| f.name().as_str()).collect();
    let applicable: Vec<Expr> = filters
        .iter()
        .filter(|f| references_only(f, &names))
        .map(|f| unqualify(f.clone()))
        .collect::<Result<_>>()?;
    let Some(predicate) = conjunction(applicable) else {
        return Ok(candidates);
    };
    let schema = Arc::new(Schema::new(columns.to_vec()));
    let df_schema = DFSchema::try_from(Arc::clone(&schema)).map_err(from_datafusion)?;
    let physical = create_physical_expr(
        &predicate,
        &df_schema,
        &ExecutionProps::new(),
        &PhysicalPlanningContext::default(),
    )
    .map_err(from_datafusion)?;
    let typed: Vec<Vec<ScalarValue>> = candidates
        .iter()
        .map(|c| typed_values(c, columns, location))
        .collect::<Result<_>>()?;
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|i| ScalarValue::iter_to_array(typed.iter().map(|values| values[i].clone())))
        .collect::<datafusion::error::Result<_>>()
        .map_err(from_datafusion)?;
    let batch = RecordBatch::try_new(schema, arrays).map_err(|e| EngineError::internal(e.to_string()))?;
    let result = physical
        .evaluate(&batch)
        .and_then(|v| v.into_array(batch.num_rows()))
        .map_err(from_datafusion)?;
    let Some(mask) = result.as_any().downcast_ref::<BooleanArray>() else {
        return Ok(candidates);
    };
    Ok(candidates
        .into_iter()
        .enumerate()
        .filter(|(i, _)| mask.is_valid(*i) && mask.value(*i))
        .map(|(_, c)| c)
        .collect())
}

/// Whether `expr` can be decided from the values of `columns` alone (and is deterministic).
pub fn references_only(expr: &Expr, columns: &[&str]) -> bool {
    let refs = expr.column_refs();
    !refs.is_empty() && refs.iter().all(|c| columns.contains(&c.name.as_str())) && !expr.is_volatile()
}

fn unqualify(expr: Expr) -> Result<Expr> {
    expr.transform_up(|e| {
        Ok(match e {
            Expr::Column(c) if c.relation.is_some() => Transformed::yes(Expr::Column(Column::new_unqualified(c.name))),
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
    .map_err(from_datafusion)
}

/// Spreads files over `groups` groups of similar total size (largest first into the lightest group), because
/// compressed files cannot be split and a lopsided assignment leaves cores idle.
pub fn balance(mut files: Vec<PartitionedFile>, groups: usize) -> Vec<Vec<PartitionedFile>> {
    let n = groups.max(1).min(files.len().max(1));
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let mut out: Vec<(u64, Vec<PartitionedFile>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for file in files {
        if let Some(lightest) = out.iter_mut().min_by_key(|(size, _)| *size) {
            lightest.0 += file.object_meta.size;
            lightest.1.push(file);
        }
    }
    out.into_iter().map(|(_, g)| g).filter(|g| !g.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_segments() {
        assert_eq!(
            parse_partition_segment("dt=2024-01-01"),
            Some(("dt".into(), Some("2024-01-01".into())))
        );
        assert_eq!(
            parse_partition_segment("ts=2024-01-01 10%3A00"),
            Some(("ts".into(), Some("2024-01-01 10:00".into())))
        );
        assert_eq!(
            parse_partition_segment(&format!("State={HIVE_DEFAULT_PARTITION}")),
            Some(("state".into(), None))
        );
        assert_eq!(parse_partition_segment("no-equals"), None);
        assert_eq!(percent_decode("bad%zzescape%4"), "bad%zzescape%4");
    }

    #[test]
    fn hidden_names() {
        let root = Path::from("lake/t");
        assert!(is_hidden(&root, &Path::from("lake/t/_SUCCESS")));
        assert!(is_hidden(&root, &Path::from("lake/t/.part-0.crc")));
        assert!(is_hidden(&root, &Path::from("lake/t/_temporary/0/part-1")));
        assert!(is_hidden(&root, &Path::from("lake/t/dt=1_$folder$")));
        assert!(!is_hidden(&root, &Path::from("lake/t/dt=1/part-0.gz")));
    }
}
