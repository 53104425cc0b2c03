//! Delta Lake statements: DELETE, UPDATE and MERGE; OPTIMIZE (compaction, Z-order); VACUUM; DESCRIBE HISTORY.
//! They run through delta-rs on tarn's session and metered stores ([`crate::delta`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::DateTime;
use datafusion::common::{DFSchema, TableReference};
use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    self, AssignmentTarget, FromTable, MergeAction, MergeClauseKind, MergeInsertKind, TableFactor,
};
use datafusion::sql::sqlparser::tokenizer::Token;
use deltalake::operations::optimize::OptimizeType;
use deltalake::{DeltaTable, DeltaTableError, FilterOp, FilterValue};
use futures::TryStreamExt;
use tarn_catalog::TableKind;

use super::Statement;
use crate::context::Ctx;
use crate::delta::{AsOf, RETENTION_CHECK_SETTING, delta_error, files, not_delta};
use crate::error::{EngineError, Part, Result, from_datafusion};
use crate::meter::ScanMeter;
use crate::parse::{QualifiedName, TarnParser, qualified_name};
use crate::result::Outcome;
use crate::storage::Location;

/// DELETE, UPDATE or MERGE on a Delta table.
pub(crate) struct DeltaDml {
    pub(crate) statement: DFStatement,
}

impl Statement for DeltaDml {
    const STARTS: &'static [&'static [&'static str]] = &[&["DELETE"], &["UPDATE"], &["MERGE"]];
    const TABLE_AFTER: &'static [&'static str] = &["FROM", "UPDATE", "INTO"];
    const WORDS: &'static [&'static str] = &["FROM", "SET", "USING", "ON", "WHEN", "MATCHED", "NOT", "THEN"];

    fn parse(p: &mut TarnParser) -> Result<Self> {
        Ok(Self {
            statement: p.datafusion_statement()?,
        })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let statement = match self.statement {
            datafusion::sql::parser::Statement::Statement(s) => *s,
            _ => return Err(EngineError::internal("expected DELETE, UPDATE or MERGE")),
        };
        match statement {
            ast::Statement::Delete(delete) => {
                let tables = match &delete.from {
                    FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
                };
                let [target] = tables.as_slice() else {
                    return Err(EngineError::unsupported(
                        "DELETE from several tables",
                        "delete from one table",
                    ));
                };
                if delete.using.is_some() || !target.joins.is_empty() {
                    return Err(EngineError::unsupported(
                        "DELETE ... USING",
                        "use MERGE INTO t USING s ON ... WHEN MATCHED THEN DELETE",
                    ));
                }
                let (name, _) = table_factor_name(&target.relation)?;
                let (def, table, meter, state) = ctx.dml_target(&name, "DELETE").await?;
                let location = def.storage.location.clone();
                let schema = table_schema(&table, &location).await?;
                let predicate = delete
                    .selection
                    .as_ref()
                    .map(|p| plan_expr(&state, p, &schema))
                    .transpose()?;
                let mut builder = table.delete().with_session_state(Arc::new(state));
                if let Some(predicate) = predicate {
                    builder = builder.with_predicate(predicate);
                }
                let (table, metrics) = builder.await.map_err(|e| ctx.write_error_at(&location, &meter, e))?;
                let deleted = metrics.num_deleted_rows.unwrap_or_default() as u64;
                let message = format!(
                    "deleted {deleted} rows from {}: {} removed, {} added (version {})",
                    def.qualified_name(),
                    files(metrics.num_removed_files as u64),
                    files(metrics.num_added_files as u64),
                    table.version().unwrap_or_default()
                );
                Ok(Outcome::written(message, deleted, meter))
            }
            ast::Statement::Update(update) => {
                if update.from.is_some() || !update.table.joins.is_empty() {
                    return Err(EngineError::unsupported(
                        "UPDATE ... FROM",
                        "use MERGE INTO t USING s ON ... WHEN MATCHED THEN UPDATE SET ...",
                    ));
                }
                let (name, _) = table_factor_name(&update.table.relation)?;
                let (def, table, meter, state) = ctx.dml_target(&name, "UPDATE").await?;
                let location = def.storage.location.clone();
                // delta-rs ignores an assignment to a column the table does not have; Athena refuses it.
                let shape = ctx.delta_shape(&def, &table).await?;
                let columns: Vec<&str> = shape.all_columns().map(|c| c.name.as_str()).collect();
                for assignment in &update.assignments {
                    let column = assignment_column(&assignment.target)?;
                    if !columns.contains(&column.as_str()) {
                        return Err(EngineError::invalid(
                            Part::Column,
                            format!(
                                "column '{column}' is not in table {} (its columns: {})",
                                def.qualified_name(),
                                columns.join(", ")
                            ),
                        ));
                    }
                }
                let schema = table_schema(&table, &location).await?;
                let predicate = update
                    .selection
                    .as_ref()
                    .map(|p| plan_expr(&state, p, &schema))
                    .transpose()?;
                let sets = assignments(&update.assignments, &state, &schema)?;
                let mut builder = table.update().with_session_state(Arc::new(state));
                if let Some(predicate) = predicate {
                    builder = builder.with_predicate(predicate);
                }
                for (column, value) in sets {
                    builder = builder.with_update(column, value);
                }
                let (table, metrics) = builder.await.map_err(|e| ctx.write_error_at(&location, &meter, e))?;
                let updated = metrics.num_updated_rows as u64;
                let message = format!(
                    "updated {updated} rows of {}: {} removed, {} added (version {})",
                    def.qualified_name(),
                    files(metrics.num_removed_files as u64),
                    files(metrics.num_added_files as u64),
                    table.version().unwrap_or_default()
                );
                Ok(Outcome::written(message, updated, meter))
            }
            ast::Statement::Merge(statement) => merge(ctx, statement).await,
            other => Err(EngineError::invalid(
                Part::Clause,
                format!("expected DELETE, UPDATE or MERGE, not {other}"),
            )),
        }
    }
}

