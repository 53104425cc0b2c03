//! Delta Lake tables: CTAS into Delta, registering existing tables, reading (latest or an older version), INSERT,
//! DELETE, UPDATE, MERGE, OPTIMIZE, VACUUM and history, all through delta-rs.
//!
//! delta-rs is handed tarn's own object stores (`with_storage_backend`), so Delta tables work wherever tarn's other
//! tables do (local folders, S3, the test servers) without the AWS SDK, and reads go through the per-query metered
//! registry like every other scan. Commits use `PutMode::Create` on the next log entry (S3's `If-None-Match`), so two
//! writers race safely without a lock service.

use std::collections::BTreeMap;
use std::sync::{Arc, Once};

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::common::{Column as LogicalColumn, DFSchema};
use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Projection, cast, col};
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::sql::sqlparser::ast::{
    self, AssignmentTarget, MergeAction, MergeClauseKind, MergeInsertKind, TableFactor,
};
use deltalake::logstore::{LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, logstore_factories};
use deltalake::operations::merge;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::TryStreamExt;
use object_store::ObjectStore;
use tarn_catalog::{CatalogError, Column, SerdeInfo, StorageFormat, Table, normalize_name, serde_lib};
use url::Url;

use crate::context::Ctx;
use crate::error::{EngineError, Result, from_datafusion};
use crate::meter::ScanMeter;
use crate::parse::{QualifiedName, parse_datafusion_statement};
use crate::resolve::PreparedQuery;
use crate::result::Outcome;
use crate::storage::Location;
use crate::types::arrow_to_hive;
use crate::write::commit::{Statement, WriteLog};
use crate::write::props::{FileEncoding, WriteOptions};
use crate::write::statements::{QUERY_ID_PARAMETER, cast_to_table, ctas_columns};

/// `TBLPROPERTIES ('table_type'='DELTA')`: how Athena marks a Delta table in Glue.
pub const TABLE_TYPE: &str = "table_type";

/// The setting that lets VACUUM go below the table's retention (Databricks calls it
/// `spark.databricks.delta.retentionDurationCheck.enabled`).
pub const RETENTION_CHECK_SETTING: &str = "tarn.delta.retention_duration_check";

/// Which version of a table a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Latest,
    Version(u64),
    Timestamp(DateTime<Utc>),
}

impl AsOf {
    /// The suffix tarn gives a table name for `FOR VERSION AS OF` (names cannot contain `@`, so it cannot clash).
    pub(crate) fn suffix(&self) -> String {
        match self {
            AsOf::Latest => String::new(),
            AsOf::Version(v) => format!("@v{v}"),
            AsOf::Timestamp(t) => format!("@t{}", t.timestamp_micros()),
        }
    }

    /// Splits `name@v3` into the name and the version it asks for.
    pub(crate) fn split(name: &str) -> Result<(&str, AsOf)> {
        let Some((base, spec)) = name.split_once('@') else {
            return Ok((name, AsOf::Latest));
        };
        let bad = || EngineError::Query(format!("'{name}' is not a table name"));
        let as_of = if let Some(v) = spec.strip_prefix('v') {
            AsOf::Version(v.parse().map_err(|_| bad())?)
        } else if let Some(t) = spec.strip_prefix('t') {
            AsOf::Timestamp(DateTime::from_timestamp_micros(t.parse().map_err(|_| bad())?).ok_or_else(bad)?)
        } else {
            return Err(bad());
        };
        Ok((base, as_of))
    }
}

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

