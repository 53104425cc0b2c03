//! `CREATE EXTERNAL TABLE` in both forms (Athena's Hive DDL and DataFusion's `STORED AS ... OPTIONS`), translated
//! into one catalog table: storage format and SerDe, columns with Hive types, partition keys, bucketing, properties.

use std::sync::Arc;

use tarn_catalog::{Bucketing, CatalogError, Column, SerdeInfo, StorageFormat, Table, params, serde_lib, serde_params};

use crate::context::Ctx;
use crate::error::{EngineError, Part, Result};
use crate::infer::infer_columns;
use crate::listing::list_files;
use crate::parse::{CreateExternalTable, RowFormat, StoredAs};
use crate::result::Outcome;
use crate::storage::Location;
use crate::table::{TarnTable, decode_delimiter};
use crate::text_source::Codec;
use crate::types::{arrow_to_hive, hive_to_arrow};

impl Ctx {
    /// Translates Athena's DDL into a catalog table. Returns (table, if_not_exists, discover partitions).
    pub(crate) fn athena_table(&self, create: CreateExternalTable) -> Result<(Table, bool, bool)> {
        let location = create.location.clone().ok_or_else(|| {
            EngineError::invalid(
                Part::Clause,
                "LOCATION is missing: give the folder that holds the table's files (s3://bucket/prefix/ or a local \
                 path)",
            )
        })?;
        let location = Location::parse(&location)?;
        let serde_props: std::collections::BTreeMap<String, String> = create.serde_properties.into_iter().collect();
        let (format, serde) = athena_format(create.stored_as.as_ref(), create.row_format.as_ref(), serde_props)?;
        let columns = create
            .columns
            .iter()
            .map(column_from_spec)
            .collect::<Result<Vec<_>>>()?;
        let db = create.name.database.clone().unwrap_or_else(|| self.database.clone());
        let mut table = Table::new_external(&db, &create.name.name, &location.url, format, serde, columns)?;
        table.description = create.comment;
        table.partition_keys = create
            .partitioned_by
            .iter()
            .map(column_from_spec)
            .collect::<Result<Vec<_>>>()?;
        if let Some((columns, count)) = create.clustered_by {
            let count = u32::try_from(count).ok().filter(|c| *c > 0).ok_or_else(|| {
                EngineError::invalid(Part::Clause, format!("bucket count {count} must be between 1 and 2^32"))
            })?;
            table.storage.bucketing = Some(Bucketing { columns, count });
        }
        table.parameters = create.table_properties.into_iter().collect();
        check_table_properties(&table)?;
        // Inferring the schema includes the key=value folders, unless the DDL declared the partitions.
        let discover = table.storage.columns.is_empty() && table.partition_keys.is_empty();
        Ok((table, create.if_not_exists, discover))
    }

