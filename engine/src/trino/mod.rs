//! Trino's (Athena engine v3's) functions where DataFusion lacks them or gives the same name another meaning.
//!
//! Each function here is a UDF whose `simplify` rewrites the call into DataFusion built-ins before execution, so the
//! semantics come from expressions DataFusion already evaluates (and optimises): `year(x)` becomes
//! `CAST(date_part('year', x) AS BIGINT)`, `if(c, a, b)` a `CASE` that evaluates only the branch it takes. The
//! built-ins are referenced directly, not by name, because some of these UDFs replace a built-in of the same name.
//! Trino's documented behaviour for each, with the examples used, is in `engine/tests/trino/*.slt`.

mod aggregate;
mod by_value;
mod cast;
mod datetime;
mod json;
mod nested;
mod reduce;
mod replace_by;
mod semantics;
mod sort_by;
mod syntax;
mod text;

pub(crate) use syntax::rewrite as rewrite_syntax;

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::SessionState;
use datafusion::functions_nested as nested_fns;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::type_coercion::binary::type_union_resolution;
use datafusion::logical_expr::{
    AggregateUDF, ColumnarValue, Expr, HigherOrderUDF, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility, cast, lit, when,
};

/// Registers tarn's Trino functions on `state`, replacing same-named DataFusion built-ins.
pub(crate) fn register(state: &mut SessionState) -> Result<()> {
    let mut udfs: Vec<ScalarUDF> = Vec::new();
    let parts: [(&str, &str); 12] = [
        ("year", "year"),
        ("quarter", "quarter"),
        ("month", "month"),
        ("week", "week"),
        ("week_of_year", "week"),
        ("day", "day"),
        ("day_of_month", "day"),
        ("day_of_week", "isodow"),
        ("day_of_year", "doy"),
        ("hour", "hour"),
        ("minute", "minute"),
        ("second", "second"),
    ];
    for (name, part) in parts {
        udfs.push(ScalarUDF::new_from_impl(Rewrite::new(name, Kind::DatePart(part))));
    }
    for (name, kind) in [
        ("dow", Kind::DatePart("isodow")),
        ("doy", Kind::DatePart("doy")),
        ("if", Kind::If),
        ("cardinality", Kind::Cardinality),
        ("to_unixtime", Kind::ToUnixtime),
        ("from_unixtime", Kind::FromUnixtime),
        ("regexp_replace", Kind::RegexpReplace),
        ("regexp_extract", Kind::RegexpExtract),
        ("split_part", Kind::SplitPart),
        ("try", Kind::Try),
        ("slice", Kind::Slice),
        ("repeat", Kind::Repeat),
        ("date", Kind::Date),
        ("mod", Kind::Mod),
        ("power", Kind::Power),
        ("pow", Kind::Power),
        ("array_remove", Kind::ArrayRemove),
        ("element_at", Kind::ElementAt),
        ("contains", Kind::Contains),
        ("substr", Kind::Substr),
        ("substring", Kind::Substr),
        ("array_position", Kind::ArrayPosition),
        ("sequence", Kind::Sequence),
        ("array_sort", Kind::ArraySort),
        ("concat", Kind::Concat),
        ("reverse", Kind::Reverse),
    ] {
        udfs.push(ScalarUDF::new_from_impl(Rewrite::new(name, kind)));
    }
    for (name, function) in [
        ("json_extract_scalar", json::JsonFn::ExtractScalar),
        ("json_extract", json::JsonFn::Extract),
        ("json_array_length", json::JsonFn::ArrayLength),
        ("json_parse", json::JsonFn::Normalize),
        ("json_format", json::JsonFn::Normalize),
    ] {
        udfs.push(ScalarUDF::new_from_impl(json::Json::new(name, function)));
    }
    for (name, function) in [
        ("date_parse", datetime::DateFn::DateParse),
        ("date_format", datetime::DateFn::DateFormat),
        ("parse_datetime", datetime::DateFn::ParseDatetime),
        ("format_datetime", datetime::DateFn::FormatDatetime),
        ("from_iso8601_timestamp", datetime::DateFn::FromIso8601Timestamp),
        ("from_iso8601_date", datetime::DateFn::FromIso8601Date),
        ("to_iso8601", datetime::DateFn::ToIso8601),
        ("date_add", datetime::DateFn::DateAdd),
        ("date_diff", datetime::DateFn::DateDiff),
    ] {
        udfs.push(ScalarUDF::new_from_impl(datetime::DateTime::new(name, function)));
    }
    udfs.push(ScalarUDF::new_from_impl(text::Text::new("split", text::TextFn::Split)));
    udfs.push(ScalarUDF::new_from_impl(text::Text::new(
        "regexp_extract_all",
        text::TextFn::RegexpExtractAll,
    )));
    for (name, function) in by_value::ALL {
        udfs.push(ScalarUDF::new_from_impl(by_value::ByValue::new(name, function)));
    }
    udfs.push(ScalarUDF::new_from_impl(cast::TrinoCast::new()));
    udfs.push(ScalarUDF::new_from_impl(cast::PrintedText::new()));
    udfs.push(ScalarUDF::new_from_impl(nested::UnnestField::new()));
    udfs.push(ScalarUDF::new_from_impl(nested::MapConcat::new()));
    // Trino's names for DataFusion functions that mean the same.
    for (builtin, alias) in [
        (datafusion::functions::string::levenshtein(), "levenshtein_distance"),
        (datafusion::functions::math::isnan(), "is_nan"),
        (datafusion::functions::math::trunc(), "truncate"),
        (datafusion::functions::math::ceil(), "ceiling"),
        (datafusion::functions::math::signum(), "sign"),
        (datafusion::functions::math::random(), "rand"),
    ] {
        udfs.push(ScalarUDF::clone(&builtin).with_aliases([alias]));
    }
    drop_colliding_aliases(state, &udfs)?;
    for udf in udfs {
        state.register_udf(Arc::new(udf))?;
    }
    // Trino's names for DataFusion's lambda functions (`all_match`/`none_match` are rewritten in `syntax.rs`).
    for (function, alias) in [
        (
            nested_fns::array_transform::array_transform_higher_order_function(),
            "transform",
        ),
        (nested_fns::array_filter::array_filter_higher_order_function(), "filter"),
    ] {
        state.register_higher_order_function(Arc::new(HigherOrderUDF::clone(&function).with_aliases([alias])))?;
    }
    state.register_higher_order_function(Arc::new(HigherOrderUDF::new_from_impl(reduce::Reduce::new())))?;
    state.register_higher_order_function(Arc::new(HigherOrderUDF::new_from_impl(sort_by::SortBy::new())))?;
    state.register_higher_order_function(Arc::new(HigherOrderUDF::new_from_impl(replace_by::ReplaceBy::new())))?;
    state.register_function_rewrite(Arc::new(semantics::TrinoSemantics))?;
    state.register_udaf(Arc::new(AggregateUDF::new_from_impl(aggregate::CountIf::new())))?;
    state.register_udaf(Arc::new(AggregateUDF::new_from_impl(aggregate::Checksum::new())))?;
    state.register_udaf(Arc::new(
        AggregateUDF::new_from_impl(aggregate::ApproxPercentile::new()),
    ))?;
    let any_value = datafusion::functions_aggregate::any_value::any_value_udaf();
    state.register_udaf(Arc::new(AggregateUDF::clone(&any_value).with_aliases(["arbitrary"])))?;
    let var_samp = datafusion::functions_aggregate::variance::var_samp_udaf();
    state.register_udaf(Arc::new(AggregateUDF::clone(&var_samp).with_aliases(["variance"])))?;
    Ok(())
}

