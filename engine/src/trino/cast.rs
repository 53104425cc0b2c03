//! `CAST(x AS array(...) | map(...) | row(...))`, as the text front end writes it: `trino_cast(x, 'type'[, true])`.
//!
//! Trino's type syntax reaches tarn's type parser instead of DataFusion's (which has no `map`, and reads
//! `row(x bigint)` as a type called `row`). Then the cast is Trino's where Arrow's differs:
//! - from text, which is how tarn holds JSON, the text is read as JSON into the type (`CAST(JSON '[1,2]' AS
//!   array(integer))`), numbers and strings coerced as Trino coerces them;
//! - a row to a row goes by position, renaming the fields (Arrow casts structs only between equal names);
//! - anything else is Arrow's cast. The third argument `true` (from `TRY_CAST`) gives NULL for what does not cast.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility, lit,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct TrinoCast {
    signature: Signature,
}

impl TrinoCast {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

fn target(args: &[Option<&ScalarValue>]) -> Result<DataType> {
    match args.get(1) {
        Some(Some(ScalarValue::Utf8(Some(text)) | ScalarValue::Utf8View(Some(text)))) => {
            crate::types::hive_to_arrow(text).or_else(|e| plan_err!("CAST: {e}"))
        }
        _ => plan_err!("trino_cast(x, 'type') takes the type as a string literal"),
    }
}

fn lenient(args: &[Option<&ScalarValue>]) -> bool {
    matches!(args.get(2), Some(Some(ScalarValue::Boolean(Some(true)))))
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// `expr` (of type `from`) cast to `to`, rows by position.
fn cast_expr(expr: Expr, from: &DataType, to: &DataType, lenient: bool) -> Result<Expr> {
    match (from, to) {
        (DataType::Struct(have), DataType::Struct(want)) if have.len() == want.len() && have != want => {
            let mut args = Vec::with_capacity(want.len() * 2);
            for (h, w) in have.iter().zip(want.iter()) {
                let field = datafusion::functions::core::expr_fn::get_field(expr.clone(), h.name().as_str());
                args.push(lit(w.name().as_str()));
                args.push(cast_expr(field, h.data_type(), w.data_type(), lenient)?);
            }
            let value = datafusion::functions::core::expr_fn::named_struct(args);
            // A NULL row stays NULL (named_struct would make a row of NULLs).
            Ok(datafusion::logical_expr::when(expr.is_null(), lit(ScalarValue::try_from(to)?)).otherwise(value)?)
        }
        (DataType::Struct(have), DataType::Struct(want)) if have.len() != want.len() => plan_err!(
            "cannot cast a row of {} field(s) to a row of {}",
            have.len(),
            want.len()
        ),
        _ if from == to => Ok(expr),
        _ if lenient => Ok(Expr::TryCast(datafusion::logical_expr::TryCast::new(
            Box::new(expr),
            to.clone(),
        ))),
        _ => Ok(datafusion::logical_expr::cast(expr, to.clone())),
    }
}

impl ScalarUDFImpl for TrinoCast {
    fn name(&self) -> &str {
        "trino_cast"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        plan_err!("trino_cast's type comes from its arguments")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(self.name(), target(args.scalar_arguments)?, true)))
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let literal = |e: &Expr| match e {
            Expr::Literal(v, _) => Some(v.clone()),
            _ => None,
        };
        let scalars: Vec<Option<ScalarValue>> = args.iter().map(literal).collect();
        let refs: Vec<Option<&ScalarValue>> = scalars.iter().map(Option::as_ref).collect();
        let to = target(&refs)?;
        let from = info.get_data_type(&args[0])?;
        if is_text(&from) && !is_text(&to) {
            // JSON text: read at execution.
            return Ok(ExprSimplifyResult::Original(args));
        }
        let lenient = lenient(&refs);
        let mut args = args;
        let expr = args.swap_remove(0);
        Ok(ExprSimplifyResult::Simplified(cast_expr(expr, &from, &to, lenient)?))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let to = args.return_field.data_type().clone();
        let lenient = matches!(
            args.args.get(2),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let rows = args.number_rows;
        let text = args.args[0].to_array(rows)?;
        let text = datafusion::arrow::compute::cast(&text, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let schema = Arc::new(Schema::new(vec![Field::new("v", to.clone(), true)]));
        let mut out = Vec::with_capacity(rows);
        // One value at a time, so that a value that does not read names itself (or is NULL under TRY_CAST).
        for i in 0..text.len() {
            let json = if text.is_null(i) { "null" } else { text.value(i) };
            let line = format!("{{\"v\": {}}}\n", row_from_array(json, &to));
            let read = datafusion::arrow::json::ReaderBuilder::new(Arc::clone(&schema))
                .with_coerce_primitive(true)
                .build(std::io::Cursor::new(line.into_bytes()))
                .and_then(|mut r| r.next().transpose())
                .map(|b| b.map(|b| Arc::clone(b.column(0))));
            match read {
                Ok(Some(column)) if column.len() == 1 => out.push(column),
                Ok(_) | Err(_) if lenient => out.push(new_null_array(&to, 1)),
                Ok(_) => return exec_err!("cannot cast '{json}' to {to}: it is not one JSON value"),
                Err(e) => return exec_err!("cannot cast JSON '{json}' to {to}: {e}"),
            }
        }
        let refs: Vec<&dyn Array> = out.iter().map(|a| a.as_ref()).collect();
        if refs.is_empty() {
            return Ok(ColumnarValue::Array(new_null_array(&to, 0)));
        }
        Ok(ColumnarValue::Array(datafusion::arrow::compute::concat(&refs)?))
    }
}

/// A temporal or floating-point value as the text Athena prints (`CAST(ts AS varchar)` is `2022-10-20
/// 00:00:00.000`, Arrow's `2022-10-20T00:00:00`; `CAST(1e7 AS varchar)` is `1.0E7`, Arrow's `10000000.0`); the
/// semantics rewrite sends such casts here.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct PrintedText {
    signature: Signature,
}

impl PrintedText {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }

    /// Whether Athena's text of a `t` differs from Arrow's cast to text.
    pub(crate) fn differs(t: &DataType) -> bool {
        matches!(
            t,
            DataType::Timestamp(_, _)
                | DataType::Time32(_)
                | DataType::Time64(_)
                | DataType::Interval(_)
                | DataType::Duration(_)
                | DataType::Float64
                | DataType::Float32
        )
    }
}

impl ScalarUDFImpl for PrintedText {
    fn name(&self) -> &str {
        "tarn_printed_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = args.args[0].to_array(args.number_rows)?;
        let printer = crate::display::ValuePrinter::try_new(values.as_ref())?;
        let text: datafusion::arrow::array::StringArray = (0..values.len()).map(|i| printer.text(i)).collect();
        Ok(ColumnarValue::Array(Arc::new(text)))
    }
}

/// Trino casts a JSON array to a row by position (`CAST(JSON '[1, "a"]' AS row(x bigint, y varchar))`); the JSON
/// reader reads rows only from objects, so the array becomes one with the row's field names.
fn row_from_array(json: &str, to: &DataType) -> String {
    let DataType::Struct(fields) = to else {
        return json.to_string();
    };
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Array(items)) if items.len() == fields.len() => {
            let object: serde_json::Map<String, serde_json::Value> =
                fields.iter().map(|f| f.name().clone()).zip(items).collect();
            serde_json::Value::Object(object).to_string()
        }
        _ => json.to_string(),
    }
}
