//! Delta Lake tables: CTAS into Delta, registering existing tables, reading (latest or an older version), INSERT,
//! DELETE, UPDATE, MERGE, OPTIMIZE, VACUUM and history, all through delta-rs.
//!
//! delta-rs is handed tarn's own object stores (`with_storage_backend`), so Delta tables work wherever tarn's other
//! tables do (local folders, S3, the test servers) without the AWS SDK, and reads go through the per-query metered
//! registry like every other scan. Commits use `PutMode::Create` on the next log entry (S3's `If-None-Match`), so two
//! writers race safely without a lock service.

use std::collections::BTreeMap;
use std::sync::{Arc, Once};

use chrono::DateTime;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::common::{Column as LogicalColumn, DFSchema};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Projection, cast, col};
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use deltalake::logstore::{LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, logstore_factories};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::TryStreamExt;
use tarn_catalog::{CatalogError, Column, SerdeInfo, StorageFormat, Table, TableKind, normalize_name, serde_lib};
use url::Url;

use crate::context::{Ctx, PreparedQuery};
use crate::error::{EngineError, Result, from_datafusion};
use crate::meter::ScanMeter;
pub use crate::names::AsOf;
use crate::parse::QualifiedName;
use crate::result::Outcome;
use crate::storage::Location;
use crate::types::arrow_to_hive;
pub(crate) use crate::write::commit::purge_delta_files;
use crate::write::commit::{Statement, WriteLog};
use crate::write::props::{FileEncoding, WriteOptions};
use crate::write::statements::{QUERY_ID_PARAMETER, cast_to_table, ctas_columns};

/// `TBLPROPERTIES ('table_type'='DELTA')`: how Athena marks a Delta table in Glue.
pub const TABLE_TYPE: &str = "table_type";

/// The setting that lets VACUUM go below the table's retention (Databricks calls it
/// `spark.databricks.delta.retentionDurationCheck.enabled`).
pub const RETENTION_CHECK_SETTING: &str = "tarn.delta.retention_duration_check";

/// Delta's log store for S3, on tarn's client: delta-rs registers one only with its `s3` feature, which would pull
/// in the AWS SDK. The default log store commits with `PutMode::Create`, which S3 honours (`If-None-Match`).
pub(crate) struct ConditionalPutLogStores;

impl LogStoreFactory for ConditionalPutLogStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(deltalake::logstore::default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

pub(crate) fn register_log_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["s3://", "s3a://"] {
            if let Ok(url) = Url::parse(scheme) {
                logstore_factories().insert(url, Arc::new(ConditionalPutLogStores));
            }
        }
    });
}

/// `statement` asked of a table that is not a Delta table.
pub(crate) fn not_delta(statement: &str, def: &Table, hint: &str) -> EngineError {
    EngineError::unsupported(
        format!(
            "{statement} on {} ({} files)",
            def.qualified_name(),
            def.storage.format.classification()
        ),
        hint,
    )
}

/// A delta-rs error in tarn's words, naming the table's location.
pub(crate) fn delta_error(location: &str, error: DeltaTableError) -> EngineError {
    let message = match &error {
        DeltaTableError::NotATable(_) => {
            return EngineError::Location {
                location: location.to_string(),
                message: "there is no Delta table here (no _delta_log/ folder); give the folder that holds \
                          _delta_log/"
                    .into(),
            };
        }
        DeltaTableError::InvalidVersion(v) => format!("there is no version {v}"),
        DeltaTableError::ObjectStore { source } => crate::storage::describe_store_error(source).to_string(),
        DeltaTableError::Arrow { source } => source.to_string(),
        other => other.to_string(),
    };
    EngineError::Delta {
        location: location.to_string(),
        message: message.lines().next().unwrap_or_default().to_string(),
        source: Some(Arc::new(error)),
    }
}