/// Makes room for tarn's functions among DataFusion's built-ins. Per-query states are rebuilt from the registry's
/// values, where a built-in still reachable under an alias would be registered again under its name, and an alias
/// and a function of the same name would win in random order. So a built-in tarn replaces goes with all its aliases
/// (`array_remove`, alias `list_remove`), and a built-in with an alias that names a tarn function (`element_at` of
/// `map_extract`, `date_format` of `to_char`) is registered again without it.
fn drop_colliding_aliases(state: &mut SessionState, ours: &[ScalarUDF]) -> Result<()> {
    let names: std::collections::HashSet<&str> = ours.iter().map(ScalarUDF::name).collect();
    let mut builtins: Vec<Arc<ScalarUDF>> = state.scalar_functions().values().cloned().collect();
    builtins.sort_by(|a, b| a.name().cmp(b.name()));
    builtins.dedup_by(|a, b| a.name() == b.name());
    for builtin in builtins {
        if names.contains(builtin.name()) {
            state.deregister_udf(builtin.name())?;
        } else if builtin.aliases().iter().any(|a| names.contains(a.as_str())) {
            let aliases = builtin
                .aliases()
                .iter()
                .filter(|a| !names.contains(a.as_str()))
                .cloned()
                .collect();
            state.deregister_udf(builtin.name())?;
            state.register_udf(Arc::new(ScalarUDF::new_from_impl(Realiased { builtin, aliases })))?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `date_part(part, x)` as a bigint.
    DatePart(&'static str),
    If,
    Cardinality,
    ToUnixtime,
    FromUnixtime,
    RegexpReplace,
    RegexpExtract,
    SplitPart,
    /// `slice(a, start, length)`: DataFusion's `array_slice` takes an end, not a length.
    Slice,
    /// `repeat(x, n)`: an array of `n` copies (DataFusion's `repeat` repeats a string).
    Repeat,
    /// `date(x)`: `CAST(x AS date)`.
    Date,
    /// `mod(n, m)`: `n % m`.
    Mod,
    /// `power(x, p)`: a double, also for integers (DataFusion's `power(2, -1)` is the integer 0).
    Power,
    /// `array_remove(a, x)`: every element equal to `x` (DataFusion's removes the first).
    ArrayRemove,
    /// `try(e)`: NULL where `e` divides by zero, casts what does not fit, or parses what does not parse.
    Try,
    ElementAt,
    Contains,
    /// `substr(s, start[, length])`: a negative start counts from the end, 0 gives '' (DataFusion follows
    /// PostgreSQL, where a start before the string shortens the length).
    Substr,
    /// `array_position(a, x)`: 0 when absent (DataFusion: NULL).
    ArrayPosition,
    /// `sequence(start, stop[, step])`: counts down when `stop < start` (DataFusion's default step is always 1).
    Sequence,
    /// `array_sort(a)`: NULLs last (DataFusion's default puts them first).
    ArraySort,
    /// `concat(...)`: of arrays, an array; of strings, NULL when any is NULL, as `||` (DataFusion skips NULLs).
    Concat,
    /// `reverse(x)`: of an array, the array reversed.
    Reverse,
}

/// A Trino function rewritten into DataFusion expressions.
/// A session's scalar functions as a worker runs them. Trino's functions that planning rewrites into DataFusion's
/// never run, but some share their name with the DataFusion function they become (`regexp_replace`,
/// `split_part`, ...), and a plan from another machine names functions only: there the name means DataFusion's.
pub(crate) fn for_execution(functions: Vec<Arc<ScalarUDF>>) -> Vec<Arc<ScalarUDF>> {
    let defaults = datafusion::execution::SessionStateDefaults::default_scalar_functions();
    functions
        .into_iter()
        .filter_map(|f| {
            if f.inner().downcast_ref::<Rewrite>().is_none() {
                return Some(f);
            }
            defaults.iter().find(|d| d.name() == f.name()).cloned()
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Rewrite {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

impl Rewrite {
    fn new(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The planning error for a call with the wrong number of arguments; `shape` names them, if not empty.
fn arity(function: &str, got: usize, ok: bool, expected: &str, shape: &str) -> Result<()> {
    let shape = if shape.is_empty() {
        String::new()
    } else {
        format!(" ({shape})")
    };
    if ok {
        Ok(())
    } else {
        plan_err!("{function}() takes {expected} argument(s){shape}, got {got}")
    }
}

fn call(udf: Arc<ScalarUDF>, args: Vec<Expr>) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(udf, args))
}

fn is_list(t: &DataType) -> bool {
    matches!(
        t,
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _)
    )
}

fn utf8(t: &DataType) -> DataType {
    match t {
        DataType::LargeUtf8 | DataType::Utf8View => t.clone(),
        _ => DataType::Utf8,
    }
}

impl ScalarUDFImpl for Rewrite {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Argument counts and the types the arguments are cast to before the rewrite.
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let n = args.len();
        let arity = |ok: bool, expected: &str| arity(self.name, n, ok, expected, "");
        match self.kind {
            Kind::DatePart(_) => {
                arity(n == 1, "1")?;
                Ok(vec![match &args[0] {
                    DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => args[0].clone(),
                    DataType::Null => DataType::Timestamp(TimeUnit::Millisecond, None),
                    // Trino takes only dates and timestamps; a string literal is cast as Trino's literals are.
                    _ => DataType::Timestamp(TimeUnit::Millisecond, None),
                }])
            }
            Kind::If => {
                arity(n == 2 || n == 3, "2 or 3")?;
                let result = if_type(args);
                Ok(std::iter::once(DataType::Boolean)
                    .chain(std::iter::repeat_n(result, n - 1))
                    .collect())
            }
            Kind::Cardinality => {
                arity(n == 1, "1")?;
                Ok(args.to_vec())
            }
            Kind::ToUnixtime => {
                arity(n == 1, "1")?;
                Ok(vec![match &args[0] {
                    DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
                    _ => DataType::Timestamp(TimeUnit::Microsecond, None),
                }])
            }
            Kind::FromUnixtime => {
                arity(n == 1, "1")?;
                Ok(vec![DataType::Float64])
            }
            Kind::RegexpReplace => {
                arity(n == 2 || n == 3, "2 or 3")?;
                Ok(args.iter().map(utf8).collect())
            }
            Kind::RegexpExtract => {
                arity(n == 2 || n == 3, "2 or 3")?;
                // One string type for text and pattern: regexp_match refuses Utf8View with Utf8.
                let mut types = vec![DataType::Utf8, DataType::Utf8];
                if n == 3 {
                    types.push(DataType::Int64);
                }
                Ok(types)
            }
            Kind::SplitPart => {
                arity(n == 3, "3")?;
                Ok(vec![utf8(&args[0]), utf8(&args[1]), DataType::Int64])
            }
            Kind::Try => {
                arity(n == 1, "1")?;
                Ok(args.to_vec())
            }
            Kind::Slice => {
                arity(n == 3, "3")?;
                Ok(vec![args[0].clone(), DataType::Int64, DataType::Int64])
            }
            Kind::Repeat => {
                arity(n == 2, "2")?;
                Ok(vec![args[0].clone(), DataType::Int64])
            }
            Kind::Date => {
                arity(n == 1, "1")?;
                Ok(args.to_vec())
            }
            Kind::Power => {
                arity(n == 2, "2")?;
                Ok(vec![DataType::Float64, DataType::Float64])
            }
            Kind::ArrayRemove => {
                arity(n == 2, "2")?;
                Ok(args.to_vec())
            }
            Kind::Mod => {
                arity(n == 2, "2")?;
                let common = type_union_resolution(args).unwrap_or(DataType::Float64);
                Ok(vec![common.clone(), common])
            }
            Kind::ElementAt => {
                arity(n == 2, "2")?;
                if is_list(&args[0]) {
                    Ok(vec![args[0].clone(), DataType::Int64])
                } else {
                    Ok(args.to_vec())
                }
            }
            Kind::Contains => {
                arity(n == 2, "2")?;
                Ok(args.to_vec())
            }
            Kind::Substr => {
                arity(n == 2 || n == 3, "2 or 3")?;
                Ok(std::iter::once(utf8(&args[0]))
                    .chain(std::iter::repeat_n(DataType::Int64, n - 1))
                    .collect())
            }
            Kind::ArrayPosition => {
                arity(n == 2, "2")?;
                match &args[0] {
                    DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                        let element = type_union_resolution(&[f.data_type().clone(), args[1].clone()])
                            .unwrap_or_else(|| f.data_type().clone());
                        Ok(vec![DataType::new_list(element.clone(), true), element])
                    }
                    DataType::Null => Ok(vec![DataType::new_list(args[1].clone(), true), args[1].clone()]),
                    other => plan_err!("array_position() takes an array, not {other}"),
                }
            }
            Kind::Sequence => {
                arity(n == 2 || n == 3, "2 or 3")?;
                let bound = match &args[0] {
                    DataType::Date32 | DataType::Date64 => DataType::Date32,
                    DataType::Timestamp(_, _) => args[0].clone(),
                    _ => DataType::Int64,
                };
                let step = match (&bound, args.get(2)) {
                    (DataType::Int64, _) => DataType::Int64,
                    (_, Some(step)) => step.clone(),
                    (_, None) => DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
                };
                Ok([bound.clone(), bound, step].into_iter().take(n).collect())
            }
            Kind::ArraySort => {
                arity(n == 1, "1, or 2 with a comparator lambda as the second")?;
                Ok(args.to_vec())
            }
            Kind::Concat => {
                arity(n >= 1, "at least 1")?;
                if args.iter().any(is_list) {
                    let common = type_union_resolution(args).ok_or_else(|| {
                        datafusion::common::DataFusionError::Plan(format!(
                            "concat() of arrays takes arrays of one element type, got {}",
                            args.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                        ))
                    })?;
                    Ok(vec![common; n])
                } else {
                    Ok(vec![DataType::Utf8; n])
                }
            }
            Kind::Reverse => {
                arity(n == 1, "1")?;
                Ok(if is_list(&args[0]) {
                    args.to_vec()
                } else {
                    vec![utf8(&args[0])]
                })
            }
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::DatePart(_) | Kind::Cardinality => DataType::Int64,
            Kind::If => if_type(args),
            Kind::ToUnixtime => DataType::Float64,
            Kind::FromUnixtime => DataType::Timestamp(TimeUnit::Millisecond, None),
            Kind::RegexpExtract => DataType::Utf8,
            Kind::RegexpReplace | Kind::SplitPart => utf8(&args[0]),
            Kind::Try | Kind::Slice | Kind::Mod | Kind::ArrayRemove => args[0].clone(),
            Kind::Power => DataType::Float64,
            Kind::Repeat => DataType::new_list(args[0].clone(), true),
            Kind::Date => DataType::Date32,
            Kind::ElementAt => match &args[0] {
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f.data_type().clone(),
                DataType::Map(entries, _) => match entries.data_type() {
                    DataType::Struct(fields) if fields.len() == 2 => fields[1].data_type().clone(),
                    other => return plan_err!("element_at: unexpected map entries {other}"),
                },
                other => return plan_err!("element_at() takes an array or a map, not {other}"),
            },
            Kind::Contains => DataType::Boolean,
            Kind::Substr => utf8(&args[0]),
            Kind::ArrayPosition => DataType::Int64,
            Kind::Sequence => DataType::new_list(args[0].clone(), true),
            Kind::ArraySort | Kind::Concat | Kind::Reverse => args[0].clone(),
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        exec_err!(
            "{}() is rewritten into other functions before it runs; this is a tarn bug",
            self.name
        )
    }

    fn simplify(&self, mut args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        use datafusion::functions as f;
        use datafusion::functions_nested as nested;
        let expr = match self.kind {
            Kind::DatePart(part) => cast(
                call(f::datetime::date_part(), vec![lit(part), args.remove(0)]),
                DataType::Int64,
            ),
            Kind::If => {
                let condition = args.remove(0);
                let then = args.remove(0);
                let otherwise = match args.pop() {
                    Some(e) => e,
                    None => lit(ScalarValue::try_from(info.get_data_type(&then)?)?),
                };
                when(condition, then).otherwise(otherwise)?
            }
            Kind::Cardinality => cast(call(nested::cardinality::cardinality_udf(), args), DataType::Int64),
            Kind::ToUnixtime => {
                let micros = cast(args.remove(0), DataType::Int64);
                cast(micros, DataType::Float64) / lit(1_000_000.0)
            }
            Kind::FromUnixtime => {
                let millis = cast(args.remove(0) * lit(1000.0), DataType::Int64);
                cast(millis, DataType::Timestamp(TimeUnit::Millisecond, None))
            }
            Kind::RegexpReplace => {
                let replacement = if args.len() == 3 { args.remove(2) } else { lit("") };
                let pattern = args.remove(1);
                // Trino replaces every match; DataFusion only the first unless given the 'g' flag.
                call(
                    f::regex::regexp_replace(),
                    vec![args.remove(0), pattern, replacement, lit("g")],
                )
            }
            Kind::RegexpExtract => {
                let group = if args.len() == 3 { args.remove(2) } else { lit(0i64) };
                let pattern = args.remove(1);
                // Wrapping the pattern in a group makes group 1 the whole match, so Trino's group n is n + 1.
                let wrapped = call(f::string::concat(), vec![lit("("), pattern, lit(")")]);
                let groups = call(f::regex::regexp_match(), vec![args.remove(0), wrapped]);
                call(nested::extract::array_element_udf(), vec![groups, group + lit(1i64)])
            }
            Kind::SplitPart => {
                let index = args.remove(2);
                let delimiter = args.remove(1);
                let text = args.remove(0);
                let fields = cast(
                    call(
                        nested::cardinality::cardinality_udf(),
                        vec![call(
                            nested::string::string_to_array_udf(),
                            vec![text.clone(), delimiter.clone()],
                        )],
                    ),
                    DataType::Int64,
                );
                // Trino: NULL past the last field (DataFusion: ''), an error for an index below 1.
                when(index.clone().gt(fields), lit(ScalarValue::Utf8(None)))
                    .otherwise(call(f::string::split_part(), vec![text, delimiter, index]))?
            }
            Kind::Try => lenient(args.remove(0), info)?,
            Kind::Slice => {
                let length = args.remove(2);
                let start = args.remove(1);
                let end = start.clone() + length - lit(1i64);
                call(nested::extract::array_slice_udf(), vec![args.remove(0), start, end])
            }
            Kind::Repeat => call(nested::repeat::array_repeat_udf(), args),
            Kind::Date => cast(args.remove(0), DataType::Date32),
            Kind::Mod => {
                let m = args.remove(1);
                args.remove(0) % m
            }
            Kind::Power => call(f::math::power(), args),
            Kind::ArrayRemove => call(nested::remove::array_remove_all_udf(), args),
            Kind::ElementAt => {
                let container = args.remove(0);
                let key = args.remove(0);
                if is_list(&info.get_data_type(&container)?) {
                    call(nested::extract::array_element_udf(), vec![container, key])
                } else {
                    let values = call(nested::map_extract::map_extract_udf(), vec![container, key]);
                    call(nested::extract::array_element_udf(), vec![values, lit(1i64)])
                }
            }
            Kind::Contains => {
                if is_list(&info.get_data_type(&args[0])?) {
                    call(nested::array_has::array_has_udf(), args)
                } else {
                    call(f::string::contains(), args)
                }
            }
            Kind::Substr => {
                let text = args.remove(0);
                let start = args.remove(0);
                let empty = cast(lit(""), info.get_data_type(&text)?);
                let length = cast(
                    call(f::unicode::character_length(), vec![text.clone()]),
                    DataType::Int64,
                );
                let from_end = length.clone() + start.clone() + lit(1i64);
                let mut counted = vec![text.clone(), from_end];
                let mut plain = vec![text, start.clone()];
                if let Some(n) = args.pop() {
                    counted.push(n.clone());
                    plain.push(n);
                }
                when(start.clone().eq(lit(0i64)), empty.clone())
                    .when(start.clone().lt(lit(0i64)).and((-start.clone()).gt(length)), empty)
                    .when(start.lt(lit(0i64)), call(f::unicode::substr(), counted))
                    .otherwise(call(f::unicode::substr(), plain))?
            }
            Kind::ArrayPosition => {
                let array = args.remove(0);
                let found = cast(
                    call(
                        nested::position::array_position_udf(),
                        vec![array.clone(), args.remove(0)],
                    ),
                    DataType::Int64,
                );
                when(array.is_null(), lit(ScalarValue::Int64(None)))
                    .otherwise(call(f::core::coalesce(), vec![found, lit(0i64)]))?
            }
            Kind::Sequence => {
                if args.len() == 2 {
                    let (up, down) = match info.get_data_type(&args[0])? {
                        DataType::Int64 => (lit(1i64), lit(-1i64)),
                        _ => (
                            lit(ScalarValue::new_interval_mdn(0, 1, 0)),
                            lit(ScalarValue::new_interval_mdn(0, -1, 0)),
                        ),
                    };
                    let step = when(args[0].clone().lt_eq(args[1].clone()), up).otherwise(down)?;
                    args.push(step);
                }
                call(nested::range::gen_series_udf(), args)
            }
            Kind::ArraySort => {
                args.extend([lit("ASC"), lit("NULLS LAST")]);
                call(nested::sort::array_sort_udf(), args)
            }
            Kind::Concat => {
                if is_list(&info.get_data_type(&args[0])?) {
                    call(nested::concat::array_concat_udf(), args)
                } else {
                    let mut parts = args.into_iter();
                    let first = parts.next().unwrap_or_else(|| lit(""));
                    parts.fold(first, |acc, part| {
                        Expr::BinaryExpr(datafusion::logical_expr::BinaryExpr::new(
                            Box::new(acc),
                            datafusion::logical_expr::Operator::StringConcat,
                            Box::new(part),
                        ))
                    })
                }
            }
            Kind::Reverse => {
                if is_list(&info.get_data_type(&args[0])?) {
                    call(nested::reverse::array_reverse_udf(), args)
                } else {
                    call(f::unicode::reverse(), args)
                }
            }
        };
        Ok(ExprSimplifyResult::Simplified(expr))
    }
}

/// `try(e)`'s argument with the failures Trino's `try` turns into NULL made NULL-producing: casts become `TRY_CAST`,
/// a zero divisor NULL, and tarn's parsing functions lenient. (Numeric overflow still fails.)
fn lenient(expr: Expr, info: &SimplifyContext) -> Result<Expr> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::logical_expr::{BinaryExpr, Operator};
    let rewritten = expr.transform_up(|e| {
        Ok(match e {
            e @ Expr::Cast(_) => semantics::try_cast(e),
            Expr::BinaryExpr(b) if matches!(b.op, Operator::Divide | Operator::Modulo) => {
                let zero = ScalarValue::new_zero(&info.get_data_type(&b.right)?)?;
                let divisor = call(datafusion::functions::core::nullif(), vec![*b.right, lit(zero)]);
                Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(b.left, b.op, Box::new(divisor))))
            }
            Expr::ScalarFunction(f) => {
                let udf = if let Some(d) = f.func.inner().downcast_ref::<datetime::DateTime>() {
                    Some(ScalarUDF::new_from_impl(d.lenient()))
                } else {
                    f.func
                        .inner()
                        .downcast_ref::<json::Json>()
                        .map(|j| ScalarUDF::new_from_impl(j.lenient()))
                };
                match udf {
                    Some(udf) => Transformed::yes(call(Arc::new(udf), f.args)),
                    None => Transformed::no(Expr::ScalarFunction(f)),
                }
            }
            other => Transformed::no(other),
        })
    })?;
    Ok(rewritten.data)
}

/// `if(c, a[, b])`'s type: the type both branches fit, as for `CASE`.
fn if_type(args: &[DataType]) -> DataType {
    let branches = &args[1.min(args.len())..];
    type_union_resolution(branches)
        .or_else(|| branches.first().cloned())
        .unwrap_or(DataType::Null)
}

/// A built-in registered with fewer aliases.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Realiased {
    builtin: Arc<ScalarUDF>,
    aliases: Vec<String>,
}

impl ScalarUDFImpl for Realiased {
    fn name(&self) -> &str {
        self.builtin.name()
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn return_field_from_args(&self, args: datafusion::logical_expr::ReturnFieldArgs) -> Result<FieldRef> {
        self.builtin.return_field_from_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.builtin.simplify(args, info)
    }

    fn signature(&self) -> &Signature {
        self.builtin.signature()
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.builtin.return_type(args)
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.builtin.coerce_types(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.builtin.invoke_with_args(args)
    }

    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.builtin.documentation()
    }
}
