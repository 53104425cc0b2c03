//! Catalog maintenance: a table's registered partitions (MSCK REPAIR, ADD/DROP PARTITION, SHOW PARTITIONS), ALTER
//! TABLE, and the statements that show a table's metadata (DESCRIBE FORMATTED, SHOW COLUMNS, SHOW TBLPROPERTIES,
//! SHOW TABLE VERSIONS).
//!
//! Partitions follow Glue's model: a partitioned table reads the partitions registered in the catalog, so a query
//! on one partition lists that partition's folder and nothing else. CREATE EXTERNAL TABLE, CTAS and INSERT register
//! the partitions they find or write; folders that appear later are registered by MSCK REPAIR TABLE, ADD PARTITION
//! or a crawl, as in Athena.

use std::collections::{BTreeMap, HashSet};

use object_store::path::Path;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::Field;
use datafusion::common::ScalarValue;
use tarn_catalog::{CatalogError, Column, HIVE_DEFAULT_PARTITION, Partition, StorageFormat, Table, params};

use crate::error::{EngineError, Result};
use crate::listing::{find_partition_folders, parse_partition_segment, typed_partition_value};
use crate::meter::{counted, first_few};
use crate::result::QueryResult;
use crate::session::{Session, describe_listing, describe_rows, string_batch, string_schema};
use crate::sql::{ColumnSpec, PartitionSpec, QualifiedName};
use crate::storage::Location;
use crate::table::{TarnTable, table_fields};
use crate::write::hive_path::partition_segment;

/// Attempts at a partition change when other processes keep committing theirs first.
const MAX_ATTEMPTS: usize = 8;

/// What a folder walk found: partitions to register, and folders refused with the reason.
pub(crate) struct Discovered {
    pub partitions: Vec<Partition>,
    pub refused: Vec<String>,
}

impl Session {
    /// A partitioned table over files, for the partition statements.
    async fn partitioned_table(&self, name: &QualifiedName, statement: &str) -> Result<Table> {
        let table = self.table(name).await?;
        if table.is_view() {
            return Err(EngineError::InvalidDdl(format!(
                "{} is a view; {statement} works on tables",
                table.qualified_name()
            )));
        }
        if crate::delta::is_delta(&table) {
            return Err(EngineError::unsupported(
                format!("{statement} on Delta table {}", table.qualified_name()),
                "a Delta table's partitions are recorded in its log with each commit; there is nothing to register",
            ));
        }
        if table.partition_keys.is_empty() {
            return Err(EngineError::InvalidDdl(format!(
                "table {} is not partitioned; {statement} needs a table created with PARTITIONED BY",
                table.qualified_name()
            )));
        }
        Ok(table)
    }

    /// The Hive `key=value` folders under a table's location, as catalog partitions. Folders whose value is not
    /// valid for its key's type are refused (and named), not registered.
    pub(crate) async fn discover_partitions(&self, table: &Table) -> Result<Discovered> {
        let location = Location::parse(&table.storage.location)?;
        let store = self.registry.store_for(&location)?;
        let (_, fields) = table_fields(table)?;
        let folders = find_partition_folders(&store, &location, &fields, &[]).await?;
        let mut discovered = Discovered {
            partitions: Vec::with_capacity(folders.len()),
            refused: Vec::new(),
        };
        for folder in folders {
            let typed = folder.texts.iter().zip(&fields).try_for_each(|(text, field)| {
                typed_partition_value(text.clone(), field, &location, &folder.path).map(|_| ())
            });
            match typed {
                Ok(()) => {
                    let values = folder
                        .texts
                        .into_iter()
                        .map(|t| t.unwrap_or_else(|| HIVE_DEFAULT_PARTITION.to_string()))
                        .collect();
                    discovered
                        .partitions
                        .push(Partition::new(values, &location.folder_url(&folder.path)));
                }
                Err(e) => discovered.refused.push(e.to_string()),
            }
        }
        Ok(discovered)
    }