impl Ctx {
    /// The Delta table at `location`, loaded at `as_of`.
    pub(crate) async fn open_delta(&self, location: &Location, as_of: AsOf) -> Result<DeltaTable> {
        let builder = self.delta_builder(location)?;
        let builder = match as_of {
            AsOf::Latest => builder,
            AsOf::Version(v) => builder.with_version(v),
            AsOf::Timestamp(t) => builder.with_timestamp(t),
        };
        let loaded = builder.load().await;
        let table = match (as_of, loaded) {
            (_, Ok(table)) => table,
            (AsOf::Latest, Err(e)) => return Err(delta_error(&location.url, e)),
            (AsOf::Version(v), Err(e)) => {
                // delta-rs words a missing version as a log-segment mismatch; say which versions exist instead.
                let latest = Box::pin(self.open_delta(location, AsOf::Latest)).await?;
                return Err(match latest.version() {
                    Some(newest) if v > newest => EngineError::Delta {
                        location: location.url.clone(),
                        message: format!(
                            "there is no version {v}; the newest is {newest} (DESCRIBE HISTORY lists them)"
                        ),
                        source: Some(Arc::new(e)),
                    },
                    _ => delta_error(&location.url, e),
                });
            }
            (AsOf::Timestamp(_), Err(e)) => return Err(delta_error(&location.url, e)),
        };
        if let AsOf::Timestamp(t) = as_of {
            // delta-rs falls back to version 0 for a time before the table existed; Athena refuses it.
            let commits: Vec<_> = table
                .history(Some(1))
                .try_collect()
                .await
                .map_err(|e| delta_error(&location.url, e))?;
            let committed = commits
                .first()
                .and_then(|c| c.timestamp)
                .and_then(DateTime::from_timestamp_millis);
            if let Some(committed) = committed.filter(|c| *c > t) {
                return Err(EngineError::Delta {
                    location: location.url.clone(),
                    message: format!(
                        "no version existed at {}; the first is from {} UTC (DESCRIBE HISTORY lists them)",
                        t.format("%Y-%m-%d %H:%M:%S%.3f"),
                        committed.format("%Y-%m-%d %H:%M:%S%.3f")
                    ),
                    source: None,
                });
            }
        }
        Ok(table)
    }

    pub(crate) fn delta_builder(&self, location: &Location) -> Result<DeltaTableBuilder> {
        register_log_stores();
        let url = Url::parse(&location.url).map_err(|e| EngineError::Location {
            location: location.url.clone(),
            message: e.to_string(),
        })?;
        let store = self.registry.store_for(location)?;
        Ok(DeltaTableBuilder::from_url(url.clone())
            .map_err(|e| delta_error(&location.url, e))?
            .with_storage_backend(store, url))
    }

    /// The table provider a query reads `def` through.
    pub(crate) async fn delta_provider(&self, def: &Table, as_of: AsOf) -> Result<Arc<dyn TableProvider>> {
        let location = Location::parse(&def.storage.location)?;
        let table = self.open_delta(&location, as_of).await?;
        table
            .table_provider()
            .await
            .map_err(|e| delta_error(&location.url, DeltaTableError::from(e)))
    }

    /// `def` with the columns and partition keys of the table's current log (other writers may have changed them).
    pub(crate) async fn delta_shape(&self, def: &Table, table: &DeltaTable) -> Result<Table> {
        let provider = table
            .table_provider()
            .await
            .map_err(|e| delta_error(&def.storage.location, DeltaTableError::from(e)))?;
        let partitions: Vec<String> = table
            .snapshot()
            .map_err(|e| delta_error(&def.storage.location, e))?
            .metadata()
            .partition_columns()
            .to_vec();
        let (columns, keys) = columns_of(provider.schema().as_ref(), &partitions)?;
        let mut shaped = def.clone();
        shaped.storage.columns = columns;
        shaped.partition_keys = keys;
        Ok(shaped)
    }