pub(crate) fn is_delta(table: &Table) -> bool {
    table.storage.format == StorageFormat::Delta
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
    let message = match error {
        DeltaTableError::NotATable(_) => {
            return EngineError::Location {
                location: location.to_string(),
                message: "there is no Delta table here (no _delta_log/ folder); give the folder that holds \
                          _delta_log/"
                    .into(),
            };
        }
        DeltaTableError::InvalidVersion(v) => format!("there is no version {v}"),
        DeltaTableError::ObjectStore { source } => crate::storage::describe_store_error(&source).to_string(),
        DeltaTableError::Arrow { source } => source.to_string(),
        other => other.to_string(),
    };
    EngineError::Delta {
        location: location.to_string(),
        message: message.lines().next().unwrap_or_default().to_string(),
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
        )
        .await?;
        let table = self
            .delta_builder(&location)?
            .build()
            .map_err(|e| delta_error(&location.url, e))?;
        let write = table
            .write(Vec::new())
            .with_input_plan(plan)
            .with_session_state(Arc::new(prepared.state))
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
            .with_session_state(Arc::new(prepared.state))
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
        if !is_delta(&def) {
            return Err(not_delta(
                statement,
                &def,
                "rows change only in Delta tables, as in Athena; CTAS a copy WITH (table_type = 'DELTA')",
            ));
        }
        let location = Location::parse(&def.storage.location)?;
        let table = self.open_delta(&location, AsOf::Latest).await?;
        let (state, meter, _) = self.metered_state(Vec::new()).await?;
        Ok((def, table, meter, state))
    }

    pub(crate) async fn merge(&mut self, merge: ast::Merge) -> Result<Outcome> {
        let (target_name, target_alias) = table_factor_name(&merge.table)?;
        let (def, table, _, _) = self.dml_target(&target_name, "MERGE").await?;
        let (source_sql, source_alias) = match &merge.source {
            TableFactor::Table { name, alias, .. } => (
                format!("SELECT * FROM {name}"),
                alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .or_else(|| name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone())),
            ),
            TableFactor::Derived { subquery, alias, .. } => {
                (subquery.to_string(), alias.as_ref().map(|a| a.name.value.clone()))
            }
            other => {
                return Err(EngineError::unsupported(
                    format!("MERGE ... USING {other}"),
                    "use a table or a (subquery) AS alias",
                ));
            }
        };
        let source_alias = source_alias.ok_or_else(|| {
            EngineError::InvalidDdl("MERGE ... USING (subquery) needs an alias: USING (...) AS s".into())
        })?;
        let target_alias = target_alias.unwrap_or_else(|| target_name.name.clone());
        let prepared = self.prepare_query(parse_datafusion_statement(&source_sql)?).await?;
        let meter = Arc::clone(&prepared.meter);
        let source = DataFrame::new(prepared.state.clone(), prepared.plan);
        let location = def.storage.location.clone();
        let target_columns: Vec<String> = self
            .delta_shape(&def, &table)
            .await?
            .all_columns()
            .map(|c| c.name.clone())
            .collect();
        let mut builder = table
            .merge(source, merge.on.to_string())
            .with_source_alias(source_alias)
            .with_target_alias(target_alias)
            .with_session_state(Arc::new(prepared.state));
        let at = |e| delta_error(&location, e);
        for clause in merge.clauses {
            let predicate = clause.predicate.map(|p| p.to_string());
            builder = match (clause.clause_kind, clause.action) {
                (MergeClauseKind::Matched, MergeAction::Update(update)) => builder
                    .when_matched_update(update_clause(predicate, assignments(&update.assignments)?))
                    .map_err(at)?,
                (MergeClauseKind::Matched, MergeAction::Delete { .. }) => {
                    builder.when_matched_delete(delete_clause(predicate)).map_err(at)?
                }
                (MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget, MergeAction::Insert(insert)) => {
                    let MergeInsertKind::Values(values) = &insert.kind else {
                        return Err(EngineError::unsupported("INSERT ROW in MERGE", "list the VALUES"));
                    };
                    let [row] = values.rows.as_slice() else {
                        return Err(EngineError::InvalidDdl("MERGE ... INSERT takes one VALUES row".into()));
                    };
                    let columns: Vec<String> = if insert.columns.is_empty() {
                        target_columns.clone()
                    } else {
                        insert
                            .columns
                            .iter()
                            .map(|c| last_part(c).map(|n| n.to_lowercase()))
                            .collect::<Result<_>>()?
                    };
                    if columns.len() != row.len() {
                        return Err(EngineError::InvalidDdl(format!(
                            "MERGE ... INSERT names {} columns and gives {} values",
                            columns.len(),
                            row.len()
                        )));
                    }
                    let sets: Vec<(String, String)> =
                        columns.into_iter().zip(row.iter().map(|v| v.to_string())).collect();
                    builder
                        .when_not_matched_insert(|mut i| {
                            if let Some(p) = predicate {
                                i = i.predicate(p);
                            }
                            for (column, value) in sets {
                                i = i.set(column, value);
                            }
                            i
                        })
                        .map_err(at)?
                }
                (MergeClauseKind::NotMatchedBySource, MergeAction::Update(update)) => builder
                    .when_not_matched_by_source_update(update_clause(predicate, assignments(&update.assignments)?))
                    .map_err(at)?,
                (MergeClauseKind::NotMatchedBySource, MergeAction::Delete { .. }) => builder
                    .when_not_matched_by_source_delete(delete_clause(predicate))
                    .map_err(at)?,
                (kind, action) => {
                    return Err(EngineError::InvalidDdl(format!(
                        "WHEN {kind} THEN {action} is not a valid MERGE clause"
                    )));
                }
            };
        }
        let (table, metrics) = builder.await.map_err(|e| self.write_error_at(&location, &meter, e))?;
        let changed = (metrics.num_target_rows_inserted
            + metrics.num_target_rows_updated
            + metrics.num_target_rows_deleted) as u64;
        let message = format!(
            "merged into {}: {} rows inserted, {} updated, {} deleted; {} removed, {} added (version {})",
            def.qualified_name(),
            metrics.num_target_rows_inserted,
            metrics.num_target_rows_updated,
            metrics.num_target_rows_deleted,
            files(metrics.num_target_files_removed as u64),
            files(metrics.num_target_files_added as u64),
            table.version().unwrap_or_default()
        );
        Ok(Outcome::written(message, changed, meter))
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
    version: u64,
    rows: u64,
    files_added: u64,
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

