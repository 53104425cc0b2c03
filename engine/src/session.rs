//! A tarn session: opens the warehouse and its catalog, and runs one statement at a time. A statement is parsed and
//! executed by `statements` against the session's `Ctx`; the session adds what every statement shares: the stack a
//! deep statement needs, the interrupt flag cleared at the start, the timing, and the session's totals.

use std::sync::Arc;
use std::time::Instant;

use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use tarn_catalog::DEFAULT_DATABASE;

pub use crate::context::{CATALOG_NAME, MAX_SCAN_SETTING, MEMORY_LIMIT_SETTING, TEXT_STRICT_SETTING};
use crate::context::{Ctx, Settings};
use crate::error::{EngineError, Result};
use crate::meter::{Interrupt, ScanMeter};
use crate::result::{QueryResult, SessionTotals};
use crate::storage::{AwsSettings, Location, StoreRegistry};
use crate::write::WriteProgress;

/// A table as a catalog browser sees it: see [`Session::tables_with_columns`].
#[derive(Debug, Clone)]
pub struct TableColumns {
    pub database: String,
    pub name: String,
    pub kind: tarn_catalog::TableKind,
    pub schema: datafusion::arrow::datatypes::SchemaRef,
    /// A view's query.
    pub view_text: Option<String>,
}

/// A query planned by [`Session::plan_query`], not yet run.
pub struct PlannedQuery {
    pub plan: Arc<dyn ExecutionPlan>,
    /// The session's functions and configuration, and object stores that count the bytes the plan reads.
    pub task: Arc<TaskContext>,
    /// The query's bytes scanned, and its scan limit.
    pub meter: Arc<ScanMeter>,
}

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
    /// Workers (`http://host:port`, see `tarn worker`) that run queries' stages; none: queries run here.
    pub workers: Vec<String>,
}

/// A session over one warehouse. Clones share the catalog and stores; each has its own current database and
/// settings, and clones may run queries concurrently.
#[derive(Clone)]
pub struct Session {
    ctx: Ctx,
    totals: Arc<SessionTotals>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("warehouse", &self.ctx.warehouse.url)
            .field("database", &self.ctx.database)
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

