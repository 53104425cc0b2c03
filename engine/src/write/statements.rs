//! CTAS, INSERT INTO, UNLOAD and SHOW CREATE TABLE.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::common::Column as LogicalColumn;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, LogicalPlanBuilder, cast, col, lit};
use datafusion::scalar::ScalarValue;
use object_store::ObjectStore;
use tarn_catalog::{
    Bucketing as CatalogBucketing, Column, SerdeInfo, StorageFormat, Table, normalize_name, params, serde_lib,
    serde_params,
};

use super::commit::{self, Statement, WriteLog};
use super::exec::WriteNode;
use super::props::{FileEncoding, TextCodec, WriteOptions};
use super::sink::WrittenFile;
use super::{Bucketing, Target, run_write_plan};
use crate::bucket::{BUCKETING_VERSION, BucketColumn, BucketVersion};
use crate::context::{Ctx, PreparedQuery};
use crate::error::{EngineError, Part, Result, from_datafusion};
use crate::storage::Location;
use crate::table::decode_delimiter;
use crate::types::{arrow_to_hive, hive_to_arrow};
use crate::units::format_bytes;

/// The table parameter recording which write created a table (recovery uses it to tell a committed CTAS).
pub const QUERY_ID_PARAMETER: &str = "tarn.query_id";

/// What a write produced.
pub(crate) struct Written {
    pub(crate) files: Vec<WrittenFile>,
    pub(crate) rows: u64,
    pub(crate) bytes: u64,
    pub(crate) partitions: usize,
}

impl Written {
    pub(crate) fn of(files: Vec<WrittenFile>) -> Self {
        let partitions: BTreeSet<&str> = files
            .iter()
            .map(|f| f.partition.as_str())
            .filter(|p| !p.is_empty())
            .collect();
        Self {
            rows: files.iter().map(|f| f.rows).sum(),
            bytes: files.iter().map(|f| f.bytes).sum(),
            partitions: partitions.len(),
            files,
        }
    }

    /// The partitions the files went to (`k=v/k2=v2`, as written) with their folders.
    pub(crate) fn partition_folders(&self) -> BTreeMap<String, object_store::path::Path> {
        self.files
            .iter()
            .filter(|f| !f.partition.is_empty())
            .map(|f| {
                let parts: Vec<_> = f.final_path.parts().collect();
                let folder = parts[..parts.len().saturating_sub(1)].iter().cloned().collect();
                (f.partition.clone(), folder)
            })
            .collect()
    }

    pub(crate) fn describe(&self) -> String {
        let mut text = format!(
            "{} rows in {} file{} ({})",
            self.rows,
            self.files.len(),
            if self.files.len() == 1 { "" } else { "s" },
            format_bytes(self.bytes)
        );
        match self.partitions {
            0 => {}
            1 => text.push_str(", 1 partition"),
            n => text.push_str(&format!(", {n} partitions")),
        }
        text
    }
}

/// The data is written and committed, but its partitions could not be registered: say so and how to finish.
pub(crate) fn unregistered(table: &Table, e: EngineError) -> EngineError {
    EngineError::PartitionsNotRegistered {
        location: table.storage.location.clone(),
        table: table.qualified_name(),
        source: Box::new(e),
    }
}

/// An INSERT whose files are written but hidden, waiting to be published.
pub(crate) struct StagedInsert {
    table: Table,
    log: WriteLog,
    files: Vec<WrittenFile>,
    pub(crate) query_id: String,
}

impl StagedInsert {
    pub(crate) fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Where the files go when published.
    pub(crate) fn final_paths(&self) -> impl Iterator<Item = &object_store::path::Path> {
        self.files.iter().map(|f| &f.final_path)
    }

    /// Registers the partitions of the files, then publishes the files (INSERT's commit).
    pub(crate) async fn publish(self, ctx: &Ctx) -> Result<Written> {
        let (log, renames, written) = self.register_partitions(ctx).await?;
        log.commit_renames(&renames).await?;
        Ok(written)
    }

    /// Registers the partitions of the files, then publishes the files if `decide` says the write committed (an
    /// ingest batch's outcome, a compaction's record), else removes them.
    pub(crate) async fn publish_if<F>(self, ctx: &Ctx, decide: F, readers: commit::Readers) -> Result<Option<Written>>
    where
        F: std::future::Future<Output = Result<bool>>,
    {
        let (log, renames, written) = self.register_partitions(ctx).await?;
        Ok(log
            .commit_renames_if(&renames, decide, readers)
            .await?
            .then_some(written))
    }

