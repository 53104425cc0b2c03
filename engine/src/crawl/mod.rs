//! The crawler: infers tables from a folder or an S3 prefix and registers them, like a Glue crawler but predictably.
//!
//! Grouping rules, in order:
//! 1. A folder with `_delta_log/` is a Delta table.
//! 2. The crawled folder itself is one table when it holds data files directly, when its sub-folders are Hive
//!    `key=value` folders, or when `--table` names it. Otherwise each sub-folder is a table named after it (the
//!    crawled folder is the database level, as Glue's "table level" would be set).
//! 3. Below a table's folder, `key=value` levels become partition keys; unnamed levels (`2024/01/26/`) become
//!    `partition_0`, `partition_1`, ... when every folder under them holds files of the same format and compatible
//!    columns. Incompatible unnamed sibling folders become separate tables instead (`<table>_<folder>`), and the
//!    report says why.
//!
//! Each table's files are sampled (one per partition, new partitions first, at most [`MAX_SAMPLED_FILES`], each
//! read with one or two range requests, [`CONCURRENCY`] at a time), so a crawl of 10,000 files costs one listing
//! and a bounded number of small reads. Re-crawling adds new columns (a new table version; the old one stays in the
//! history) and new partitions, and removes nothing unless asked (`delete_missing`).

pub(crate) mod sniff;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use sniff::{FileSchema, Format, Kind};
use tarn_catalog::{
    Column, DEFAULT_DATABASE, HIVE_DEFAULT_PARTITION, Partition, SerdeInfo, StorageFormat, Table, TableKind, params,
    serde_lib, serde_params,
};

use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::listing::{is_hidden, parse_partition_segment};
use crate::parse::QualifiedName;
use crate::storage::Location;
use crate::table::TarnTable;
use crate::units::{counted, first_few};

/// Files sampled per table.
pub const MAX_SAMPLED_FILES: usize = 48;
/// Range requests in flight at once.
pub const CONCURRENCY: usize = 16;
/// The table parameter naming the crawl that manages a table (its root URL); `delete_missing` only drops those.
const CRAWLED_FROM: &str = "tarn.crawled_from";
/// Glue's marker of crawler-made tables.
const UPDATED_BY_CRAWLER: &str = "UPDATED_BY_CRAWLER";
/// Below this share of shared columns, unnamed sibling folders are different tables.
const SIMILARITY: f64 = 0.7;

/// What to crawl and how.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    pub database: String,
    /// Register the crawled folder as this one table.
    pub table: Option<String>,
    /// Report what would change; write nothing.
    pub dry_run: bool,
    /// Drop partitions whose folders are gone, and tables of this crawl whose folders are gone.
    pub delete_missing: bool,
}

/// What a crawl did (or, in a dry run, would do).
#[derive(Debug, Clone)]
pub struct CrawlReport {
    pub url: String,
    pub database: String,
    pub files: usize,
    pub sampled_files: usize,
    pub sampled_bytes: u64,
    pub elapsed: Duration,
    pub dry_run: bool,
    pub tables: Vec<CrawledTable>,
    /// Why folders were grouped as they were, type conflicts, files that could not be read.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CrawlAction {
    Created,
    Updated {
        new_columns: Vec<String>,
        new_partitions: Vec<String>,
        removed_partitions: Vec<String>,
    },
    Unchanged,
    Dropped,
    /// Not touched, and why.
    Skipped(String),
}

impl CrawlReport {
    /// `crawled 3 tables from 1,204 files (2.1 s, sampled 38 MB in 48 files)`.
    pub fn headline(&self) -> String {
        let tables = self.tables.iter().filter(|t| t.action != CrawlAction::Dropped).count();
        format!(
            "{}crawled {} from {} ({:.1} s, sampled {} in {})",
            if self.dry_run { "dry run: " } else { "" },
            counted(tables, "table"),
            counted(self.files, "file"),
            self.elapsed.as_secs_f64(),
            crate::units::format_bytes(self.sampled_bytes),
            counted(self.sampled_files, "file"),
        )
    }
}

impl CrawlAction {
    /// What happened to the table, as the crawl report says it (`would …` in a dry run).
    pub fn describe(&self, dry_run: bool) -> String {
        let (done, would) = match self {
            CrawlAction::Created => ("created", "would create"),
            CrawlAction::Unchanged => ("unchanged", "unchanged"),
            CrawlAction::Dropped => ("dropped (its folder is gone)", "would drop (its folder is gone)"),
            CrawlAction::Skipped(why) => return format!("skipped: {why}"),
            CrawlAction::Updated {
                new_columns,
                new_partitions,
                removed_partitions,
            } => {
                let mut changes = Vec::new();
                if !new_columns.is_empty() {
                    changes.push(format!(
                        "+{} ({})",
                        counted(new_columns.len(), "column"),
                        new_columns.join(", ")
                    ));
                }
                if !new_partitions.is_empty() {
                    changes.push(format!(
                        "+{} ({})",
                        counted(new_partitions.len(), "partition"),
                        first_few(new_partitions)
                    ));
                }
                if !removed_partitions.is_empty() {
                    changes.push(format!(
                        "-{} ({})",
                        counted(removed_partitions.len(), "partition"),
                        first_few(removed_partitions)
                    ));
                }
                let verb = if dry_run { "would update" } else { "updated" };
                return format!("{verb}: {}", changes.join(", "));
            }
        };
        if dry_run { would.into() } else { done.into() }
    }
}

