//! Trino's semantics where DataFusion's differ for the same expression, applied to every expression of every plan
//! before type coercion (a [`FunctionRewrite`], which sees each expression's input schema):
//!
//! - a cast of a `real`, `double` or `decimal` to an integer type rounds half away from zero, as Trino's does
//!   (`CAST(2.5 AS integer)` is 3, `CAST(-2.5 AS integer)` -3); Arrow's cast truncates;
//! - the casts inside `try(...)` are `TRY_CAST`s before the simplifier folds constants, so `try(CAST('abc' AS
//!   integer))` is NULL rather than a planning error (the rest of `try` is the `try` function's own rewrite);
//! - a timestamp without a zone is in the session zone, UTC, so `ts AT TIME ZONE 'Asia/Kolkata'` is the same instant
//!   shown in Kolkata (`hour(...)` of `00:30` is 6); Arrow reads the local time as Kolkata's;
//! - a timestamp, time, interval or double cast to text is the text Athena prints (`2022-10-20 00:00:00.000`,
//!   `3-5`, `1.0E7`), not Arrow's (`2022-10-20T00:00:00`, `41 mons`, `10000000.0`);
//! - `date_trunc(unit, date)` is a `date`, as in Trino (DataFusion's is a timestamp);
//! - `current_timestamp` and `now()` are `timestamp(3) with time zone` in UTC, Athena's session zone;
//! - the quotient of two decimals has Trino's scale, `max(s1, s2)` (DataFusion's follows Spark's, at least 6
//!   digits), and `round(decimal, d)` keeps the decimal's type.
//!
//! NULL ordering (`NULLS LAST` for `ASC` and `DESC`) is DataFusion's `sql_parser.default_null_ordering`, set by the
//! session; `CAST(x AS varchar(n))` is rewritten in the parsed statement (`syntax.rs`), because the planner drops `n`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, Operator, ScalarUDF, TryCast};

#[derive(Debug, Default)]
pub(crate) struct TrinoSemantics;

impl FunctionRewrite for TrinoSemantics {
    fn name(&self) -> &str {
        "trino_semantics"
    }

