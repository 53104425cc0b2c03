//! A tarn session: the catalog, the current database, settings, and the statement router.
//!
//! Statements that change or describe the catalog are executed here; queries go to DataFusion with a per-query
//! snapshot of the catalog tables they name and a per-query runtime whose object stores feed that query's meter.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider};
use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::TableProvider;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanVisitor, accept, execute_stream};
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::Statement as DFStatement;
use futures::StreamExt;
use tarn_catalog::{
    Bucketing, CatalogError, Column, DEFAULT_DATABASE, Database, SerdeInfo, StorageFormat, Table, params, serde_lib,
    serde_params,
};

use crate::error::{EngineError, Result, from_datafusion};
use crate::infer::infer_columns;
use crate::listing::list_files;
use crate::meter::{Bill, MeteredRegistry, ScanMeter, parse_size};
use crate::sql::{Command, CreateExternalTable, QualifiedName, RowFormat, StoredAs, parse_command};
use crate::storage::{AwsSettings, Location, StoreRegistry};
use crate::table::{TarnTable, decode_delimiter};
use crate::text_source::Codec;
use crate::types::{arrow_to_hive, hive_to_arrow};
use crate::write::WriteProgress;
use datafusion::execution::memory_pool::FairSpillPool;

/// Athena's name for the Glue catalog; `awsdatacatalog.db.table` works as in Athena.
pub const CATALOG_NAME: &str = "awsdatacatalog";
/// The setting that caps bytes scanned per query.
pub const MAX_SCAN_SETTING: &str = "tarn.max_scan";

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

/// Bytes and dollars of every query a session ran.
#[derive(Debug, Default)]
pub struct SessionTotals {
    queries: AtomicU64,
    bytes_scanned: AtomicU64,
    billed_bytes: AtomicU64,
}

impl SessionTotals {
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }
    pub fn bytes_scanned(&self) -> u64 {
        self.bytes_scanned.load(Ordering::Relaxed)
    }
    pub fn dollars(&self) -> f64 {
        self.billed_bytes.load(Ordering::Relaxed) as f64 / crate::meter::TB as f64 * crate::meter::DOLLARS_PER_TB
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// A query: rows, billed by bytes scanned.
    Query,
    /// A catalog listing (SHOW, DESCRIBE): rows, free.
    Listing,
    /// A statement that changed something and reports it in a message (DDL, USE, SET): free.
    Command,
    /// CTAS, INSERT, UNLOAD: a message about what was written, billed for the data its query scanned.
    Write,
}

/// The figures of one statement.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryStats {
    pub rows: u64,
    pub elapsed: Duration,
    /// Bytes fetched from storage (GETs), as Athena's "data scanned".
    pub bytes_scanned: u64,
    /// GET requests made.
    pub requests: u64,
    /// What Athena would bill; `None` for free statements (DDL, SHOW, EXPLAIN).
    pub bill: Option<Bill>,
}

enum Rows {
    Stream(SendableRecordBatchStream),
    Batches(VecDeque<RecordBatch>),
}

/// The outcome of a statement: a stream of rows (possibly none), a message, and, once drained, its figures.
pub struct QueryResult {
    kind: ResultKind,
    schema: SchemaRef,
    rows: Rows,
    meter: Option<Arc<ScanMeter>>,
    /// The executed plan, for its metrics.
    plan: Option<Arc<dyn ExecutionPlan>>,
    /// Locations of the tables the query reads, to name files in errors.
    locations: Vec<Location>,
    billed: bool,
    message: Option<String>,
    notices: Vec<String>,
    started: Instant,
    row_count: u64,
    finished: Option<Duration>,
    totals: Arc<SessionTotals>,
}

impl std::fmt::Debug for QueryResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryResult")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .finish()
    }
}

impl QueryResult {
    pub(crate) fn listing(
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        started: Instant,
        totals: Arc<SessionTotals>,
    ) -> Self {
        Self {
            kind: ResultKind::Listing,
            schema,
            rows: Rows::Batches(batches.into()),
            meter: None,
            plan: None,
            locations: Vec::new(),
            billed: false,
            message: None,
            notices: Vec::new(),
            started,
            row_count: 0,
            finished: None,
            totals,
        }
    }

    pub(crate) fn command(message: String, started: Instant, totals: Arc<SessionTotals>) -> Self {
        Self {
            kind: ResultKind::Command,
            message: Some(message),
            ..Self::listing(Arc::new(Schema::empty()), Vec::new(), started, totals)
        }
    }