/// `OPTIMIZE t [WHERE k = 'v' AND ...] [ZORDER BY (a, b)]`; filters are (column, operator, values).
pub(crate) struct Optimize {
    pub(crate) table: QualifiedName,
    pub(crate) filters: Vec<(String, String, Vec<String>)>,
    pub(crate) zorder: Vec<String>,
}

impl Statement for Optimize {
    const STARTS: &'static [&'static [&'static str]] = &[&["OPTIMIZE"]];
    const TABLE_AFTER: &'static [&'static str] = &["OPTIMIZE"];
    const WORDS: &'static [&'static str] = &["REWRITE", "DATA", "USING", "BIN_PACK", "WHERE", "ZORDER", "BY"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr};
        d.expect("OPTIMIZE")?;
        let table = d.qualified_name()?;
        if d.clause(&["REWRITE", "DATA", "USING"])? {
            d.expect("BIN_PACK")?;
        }
        let mut filters = Vec::new();
        if d.eat("WHERE") {
            let mut pending = vec![d.p.parse_expr()?];
            while let Some(expr) = pending.pop() {
                let value = |e: &Expr| -> Result<String> {
                    match e {
                        Expr::Value(v) => Ok(match &v.value {
                            datafusion::sql::sqlparser::ast::Value::SingleQuotedString(s) => s.clone(),
                            other => other.to_string(),
                        }),
                        other => Err(EngineError::invalid(
                            Part::Clause,
                            format!(
                                "OPTIMIZE ... WHERE compares partition columns with literals; '{other}' is not a literal"
                            ),
                        )),
                    }
                };
                let column = |e: &Expr| -> Result<String> {
                    match e {
                        Expr::Identifier(i) => Ok(i.value.to_lowercase()),
                        other => Err(EngineError::invalid(
                            Part::Clause,
                            format!(
                                "OPTIMIZE ... WHERE compares partition columns with literals; '{other}' is not a column"
                            ),
                        )),
                    }
                };
                match expr {
                    Expr::BinaryOp {
                        left,
                        op: BinaryOperator::And,
                        right,
                    } => {
                        pending.push(*right);
                        pending.push(*left);
                    }
                    Expr::Nested(inner) => pending.push(*inner),
                    Expr::BinaryOp { left, op, right } => {
                        let op = match op {
                            BinaryOperator::Eq => "=",
                            BinaryOperator::NotEq => "<>",
                            BinaryOperator::Lt => "<",
                            BinaryOperator::LtEq => "<=",
                            BinaryOperator::Gt => ">",
                            BinaryOperator::GtEq => ">=",
                            other => {
                                return Err(EngineError::invalid(
                                    Part::Clause,
                                    format!("OPTIMIZE ... WHERE takes =, <>, <, <=, >, >=, IN and AND, not {other}"),
                                ));
                            }
                        };
                        filters.push((column(&left)?, op.to_string(), vec![value(&right)?]));
                    }
                    Expr::InList {
                        expr,
                        list,
                        negated: false,
                    } => filters.push((
                        column(&expr)?,
                        "IN".to_string(),
                        list.iter().map(&value).collect::<Result<_>>()?,
                    )),
                    other => {
                        return Err(EngineError::invalid(
                            Part::Clause,
                            format!(
                                "OPTIMIZE ... WHERE takes comparisons of partition columns joined by AND, not '{other}'"
                            ),
                        ));
                    }
                }
            }
        }
        let mut zorder = Vec::new();
        if d.clause(&["ZORDER", "BY"])? {
            let parenthesized = d.consume(Token::LParen);
            zorder =
                d.p.parse_comma_separated(|p| p.parse_identifier())?
                    .into_iter()
                    .map(|i| i.value.to_lowercase())
                    .collect();
            if parenthesized {
                d.token(Token::RParen)?;
            }
        }
        d.end()?;
        Ok(Self { table, filters, zorder })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let Self { table, filters, zorder } = self;
        let (name, filters) = (&table, filters.as_slice());
        let target = ctx.table(name).await?;
        let partitions: Vec<String> = target.partition_keys.iter().map(|k| k.name.clone()).collect();
        for (column, _, _) in filters {
            if !partitions.contains(column) {
                return Err(EngineError::invalid(
                    Part::Column,
                    format!(
                        "OPTIMIZE ... WHERE can filter partition columns only ({}); '{column}' is not one",
                        if partitions.is_empty() {
                            "the table has none".to_string()
                        } else {
                            partitions.join(", ")
                        }
                    ),
                ));
            }
        }
        if target.kind() == TableKind::Hive {
            if !zorder.is_empty() {
                return Err(EngineError::unsupported(
                    "OPTIMIZE ... ZORDER BY on a Hive-layout table",
                    "OPTIMIZE without ZORDER compacts it; Z-order is for Delta tables",
                ));
            }
            return ctx.optimize_hive(target, filters).await;
        }
        let (def, table, meter, state) = ctx.dml_target(name, "OPTIMIZE").await?;
        let mut literals = Vec::new();
        for (column, op, values) in filters {
            let op = match op.as_str() {
                "=" => FilterOp::Eq,
                "<>" | "!=" => FilterOp::Ne,
                "<" => FilterOp::Lt,
                "<=" => FilterOp::Le,
                ">" => FilterOp::Gt,
                ">=" => FilterOp::Ge,
                "IN" => FilterOp::In,
                other => {
                    return Err(EngineError::invalid(
                        Part::Clause,
                        format!("OPTIMIZE ... WHERE does not take '{other}'"),
                    ));
                }
            };
            let value = match op {
                FilterOp::In => FilterValue::Set(values.iter().map(String::as_str).collect()),
                _ => FilterValue::Scalar(values.first().map(String::as_str).unwrap_or_default()),
            };
            literals.push((column.as_str(), op, value));
        }
        let kind = if zorder.is_empty() {
            OptimizeType::Compact
        } else {
            OptimizeType::ZOrder(zorder)
        };
        let location = def.storage.location.clone();
        let (table, metrics) = table
            .optimize()
            .with_type(kind)
            .with_filters(&literals)
            .with_session_state(Arc::new(state))
            .await
            .map_err(|e| ctx.write_error_at(&location, &meter, e))?;
        let message = format!(
            "optimized {}: {} removed, {} added ({} partitions; version {})",
            def.qualified_name(),
            files(metrics.num_files_removed),
            files(metrics.num_files_added),
            metrics.partitions_optimized,
            table.version().unwrap_or_default()
        );
        Ok(Outcome::written(message, 0, meter))
    }
}

