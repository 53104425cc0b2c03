//! The metadata model. It follows the AWS Glue Data Catalog (Database, Table with a StorageDescriptor, SerDe info,
//! partition keys and parameters) so that an Athena user finds the same concepts, and so that the documents can be
//! translated to and from Glue's `GetTable` JSON without loss.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::CatalogError;

/// The database every session starts in. Like Glue's `default`, it always exists and cannot be dropped.
pub const DEFAULT_DATABASE: &str = "default";

/// Hive SerDe class names, as Athena writes them in `SHOW CREATE TABLE`.
pub mod serde_lib {
    pub const LAZY_SIMPLE: &str = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";
    pub const OPEN_CSV: &str = "org.apache.hadoop.hive.serde2.OpenCSVSerde";
    pub const HIVE_JSON: &str = "org.apache.hive.hcatalog.data.JsonSerDe";
    pub const OPENX_JSON: &str = "org.openx.data.jsonserde.JsonSerDe";
    pub const PARQUET: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
}

/// Table parameter names with a meaning to tarn (and to Athena).
pub mod params {
    /// Number of header lines to skip in each text file.
    pub const SKIP_HEADER: &str = "skip.header.line.count";
    /// Codec for text files whose name carries no compression extension (Glue crawlers write this key).
    pub const COMPRESSION_TYPE: &str = "compressionType";
    /// Glue's data classification (`csv`, `json`, `parquet`).
    pub const CLASSIFICATION: &str = "classification";
    /// `'true'`: text rows with fewer fields than columns read the missing ones as NULL (Hive's behaviour), instead
    /// of failing. ALTER TABLE ADD COLUMNS sets it on text tables, whose older files lack the new fields.
    pub const PAD_SHORT_ROWS: &str = "tarn.pad_short_rows";
}

/// SerDe parameter names.
pub mod serde_params {
    pub const FIELD_DELIM: &str = "field.delim";
    pub const SERIALIZATION_FORMAT: &str = "serialization.format";
    pub const ESCAPE_DELIM: &str = "escape.delim";
    pub const NULL_FORMAT: &str = "serialization.null.format";
    pub const SEPARATOR_CHAR: &str = "separatorChar";
    pub const QUOTE_CHAR: &str = "quoteChar";
    pub const ESCAPE_CHAR: &str = "escapeChar";
    /// OpenX JSON: `mapping.<column>` names the JSON key a column is read from.
    pub const MAPPING_PREFIX: &str = "mapping.";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_uri: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    pub create_time: DateTime<Utc>,
}

impl Database {
    pub fn new(name: &str) -> Result<Self, CatalogError> {
        Ok(Self {
            name: normalize_name("database", name)?,
            description: None,
            location_uri: None,
            parameters: BTreeMap::new(),
            create_time: Utc::now(),
        })
    }
}

/// The kinds of table tarn reads and writes differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// Files in a folder (Hive's layout, partitions in the catalog): Parquet, text, JSON.
    Hive,
    /// A Delta Lake table: its log says which files and columns it has.
    Delta,
    /// A stored query.
    View,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TableType {
    ExternalTable,
    VirtualView,
}

/// The physical format of a table's files. Text covers every delimited format (CSV, TSV, pipe, Ctrl-A); the SerDe
/// says how a line is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageFormat {
    Text,
    Json,
    Parquet,
    /// A Delta Lake table: Parquet files plus the `_delta_log/` that says which of them make up each version.
    Delta,
}

impl StorageFormat {
    /// Hadoop input/output format classes, as Glue stores them.
    pub fn hadoop_formats(self) -> (&'static str, &'static str) {
        match self {
            StorageFormat::Text | StorageFormat::Json => (
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            ),
            StorageFormat::Parquet | StorageFormat::Delta => (
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            ),
        }
    }

