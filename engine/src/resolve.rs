//! The catalog as one query sees it, and planning against it: the tables a statement names are loaded from the
//! catalog (views expanded, Delta tables opened at the version asked for) into a per-query snapshot, with a runtime
//! whose object stores feed that query's scan meter.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{CatalogProviderList, SchemaProvider};
use datafusion::common::TableReference;
use datafusion::datasource::TableProvider;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;
use futures::future::BoxFuture;
use tarn_catalog::{Table, TableKind};

use crate::context::{CATALOG_NAME, Ctx, PreparedQuery};
use crate::error::{EngineError, Part, Result, from_datafusion};
use crate::maintenance::column_signature;
use crate::meter::ScanMeter;
use crate::names::AsOf;
use crate::parse::{QualifiedName, parse_datafusion_statement};
use crate::snapshot::{SnapshotCatalog, SnapshotCatalogList, SnapshotSchema};
use crate::storage::Location;
use crate::table::TarnTable;
use crate::views::{VIEW_DATABASE, output_columns};

/// What a query sees for a view, and the locations of the tables under it.
pub(crate) type ExpandedView = (Arc<dyn TableProvider>, Vec<Location>);

impl Ctx {
    /// A session state over a snapshot of the tables `references` names, with a runtime whose stores feed a new meter.
    pub(crate) async fn metered_state(
        &self,
        references: Vec<TableReference>,
    ) -> Result<(SessionState, Arc<ScanMeter>, Vec<Location>)> {
        let (snapshot, locations) = self.snapshot(references).await?;
        let (state, meter) = self.metered(snapshot);
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
                return Err(EngineError::invalid(
                    Part::Name,
                    format!("catalog '{catalog}' does not exist; tarn has one catalog, {CATALOG_NAME}"),
                ));
            }
            let reference_name = table.to_lowercase();
            let (base, as_of) = crate::names::AsOf::split(&reference_name)?;
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
            let (provider, read) = self.provider(def, as_of, views).await?;
            locations.extend(read);
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

    /// What a query reads for `def` at `as_of`, and the locations of the files under it: one arm per kind of table,
    /// so a new kind (Iceberg) is one more arm and a module of its own.
    async fn provider(
        &self,
        def: Table,
        as_of: AsOf,
        views: &[String],
    ) -> Result<(Arc<dyn TableProvider>, Vec<Location>)> {
        match (def.kind(), as_of) {
            (TableKind::View, AsOf::Latest) => self.view_provider(&def, views).await,
            (TableKind::View, _) => Err(EngineError::invalid(
                Part::ObjectKind,
                format!(
                    "{} is a view; FOR VERSION/TIMESTAMP AS OF applies to Delta tables",
                    def.qualified_name()
                ),
            )),
            (TableKind::Delta, as_of) => {
                let location = Location::parse(&def.storage.location)?;
                Ok((Box::pin(self.delta_provider(&def, as_of)).await?, vec![location]))
            }
            (TableKind::Hive, AsOf::Latest) => {
                let location = Location::parse(&def.storage.location)?;
                let partitions = match def.partition_keys.is_empty() {
                    true => None,
                    false => Some(self.catalog.partitions(&def).await?.partitions),
                };
                let table = TarnTable::try_new(def)?;
                let provider = match partitions {
                    Some(partitions) => table.with_partitions(partitions)?,
                    None => table,
                };
                Ok((Arc::new(provider), vec![location]))
            }
            (TableKind::Hive, _) => Err(crate::delta::not_delta(
                "FOR VERSION/TIMESTAMP AS OF",
                &def,
                "only Delta tables keep older versions; CTAS a copy WITH (table_type = 'DELTA') to get them",
            )),
        }
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
            EngineError::invalid(
                Part::View,
                format!(
                    "view {name} is stale: {reason}; recreate it with CREATE OR REPLACE VIEW {name} AS ... (SHOW CREATE \
                 VIEW {name} gives its text)"
                ),
            )
        };
        let planned = match parse_datafusion_statement(&text) {
            Ok(statement) => Box::pin(self.plan_view_body(&context, statement, &stack)).await,
            Err(e) => Err(e),
        };
        let (plan, locations) = match planned {
            Ok(planned) => planned,
            Err(e @ EngineError::Invalid { .. }) => return Err(e),
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
    pub(crate) async fn plan_view_body(
        &self,
        context: &str,
        statement: DFStatement,
        stack: &[String],
    ) -> Result<(LogicalPlan, Vec<Location>)> {
        let mut state = self.state.clone();
        state.config_mut().options_mut().catalog.default_schema = context.to_string();
        let references = state.resolve_table_references(&statement).map_err(from_datafusion)?;
        for reference in &references {
            let db = reference.schema().unwrap_or(context).to_lowercase();
            let qualified = format!("{db}.{}", reference.table().to_lowercase());
            if stack.contains(&qualified) {
                return Err(EngineError::invalid(
                    Part::View,
                    format!(
                        "view {} would reference itself (through {}); a view cannot be recursive",
                        stack.first().cloned().unwrap_or_default(),
                        stack.join(" -> ")
                    ),
                ));
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
            .map_err(|_| {
                EngineError::invalid(
                    Part::ObjectKind,
                    "a view's body must be a query (SELECT, WITH or VALUES)",
                )
            })?;
        Ok((unqualified_output_names(plan)?, locations))
    }
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
                .fold(f.name().clone(), |name, q| without_qualifier(&name, q))
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

/// `name` without the qualifier `q.` wherever it qualifies a column: outside the quoted text of literals
/// (`Utf8("t.x")`) and only at the start of a name (`xt.a` keeps its `t.`).
fn without_qualifier(name: &str, q: &str) -> String {
    let prefix = format!("{q}.");
    let mut out = String::with_capacity(name.len());
    let mut quoted = false;
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        let boundary = out
            .chars()
            .last()
            .is_none_or(|p| !(p.is_alphanumeric() || p == '_' || p == '.'));
        if !quoted && boundary && rest.starts_with(&prefix) {
            rest = &rest[prefix.len()..];
            continue;
        }
        if c == '"' {
            quoted = !quoted;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers_go_from_names_but_not_from_literals() {
        assert_eq!(without_qualifier("count(db.t.x)", "db.t"), "count(x)");
        assert_eq!(without_qualifier("t.a + t.b", "t"), "a + b");
        assert_eq!(
            without_qualifier("concat(t.a, Utf8(\"t.b\"))", "t"),
            "concat(a, Utf8(\"t.b\"))"
        );
        assert_eq!(without_qualifier("xt.a", "t"), "xt.a");
    }
}
