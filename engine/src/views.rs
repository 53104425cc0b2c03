//! Views: a query stored in the catalog (Glue's `VIRTUAL_VIEW`) with the columns it returned when it was created.
//!
//! A view is expanded when a query names it: its text is planned again against the catalog as it is now, with its
//! unqualified table names resolved in the database that was current when it was created (as Trino does). Like
//! Athena, a view whose tables are gone or whose columns changed is "stale": the query fails and says how to
//! recreate it, instead of silently returning a different shape.

use std::sync::Arc;
use std::time::Instant;

use datafusion::catalog::view::ViewTable;
use datafusion::datasource::TableProvider;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use futures::future::BoxFuture;
use tarn_catalog::{CatalogError, Column, Table};

use crate::error::{EngineError, Result, from_datafusion};
use crate::maintenance::column_signature;
use crate::result::QueryResult;
use crate::session::{Session, athena_pattern, string_batch, string_schema, unqualified_output_names};
use crate::sql::{QualifiedName, parse_datafusion_statement};
use crate::storage::Location;
use crate::types::arrow_to_hive;

/// What a query sees for a view, and the locations of the tables under it.
pub(crate) type ExpandedView = (Arc<dyn TableProvider>, Vec<Location>);

/// The table parameter holding the database a view's unqualified names refer to.
const VIEW_DATABASE: &str = "tarn.view.database";

impl Session {
    /// `CREATE [OR REPLACE] VIEW v AS query`: the query is planned now, so a view that cannot run is refused.
    pub(crate) async fn create_view(
        &self,
        name: &QualifiedName,
        or_replace: bool,
        query: &str,
        started: Instant,
    ) -> Result<QueryResult> {
        let db = name.database.clone().unwrap_or_else(|| self.database.clone());
        if self.catalog.get_database(&db).await?.is_none() {
            return Err(self.database_not_found(&db).await);
        }
        let mut view = Table::new_view(&db, &name.name, query, Vec::new())?;
        let (plan, _) = Box::pin(self.plan_view_body(&self.database, query, &[view.qualified_name()])).await?;
        view.storage.columns = output_columns(&plan)?;
        view.parameters.insert(VIEW_DATABASE.into(), self.database.clone());
        let existing = self.catalog.get_table(&db, &view.name).await?;
        let message = match existing {
            Some(old) if !old.is_view() => {
                return Err(EngineError::InvalidDdl(format!(
                    "{} is a table; CREATE OR REPLACE VIEW replaces only views (DROP TABLE it first, or pick another \
                     name)",
                    old.qualified_name()
                )));
            }
            Some(old) if or_replace => {
                view.version = old.version;
                view.create_time = old.create_time;
                let updated = self.catalog.update_table(view, "REPLACE VIEW").await?;
                format!(
                    "replaced view {} (version {})",
                    updated.qualified_name(),
                    updated.version
                )
            }
            Some(old) => {
                return Err(CatalogError::TableExists {
                    database: old.database,
                    name: old.name,
                }
                .into());
            }
            None => {
                let created = self.catalog.create_table(view).await?;
                format!("created view {}", created.qualified_name())
            }
        };
        Ok(QueryResult::command(message, started, Arc::clone(&self.totals)))
    }

    pub(crate) async fn drop_view(
        &self,
        name: &QualifiedName,
        if_exists: bool,
        started: Instant,
    ) -> Result<QueryResult> {
        let db = name.database.clone().unwrap_or_else(|| self.database.clone());
        let message = match self.catalog.get_table(&db, &name.name).await? {
            Some(t) if !t.is_view() => {
                return Err(EngineError::InvalidDdl(format!(
                    "{} is a table, not a view; use DROP TABLE",
                    t.qualified_name()
                )));
            }
            Some(view) => {
                self.catalog.drop_table(&view.database, &view.name).await?;
                format!("dropped view {}", view.qualified_name())
            }
            None if if_exists => format!("view {db}.{} does not exist; nothing dropped", name.name),
            None => return Err(self.table_not_found(&db, &name.name).await),
        };
        Ok(QueryResult::command(message, started, Arc::clone(&self.totals)))
    }

    pub(crate) async fn show_views(
        &self,
        database: Option<String>,
        pattern: Option<&str>,
        started: Instant,
    ) -> Result<QueryResult> {
        let db = database.unwrap_or_else(|| self.database.clone());
        if self.catalog.get_database(&db).await?.is_none() {
            return Err(self.database_not_found(&db).await);
        }
        let matcher = pattern.map(athena_pattern).transpose()?;
        let names: Vec<String> = self
            .catalog
            .list_tables(&db)
            .await?
            .into_iter()
            .filter(|t| t.is_view() && matcher.as_ref().is_none_or(|m| m.is_match(&t.name)))
            .map(|t| t.name)
            .collect();
        Ok(QueryResult::listing(
            string_schema(&["views"]),
            string_batch(&["views"], vec![names])?,
            started,
            Arc::clone(&self.totals),
        ))
    }

