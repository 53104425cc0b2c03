//! Statements of any size. BI tools and code generators write `a = 0 OR a = 1 OR …` and `c1 + c2 + …` with
//! thousands of terms. Parsed, such a chain is a tree as deep as it is long, and much of DataFusion walks trees by
//! recursion that nothing bounds (derived `Clone`, `Drop`, `Hash`), or asks each node for its type by walking the
//! whole subtree below it (quadratic). So before planning:
//!
//! * chains of `AND` and of `OR` are rebuilt as balanced trees: the same logic (both are associative, in three-valued
//!   logic too), depth log2(n) instead of n, for planning and for evaluation alike. DataFusion's filter pushdown
//!   splits conjunctions and joins them back left-deep, so [`BalanceLogic`] and [`BalanceFilters`] balance them again
//!   after its logical and physical rules (a physical binary expression recomputes its type from its children for
//!   every batch, which is quadratic in a left-deep chain);
//! * a long left-to-right chain of arithmetic (`c1 + c2 - c3 * 2 + …`) becomes one call of [`Chain`], which applies
//!   the same operators in the same order with DataFusion's own type coercion and kernels, and names its column as
//!   the chain would be named: a tree one level deep, typed and named once. (Regrouping arithmetic would change
//!   floating-point results, overflow and decimal scales, so the order is kept exactly.)
//! * a statement long enough to be deep is parsed and planned on a thread whose stack grows with the statement's
//!   length ([`planning_stack`]), so what recursion remains cannot overflow the caller's stack.
//!
//! Nesting (parentheses, subqueries, function calls) is bounded by the parser at [`PARSER_RECURSION_LIMIT`] levels,
//! with an error that says so.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err, plan_err};
use datafusion::datasource::physical_plan::{FileScanConfigBuilder, FileSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion::logical_expr::{
    ColumnarValue, Expr as DfExpr, Operator, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, Column};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};

use crate::parquet_files::ParquetFiles;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, ObjectNamePart, VisitMut, VisitorMut,
};

pub(crate) use crate::dialect::PARSER_RECURSION_LIMIT;
/// Chains of `AND`/`OR` with more terms than this are rebalanced.
const BALANCE_AT: usize = 32;
/// Arithmetic chains with more operators than this become one [`Chain`] call.
const CHAIN_AT: usize = 64;
/// Statements up to this long are planned on the caller's stack: they cannot nest deeper than a few hundred levels.
const SMALL_STATEMENT: usize = 4 << 10;
/// Stack per byte of statement text on the planning thread: a generous bound on what one level of nesting costs in
/// an unoptimised build (a tree level is at least two bytes of text).
const STACK_PER_BYTE: usize = 2 << 10;
const MIN_PLANNING_STACK: usize = 64 << 20;
const MAX_PLANNING_STACK: usize = 4 << 30;

/// The stack a statement of `sql_len` bytes is planned on, or `None` when the caller's stack is enough.
pub(crate) fn planning_stack(sql_len: usize) -> Option<usize> {
    (sql_len > SMALL_STATEMENT).then(|| {
        MIN_PLANNING_STACK
            .saturating_add(sql_len.saturating_mul(STACK_PER_BYTE))
            .min(MAX_PLANNING_STACK)
    })
}

/// The name [`Chain`] is registered under (not a name a query would use).
pub(crate) const CHAIN_NAME: &str = "__tarn_chain";
/// Rebalances `AND`/`OR` chains and folds long arithmetic chains in `statement` (see the module docs).
pub(crate) fn make_shallow(statement: &mut DFStatement) {
    match statement {
        DFStatement::Statement(s) => {
            let _ = s.as_mut().visit(&mut Shallow);
        }
        DFStatement::Explain(e) => make_shallow(e.statement.as_mut()),
        _ => {}
    }
}

struct Shallow;

impl VisitorMut for Shallow {
    type Break = ();

    /// Top-down, so a whole chain is seen from its root and replaced before its terms are visited.
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::BinaryOp { op, .. } = expr
            && matches!(op, BinaryOperator::And | BinaryOperator::Or)
        {
            let op = op.clone();
            if count_terms(expr, &op) > BALANCE_AT {
                let mut terms = Vec::new();
                flatten(std::mem::replace(expr, placeholder()), &op, &mut terms);
                *expr = balanced(terms, &op);
            }
        } else if chain_length(expr) > CHAIN_AT {
            let (ops, terms) = unchain(std::mem::replace(expr, placeholder()));
            *expr = chain_call(&ops, terms);
        }
        ControlFlow::Continue(())
    }
}