    /// Partitions are registered before the commit: a query reading the catalog's partitions must find every folder
    /// of the write from the commit on, even if this process dies before it could register them. Until then the
    /// new partitions read as empty (their files are hidden), and a write that fails after this leaves them so.
    async fn register_partitions(
        self,
        ctx: &Ctx,
    ) -> Result<(
        WriteLog,
        Vec<(object_store::path::Path, object_store::path::Path)>,
        Written,
    )> {
        let renames: Vec<_> = self
            .files
            .iter()
            .map(|f| (f.path.clone(), f.final_path.clone()))
            .collect();
        let written = Written::of(self.files);
        if let Err(e) = ctx
            .register_written_partitions(&self.table, &written.partition_folders())
            .await
        {
            self.log.abort().await;
            return Err(e);
        }
        Ok((self.log, renames, written))
    }
}

impl Ctx {
    /// Writes `prepared` (its columns in `columns` order, or the table's) into Hive table `table` as hidden files.
    /// `load` makes it an ingest batch's write (see [`Statement::Ingest`]).
    pub(crate) async fn stage_insert(
        &self,
        table: &Table,
        prepared: PreparedQuery,
        columns: Option<&[String]>,
        load: Option<commit::LoadRef>,
    ) -> Result<StagedInsert> {
        let encoding = table_encoding(table)?;
        let plan = cast_to_table(prepared.plan.clone(), table, columns)?;
        let version = BucketVersion::from_parameter(table.parameters.get(BUCKETING_VERSION))?;
        let bucketing = match &table.storage.bucketing {
            Some(b) => bucketing_of(&b.columns, Some(b.count), version, &table.storage.columns)?,
            None => None,
        };
        let location = Location::parse(&table.storage.location)?;
        let store = self.registry.store_for(&location)?;
        self.prepare_target(&store, &location, &location, Statement::Insert)
            .await?;
        let query_id = super::new_query_id();
        let statement = if load.is_some() {
            Statement::Ingest
        } else {
            Statement::Insert
        };
        let log = WriteLog::start(
            Arc::clone(&store),
            &location,
            &location,
            &query_id,
            statement,
            Some(table.qualified_name()),
            load,
        )
        .await?;
        let file_names = (table.storage.format == StorageFormat::Json).then(|| json_keys(table));
        let target = Target {
            store: Arc::clone(&store),
            spec: super::exec::WriteSpec {
                location: location.clone(),
                encoding,
                partition_names: table.partition_keys.iter().map(|p| p.name.clone()).collect(),
                bucketing,
                query_id: query_id.clone(),
                // Readers list the table's folders: files stay hidden until all of them are complete.
                hidden: true,
                target_file_size: super::DEFAULT_TARGET_FILE_SIZE,
                file_names,
                record: None,
            },
        };
        match self.run_write(prepared, plan, target, &log).await {
            Ok(files) => Ok(StagedInsert {
                table: table.clone(),
                log,
                files,
                query_id,
            }),
            Err(e) => {
                log.abort().await;
                Err(e)
            }
        }
    }

    /// Runs `plan` (the prepared query, reshaped) into files: on the session's workers when it has some (each
    /// task writes its own files and lists them; `log` learns that its files may come from other processes), else
    /// here.
    pub(crate) async fn run_write(
        &self,
        prepared: PreparedQuery,
        plan: LogicalPlan,
        target: Target,
        log: &WriteLog,
    ) -> Result<Vec<WrittenFile>> {
        let PreparedQuery {
            state,
            meter,
            locations,
            ..
        } = prepared;
        let limit_or = |e: EngineError| match meter.exceeded() {
            true => EngineError::ScanLimitExceeded {
                limit: meter.limit().unwrap_or_default(),
                scanned: meter.bytes(),
            },
            false => e,
        };
        let write = WriteNode::new(plan, target, log.record_dir(), Arc::clone(&self.progress))?;
        let plan = LogicalPlan::Extension(Extension { node: Arc::new(write) });
        // A notice that the write ran here rather than on workers has no way out of a write's outcome yet; the
        // only cause today is a Delta source, which the figures show as scanned here.
        let (physical, _) = crate::cluster::physical_plan(&state, &plan, &meter)
            .await
            .map_err(|e| crate::result::query_error(e, Some(&meter), &locations))?;
        if crate::cluster::is_distributed(&physical) {
            log.set_on_workers();
        }
        let task = state.task_ctx();
        let output = match run_write_plan(Arc::clone(&physical), task, Arc::clone(&self.progress)).await {
            Ok(output) => output,
            Err(e) => return Err(crate::cluster::name_lost_worker(limit_or(e), state.config()).await),
        };
        for (worker, files) in &output.by_worker {
            meter.add_worker_files(worker, *files);
        }
        crate::cluster::settle(&physical, &meter)
            .await
            .map_err(crate::error::from_datafusion)?;
        Ok(output.files)
    }

