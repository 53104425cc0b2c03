//! Schema inference for `CREATE EXTERNAL TABLE` without a column list: a bounded sample of the files under LOCATION,
//! read with the table's own format settings.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::config::{CsvOptions, JsonOptions};
use datafusion::common::parsers::CompressionTypeVariant;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use object_store::{ObjectMeta, ObjectStore};
use tarn_catalog::{Column, Table};

use crate::error::{EngineError, Part, Result, from_datafusion};
use crate::listing::{list_files, parse_partition_segment};
use crate::storage::Location;
use crate::table::ReadFormat;
use crate::text_source::Codec;
use crate::types::arrow_to_hive;

/// Files read to infer a schema; they are all of one codec, so one reader configuration fits them.
const SAMPLE_FILES: usize = 8;
/// Rows read per text file.
const SAMPLE_ROWS: usize = 1000;

/// What inference found.
pub struct Inferred {
    pub columns: Vec<Column>,
    /// Column name → the name as the files spell it, where they differ (`householdid` → `HouseholdID`).
    pub spellings: BTreeMap<String, String>,
    /// Partition keys found as `key=value` folders (typed `string`), when the caller asked for them.
    pub partition_keys: Vec<Column>,
}

/// Infers the data columns of `table` (and, if `discover_partitions`, its Hive partition keys) from its files.
pub async fn infer_columns(
    state: &dyn Session,
    store: Arc<dyn ObjectStore>,
    location: &Location,
    table: &Table,
    discover_partitions: bool,
) -> Result<Inferred> {
    let files = list_files(store.as_ref(), location, &location.prefix).await?;
    if files.is_empty() {
        return Err(EngineError::Location {
            location: location.url.clone(),
            message: "holds no data files to infer the columns from; give a column list, or point LOCATION at the \
                      folder with the data"
                .into(),
        });
    }
    let partition_keys = if discover_partitions {
        partition_keys_of(location, &files[0])
    } else {
        Vec::new()
    };
    let format = ReadFormat::of(table)?;
    let default_codec = match &format {
        ReadFormat::Delimited { default_codec, .. } | ReadFormat::JsonLines { default_codec } => *default_codec,
        ReadFormat::Parquet => Codec::None,
    };
    // Sample the most common codec among the files.
    let mut by_codec: HashMap<&'static str, (Codec, Vec<ObjectMeta>)> = HashMap::new();
    for file in &files {
        let codec =
            Codec::for_file(file.location.as_ref(), default_codec).map_err(|message| EngineError::DataFile {
                location: location.object_url(&file.location),
                line: None,
                message,
            })?;
        by_codec
            .entry(codec.name())
            .or_insert((codec, Vec::new()))
            .1
            .push(file.clone());
    }
    let Some((codec, mut sample)) = by_codec.into_values().max_by_key(|(_, files)| files.len()) else {
        return Err(EngineError::invalid(Part::Clause, "no files to sample"));
    };
    sample.truncate(SAMPLE_FILES);

    let schema = match format {
        ReadFormat::Parquet => ParquetFormat::default().infer_schema(state, &store, &sample).await,
        ReadFormat::JsonLines { .. } => {
            let options = JsonOptions {
                compression: variant(codec),
                schema_infer_max_rec: Some(SAMPLE_ROWS),
                ..Default::default()
            };
            JsonFormat::default()
                .with_options(options)
                .infer_schema(state, &store, &sample)
                .await
        }
        ReadFormat::Delimited { ref format, .. } => {
            let options = CsvOptions {
                compression: variant(codec),
                schema_infer_max_rec: Some(SAMPLE_ROWS),
                ..format.csv_options()
            };
            CsvFormat::default()
                .with_options(options)
                .infer_schema(state, &store, &sample)
                .await
        }
    };
    let schema = match schema {
        Ok(schema) => schema,
        Err(e) => {
            let error = from_datafusion(e);
            let EngineError::DataFusion { message, .. } = error else {
                return Err(error);
            };
            // DataFusion does not say which sampled JSON file and line broke: find them.
            if matches!(format, ReadFormat::JsonLines { .. }) {
                for file in &sample {
                    let text = crate::text_source::file_text(&store, &file.location, codec).await;
                    if let Some((line, reason)) = text.as_deref().and_then(crate::text_source::first_invalid_json_line)
                    {
                        return Err(EngineError::DataFile {
                            location: location.object_url(&file.location),
                            line: Some(line),
                            message: format!("cannot infer the columns: {reason}"),
                        });
                    }
                }
            }
            return Err(EngineError::DataFile {
                location: location.object_url(&sample[0].location),
                line: None,
                message: format!("cannot infer the columns: {message}"),
            });
        }
    };

    let headerless = matches!(&format, ReadFormat::Delimited { format, .. } if format.header_lines == 0);
    let mut columns = Vec::new();
    let mut spellings = BTreeMap::new();
    let mut seen = BTreeMap::new();
    for (i, field) in schema.fields().iter().enumerate() {
        // Glue names the columns of a header-less file col0, col1, ...
        let name = if headerless {
            format!("col{i}")
        } else {
            field.name().to_lowercase()
        };
        if let Some(first) = seen.insert(name.clone(), field.name().clone()) {
            return Err(EngineError::DataFile {
                location: location.object_url(&sample[0].location),
                line: None,
                message: format!(
                    "columns '{first}' and '{}' are the same name in Athena (names are case-insensitive); \
                     give a column list",
                    field.name()
                ),
            });
        }
        let column = Column::new(&name, arrow_to_hive(field.data_type())?).map_err(|e| EngineError::DataFile {
            location: location.object_url(&sample[0].location),
            line: None,
            message: format!("{e}; give a column list with valid names"),
        })?;
        if &column.name != field.name() && !headerless {
            spellings.insert(column.name.clone(), field.name().clone());
        }
        columns.push(column);
    }
    // Parquet files written by Hive-style writers may repeat a partition column; it comes from the folder.
    columns.retain(|c| !partition_keys.iter().any(|p| p.name == c.name));
    Ok(Inferred {
        columns,
        spellings,
        partition_keys,
    })
}

fn variant(codec: Codec) -> CompressionTypeVariant {
    match codec {
        Codec::None => CompressionTypeVariant::UNCOMPRESSED,
        Codec::Gzip => CompressionTypeVariant::GZIP,
        Codec::Bzip2 => CompressionTypeVariant::BZIP2,
        Codec::Zstd => CompressionTypeVariant::ZSTD,
        Codec::Xz => CompressionTypeVariant::XZ,
    }
}

/// The `key=value` folders between LOCATION and a file, if every folder on the way is one.
fn partition_keys_of(location: &Location, file: &ObjectMeta) -> Vec<Column> {
    let Some(parts) = file.location.prefix_match(&location.prefix) else {
        return Vec::new();
    };
    let parts: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
    let Some((_, folders)) = parts.split_last() else {
        return Vec::new();
    };
    let keys: Option<Vec<Column>> = folders
        .iter()
        .map(|f| parse_partition_segment(f).and_then(|(key, _)| Column::new(&key, "string").ok()))
        .collect();
    keys.unwrap_or_default()
}
