//! A catalog table as a DataFusion `TableProvider`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::config::CsvOptions;
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, Statistics};
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::physical_plan::{CsvSource, FileGroup, FileScanConfigBuilder, FileSource, JsonSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::projection::ProjectionExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion_datasource::compute_all_files_statistics;
use futures::{StreamExt, TryStreamExt};
use tarn_catalog::{HIVE_DEFAULT_PARTITION, Partition, StorageFormat, Table, params, serde_lib, serde_params};

use crate::bucket::{BUCKETING_VERSION, BucketColumn, BucketVersion, bucket_from_file_name, buckets_for_filters};
use crate::column_case::CaseInsensitiveColumns;
use crate::delimited::{DelimitedFormat, TextSerde};
use crate::error::{EngineError, Part, Result};
use crate::listing::{
    PartitionFolder, balance, find_partition_folders, list_partition_files, prune_partitions, references_only,
};
use crate::meter::ScanMeter;
use crate::parquet_files::{PARQUET_FOOTER_HINT, file_url};
use crate::storage::Location;
use crate::text_source::{Codec, TextKind, TextSource};
use crate::types::hive_to_arrow;

/// How a table's files are decoded, derived from its SerDe and parameters.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum ReadFormat {
    Delimited {
        /// Delimiter, quoting, header, short rows and the SerDe's NULL rules. (`pad_short_rows`: rows with fewer
        /// fields than columns read the missing ones as NULL instead of failing, for tables that gained columns with
        /// ALTER TABLE ADD COLUMNS: their older files have fewer fields.)
        format: DelimitedFormat,
        default_codec: Codec,
    },
    JsonLines {
        default_codec: Codec,
    },
    Parquet,
}

impl ReadFormat {
    /// How a text scan reads its files, as a table's format says it (what a plan sent to another machine carries).
    pub(crate) fn of_text(source: &TextSource) -> Result<Self> {
        Ok(match (source.kind(), source.delimited()) {
            (TextKind::Delimited, Some(format)) => ReadFormat::Delimited {
                format: format.clone(),
                default_codec: source.default_codec(),
            },
            (TextKind::JsonLines, _) => ReadFormat::JsonLines {
                default_codec: source.default_codec(),
            },
            (TextKind::Delimited, None) => {
                return Err(EngineError::internal("a delimited text scan without its format"));
            }
        })
    }

    pub fn of(table: &Table) -> Result<Self> {
        let sd = &table.storage;
        let serde = &sd.serde.parameters;
        // Parquet tables carry Glue's informational `compressionType` (snappy, ...); only text reads it.
        let text_codec = matches!(sd.format, StorageFormat::Text | StorageFormat::Json);
        let default_codec = match table.parameters.get(params::COMPRESSION_TYPE).filter(|_| text_codec) {
            None => Codec::None,
            Some(name) => Codec::parse(name).ok_or_else(|| {
                EngineError::invalid(
                    Part::Property,
                    format!(
                        "table {}: compressionType '{name}' is not one of none, gzip, bzip2, zstd, xz",
                        table.qualified_name()
                    ),
                )
            })?,
        };
        Ok(match sd.format {
            StorageFormat::Parquet => ReadFormat::Parquet,
            StorageFormat::Delta => {
                return Err(EngineError::invalid(
                    Part::ObjectKind,
                    format!(
                        "table {} is a Delta table; it is read through its log, not its folder",
                        table.qualified_name()
                    ),
                ));
            }
            StorageFormat::Json => ReadFormat::JsonLines { default_codec },
            StorageFormat::Text => {
                let header_lines = header_lines(&table.parameters)?;
                let pad_short_rows = table
                    .parameters
                    .get(params::PAD_SHORT_ROWS)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                let format = if sd.serde.library == serde_lib::OPEN_CSV {
                    DelimitedFormat {
                        delimiter: single_byte(serde.get(serde_params::SEPARATOR_CHAR), b',', "separatorChar")?,
                        quote: Some(single_byte(serde.get(serde_params::QUOTE_CHAR), b'"', "quoteChar")?),
                        escape: Some(single_byte(serde.get(serde_params::ESCAPE_CHAR), b'\\', "escapeChar")?),
                        header_lines,
                        pad_short_rows,
                        serde: TextSerde::OpenCsv,
                    }
                } else {
                    let delim = serde
                        .get(serde_params::FIELD_DELIM)
                        .or_else(|| serde.get(serde_params::SERIALIZATION_FORMAT));
                    DelimitedFormat {
                        delimiter: single_byte(delim, 0x01, "field.delim")?,
                        quote: None,
                        escape: serde
                            .get(serde_params::ESCAPE_DELIM)
                            .map(|e| single_byte(Some(e), b'\\', "escape.delim"))
                            .transpose()?,
                        header_lines,
                        pad_short_rows,
                        serde: TextSerde::LazySimple {
                            null_format: serde
                                .get(serde_params::NULL_FORMAT)
                                .cloned()
                                .unwrap_or_else(|| "\\N".to_string()),
                        },
                    }
                };
                ReadFormat::Delimited { format, default_codec }
            }
        })
    }
}