/// `VACUUM t [RETAIN n HOURS] [DRY RUN]`.
pub(crate) struct Vacuum {
    pub(crate) table: QualifiedName,
    pub(crate) retain_hours: Option<u64>,
    pub(crate) dry_run: bool,
}

impl Statement for Vacuum {
    const STARTS: &'static [&'static [&'static str]] = &[&["VACUUM"]];
    const TABLE_AFTER: &'static [&'static str] = &["VACUUM"];
    const WORDS: &'static [&'static str] = &["RETAIN", "HOURS", "DRY", "RUN"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("VACUUM")?;
        let table = d.qualified_name()?;
        let mut retain_hours = None;
        if d.eat("RETAIN") {
            retain_hours = Some(d.p.parse_literal_uint()?);
            d.expect("HOURS")?;
        }
        let dry_run = d.clause(&["DRY", "RUN"])?;
        d.end()?;
        Ok(Self {
            table,
            retain_hours,
            dry_run,
        })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let Self {
            table,
            retain_hours,
            dry_run,
        } = self;
        let name = &table;
        let (def, table, meter, _) = ctx.dml_target(name, "VACUUM").await?;
        let location = def.storage.location.clone();
        let mut builder = table
            .vacuum()
            .with_dry_run(dry_run)
            .with_enforce_retention_duration(ctx.settings.delta_retention_check);
        if let Some(hours) = retain_hours {
            let hours = i64::try_from(hours).map_err(|_| EngineError::invalid(Part::Setting, "RETAIN is too large"))?;
            builder = builder.with_retention_period(chrono::Duration::hours(hours));
        }
        let (table, metrics) = builder.await.map_err(|e| {
            let text = e.to_string();
            if text.contains("minimum retention for vacuum") {
                EngineError::invalid(
                    Part::Clause,
                    format!(
                        "VACUUM {}: the retention is below the table's minimum ({}), and readers of older versions may \
                     still need those files; to go below it, SET {RETENTION_CHECK_SETTING} = false",
                        def.qualified_name(),
                        text.split("configured to be ").nth(1).unwrap_or(&text)
                    ),
                )
            } else {
                delta_error(&location, e)
            }
        })?;
        let count = metrics.files_deleted.len();
        let message = if dry_run {
            let sample: Vec<&str> = metrics.files_deleted.iter().take(5).map(String::as_str).collect();
            format!(
                "VACUUM {} would delete {}{}",
                def.qualified_name(),
                files(count as u64),
                if sample.is_empty() {
                    String::new()
                } else {
                    format!(": {}", sample.join(", "))
                }
            )
        } else {
            format!(
                "vacuumed {}: deleted {} no version within the retention period uses (version {})",
                def.qualified_name(),
                files(count as u64),
                table.version().unwrap_or_default()
            )
        };
        Ok(Outcome::written(message, 0, meter))
    }
}