    /// Where a CTAS records itself and where it writes: its `external_location` for both, or — as Athena gives a
    /// CTAS without one a folder of its own per query — the table's folder under the warehouse and, below it, a
    /// folder named by the query id (see [`commit`] for why the record goes to the table's folder).
    pub(crate) fn ctas_location(
        &self,
        options: &WriteOptions,
        db: &str,
        name: &str,
        query_id: &str,
    ) -> Result<(Location, Location)> {
        match &options.location {
            Some(l) => {
                let location = Location::parse(l)?;
                Ok((location.clone(), location))
            }
            None => Ok((
                Location::parse(&format!("{}{db}.db/{name}/", self.warehouse.url))?,
                Location::parse(&format!("{}{db}.db/{name}/{query_id}/", self.warehouse.url))?,
            )),
        }
    }

    /// Recovers a write root before a write (see [`commit`]); a CTAS or UNLOAD target must then be empty.
    pub(crate) async fn prepare_target(
        &self,
        store: &Arc<dyn ObjectStore>,
        root: &Location,
        location: &Location,
        statement: Statement,
    ) -> Result<()> {
        let recovery = self.recover(store, root).await?;
        if statement == Statement::Insert {
            return Ok(());
        }
        // A CTAS into a folder of its own shares the table's folder with other runs of it: only the same folder
        // being written is a conflict.
        if let Some(live) = recovery.live.first().filter(|_| root == location) {
            let s = &live.started;
            return Err(EngineError::Location {
                location: location.url.clone(),
                message: format!(
                    "another tarn process is writing here (query {}, host {}, pid {}, since {}); wait for it, or \
                     choose another location",
                    s.query_id, s.host, s.pid, s.started_at
                ),
            });
        }
        let existing = commit::existing_objects(store.as_ref(), location, 3).await?;
        if let Some(first) = existing.first() {
            return Err(EngineError::Location {
                location: location.url.clone(),
                message: format!(
                    "already holds data ({first}{}); tarn never overwrites: choose an empty location, or move those \
                     files away",
                    if existing.len() > 1 { ", ..." } else { "" }
                ),
            });
        }
        Ok(())
    }

    /// Completes or removes the dead writes recorded at `root` (see [`commit::recover`]).
    pub(crate) async fn recover(&self, store: &Arc<dyn ObjectStore>, root: &Location) -> Result<commit::Recovery> {
        let catalog = self.catalog.clone();
        commit::recover(store, root, move |started| {
            let catalog = catalog.clone();
            async move {
                let Some((db, name)) = started.table.as_deref().and_then(|t| t.split_once('.')) else {
                    return false;
                };
                if let Some(load) = &started.load {
                    return dead_batch_committed(&catalog, db, name, load, &started).await;
                }
                matches!(catalog.get_table(db, name).await, Ok(Some(t)) if t.parameters.get(QUERY_ID_PARAMETER) == Some(&started.query_id))
            }
        })
        .await
    }
}

/// Whether the dead ingest write `started` of batch `load` committed: the batch's outcome says so and names this
/// write. A batch with no outcome yet is decided aborted here, since its loader is gone; if the loader decided it
/// first, its decision holds.
async fn dead_batch_committed(
    catalog: &tarn_catalog::Catalog,
    db: &str,
    name: &str,
    load: &commit::LoadRef,
    started: &commit::Started,
) -> bool {
    let log = catalog.load_log_at(db, name, load.table_created);
    let aborted = tarn_catalog::LoadOutcome::Aborted {
        reason: format!(
            "its loader (host {}, pid {}) stopped while writing query {}",
            started.host, started.pid, started.query_id
        ),
        at: chrono::Utc::now(),
    };
    matches!(
        log.decide(load.batch, &aborted).await,
        Ok(tarn_catalog::LoadOutcome::Committed { query_id, .. }) if query_id == started.query_id
    )
}