fn header_lines(parameters: &BTreeMap<String, String>) -> Result<u64> {
    let Some(value) = parameters.get(params::SKIP_HEADER) else {
        return Ok(0);
    };
    match value.trim().parse::<u64>() {
        Ok(n @ (0 | 1)) => Ok(n),
        Ok(n) => Err(EngineError::unsupported(
            format!("'{}'='{n}'", params::SKIP_HEADER),
            "tarn skips 0 or 1 header lines",
        )),
        Err(_) => Err(EngineError::invalid(
            Part::Property,
            format!("'{}' must be a number, not '{value}'", params::SKIP_HEADER),
        )),
    }
}

/// Decodes a Hive delimiter spelling: `|`, `\t`, `\001`, `\u0001`, `\\`.
pub fn decode_delimiter(text: &str) -> Option<char> {
    let mut chars = text.chars();
    let first = chars.next()?;
    if first != '\\' {
        return (chars.next().is_none()).then_some(first);
    }
    let rest: String = chars.collect();
    match rest.as_str() {
        "t" => Some('\t'),
        "n" => Some('\n'),
        "r" => Some('\r'),
        "\\" => Some('\\'),
        "'" => Some('\''),
        "\"" => Some('"'),
        "0" => Some('\0'),
        r if r.starts_with('u') && r.len() == 5 => u32::from_str_radix(&r[1..], 16).ok().and_then(char::from_u32),
        r if !r.is_empty() && r.len() <= 3 && r.chars().all(|c| c.is_digit(8)) => {
            u32::from_str_radix(r, 8).ok().and_then(char::from_u32)
        }
        _ => None,
    }
}

fn single_byte(value: Option<&String>, default: u8, property: &str) -> Result<u8> {
    let Some(text) = value else {
        return Ok(default);
    };
    match decode_delimiter(text) {
        Some(c) if c.is_ascii() => Ok(c as u8),
        _ => Err(EngineError::invalid(
            Part::Property,
            format!("{property} '{text}' must be a single ASCII character (e.g. '|', '\\t', '\\001')"),
        )),
    }
}

/// Arrow fields of a table's data columns and of its partition keys.
pub fn table_fields(table: &Table) -> Result<(Vec<Field>, Vec<Field>)> {
    let field = |c: &tarn_catalog::Column| -> Result<Field> {
        let dt = hive_to_arrow(&c.data_type).map_err(|e| match e {
            EngineError::Invalid { message, .. } => {
                EngineError::invalid(Part::Column, format!("column '{}': {message}", c.name))
            }
            other => other,
        })?;
        Ok(Field::new(&c.name, dt, true))
    };
    let data = table.storage.columns.iter().map(field).collect::<Result<Vec<_>>>()?;
    let partitions = table.partition_keys.iter().map(field).collect::<Result<Vec<_>>>()?;
    Ok((data, partitions))
}

