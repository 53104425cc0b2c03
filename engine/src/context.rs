//! What a statement may use: the catalog, the object stores, the current database, the session's settings and its
//! DataFusion state (functions, configuration), and the write progress and interrupt flag it reports to.
//!
//! The session owns one [`Ctx`] and adds the statement router, timing and totals around it. Statements
//! (the `statements` module) and the modules they call take a `Ctx`, never the session.

use std::sync::Arc;

use datafusion::catalog::CatalogProviderList;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use tarn_catalog::{CatalogError, Table};

use crate::error::{EngineError, Result};
use crate::meter::{Interrupt, MeteredRegistry, ScanMeter, WriteProgress};
pub use crate::names::CATALOG_NAME;
use crate::names::QualifiedName;
use crate::storage::{Location, StoreRegistry};

/// The setting that caps bytes scanned per query.
pub const MAX_SCAN_SETTING: &str = "tarn.max_scan";
/// The setting for the memory queries may use before sorts and aggregations spill (also DataFusion's name for it).
pub const MEMORY_LIMIT_SETTING: &str = "tarn.memory_limit";
/// `true`: a text value that is not of its column's type fails the query (Athena, and tarn by default, read NULL).
pub const TEXT_STRICT_SETTING: &str = "tarn.text.strict";
pub(crate) const DATAFUSION_MEMORY_LIMIT: &str = "datafusion.runtime.memory_limit";

/// A planned query, ready to run or to feed a writer.
pub(crate) struct PreparedQuery {
    pub state: SessionState,
    pub plan: LogicalPlan,
    pub meter: Arc<ScanMeter>,
    pub locations: Vec<Location>,
}

impl PreparedQuery {
    /// The query that reads `provider` (a table over given files) as `columns`, each an expression aliased to its
    /// column's name: what ingest and compaction write from.
    pub(crate) fn reading(
        provider: Arc<dyn datafusion::catalog::TableProvider>,
        columns: Vec<datafusion::logical_expr::Expr>,
        (state, meter): (SessionState, Arc<ScanMeter>),
        location: Location,
    ) -> Result<Self> {
        use datafusion::datasource::provider_as_source;
        use datafusion::logical_expr::LogicalPlanBuilder;
        let plan = LogicalPlanBuilder::scan("source", provider_as_source(provider), None)
            .and_then(|scan| scan.project(columns))
            .and_then(|scan| scan.build())
            .map_err(crate::error::from_datafusion)?;
        Ok(Self {
            state,
            plan,
            meter,
            locations: vec![location],
        })
    }
}

/// Settings a session keeps apart from DataFusion's (`SET tarn.*`).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Stop any query that reads more than this many bytes.
    pub(crate) max_scan: Option<u64>,
    /// VACUUM refuses a retention below the table's minimum unless this is turned off.
    pub(crate) delta_retention_check: bool,
    /// Bytes of memory queries may use (the runtime's pool).
    pub(crate) memory_limit: usize,
    /// Text values that are not of their column's type fail the query instead of reading as NULL.
    pub(crate) text_strict: bool,
    /// Workers that run queries' stages (`SET tarn.workers`); none: queries run in this process.
    pub(crate) workers: Vec<url::Url>,
    /// How long files a Hive compaction replaced are kept for queries that listed them before its swap.
    pub(crate) optimize_grace: std::time::Duration,
}

/// The narrow context statements run in. Clones share the catalog, stores, progress and interrupt flag.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) state: SessionState,
    pub(crate) registry: Arc<StoreRegistry>,
    pub(crate) catalog: tarn_catalog::Catalog,
    pub(crate) warehouse: Location,
    pub(crate) database: String,
    pub(crate) settings: Settings,
    pub(crate) progress: Arc<WriteProgress>,
    pub(crate) interrupt: Arc<Interrupt>,
}

impl Ctx {
    /// A session state over the tables of `snapshot`, with a runtime whose stores feed a new meter.
    pub(crate) fn metered(&self, snapshot: Arc<dyn CatalogProviderList>) -> (SessionState, Arc<ScanMeter>) {
        self.metered_with(snapshot, self.settings.text_strict)
    }

    /// [`Ctx::metered`], with text values not of their column's type failing the query (`strict_text`) or not.
    pub(crate) fn metered_with(
        &self,
        snapshot: Arc<dyn CatalogProviderList>,
        strict_text: bool,
    ) -> (SessionState, Arc<ScanMeter>) {
        let meter = Arc::new(
            ScanMeter::interruptible(self.settings.max_scan, Arc::clone(&self.interrupt))
                .with_strict_text(strict_text)
                .with_memory_limit(self.settings.memory_limit as u64),
        );
        let mut runtime = (**self.state.runtime_env()).clone();
        runtime.object_store_registry = Arc::new(MeteredRegistry::new(
            Arc::clone(&self.registry) as _,
            Arc::clone(&meter),
        ));
        // Scans find the meter here, to count the text values they read as NULL.
        let mut config = self.state.config().clone().with_extension(Arc::clone(&meter));
        crate::cluster::set_query_options(&mut config, self.settings.max_scan);
        let state = SessionStateBuilder::new_from_existing(self.state.clone())
            .with_config(config)
            .with_runtime_env(Arc::new(runtime))
            .with_catalog_list(snapshot)
            .build();
        (state, meter)
    }

    /// The functions queries can call, sorted by name, each with its kind (`scalar`, `aggregate`, `window`).
    pub(crate) fn functions(&self) -> Vec<(String, &'static str)> {
        let mut functions: Vec<(String, &'static str)> = self
            .state
            .scalar_functions()
            .keys()
            .map(|n| (n.clone(), "scalar"))
            .chain(
                self.state
                    .aggregate_functions()
                    .keys()
                    .map(|n| (n.clone(), "aggregate")),
            )
            .chain(self.state.window_functions().keys().map(|n| (n.clone(), "window")))
            .filter(|(name, _)| !is_internal_function(name))
            .collect();
        functions.sort();
        functions
    }

    /// Gives queries from now on a memory pool of `limit` bytes.
    pub(crate) fn set_memory_limit(&mut self, limit: usize) -> Result<()> {
        let mut runtime = (**self.state.runtime_env()).clone();
        runtime.memory_pool = Arc::new(FairSpillPool::new(limit));
        self.state = SessionStateBuilder::new_from_existing(self.state.clone())
            .with_runtime_env(Arc::new(runtime))
            .build();
        self.settings.memory_limit = limit;
        Ok(())
    }

    pub(crate) async fn use_database(&mut self, database: &str) -> Result<()> {
        let name = tarn_catalog::normalize_name("database", database)?;
        if self.catalog.get_database(&name).await?.is_none() {
            return Err(self.database_not_found(&name).await);
        }
        self.set_database(&name);
        Ok(())
    }

    pub(crate) fn set_database(&mut self, name: &str) {
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
}

fn closest(name: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::normalized_damerau_levenshtein(name, c), c))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.clone())
}

/// Functions tarn registers for its own rewrites (long chains, Trino's casts and lambdas, bucket hashing): they are
/// not listed to users, who write the forms they stand for.
fn is_internal_function(name: &str) -> bool {
    name.starts_with("tarn_") || name.starts_with("__tarn") || name == "trino_cast"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_pick_near_names() {
        let names = vec!["consumer_raw".to_string(), "orders".to_string()];
        assert_eq!(closest("consumer_rwa", &names).as_deref(), Some("consumer_raw"));
        assert_eq!(closest("zzz", &names), None);
    }
}