/// `CRAWL ...` as a statement's result: one row per table; the headline and the notes as notices.
pub(crate) fn report_result(report: &CrawlReport) -> Result<crate::result::Outcome> {
    let names = ["table", "format", "columns", "partitions", "action"];
    let mut columns: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    for t in &report.tables {
        let partitions = if t.partition_keys.is_empty() {
            String::new()
        } else {
            format!("{} ({})", t.partition_keys.join(", "), t.partitions)
        };
        let row = [
            t.name.clone(),
            t.summary.clone(),
            t.columns.to_string(),
            partitions,
            t.action.describe(report.dry_run),
        ];
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value);
        }
    }
    let mut notices = vec![report.headline()];
    notices.extend(report.notes.iter().cloned());
    Ok(crate::result::Outcome::strings(&names, columns)?.with_notices(notices))
}

#[derive(Debug, Clone)]
pub struct CrawledTable {
    /// `db.table`.
    pub name: String,
    pub location: String,
    /// `csv gzip delim='|' header`, `json gzip`, `parquet snappy`, `delta`.
    pub summary: String,
    pub columns: usize,
    pub partition_keys: Vec<String>,
    pub partitions: usize,
    pub action: CrawlAction,
}

/// A folder tree of the listed files, by stored names.
#[derive(Default)]
struct Node {
    files: Vec<ObjectMeta>,
    children: BTreeMap<String, Node>,
}

impl Node {
    pub(crate) fn all_files(&self) -> Vec<&ObjectMeta> {
        let mut files: Vec<&ObjectMeta> = self.files.iter().collect();
        for child in self.children.values() {
            files.extend(child.all_files());
        }
        files
    }
}

/// A table the grouping found, before sampling decides its columns.
struct Candidate {
    name: String,
    /// Folder names from the crawl root.
    folder: Vec<String>,
    partition_keys: Vec<String>,
    /// Each partition: its values and folder names from the table folder; one entry with no values when
    /// unpartitioned.
    partitions: Vec<(Vec<String>, Vec<String>)>,
    files: Vec<ObjectMeta>,
    /// Files of each partition, same order as `partitions`.
    partition_files: Vec<Vec<ObjectMeta>>,
}

/// The merged shape of a table's sampled files.
struct Shape {
    format: Format,
    codec: crate::text_source::Codec,
    /// A codec no file name announces: recorded as `compressionType` so tarn reads the files.
    hidden_codec: bool,
    columns: Vec<(String, Kind)>,
    spellings: BTreeMap<String, String>,
}

