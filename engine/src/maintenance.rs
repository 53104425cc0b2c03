//! Catalog maintenance: a table's registered partitions (MSCK REPAIR, ADD/DROP PARTITION, SHOW PARTITIONS), ALTER
//! TABLE, and the statements that show a table's metadata (DESCRIBE FORMATTED, SHOW COLUMNS, SHOW TBLPROPERTIES,
//! SHOW TABLE VERSIONS).
//!
//! Partitions follow Glue's model: a partitioned table reads the partitions registered in the catalog, so a query
//! on one partition lists that partition's folder and nothing else. CREATE EXTERNAL TABLE, CTAS and INSERT register
//! the partitions they find or write; folders that appear later are registered by MSCK REPAIR TABLE, ADD PARTITION
//! or a crawl, as in Athena.

use std::collections::{BTreeMap, HashSet};

use datafusion::arrow::datatypes::Field;
use datafusion::common::ScalarValue;
use object_store::path::Path;
use tarn_catalog::{CatalogError, Column, HIVE_DEFAULT_PARTITION, Partition, Table, TableKind};

use crate::context::Ctx;
use crate::error::{EngineError, Part, Result};
use crate::listing::{find_partition_folders, parse_partition_segment, typed_partition_value};
use crate::parse::{PartitionSpec, QualifiedName};
use crate::storage::Location;
use crate::table::table_fields;
use crate::write::hive_path::partition_segment;

/// Attempts at a partition change when other processes keep committing theirs first.
pub(crate) const MAX_ATTEMPTS: usize = 8;

/// What a folder walk found: partitions to register, and folders refused with the reason.
pub(crate) struct Discovered {
    pub partitions: Vec<Partition>,
    pub refused: Vec<String>,
}

impl Ctx {
    /// A partitioned table over files, for the partition statements.
    pub(crate) async fn partitioned_table(&self, name: &QualifiedName, statement: &str) -> Result<Table> {
        let table = self.table(name).await?;
        if table.is_view() {
            return Err(EngineError::invalid(
                Part::ObjectKind,
                format!("{} is a view; {statement} works on tables", table.qualified_name()),
            ));
        }
        if table.kind() == TableKind::Delta {
            return Err(EngineError::unsupported(
                format!("{statement} on Delta table {}", table.qualified_name()),
                "a Delta table's partitions are recorded in its log with each commit; there is nothing to register",
            ));
        }
        if table.partition_keys.is_empty() {
            return Err(EngineError::invalid(
                Part::ObjectKind,
                format!(
                    "table {} is not partitioned; {statement} needs a table created with PARTITIONED BY",
                    table.qualified_name()
                ),
            ));
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

    /// A table for DESCRIBE-like statements: Delta tables with their columns refreshed from the log.
    pub(crate) async fn described_table(&self, name: &QualifiedName) -> Result<Table> {
        let def = self.table(name).await?;
        if def.kind() == TableKind::Delta {
            let location = Location::parse(&def.storage.location)?;
            let delta = self.open_delta(&location, crate::delta::AsOf::Latest).await?;
            Box::pin(self.delta_shape(&def, &delta)).await
        } else {
            Ok(def)
        }
    }
}

/// The folders partitions have when no LOCATION is given: `<table>/k1=v1/k2=v2/`.
pub(crate) struct DefaultLocations {
    root: String,
    keys: Vec<String>,
}

impl DefaultLocations {
    pub(crate) fn location(&self, values: &[String]) -> String {
        let mut url = self.root.clone();
        for (key, value) in self.keys.iter().zip(values) {
            let value = (value != HIVE_DEFAULT_PARTITION && !value.is_empty()).then_some(value.as_str());
            url.push_str(&partition_segment(key, value));
            url.push('/');
        }
        url
    }

    pub(crate) fn is_default(&self, partition: &Partition) -> bool {
        partition.location == self.location(&partition.values)
    }
}

pub(crate) fn default_locations(table: &Table) -> Result<DefaultLocations> {
    Ok(DefaultLocations {
        root: Location::parse(&table.storage.location)?.url,
        keys: table.partition_keys.iter().map(|k| k.name.clone()).collect(),
    })
}

/// The values of a `PARTITION (...)` spec in partition-key order, checked against the keys and their types.
pub(crate) fn spec_values(table: &Table, fields: &[Field], spec: &PartitionSpec) -> Result<Vec<String>> {
    let keys: Vec<&str> = table.partition_keys.iter().map(|k| k.name.as_str()).collect();
    if let Some((unknown, _)) = spec.iter().find(|(k, _)| !keys.contains(&k.as_str())) {
        return Err(EngineError::invalid(
            Part::Column,
            format!(
                "{} has no partition key '{unknown}'; its partition keys are {}",
                table.qualified_name(),
                keys.join(", ")
            ),
        ));
    }
    keys.iter()
        .zip(fields)
        .map(|(key, field)| {
            let given: Vec<&String> = spec.iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect();
            let [value] = given.as_slice() else {
                return Err(EngineError::invalid(
                    Part::Column,
                    format!(
                        "PARTITION (...) must give each partition key of {} once ({}); '{key}' is given {} times",
                        table.qualified_name(),
                        keys.join(", "),
                        given.len()
                    ),
                ));
            };
            let valid = ScalarValue::Utf8(Some((*value).clone()))
                .cast_to(field.data_type())
                .is_ok_and(|v| !v.is_null());
            if !valid && value.as_str() != HIVE_DEFAULT_PARTITION {
                return Err(EngineError::invalid(
                    Part::Column,
                    format!(
                        "partition value '{value}' is not a valid {} for partition key '{key}'",
                        table
                            .partition_keys
                            .iter()
                            .find(|k| k.name == *key)
                            .map(|k| k.data_type.as_str())
                            .unwrap_or_default()
                    ),
                ));
            }
            Ok((*value).clone())
        })
        .collect()
}

pub(crate) fn spec_text(keys: &[Column], values: &[String]) -> String {
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