    /// A finished write: `rows` rows written; billed by `meter` like the query that produced them.
    pub(crate) fn write(
        message: String,
        rows: u64,
        meter: Arc<ScanMeter>,
        started: Instant,
        totals: Arc<SessionTotals>,
    ) -> Self {
        let mut result = Self {
            kind: ResultKind::Write,
            message: Some(message),
            meter: Some(meter),
            billed: true,
            ..Self::listing(Arc::new(Schema::empty()), Vec::new(), started, totals)
        };
        result.row_count = rows;
        result.finish();
        result
    }

    pub(crate) fn with_notices(mut self, notices: Vec<String>) -> Self {
        self.notices = notices;
        self
    }

    pub fn kind(&self) -> ResultKind {
        self.kind
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// What a command did ("created table db.t").
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Warnings worth showing (e.g. a LOCATION with no files yet).
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// The next batch of rows; `None` at the end, after which [`Self::stats`] is final.
    pub async fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        let next = match &mut self.rows {
            Rows::Batches(batches) => batches.pop_front().map(Ok),
            Rows::Stream(stream) => stream.next().await.map(|r| r.map_err(|e| self.map_error(e))),
        };
        match &next {
            Some(Ok(batch)) => self.row_count += batch.num_rows() as u64,
            Some(Err(_)) | None => self.finish(),
        }
        next
    }