/// A catalog table, ready to scan.
#[derive(Debug)]
pub struct TarnTable {
    location: Location,
    /// Bucket columns, count and hash, for pruning.
    bucketing: Option<(Vec<BucketColumn>, u32, BucketVersion)>,
    file_schema: SchemaRef,
    partition_fields: Vec<Field>,
    schema: SchemaRef,
    format: ReadFormat,
    /// The partitions registered in the catalog; `None` (a partitioned table whose partitions were never
    /// registered) walks the `key=value` folders instead.
    registered: Option<Vec<PartitionFolder>>,
    /// Exactly these files, with their partition values, instead of the table's folders (an ingest batch).
    files: Option<Vec<(object_store::ObjectMeta, Vec<datafusion::scalar::ScalarValue>)>>,
}

impl TarnTable {
    pub fn try_new(definition: Table) -> Result<Self> {
        let location = Location::parse(&definition.storage.location)?;
        let (data, partitions) = table_fields(&definition)?;
        let format = ReadFormat::of(&definition)?;
        let schema = Arc::new(Schema::new(
            data.iter()
                .cloned()
                .chain(partitions.iter().cloned())
                .collect::<Vec<_>>(),
        ));
        // JSON keys may be spelled differently from the column (OpenX's `mapping.<column>`); files are read by key.
        let serde = &definition.storage.serde.parameters;
        let file_fields: Vec<Field> = data
            .into_iter()
            .map(
                |f| match serde.get(&format!("{}{}", serde_params::MAPPING_PREFIX, f.name())) {
                    Some(key) if definition.storage.format == StorageFormat::Json => f.with_name(key),
                    _ => f,
                },
            )
            .collect();
        let file_schema = Arc::new(Schema::new(file_fields));
        let bucketing = match &definition.storage.bucketing {
            None => None,
            Some(b) => {
                let version = BucketVersion::from_parameter(definition.parameters.get(BUCKETING_VERSION))?;
                // Columns of types Hive cannot hash keep the table readable, just not prunable.
                let columns: Option<Vec<BucketColumn>> = b
                    .columns
                    .iter()
                    .map(|name| {
                        let column = definition.storage.columns.iter().find(|c| &c.name == name)?;
                        BucketColumn::new(name, &column.data_type).ok()
                    })
                    .collect();
                columns.map(|c| (c, b.count, version))
            }
        };
        Ok(Self {
            location,
            bucketing,
            file_schema,
            partition_fields: partitions,
            schema,
            format,
            registered: None,
            files: None,
        })
    }

    /// Reads exactly `files`, each with its values of the definition's partition keys, instead of listing the
    /// table's folders.
    pub fn with_files(mut self, files: Vec<(object_store::ObjectMeta, Vec<datafusion::scalar::ScalarValue>)>) -> Self {
        self.files = Some(files);
        self
    }

    /// Reads exactly `partitions` (the catalog's) instead of walking the table's folders. Their folders must be in
    /// the table's bucket (or on the local disk for a local table): one scan reads from one store.
    pub fn with_partitions(mut self, partitions: Option<Vec<Partition>>) -> Result<Self> {
        let Some(partitions) = partitions else {
            self.registered = None;
            return Ok(self);
        };
        let folders = partitions
            .into_iter()
            .map(|p| {
                let path = self.location.folder_path(&p.location)?;
                let texts = p
                    .values
                    .into_iter()
                    .map(|v| (v != HIVE_DEFAULT_PARTITION).then_some(v))
                    .collect();
                Ok(PartitionFolder { path, texts })
            })
            .collect::<Result<Vec<_>>>()?;
        self.registered = Some(folders);
        Ok(self)
    }