        let memory = options.memory_limit.unwrap_or(crate::write::DEFAULT_MEMORY_LIMIT);
        let workers = crate::cluster::parse_workers(&options.workers.join(","))?;
        let state = crate::planner::base_state(Arc::clone(&registry), memory, &workers)?;
        let interrupt = Arc::new(Interrupt::default());
        let mut ctx = Ctx {
            state,
            registry,
            catalog,
            warehouse,
            database: DEFAULT_DATABASE.to_string(),
            settings: Settings {
                max_scan: options.max_scan,
                delta_retention_check: true,
                memory_limit: memory,
                text_strict: false,
                workers,
                optimize_grace: crate::compaction::DEFAULT_GRACE,
            },
            progress: Arc::new(WriteProgress {
                interrupt: Arc::clone(&interrupt),
                ..Default::default()
            }),
            interrupt,
        };
        if let Some(db) = options.database {
            ctx.use_database(&db).await?;
        }
        let session = Self {
            ctx,
            totals: Arc::new(SessionTotals::default()),
        };
        Ok(session)
    }

    pub fn catalog(&self) -> &tarn_catalog::Catalog {
        &self.ctx.catalog
    }

    pub fn warehouse(&self) -> &str {
        &self.ctx.warehouse.url
    }

    pub fn current_database(&self) -> &str {
        &self.ctx.database
    }

    pub fn max_scan(&self) -> Option<u64> {
        self.ctx.settings.max_scan
    }

    pub fn set_max_scan(&mut self, limit: Option<u64>) {
        self.ctx.settings.max_scan = limit;
    }

    pub fn totals(&self) -> &SessionTotals {
        &self.totals
    }

    /// Live figures of the write a statement is doing (rows, bytes, files so far), for progress displays.
    pub fn write_progress(&self) -> Arc<WriteProgress> {
        Arc::clone(&self.ctx.progress)
    }

    /// What is directly under an `s3://` prefix or folder, for completing paths: sub-folders end in `/`. At most
    /// `limit` entries, sorted.
    pub async fn list_location(&self, url: &str, limit: usize) -> Result<Vec<String>> {
        let location = Location::parse(url)?;
        let store = self.ctx.registry.store_for(&location)?;
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

    /// Every table of every database with its columns (data columns, then partition keys), sorted, for clients
    /// that browse the catalog (pg_catalog, information_schema, Flight SQL's GetTables). A table whose definition
    /// cannot be read is left out, as SHOW TABLES leaves it out; one whose column types tarn cannot map is listed
    /// with the columns it can.
    pub async fn tables_with_columns(&self) -> Result<Vec<TableColumns>> {
        let catalog = &self.ctx.catalog;
        let mut all = Vec::new();
        for db in catalog.list_databases().await? {
            let (tables, _unreadable) = catalog.list_tables_lenient(&db.name).await?;
            for table in tables {
                let fields: Vec<datafusion::arrow::datatypes::Field> = match crate::table::table_fields(&table) {
                    Ok((data, partitions)) => data.into_iter().chain(partitions).collect(),
                    Err(_) => table
                        .storage
                        .columns
                        .iter()
                        .chain(&table.partition_keys)
                        .filter_map(|c| {
                            crate::types::hive_to_arrow(&c.data_type)
                                .ok()
                                .map(|dt| datafusion::arrow::datatypes::Field::new(&c.name, dt, true))
                        })
                        .collect(),
                };
                all.push(TableColumns {
                    database: db.name.clone(),
                    kind: table.kind(),
                    view_text: table.view_text.clone(),
                    name: table.name,
                    schema: Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
                });
            }
        }
        Ok(all)
    }

    /// Names of the SQL functions queries can call (scalar, aggregate, window), sorted, for completion.
    pub fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.ctx.functions().into_iter().map(|(name, _)| name).collect();
        names.dedup();
        names
    }

    /// Crawls `url` and registers what it finds (see [`CrawlOptions`]).
    pub async fn crawl(&mut self, url: &str, options: crate::CrawlOptions) -> Result<crate::CrawlReport> {
        Box::pin(self.ctx.crawl(url, options)).await
    }

    /// One pass of `tarn ingest` (see [`crate::ingest`]).
    pub async fn ingest(&mut self, options: &crate::ingest::IngestOptions) -> Result<crate::ingest::IngestReport> {
        self.ctx.interrupt.clear();
        self.ctx.progress.reset();
        Box::pin(self.ctx.ingest(options)).await
    }

    /// The flag that stops the running statement (shared by the session's clones). Queries stop at their next read;
    /// writes at their next batch, removing what they wrote. Each statement clears it when it starts.
    pub fn interrupt_handle(&self) -> Arc<Interrupt> {
        Arc::clone(&self.ctx.interrupt)
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
            .map_err(|e| EngineError::internal(format!("cannot start a thread to plan a long statement: {e}")))?;
        let (session, result) = receiver
            .await
            .map_err(|_| EngineError::internal("the thread planning the statement stopped"))?;
        *self = session;
        result
    }

    /// Plans a query (SELECT, WITH, VALUES) without running it: its physical plan, and the task context it runs in
    /// (the session's functions, and object stores that count into the query's own meter). What a plan sent to
    /// another machine starts from; [`crate::wire`] encodes it.
    pub async fn plan_query(&self, sql: &str) -> Result<PlannedQuery> {
        let query = match crate::statements::parse(sql)? {
            crate::statements::Parsed::Query(query) => query,
            _ => {
                return Err(EngineError::Unsupported {
                    what: "planning a statement other than a query".into(),
                    hint: Some("run it with execute".into()),
                });
            }
        };
        let planned = query.plan(&self.ctx).await?;
        Ok(PlannedQuery {
            plan: planned.plan,
            task: planned.task,
            meter: planned.meter,
        })
    }

    /// What a plan sent from another machine runs in here: this session's functions, settings and object stores,
    /// the stores counting into a meter of the plan's own (with this session's scan limit and text rules).
    pub fn worker_context(&self) -> (Arc<TaskContext>, Arc<ScanMeter>) {
        let (state, meter) = self
            .ctx
            .metered(Arc::new(datafusion::catalog::MemoryCatalogProviderList::new()));
        (Arc::new(TaskContext::from(&state)), meter)
    }

    /// [`Session::execute`] on the caller's stack; errors that depend on the session's settings say them.
    async fn execute_here(&mut self, sql: &str) -> Result<QueryResult> {
        self.execute_statement(sql).await.map_err(|e| match e {
            EngineError::OutOfMemory { limit: None, detail } => EngineError::OutOfMemory {
                limit: Some(self.ctx.settings.memory_limit as u64),
                detail,
            },
            other => other,
        })
    }

    async fn execute_statement(&mut self, sql: &str) -> Result<QueryResult> {
        let started = Instant::now();
        self.ctx.interrupt.clear();
        let outcome = crate::statements::parse(sql)?.execute(&mut self.ctx).await?;
        Ok(QueryResult::new(outcome, started, Arc::clone(&self.totals)))
    }
}