impl Ctx {
    /// Crawls `url` into `options.database` (created if missing).
    pub async fn crawl(&mut self, url: &str, options: CrawlOptions) -> Result<CrawlReport> {
        let started = Instant::now();
        let root = Location::parse(url)?;
        let store = self.registry.store_for(&root)?;
        let database = tarn_catalog::normalize_name("database", &options.database)?;
        let objects: Vec<ObjectMeta> =
            store
                .list(Some(&root.prefix))
                .try_collect()
                .await
                .map_err(|e| EngineError::Location {
                    location: root.url.clone(),
                    message: crate::storage::describe_store_error(&e).to_string(),
                })?;
        let mut report = CrawlReport {
            url: root.url.clone(),
            database: database.clone(),
            files: 0,
            sampled_files: 0,
            sampled_bytes: 0,
            elapsed: Duration::ZERO,
            dry_run: options.dry_run,
            tables: Vec::new(),
            notes: Vec::new(),
        };

        let (tree, delta_roots, files) = file_tree(&root, objects);
        report.files = files;
        if report.files == 0 && delta_roots.is_empty() {
            return Err(EngineError::Location {
                location: root.url.clone(),
                message: "holds no data files to crawl (names starting with _ or . are skipped, as Athena does)".into(),
            });
        }
        if self.catalog.get_database(&database).await?.is_none() && !options.dry_run {
            self.catalog
                .create_database(tarn_catalog::Database::new(&database)?)
                .await?;
            report.notes.push(format!("created database {database}"));
        }

        let root_name = options
            .table
            .clone()
            .unwrap_or_else(|| table_name(root.prefix.filename()));
        for delta in &delta_roots {
            let name = match (delta.last(), &options.table) {
                (_, Some(t)) if delta.is_empty() => t.clone(),
                (Some(last), _) => table_name(Some(last)),
                (None, _) => root_name.clone(),
            };
            let table = Box::pin(self.crawl_delta(&root, delta, &name, &database, &options)).await?;
            report.tables.push(table);
        }

        let whole_root = options.table.is_some()
            || !tree.files.is_empty()
            || (!tree.children.is_empty() && tree.children.keys().all(|k| parse_partition_segment(k).is_some()));
        let mut candidates = Vec::new();
        if report.files > 0 {
            if whole_root {
                candidates.extend(plan_table(root_name, Vec::new(), &tree));
            } else {
                for (folder, node) in &tree.children {
                    candidates.extend(plan_table(table_name(Some(folder)), vec![folder.clone()], node));
                }
            }
        }

        let mut seen = HashSet::new();
        let mut queue: Vec<Candidate> = candidates;
        while let Some(candidate) = queue.pop() {
            let existing = self.catalog.get_table(&database, &candidate.name).await?;
            let registered: HashSet<Vec<String>> = match &existing {
                Some(t) if !t.is_view() && !t.partition_keys.is_empty() => self
                    .catalog
                    .partitions(t)
                    .await?
                    .partitions
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| p.values)
                    .collect(),
                _ => HashSet::new(),
            };
            let schemas = sample_schemas(&store, &root, &choose_sample(&candidate, &registered), &mut report).await;
            if schemas.is_empty() {
                report.notes.push(format!(
                    "no table for {}: none of its sampled files could be read",
                    folder_url(&root, &candidate.folder)
                ));
                continue;
            }
            // Unnamed first-level folders whose files disagree are separate tables.
            if candidate
                .partition_keys
                .first()
                .is_some_and(|k| k.starts_with("partition_"))
                && let Some(why) = disagreement(&candidate, &schemas)
            {
                report.notes.push(format!(
                    "{}: sub-folders became separate tables: {why}",
                    folder_url(&root, &candidate.folder)
                ));
                queue.extend(split(&candidate, &tree));
                continue;
            }
            let unnamed: Vec<&str> = candidate
                .partition_keys
                .iter()
                .filter(|k| k.starts_with("partition_"))
                .map(String::as_str)
                .collect();
            if !unnamed.is_empty() {
                report.notes.push(format!(
                    "{database}.{}: folders without key=value names became partitions {} (their sampled files agree \
                     on format and columns)",
                    candidate.name,
                    unnamed.join(", ")
                ));
            }
            let (shape, conflicts) = merge(&schemas);
            for conflict in conflicts {
                report.notes.push(format!("{database}.{}: {conflict}", candidate.name));
            }
            if !seen.insert(candidate.name.clone()) {
                report.notes.push(format!(
                    "two folders map to table {database}.{}; only the first was registered (crawl the other with --table)",
                    candidate.name
                ));
                continue;
            }
            match self
                .register_crawled(&root, &database, &candidate, &shape, existing, &options)
                .await
            {
                Ok((table, notes)) => {
                    report.tables.push(table);
                    report.notes.extend(notes);
                }
                // A folder whose files cannot make a readable table is reported; the other tables still register.
                Err(e)
                    if matches!(&e, EngineError::Invalid { .. })
                        || matches!(&e, EngineError::Catalog(c)
                            if matches!(**c, tarn_catalog::CatalogError::InvalidName { .. })) =>
                {
                    report
                        .notes
                        .push(format!("no table for {}: {e}", folder_url(&root, &candidate.folder)));
                }
                Err(e) => return Err(e),
            }
        }

        if options.delete_missing {
            self.drop_missing(&root, &database, options.dry_run, &mut report)
                .await?;
        }
        report.tables.sort_by(|a, b| a.name.cmp(&b.name));
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// `DELETE MISSING`: the tables this root's crawls registered that this crawl did not find are dropped (their
    /// entries; no file is touched).
    async fn drop_missing(
        &self,
        root: &Location,
        database: &str,
        dry_run: bool,
        report: &mut CrawlReport,
    ) -> Result<()> {
        let kept: HashSet<String> = report.tables.iter().map(|t| t.name.clone()).collect();
        for table in self.catalog.list_tables(database).await? {
            let qualified = table.qualified_name();
            if table.parameters.get(CRAWLED_FROM) == Some(&root.url) && !kept.contains(&qualified) {
                if !dry_run {
                    self.catalog.drop_table(&table.database, &table.name).await?;
                }
                report.tables.push(CrawledTable {
                    name: qualified,
                    location: table.storage.location.clone(),
                    summary: String::new(),
                    columns: table.storage.columns.len(),
                    partition_keys: Vec::new(),
                    partitions: 0,
                    action: CrawlAction::Dropped,
                });
            }
        }
        Ok(())
    }