    pub(crate) async fn show_create_view(&self, name: &QualifiedName, started: Instant) -> Result<QueryResult> {
        let view = self.table(name).await?;
        let Some(text) = view.view_text.as_deref().filter(|_| view.is_view()) else {
            return Err(EngineError::InvalidDdl(format!(
                "{} is a table, not a view; use SHOW CREATE TABLE",
                view.qualified_name()
            )));
        };
        let lines: Vec<String> = view_ddl(&view, text).lines().map(str::to_string).collect();
        Ok(QueryResult::listing(
            string_schema(&["Create View"]),
            string_batch(&["Create View"], vec![lines])?,
            started,
            Arc::clone(&self.totals),
        ))
    }

    /// The provider a query sees for `view`, and the locations of the tables under it.
    ///
    /// Boxed: expanding a view plans its body against a snapshot, which may expand views again, and a recursive
    /// future needs a known size.
    pub(crate) fn view_provider<'a>(
        &'a self,
        view: &'a Table,
        expanding: &'a [String],
    ) -> BoxFuture<'a, Result<ExpandedView>> {
        Box::pin(self.expand_view(view, expanding))
    }

    async fn expand_view(&self, view: &Table, expanding: &[String]) -> Result<ExpandedView> {
        let name = view.qualified_name();
        let text = view.view_text.clone().unwrap_or_default();
        let context = view
            .parameters
            .get(VIEW_DATABASE)
            .cloned()
            .unwrap_or_else(|| view.database.clone());
        let mut stack = expanding.to_vec();
        stack.push(name.clone());
        let stale = |reason: String| {
            EngineError::InvalidDdl(format!(
                "view {name} is stale: {reason}; recreate it with CREATE OR REPLACE VIEW {name} AS ... (SHOW CREATE \
                 VIEW {name} gives its text)"
            ))
        };
        let (plan, locations) = match Box::pin(self.plan_view_body(&context, &text, &stack)).await {
            Ok(planned) => planned,
            Err(e @ EngineError::InvalidDdl(_)) => return Err(e),
            Err(e) => return Err(stale(e.to_string())),
        };
        let now = output_columns(&plan)?;
        if now != view.storage.columns {
            return Err(stale(format!(
                "it was created returning ({}) and now returns ({})",
                column_signature(&view.storage.columns),
                column_signature(&now)
            )));
        }
        Ok((Arc::new(ViewTable::new(plan, Some(text))), locations))
    }

    /// Plans a view's query with its unqualified names in `context`; `stack` holds the views being expanded,
    /// innermost last, so a view that reaches itself is refused.
    async fn plan_view_body(
        &self,
        context: &str,
        text: &str,
        stack: &[String],
    ) -> Result<(LogicalPlan, Vec<Location>)> {
        let statement = parse_datafusion_statement(text)?;
        let mut state = self.state.clone();
        state.config_mut().options_mut().catalog.default_schema = context.to_string();
        let references = state.resolve_table_references(&statement).map_err(from_datafusion)?;
        for reference in &references {
            let db = reference.schema().unwrap_or(context).to_lowercase();
            let qualified = format!("{db}.{}", reference.table().to_lowercase());
            if stack.contains(&qualified) {
                return Err(EngineError::InvalidDdl(format!(
                    "view {} would reference itself (through {}); a view cannot be recursive",
                    stack.first().cloned().unwrap_or_default(),
                    stack.join(" -> ")
                )));
            }
        }
        let (catalog, locations) = Box::pin(self.snapshot_in(context, references, stack)).await?;
        let state = SessionStateBuilder::new_from_existing(state)
            .with_catalog_list(catalog)
            .build();
        let plan = state.statement_to_plan(statement).await.map_err(from_datafusion)?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|_| EngineError::InvalidDdl("a view's body must be a query (SELECT, WITH or VALUES)".into()))?;
        Ok((unqualified_output_names(plan)?, locations))
    }
}

/// A view's columns as Glue stores them: names and Hive types of the query's output.
fn output_columns(plan: &LogicalPlan) -> Result<Vec<Column>> {
    plan.schema()
        .fields()
        .iter()
        .map(|f| {
            let data_type = arrow_to_hive(f.data_type())?;
            Ok(Column {
                name: f.name().to_lowercase(),
                data_type,
                comment: None,
            })
        })
        .collect()
}

/// `SHOW CREATE VIEW`'s text: running it creates the same view.
pub(crate) fn view_ddl(view: &Table, text: &str) -> String {
    format!("CREATE VIEW {} AS\n{text}", view.qualified_name())
}