    /// `CREATE EXTERNAL TABLE t LOCATION '...' TBLPROPERTIES ('table_type'='DELTA')` (or `STORED AS DELTA`): the
    /// schema and partitioning come from the table's log.
    pub(crate) async fn register_delta(
        &mut self,
        name: QualifiedName,
        location: &str,
        if_not_exists: bool,
        description: Option<String>,
    ) -> Result<Outcome> {
        let location = Location::parse(location)?;
        let db = normalize_name("database", name.database.as_deref().unwrap_or(&self.database))?;
        let table = self.open_delta(&location, AsOf::Latest).await?;
        let mut def = delta_table_def(&db, &name.name, &location)?;
        def.description = description;
        let def = self.delta_shape(&def, &table).await?;
        let version = table.version().unwrap_or_default();
        if self.catalog.get_database(&db).await?.is_none() {
            return Err(self.database_not_found(&db).await);
        }
        let message = match self.catalog.create_table(def).await {
            Ok(t) => format!(
                "created table {} over the Delta table at {} (version {version}, {} columns)",
                t.qualified_name(),
                location.url,
                t.storage.columns.len() + t.partition_keys.len()
            ),
            Err(CatalogError::TableExists { database, name }) if if_not_exists => {
                format!("table {database}.{name} already exists; nothing changed")
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Outcome::message(message))
    }

    /// CTAS with `table_type = 'DELTA'`: version 0 of a new Delta table, written from the query as it streams.
    pub(crate) async fn create_delta_table_as(
        &mut self,
        db: String,
        name: String,
        options: WriteOptions,
        prepared: PreparedQuery,
        with_data: bool,
    ) -> Result<Outcome> {
        if options.bucket_count.is_some() {
            return Err(EngineError::unsupported(
                "bucketed_by for Delta tables",
                "Delta tables are partitioned, not bucketed; use partitioned_by, or OPTIMIZE ... ZORDER BY",
            ));
        }
        let (columns, partition_keys) = ctas_columns(&prepared.plan, &options)?;
        let query_id = crate::write::new_query_id();
        let (root, location) = self.ctas_location(&options, &db, &name, &query_id)?;
        let store = self.registry.store_for(&location)?;
        self.prepare_target(&store, &root, &location, Statement::DeltaCtas)
            .await?;
        let mut def = delta_table_def(&db, &name, &location)?;
        def.storage.columns = columns;
        def.partition_keys = partition_keys;
        def.validate()?;
        def.parameters.insert(QUERY_ID_PARAMETER.into(), query_id.clone());
        let plan = delta_types(cast_to_table(prepared.plan.clone(), &def, None)?)?;
        let plan = if with_data {
            plan
        } else {
            LogicalPlanBuilder::from(plan)
                .limit(0, Some(0))
                .and_then(|b| b.build())
                .map_err(from_datafusion)?
        };
        let compression = match options.encoding {
            FileEncoding::Parquet(c) => c,
            _ => Compression::SNAPPY,
        };
        let meter = Arc::clone(&prepared.meter);
        // Recorded like every CTAS, so a killed one is cleaned up by the next write here (see write::commit).
        let log = WriteLog::start(
            Arc::clone(&store),
            &root,
            &location,
            &query_id,
            Statement::DeltaCtas,
            Some(format!("{db}.{name}")),
            None,
        )
        .await?;
        let table = self
            .delta_builder(&location)?
            .build()
            .map_err(|e| delta_error(&location.url, e))?;
        let write = table
            .write(Vec::new())
            .with_input_plan(plan)
            .with_session_state(Arc::new(crate::cluster::local(prepared.state)))
            .with_partition_columns(def.partition_keys.iter().map(|k| k.name.clone()))
            .with_save_mode(SaveMode::ErrorIfExists)
            .with_writer_properties(WriterProperties::builder().set_compression(compression).build())
            .with_table_name(&name);
        let written = match write.await {
            Ok(table) => last_commit_summary(&table, &location).await,
            Err(e) => Err(self.write_error(&location, &meter, e)),
        };
        let registered = match written {
            Ok(summary) => self
                .catalog
                .create_table(def)
                .await
                .map(|t| (t, summary))
                .map_err(EngineError::from),
            Err(e) => Err(e),
        };
        let (created, summary) = match registered {
            Ok(done) => done,
            Err(e) => {
                // The folder was empty when this CTAS began: what is in it now is this CTAS's.
                let _ = purge_delta_files(store.as_ref(), &location).await;
                log.abort().await;
                return Err(e);
            }
        };
        log.finish().await?;
        let message = format!(
            "created Delta table {}: {} rows in {} under {} (version {})",
            created.qualified_name(),
            summary.rows,
            files(summary.files_added),
            location.url,
            summary.version
        );
        Ok(Outcome::written(message, summary.rows, meter))
    }

    /// `INSERT INTO` a Delta table: one commit that adds the query's rows.
    pub(crate) async fn insert_into_delta(
        &mut self,
        def: Table,
        listed: Option<&[String]>,
        prepared: PreparedQuery,
    ) -> Result<Outcome> {
        let location = Location::parse(&def.storage.location)?;
        let table = self.open_delta(&location, AsOf::Latest).await?;
        let shape = self.delta_shape(&def, &table).await?;
        let plan = delta_types(cast_to_table(prepared.plan.clone(), &shape, listed)?)?;
        let meter = Arc::clone(&prepared.meter);
        let table = table
            .write(Vec::new())
            .with_input_plan(plan)
            .with_session_state(Arc::new(crate::cluster::local(prepared.state)))
            .with_save_mode(SaveMode::Append)
            .await
            .map_err(|e| self.write_error(&location, &meter, e))?;
        let summary = last_commit_summary(&table, &location).await?;
        let message = format!(
            "inserted into {}: {} rows in {} (version {})",
            def.qualified_name(),
            summary.rows,
            files(summary.files_added),
            summary.version
        );
        Ok(Outcome::written(message, summary.rows, meter))
    }

    /// The Delta table a DML statement changes, and a metered session state for the rows it reads.
    pub(crate) async fn dml_target(
        &self,
        name: &QualifiedName,
        statement: &str,
    ) -> Result<(Table, DeltaTable, Arc<ScanMeter>, SessionState)> {
        let def = self.table(name).await?;
        if def.kind() != TableKind::Delta {
            return Err(not_delta(
                statement,
                &def,
                "rows change only in Delta tables, as in Athena; CTAS a copy WITH (table_type = 'DELTA')",
            ));
        }
        let location = Location::parse(&def.storage.location)?;
        let table = self.open_delta(&location, AsOf::Latest).await?;
        let (state, meter) = self.metered(Arc::new(crate::snapshot::SnapshotCatalogList::empty()));
        Ok((def, table, meter, crate::cluster::local(state)))
    }

    /// An error from a Delta write: the scan limit or Ctrl-C if that is what stopped it.
    pub(crate) fn write_error(&self, location: &Location, meter: &ScanMeter, e: DeltaTableError) -> EngineError {
        self.write_error_at(&location.url, meter, e)
    }

    pub(crate) fn write_error_at(&self, location: &str, meter: &ScanMeter, e: DeltaTableError) -> EngineError {
        if meter.exceeded() {
            return EngineError::ScanLimitExceeded {
                limit: meter.limit().unwrap_or_default(),
                scanned: meter.bytes(),
            };
        }
        if self.interrupt.is_set() {
            return EngineError::Interrupted;
        }
        delta_error(location, e)
    }
}

/// The catalog entry of a Delta table (columns filled in by the caller).
pub(crate) fn delta_table_def(db: &str, name: &str, location: &Location) -> Result<Table> {
    let serde = SerdeInfo {
        library: serde_lib::PARQUET.into(),
        parameters: BTreeMap::new(),
    };
    let mut table = Table::new_external(db, name, &location.url, StorageFormat::Delta, serde, Vec::new())?;
    table.parameters.insert(TABLE_TYPE.into(), "DELTA".into());
    Ok(table)
}

/// Catalog columns of an Arrow schema: data columns, then the partition columns (Hive's layout).
pub(crate) fn columns_of(
    schema: &datafusion::arrow::datatypes::Schema,
    partitions: &[String],
) -> Result<(Vec<Column>, Vec<Column>)> {
    let mut columns = Vec::new();
    let mut keys = Vec::new();
    for field in schema.fields() {
        let column = Column::new(field.name(), arrow_to_hive(field.data_type())?)?;
        if partitions.iter().any(|p| p.eq_ignore_ascii_case(field.name())) {
            keys.push(column);
        } else {
            columns.push(column);
        }
    }
    Ok((columns, keys))
}

/// The columns a Delta table gets from a query: timestamps in microseconds adjusted to UTC (Delta's `timestamp`;
/// Athena's timestamps are UTC wall-clock times), and every column nullable, as in Hive and Athena, so a later
/// INSERT or MERGE may write NULL where the first query happened to have none.
pub(crate) fn delta_types(plan: LogicalPlan) -> Result<LogicalPlan> {
    let needs_cast =
        |t: &DataType| matches!(t, DataType::Timestamp(unit, tz) if *unit != TimeUnit::Microsecond || tz.is_none());
    let exprs: Vec<Expr> = plan
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let column = col(LogicalColumn::new(qualifier.cloned(), field.name()));
            if needs_cast(field.data_type()) {
                cast(column, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))).alias(field.name())
            } else {
                column
            }
        })
        .collect();
    let input = Arc::new(plan);
    let projected = Projection::try_new(exprs.clone(), Arc::clone(&input)).map_err(from_datafusion)?;
    let fields: Vec<_> = projected
        .schema
        .iter()
        .map(|(qualifier, field)| (qualifier.cloned(), Arc::new(field.as_ref().clone().with_nullable(true))))
        .collect();
    let schema = DFSchema::new_with_metadata(fields, projected.schema.metadata().clone()).map_err(from_datafusion)?;
    Projection::try_new_with_schema(exprs, input, Arc::new(schema))
        .map(LogicalPlan::Projection)
        .map_err(from_datafusion)
}

pub(crate) fn files(n: u64) -> String {
    format!("{n} file{}", if n == 1 { "" } else { "s" })
}

pub(crate) struct CommitSummary {
    pub(crate) version: u64,
    pub(crate) rows: u64,
    pub(crate) files_added: u64,
}

/// What the table's newest commit added, from its `operationMetrics`.
pub(crate) async fn last_commit_summary(table: &DeltaTable, location: &Location) -> Result<CommitSummary> {
    let commits: Vec<_> = table
        .history(Some(1))
        .try_collect()
        .await
        .map_err(|e| delta_error(&location.url, e))?;
    let metrics = commits.first().and_then(|c| c.info.get("operationMetrics"));
    let metric = |key: &str| {
        metrics
            .and_then(|m| m.get(key))
            .and_then(|v| v.as_u64())
            .unwrap_or_default()
    };
    Ok(CommitSummary {
        version: table.version().unwrap_or_default(),
        rows: metric("num_added_rows"),
        files_added: metric("num_added_files"),
    })
}