    async fn crawl_delta(
        &mut self,
        root: &Location,
        folder: &[String],
        name: &str,
        database: &str,
        options: &CrawlOptions,
    ) -> Result<CrawledTable> {
        let url = folder_url(root, folder);
        let mut crawled = CrawledTable {
            name: format!("{database}.{name}"),
            location: url.clone(),
            summary: "delta".into(),
            columns: 0,
            partition_keys: Vec::new(),
            partitions: 0,
            action: CrawlAction::Unchanged,
        };
        if let Some(existing) = self.catalog.get_table(database, name).await? {
            crawled.columns = existing.storage.columns.len() + existing.partition_keys.len();
            crawled.partition_keys = existing.partition_keys.iter().map(|k| k.name.clone()).collect();
            if existing.kind() != TableKind::Delta || existing.storage.location != url {
                crawled.action = CrawlAction::Skipped(format!(
                    "{} already exists over {}; crawl with --table to pick another name",
                    existing.qualified_name(),
                    existing.storage.location
                ));
            }
            return Ok(crawled);
        }
        crawled.action = CrawlAction::Created;
        if options.dry_run {
            return Ok(crawled);
        }
        let qualified = QualifiedName {
            database: Some(database.to_string()),
            name: name.to_string(),
        };
        Box::pin(self.register_delta(qualified, &url, false, None)).await?;
        if let Some(mut table) = self.catalog.get_table(database, name).await? {
            crawled.columns = table.storage.columns.len() + table.partition_keys.len();
            crawled.partition_keys = table.partition_keys.iter().map(|k| k.name.clone()).collect();
            table.parameters.insert(CRAWLED_FROM.into(), root.url.clone());
            table.parameters.insert(UPDATED_BY_CRAWLER.into(), "tarn".into());
            self.catalog.update_table(table, "CRAWL").await?;
        }
        Ok(crawled)
    }