/// The arithmetic operators a chain may hold, as [`Chain`] spells them.
fn chain_op(op: &BinaryOperator) -> Option<char> {
    Some(match op {
        BinaryOperator::Plus => '+',
        BinaryOperator::Minus => '-',
        BinaryOperator::Multiply => '*',
        BinaryOperator::Divide => '/',
        BinaryOperator::Modulo => '%',
        _ => return None,
    })
}

/// How many arithmetic operators lead down the left side of `expr` (a chain written flat grows to the left).
fn chain_length(expr: &Expr) -> usize {
    let mut length = 0;
    let mut current = expr;
    while let Expr::BinaryOp { left, op, .. } = current
        && chain_op(op).is_some()
    {
        length += 1;
        current = left;
    }
    length
}

/// A left-deep chain as its operators and terms: `((t0 o1 t1) o2 t2) …` is `[o1, o2, …]` and `[t0, t1, t2, …]`.
fn unchain(expr: Expr) -> (String, Vec<Expr>) {
    let mut ops = Vec::new();
    let mut rights = Vec::new();
    let mut current = expr;
    loop {
        match current {
            Expr::BinaryOp { left, op, right } if chain_op(&op).is_some() => {
                ops.extend(chain_op(&op));
                rights.push(*right);
                current = *left;
            }
            first => {
                rights.push(first);
                break;
            }
        }
    }
    ops.reverse();
    rights.reverse();
    (ops.into_iter().collect(), rights)
}

fn chain_call(ops: &str, terms: Vec<Expr>) -> Expr {
    let mut args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
        datafusion::sql::sqlparser::ast::Value::SingleQuotedString(ops.to_string()),
    )))];
    args.extend(
        terms
            .into_iter()
            .map(|t| FunctionArg::Unnamed(FunctionArgExpr::Expr(t))),
    );
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(CHAIN_NAME))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args,
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

fn placeholder() -> Expr {
    Expr::value(datafusion::sql::sqlparser::ast::Value::Null)
}

/// The terms of the chain of `op` at `expr` (iteratively: the chain may be thousands deep).
fn count_terms(expr: &Expr, op: &BinaryOperator) -> usize {
    let mut count = 0;
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match e {
            Expr::BinaryOp { left, op: o, right } if o == op => {
                stack.push(right);
                stack.push(left);
            }
            _ => count += 1,
        }
    }
    count
}

/// The terms of a chain of `op` (iteratively: the chain may be thousands deep), left to right.
fn flatten(expr: Expr, op: &BinaryOperator, terms: &mut Vec<Expr>) {
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match e {
            Expr::BinaryOp { left, op: o, right } if &o == op => {
                stack.push(*right);
                stack.push(*left);
            }
            other => terms.push(other),
        }
    }
}

fn join(left: Expr, op: &BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op: op.clone(),
        right: Box::new(right),
    }
}

/// A tree of depth ceil(log2(n)) over `terms`, in their order, made with `join`; `None` for no terms.
fn balance<T>(terms: Vec<T>, join: impl Fn(T, T) -> T) -> Option<T> {
    let mut level = terms;
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut items = level.into_iter();
        while let Some(a) = items.next() {
            next.push(match items.next() {
                Some(b) => join(a, b),
                None => a,
            });
        }
        level = next;
    }
    level.pop()
}

fn balanced(terms: Vec<Expr>, op: &BinaryOperator) -> Expr {
    balance(terms, |a, b| join(a, op, b)).unwrap_or_else(placeholder)
}

/// `__tarn_chain('+-', t0, t1, t2)` is `(t0 + t1) - t2`: each step coerces its two sides exactly as DataFusion's
/// analyzer coerces a binary expression, then evaluates DataFusion's physical binary expression on them.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Chain {
    signature: Signature,
}