/// The table's data columns and partition keys from a query's output; partition columns must be the last ones, in
/// `partitioned_by` order (Athena's rule). Text files cannot hold nested values, so a text write refuses them here.
pub(crate) fn ctas_columns(plan: &LogicalPlan, options: &WriteOptions) -> Result<(Vec<Column>, Vec<Column>)> {
    let mut columns = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, field) in plan.schema().fields().iter().enumerate() {
        // A column the query did not name (Athena refuses those in CTAS rather than call them `_col0`).
        if field.name() == &format!("_col{i}") {
            return Err(EngineError::invalid(
                Part::QueryShape,
                format!(
                    "Column name not specified at position {}: name the query's column {} with AS name",
                    i + 1,
                    i + 1
                ),
            ));
        }
        let name = normalize_name("column", field.name()).map_err(|_| {
            EngineError::invalid(
                Part::QueryShape,
                format!(
                    "the query's column '{}' needs a name a table can have (letters, digits, '_'): add AS name",
                    field.name()
                ),
            )
        })?;
        if !seen.insert(name.clone()) {
            return Err(EngineError::invalid(
                Part::QueryShape,
                format!("the query has two columns named '{name}'; rename one with AS"),
            ));
        }
        columns.push(Column::new(&name, arrow_to_hive(field.data_type())?)?);
    }
    let k = options.partitioned_by.len();
    if k > 0 {
        let tail: Vec<&str> = columns[columns.len().saturating_sub(k)..]
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        if k >= columns.len() || tail != options.partitioned_by.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(EngineError::invalid(
                Part::QueryShape,
                format!(
                    "partition columns must be the last columns of the SELECT list, in partitioned_by order: expected \
                 [{}] last, found [{}]",
                    options.partitioned_by.join(", "),
                    tail.join(", ")
                ),
            ));
        }
    }
    let partition_keys = columns.split_off(columns.len() - k);
    for key in &partition_keys {
        if key.data_type.starts_with("array") || key.data_type.starts_with("map") || key.data_type.starts_with("struct")
        {
            return Err(EngineError::invalid(
                Part::Column,
                format!(
                    "partition column '{}' is {}; partition values must be scalars",
                    key.name, key.data_type
                ),
            ));
        }
    }
    if matches!(options.encoding, FileEncoding::Text { .. }) {
        refuse_nested_text(&columns)?;
    }
    Ok((columns, partition_keys))
}

fn refuse_nested_text(columns: &[Column]) -> Result<()> {
    match columns.iter().find(|c| {
        c.data_type.starts_with("array") || c.data_type.starts_with("map") || c.data_type.starts_with("struct")
    }) {
        Some(c) => Err(EngineError::unsupported(
            format!("column '{}' of type {} in TEXTFILE output", c.name, c.data_type),
            "use format = 'PARQUET' or 'JSON' for nested types",
        )),
        None => Ok(()),
    }
}

pub(crate) fn bucketing_of(
    names: &[String],
    count: Option<u32>,
    version: BucketVersion,
    columns: &[Column],
) -> Result<Option<Bucketing>> {
    let Some(count) = count else {
        return Ok(None);
    };
    let columns = names
        .iter()
        .map(|name| {
            let column = columns.iter().find(|c| &c.name == name).ok_or_else(|| {
                EngineError::invalid(
                    Part::Column,
                    format!("bucket column '{name}' is not a data column of the table"),
                )
            })?;
            BucketColumn::new(name, &column.data_type)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Bucketing {
        columns,
        count,
        version,
    }))
}