    /// Translates DataFusion's DDL (`STORED AS CSV ... OPTIONS (...)`) into a catalog table.
    pub(crate) fn datafusion_table(
        &self,
        create: datafusion::sql::parser::CreateExternalTable,
    ) -> Result<(Table, bool, bool)> {
        if create.or_replace || create.temporary || create.unbounded {
            return Err(EngineError::unsupported(
                "OR REPLACE / TEMPORARY / UNBOUNDED external tables",
                "tarn tables are persistent; drop and re-create instead",
            ));
        }
        if !create.order_exprs.is_empty() || !create.constraints.is_empty() {
            return Err(EngineError::unsupported("WITH ORDER and constraints", "remove them"));
        }
        let name = crate::parse::qualified_name(&create.name)?;
        let [location] = create.locations.as_slice() else {
            return Err(EngineError::invalid(Part::Clause, "give exactly one LOCATION"));
        };
        let location = Location::parse(location)?;
        let mut options: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        for (key, value) in &create.options {
            let key = key.to_ascii_lowercase();
            let key = key.strip_prefix("format.").unwrap_or(&key).to_string();
            options.insert(key, option_text(value));
        }
        let file_type = create.file_type.to_ascii_uppercase();
        let (format, serde, mut parameters) = match file_type.as_str() {
            "CSV" => {
                let mut serde = std::collections::BTreeMap::new();
                let delimiter = options.remove("delimiter").unwrap_or_else(|| ",".into());
                serde.insert(serde_params::SEPARATOR_CHAR.to_string(), delimiter);
                serde.insert(
                    serde_params::QUOTE_CHAR.to_string(),
                    options.remove("quote").unwrap_or_else(|| "\"".into()),
                );
                if let Some(escape) = options.remove("escape") {
                    serde.insert(serde_params::ESCAPE_CHAR.to_string(), escape);
                }
                let header = options.remove("has_header").unwrap_or_else(|| "true".into());
                let header = match header.to_ascii_lowercase().as_str() {
                    "true" => "1",
                    "false" => "0",
                    other => {
                        return Err(EngineError::invalid(
                            Part::Property,
                            format!("option 'format.has_header' must be true or false, not '{other}'"),
                        ));
                    }
                };
                let mut parameters = std::collections::BTreeMap::new();
                parameters.insert(params::SKIP_HEADER.to_string(), header.to_string());
                (
                    StorageFormat::Text,
                    SerdeInfo {
                        library: serde_lib::OPEN_CSV.into(),
                        parameters: serde,
                    },
                    parameters,
                )
            }
            "JSON" | "NDJSON" => (
                StorageFormat::Json,
                SerdeInfo {
                    library: serde_lib::HIVE_JSON.into(),
                    parameters: Default::default(),
                },
                Default::default(),
            ),
            "PARQUET" => (
                StorageFormat::Parquet,
                SerdeInfo {
                    library: serde_lib::PARQUET.into(),
                    parameters: Default::default(),
                },
                Default::default(),
            ),
            other => {
                return Err(EngineError::unsupported(
                    format!("STORED AS {other}"),
                    "tarn reads CSV, JSON (NDJSON) and PARQUET",
                ));
            }
        };
        if let Some(compression) = options.remove("compression") {
            if format == StorageFormat::Parquet {
                return Err(EngineError::invalid(
                    Part::Property,
                    "option 'format.compression' does not apply to Parquet (its codec is inside each file)",
                ));
            }
            let codec = Codec::parse(&compression).ok_or_else(|| {
                EngineError::invalid(
                    Part::Property,
                    format!(
                        "option 'format.compression' '{compression}' is not one of gzip, bzip2, zstd, xz, uncompressed"
                    ),
                )
            })?;
            parameters.insert(params::COMPRESSION_TYPE.to_string(), codec.name().to_string());
        }
        if let Some(unknown) = options.keys().next() {
            return Err(EngineError::invalid(
                Part::Property,
                format!(
                    "unknown option '{unknown}'; tarn understands format.delimiter, format.has_header, format.quote, \
                 format.escape and format.compression"
                ),
            ));
        }
        let partition_names: Vec<String> = create.table_partition_cols.iter().map(|c| c.to_lowercase()).collect();
        let mut columns = Vec::new();
        let mut partition_keys = Vec::new();
        for def in &create.columns {
            let dt = hive_to_arrow(&def.data_type.to_string())
                .and_then(|dt| arrow_to_hive(&dt))
                .map_err(|e| EngineError::invalid(Part::Column, format!("column '{}': {e}", def.name.value)))?;
            let column = Column::new(&def.name.value, dt)?;
            if partition_names.contains(&column.name) {
                partition_keys.push(column);
            } else {
                columns.push(column);
            }
        }
        let discover = create.columns.is_empty();
        if create.columns.is_empty() {
            partition_keys = partition_names
                .iter()
                .map(|n| Column::new(n, "string"))
                .collect::<Result<_, _>>()?;
        } else if let Some(missing) = partition_names
            .iter()
            .find(|n| !partition_keys.iter().any(|p| &p.name == *n))
        {
            return Err(EngineError::invalid(
                Part::Column,
                format!("PARTITIONED BY column '{missing}' is not in the column list"),
            ));
        }
        // Partition keys go last, in PARTITIONED BY order, as in Athena.
        partition_keys.sort_by_key(|p| partition_names.iter().position(|n| *n == p.name));
        let db = name.database.clone().unwrap_or_else(|| self.database.clone());
        let mut table = Table::new_external(&db, &name.name, &location.url, format, serde, columns)?;
        table.partition_keys = partition_keys;
        table.parameters = parameters;
        let discover = discover && partition_names.is_empty();
        Ok((table, create.if_not_exists, discover))
    }