impl Chain {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

fn operator(op: char) -> DfResult<Operator> {
    Ok(match op {
        '+' => Operator::Plus,
        '-' => Operator::Minus,
        '*' => Operator::Multiply,
        '/' => Operator::Divide,
        '%' => Operator::Modulo,
        other => return plan_err!("{CHAIN_NAME}: unknown operator '{other}'"),
    })
}

fn operators(value: Option<&ScalarValue>, terms: usize) -> DfResult<Vec<Operator>> {
    let ops = match value {
        Some(ScalarValue::Utf8(Some(ops))) => ops.chars().map(operator).collect::<DfResult<Vec<_>>>()?,
        _ => return plan_err!("{CHAIN_NAME} takes its operators as a text literal first"),
    };
    if ops.len() + 1 != terms {
        return plan_err!("{CHAIN_NAME}: {} operators for {terms} terms", ops.len());
    }
    Ok(ops)
}

/// The types the two sides of one step are cast to, and the step's result type.
fn step_types(left: &DataType, op: &Operator, right: &DataType) -> DfResult<(DataType, DataType, DataType)> {
    let (l, r) = BinaryTypeCoercer::new(left, op, right).get_input_types()?;
    let result = BinaryTypeCoercer::new(&l, op, &r).get_result_type()?;
    Ok((l, r, result))
}

impl ScalarUDFImpl for Chain {
    fn name(&self) -> &str {
        CHAIN_NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        plan_err!("{CHAIN_NAME} is typed from its operators (return_field_from_args)")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let terms = args.arg_fields.get(1..).unwrap_or_default();
        let ops = operators(args.scalar_arguments.first().copied().flatten(), terms.len())?;
        let Some(first) = terms.first() else {
            return plan_err!("{CHAIN_NAME} needs terms");
        };
        let mut result = first.data_type().clone();
        for (op, term) in ops.iter().zip(&terms[1..]) {
            result = step_types(&result, op, term.data_type())?.2;
        }
        let nullable = terms.iter().any(|t| t.is_nullable());
        Ok(Arc::new(Field::new(CHAIN_NAME, result, nullable)))
    }