    /// Every folder of the table's files: its partitions (registered, else found by walking `key=value` folders), or
    /// its root when it has none.
    pub(crate) async fn folders(&self, store: &Arc<dyn object_store::ObjectStore>) -> Result<Vec<PartitionFolder>> {
        if self.partition_fields.is_empty() {
            return Ok(vec![PartitionFolder {
                path: self.location.prefix.clone(),
                texts: Vec::new(),
            }]);
        }
        match &self.registered {
            Some(registered) => Ok(registered.clone()),
            None => find_partition_folders(store, &self.location, &self.partition_fields, &[]).await,
        }
    }

    /// The typed partition values of the files in `folder`.
    pub(crate) fn typed_values(&self, folder: &PartitionFolder) -> Result<Vec<datafusion::scalar::ScalarValue>> {
        folder
            .texts
            .iter()
            .zip(&self.partition_fields)
            .map(|(text, field)| {
                crate::listing::typed_partition_value(text.clone(), field, &self.location, &folder.path)
            })
            .collect()
    }

    fn partition_names(&self) -> Vec<&str> {
        self.partition_fields.iter().map(|f| f.name().as_str()).collect()
    }

    /// The files a scan with `filters` reads, with their partition values.
    pub async fn files(&self, state: &dyn Session, filters: &[Expr]) -> Result<Vec<PartitionedFile>> {
        let store = state
            .runtime_env()
            .object_store(&self.location.store_url)
            .map_err(crate::error::from_datafusion)?;
        if let Some(files) = &self.files {
            return Ok(files
                .iter()
                .cloned()
                .map(|(meta, values)| {
                    let mut file = PartitionedFile::new_from_meta(meta);
                    file.partition_values = values;
                    file
                })
                .collect());
        }
        let partitions = if self.partition_fields.is_empty() {
            vec![PartitionFolder {
                path: self.location.prefix.clone(),
                texts: Vec::new(),
            }]
        } else {
            match &self.registered {
                Some(registered) => {
                    prune_partitions(registered.clone(), &self.partition_fields, filters, &self.location)?
                }
                None => find_partition_folders(&store, &self.location, &self.partition_fields, filters).await?,
            }
        };
        list_partition_files(store, &self.location, &self.partition_fields, partitions).await
    }

    fn file_source(&self, table_schema: TableSchema, meter: Option<Arc<ScanMeter>>) -> Arc<dyn FileSource> {
        file_source(&self.format, table_schema, self.location.store_url.as_str(), meter)
    }
}

/// The source that reads files of `format`: tarn's text source over DataFusion's CSV or JSON source, or DataFusion's
/// Parquet source. `store_url` (`s3://bucket`, `file://`) names files in errors; `meter` counts text values read as
/// NULL. A scan decoded on another machine is rebuilt through here, so it reads as the planner's would.
pub(crate) fn file_source(
    format: &ReadFormat,
    table_schema: TableSchema,
    store_url: &str,
    meter: Option<Arc<ScanMeter>>,
) -> Arc<dyn FileSource> {
    match format {
        ReadFormat::Delimited { format, default_codec } => {
            // DataFusion's CSV source keeps the scan's projection and statistics; the files are read by
            // `crate::delimited` with the SerDe's rules.
            let options = CsvOptions {
                newlines_in_values: Some(false),
                truncated_rows: Some(format.pad_short_rows),
                ..format.csv_options()
            };
            let csv = CsvSource::new(table_schema).with_csv_options(options);
            Arc::new(
                TextSource::new(Arc::new(csv), TextKind::Delimited, *default_codec, store_url)
                    .with_delimited(format.clone(), meter),
            )
        }
        ReadFormat::JsonLines { default_codec } => Arc::new(TextSource::new(
            Arc::new(JsonSource::new(table_schema)),
            TextKind::JsonLines,
            *default_codec,
            store_url,
        )),
        ReadFormat::Parquet => Arc::new(datafusion::datasource::physical_plan::ParquetSource::new(table_schema)),
    }
}