/// The catalog entry for files written with `encoding`.
pub(crate) fn written_table(
    db: &str,
    name: &str,
    location: &Location,
    encoding: &FileEncoding,
    columns: Vec<Column>,
    partition_keys: Vec<Column>,
    bucketing: &Option<Bucketing>,
) -> Result<Table> {
    let (format, serde) = match encoding {
        FileEncoding::Parquet(_) => (StorageFormat::Parquet, serde_lib::PARQUET),
        FileEncoding::Text { .. } => (StorageFormat::Text, serde_lib::LAZY_SIMPLE),
        FileEncoding::Json(_) => (StorageFormat::Json, serde_lib::HIVE_JSON),
    };
    let mut serde_parameters = BTreeMap::new();
    if let FileEncoding::Text { delimiter, .. } = encoding {
        let delimiter = (*delimiter as char).to_string();
        serde_parameters.insert(serde_params::FIELD_DELIM.to_string(), delimiter.clone());
        serde_parameters.insert(serde_params::SERIALIZATION_FORMAT.to_string(), delimiter);
        // tarn writes NULL as an empty field; this tells Athena and Hive to read it back as NULL.
        serde_parameters.insert(serde_params::NULL_FORMAT.to_string(), String::new());
    }
    let serde = SerdeInfo {
        library: serde.to_string(),
        parameters: serde_parameters,
    };
    let mut table = Table::new_external(db, name, &location.url, format, serde, columns)?;
    table.partition_keys = partition_keys;
    let compression_key = match encoding {
        FileEncoding::Parquet(_) => "parquet.compression",
        _ => "write.compression",
    };
    table
        .parameters
        .insert(compression_key.into(), encoding.compression_name().into());
    table
        .parameters
        .insert(params::CLASSIFICATION.into(), format.classification().into());
    table.parameters.insert("EXTERNAL".into(), "TRUE".into());
    if let Some(b) = bucketing {
        table.storage.bucketing = Some(CatalogBucketing {
            columns: b.columns.iter().map(|c| c.name.clone()).collect(),
            count: b.count,
        });
        table
            .parameters
            .insert(BUCKETING_VERSION.into(), b.version.number().to_string());
    }
    table.validate()?;
    Ok(table)
}

/// How INSERT writes into an existing table: its format, and the codec its parameters ask for (Athena's GZIP
/// otherwise).
pub(crate) fn table_encoding(table: &Table) -> Result<FileEncoding> {
    let codec_name = table
        .parameters
        .get("write.compression")
        .or_else(|| table.parameters.get("parquet.compression"))
        .map(|c| c.to_ascii_uppercase());
    let text_codec = || -> Result<TextCodec> {
        Ok(match codec_name.as_deref() {
            None | Some("GZIP") => TextCodec::Gzip,
            Some("NONE" | "UNCOMPRESSED") => TextCodec::None,
            Some("BZIP2") => TextCodec::Bzip2,
            Some("ZSTD") => TextCodec::Zstd(3),
            Some(other) => {
                return Err(EngineError::unsupported(
                    format!("writing {other} text"),
                    "tarn writes text as GZIP, BZIP2, ZSTD or NONE",
                ));
            }
        })
    };
    use datafusion::parquet::basic::{Compression, GzipLevel, ZstdLevel};
    Ok(match table.storage.format {
        StorageFormat::Parquet => FileEncoding::Parquet(match codec_name.as_deref() {
            Some("SNAPPY") => Compression::SNAPPY,
            Some("ZSTD") => Compression::ZSTD(ZstdLevel::default()),
            Some("LZ4") => Compression::LZ4_RAW,
            Some("NONE" | "UNCOMPRESSED") => Compression::UNCOMPRESSED,
            _ => Compression::GZIP(GzipLevel::default()),
        }),
        StorageFormat::Json => FileEncoding::Json(text_codec()?),
        StorageFormat::Delta => {
            return Err(EngineError::invalid(
                Part::ObjectKind,
                format!(
                    "table {} is a Delta table; its writes go through its log",
                    table.qualified_name()
                ),
            ));
        }
        StorageFormat::Text if table.storage.serde.library == serde_lib::OPEN_CSV => {
            return Err(EngineError::unsupported(
                format!("INSERT INTO {} (OpenCSVSerde)", table.qualified_name()),
                "Athena cannot insert into OpenCSVSerde tables either; CTAS a TEXTFILE or PARQUET copy",
            ));
        }
        StorageFormat::Text => {
            let delim = table
                .storage
                .serde
                .parameters
                .get(serde_params::FIELD_DELIM)
                .and_then(|d| decode_delimiter(d))
                .unwrap_or('\u{1}');
            FileEncoding::Text {
                delimiter: delim as u8,
                codec: text_codec()?,
            }
        }
    })
}