    /// Creates or updates one crawled table.
    async fn register_crawled(
        &self,
        root: &Location,
        database: &str,
        candidate: &Candidate,
        shape: &Shape,
        existing: Option<Table>,
        options: &CrawlOptions,
    ) -> Result<(CrawledTable, Vec<String>)> {
        let mut notes = Vec::new();
        let location = folder_url(root, &candidate.folder);
        let table_location = Location::parse(&location)?;
        let mut table = crawled_table(database, &candidate.name, &location, shape)?;
        table.partition_keys = candidate
            .partition_keys
            .iter()
            .map(|k| Column::new(k, "string"))
            .collect::<std::result::Result<_, _>>()?;
        table.parameters.insert(CRAWLED_FROM.into(), root.url.clone());
        table
            .parameters
            .insert("objectCount".into(), candidate.files.len().to_string());
        let partitions: Vec<Partition> = if candidate.partition_keys.is_empty() {
            Vec::new()
        } else {
            candidate
                .partitions
                .iter()
                .map(|(values, folders)| {
                    let path = folders
                        .iter()
                        .try_fold(table_location.prefix.clone(), |p, f| table_location.child(&p, f))?;
                    Ok(Partition::new(values.clone(), &table_location.folder_url(&path)))
                })
                .collect::<Result<_>>()?
        };
        let mut crawled = CrawledTable {
            name: table.qualified_name(),
            location: location.clone(),
            summary: summary(shape),
            columns: table.storage.columns.len() + table.partition_keys.len(),
            partition_keys: candidate.partition_keys.clone(),
            partitions: partitions.len(),
            action: CrawlAction::Created,
        };
        let Some(existing) = existing else {
            TarnTable::try_new(table.clone())?.with_partitions(Some(partitions.clone()))?;
            if !options.dry_run {
                let created = self.catalog.create_table(table).await?;
                if !created.partition_keys.is_empty() {
                    self.change_partitions(&created, "CRAWL", false, |current| {
                        current.extend(partitions.iter().cloned());
                        Ok((true, ()))
                    })
                    .await?;
                }
            }
            return Ok((crawled, notes));
        };
        if existing.is_view() || existing.parameters.get(CRAWLED_FROM) != Some(&root.url) {
            crawled.action = CrawlAction::Skipped(format!(
                "{} exists and was not made by a crawl of {}; crawl with --table to pick another name",
                existing.qualified_name(),
                root.url
            ));
            return Ok((crawled, notes));
        }
        // Re-crawl: add what is new, keep everything else as it is, and say what differs.
        notes.extend(differences(&existing, &table, shape));
        let (updated, new_columns) = with_new_columns(&existing, &table);
        crawled.columns = updated.storage.columns.len() + updated.partition_keys.len();
        let wanted: HashSet<Vec<String>> = partitions.iter().map(|p| p.values.clone()).collect();
        let mut new_partitions = Vec::new();
        let mut removed_partitions = Vec::new();
        let same_keys = existing
            .partition_keys
            .iter()
            .map(|k| &k.name)
            .eq(candidate.partition_keys.iter());
        if !same_keys {
            notes.push(format!(
                "{}: the folders now give partition keys ({}) but the table has ({}); its partitions were not changed \
                 (DROP TABLE it and crawl again to re-register it)",
                existing.qualified_name(),
                candidate.partition_keys.join(", "),
                existing
                    .partition_keys
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !existing.partition_keys.is_empty() && same_keys {
            let current = match self.catalog.partitions(&existing).await?.partitions {
                Some(p) => p,
                None => self.discover_partitions(&existing).await?.partitions,
            };
            let have: HashSet<Vec<String>> = current.iter().map(|p| p.values.clone()).collect();
            new_partitions = partitions
                .iter()
                .filter(|p| !have.contains(&p.values))
                .map(|p| p.spec(&existing.partition_keys))
                .collect();
            if options.delete_missing {
                removed_partitions = current
                    .iter()
                    .filter(|p| !wanted.contains(&p.values))
                    .map(|p| p.spec(&existing.partition_keys))
                    .collect();
            }
            crawled.partitions = current.len() + new_partitions.len() - removed_partitions.len();
        }
        crawled.action = if new_columns.is_empty() && new_partitions.is_empty() && removed_partitions.is_empty() {
            CrawlAction::Unchanged
        } else {
            CrawlAction::Updated {
                new_columns: new_columns
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.data_type))
                    .collect(),
                new_partitions: new_partitions.clone(),
                removed_partitions: removed_partitions.clone(),
            }
        };
        if options.dry_run {
            return Ok((crawled, notes));
        }
        let updated = if new_columns.is_empty() {
            existing
        } else {
            TarnTable::try_new(updated.clone())?;
            self.catalog.update_table(updated, "CRAWL").await?
        };
        if !new_partitions.is_empty() || !removed_partitions.is_empty() {
            let delete = options.delete_missing;
            self.change_partitions(&updated, "CRAWL", true, |current| {
                let have: HashSet<Vec<String>> = current.iter().map(|p| p.values.clone()).collect();
                current.extend(partitions.iter().filter(|p| !have.contains(&p.values)).cloned());
                if delete {
                    current.retain(|p| wanted.contains(&p.values));
                }
                Ok((true, ()))
            })
            .await?;
        }
        Ok((crawled, notes))
    }
}

/// Folder names of `path` below the crawl root, as stored.
fn relative_parts(root: &Location, path: &Path) -> Vec<String> {
    path.prefix_match(&root.prefix)
        .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
        .unwrap_or_default()
}

fn folder_url(root: &Location, folder: &[String]) -> String {
    let mut url = root.url.clone();
    for f in folder {
        url.push_str(f);
        url.push('/');
    }
    url
}

/// A table name from a folder name: lower-cased, other characters as `_`.
fn table_name(folder: Option<&str>) -> String {
    let name = sniff::column_name(folder.unwrap_or("crawled"));
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("t_{name}")
    } else {
        name
    }
}

/// The partition levels of a table folder: `key=value` levels, then unnamed levels, down to the first level that
/// holds files.
fn plan_table(name: String, folder: Vec<String>, node: &Node) -> Option<Candidate> {
    let mut keys: Vec<String> = Vec::new();
    let mut level: Vec<(Vec<String>, Vec<String>, &Node)> = vec![(Vec::new(), Vec::new(), node)];
    loop {
        let stop = level
            .iter()
            .any(|(_, _, n)| !n.files.is_empty() || n.children.is_empty());
        if stop {
            break;
        }
        let names: Vec<&String> = level.iter().flat_map(|(_, _, n)| n.children.keys()).collect();
        let hive_keys: BTreeSet<Option<String>> = names
            .iter()
            .map(|n| parse_partition_segment(n).map(|(k, _)| k))
            .collect();
        let key = match hive_keys.into_iter().collect::<Vec<_>>().as_slice() {
            [Some(k)] => k.clone(),
            [None] => format!("partition_{}", keys.len()),
            // Mixed or several keys at one level: not a partition level; everything below is read as one.
            _ => break,
        };
        let named = !key.starts_with("partition_");
        keys.push(key);
        level = level
            .into_iter()
            .flat_map(|(values, folders, n)| {
                n.children.iter().map(move |(child, grandchild)| {
                    let value = if named {
                        parse_partition_segment(child)
                            .and_then(|(_, v)| v)
                            .unwrap_or_else(|| HIVE_DEFAULT_PARTITION.to_string())
                    } else {
                        child.clone()
                    };
                    let mut values = values.clone();
                    values.push(value);
                    let mut folders = folders.clone();
                    folders.push(child.clone());
                    (values, folders, grandchild)
                })
            })
            .collect();
    }
    let partition_files: Vec<Vec<ObjectMeta>> = level
        .iter()
        .map(|(_, _, n)| n.all_files().into_iter().cloned().collect())
        .collect();
    let files: Vec<ObjectMeta> = partition_files.iter().flatten().cloned().collect();
    if files.is_empty() {
        return None;
    }
    Some(Candidate {
        name,
        folder,
        partition_keys: keys,
        partitions: level.into_iter().map(|(v, f, _)| (v, f)).collect(),
        files,
        partition_files,
    })
}