/// A file's statistics for the table's `columns` (the others unknown). Columns are found in the file as the scan
/// finds them (by name, or by another case when only one spelling matches), so `HouseholdID` is not mistaken for a
/// missing column, which the statistics would call all NULL. A column whose file type differs from the
/// table's (an `int` read as `bigint`) gets no statistics: its footer values are of the file's type.
fn footer_statistics(metadata: &ParquetMetaData, table: &SchemaRef, columns: &[usize]) -> Result<Statistics> {
    let file = metadata.file_metadata();
    let in_file = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(|e| EngineError::internal(format!("the Parquet footer's schema: {e}")))?;
    let wanted = Schema::new(
        columns
            .iter()
            .filter_map(|i| table.fields().get(*i).cloned())
            .collect::<Vec<_>>(),
    );
    let as_spelled = Arc::new(crate::column_case::as_spelled_in(&wanted, &in_file));
    let summary = DFParquetMetadata::statistics_from_parquet_metadata(metadata, &as_spelled)
        .map_err(crate::error::from_datafusion)?;
    let mut statistics = Statistics::new_unknown(table);
    statistics.num_rows = summary.num_rows;
    for ((i, field), column) in columns.iter().zip(as_spelled.fields()).zip(summary.column_statistics) {
        let same_type = in_file
            .field_with_name(field.name())
            .map(|f| f.data_type() == field.data_type())
            .unwrap_or(true);
        // Inexact: the planner orders joins and estimates filters with them, but does not answer `count(col)`,
        // `min` or `max` from footers. Athena reads the column for those, and the bytes tarn reports are what
        // Athena would bill; `count(*)` is answered from the row counts, as it was from the footers before.
        if same_type && let Some(slot) = statistics.column_statistics.get_mut(*i) {
            *slot = column.to_inexact();
        }
    }
    Ok(statistics)
}

/// `file` with the statistics of its data columns, and of its partition columns from its folder's values. A NULL
/// value (`__HIVE_DEFAULT_PARTITION__`) makes its column all NULL: DataFusion 55 gives every partition value
/// `null_count = 0`, which with exact row counts answers `count(region)` over the NULL folder with its row count.
fn with_statistics(file: PartitionedFile, statistics: Statistics) -> PartitionedFile {
    let data_columns = statistics.column_statistics.len();
    let null_columns: Vec<usize> = file
        .partition_values
        .iter()
        .enumerate()
        .filter(|(_, value)| value.is_null())
        .map(|(j, _)| data_columns + j)
        .collect();
    let mut file = file.with_statistics(Arc::new(statistics));
    if !null_columns.is_empty()
        && let Some(statistics) = file.statistics.take()
    {
        let mut statistics = Arc::unwrap_or_clone(statistics);
        let rows = statistics.num_rows;
        for i in null_columns {
            if let Some(column) = statistics.column_statistics.get_mut(i) {
                *column = ColumnStatistics::new_unknown().with_null_count(rows);
            }
        }
        file.statistics = Some(Arc::new(statistics));
    }
    file
}

