//! A tarn session: the catalog, the current database, settings, and the statement router.
//!
//! Statements that change or describe the catalog are executed here; queries go to DataFusion with a per-query
//! snapshot of the catalog tables they name and a per-query runtime whose object stores feed that query's meter.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProviderList, SchemaProvider};
use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::TableProvider;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::Statement as DFStatement;
use tarn_catalog::{CatalogError, DEFAULT_DATABASE, Database, Table};

use crate::error::{EngineError, Result, from_datafusion};
use crate::meter::{Interrupt, MeteredRegistry, ScanMeter, parse_size};
use crate::result::{QueryResult, ResultKind, Rows, SessionTotals, query_error};
use crate::snapshot::{SnapshotCatalog, SnapshotCatalogList, SnapshotSchema};
use crate::sql::{Command, QualifiedName, parse_command, parse_datafusion_statement};
use crate::storage::{AwsSettings, Location, StoreRegistry};
use crate::table::TarnTable;
use crate::write::WriteProgress;
use datafusion::execution::memory_pool::FairSpillPool;

/// Athena's name for the Glue catalog; `awsdatacatalog.db.table` works as in Athena.
pub const CATALOG_NAME: &str = "awsdatacatalog";
/// The setting that caps bytes scanned per query.
pub const MAX_SCAN_SETTING: &str = "tarn.max_scan";
/// The setting for the memory queries may use before sorts and aggregations spill (also DataFusion's name for it).
pub const MEMORY_LIMIT_SETTING: &str = "tarn.memory_limit";
/// `true`: a text value that is not of its column's type fails the query (Athena, and tarn by default, read NULL).
pub const TEXT_STRICT_SETTING: &str = "tarn.text.strict";
const DATAFUSION_MEMORY_LIMIT: &str = "datafusion.runtime.memory_limit";

/// How to open a session.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// `s3://bucket/prefix/`, `file:///dir` or a local path.
    pub warehouse: String,
    /// Stop any query that reads more than this many bytes.
    pub max_scan: Option<u64>,
    /// The database to start in (default `default`).
    pub database: Option<String>,
    /// S3 settings; `None` reads the standard AWS environment (AWS_ENDPOINT_URL, AWS_PROFILE, ...).
    pub aws: Option<AwsSettings>,
    /// Bytes of memory queries may use before sorts and aggregations spill to disk (default 1 GiB).
    pub memory_limit: Option<usize>,
}

/// A planned query, ready to run or to feed a writer.
pub(crate) struct PreparedQuery {
    pub state: SessionState,
    pub plan: LogicalPlan,
    pub meter: Arc<ScanMeter>,
    pub locations: Vec<Location>,
}

/// A session over one warehouse. Clones share the catalog and stores; each has its own current database and
/// settings, and clones may run queries concurrently.
#[derive(Clone)]
pub struct Session {
    pub(crate) state: SessionState,
    pub(crate) registry: Arc<StoreRegistry>,
    pub(crate) catalog: tarn_catalog::Catalog,
    pub(crate) warehouse: Location,
    pub(crate) database: String,
    pub(crate) max_scan: Option<u64>,
    pub(crate) totals: Arc<SessionTotals>,
    pub(crate) progress: Arc<WriteProgress>,
    pub(crate) interrupt: Arc<Interrupt>,
    /// VACUUM refuses a retention below the table's minimum unless this is turned off.
    pub(crate) delta_retention_check: bool,
    /// Bytes of memory queries may use (the runtime's pool).
    pub(crate) memory_limit: usize,
    /// Text values that are not of their column's type fail the query instead of reading as NULL.
    pub(crate) text_strict: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("warehouse", &self.warehouse.url)
            .field("database", &self.database)
            .finish()
    }
}