/// Deletes a Delta table tarn created: its log and the data files delta-rs named (`part-NNNNN-<uuid>-c000...`).
/// Anything else in the folder is kept and returned.
pub(crate) async fn purge_delta_files(store: &dyn ObjectStore, location: &Location) -> Result<(usize, Vec<String>)> {
    let data_file = regex::Regex::new(r"(^|/)part-\d{5}-[0-9a-f-]{36}-c\d{3}(\.[a-z0-9]+)?\.parquet$")
        .map_err(|e| EngineError::Query(e.to_string()))?;
    let prefix = (!location.prefix.as_ref().is_empty()).then_some(&location.prefix);
    let objects: Vec<_> = store
        .list(prefix)
        .try_collect()
        .await
        .map_err(|e| crate::storage::describe_store_error(&e))?;
    let base = location.prefix.as_ref().len();
    let (mut deleted, mut kept) = (0, Vec::new());
    let mut folders = std::collections::BTreeSet::new();
    for object in objects {
        let relative = object
            .location
            .as_ref()
            .get(base..)
            .unwrap_or_default()
            .trim_start_matches('/');
        if relative.starts_with("_delta_log/") || data_file.is_match(relative) {
            object_store::ObjectStoreExt::delete(store, &object.location)
                .await
                .map_err(|e| crate::storage::describe_store_error(&e))?;
            deleted += 1;
            folders.extend(
                crate::write::commit::local_path(location, &object.location)
                    .and_then(|p| p.parent().map(std::path::Path::to_path_buf)),
            );
        } else {
            kept.push(location.object_url(&object.location));
        }
    }
    // A write killed mid-file leaves `name#N` on a local disk, which listings skip.
    if let Some(dir) = location.local_dir() {
        let mut pending = vec![dir];
        while let Some(folder) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(path);
                    continue;
                }
                let relative = path.to_string_lossy().get(base + 2..).unwrap_or_default().to_string();
                if let Some((name, n)) = relative.rsplit_once('#')
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && (name.starts_with("_delta_log/") || data_file.is_match(name))
                    && std::fs::remove_file(&path).is_ok()
                {
                    deleted += 1;
                    folders.extend(path.parent().map(std::path::Path::to_path_buf));
                }
            }
        }
    }
    crate::write::commit::remove_empty_dirs(location, folders);
    Ok((deleted, kept))
}

pub(crate) fn last_part(name: &ast::ObjectName) -> Result<String> {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .ok_or_else(|| EngineError::Query(format!("'{name}' is not a column or table name")))
}

pub(crate) fn table_factor_name(factor: &TableFactor) -> Result<(QualifiedName, Option<String>)> {
    match factor {
        TableFactor::Table { name, alias, .. } => Ok((
            crate::parse::qualified_name(name)?,
            alias.as_ref().map(|a| a.name.value.clone()),
        )),
        other => Err(EngineError::unsupported(
            format!("changing rows of {other}"),
            "name a table",
        )),
    }
}

pub(crate) fn assignment_column(target: &AssignmentTarget) -> Result<String> {
    match target {
        AssignmentTarget::ColumnName(name) => Ok(last_part(name)?.to_lowercase()),
        AssignmentTarget::Tuple(_) => Err(EngineError::unsupported("SET (a, b) = ...", "set one column at a time")),
    }
}

/// A MERGE `UPDATE SET ...` clause, with its optional `AND` condition.
pub(crate) fn update_clause(
    predicate: Option<String>,
    sets: Vec<(String, String)>,
) -> impl FnOnce(merge::UpdateBuilder) -> merge::UpdateBuilder {
    move |mut update| {
        if let Some(p) = predicate {
            update = update.predicate(p);
        }
        for (column, value) in sets {
            update = update.update(column, value);
        }
        update
    }
}

/// A MERGE `DELETE` clause, with its optional `AND` condition.
pub(crate) fn delete_clause(predicate: Option<String>) -> impl FnOnce(merge::DeleteBuilder) -> merge::DeleteBuilder {
    move |delete| match predicate {
        Some(p) => delete.predicate(p),
        None => delete,
    }
}

pub(crate) fn assignments(list: &[ast::Assignment]) -> Result<Vec<(String, String)>> {
    list.iter()
        .map(|a| Ok((assignment_column(&a.target)?, a.value.to_string())))
        .collect()
}