    /// Drains the rows into memory.
    pub async fn collect(mut self) -> Result<(Vec<RecordBatch>, QueryStats)> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next_batch().await {
            batches.push(batch?);
        }
        let stats = self.stats();
        Ok((batches, stats))
    }

    fn map_error(&self, e: datafusion::error::DataFusionError) -> EngineError {
        query_error(e, self.meter.as_deref(), &self.locations)
    }

    fn finish(&mut self) {
        if self.finished.is_some() {
            return;
        }
        self.finished = Some(self.started.elapsed());
        if let (Some(meter), true) = (&self.meter, self.billed) {
            self.totals.queries.fetch_add(1, Ordering::Relaxed);
            self.totals.bytes_scanned.fetch_add(meter.bytes(), Ordering::Relaxed);
            self.totals
                .billed_bytes
                .fetch_add(Bill::for_scan(meter.bytes()).billed_bytes, Ordering::Relaxed);
        }
    }

    /// The sum of a DataFusion metric (e.g. `bytes_scanned`, `row_groups_pruned_statistics`) over the executed plan.
    pub fn metric(&self, name: &str) -> Option<usize> {
        struct Sum<'a> {
            name: &'a str,
            total: Option<usize>,
        }
        impl ExecutionPlanVisitor for Sum<'_> {
            type Error = std::convert::Infallible;
            fn pre_visit(&mut self, plan: &dyn ExecutionPlan) -> std::result::Result<bool, Self::Error> {
                if let Some(value) = plan.metrics().and_then(|m| m.sum_by_name(self.name)) {
                    *self.total.get_or_insert(0) += value.as_usize();
                }
                Ok(true)
            }
        }
        let plan = self.plan.as_ref()?;
        let mut sum = Sum { name, total: None };
        accept(plan.as_ref(), &mut sum).ok()?;
        sum.total
    }

    pub fn stats(&self) -> QueryStats {
        let bytes_scanned = self.meter.as_ref().map(|m| m.bytes()).unwrap_or(0);
        QueryStats {
            rows: self.row_count,
            elapsed: self.finished.unwrap_or_else(|| self.started.elapsed()),
            bytes_scanned,
            requests: self.meter.as_ref().map(|m| m.requests()).unwrap_or(0),
            bill: self.billed.then(|| Bill::for_scan(bytes_scanned)),
        }
    }
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
            .with_information_schema(false);
        // Sorts and aggregations spill to disk beyond the pool instead of growing without bound.
        let memory = options.memory_limit.unwrap_or(crate::write::DEFAULT_MEMORY_LIMIT);
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::clone(&registry) as _)
            .with_memory_pool(Arc::new(FairSpillPool::new(memory)))
            .build_arc()
            .map_err(from_datafusion)?;
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .build();
        let mut session = Self {
            state,
            registry,
            catalog,
            warehouse,
            database: DEFAULT_DATABASE.to_string(),
            max_scan: options.max_scan,
            totals: Arc::new(SessionTotals::default()),
            progress: Arc::new(WriteProgress::default()),
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

    /// Runs one statement (see [`crate::split_statements`] for scripts).
    pub async fn execute(&mut self, sql: &str) -> Result<QueryResult> {
        let started = Instant::now();
        let totals = Arc::clone(&self.totals);
        match parse_command(sql)? {
            Command::DataFusion(statement) => self.run_query(*statement, started).await,
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
                let names: Vec<String> = self
                    .catalog
                    .list_table_names(&db)
                    .await?
                    .into_iter()
                    .filter(|n| matcher.as_ref().is_none_or(|m| m.is_match(n)))
                    .collect();
                Ok(QueryResult::listing(
                    string_schema(&["tab_name"]),
                    string_batch(&["tab_name"], vec![names])?,
                    started,
                    totals,
                ))
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
                let def = self.table(&table).await?;
                let (schema, batches) = describe(&def)?;
                Ok(QueryResult::listing(schema, batches, started, totals))
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
                if purge {
                    return Err(EngineError::unsupported(
                        "DROP TABLE ... PURGE",
                        "tarn never deletes files it did not write; DROP TABLE removes the catalog entry and keeps the data",
                    ));
                }
                let db = table.database.clone().unwrap_or_else(|| self.database.clone());
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
            Command::ShowCreateTable { table } => {
                let def = self.table(&table).await?;
                let ddl = crate::write::statements::show_create_table(&def);
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
        if lower.starts_with("tarn.") {
            return Err(EngineError::InvalidDdl(format!(
                "unknown setting '{key}'; tarn's settings: {MAX_SCAN_SETTING}"
            )));
        }
        self.state
            .config_mut()
            .options_mut()
            .set(key, value)
            .map_err(|e| EngineError::InvalidDdl(e.strip_backtrace()))?;
        Ok(format!("{key} = {value}"))
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
        let db = name.database.clone().unwrap_or_else(|| self.database.clone());
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

    async fn table_not_found(&self, db: &str, name: &str) -> EngineError {
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

    /// Plans a DataFusion statement against a snapshot of the catalog, with a runtime whose stores feed a new meter.
    pub(crate) async fn prepare_query(&self, statement: DFStatement) -> Result<PreparedQuery> {
        let references = self
            .state
            .resolve_table_references(&statement)
            .map_err(from_datafusion)?;
        let (snapshot, locations) = self.snapshot(references).await?;
        let meter = Arc::new(ScanMeter::new(self.max_scan));
        let mut runtime = (**self.state.runtime_env()).clone();
        runtime.object_store_registry = Arc::new(MeteredRegistry::new(
            Arc::clone(&self.registry) as _,
            Arc::clone(&meter),
        ));
        let state = SessionStateBuilder::new_from_existing(self.state.clone())
            .with_runtime_env(Arc::new(runtime))
            .with_catalog_list(snapshot)
            .build();
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
            let name = QualifiedName {
                database: database.map(|d| d.to_lowercase()),
                name: table.to_lowercase(),
            };
            let def = self.table(&name).await?;
            locations.push(Location::parse(&def.storage.location)?);
            let db = def.database.clone();
            let provider: Arc<dyn TableProvider> = Arc::new(TarnTable::try_new(def)?);
            schemas.entry(db).or_default().insert(name.name, provider);
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

    /// Translates Athena's DDL into a catalog table. Returns (table, if_not_exists, discover partitions).
    fn athena_table(&self, create: CreateExternalTable) -> Result<(Table, bool, bool)> {
        let location = create.location.clone().ok_or_else(|| {
            EngineError::InvalidDdl(
                "LOCATION is missing: give the folder that holds the table's files (s3://bucket/prefix/ or a local \
                 path)"
                    .into(),
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
            let count = u32::try_from(count)
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| EngineError::InvalidDdl(format!("bucket count {count} must be between 1 and 2^32")))?;
            table.storage.bucketing = Some(Bucketing { columns, count });
        }
        table.parameters = create.table_properties.into_iter().collect();
        check_table_properties(&table)?;
        // Inferring the schema includes the key=value folders, unless the DDL declared the partitions.
        let discover = table.storage.columns.is_empty() && table.partition_keys.is_empty();
        Ok((table, create.if_not_exists, discover))
    }

    /// Translates DataFusion's DDL (`STORED AS CSV ... OPTIONS (...)`) into a catalog table.
    fn datafusion_table(&self, create: datafusion::sql::parser::CreateExternalTable) -> Result<(Table, bool, bool)> {
        if create.or_replace || create.temporary || create.unbounded {
            return Err(EngineError::unsupported(
                "OR REPLACE / TEMPORARY / UNBOUNDED external tables",
                "tarn tables are persistent; drop and re-create instead",
            ));
        }
        if !create.order_exprs.is_empty() || !create.constraints.is_empty() {
            return Err(EngineError::unsupported("WITH ORDER and constraints", "remove them"));
        }
        let name = crate::sql::qualified_name(&create.name)?;
        let [location] = create.locations.as_slice() else {
            return Err(EngineError::InvalidDdl("give exactly one LOCATION".into()));
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
                        return Err(EngineError::InvalidDdl(format!(
                            "option 'format.has_header' must be true or false, not '{other}'"
                        )));
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
                return Err(EngineError::InvalidDdl(
                    "option 'format.compression' does not apply to Parquet (its codec is inside each file)".into(),
                ));
            }
            let codec = Codec::parse(&compression).ok_or_else(|| {
                EngineError::InvalidDdl(format!(
                    "option 'format.compression' '{compression}' is not one of gzip, bzip2, zstd, xz, uncompressed"
                ))
            })?;
            parameters.insert(params::COMPRESSION_TYPE.to_string(), codec.name().to_string());
        }
        if let Some(unknown) = options.keys().next() {
            return Err(EngineError::InvalidDdl(format!(
                "unknown option '{unknown}'; tarn understands format.delimiter, format.has_header, format.quote, \
                 format.escape and format.compression"
            )));
        }
        let partition_names: Vec<String> = create.table_partition_cols.iter().map(|c| c.to_lowercase()).collect();
        let mut columns = Vec::new();
        let mut partition_keys = Vec::new();
        for def in &create.columns {
            let dt = hive_to_arrow(&def.data_type.to_string())
                .and_then(|dt| arrow_to_hive(&dt))
                .map_err(|e| EngineError::InvalidDdl(format!("column '{}': {e}", def.name.value)))?;
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
            return Err(EngineError::InvalidDdl(format!(
                "PARTITIONED BY column '{missing}' is not in the column list"
            )));
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
    async fn create_table(
        &mut self,
        mut table: Table,
        if_not_exists: bool,
        discover_partitions: bool,
        started: Instant,
    ) -> Result<QueryResult> {
        let totals = Arc::clone(&self.totals);
        if self.catalog.get_database(&table.database).await?.is_none() {
            return Err(self.database_not_found(&table.database).await);
        }
        if if_not_exists && self.catalog.get_table(&table.database, &table.name).await?.is_some() {
            return Ok(QueryResult::command(
                format!("table {} already exists; nothing changed", table.qualified_name()),
                started,
                totals,
            ));
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
            let inferred = infer_columns(&self.state, Arc::clone(&store), &location, &sample, false).await?;
            add_json_mappings(&mut table, &inferred.spellings);
        }
        // Everything a reader needs must be valid before the table is registered.
        TarnTable::try_new(table.clone())?;
        if let Some(bucketing) = &table.storage.bucketing
            && let Some(missing) = bucketing
                .columns
                .iter()
                .find(|c| !table.storage.columns.iter().any(|col| &col.name == *c))
        {
            return Err(EngineError::InvalidDdl(format!(
                "CLUSTERED BY column '{missing}' is not a data column"
            )));
        }
        let created = match self.catalog.create_table(table).await {
            Ok(t) => t,
            Err(CatalogError::TableExists { database, name }) if if_not_exists => {
                return Ok(QueryResult::command(
                    format!("table {database}.{name} already exists; nothing changed"),
                    started,
                    totals,
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let partitions = if created.partition_keys.is_empty() {
            String::new()
        } else {
            format!(
                ", partitioned by {}",
                created
                    .partition_keys
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Ok(QueryResult::command(
            format!(
                "created table {} ({} columns{partitions}) over {}",
                created.qualified_name(),
                created.storage.columns.len(),
                created.storage.location
            ),
            started,
            totals,
        )
        .with_notices(notices))
    }
}

/// The engine error for a failed query: the scan limit if the meter tripped, a named file for Parquet files that
/// are not Parquet, else the general translation.
pub(crate) fn query_error(
    e: datafusion::error::DataFusionError,
    meter: Option<&ScanMeter>,
    locations: &[Location],
) -> EngineError {
    if let Some(meter) = meter
        && meter.exceeded()
    {
        return EngineError::ScanLimitExceeded {
            limit: meter.limit().unwrap_or_default(),
            scanned: meter.bytes(),
        };
    }
    let text = e.to_string();
    const MARKER: &str = "Failed to fetch metadata for file ";
    if let Some(start) = text.find(MARKER) {
        let rest = &text[start + MARKER.len()..];
        let path = rest.split(": ").next().unwrap_or_default().to_string();
        let location = locations
            .iter()
            .find(|l| path.starts_with(l.prefix.as_ref()))
            .map(|l| l.object_url(&object_store::path::Path::from(path.as_str())))
            .unwrap_or(path);
        let message = if rest.contains("Corrupt footer") || rest.contains("Invalid Parquet file") {
            "not a Parquet file (no Parquet footer); keep only Parquet files under the table's LOCATION".to_string()
        } else {
            rest.split_once(": ").map(|(_, m)| m.to_string()).unwrap_or_default()
        };
        return EngineError::DataFile {
            location,
            line: None,
            message,
        };
    }
    from_datafusion(e)
}

/// Athena names an unaliased `count(HouseholdID)` column `count(householdid)`-like text without table names;
/// DataFusion writes `count(db.table.householdid)`. Drop the table qualifiers from output names when the names stay
/// unique (a final aliasing projection; the query itself is unchanged).
fn unqualified_output_names(plan: LogicalPlan) -> Result<LogicalPlan> {
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

/// Adds `mapping.<column>` = key for columns whose JSON key differs in case, unless the DDL gave a mapping.
fn add_json_mappings(table: &mut Table, spellings: &std::collections::BTreeMap<String, String>) {
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

fn column_from_spec(spec: &crate::sql::ColumnSpec) -> Result<Column> {
    let dt = hive_to_arrow(&spec.data_type).map_err(|e| match e {
        EngineError::InvalidDdl(m) => EngineError::InvalidDdl(format!("column '{}': {m}", spec.name)),
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
            Some(_) => Err(EngineError::InvalidDdl(
                "a Parquet table takes no ROW FORMAT (the columns are inside the files)".into(),
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
                    "Delta and Iceberg tables are not supported yet",
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

/// Athena's SHOW patterns: `*` is any run of characters, `|` separates alternatives, matching is case-insensitive.
fn athena_pattern(pattern: &str) -> Result<regex::Regex> {
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

fn string_schema(names: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

fn string_batch(names: &[&str], columns: Vec<Vec<String>>) -> Result<Vec<RecordBatch>> {
    let arrays = columns
        .into_iter()
        .map(|values| Arc::new(StringArray::from(values)) as _)
        .collect();
    let batch = RecordBatch::try_new(string_schema(names), arrays).map_err(|e| EngineError::Query(e.to_string()))?;
    Ok(vec![batch])
}

/// `DESCRIBE`: the columns, then the partition block as Athena (Hive) prints it.
fn describe(table: &Table) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let names = ["col_name", "data_type", "comment"];
    let mut rows: Vec<[String; 3]> = table
        .storage
        .columns
        .iter()
        .map(|c| {
            [
                c.name.clone(),
                c.data_type.clone(),
                c.comment.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if !table.partition_keys.is_empty() {
        rows.push(Default::default());
        rows.push(["# Partition Information".into(), String::new(), String::new()]);
        rows.push(["# col_name".into(), "data_type".into(), "comment".into()]);
        rows.push(Default::default());
        rows.extend(table.partition_keys.iter().map(|c| {
            [
                c.name.clone(),
                c.data_type.clone(),
                c.comment.clone().unwrap_or_default(),
            ]
        }));
    }
    let columns = (0..3).map(|i| rows.iter().map(|r| r[i].clone()).collect()).collect();
    Ok((string_schema(&names), string_batch(&names, columns)?))
}

// ---------------------------------------------------------------------- per-query catalog snapshot

#[derive(Debug)]
struct SnapshotCatalogList {
    catalog: Arc<dyn CatalogProvider>,
}

impl CatalogProviderList for SnapshotCatalogList {
    fn register_catalog(&self, _: String, _: Arc<dyn CatalogProvider>) -> Option<Arc<dyn CatalogProvider>> {
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        vec![CATALOG_NAME.to_string()]
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        (name == CATALOG_NAME).then(|| Arc::clone(&self.catalog))
    }
}

#[derive(Debug)]
struct SnapshotCatalog {
    schemas: HashMap<String, Arc<dyn SchemaProvider>>,
}

impl CatalogProvider for SnapshotCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.schemas.keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.schemas.get(name).cloned()
    }
}

#[derive(Debug)]
struct SnapshotSchema {
    tables: HashMap<String, Arc<dyn TableProvider>>,
}

#[async_trait]
impl SchemaProvider for SnapshotSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        Ok(self.tables.get(name).cloned())
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }
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