    /// Applies `change` to the registered partitions and commits the result, redoing the change on a fresh read when
    /// another process committed first. `change` returns whether it changed anything (nothing is written if not)
    /// and its report. A table whose partitions were never registered starts from its folders when
    /// `seed_from_folders`, so registering one partition does not hide the others.
    pub(crate) async fn change_partitions<T>(
        &self,
        table: &Table,
        operation: &str,
        seed_from_folders: bool,
        mut change: impl FnMut(&mut Vec<Partition>) -> Result<(bool, T)>,
    ) -> Result<T> {
        for _ in 0..MAX_ATTEMPTS {
            let set = self.catalog.partitions(table).await?;
            let registered = set.partitions.is_some();
            let mut partitions = match set.partitions {
                Some(p) => p,
                None if seed_from_folders => self.discover_partitions(table).await?.partitions,
                None => Vec::new(),
            };
            let (changed, report) = change(&mut partitions)?;
            // A seeded list is written even when the change itself is a no-op: from then on the catalog, not the
            // folders, says which partitions the table has.
            if !changed && registered {
                return Ok(report);
            }
            match self
                .catalog
                .put_partitions(table, set.version, partitions, operation)
                .await
            {
                Ok(()) => return Ok(report),
                Err(CatalogError::ConcurrentModification { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CatalogError::Contended {
            what: format!("the partitions of {}", table.qualified_name()),
        }
        .into())
    }

    /// Registers the partitions a write produced (`k=v/k2=v2` folders under the table's location); returns how many
    /// were new.
    pub(crate) async fn register_written_partitions(
        &self,
        table: &Table,
        written: &BTreeMap<String, Path>,
    ) -> Result<usize> {
        if written.is_empty() || table.partition_keys.is_empty() {
            return Ok(0);
        }
        let location = Location::parse(&table.storage.location)?;
        let new: Vec<Partition> = written
            .iter()
            .map(|(spec, folder)| {
                let values = spec
                    .split('/')
                    .map(|segment| {
                        parse_partition_segment(segment)
                            .and_then(|(_, v)| v)
                            .unwrap_or_else(|| HIVE_DEFAULT_PARTITION.to_string())
                    })
                    .collect();
                Partition::new(values, &location.folder_url(folder))
            })
            .collect();
        self.change_partitions(table, "WRITE", true, |current| {
            let known: HashSet<Vec<String>> = current.iter().map(|p| p.values.clone()).collect();
            let added: Vec<Partition> = new.iter().filter(|p| !known.contains(&p.values)).cloned().collect();
            let count = added.len();
            current.extend(added);
            Ok((count > 0, count))
        })
        .await
    }

    /// `MSCK REPAIR TABLE t`: registers the `key=value` folders that are not registered yet. Like Athena, it never
    /// removes a partition; it names registered partitions whose folder is gone.
    pub(crate) async fn repair_table(&self, name: &QualifiedName, started: Instant) -> Result<QueryResult> {
        let table = self.partitioned_table(name, "MSCK REPAIR TABLE").await?;
        let discovered = self.discover_partitions(&table).await?;
        let defaults = default_locations(&table)?;
        let (added, total, missing) = self
            .change_partitions(&table, "MSCK REPAIR TABLE", false, |current| {
                let known: HashSet<Vec<String>> = current.iter().map(|p| p.values.clone()).collect();
                let added: Vec<Partition> = discovered
                    .partitions
                    .iter()
                    .filter(|p| !known.contains(&p.values))
                    .cloned()
                    .collect();
                let found: HashSet<&Vec<String>> = discovered.partitions.iter().map(|p| &p.values).collect();
                let missing: Vec<String> = current
                    .iter()
                    .filter(|p| !found.contains(&p.values) && defaults.is_default(p))
                    .map(|p| p.spec(&table.partition_keys))
                    .collect();
                let specs: Vec<String> = added.iter().map(|p| p.spec(&table.partition_keys)).collect();
                current.extend(added);
                Ok((!specs.is_empty(), (specs, current.len(), missing)))
            })
            .await?;
        let message = if added.is_empty() {
            format!("{}: no new partitions; {total} registered", table.qualified_name())
        } else {
            format!(
                "{}: added {} ({}); {total} registered",
                table.qualified_name(),
                counted(added.len(), "partition"),
                first_few(&added)
            )
        };
        let mut notices = Vec::new();
        if !discovered.refused.is_empty() {
            notices.push(format!(
                "{} not registered: {}",
                counted(discovered.refused.len(), "folder"),
                first_few(&discovered.refused)
            ));
        }
        if !missing.is_empty() {
            notices.push(format!(
                "Partitions missing from filesystem: {} (ALTER TABLE {} DROP PARTITION (...) removes them)",
                first_few(&missing),
                table.qualified_name()
            ));
        }
        Ok(QueryResult::command(message, started, Arc::clone(&self.totals)).with_notices(notices))
    }

    /// `ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (...) [LOCATION '...'] ...`: all or nothing.
    pub(crate) async fn add_partitions(
        &self,
        name: &QualifiedName,
        if_not_exists: bool,
        specs: Vec<(PartitionSpec, Option<String>)>,
        started: Instant,
    ) -> Result<QueryResult> {
        let table = self.partitioned_table(name, "ALTER TABLE ADD PARTITION").await?;
        let table_location = Location::parse(&table.storage.location)?;
        let (_, fields) = table_fields(&table)?;
        let defaults = default_locations(&table)?;
        let mut new: Vec<Partition> = Vec::new();
        for (spec, location) in specs {
            let values = spec_values(&table, &fields, &spec)?;
            let location = match location {
                None => defaults.location(&values),
                Some(text) => {
                    table_location.folder_path(&text)?;
                    Location::parse(&text)?.url
                }
            };
            if new.iter().any(|p| p.values == values) {
                return Err(EngineError::InvalidDdl(format!(
                    "PARTITION ({}) is given twice",
                    spec_text(&table.partition_keys, &values)
                )));
            }
            new.push(Partition::new(values, &location));
        }
        // Check that the partitions can be read before registering them.
        TarnTable::try_new(table.clone())?.with_partitions(Some(new.clone()))?;
        let (added, existing) = self
            .change_partitions(&table, "ADD PARTITION", true, |current| {
                let known: HashSet<Vec<String>> = current.iter().map(|p| p.values.clone()).collect();
                let (existing, added): (Vec<&Partition>, Vec<&Partition>) =
                    new.iter().partition(|p| known.contains(&p.values));
                if let Some(first) = existing.first()
                    && !if_not_exists
                {
                    return Err(EngineError::InvalidDdl(format!(
                        "Partition already exists: {} in {}; nothing was added (ADD IF NOT EXISTS skips existing \
                         partitions)",
                        first.spec(&table.partition_keys),
                        table.qualified_name()
                    )));
                }
                let report = (
                    added.iter().map(|p| p.spec(&table.partition_keys)).collect::<Vec<_>>(),
                    existing.len(),
                );
                current.extend(added.into_iter().cloned());
                Ok((!report.0.is_empty(), report))
            })
            .await?;
        let mut message = if added.is_empty() {
            format!("{}: nothing added", table.qualified_name())
        } else {
            format!(
                "{}: added {} ({})",
                table.qualified_name(),
                counted(added.len(), "partition"),
                first_few(&added)
            )
        };
        if existing > 0 {
            message.push_str(&format!("; {} already existed", counted(existing, "partition")));
        }
        Ok(QueryResult::command(message, started, Arc::clone(&self.totals)))
    }

    /// `ALTER TABLE t DROP [IF EXISTS] PARTITION (...), ...`: removes catalog entries; files stay.
    pub(crate) async fn drop_partitions(
        &self,
        name: &QualifiedName,
        if_exists: bool,
        specs: Vec<PartitionSpec>,
        started: Instant,
    ) -> Result<QueryResult> {
        let table = self.partitioned_table(name, "ALTER TABLE DROP PARTITION").await?;
        let (_, fields) = table_fields(&table)?;
        let targets: Vec<Vec<String>> = specs
            .iter()
            .map(|spec| spec_values(&table, &fields, spec))
            .collect::<Result<_>>()?;
        let dropped = self
            .change_partitions(&table, "DROP PARTITION", true, |current| {
                let mut dropped = Vec::new();
                for values in &targets {
                    match current.iter().position(|p| &p.values == values) {
                        Some(i) => dropped.push(current.remove(i).spec(&table.partition_keys)),
                        None if if_exists => {}
                        None => {
                            return Err(EngineError::InvalidDdl(format!(
                                "partition ({}) is not registered in {}; nothing was dropped (SHOW PARTITIONS {} \
                                 lists them; DROP IF EXISTS skips missing ones)",
                                spec_text(&table.partition_keys, values),
                                table.qualified_name(),
                                table.qualified_name()
                            )));
                        }
                    }
                }
                Ok((!dropped.is_empty(), dropped))
            })
            .await?;
        let message = if dropped.is_empty() {
            format!("{}: nothing dropped", table.qualified_name())
        } else {
            format!(
                "{}: dropped {} ({}); their files were not touched",
                table.qualified_name(),
                counted(dropped.len(), "partition"),
                first_few(&dropped)
            )
        };
        Ok(QueryResult::command(message, started, Arc::clone(&self.totals)))
    }

    /// `SHOW PARTITIONS t`: the registered partitions as `k1=v1/k2=v2`, sorted.
    pub(crate) async fn show_partitions(&self, name: &QualifiedName, started: Instant) -> Result<QueryResult> {
        let table = self.partitioned_table(name, "SHOW PARTITIONS").await?;
        let partitions = match self.catalog.partitions(&table).await?.partitions {
            Some(p) => p,
            None => self.discover_partitions(&table).await?.partitions,
        };
        let mut specs: Vec<String> = partitions.iter().map(|p| p.spec(&table.partition_keys)).collect();
        specs.sort();
        Ok(QueryResult::listing(
            string_schema(&["partition"]),
            string_batch(&["partition"], vec![specs])?,
            started,
            Arc::clone(&self.totals),
        ))
    }

    /// `ALTER TABLE t SET TBLPROPERTIES (...)`: a new table version; the previous one stays in the history.
    pub(crate) async fn set_table_properties(
        &self,
        name: &QualifiedName,
        properties: Vec<(String, String)>,
        started: Instant,
    ) -> Result<QueryResult> {
        let mut table = self.table(name).await?;
        if table.is_view() {
            return Err(EngineError::InvalidDdl(format!(
                "{} is a view; views have no table properties",
                table.qualified_name()
            )));
        }
        let keys: Vec<String> = properties.iter().map(|(k, _)| k.clone()).collect();
        for (key, value) in properties {
            table.parameters.insert(key, value);
        }
        // A property tarn reads (a delimiter, compression, header lines) must still make a readable table.
        if !crate::delta::is_delta(&table) {
            TarnTable::try_new(table.clone())?;
        }
        let updated = self.catalog.update_table(table, "SET TBLPROPERTIES").await?;
        Ok(QueryResult::command(
            format!(
                "{}: set {} (table version {})",
                updated.qualified_name(),
                keys.join(", "),
                updated.version
            ),
            started,
            Arc::clone(&self.totals),
        ))
    }

    /// `ALTER TABLE t ADD COLUMNS (...)`: new data columns at the end (files without them read NULL).
    pub(crate) async fn add_columns(
        &self,
        name: &QualifiedName,
        columns: Vec<ColumnSpec>,
        started: Instant,
    ) -> Result<QueryResult> {
        let mut table = self.table(name).await?;
        if table.is_view() || crate::delta::is_delta(&table) {
            return Err(EngineError::unsupported(
                format!("ALTER TABLE ADD COLUMNS on {}", table.qualified_name()),
                if table.is_view() {
                    "it is a view; CREATE OR REPLACE VIEW changes its columns"
                } else {
                    "a Delta table's columns come from its log"
                },
            ));
        }
        let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        for spec in columns {
            let mut column = Column::new(&spec.name, spec.data_type.to_lowercase())?;
            column.comment = spec.comment;
            crate::types::hive_to_arrow(&column.data_type)
                .map_err(|e| EngineError::InvalidDdl(format!("column '{}': {e}", column.name)))?;
            table.storage.columns.push(column);
        }
        if table.storage.format == StorageFormat::Text {
            table.parameters.insert(params::PAD_SHORT_ROWS.into(), "true".into());
        }
        table.validate()?;
        TarnTable::try_new(table.clone())?;
        let updated = self.catalog.update_table(table, "ADD COLUMNS").await?;
        Ok(QueryResult::command(
            format!(
                "{}: added {} ({}) (table version {})",
                updated.qualified_name(),
                counted(names.len(), "column"),
                names.join(", "),
                updated.version
            ),
            started,
            Arc::clone(&self.totals),
        ))
    }

    /// `SHOW COLUMNS`: data columns, then partition keys, names only (as Athena).
    pub(crate) async fn show_columns(&self, name: &QualifiedName, started: Instant) -> Result<QueryResult> {
        let table = self.described_table(name).await?;
        let names: Vec<String> = table.all_columns().map(|c| c.name.clone()).collect();
        Ok(QueryResult::listing(
            string_schema(&["field"]),
            string_batch(&["field"], vec![names])?,
            started,
            Arc::clone(&self.totals),
        ))
    }

    /// `SHOW TBLPROPERTIES t [('name')]`.
    pub(crate) async fn show_table_properties(
        &self,
        name: &QualifiedName,
        property: Option<String>,
        started: Instant,
    ) -> Result<QueryResult> {
        let table = self.table(name).await?;
        let rows: Vec<(String, String)> = match property {
            Some(key) => match table.parameters.get(&key) {
                Some(value) => vec![(key, value.clone())],
                None => {
                    return Err(EngineError::InvalidDdl(format!(
                        "table {} has no property '{key}' (SHOW TBLPROPERTIES {} lists them)",
                        table.qualified_name(),
                        table.qualified_name()
                    )));
                }
            },
            None => table.parameters.into_iter().collect(),
        };
        let (keys, values) = rows.into_iter().unzip();
        Ok(QueryResult::listing(
            string_schema(&["prpt_name", "prpt_value"]),
            string_batch(&["prpt_name", "prpt_value"], vec![keys, values])?,
            started,
            Arc::clone(&self.totals),
        ))
    }

    /// `SHOW TABLE VERSIONS t`: every definition the catalog kept, newest first (Glue's `GetTableVersions`).
    pub(crate) async fn show_table_versions(&self, name: &QualifiedName, started: Instant) -> Result<QueryResult> {
        let db = name.database.clone().unwrap_or_else(|| self.database.clone());
        let mut history = self.catalog.table_history(&db, &name.name).await?;
        if history.is_empty() {
            return Err(self.table_not_found(&db, &name.name).await);
        }
        history.reverse();
        let names = [
            "version",
            "operation",
            "committed_at",
            "columns",
            "partition_keys",
            "location",
        ];
        let mut columns: Vec<Vec<String>> = vec![Vec::new(); names.len()];
        for v in history {
            let (cols, keys, location) = match &v.table {
                Some(t) => (
                    column_signature(&t.storage.columns),
                    column_signature(&t.partition_keys),
                    t.storage.location.clone(),
                ),
                None => Default::default(),
            };
            let row = [
                v.version.to_string(),
                v.operation,
                v.committed_at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
                cols,
                keys,
                location,
            ];
            for (column, value) in columns.iter_mut().zip(row) {
                column.push(value);
            }
        }
        Ok(QueryResult::listing(
            string_schema(&names),
            string_batch(&names, columns)?,
            started,
            Arc::clone(&self.totals),
        ))
    }

    /// `DESCRIBE FORMATTED t`: the columns, then the detailed table information block Hive prints.
    pub(crate) async fn describe_formatted(&self, name: &QualifiedName, started: Instant) -> Result<QueryResult> {
        let table = self.described_table(name).await?;
        let mut rows: Vec<[String; 3]> = vec![["# col_name".into(), "data_type".into(), "comment".into()]];
        rows.extend(describe_rows(&table));
        let field = |k: &str, v: String| [format!("{k}:"), v, String::new()];
        rows.push(Default::default());
        rows.push(["# Detailed Table Information".into(), String::new(), String::new()]);
        rows.push(field("Database", table.database.clone()));
        rows.push(field("Table", table.name.clone()));
        rows.push(field("CreateTime", table.create_time.to_rfc2822()));
        rows.push(field("LastUpdateTime", table.update_time.to_rfc2822()));
        rows.push(field("Version", table.version.to_string()));
        rows.push(field("Location", table.storage.location.clone()));
        rows.push(field(
            "Table Type",
            if table.is_view() {
                "VIRTUAL_VIEW"
            } else {
                "EXTERNAL_TABLE"
            }
            .into(),
        ));
        if let Some(text) = &table.view_text {
            rows.push(field("View Original Text", text.clone()));
        }
        if !table.is_view() && !crate::delta::is_delta(&table) {
            let partitions = self.catalog.partitions(&table).await?.partitions;
            if !table.partition_keys.is_empty() {
                rows.push(field(
                    "Partitions",
                    partitions
                        .map(|p| p.len().to_string())
                        .unwrap_or_else(|| "not registered (read from folders)".into()),
                ));
            }
        }
        rows.push(["Table Parameters:".into(), String::new(), String::new()]);
        rows.extend(
            table
                .parameters
                .iter()
                .map(|(k, v)| [String::new(), k.clone(), v.clone()]),
        );
        if !table.is_view() {
            rows.push(Default::default());
            rows.push(["# Storage Information".into(), String::new(), String::new()]);
            rows.push(field("SerDe Library", table.storage.serde.library.clone()));
            rows.push(field("InputFormat", table.storage.input_format.clone()));
            rows.push(field("OutputFormat", table.storage.output_format.clone()));
            let (buckets, bucket_columns) = match &table.storage.bucketing {
                Some(b) => (b.count.to_string(), format!("[{}]", b.columns.join(", "))),
                None => ("-1".into(), "[]".into()),
            };
            rows.push(field("Num Buckets", buckets));
            rows.push(field("Bucket Columns", bucket_columns));
            rows.push(["Storage Desc Params:".into(), String::new(), String::new()]);
            rows.extend(
                table
                    .storage
                    .serde
                    .parameters
                    .iter()
                    .map(|(k, v)| [String::new(), k.clone(), v.clone()]),
            );
        }
        let (schema, batches) = describe_listing(rows)?;
        Ok(QueryResult::listing(schema, batches, started, Arc::clone(&self.totals)))
    }

    /// A table for DESCRIBE-like statements: Delta tables with their columns refreshed from the log.
    pub(crate) async fn described_table(&self, name: &QualifiedName) -> Result<Table> {
        let def = self.table(name).await?;
        if crate::delta::is_delta(&def) {
            let location = Location::parse(&def.storage.location)?;
            let delta = self.open_delta(&location, crate::delta::AsOf::Latest).await?;
            Box::pin(self.delta_shape(&def, &delta)).await
        } else {
            Ok(def)
        }
    }
}

/// The folders partitions have when no LOCATION is given: `<table>/k1=v1/k2=v2/`.
struct DefaultLocations {
    root: String,
    keys: Vec<String>,
}

impl DefaultLocations {
    fn location(&self, values: &[String]) -> String {
        let mut url = self.root.clone();
        for (key, value) in self.keys.iter().zip(values) {
            let value = (value != HIVE_DEFAULT_PARTITION && !value.is_empty()).then_some(value.as_str());
            url.push_str(&partition_segment(key, value));
            url.push('/');
        }
        url
    }

    fn is_default(&self, partition: &Partition) -> bool {
        partition.location == self.location(&partition.values)
    }
}

fn default_locations(table: &Table) -> Result<DefaultLocations> {
    Ok(DefaultLocations {
        root: Location::parse(&table.storage.location)?.url,
        keys: table.partition_keys.iter().map(|k| k.name.clone()).collect(),
    })
}

/// The values of a `PARTITION (...)` spec in partition-key order, checked against the keys and their types.
fn spec_values(table: &Table, fields: &[Field], spec: &PartitionSpec) -> Result<Vec<String>> {
    let keys: Vec<&str> = table.partition_keys.iter().map(|k| k.name.as_str()).collect();
    if let Some((unknown, _)) = spec.iter().find(|(k, _)| !keys.contains(&k.as_str())) {
        return Err(EngineError::InvalidDdl(format!(
            "{} has no partition key '{unknown}'; its partition keys are {}",
            table.qualified_name(),
            keys.join(", ")
        )));
    }
    keys.iter()
        .zip(fields)
        .map(|(key, field)| {
            let given: Vec<&String> = spec.iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect();
            let [value] = given.as_slice() else {
                return Err(EngineError::InvalidDdl(format!(
                    "PARTITION (...) must give each partition key of {} once ({}); '{key}' is given {} times",
                    table.qualified_name(),
                    keys.join(", "),
                    given.len()
                )));
            };
            let valid = ScalarValue::Utf8(Some((*value).clone()))
                .cast_to(field.data_type())
                .is_ok_and(|v| !v.is_null());
            if !valid && value.as_str() != HIVE_DEFAULT_PARTITION {
                return Err(EngineError::InvalidDdl(format!(
                    "partition value '{value}' is not a valid {} for partition key '{key}'",
                    table
                        .partition_keys
                        .iter()
                        .find(|k| k.name == *key)
                        .map(|k| k.data_type.as_str())
                        .unwrap_or_default()
                )));
            }
            Ok((*value).clone())
        })
        .collect()
}

fn spec_text(keys: &[Column], values: &[String]) -> String {
    keys.iter()
        .zip(values)
        .map(|(k, v)| format!("{}='{v}'", k.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `id bigint, name string`: a column list as messages and SHOW TABLE VERSIONS show it.
pub(crate) fn column_signature(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.data_type))
        .collect::<Vec<_>>()
        .join(", ")
}