    fn rewrite(&self, expr: Expr, schema: &DFSchema, _: &ConfigOptions) -> Result<Transformed<Expr>> {
        Ok(match expr {
            Expr::Cast(c) if c.field.data_type().is_integer() && rounds(&c.expr, schema) => {
                Transformed::yes(Expr::Cast(Cast::new_from_field(Box::new(round(*c.expr)), c.field)))
            }
            Expr::TryCast(c) if c.field.data_type().is_integer() && rounds(&c.expr, schema) => Transformed::yes(
                Expr::TryCast(TryCast::new_from_field(Box::new(round(*c.expr)), c.field)),
            ),
            // A timestamp without a zone is in the session's zone, UTC (Trino): `ts AT TIME ZONE z` and a cast to a
            // zoned type keep the instant and show it in z. Arrow's cast reads the local time as z's instead.
            Expr::Cast(c) if matches!(c.field.data_type(), DataType::Timestamp(_, Some(zone)) if !is_utc(zone)) => {
                match naive_timestamp(&c.expr, schema) {
                    Some(unit) => {
                        let utc = Expr::Cast(Cast::new(c.expr, DataType::Timestamp(unit, Some("UTC".into()))));
                        Transformed::yes(Expr::Cast(Cast::new_from_field(Box::new(utc), c.field)))
                    }
                    None => Transformed::no(Expr::Cast(c)),
                }
            }
            // Printing a temporal or floating-point value cannot fail, so a TRY_CAST is the same.
            Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field })
                if is_text(field.data_type()) && prints_differently(&expr, schema) =>
            {
                let text = printed_text(*expr);
                Transformed::yes(match field.data_type() {
                    DataType::Utf8 => text,
                    _ => Expr::Cast(Cast::new_from_field(Box::new(text), field)),
                })
            }
            // Athena's `current_timestamp` (and `now()`) is a `timestamp(3) with time zone` in the session zone, UTC:
            // it prints `2024-01-01 10:00:00.123 UTC` (DataFusion's: nanoseconds, no zone).
            Expr::ScalarFunction(f) if f.name() == "now" && f.args.is_empty() => {
                Transformed::yes(Expr::Cast(Cast::new(
                    Box::new(Expr::ScalarFunction(f)),
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                )))
            }
            // Trino's `sign` keeps an integer argument's type (DataFusion's `signum` is a double).
            Expr::ScalarFunction(f)
                if f.name() == "signum"
                    && f.args.len() == 1
                    && f.args[0].get_type(schema).is_ok_and(|t| t.is_integer()) =>
            {
                let to = f.args[0].get_type(schema)?;
                Transformed::yes(Expr::Cast(Cast::new(Box::new(Expr::ScalarFunction(f)), to)))
            }
            Expr::ScalarFunction(f) if f.name() == "try" => {
                let args = f
                    .args
                    .into_iter()
                    .map(|a| a.transform_up(|e| Ok(try_cast(e))).map(|t| t.data))
                    .collect::<Result<Vec<_>>>()?;
                Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(f.func, args)))
            }
            // DataFusion plans `SUBSTRING(s FROM a FOR b)` with its own `substr`, not the registry's.
            Expr::ScalarFunction(f)
                if f.name() == "substr" && f.func.inner().downcast_ref::<super::Rewrite>().is_none() =>
            {
                let trino = ScalarUDF::new_from_impl(super::Rewrite::new("substr", super::Kind::Substr));
                Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(trino), f.args)))
            }
            Expr::ScalarFunction(f)
                if f.name() == "date_trunc"
                    && f.args.len() == 2
                    && matches!(f.args[1].get_type(schema), Ok(DataType::Date32 | DataType::Date64)) =>
            {
                Transformed::yes(Expr::Cast(Cast::new(
                    Box::new(Expr::ScalarFunction(f)),
                    DataType::Date32,
                )))
            }
            Expr::BinaryExpr(b) if b.op == Operator::Divide => {
                match (b.left.get_type(schema), b.right.get_type(schema)) {
                    (Ok(DataType::Decimal128(p1, s1)), Ok(DataType::Decimal128(_, s2))) => {
                        // Trino: decimal(p1 + s2 + max(0, s2 - s1), max(s1, s2)), rounded half up.
                        let scale = s1.max(s2);
                        let precision =
                            (i16::from(p1) + i16::from(s2.max(0)) + i16::from((s2 - s1).max(0))).clamp(1, 38);
                        let precision = u8::try_from(precision).unwrap_or(38);
                        Transformed::yes(Expr::Cast(Cast::new(
                            Box::new(Expr::BinaryExpr(b)),
                            DataType::Decimal128(precision, scale),
                        )))
                    }
                    _ => Transformed::no(Expr::BinaryExpr(b)),
                }
            }
            // round(x, d) of a decimal keeps x's type (Trino); DataFusion narrows the scale to d.
            Expr::ScalarFunction(f) if f.name() == "round" && f.args.len() == 2 => match f.args[0].get_type(schema) {
                Ok(decimal @ DataType::Decimal128(_, _)) => {
                    Transformed::yes(Expr::Cast(Cast::new(Box::new(Expr::ScalarFunction(f)), decimal)))
                }
                _ => Transformed::no(Expr::ScalarFunction(f)),
            },
            other => Transformed::no(other),
        })
    }
}

/// Whether a cast of `expr` to an integer type rounds in Trino: it is a `real`, `double` or `decimal`.
fn rounds(expr: &Expr, schema: &DFSchema) -> bool {
    // A type that cannot be told here (an unresolved column) is left to DataFusion's cast.
    expr.get_type(schema).is_ok_and(|t| t.is_floating() || t.is_decimal())
}

/// The unit of `expr`'s type if it is a timestamp without a zone.
fn naive_timestamp(expr: &Expr, schema: &DFSchema) -> Option<TimeUnit> {
    match expr.get_type(schema) {
        Ok(DataType::Timestamp(unit, None)) => Some(unit),
        _ => None,
    }
}

fn is_utc(zone: &str) -> bool {
    matches!(zone, "UTC" | "utc" | "+00:00" | "Z" | "Etc/UTC")
}

fn round(expr: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        datafusion::functions::math::round(),
        vec![expr],
    ))
}

/// A cast as `TRY_CAST`: what `try(...)` makes of the casts in its argument.
pub(super) fn try_cast(expr: Expr) -> Transformed<Expr> {
    match expr {
        Expr::Cast(c) => Transformed::yes(Expr::TryCast(TryCast::new_from_field(c.expr, c.field))),
        other => Transformed::no(other),
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

fn prints_differently(expr: &Expr, schema: &DFSchema) -> bool {
    expr.get_type(schema)
        .is_ok_and(|t| super::cast::PrintedText::differs(&t))
}

/// A temporal or floating-point value as Athena prints it.
fn printed_text(expr: Expr) -> Expr {
    let udf = ScalarUDF::new_from_impl(super::cast::PrintedText::new());
    Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(udf), vec![expr]))
}