    /// Shared by both DDL forms: infer the columns if none were given, check LOCATION, register.
    pub(crate) async fn create_table(
        &mut self,
        mut table: Table,
        if_not_exists: bool,
        discover_partitions: bool,
    ) -> Result<Outcome> {
        if self.catalog.get_database(&table.database).await?.is_none() {
            return Err(self.database_not_found(&table.database).await);
        }
        if if_not_exists && self.catalog.get_table(&table.database, &table.name).await?.is_some() {
            return Ok(Outcome::message(format!(
                "table {} already exists; nothing changed",
                table.qualified_name()
            )));
        }
        table
            .parameters
            .entry(params::CLASSIFICATION.to_string())
            .or_insert_with(|| table.storage.format.classification().to_string());
        table
            .parameters
            .entry("EXTERNAL".into())
            .or_insert_with(|| "TRUE".into());

        let location = Location::parse(&table.storage.location)?;
        let store = self.registry.store_for(&location)?;
        let mut notices = Vec::new();
        let is_json = table.storage.format == StorageFormat::Json;
        if table.storage.columns.is_empty() {
            let inferred =
                infer_columns(&self.state, Arc::clone(&store), &location, &table, discover_partitions).await?;
            table.storage.columns = inferred.columns;
            if table.partition_keys.is_empty() {
                table.partition_keys = inferred.partition_keys;
            }
            if is_json {
                add_json_mappings(&mut table, &inferred.spellings);
            }
        } else if list_files(store.as_ref(), &location, &location.prefix)
            .await?
            .is_empty()
        {
            // Athena accepts an empty LOCATION (data may arrive later), but a typo there is the usual cause.
            notices.push(format!(
                "LOCATION {} holds no data files yet; queries return no rows until files arrive",
                location.url
            ));
        } else if is_json {
            // JSON keys are matched exactly when read; Athena's OpenX SerDe ignores case. Record the files'
            // spelling of the declared columns now, as OpenX `mapping.*` properties.
            let mut sample = table.clone();
            sample.storage.columns.clear();
            // Best effort: the data is not this statement's business (Athena's CREATE reads none), so a broken line
            // is reported when a query reads it, with its line.
            match infer_columns(&self.state, Arc::clone(&store), &location, &sample, false).await {
                Ok(inferred) => add_json_mappings(&mut table, &inferred.spellings),
                Err(e) => notices.push(format!(
                    "the files' JSON key spellings were not sampled ({e}); keys must match the column names exactly"
                )),
            }
        }
        // Everything a reader needs must be valid before the table is registered.
        TarnTable::try_new(table.clone())?;
        if let Some(bucketing) = &table.storage.bucketing
            && let Some(missing) = bucketing
                .columns
                .iter()
                .find(|c| !table.storage.columns.iter().any(|col| &col.name == *c))
        {
            return Err(EngineError::invalid(
                Part::Column,
                format!("CLUSTERED BY column '{missing}' is not a data column"),
            ));
        }
        // Register the partitions that are there now (an implicit MSCK REPAIR): Athena leaves a new partitioned
        // table empty until then, the most common "my query returns nothing" surprise.
        let discovered = if table.partition_keys.is_empty() {
            None
        } else {
            Some(self.discover_partitions(&table).await?)
        };
        let created = match self.catalog.create_table(table).await {
            Ok(t) => t,
            Err(CatalogError::TableExists { database, name }) if if_not_exists => {
                return Ok(Outcome::message(format!(
                    "table {database}.{name} already exists; nothing changed"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let partitions = match discovered {
            None => String::new(),
            Some(discovered) => {
                let count = discovered.partitions.len();
                let found = discovered.partitions;
                self.change_partitions(&created, "CREATE", false, |current| {
                    current.extend(found.iter().cloned());
                    Ok((true, ()))
                })
                .await?;
                if !discovered.refused.is_empty() {
                    notices.push(format!(
                        "{} folder(s) not registered as partitions: {}",
                        discovered.refused.len(),
                        discovered.refused.join("; ")
                    ));
                }
                format!(
                    ", partitioned by {}: {count} partition{} registered",
                    created
                        .partition_keys
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    if count == 1 { "" } else { "s" }
                )
            }
        };
        Ok(Outcome::message(format!(
            "created table {} ({} columns{partitions}) over {}",
            created.qualified_name(),
            created.storage.columns.len(),
            created.storage.location
        ))
        .with_notices(notices))
    }
}

/// Adds `mapping.<column>` = key for columns whose JSON key differs in case, unless the DDL gave a mapping.
pub(crate) fn add_json_mappings(table: &mut Table, spellings: &std::collections::BTreeMap<String, String>) {
    let columns: Vec<String> = table.storage.columns.iter().map(|c| c.name.clone()).collect();
    for column in columns {
        if let Some(key) = spellings.get(&column) {
            table
                .storage
                .serde
                .parameters
                .entry(format!("{}{column}", serde_params::MAPPING_PREFIX))
                .or_insert_with(|| key.clone());
        }
    }
}

fn column_from_spec(spec: &crate::parse::ColumnSpec) -> Result<Column> {
    let dt = hive_to_arrow(&spec.data_type).map_err(|e| match e {
        EngineError::Invalid { message, .. } => {
            EngineError::invalid(Part::Column, format!("column '{}': {message}", spec.name))
        }
        other => other,
    })?;
    let mut column = Column::new(&spec.name, arrow_to_hive(&dt)?)?;
    // Keep varchar(n)/char(n) as declared: Glue shows what the user wrote.
    let written = spec.data_type.to_ascii_lowercase();
    if written.starts_with("varchar") || written.starts_with("char") {
        column.data_type = written;
    }
    column.comment = spec.comment.clone();
    Ok(column)
}

/// The storage format and SerDe of Athena DDL's `ROW FORMAT` / `STORED AS` clauses.
fn athena_format(
    stored_as: Option<&StoredAs>,
    row_format: Option<&RowFormat>,
    serde_properties: std::collections::BTreeMap<String, String>,
) -> Result<(StorageFormat, SerdeInfo)> {
    let stored = match stored_as {
        None => "TEXTFILE".to_string(),
        Some(StoredAs::Format(f)) => f.clone(),
        Some(StoredAs::InputOutput { input, .. }) if input.contains("Parquet") => "PARQUET".into(),
        Some(StoredAs::InputOutput { input, .. }) if input.ends_with("TextInputFormat") => "TEXTFILE".into(),
        Some(StoredAs::InputOutput { input, .. }) => {
            return Err(EngineError::unsupported(
                format!("INPUTFORMAT '{input}'"),
                "tarn reads text, JSON and Parquet tables",
            ));
        }
    };
    let serde = |library: &str, parameters| SerdeInfo {
        library: library.to_string(),
        parameters,
    };
    match stored.as_str() {
        "PARQUET" => match row_format {
            None => Ok((StorageFormat::Parquet, serde(serde_lib::PARQUET, serde_properties))),
            Some(RowFormat::Serde(class)) if class == serde_lib::PARQUET => {
                Ok((StorageFormat::Parquet, serde(serde_lib::PARQUET, serde_properties)))
            }
            Some(_) => Err(EngineError::invalid(
                Part::Clause,
                "a Parquet table takes no ROW FORMAT (the columns are inside the files)",
            )),
        },
        "JSON" | "JSONFILE" => Ok((StorageFormat::Json, serde(serde_lib::HIVE_JSON, serde_properties))),
        "TEXTFILE" => match row_format {
            None => {
                let mut p = serde_properties;
                p.entry(serde_params::FIELD_DELIM.into())
                    .or_insert_with(|| "\\001".into());
                Ok((StorageFormat::Text, serde(serde_lib::LAZY_SIMPLE, p)))
            }
            Some(RowFormat::Delimited {
                fields,
                escaped,
                collection_items,
                map_keys,
                lines,
                null_defined_as,
            }) => {
                if let Some(lines) = lines
                    && decode_delimiter(lines) != Some('\n')
                {
                    return Err(EngineError::unsupported(
                        format!("LINES TERMINATED BY '{lines}'"),
                        "Athena and tarn only support '\\n'",
                    ));
                }
                let mut p = serde_properties;
                let fields = fields.clone().unwrap_or_else(|| "\\001".into());
                for (key, value) in [
                    (serde_params::FIELD_DELIM, Some(fields.clone())),
                    (serde_params::SERIALIZATION_FORMAT, Some(fields)),
                    (serde_params::ESCAPE_DELIM, escaped.clone()),
                    ("collection.delim", collection_items.clone()),
                    ("mapkey.delim", map_keys.clone()),
                    (serde_params::NULL_FORMAT, null_defined_as.clone()),
                ] {
                    if let Some(value) = value {
                        p.insert(key.to_string(), value);
                    }
                }
                Ok((StorageFormat::Text, serde(serde_lib::LAZY_SIMPLE, p)))
            }
            Some(RowFormat::Serde(class)) => match class.as_str() {
                serde_lib::LAZY_SIMPLE | serde_lib::OPEN_CSV => {
                    Ok((StorageFormat::Text, serde(class, serde_properties)))
                }
                serde_lib::HIVE_JSON | serde_lib::OPENX_JSON => {
                    Ok((StorageFormat::Json, serde(class, serde_properties)))
                }
                other => Err(EngineError::unsupported(
                    format!("SerDe '{other}'"),
                    "tarn reads LazySimpleSerDe and OpenCSVSerde text, Hive and OpenX JSON, and Parquet",
                )),
            },
        },
        other => Err(EngineError::unsupported(
            format!("STORED AS {other}"),
            "tarn reads TEXTFILE (CSV/TSV/delimited), JSON and PARQUET tables",
        )),
    }
}

/// Athena registers a Delta table with `TBLPROPERTIES ('table_type'='DELTA')`; `STORED AS DELTA` is the Spark-ish
/// spelling.
pub(crate) fn is_delta_ddl(create: &crate::parse::CreateExternalTable) -> bool {
    create
        .table_properties
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("table_type") && v.eq_ignore_ascii_case("delta"))
        || matches!(&create.stored_as, Some(crate::parse::StoredAs::Format(f)) if f == "DELTA")
}

/// TBLPROPERTIES that would make tarn read the table differently from Athena are refused rather than ignored.
fn check_table_properties(table: &Table) -> Result<()> {
    for (key, value) in &table.parameters {
        match (key.to_ascii_lowercase().as_str(), value.to_ascii_lowercase().as_str()) {
            ("projection.enabled", "true") => {
                return Err(EngineError::unsupported(
                    "partition projection (projection.enabled)",
                    "remove it; tarn discovers key=value partition folders under LOCATION",
                ));
            }
            ("table_type", t) if t != "hive" => {
                return Err(EngineError::unsupported(
                    format!("table_type '{value}'"),
                    "Iceberg tables are not supported; Delta tables are registered with table_type 'DELTA'",
                ));
            }
            ("skip.footer.line.count", v) if v != "0" => {
                return Err(EngineError::unsupported(
                    "skip.footer.line.count",
                    "remove the footer lines from the files",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn option_text(value: &datafusion::sql::sqlparser::ast::Value) -> String {
    use datafusion::sql::sqlparser::ast::Value;
    match value {
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
        Value::Number(n, _) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}