/// Splits a table at its first (unnamed) partition level: one table per folder.
fn split(candidate: &Candidate, tree: &Node) -> Vec<Candidate> {
    let mut node = tree;
    for folder in &candidate.folder {
        match node.children.get(folder) {
            Some(n) => node = n,
            None => return Vec::new(),
        }
    }
    node.children
        .iter()
        .filter_map(|(child, n)| {
            let mut folder = candidate.folder.clone();
            folder.push(child.clone());
            plan_table(format!("{}_{}", candidate.name, table_name(Some(child))), folder, n)
        })
        .collect()
}

/// One file from each partition (unregistered partitions first, so a re-crawl sees what is new), then more files
/// spread over the table, up to [`MAX_SAMPLED_FILES`].
fn choose_sample(candidate: &Candidate, registered: &HashSet<Vec<String>>) -> Vec<ObjectMeta> {
    let mut order: Vec<usize> = (0..candidate.partitions.len()).collect();
    order.sort_by_key(|&i| registered.contains(&candidate.partitions[i].0));
    let mut sample: Vec<ObjectMeta> = order
        .iter()
        .filter_map(|&i| candidate.partition_files[i].last().cloned())
        .take(MAX_SAMPLED_FILES)
        .collect();
    let step = (candidate.files.len() / MAX_SAMPLED_FILES).max(1);
    for file in candidate.files.iter().step_by(step) {
        if sample.len() >= MAX_SAMPLED_FILES {
            break;
        }
        if !sample.iter().any(|s| s.location == file.location) {
            sample.push(file.clone());
        }
    }
    sample
}

async fn sniff_all(
    store: &Arc<dyn ObjectStore>,
    root: &Location,
    files: &[ObjectMeta],
) -> Vec<(String, std::result::Result<FileSchema, String>)> {
    // Each future owns what it reads: futures borrowing from the caller make the crawl's future not provably
    // `Send` for callers that run sessions on spawned tasks.
    futures::stream::iter(files.iter().cloned().map(|meta| {
        let store = Arc::clone(store);
        let name = relative_parts(root, &meta.location).join("/");
        async move {
            let outcome = sniff::sniff(&store, &meta).await;
            (name, outcome)
        }
    }))
    .buffered(CONCURRENCY)
    .collect()
    .await
}

/// Why the files under the first partition level do not make one table, if they do not.
fn disagreement(candidate: &Candidate, schemas: &[(String, FileSchema)]) -> Option<String> {
    let first_folder = |file: &str| -> String {
        let rest = file
            .strip_prefix(&candidate.folder.iter().map(|f| format!("{f}/")).collect::<String>())
            .unwrap_or(file);
        rest.split('/').next().unwrap_or_default().to_string()
    };
    let (first_file, first) = schemas.first()?;
    for (file, schema) in &schemas[1..] {
        if schema.format.signature() != first.format.signature() {
            return Some(format!(
                "{} is {} but {} is {}",
                first_folder(first_file),
                first.format.signature(),
                first_folder(file),
                schema.format.signature()
            ));
        }
        let a: HashSet<&String> = first.columns.iter().map(|(n, _)| n).collect();
        let b: HashSet<&String> = schema.columns.iter().map(|(n, _)| n).collect();
        let shared = a.intersection(&b).count() as f64;
        let union = a.union(&b).count().max(1) as f64;
        if shared / union < SIMILARITY {
            return Some(format!(
                "{} and {} share {} of {} columns",
                first_folder(first_file),
                first_folder(file),
                shared as usize,
                union as usize
            ));
        }
    }
    None
}