/// JSON key names of a table's data columns (OpenX `mapping.*`).
pub(crate) fn json_keys(table: &Table) -> Vec<String> {
    table
        .storage
        .columns
        .iter()
        .map(|c| {
            table
                .storage
                .serde
                .parameters
                .get(&format!("{}{}", serde_params::MAPPING_PREFIX, c.name))
                .cloned()
                .unwrap_or_else(|| c.name.clone())
        })
        .collect()
}

/// Reshapes a query's output into the table's columns, in order, cast to their declared types: by position, or by
/// name when the INSERT lists columns (unlisted ones become NULL).
pub(crate) fn cast_to_table(plan: LogicalPlan, table: &Table, listed: Option<&[String]>) -> Result<LogicalPlan> {
    let targets: Vec<&Column> = table.all_columns().collect();
    let sources: Vec<Expr> = plan
        .schema()
        .iter()
        .map(|(qualifier, field)| col(LogicalColumn::new(qualifier.cloned(), field.name())))
        .collect();
    let expected = listed.map(|l| l.len()).unwrap_or(targets.len());
    if sources.len() != expected {
        return Err(EngineError::invalid(
            Part::QueryShape,
            format!(
                "the query has {} columns but {} {} expected ({})",
                sources.len(),
                expected,
                if expected == 1 { "is" } else { "are" },
                match listed {
                    Some(l) => l.join(", "),
                    None => targets.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
                }
            ),
        ));
    }
    if let Some(unknown) = listed.and_then(|l| l.iter().find(|n| !targets.iter().any(|c| &c.name == *n))) {
        return Err(EngineError::invalid(
            Part::Column,
            format!("column '{unknown}' is not in table {}", table.qualified_name()),
        ));
    }
    let exprs = targets
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let data_type = hive_to_arrow(&target.data_type)?;
            let source = match listed {
                None => sources.get(i).cloned(),
                Some(listed) => listed
                    .iter()
                    .position(|n| n == &target.name)
                    .and_then(|p| sources.get(p).cloned()),
            };
            let value = match source {
                Some(expr) => cast(expr, data_type),
                None => lit(ScalarValue::try_from(&data_type).unwrap_or(ScalarValue::Null)),
            };
            Ok(value.alias(&target.name))
        })
        .collect::<Result<Vec<_>>>()?;
    LogicalPlanBuilder::from(plan)
        .project(exprs)
        .and_then(|b| b.build())
        .map_err(from_datafusion)
}

/// Athena DDL for a table, in the layout Athena's `SHOW CREATE TABLE` prints; tarn and Athena both accept it.
pub fn show_create_table(table: &Table) -> String {
    let quote = |s: &str| s.replace('\'', "''");
    if table.storage.format == StorageFormat::Delta {
        // Athena's form for Delta: the columns and partitions live in the table's log.
        let mut ddl = format!("CREATE EXTERNAL TABLE `{}`.`{}`", table.database, table.name);
        if let Some(comment) = &table.description {
            ddl.push_str(&format!("\nCOMMENT '{}'", quote(comment)));
        }
        ddl.push_str(&format!(
            "\nLOCATION\n  '{}'\nTBLPROPERTIES (\n  'table_type'='DELTA')",
            table.storage.location
        ));
        return ddl;
    }
    let column = |c: &Column| match &c.comment {
        Some(comment) => format!("  `{}` {} COMMENT '{}'", c.name, c.data_type, quote(comment)),
        None => format!("  `{}` {}", c.name, c.data_type),
    };
    let mut ddl = format!("CREATE EXTERNAL TABLE `{}`.`{}`(\n", table.database, table.name);
    ddl.push_str(&table.storage.columns.iter().map(column).collect::<Vec<_>>().join(",\n"));
    ddl.push(')');
    if let Some(comment) = &table.description {
        ddl.push_str(&format!("\nCOMMENT '{}'", quote(comment)));
    }
    if !table.partition_keys.is_empty() {
        ddl.push_str("\nPARTITIONED BY ( \n");
        ddl.push_str(&table.partition_keys.iter().map(column).collect::<Vec<_>>().join(",\n"));
        ddl.push(')');
    }
    if let Some(b) = &table.storage.bucketing {
        let columns: Vec<String> = b.columns.iter().map(|c| format!("  `{c}`")).collect();
        ddl.push_str(&format!(
            "\nCLUSTERED BY ( \n{}) \nINTO {} BUCKETS",
            columns.join(", \n"),
            b.count
        ));
    }
    ddl.push_str(&format!("\nROW FORMAT SERDE \n  '{}' ", table.storage.serde.library));
    if !table.storage.serde.parameters.is_empty() {
        let props: Vec<String> = table
            .storage
            .serde
            .parameters
            .iter()
            .map(|(k, v)| format!("  '{}'='{}'", quote(k), hive_escape(v)))
            .collect();
        ddl.push_str(&format!("\nWITH SERDEPROPERTIES ( \n{}) ", props.join(", \n")));
    }
    ddl.push_str(&format!(
        "\nSTORED AS INPUTFORMAT \n  '{}' \nOUTPUTFORMAT \n  '{}'",
        table.storage.input_format, table.storage.output_format
    ));
    ddl.push_str(&format!("\nLOCATION\n  '{}'", table.storage.location));
    let props: Vec<String> = table
        .parameters
        .iter()
        .map(|(k, v)| format!("  '{}'='{}'", quote(k), hive_escape(v)))
        .collect();
    if !props.is_empty() {
        ddl.push_str(&format!("\nTBLPROPERTIES (\n{})", props.join(", \n")));
    }
    ddl
}