/// `DESCRIBE HISTORY t` / `SHOW HISTORY t`.
pub(crate) struct History {
    pub(crate) table: QualifiedName,
}

impl Statement for History {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] =
        &[&["DESCRIBE", "HISTORY"], &["DESC", "HISTORY"], &["SHOW", "HISTORY"]];
    const TABLE_AFTER: &'static [&'static str] = &["HISTORY"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        if !d.eat("SHOW") && !d.eat("DESCRIBE") {
            d.expect("DESC")?;
        }
        d.expect("HISTORY")?;
        let table = d.qualified_name()?;
        d.end()?;
        Ok(Self { table })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let name = &self.table;
        let def = ctx.table(name).await?;
        if def.kind() != TableKind::Delta {
            return Err(not_delta(
                "DESCRIBE HISTORY",
                &def,
                "only Delta tables keep versions of their data; CTAS a copy WITH (table_type = 'DELTA') to start one",
            ));
        }
        let location = Location::parse(&def.storage.location)?;
        let table = ctx.open_delta(&location, AsOf::Latest).await?;
        let latest = table.version().unwrap_or_default();
        let commits: Vec<_> = table
            .history(None)
            .try_collect()
            .await
            .map_err(|e| delta_error(&location.url, e))?;
        let mut rows: [Vec<String>; 5] = Default::default();
        for (i, commit) in commits.iter().enumerate() {
            rows[0].push(latest.saturating_sub(i as u64).to_string());
            rows[1].push(
                commit
                    .timestamp
                    .and_then(DateTime::from_timestamp_millis)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
                    .unwrap_or_default(),
            );
            rows[2].push(commit.operation.clone().unwrap_or_default());
            rows[3].push(
                commit
                    .operation_parameters
                    .as_ref()
                    .map(|p| serde_json::to_string(&p.iter().collect::<BTreeMap<_, _>>()).unwrap_or_default())
                    .unwrap_or_default(),
            );
            rows[4].push(
                commit
                    .info
                    .get("operationMetrics")
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            );
        }
        let names = [
            "version",
            "timestamp",
            "operation",
            "operation_parameters",
            "operation_metrics",
        ];
        Ok(Outcome::listing(
            crate::result::string_schema(&names),
            crate::result::string_batch(&names, rows.into())?,
        ))
    }
}