impl Session {
    pub async fn open(options: SessionOptions) -> Result<Self> {
        let warehouse = Location::parse(&options.warehouse)?;
        if let Some(dir) = warehouse.local_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| EngineError::Location {
                location: warehouse.url.clone(),
                message: format!("cannot create the warehouse folder ({e})"),
            })?;
        }
        let registry = Arc::new(match options.aws {
            Some(settings) => StoreRegistry::with_aws(settings),
            None => StoreRegistry::new(),
        });
        let store = registry.store_for(&warehouse)?;
        let catalog = tarn_catalog::Catalog::new(store, &warehouse.prefix, warehouse.url.clone());

        // tarn owns the catalog: no default in-memory schema for DataFusion to register tables in, and no
        // information_schema that would only see one query's snapshot.
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_DATABASE)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false)
            // Trino's ORDER BY puts NULLs last for ASC and DESC alike unless NULLS FIRST is given (DataFusion, as
            // PostgreSQL, puts them first for DESC).
            .set_str("datafusion.sql_parser.default_null_ordering", "nulls_last");
        // Sorts and aggregations spill to disk beyond the pool instead of growing without bound.
        let memory = options.memory_limit.unwrap_or(crate::write::DEFAULT_MEMORY_LIMIT);
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::clone(&registry) as _)
            .with_memory_pool(Arc::new(FairSpillPool::new(memory)))
            .build_arc()
            .map_err(from_datafusion)?;
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            // The default planner plus delta-rs' nodes (write, DML and merge metrics), so Delta operations can run
            // on tarn's session and its metered stores.
            .with_query_planner(deltalake::delta_datafusion::planner::DeltaPlanner::new())
            .with_optimizer_rule(Arc::new(crate::deep::BalanceLogic))
            .with_physical_optimizer_rule(Arc::new(crate::deep::BalanceFilters))
            .build();
        crate::trino::register(&mut state).map_err(from_datafusion)?;
        datafusion::execution::FunctionRegistry::register_udf(
            &mut state,
            Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
                crate::deep::Chain::new(),
            )),
        )
        .map_err(from_datafusion)?;
        let interrupt = Arc::new(Interrupt::default());
        let mut session = Self {
            state,
            registry,
            catalog,
            warehouse,
            database: DEFAULT_DATABASE.to_string(),
            max_scan: options.max_scan,
            totals: Arc::new(SessionTotals::default()),
            progress: Arc::new(WriteProgress {
                interrupt: Arc::clone(&interrupt),
                ..Default::default()
            }),
            interrupt,
            delta_retention_check: true,
            memory_limit: memory,
            text_strict: false,
        };
        if let Some(db) = options.database {
            session.use_database(&db).await?;
        }
        Ok(session)
    }

    pub fn catalog(&self) -> &tarn_catalog::Catalog {
        &self.catalog
    }

    pub fn warehouse(&self) -> &str {
        &self.warehouse.url
    }

    pub fn current_database(&self) -> &str {
        &self.database
    }

    pub fn max_scan(&self) -> Option<u64> {
        self.max_scan
    }

    pub fn set_max_scan(&mut self, limit: Option<u64>) {
        self.max_scan = limit;
    }

    pub fn totals(&self) -> &SessionTotals {
        &self.totals
    }

    /// Live figures of the write a statement is doing (rows, bytes, files so far), for progress displays.
    pub fn write_progress(&self) -> Arc<WriteProgress> {
        Arc::clone(&self.progress)
    }

    /// What is directly under an `s3://` prefix or folder, for completing paths: sub-folders end in `/`. At most
    /// `limit` entries, sorted.
    pub async fn list_location(&self, url: &str, limit: usize) -> Result<Vec<String>> {
        let location = Location::parse(url)?;
        let store = self.registry.store_for(&location)?;
        let prefix = (!location.prefix.as_ref().is_empty()).then_some(&location.prefix);
        let listing = store
            .list_with_delimiter(prefix)
            .await
            .map_err(|e| crate::storage::describe_store_error(&e))?;
        let folders = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(|f| format!("{f}/")));
        let files = listing
            .objects
            .iter()
            .filter_map(|o| o.location.filename().map(str::to_string));
        let mut names: Vec<String> = folders.chain(files).collect();
        names.sort();
        names.truncate(limit);
        Ok(names)
    }

    /// Names of the SQL functions queries can call (scalar, aggregate, window), sorted, for completion.
    pub fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .state
            .scalar_functions()
            .keys()
            .chain(self.state.aggregate_functions().keys())
            .chain(self.state.window_functions().keys())
            .filter(|name| name.as_str() != crate::deep::CHAIN_NAME)
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The flag that stops the running statement (shared by the session's clones). Queries stop at their next read;
    /// writes at their next batch, removing what they wrote. Each statement clears it when it starts.
    pub fn interrupt_handle(&self) -> Arc<Interrupt> {
        Arc::clone(&self.interrupt)
    }

    /// Runs one statement (see [`crate::split_statements`] for scripts).
    pub async fn execute(&mut self, sql: &str) -> Result<QueryResult> {
        let (Some(stack), Ok(runtime)) = (
            crate::deep::planning_stack(sql.len()),
            tokio::runtime::Handle::try_current(),
        ) else {
            return self.execute_here(sql).await;
        };
        // A long statement may be a deep one: it is parsed and planned on a thread with a stack to match (deep.rs),
        // by a clone of this session that comes back with what the statement changed (USE, SET).
        let mut session = self.clone();
        let sql = sql.to_string();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("tarn-planner".into())
            .stack_size(stack)
            .spawn(move || {
                let result = runtime.block_on(session.execute_here(&sql));
                let _ = sender.send((session, result));
            })
            .map_err(|e| EngineError::Query(format!("cannot start a thread to plan a long statement: {e}")))?;
        let (session, result) = receiver
            .await
            .map_err(|_| EngineError::Query("the thread planning the statement stopped".into()))?;
        *self = session;
        result
    }

    /// [`Session::execute`] on the caller's stack; errors that depend on the session's settings say them.
    async fn execute_here(&mut self, sql: &str) -> Result<QueryResult> {
        self.execute_statement(sql).await.map_err(|e| match e {
            EngineError::OutOfMemory { limit: None, detail } => EngineError::OutOfMemory {
                limit: Some(self.memory_limit as u64),
                detail,
            },
            other => other,
        })
    }

    async fn execute_statement(&mut self, sql: &str) -> Result<QueryResult> {
        let started = Instant::now();
        self.interrupt.clear();
        let totals = Arc::clone(&self.totals);
        match parse_command(sql)? {
            Command::DataFusion(statement) => self.run_query(*statement, started).await,
            Command::Check { name, query } => self.check(name, &query, started).await,
            Command::CreateDatabase {
                name,
                if_not_exists,
                comment,
                location,
                properties,
            } => {
                let mut db = Database::new(&name)?;
                db.description = comment;
                db.location_uri = location.map(|l| Location::parse(&l).map(|l| l.url)).transpose()?;
                db.parameters = properties.into_iter().collect();
                let message = match self.catalog.create_database(db).await {
                    Ok(db) => format!("created database {}", db.name),
                    Err(CatalogError::DatabaseExists { name }) if if_not_exists => {
                        format!("database {name} already exists; nothing changed")
                    }
                    Err(e) => return Err(e.into()),
                };
                Ok(QueryResult::command(message, started, totals))
            }
            Command::DropDatabase {
                name,
                if_exists,
                cascade,
            } => {
                let message = match self.catalog.drop_database(&name, cascade).await {
                    Ok(tables) if tables.is_empty() => format!("dropped database {name}"),
                    Ok(tables) => format!(
                        "dropped database {name} and its {} table(s); their data files were not touched",
                        tables.len()
                    ),
                    Err(CatalogError::DatabaseNotFound { .. }) if if_exists => {
                        format!("database {name} does not exist; nothing dropped")
                    }
                    Err(CatalogError::DatabaseNotFound { name }) => return Err(self.database_not_found(&name).await),
                    Err(e) => return Err(e.into()),
                };
                if self.database == name {
                    self.set_database(DEFAULT_DATABASE);
                }
                Ok(QueryResult::command(message, started, totals))
            }
            Command::ShowDatabases { pattern } => {
                let matcher = pattern.as_deref().map(athena_pattern).transpose()?;
                let names: Vec<String> = self
                    .catalog
                    .list_databases()
                    .await?
                    .into_iter()
                    .map(|d| d.name)
                    .filter(|n| matcher.as_ref().is_none_or(|m| m.is_match(n)))
                    .collect();
                Ok(QueryResult::listing(
                    string_schema(&["database_name"]),
                    string_batch(&["database_name"], vec![names])?,
                    started,
                    totals,
                ))
            }
            Command::ShowTables { database, pattern } => {
                let db = database.unwrap_or_else(|| self.database.clone());
                if self.catalog.get_database(&db).await?.is_none() {
                    return Err(self.database_not_found(&db).await);
                }
                let matcher = pattern.as_deref().map(athena_pattern).transpose()?;
                let (tables, unreadable) = self.catalog.list_tables_lenient(&db).await?;
                let names: Vec<String> = tables
                    .into_iter()
                    .map(|t| t.name)
                    .filter(|n| matcher.as_ref().is_none_or(|m| m.is_match(n)))
                    .collect();
                let mut result = QueryResult::listing(
                    string_schema(&["tab_name"]),
                    string_batch(&["tab_name"], vec![names])?,
                    started,
                    totals,
                );
                result.notices = unreadable.iter().map(|e| format!("not listed: {e}")).collect();
                Ok(result)
            }
            Command::Use { database } => {
                self.use_database(&database).await?;
                Ok(QueryResult::command(
                    format!("using database {database}"),
                    started,
                    totals,
                ))
            }
            Command::Describe { table } => {
                let def = Box::pin(self.described_table(&table)).await?;
                let (schema, batches) = describe(&def)?;
                Ok(QueryResult::listing(schema, batches, started, totals))
            }
            Command::CreateExternalTable(create) if crate::external_table::is_delta_ddl(&create) => {
                let location = create.location.clone().ok_or_else(|| {
                    EngineError::InvalidDdl("LOCATION is missing: give the folder that holds _delta_log/".into())
                })?;
                if !create.columns.is_empty() || !create.partitioned_by.is_empty() {
                    return Err(EngineError::InvalidDdl(
                        "a Delta table's columns and partitions come from its log: remove the column list and \
                         PARTITIONED BY"
                            .into(),
                    ));
                }
                Box::pin(self.register_delta(create.name, &location, create.if_not_exists, create.comment, started))
                    .await
            }
            Command::CreateExternalTableDataFusion(create)
                if matches!(create.file_type.to_ascii_uppercase().as_str(), "DELTA" | "DELTATABLE") =>
            {
                let name = crate::sql::qualified_name(&create.name)?;
                let [location] = create.locations.as_slice() else {
                    return Err(EngineError::InvalidDdl("give exactly one LOCATION".into()));
                };
                if !create.columns.is_empty() {
                    return Err(EngineError::InvalidDdl(
                        "a Delta table's columns come from its log: remove the column list".into(),
                    ));
                }
                Box::pin(self.register_delta(name, location, create.if_not_exists, None, started)).await
            }
            Command::CreateExternalTable(create) => {
                let (table, if_not_exists, discover) = self.athena_table(*create)?;
                self.create_table(table, if_not_exists, discover, started).await
            }
            Command::CreateExternalTableDataFusion(create) => {
                let (table, if_not_exists, discover) = self.datafusion_table(*create)?;
                self.create_table(table, if_not_exists, discover, started).await
            }
            Command::DropTable {
                table,
                if_exists,
                purge,
            } => {
                let db = table.database.clone().unwrap_or_else(|| self.database.clone());
                if purge {
                    return self.drop_table_purge(&db, &table.name, if_exists, started).await;
                }
                if let Some(view) = self.catalog.get_table(&db, &table.name).await?.filter(Table::is_view) {
                    return Err(EngineError::InvalidDdl(format!(
                        "{} is a view; use DROP VIEW",
                        view.qualified_name()
                    )));
                }
                let message = match self.catalog.drop_table(&db, &table.name).await {
                    Ok(t) => format!(
                        "dropped table {}; its files at {} were not touched",
                        t.qualified_name(),
                        t.storage.location
                    ),
                    Err(CatalogError::TableNotFound { .. }) if if_exists => {
                        format!("table {db}.{} does not exist; nothing dropped", table.name)
                    }
                    Err(CatalogError::TableNotFound { .. }) => {
                        return Err(self.table_not_found(&db, &table.name).await);
                    }
                    Err(e) => return Err(e.into()),
                };
                Ok(QueryResult::command(message, started, totals))
            }
            Command::Set { key, value } => {
                let message = self.set(&key, &value)?;
                Ok(QueryResult::command(message, started, totals))
            }
            Command::CreateTableAs(ctas) => self.create_table_as(*ctas, started).await,
            Command::InsertInto(insert) => self.insert_into(*insert, started).await,
            Command::Unload(unload) => self.unload(*unload, started).await,
            // Boxed: delta-rs' futures are large, and a debug build would otherwise run out of stack.
            Command::DeltaDml { sql } => Box::pin(self.delta_dml(&sql, started)).await,
            Command::Optimize { table, filters, zorder } => {
                Box::pin(self.optimize(&table, &filters, zorder, started)).await
            }
            Command::Vacuum {
                table,
                retain_hours,
                dry_run,
            } => Box::pin(self.vacuum(&table, retain_hours, dry_run, started)).await,
            Command::History { table } => Box::pin(self.history(&table, started)).await,
            Command::RepairTable { table } => self.repair_table(&table, started).await,
            Command::AddPartitions {
                table,
                if_not_exists,
                partitions,
            } => self.add_partitions(&table, if_not_exists, partitions, started).await,
            Command::DropPartitions {
                table,
                if_exists,
                partitions,
            } => self.drop_partitions(&table, if_exists, partitions, started).await,
            Command::ShowPartitions { table } => self.show_partitions(&table, started).await,
            Command::SetTableProperties { table, properties } => {
                self.set_table_properties(&table, properties, started).await
            }
            Command::AddColumns { table, columns } => self.add_columns(&table, columns, started).await,
            Command::ShowColumns { table } => Box::pin(self.show_columns(&table, started)).await,
            Command::ShowTableProperties { table, name } => self.show_table_properties(&table, name, started).await,
            Command::ShowTableVersions { table } => self.show_table_versions(&table, started).await,
            Command::DescribeFormatted { table } => Box::pin(self.describe_formatted(&table, started)).await,
            Command::CreateView {
                name,
                or_replace,
                query,
            } => self.create_view(&name, or_replace, &query, started).await,
            Command::DropView { name, if_exists } => self.drop_view(&name, if_exists, started).await,
            Command::ShowViews { database, pattern } => self.show_views(database, pattern.as_deref(), started).await,
            Command::ShowCreateView { name } => self.show_create_view(&name, started).await,
            Command::Crawl {
                url,
                database,
                table,
                delete_missing,
                dry_run,
            } => {
                let options = crate::CrawlOptions {
                    database: database.unwrap_or_else(|| self.database.clone()),
                    table,
                    dry_run,
                    delete_missing,
                };
                let report = Box::pin(self.crawl(&url, options)).await?;
                crate::crawl::report_result(&report, started, totals)
            }
            Command::ShowCreateTable { table } => {
                let def = self.table(&table).await?;
                let ddl = match (&def.view_text, def.is_view()) {
                    (Some(text), true) => crate::views::view_ddl(&def, text),
                    _ => crate::write::statements::show_create_table(&def),
                };
                let lines: Vec<String> = ddl.lines().map(str::to_string).collect();
                Ok(QueryResult::listing(
                    string_schema(&["createtab_stmt"]),
                    string_batch(&["createtab_stmt"], vec![lines])?,
                    started,
                    totals,
                ))
            }
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<String> {
        let lower = key.to_ascii_lowercase();
        if lower == MAX_SCAN_SETTING {
            if matches!(value.trim().to_ascii_lowercase().as_str(), "off" | "none" | "unlimited") {
                self.max_scan = None;
                return Ok("scan limit removed".into());
            }
            let limit = parse_size(value).map_err(EngineError::InvalidDdl)?;
            self.max_scan = Some(limit);
            return Ok(format!("scan limit set to {}", crate::meter::format_bytes(limit)));
        }
        let flag = || match value.trim().to_ascii_lowercase().as_str() {
            "true" | "on" => Ok(true),
            "false" | "off" => Ok(false),
            other => Err(EngineError::InvalidDdl(format!(
                "{key} is true or false, not '{other}'"
            ))),
        };
        if lower == crate::delta::RETENTION_CHECK_SETTING {
            self.delta_retention_check = flag()?;
            return Ok(format!("{lower} = {}", self.delta_retention_check));
        }
        if lower == TEXT_STRICT_SETTING {
            self.text_strict = flag()?;
            return Ok(format!("{lower} = {}", self.text_strict));
        }
        if lower == MEMORY_LIMIT_SETTING || lower == DATAFUSION_MEMORY_LIMIT {
            let limit = parse_size(value).map_err(EngineError::InvalidDdl)?;
            let limit = usize::try_from(limit).map_err(|_| EngineError::InvalidDdl(format!("{value} is too large")))?;
            self.set_memory_limit(limit)?;
            return Ok(format!(
                "memory limit set to {}",
                crate::meter::format_bytes(limit as u64)
            ));
        }
        if lower.starts_with("tarn.") {
            return Err(EngineError::InvalidDdl(format!(
                "unknown setting '{key}'; tarn's settings: {MAX_SCAN_SETTING}, {MEMORY_LIMIT_SETTING}, \
                 {TEXT_STRICT_SETTING}, {}",
                crate::delta::RETENTION_CHECK_SETTING
            )));
        }
        self.state
            .config_mut()
            .options_mut()
            .set(key, value)
            .map_err(|e| EngineError::InvalidDdl(e.strip_backtrace()))?;
        Ok(format!("{key} = {value}"))
    }

    /// Gives queries from now on a memory pool of `limit` bytes.
    fn set_memory_limit(&mut self, limit: usize) -> Result<()> {
        let mut runtime = (**self.state.runtime_env()).clone();
        runtime.memory_pool = Arc::new(FairSpillPool::new(limit));
        self.state = SessionStateBuilder::new_from_existing(self.state.clone())
            .with_runtime_env(Arc::new(runtime))
            .build();
        self.memory_limit = limit;
        Ok(())
    }

    async fn use_database(&mut self, database: &str) -> Result<()> {
        let name = tarn_catalog::normalize_name("database", database)?;
        if self.catalog.get_database(&name).await?.is_none() {
            return Err(self.database_not_found(&name).await);
        }
        self.set_database(&name);
        Ok(())
    }

    fn set_database(&mut self, name: &str) {
        self.database = name.to_string();
        self.state.config_mut().options_mut().catalog.default_schema = name.to_string();
    }

    /// Loads a table named in a statement, with a suggestion when it does not exist.
    pub(crate) async fn table(&self, name: &QualifiedName) -> Result<Table> {
        self.table_in(&self.database, name).await
    }

    /// Loads a table named in a statement whose unqualified names refer to `default_db` (a view's body).
    pub(crate) async fn table_in(&self, default_db: &str, name: &QualifiedName) -> Result<Table> {
        let db = name.database.clone().unwrap_or_else(|| default_db.to_string());
        match self.catalog.get_table(&db, &name.name).await {
            Ok(Some(table)) => Ok(table),
            Ok(None) | Err(CatalogError::InvalidName { .. }) => Err(self.table_not_found(&db, &name.name).await),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn database_not_found(&self, name: &str) -> EngineError {
        let names: Vec<String> = self
            .catalog
            .list_databases()
            .await
            .map(|dbs| dbs.into_iter().map(|d| d.name).collect())
            .unwrap_or_default();
        EngineError::DatabaseNotFound {
            name: name.to_string(),
            suggestion: closest(name, &names),
        }
    }

    pub(crate) async fn table_not_found(&self, db: &str, name: &str) -> EngineError {
        match self.catalog.get_database(db).await {
            Ok(Some(_)) => {}
            _ => return self.database_not_found(db).await,
        }
        let candidates: Vec<String> = self.catalog.list_table_names(db).await.unwrap_or_default();
        let suggestion = match closest(name, &candidates) {
            Some(t) => Some(format!("{db}.{t}")),
            // The same name in another database is the likeliest mix-up.
            None => {
                let mut found = None;
                if let Ok(dbs) = self.catalog.list_databases().await {
                    for other in dbs.into_iter().filter(|d| d.name != db) {
                        if let Ok(Some(_)) = self.catalog.get_table(&other.name, name).await {
                            found = Some(format!("{}.{name}", other.name));
                            break;
                        }
                    }
                }
                found
            }
        };
        EngineError::TableNotFound {
            name: format!("{db}.{name}"),
            suggestion,
        }
    }

    // ------------------------------------------------------------------ queries

    /// A session state over a snapshot of the tables `references` names, with a runtime whose stores feed a new meter.
    pub(crate) async fn metered_state(
        &self,
        references: Vec<TableReference>,
    ) -> Result<(SessionState, Arc<ScanMeter>, Vec<Location>)> {
        let (snapshot, locations) = self.snapshot(references).await?;
        let meter = Arc::new(
            ScanMeter::interruptible(self.max_scan, Arc::clone(&self.interrupt))
                .with_strict_text(self.text_strict)
                .with_memory_limit(self.memory_limit as u64),
        );
        let mut runtime = (**self.state.runtime_env()).clone();
        runtime.object_store_registry = Arc::new(MeteredRegistry::new(
            Arc::clone(&self.registry) as _,
            Arc::clone(&meter),
        ));
        // Scans find the meter here, to count the text values they read as NULL.
        let config = self.state.config().clone().with_extension(Arc::clone(&meter));
        let state = SessionStateBuilder::new_from_existing(self.state.clone())
            .with_config(config)
            .with_runtime_env(Arc::new(runtime))
            .with_catalog_list(snapshot)
            .build();
        Ok((state, meter, locations))
    }

    /// Plans a DataFusion statement against a snapshot of the catalog, with a runtime whose stores feed a new meter.
    pub(crate) async fn prepare_query(&self, statement: DFStatement) -> Result<PreparedQuery> {
        let references = self
            .state
            .resolve_table_references(&statement)
            .map_err(from_datafusion)?;
        let (mut state, meter, locations) = self.metered_state(references).await?;
        // `now()`, `current_date` and `current_timestamp` read the query's start time from here.
        state.mark_start_execution();
        let plan = state.statement_to_plan(statement).await.map_err(from_datafusion)?;
        let plan = unqualified_output_names(plan)?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| EngineError::Unsupported {
                what: from_datafusion(e).to_string(),
                hint: Some("tarn runs DDL itself; see the README for the statements it supports".into()),
            })?;
        Ok(PreparedQuery {
            state,
            plan,
            meter,
            locations,
        })
    }

    /// `DROP TABLE t PURGE`: only for tables tarn created (CTAS), and only the files tarn's writes made are deleted,
    /// after the catalog entry is gone; anything else in the folder stays and is named.
    async fn drop_table_purge(
        &mut self,
        db: &str,
        name: &str,
        if_exists: bool,
        started: Instant,
    ) -> Result<QueryResult> {
        let totals = Arc::clone(&self.totals);
        let Some(table) = self.catalog.get_table(db, name).await? else {
            if if_exists {
                return Ok(QueryResult::command(
                    format!("table {db}.{name} does not exist; nothing dropped"),
                    started,
                    totals,
                ));
            }
            return Err(self.table_not_found(db, name).await);
        };
        if !table
            .parameters
            .contains_key(crate::write::statements::QUERY_ID_PARAMETER)
        {
            return Err(EngineError::unsupported(
                format!("DROP TABLE {db}.{name} PURGE"),
                "tarn deletes only files it wrote, and this table was registered over existing files; DROP TABLE \
                 without PURGE removes the entry and keeps the data",
            ));
        }
        let location = Location::parse(&table.storage.location)?;
        let store = self.registry.store_for(&location)?;
        self.catalog.drop_table(db, name).await?;
        let (deleted, kept) = if crate::delta::is_delta(&table) {
            crate::delta::purge_delta_files(store.as_ref(), &location).await?
        } else {
            crate::write::commit::purge_written_files(store.as_ref(), &location).await?
        };
        // A table in a folder of its own under the warehouse: the table's folder also holds what killed runs of its
        // CTAS left, recorded there.
        let root = Location::parse(&format!("{}{db}.db/{name}/", self.warehouse.url))?;
        let own_folder = table
            .parameters
            .get(crate::write::statements::QUERY_ID_PARAMETER)
            .is_some_and(|id| location.url == format!("{}{id}/", root.url));
        if own_folder {
            self.recover(&store, &root).await?;
            crate::write::commit::remove_if_empty(&root, &location);
        }
        let mut message = format!(
            "dropped table {db}.{name} and deleted the {deleted} file{} tarn wrote at {}",
            if deleted == 1 { "" } else { "s" },
            location.url
        );
        if !kept.is_empty() {
            message.push_str(&format!(
                "; kept {} file{} tarn did not write (e.g. {})",
                kept.len(),
                if kept.len() == 1 { "" } else { "s" },
                kept[0]
            ));
        }
        Ok(QueryResult::command(message, started, totals))
    }

    /// `CHECK 'name' AS query`: passes when the query returns a single `true`, or, for any other shape, no rows (the
    /// rows it returns are the ones that break the rule). Billed like the query.
    async fn check(&mut self, name: String, query: &str, started: Instant) -> Result<QueryResult> {
        let PreparedQuery {
            state,
            plan,
            meter,
            locations,
        } = self.prepare_query(parse_datafusion_statement(query)?).await?;
        let batches = DataFrame::new(state, plan)
            .collect()
            .await
            .map_err(|e| query_error(e, Some(&meter), &locations))?;
        match crate::result::check_verdict(&batches) {
            Ok(()) => Ok(QueryResult::write(
                format!("check '{name}' passed"),
                0,
                meter,
                started,
                Arc::clone(&self.totals),
            )),
            Err(detail) => Err(EngineError::CheckFailed { name, detail }),
        }
    }

    async fn run_query(&mut self, statement: DFStatement, started: Instant) -> Result<QueryResult> {
        let PreparedQuery {
            state,
            plan,
            meter,
            locations,
        } = self.prepare_query(statement).await?;
        // EXPLAIN only plans, and Athena does not bill it; EXPLAIN ANALYZE runs the query and is billed.
        let billed = !matches!(&plan, LogicalPlan::Explain(_));
        let frame = DataFrame::new(state, plan);
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let task = Arc::new(frame.task_ctx());
        let physical = frame
            .create_physical_plan()
            .await
            .map_err(|e| query_error(e, Some(&meter), &locations))?;
        let stream =
            execute_stream(Arc::clone(&physical), task).map_err(|e| query_error(e, Some(&meter), &locations))?;
        Ok(QueryResult {
            kind: ResultKind::Query,
            schema,
            rows: Rows::Stream(stream),
            meter: Some(meter),
            plan: Some(physical),
            locations,
            billed,
            message: None,
            notices: Vec::new(),
            started,
            row_count: 0,
            finished: None,
            totals: Arc::clone(&self.totals),
        })
    }

    /// The catalog as one query sees it: exactly the tables it names, loaded now.
    async fn snapshot(&self, references: Vec<TableReference>) -> Result<(Arc<dyn CatalogProviderList>, Vec<Location>)> {
        self.snapshot_in(&self.database, references, &[]).await
    }

    /// [`Session::snapshot`] for a statement whose unqualified names refer to `default_db`; `views` are the views
    /// being expanded around it (a view may not reach itself).
    pub(crate) async fn snapshot_in(
        &self,
        default_db: &str,
        references: Vec<TableReference>,
        views: &[String],
    ) -> Result<(Arc<dyn CatalogProviderList>, Vec<Location>)> {
        let mut schemas: HashMap<String, HashMap<String, Arc<dyn TableProvider>>> = HashMap::new();
        let mut locations = Vec::new();
        for reference in references {
            let (catalog, database, table) = match &reference {
                TableReference::Bare { table } => (None, None, table.to_string()),
                TableReference::Partial { schema, table } => (None, Some(schema.to_string()), table.to_string()),
                TableReference::Full { catalog, schema, table } => {
                    (Some(catalog.to_string()), Some(schema.to_string()), table.to_string())
                }
            };
            if let Some(catalog) = catalog
                && catalog != CATALOG_NAME
            {
                return Err(EngineError::Query(format!(
                    "catalog '{catalog}' does not exist; tarn has one catalog, {CATALOG_NAME}"
                )));
            }
            let reference_name = table.to_lowercase();
            let (base, as_of) = crate::delta::AsOf::split(&reference_name)?;
            let name = QualifiedName {
                database: database.map(|d| d.to_lowercase()),
                name: base.to_string(),
            };
            let def = match self.table_in(default_db, &name).await {
                Ok(def) => def,
                // `FROM range(10)`: DataFusion lists table functions among the references; it plans them itself.
                Err(EngineError::TableNotFound { .. })
                    if name.database.is_none() && self.state.table_functions().contains_key(&name.name) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            let db = def.database.clone();
            if def.is_view() {
                if as_of != crate::delta::AsOf::Latest {
                    return Err(EngineError::InvalidDdl(format!(
                        "{} is a view; FOR VERSION/TIMESTAMP AS OF applies to Delta tables",
                        def.qualified_name()
                    )));
                }
                let (provider, view_locations) = self.view_provider(&def, views).await?;
                locations.extend(view_locations);
                schemas.entry(db).or_default().insert(reference_name, provider);
                continue;
            }
            locations.push(Location::parse(&def.storage.location)?);
            let provider: Arc<dyn TableProvider> = if crate::delta::is_delta(&def) {
                Box::pin(self.delta_provider(&def, as_of)).await?
            } else if as_of != crate::delta::AsOf::Latest {
                return Err(crate::delta::not_delta(
                    "FOR VERSION/TIMESTAMP AS OF",
                    &def,
                    "only Delta tables keep older versions; CTAS a copy WITH (table_type = 'DELTA') to get them",
                ));
            } else if def.partition_keys.is_empty() {
                Arc::new(TarnTable::try_new(def)?)
            } else {
                let partitions = self.catalog.partitions(&def).await?.partitions;
                Arc::new(TarnTable::try_new(def)?.with_partitions(partitions)?)
            };
            schemas.entry(db).or_default().insert(reference_name, provider);
        }
        let list = SnapshotCatalogList {
            catalog: Arc::new(SnapshotCatalog {
                schemas: schemas
                    .into_iter()
                    .map(|(db, tables)| (db, Arc::new(SnapshotSchema { tables }) as Arc<dyn SchemaProvider>))
                    .collect(),
            }),
        };
        Ok((Arc::new(list), locations))
    }

    // ------------------------------------------------------------------ CREATE EXTERNAL TABLE
}

/// Athena names an unaliased `count(HouseholdID)` column `count(householdid)`-like text without table names;
/// DataFusion writes `count(db.table.householdid)`. Drop the table qualifiers from output names when the names stay
/// unique (a final aliasing projection; the query itself is unchanged).
pub(crate) fn unqualified_output_names(plan: LogicalPlan) -> Result<LogicalPlan> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::{LogicalPlanBuilder, col};
    if matches!(
        plan,
        LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::DescribeTable(_)
    ) {
        return Ok(plan);
    }
    let mut qualifiers: Vec<String> = Vec::new();
    plan.apply(|node| {
        match node {
            LogicalPlan::TableScan(scan) => {
                qualifiers.push(scan.table_name.to_string());
                qualifiers.push(scan.table_name.table().to_string());
            }
            LogicalPlan::SubqueryAlias(alias) => qualifiers.push(alias.alias.to_string()),
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    qualifiers.sort_by_key(|q| std::cmp::Reverse(q.len()));
    qualifiers.dedup();
    let names: Vec<String> = plan
        .schema()
        .fields()
        .iter()
        .map(|f| {
            qualifiers
                .iter()
                .fold(f.name().clone(), |name, q| name.replace(&format!("{q}."), ""))
        })
        .collect();
    let mut names = names;
    // Expressions after a `*` are named here: the parser's rewrite cannot know their positions.
    for (i, unnamed) in unnamed_expressions(&plan).into_iter().enumerate() {
        if unnamed {
            names[i] = format!("_col{i}");
        }
    }
    let changed = names.iter().zip(plan.schema().fields()).any(|(n, f)| n != f.name());
    let unique = names.iter().collect::<std::collections::HashSet<_>>().len() == names.len();
    if !changed || !unique {
        return Ok(plan);
    }
    let exprs: Vec<_> = plan
        .schema()
        .iter()
        .zip(names)
        .map(|((qualifier, field), name)| {
            col(datafusion::common::Column::new(qualifier.cloned(), field.name())).alias(name)
        })
        .collect();
    Ok(LogicalPlanBuilder::from(plan).project(exprs)?.build()?)
}

/// Which output columns of `plan` are neither a column nor aliased (Athena names them `_col<position>`).
fn unnamed_expressions(plan: &LogicalPlan) -> Vec<bool> {
    let mut node = plan;
    loop {
        match node {
            LogicalPlan::Sort(s) => node = s.input.as_ref(),
            LogicalPlan::Limit(l) => node = l.input.as_ref(),
            LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(input)) => node = input.as_ref(),
            LogicalPlan::Projection(p) if p.expr.len() == plan.schema().fields().len() => {
                return p
                    .expr
                    .iter()
                    .map(|e| {
                        !matches!(
                            e,
                            datafusion::logical_expr::Expr::Column(_) | datafusion::logical_expr::Expr::Alias(_)
                        )
                    })
                    .collect();
            }
            _ => return Vec::new(),
        }
    }
}

/// Athena's SHOW patterns: `*` is any run of characters, `|` separates alternatives, matching is case-insensitive.
pub(crate) fn athena_pattern(pattern: &str) -> Result<regex::Regex> {
    let alternatives: Vec<String> = pattern
        .split('|')
        .map(|alt| {
            alt.replace(".*", "*")
                .split('*')
                .map(regex::escape)
                .collect::<Vec<_>>()
                .join(".*")
        })
        .collect();
    regex::Regex::new(&format!("(?i)^(?:{})$", alternatives.join("|")))
        .map_err(|e| EngineError::InvalidDdl(format!("bad pattern '{pattern}': {e}")))
}

fn closest(name: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::normalized_damerau_levenshtein(name, c), c))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.clone())
}

pub(crate) fn string_schema(names: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

pub(crate) fn string_batch(names: &[&str], columns: Vec<Vec<String>>) -> Result<Vec<RecordBatch>> {
    let arrays = columns
        .into_iter()
        .map(|values| Arc::new(StringArray::from(values)) as _)
        .collect();
    let batch = RecordBatch::try_new(string_schema(names), arrays).map_err(|e| EngineError::Query(e.to_string()))?;
    Ok(vec![batch])
}

/// `DESCRIBE`: the columns, then the partition block as Athena (Hive) prints it.
fn describe(table: &Table) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    describe_listing(describe_rows(table))
}

/// `DESCRIBE`'s rows (DESCRIBE FORMATTED adds its blocks after them).
pub(crate) fn describe_rows(table: &Table) -> Vec<[String; 3]> {
    let row = |c: &tarn_catalog::Column| {
        [
            c.name.clone(),
            c.data_type.clone(),
            c.comment.clone().unwrap_or_default(),
        ]
    };
    let mut rows: Vec<[String; 3]> = table.storage.columns.iter().map(row).collect();
    if !table.partition_keys.is_empty() {
        rows.push(Default::default());
        rows.push(["# Partition Information".into(), String::new(), String::new()]);
        rows.push(["# col_name".into(), "data_type".into(), "comment".into()]);
        rows.push(Default::default());
        rows.extend(table.partition_keys.iter().map(row));
    }
    rows
}

/// Rows of `col_name`, `data_type`, `comment` as a listing.
pub(crate) fn describe_listing(rows: Vec<[String; 3]>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let names = ["col_name", "data_type", "comment"];
    let columns = (0..3).map(|i| rows.iter().map(|r| r[i].clone()).collect()).collect();
    Ok((string_schema(&names), string_batch(&names, columns)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_patterns_follow_athena() -> Result<()> {
        let p = athena_pattern("consumer*|orders")?;
        assert!(p.is_match("consumer_raw") && p.is_match("ORDERS") && !p.is_match("orders_old"));
        assert!(athena_pattern(".*raw")?.is_match("consumer_raw"));
        assert!(athena_pattern("a.b")?.is_match("a.b") && !athena_pattern("a.b")?.is_match("axb"));
        Ok(())
    }

    #[test]
    fn suggestions_pick_near_names() {
        let names = vec!["consumer_raw".to_string(), "orders".to_string()];
        assert_eq!(closest("consumer_rwa", &names).as_deref(), Some("consumer_raw"));
        assert_eq!(closest("zzz", &names), None);
    }
}