/// Control characters as Hive writes them in DDL (`\u0001`), so delimiters survive copy and paste.
pub(crate) fn hive_escape(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '\'' => "''".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() => format!("\\u{:04X}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::PropValue;
    use crate::write::props::ctas_options;
    use datafusion::arrow::datatypes::DataType;

    #[test]
    fn ddl_escapes_control_delimiters() {
        assert_eq!(hive_escape("\u{1}"), "\\u0001");
        assert_eq!(hive_escape("it's"), "it''s");
        assert_eq!(decode_delimiter(&hive_escape("\u{1}")), Some('\u{1}'));
        assert_eq!(decode_delimiter(&hive_escape("\t")), Some('\t'));
    }

    #[test]
    fn partition_columns_must_come_last() -> Result<()> {
        use datafusion::arrow::datatypes::{Field, Schema};
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("dt", DataType::Utf8, true),
            Field::new("b", DataType::Utf8, true),
        ]);
        let plan = LogicalPlanBuilder::empty(false)
            .project(
                schema
                    .fields()
                    .iter()
                    .map(|f| cast(lit(ScalarValue::Null), f.data_type().clone()).alias(f.name()))
                    .collect::<Vec<_>>(),
            )
            .and_then(|b| b.build())
            .map_err(from_datafusion)?;
        let mut options = ctas_options(&[])?;
        options.partitioned_by = vec!["dt".into()];
        let err = ctas_columns(&plan, &options)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("expected [dt] last, found [b]"), "{err}");
        options.partitioned_by = vec!["b".into()];
        let (columns, keys) = ctas_columns(&plan, &options)?;
        assert_eq!(
            (columns.len(), keys[0].name.as_str(), keys[0].data_type.as_str()),
            (2, "b", "string")
        );
        Ok(())
    }

    #[test]
    fn text_output_refuses_nested_columns() -> Result<()> {
        use datafusion::arrow::datatypes::Field;
        let plan = LogicalPlanBuilder::empty(false)
            .project(vec![
                lit(1i64).alias("a"),
                cast(
                    lit(ScalarValue::Null),
                    DataType::List(std::sync::Arc::new(Field::new("item", DataType::Utf8, true))),
                )
                .alias("tags"),
            ])
            .and_then(|b| b.build())
            .map_err(from_datafusion)?;
        let text = ctas_options(&[("format".into(), PropValue::Text("TEXTFILE".into()))])?;
        let err = ctas_columns(&plan, &text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("column 'tags' of type array<string> in TEXTFILE output is not supported"),
            "{err}"
        );
        let json = ctas_options(&[("format".into(), PropValue::Text("JSON".into()))])?;
        assert_eq!(ctas_columns(&plan, &json)?.0.len(), 2);
        Ok(())
    }
}