/// The table's shape from its files: columns by name in first-seen order, types widened; conflicts (types only a
/// string holds) are reported with the files involved.
fn merge(schemas: &[(String, FileSchema)]) -> (Shape, Vec<String>) {
    let (_, first) = &schemas[0];
    let mut columns: Vec<(String, Kind, String)> = Vec::new();
    let mut spellings = BTreeMap::new();
    let mut conflicts = Vec::new();
    let mut hidden_codec = false;
    for (file, schema) in schemas {
        hidden_codec |= !schema.codec_in_name;
        spellings.extend(schema.spellings.clone());
        for (name, kind) in &schema.columns {
            match columns.iter_mut().find(|(n, _, _)| n == name) {
                Some((_, existing, from)) => match existing.merge(kind) {
                    Some(k) => *existing = k,
                    None => {
                        // arrow's JSON decoder does not turn a JSON number or boolean into text, so such files
                        // fail to read (naming the file) until their values are quoted; say so now.
                        let caveat = if schema.format == Format::Json {
                            "; tarn reads JSON numbers and booleans in a string column as an error naming the file"
                        } else {
                            ""
                        };
                        conflicts.push(format!(
                            "column '{name}' is {} in {from} but {} in {file}; it is registered as string{caveat}",
                            existing.hive(),
                            kind.hive()
                        ));
                        *existing = Kind::String;
                    }
                },
                None => columns.push((name.clone(), kind.clone(), file.clone())),
            }
        }
    }
    let shape = Shape {
        format: first.format.clone(),
        codec: first.codec,
        hidden_codec,
        columns: columns.into_iter().map(|(n, k, _)| (n, k)).collect(),
        spellings,
    };
    (shape, conflicts)
}

fn summary(shape: &Shape) -> String {
    match &shape.format {
        Format::Csv {
            delimiter,
            header,
            quoted,
        } => {
            let mut text = String::from("csv");
            if shape.codec != crate::text_source::Codec::None {
                text.push(' ');
                text.push_str(shape.codec.name());
            }
            let delim = match delimiter {
                '\t' => "\\t".to_string(),
                '\u{1}' => "\\001".to_string(),
                c => c.to_string(),
            };
            text.push_str(&format!(" delim='{delim}'"));
            if *header {
                text.push_str(" header");
            }
            if *quoted {
                text.push_str(" quoted");
            }
            text
        }
        Format::Json => match shape.codec {
            crate::text_source::Codec::None => "json".into(),
            codec => format!("json {}", codec.name()),
        },
        Format::Parquet { compression } => format!("parquet {compression}"),
    }
}

/// A definition that reads files of the shapes `schemas` (file, schema) as one table at `location`, with the
/// conflicts merging them found (columns registered as string): how `tarn ingest` reads a batch.
pub(crate) fn files_table(location: &str, schemas: &[(String, FileSchema)]) -> Result<(Table, Vec<String>)> {
    if schemas.is_empty() {
        return Err(EngineError::internal("a table over no files"));
    }
    let (shape, conflicts) = merge(schemas);
    Ok((
        crawled_table(DEFAULT_DATABASE, "ingest_source", location, &shape)?,
        conflicts,
    ))
}