fn to_df(e: EngineError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[async_trait]
impl TableProvider for TarnTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters on partition columns only are decided exactly by listing; others are re-checked above the scan (and,
    /// for Parquet, pushed into row-group pruning by DataFusion's optimizer).
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        let partitions = self.partition_names();
        Ok(filters
            .iter()
            .map(|f| {
                if !partitions.is_empty() && references_only(f, &partitions) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let partitions = self.partition_names();
        let partition_filters: Vec<Expr> = filters
            .iter()
            .filter(|f| references_only(f, &partitions))
            .cloned()
            .collect();
        let mut files = self.files(state, &partition_filters).await.map_err(to_df)?;
        if let Some((columns, count, version)) = &self.bucketing
            && let Some(buckets) = buckets_for_filters(filters, columns, *count, *version)
        {
            files = self.files_in_buckets(files, &buckets, *count).map_err(to_df)?;
        }
        if files.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let collect = state.config().collect_statistics();
        let files = match self.format {
            ReadFormat::Parquet if collect => {
                let columns: Vec<usize> = match projection {
                    Some(p) => p
                        .iter()
                        .copied()
                        .filter(|i| *i < self.file_schema.fields().len())
                        .collect(),
                    None => (0..self.file_schema.fields().len()).collect(),
                };
                self.parquet_statistics(state, files, &columns).await.map_err(to_df)?
            }
            _ => files
                .into_iter()
                .map(|f| {
                    let size = f.object_meta.size as usize;
                    with_statistics(
                        f,
                        Statistics::new_unknown(&self.file_schema).with_total_byte_size(Precision::Inexact(size)),
                    )
                })
                .collect(),
        };
        let groups = balance(files, state.config().target_partitions())
            .into_iter()
            .map(FileGroup::new)
            .collect();
        // The planner's join order and build sides, and answers from metadata (`count(*)`), come from these.
        let (groups, statistics) = compute_all_files_statistics(groups, Arc::clone(&self.schema), collect, false)?;
        let partition_cols: Vec<FieldRef> = self.partition_fields.iter().cloned().map(Arc::new).collect();
        let table_schema = TableSchema::builder(Arc::clone(&self.file_schema))
            .with_table_partition_cols(partition_cols)
            .build();
        let meter = state.config().get_extension::<ScanMeter>();
        let source = self.file_source(table_schema, meter);
        let config = FileScanConfigBuilder::new(self.location.store_url.clone(), source)
            .with_file_groups(groups)
            .with_statistics(statistics)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .with_expr_adapter(Some(Arc::new(CaseInsensitiveColumns)))
            .build();
        let scan = match self.format {
            ReadFormat::Parquet => {
                let mut options = state.table_options().parquet.clone();
                options.global.metadata_size_hint = Some(PARQUET_FOOTER_HINT);
                let scan = ParquetFormat::default()
                    .with_options(options)
                    .create_physical_plan(state, config)
                    .await?;
                crate::parquet_files::ParquetFiles::wrap(scan, self.location.store_url.as_str())
            }
            _ => DataSourceExec::from_data_source(config),
        };
        self.with_table_names(scan, projection)
    }
}

impl TarnTable {
    /// Each file with the statistics of its footer (row count, and per column nulls, min and max), read through the
    /// session's metadata cache, which the scan then reads the footer from: the footer is fetched once and counted
    /// once in the bytes scanned. Only the `columns` the query reads get column statistics: a footer of 400 columns
    /// takes milliseconds to summarise, every query.
    async fn parquet_statistics(
        &self,
        state: &dyn Session,
        files: Vec<PartitionedFile>,
        columns: &[usize],
    ) -> Result<Vec<PartitionedFile>> {
        let store = state
            .runtime_env()
            .object_store(&self.location.store_url)
            .map_err(crate::error::from_datafusion)?;
        let cache = state.runtime_env().cache_manager.get_file_metadata_cache();
        let concurrency = state.config_options().execution.meta_fetch_concurrency.get();
        let file_schema = &self.file_schema;
        let store_url = self.location.store_url.as_str().trim_end_matches('/');
        futures::stream::iter(files)
            .map(|file| {
                let (store, cache) = (Arc::clone(&store), Arc::clone(&cache));
                async move {
                    let metadata = DFParquetMetadata::new(store.as_ref(), &file.object_meta)
                        .with_metadata_size_hint(Some(PARQUET_FOOTER_HINT))
                        // The footer only: the scan loads the page index when its predicate can use it, as it does
                        // without statistics. Loading it here would fetch the index of every column of every file
                        // for every query that misses the cache (400 columns in the case study).
                        .with_page_index_policy(Some(PageIndexPolicy::Skip))
                        .with_file_metadata_cache(Some(cache))
                        .fetch_metadata()
                        .await
                        .map_err(|e| {
                            let url = file_url(store_url, file.object_meta.location.as_ref());
                            crate::parquet_files::name_file(e, &url)
                        })
                        .map_err(crate::error::from_datafusion)?;
                    let statistics = footer_statistics(&metadata, file_schema, columns)?;
                    Ok(with_statistics(file, statistics))
                }
            })
            .buffered(concurrency)
            .try_collect()
            .await
    }

    /// Keeps the files of `buckets`. A file's bucket is in its name (`000007_0_...`, as Hive and Trino write them);
    /// a folder whose files do not follow that naming is read by position when it holds exactly one file per bucket
    /// (Trino's rule), and is an error otherwise.
    fn files_in_buckets(
        &self,
        files: Vec<PartitionedFile>,
        buckets: &std::collections::BTreeSet<u32>,
        count: u32,
    ) -> Result<Vec<PartitionedFile>> {
        let mut by_folder: std::collections::BTreeMap<String, Vec<PartitionedFile>> = std::collections::BTreeMap::new();
        for file in files {
            let folder = file.path().prefix_match(&self.location.prefix).map(|parts| {
                let parts: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
                parts[..parts.len().saturating_sub(1)].join("/")
            });
            by_folder.entry(folder.unwrap_or_default()).or_default().push(file);
        }
        let mut kept = Vec::new();
        for (folder, mut files) in by_folder {
            let named: Vec<Option<u32>> = files
                .iter()
                .map(|f| f.path().filename().and_then(bucket_from_file_name))
                .collect();
            if named.iter().all(Option::is_some) {
                kept.extend(
                    files
                        .into_iter()
                        .zip(named)
                        .filter(|(_, b)| b.is_some_and(|b| buckets.contains(&b)))
                        .map(|(f, _)| f),
                );
            } else if files.len() == count as usize {
                files.sort_by(|a, b| a.path().cmp(b.path()));
                kept.extend(
                    files
                        .into_iter()
                        .enumerate()
                        .filter(|(i, _)| buckets.contains(&(*i as u32)))
                        .map(|(_, f)| f),
                );
            } else {
                let stray = files
                    .iter()
                    .zip(&named)
                    .find(|(_, b)| b.is_none())
                    .map(|(f, _)| f.path().to_string());
                return Err(EngineError::DataFile {
                    location: format!("{}{folder}", self.location.url),
                    line: None,
                    message: format!(
                        "bucketed table folder holds {} files for {count} buckets and '{}' does not name its \
                         bucket (files must start with the bucket number, e.g. 000007_0_...)",
                        files.len(),
                        stray.unwrap_or_default()
                    ),
                });
            }
        }
        Ok(kept)
    }

    /// Renames columns read under their file spelling (JSON `mapping.*`) back to the table's names.
    fn with_table_names(
        &self,
        scan: Arc<dyn ExecutionPlan>,
        projection: Option<&Vec<usize>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let wanted: Vec<usize> = projection
            .cloned()
            .unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let scanned = scan.schema();
        let renamed = wanted
            .iter()
            .enumerate()
            .any(|(i, table_index)| scanned.field(i).name() != self.schema.field(*table_index).name());
        if !renamed {
            return Ok(scan);
        }
        let exprs: Vec<ProjectionExpr> = wanted
            .iter()
            .enumerate()
            .map(|(i, table_index)| {
                ProjectionExpr::new(
                    Arc::new(Column::new(scanned.field(i).name(), i)),
                    self.schema.field(*table_index).name(),
                )
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(exprs, scan)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_delimiters() {
        assert_eq!(decode_delimiter("|"), Some('|'));
        assert_eq!(decode_delimiter("\\t"), Some('\t'));
        assert_eq!(decode_delimiter("\\001"), Some('\u{1}'));
        assert_eq!(decode_delimiter("\\u0001"), Some('\u{1}'));
        assert_eq!(decode_delimiter("\\\\"), Some('\\'));
        assert_eq!(decode_delimiter("||"), None);
        assert_eq!(decode_delimiter(""), None);
    }
}