    /// The name the chain has written out (`c1 + c2 - c3`), which is what DataFusion calls the column.
    fn schema_name(&self, args: &[DfExpr]) -> DfResult<String> {
        let (Some(DfExpr::Literal(ScalarValue::Utf8(Some(ops)), _)), Some(terms)) = (args.first(), args.get(1..))
        else {
            return plan_err!("{CHAIN_NAME} takes its operators as a text literal first");
        };
        let mut terms = terms.iter();
        let mut name = terms.next().map(|t| t.schema_name().to_string()).unwrap_or_default();
        for (op, term) in ops.chars().zip(terms) {
            name.push_str(&format!(" {} {}", operator(op)?, term.schema_name()));
        }
        Ok(name)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let mut values = args.args.into_iter();
        let ops_value = match values.next() {
            Some(ColumnarValue::Scalar(s)) => Some(s),
            _ => None,
        };
        let fields = args.arg_fields.get(1..).unwrap_or_default();
        let ops = operators(ops_value.as_ref(), fields.len())?;
        let (Some(mut acc), Some(first)) = (values.next(), fields.first()) else {
            return exec_err!("{CHAIN_NAME} needs terms");
        };
        let mut acc_type = first.data_type().clone();
        for ((op, value), field) in ops.iter().zip(values).zip(&fields[1..]) {
            let (left_type, right_type, result_type) = step_types(&acc_type, op, field.data_type())?;
            let left = acc.cast_to(&left_type, None)?;
            let right = value.cast_to(field.data_type(), None)?.cast_to(&right_type, None)?;
            let scalar = matches!((&left, &right), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
            let n = if scalar { 1 } else { rows };
            let schema = Arc::new(Schema::new(vec![
                Field::new("l", left_type, true),
                Field::new("r", right_type, true),
            ]));
            let batch = RecordBatch::try_new_with_options(
                Arc::clone(&schema),
                vec![left.into_array(n)?, right.into_array(n)?],
                &RecordBatchOptions::new().with_row_count(Some(n)),
            )?;
            let step = BinaryExpr::new(Arc::new(Column::new("l", 0)), *op, Arc::new(Column::new("r", 1)));
            acc = step.evaluate(&batch)?;
            if scalar && let ColumnarValue::Array(array) = &acc {
                acc = ColumnarValue::Scalar(ScalarValue::try_from_array(array, 0)?);
            }
            acc_type = result_type;
        }
        Ok(acc)
    }
}

/// The last logical optimizer rule: `AND`/`OR` chains of more than [`BALANCE_AT`] terms that are deeper than a
/// balanced tree are rebuilt balanced (DataFusion's `conjunction` folds filters to the left).
#[derive(Debug, Default)]
pub(crate) struct BalanceLogic;

impl OptimizerRule for BalanceLogic {
    fn name(&self) -> &str {
        "tarn_balance_and_or"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> DfResult<Transformed<LogicalPlan>> {
        plan.map_expressions(|e| e.transform_down(balance_logical))
    }
}

fn balance_logical(expr: DfExpr) -> DfResult<Transformed<DfExpr>> {
    let DfExpr::BinaryExpr(binary) = &expr else {
        return Ok(Transformed::no(expr));
    };
    let op = binary.op;
    if !matches!(op, Operator::And | Operator::Or) {
        return Ok(Transformed::no(expr));
    }
    // Terms and depth of the chain, without recursion.
    let (mut terms, mut depth) = (0usize, 0usize);
    let mut stack = vec![(&expr, 0usize)];
    while let Some((e, d)) = stack.pop() {
        match e {
            DfExpr::BinaryExpr(b) if b.op == op => {
                stack.push((&b.left, d + 1));
                stack.push((&b.right, d + 1));
            }
            _ => {
                terms += 1;
                depth = depth.max(d);
            }
        }
    }
    let balanced_depth = terms.next_power_of_two().trailing_zeros() as usize;
    if terms <= BALANCE_AT || depth <= balanced_depth {
        return Ok(Transformed::no(expr));
    }
    let mut flat = Vec::with_capacity(terms);
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match e {
            DfExpr::BinaryExpr(b) if b.op == op => {
                stack.push(*b.right);
                stack.push(*b.left);
            }
            other => flat.push(other),
        }
    }
    let joined = balance(flat, |a, b| {
        DfExpr::BinaryExpr(datafusion::logical_expr::BinaryExpr::new(Box::new(a), op, Box::new(b)))
    });
    match joined {
        Some(balanced) => Ok(Transformed::yes(balanced)),
        None => plan_err!("an empty {op} chain"),
    }
}

/// The last physical optimizer rule: a filter's `AND`/`OR` chains, balanced (see [`BalanceLogic`]).
#[derive(Debug, Default)]
pub(crate) struct BalanceFilters;

impl PhysicalOptimizerRule for BalanceFilters {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> DfResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if let Some(filter) = node.downcast_ref::<FilterExec>()
                && let Some(predicate) = balance_physical(filter.predicate())
            {
                let balanced = FilterExecBuilder::from(filter).with_predicate(predicate).build()?;
                return Ok(Transformed::yes(Arc::new(balanced) as Arc<dyn ExecutionPlan>));
            }
            // A Parquet scan builds its pruning predicates from the filter pushed into it, file by file.
            if let Some(scan) = node.downcast_ref::<DataSourceExec>()
                && let Some((config, files)) = scan.downcast_to_file_source::<ParquetFiles>()
                && let Some(parquet) = files.parquet()
                && let Some(predicate) = parquet.filter().as_ref().and_then(balance_physical)
            {
                let config = FileScanConfigBuilder::from(config.clone())
                    .with_source(files.with_inner(Arc::new(parquet.with_predicate(predicate))))
                    .build();
                let balanced = DataSourceExec::clone(scan).with_data_source(Arc::new(config));
                return Ok(Transformed::yes(Arc::new(balanced) as Arc<dyn ExecutionPlan>));
            }
            Ok(Transformed::no(node))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "tarn_balance_filters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `predicate` with its long `AND`/`OR` chains balanced, or `None` when none needed it.
fn balance_physical(predicate: &Arc<dyn PhysicalExpr>) -> Option<Arc<dyn PhysicalExpr>> {
    let rewritten = Arc::clone(predicate)
        .transform_down(|e| {
            let Some(binary) = e.downcast_ref::<BinaryExpr>() else {
                return Ok(Transformed::no(e));
            };
            let op = *binary.op();
            if !matches!(op, Operator::And | Operator::Or) {
                return Ok(Transformed::no(e));
            }
            let (mut terms, mut depth) = (Vec::new(), 0usize);
            let mut stack = vec![(Arc::clone(&e), 0usize)];
            while let Some((node, d)) = stack.pop() {
                match node.downcast_ref::<BinaryExpr>() {
                    Some(b) if *b.op() == op => {
                        stack.push((Arc::clone(b.right()), d + 1));
                        stack.push((Arc::clone(b.left()), d + 1));
                    }
                    _ => {
                        terms.push(node);
                        depth = depth.max(d);
                    }
                }
            }
            let balanced_depth = terms.len().next_power_of_two().trailing_zeros() as usize;
            if terms.len() <= BALANCE_AT || depth <= balanced_depth {
                return Ok(Transformed::no(e));
            }
            let joined = balance(terms, |a, b| {
                Arc::new(BinaryExpr::new(a, op, b)) as Arc<dyn PhysicalExpr>
            });
            Ok(match joined {
                Some(balanced) => Transformed::yes(balanced),
                None => Transformed::no(e),
            })
        })
        .ok()?;
    rewritten.transformed.then_some(rewritten.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;

    fn parse(sql: &str) -> Result<DFStatement, String> {
        let mut statements = DFParser::parse_sql(sql).map_err(|e| e.to_string())?;
        statements.pop_front().ok_or_else(|| "no statement".to_string())
    }

    fn depth(expr: &Expr) -> usize {
        match expr {
            Expr::BinaryOp { left, right, .. } => 1 + depth(left).max(depth(right)),
            Expr::Function(f) => match &f.args {
                FunctionArguments::List(l) => {
                    1 + l
                        .args
                        .iter()
                        .map(|a| match a {
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => depth(e),
                            _ => 0,
                        })
                        .max()
                        .unwrap_or(0)
                }
                _ => 1,
            },
            Expr::Nested(e) => 1 + depth(e),
            _ => 1,
        }
    }

    fn where_clause(statement: &DFStatement) -> Option<&Expr> {
        let DFStatement::Statement(s) = statement else {
            return None;
        };
        let datafusion::sql::sqlparser::ast::Statement::Query(q) = s.as_ref() else {
            return None;
        };
        let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = q.body.as_ref() else {
            return None;
        };
        select.selection.as_ref()
    }

    #[test]
    fn or_chains_are_balanced_and_keep_their_terms_in_order() -> Result<(), String> {
        let terms: Vec<String> = (0..1000).map(|i| format!("a = {i}")).collect();
        let mut statement = parse(&format!("SELECT * FROM t WHERE {}", terms.join(" OR ")))?;
        make_shallow(&mut statement);
        let filter = where_clause(&statement);
        assert_eq!(
            filter.map(depth),
            Some(10 + 2),
            "log2(1000) rounded up, plus the comparison and its operand"
        );
        let text = filter.map(|f| f.to_string()).unwrap_or_default();
        // Only the grouping changed: the terms read in their order once the parentheses sqlparser prints are gone.
        assert_eq!(text.replace(['(', ')'], ""), terms.join(" OR "));
        // Short chains are left as written.
        let mut short = parse("SELECT * FROM t WHERE a = 1 OR b = 2 AND c = 3")?;
        let before = where_clause(&short).map(|f| f.to_string());
        make_shallow(&mut short);
        assert_eq!(where_clause(&short).map(|f| f.to_string()), before);
        Ok(())
    }

    #[test]
    fn arithmetic_chains_become_one_call_in_their_order() -> Result<(), String> {
        let terms: Vec<String> = (0..200).map(|i| format!("x{i}")).collect();
        let ops = ["+", "-", "*"];
        let mut text = terms[0].clone();
        for (i, t) in terms.iter().enumerate().skip(1) {
            text.push_str(&format!(" {} {t}", ops[i % 3]));
        }
        let mut statement = parse(&format!("SELECT * FROM t WHERE {text} > 0"))?;
        make_shallow(&mut statement);
        let filter = where_clause(&statement).ok_or("no WHERE")?;
        // `*` binds tighter, so the chain's terms are products; the top chain is the sums.
        let Expr::BinaryOp { left, .. } = filter else {
            return Err(format!("{filter}"));
        };
        let Expr::Function(f) = left.as_ref() else {
            return Err(format!("{left}"));
        };
        assert_eq!(f.name.to_string(), CHAIN_NAME);
        assert!(depth(filter) <= 6, "{}", depth(filter));
        // Short chains stay binary expressions.
        let mut short = parse("SELECT a + b - c FROM t")?;
        let before = short.to_string();
        make_shallow(&mut short);
        assert_eq!(short.to_string(), before);
        Ok(())
    }

    #[test]
    fn long_statements_get_a_stack_to_match() {
        assert_eq!(planning_stack(100), None);
        assert!(planning_stack(200_000).is_some_and(|s| s >= 200_000 * 1024));
        assert_eq!(planning_stack(usize::MAX), Some(MAX_PLANNING_STACK));
    }
}