/// The catalog definition of a crawled table (without partitions).
fn crawled_table(database: &str, name: &str, location: &str, shape: &Shape) -> Result<Table> {
    let columns = shape
        .columns
        .iter()
        .map(|(n, k)| Column::new(n, k.hive()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let (format, serde) = match &shape.format {
        Format::Csv { delimiter, quoted, .. } => {
            let mut parameters = BTreeMap::new();
            let delim = delimiter.to_string();
            let library = if *quoted {
                parameters.insert(serde_params::SEPARATOR_CHAR.to_string(), delim);
                parameters.insert(serde_params::QUOTE_CHAR.to_string(), "\"".to_string());
                serde_lib::OPEN_CSV
            } else {
                parameters.insert(serde_params::FIELD_DELIM.to_string(), delim.clone());
                parameters.insert(serde_params::SERIALIZATION_FORMAT.to_string(), delim);
                serde_lib::LAZY_SIMPLE
            };
            (
                StorageFormat::Text,
                SerdeInfo {
                    library: library.to_string(),
                    parameters,
                },
            )
        }
        Format::Json => (
            StorageFormat::Json,
            SerdeInfo {
                library: serde_lib::OPENX_JSON.to_string(),
                parameters: BTreeMap::new(),
            },
        ),
        Format::Parquet { .. } => (
            StorageFormat::Parquet,
            SerdeInfo {
                library: serde_lib::PARQUET.to_string(),
                parameters: BTreeMap::from([(serde_params::SERIALIZATION_FORMAT.to_string(), "1".to_string())]),
            },
        ),
    };
    let mut table = Table::new_external(database, name, location, format, serde, columns)?;
    if format == StorageFormat::Json {
        crate::external_table::add_json_mappings(&mut table, &shape.spellings);
    }
    table
        .parameters
        .insert(params::CLASSIFICATION.into(), format.classification().into());
    table.parameters.insert("EXTERNAL".into(), "TRUE".into());
    table.parameters.insert(UPDATED_BY_CRAWLER.into(), "tarn".into());
    table.parameters.insert("typeOfData".into(), "file".into());
    match &shape.format {
        Format::Csv { header: true, .. } => {
            table.parameters.insert(params::SKIP_HEADER.into(), "1".into());
        }
        Format::Parquet { compression } => {
            table
                .parameters
                .insert(params::COMPRESSION_TYPE.into(), compression.clone());
        }
        _ => {}
    }
    if shape.hidden_codec {
        // Files compressed without a codec extension: tarn reads them with this codec (Athena would not).
        table
            .parameters
            .insert(params::COMPRESSION_TYPE.into(), shape.codec.name().into());
    }
    Ok(table)
}
/// What a re-crawl found that differs from what is registered and that it does not change: the format, the
/// delimiter, a column's type.
fn differences(existing: &Table, table: &Table, shape: &Shape) -> Vec<String> {
    let mut notes = Vec::new();
    if (existing.storage.format, &existing.storage.serde.library)
        != (table.storage.format, &table.storage.serde.library)
        || existing.storage.serde.parameters.get(serde_params::FIELD_DELIM)
            != table.storage.serde.parameters.get(serde_params::FIELD_DELIM)
    {
        notes.push(format!(
            "{}: the files now read as {}, but the table was registered differently; it was not changed (DROP TABLE \
             it and crawl again to re-register it)",
            existing.qualified_name(),
            summary(shape)
        ));
    }
    for column in &table.storage.columns {
        if let Some(old) = existing.storage.columns.iter().find(|c| c.name == column.name)
            && old.data_type != column.data_type
        {
            notes.push(format!(
                "{}: column '{}' is registered as {} and the sampled files now look like {}; it was kept as {}",
                existing.qualified_name(),
                column.name,
                old.data_type,
                column.data_type,
                old.data_type
            ));
        }
    }
    notes
}

/// `existing` with the columns of `table` it does not have yet (and their JSON key mappings), and those columns.
fn with_new_columns(existing: &Table, table: &Table) -> (Table, Vec<Column>) {
    let mut updated = existing.clone();
    let known: HashSet<String> = existing.all_columns().map(|c| c.name.clone()).collect();
    let new_columns: Vec<Column> = table
        .storage
        .columns
        .iter()
        .filter(|c| !known.contains(&c.name))
        .cloned()
        .collect();
    updated.storage.columns.extend(new_columns.iter().cloned());
    for (key, value) in &table.storage.serde.parameters {
        if key.starts_with(serde_params::MAPPING_PREFIX) {
            updated
                .storage
                .serde
                .parameters
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
    }
    if !new_columns.is_empty() && updated.storage.format == StorageFormat::Text {
        updated.parameters.insert(params::PAD_SHORT_ROWS.into(), "true".into());
    }
    (updated, new_columns)
}

/// The data files under `root` as a folder tree, the folders that hold Delta tables (theirs alone, so their files
/// are left out), and how many data files the tree has.
fn file_tree(root: &Location, objects: Vec<ObjectMeta>) -> (Node, BTreeSet<Vec<String>>, usize) {
    let mut delta_roots: BTreeSet<Vec<String>> = BTreeSet::new();
    for object in &objects {
        let parts = relative_parts(root, &object.location);
        if let Some(i) = parts.iter().position(|p| p == "_delta_log") {
            delta_roots.insert(parts[..i].to_vec());
        }
    }
    let mut tree = Node::default();
    let mut files = 0;
    for object in objects {
        if object.size == 0 || is_hidden(&root.prefix, &object.location) {
            continue;
        }
        let parts = relative_parts(root, &object.location);
        if delta_roots.iter().any(|d| parts.starts_with(d)) {
            continue;
        }
        files += 1;
        let mut node = &mut tree;
        for folder in &parts[..parts.len().saturating_sub(1)] {
            node = node.children.entry(folder.clone()).or_default();
        }
        node.files.push(object);
    }
    (tree, delta_roots, files)
}

/// The schemas of the sampled files that could be read; the others are noted in the report.
async fn sample_schemas(
    store: &Arc<dyn ObjectStore>,
    root: &Location,
    sample: &[ObjectMeta],
    report: &mut CrawlReport,
) -> Vec<(String, FileSchema)> {
    let sniffed = sniff_all(store, root, sample).await;
    report.sampled_files += sniffed.len();
    let mut schemas = Vec::new();
    for (file, outcome) in sniffed {
        match outcome {
            Ok(schema) => {
                report.sampled_bytes += schema.sampled_bytes;
                schemas.push((file, schema));
            }
            Err(why) => report.notes.push(format!("skipped {file}: {why}")),
        }
    }
    schemas
}