    pub fn classification(self) -> &'static str {
        match self {
            StorageFormat::Text => "csv",
            StorageFormat::Json => "json",
            StorageFormat::Parquet => "parquet",
            StorageFormat::Delta => "delta",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// Hive type name as Glue stores it: `bigint`, `string`, `decimal(10,2)`, `array<struct<a:int>>`.
    #[serde(rename = "type")]
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Column {
    pub fn new(name: &str, data_type: impl Into<String>) -> Result<Self, CatalogError> {
        Ok(Self {
            name: normalize_name("column", name)?,
            data_type: data_type.into(),
            comment: None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerdeInfo {
    pub library: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucketing {
    pub columns: Vec<String>,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageDescriptor {
    /// `s3://bucket/prefix/` or `file:///abs/path/`, always ending in `/`.
    pub location: String,
    pub columns: Vec<Column>,
    pub format: StorageFormat,
    pub input_format: String,
    pub output_format: String,
    pub serde: SerdeInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucketing: Option<Bucketing>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub database: String,
    pub name: String,
    pub table_type: TableType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub storage: StorageDescriptor,
    #[serde(default)]
    pub partition_keys: Vec<Column>,
    /// TBLPROPERTIES.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// Position in the table's version history; assigned by the store, 1 for a new table.
    #[serde(default)]
    pub version: u64,
    /// A view's query as the user wrote it (Glue's `ViewOriginalText`); `None` for tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_text: Option<String>,
}

impl Table {
    /// A new external table over `location`. Names are validated and lower-cased; columns keep their order.
    pub fn new_external(
        database: &str,
        name: &str,
        location: &str,
        format: StorageFormat,
        serde: SerdeInfo,
        columns: Vec<Column>,
    ) -> Result<Self, CatalogError> {
        let (input_format, output_format) = format.hadoop_formats();
        let now = Utc::now();
        let mut location = location.to_string();
        if !location.ends_with('/') {
            location.push('/');
        }
        Ok(Self {
            database: normalize_name("database", database)?,
            name: normalize_name("table", name)?,
            table_type: TableType::ExternalTable,
            description: None,
            storage: StorageDescriptor {
                location,
                columns,
                format,
                input_format: input_format.to_string(),
                output_format: output_format.to_string(),
                serde,
                bucketing: None,
            },
            partition_keys: Vec::new(),
            parameters: BTreeMap::new(),
            create_time: now,
            update_time: now,
            version: 0,
            view_text: None,
        })
    }

    /// A view: a stored query with the columns it returned when it was created (Glue's `VIRTUAL_VIEW`, with the
    /// empty storage descriptor and partition keys Athena expects).
    pub fn new_view(database: &str, name: &str, query: &str, columns: Vec<Column>) -> Result<Self, CatalogError> {
        let mut view = Self::new_external(
            database,
            name,
            "",
            StorageFormat::Text,
            SerdeInfo {
                library: String::new(),
                parameters: BTreeMap::new(),
            },
            columns,
        )?;
        view.storage.location = String::new();
        view.table_type = TableType::VirtualView;
        view.view_text = Some(query.to_string());
        view.description = Some("Presto View".into());
        view.parameters.insert("presto_view".into(), "true".into());
        Ok(view)
    }

    pub fn is_view(&self) -> bool {
        self.table_type == TableType::VirtualView
    }

    /// What the table is, for the statements that treat kinds differently (read, write, purge, describe).
    pub fn kind(&self) -> TableKind {
        match (self.is_view(), &self.storage.format) {
            (true, _) => TableKind::View,
            (false, StorageFormat::Delta) => TableKind::Delta,
            (false, _) => TableKind::Hive,
        }
    }

    /// `db.table`, for messages.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.database, self.name)
    }

    /// Data columns followed by partition keys: the column order a query sees.
    pub fn all_columns(&self) -> impl Iterator<Item = &Column> {
        self.storage.columns.iter().chain(self.partition_keys.iter())
    }

    /// Checks the invariants a reader relies on: unique column names, partition keys distinct from data columns.
    pub fn validate(&self) -> Result<(), CatalogError> {
        let mut seen = std::collections::BTreeSet::new();
        for column in self.all_columns() {
            if !seen.insert(column.name.as_str()) {
                let is_partition = self.partition_keys.iter().any(|p| p.name == column.name);
                let reason = if is_partition {
                    "a partition key repeats a data column; partition values live in folder names, not in files, \
                     so list the column only in PARTITIONED BY"
                } else {
                    "the column is declared twice"
                };
                return Err(CatalogError::InvalidDefinition {
                    table: self.qualified_name(),
                    reason: format!("duplicate column '{}': {reason}", column.name),
                });
            }
        }
        Ok(())
    }
}

/// Hive's partition value for NULL and the empty string, in folder names and in the catalog.
pub const HIVE_DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// One partition of a table, as Glue keeps it: its values in partition-key order and the folder that holds its
/// files. The folder need not be `<table>/k=v/`: `ALTER TABLE ... ADD PARTITION ... LOCATION` maps any folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// Values as text; [`HIVE_DEFAULT_PARTITION`] stands for NULL.
    pub values: Vec<String>,
    /// URL of the partition's folder, ending in `/`.
    pub location: String,
    pub create_time: DateTime<Utc>,
}

impl Partition {
    pub fn new(values: Vec<String>, location: &str) -> Self {
        let mut location = location.to_string();
        if !location.ends_with('/') {
            location.push('/');
        }
        Self {
            values,
            location,
            create_time: Utc::now(),
        }
    }

    /// `k1=v1/k2=v2`, the form `SHOW PARTITIONS` prints (values unescaped, as Athena shows them).
    pub fn spec(&self, keys: &[Column]) -> String {
        keys.iter()
            .zip(&self.values)
            .map(|(k, v)| format!("{}={v}", k.name))
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Lower-cases and validates a database, table or column name.
///
/// Athena lower-cases every name; Glue allows letters, digits and `_`, and Athena accepts `-` in quoted database
/// names (`"sf-digital-transformation"`). Names become path segments of the catalog, so anything that could escape a
/// folder (`/`, `.`, control characters) is refused.
pub fn normalize_name(kind: &'static str, name: &str) -> Result<String, CatalogError> {
    let lower = name.to_lowercase();
    let invalid = |reason: &str| CatalogError::InvalidName {
        kind,
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if lower.is_empty() {
        return Err(invalid("it is empty"));
    }
    if lower.len() > 255 {
        return Err(invalid("it is longer than 255 characters"));
    }
    if let Some(bad) = lower
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(invalid(&format!(
            "'{bad}' is not allowed; use letters, digits, '_' or '-'"
        )));
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_cased_and_checked() {
        assert_eq!(
            normalize_name("database", "SF-Digital_2020").ok(),
            Some("sf-digital_2020".to_string())
        );
        for bad in ["", "a/b", "..", "a.b", "tab\tle", "é"] {
            let err = normalize_name("table", bad).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains("invalid table name")),
                "{bad:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn partition_key_repeating_a_column_is_refused() -> Result<(), CatalogError> {
        let serde = SerdeInfo {
            library: serde_lib::PARQUET.into(),
            parameters: BTreeMap::new(),
        };
        let mut table = Table::new_external(
            "db",
            "t",
            "file:///x",
            StorageFormat::Parquet,
            serde,
            vec![Column::new("state", "string")?],
        )?;
        assert_eq!(table.storage.location, "file:///x/");
        table.partition_keys = vec![Column::new("State", "string")?];
        let err = table.validate().err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("duplicate column 'state'") && e.contains("PARTITIONED BY")),
            "{err:?}"
        );
        Ok(())
    }
}