async fn merge(ctx: &mut Ctx, merge: ast::Merge) -> Result<Outcome> {
    let (target_name, target_alias) = table_factor_name(&merge.table)?;
    let (def, table, _, _) = ctx.dml_target(&target_name, "MERGE").await?;
    let target_alias = target_alias.unwrap_or_else(|| target_name.name.clone());
    let (source, source_alias, state, meter) = merge_source(ctx, merge.source).await?;
    let location = def.storage.location.clone();
    let target_columns: Vec<String> = ctx
        .delta_shape(&def, &table)
        .await?
        .all_columns()
        .map(|c| c.name.clone())
        .collect();
    // Conditions and values name the source and the target by their aliases, as delta-rs' join does.
    let target_schema = table_schema(&table, &location).await?;
    let schema = DFSchema::try_from_qualified_schema(source_alias.as_str(), source.schema().as_arrow())
        .and_then(|s| {
            s.join(&DFSchema::try_from_qualified_schema(
                target_alias.as_str(),
                target_schema.as_arrow(),
            )?)
        })
        .map_err(from_datafusion)?;
    let on = plan_expr(&state, &merge.on, &schema)?;
    let mut builder = table
        .merge(source, on)
        .with_source_alias(source_alias)
        .with_target_alias(target_alias)
        .with_session_state(Arc::new(state.clone()));
    let at = |e| delta_error(&location, e);
    for clause in merge.clauses {
        let predicate = clause
            .predicate
            .as_ref()
            .map(|p| plan_expr(&state, p, &schema))
            .transpose()?;
        builder = match (clause.clause_kind, clause.action) {
            (MergeClauseKind::Matched, MergeAction::Update(update)) => builder
                .when_matched_update(update_clause(
                    predicate,
                    assignments(&update.assignments, &state, &schema)?,
                ))
                .map_err(at)?,
            (MergeClauseKind::Matched, MergeAction::Delete { .. }) => {
                builder.when_matched_delete(delete_clause(predicate)).map_err(at)?
            }
            (MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget, MergeAction::Insert(insert)) => {
                let MergeInsertKind::Values(values) = &insert.kind else {
                    return Err(EngineError::unsupported("INSERT ROW in MERGE", "list the VALUES"));
                };
                let [row] = values.rows.as_slice() else {
                    return Err(EngineError::invalid(
                        Part::Clause,
                        "MERGE ... INSERT takes one VALUES row",
                    ));
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
                    return Err(EngineError::invalid(
                        Part::QueryShape,
                        format!(
                            "MERGE ... INSERT names {} columns and gives {} values",
                            columns.len(),
                            row.len()
                        ),
                    ));
                }
                let values: Vec<Expr> = row
                    .iter()
                    .map(|v| plan_expr(&state, v, &schema))
                    .collect::<Result<_>>()?;
                let sets: Vec<(String, Expr)> = columns.into_iter().zip(values).collect();
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
                .when_not_matched_by_source_update(update_clause(
                    predicate,
                    assignments(&update.assignments, &state, &schema)?,
                ))
                .map_err(at)?,
            (MergeClauseKind::NotMatchedBySource, MergeAction::Delete { .. }) => builder
                .when_not_matched_by_source_delete(delete_clause(predicate))
                .map_err(at)?,
            (kind, action) => {
                return Err(EngineError::invalid(
                    Part::Clause,
                    format!("WHEN {kind} THEN {action} is not a valid MERGE clause"),
                ));
            }
        };
    }
    let (table, metrics) = builder.await.map_err(|e| ctx.write_error_at(&location, &meter, e))?;
    let changed =
        (metrics.num_target_rows_inserted + metrics.num_target_rows_updated + metrics.num_target_rows_deleted) as u64;
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

/// MERGE's source as a frame to join, planned from its syntax tree (a table, or a subquery with an alias), and the
/// name its columns are qualified by in the conditions.
async fn merge_source(ctx: &Ctx, source: TableFactor) -> Result<(DataFrame, String, SessionState, Arc<ScanMeter>)> {
    match source {
        TableFactor::Table { name, alias, .. } => {
            let qualified = qualified_name(&name)?;
            let alias = alias.map(|a| a.name.value).unwrap_or_else(|| qualified.name.clone());
            let reference = match qualified.database {
                Some(db) => TableReference::partial(db, qualified.name),
                None => TableReference::bare(qualified.name),
            };
            let (state, meter, _) = ctx.metered_state(vec![reference.clone()]).await?;
            let frame = SessionContext::new_with_state(state.clone())
                .table(reference)
                .await
                .map_err(from_datafusion)?;
            Ok((frame, alias, state, meter))
        }
        TableFactor::Derived { subquery, alias, .. } => {
            let alias = alias.map(|a| a.name.value).ok_or_else(|| {
                EngineError::invalid(
                    Part::Clause,
                    "MERGE ... USING (subquery) needs an alias: USING (...) AS s",
                )
            })?;
            let statement = DFStatement::Statement(Box::new(ast::Statement::Query(subquery)));
            let prepared = ctx.prepare_query(statement).await?;
            Ok((
                DataFrame::new(prepared.state.clone(), prepared.plan),
                alias,
                prepared.state,
                prepared.meter,
            ))
        }
        other => Err(EngineError::unsupported(
            format!("MERGE ... USING {other}"),
            "use a table or a (subquery) AS alias",
        )),
    }
}

/// The Delta table's columns as its scans see them (partition columns included).
async fn table_schema(table: &DeltaTable, location: &str) -> Result<DFSchema> {
    let provider = table
        .table_provider()
        .await
        .map_err(|e| delta_error(location, DeltaTableError::from(e)))?;
    DFSchema::try_from(provider.schema().as_ref().clone()).map_err(from_datafusion)
}

/// A SQL expression of a DELETE, UPDATE or MERGE planned against `schema` with the session's functions: delta-rs
/// takes it as an `Expr` rather than parsing its text again (with functions of its own).
fn plan_expr(state: &SessionState, expr: &ast::Expr, schema: &DFSchema) -> Result<Expr> {
    let expr = ast::ExprWithAlias {
        expr: expr.clone(),
        alias: None,
    };
    state
        .create_logical_expr_from_sql_expr(expr, schema)
        .map_err(from_datafusion)
}

/// `SET column = value, ...` with each value planned against `schema`.
fn assignments(list: &[ast::Assignment], state: &SessionState, schema: &DFSchema) -> Result<Vec<(String, Expr)>> {
    list.iter()
        .map(|a| Ok((assignment_column(&a.target)?, plan_expr(state, &a.value, schema)?)))
        .collect()
}

fn assignment_column(target: &AssignmentTarget) -> Result<String> {
    match target {
        AssignmentTarget::ColumnName(name) => Ok(last_part(name)?.to_lowercase()),
        AssignmentTarget::Tuple(_) => Err(EngineError::unsupported("SET (a, b) = ...", "set one column at a time")),
    }
}

fn table_factor_name(factor: &TableFactor) -> Result<(QualifiedName, Option<String>)> {
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

/// A MERGE `UPDATE SET ...` clause, with its optional `AND` condition.
fn update_clause(
    predicate: Option<Expr>,
    sets: Vec<(String, Expr)>,
) -> impl FnOnce(deltalake::operations::merge::UpdateBuilder) -> deltalake::operations::merge::UpdateBuilder {
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
fn delete_clause(
    predicate: Option<Expr>,
) -> impl FnOnce(deltalake::operations::merge::DeleteBuilder) -> deltalake::operations::merge::DeleteBuilder {
    move |delete| match predicate {
        Some(p) => delete.predicate(p),
        None => delete,
    }
}

fn last_part(name: &ast::ObjectName) -> Result<String> {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .ok_or_else(|| EngineError::invalid(Part::Name, format!("'{name}' is not a column or table name")))
}
