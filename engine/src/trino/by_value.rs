//! Trino functions with no DataFusion built-in to rewrite into, computed value by value.
//!
//! Each is a [`Func`] with its argument types, result type and an evaluation over one row's [`ScalarValue`]s. That is
//! slower than a kernel over whole arrays, and these are functions a query calls on a few values (strings, URLs,
//! arrays, the result of an aggregate), not on every row of a scan; what matters is that each gives Trino's result,
//! as its documentation's examples (in `engine/tests/trino/functions.slt`) show. NULL arguments give NULL unless a
//! function says otherwise.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, MapArray, StructArray, new_empty_array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Func {
    Codepoint,
    HammingDistance,
    ToUtf8,
    FromUtf8,
    Format,
    UrlExtractFragment,
    UrlExtractHost,
    UrlExtractParameter,
    UrlExtractPath,
    UrlExtractPort,
    UrlExtractProtocol,
    UrlExtractQuery,
    /// `strpos(s, sub, n)`: the n-th occurrence (from the end when negative).
    StrposNth,
    Normalize,
    Soundex,
    LuhnCheck,
    RegexpPosition,
    RegexpSplit,
    YearOfWeek,
    HumanReadableSeconds,
    ToMilliseconds,
    ParseDuration,
    BitCount,
    BitwiseRightShift,
    FromBase,
    ToBase,
    IsFinite,
    IsInfinite,
    WidthBucket,
    CosineSimilarity,
    Typeof,
    Zip,
    Ngrams,
    Combinations,
    ContainsSequence,
    TrimArray,
    ArrayHistogram,
    MapFromEntries,
    MapEntries,
    /// `multimap_agg(k, v)` after its rewrite: `tarn_multimap(array_agg(k), array_agg(v))`.
    Multimap,
    /// `approx_most_frequent(n, x, capacity)` after its rewrite: the `n` most frequent of `array_agg(x)`, exactly.
    TopCounts,
    JsonSize,
    JsonArrayContains,
    JsonArrayGet,
    IsJsonScalar,
    JsonValue,
    JsonQuery,
    JsonExists,
}

pub(crate) const ALL: [(&str, Func); 49] = [
    ("codepoint", Func::Codepoint),
    ("hamming_distance", Func::HammingDistance),
    ("to_utf8", Func::ToUtf8),
    ("from_utf8", Func::FromUtf8),
    ("format", Func::Format),
    ("url_extract_fragment", Func::UrlExtractFragment),
    ("url_extract_host", Func::UrlExtractHost),
    ("url_extract_parameter", Func::UrlExtractParameter),
    ("url_extract_path", Func::UrlExtractPath),
    ("url_extract_port", Func::UrlExtractPort),
    ("url_extract_protocol", Func::UrlExtractProtocol),
    ("url_extract_query", Func::UrlExtractQuery),
    ("tarn_strpos", Func::StrposNth),
    ("normalize", Func::Normalize),
    ("soundex", Func::Soundex),
    ("luhn_check", Func::LuhnCheck),
    ("regexp_position", Func::RegexpPosition),
    ("regexp_split", Func::RegexpSplit),
    ("year_of_week", Func::YearOfWeek),
    ("yow", Func::YearOfWeek),
    ("human_readable_seconds", Func::HumanReadableSeconds),
    ("to_milliseconds", Func::ToMilliseconds),
    ("parse_duration", Func::ParseDuration),
    ("bit_count", Func::BitCount),
    ("bitwise_right_shift", Func::BitwiseRightShift),
    ("from_base", Func::FromBase),
    ("to_base", Func::ToBase),
    ("is_finite", Func::IsFinite),
    ("is_infinite", Func::IsInfinite),
    ("width_bucket", Func::WidthBucket),
    ("cosine_similarity", Func::CosineSimilarity),
    ("typeof", Func::Typeof),
    ("zip", Func::Zip),
    ("ngrams", Func::Ngrams),
    ("combinations", Func::Combinations),
    ("contains_sequence", Func::ContainsSequence),
    ("trim_array", Func::TrimArray),
    ("array_histogram", Func::ArrayHistogram),
    ("map_from_entries", Func::MapFromEntries),
    ("map_entries", Func::MapEntries),
    ("tarn_multimap", Func::Multimap),
    ("tarn_top_counts", Func::TopCounts),
    ("json_size", Func::JsonSize),
    ("json_array_contains", Func::JsonArrayContains),
    ("json_array_get", Func::JsonArrayGet),
    ("is_json_scalar", Func::IsJsonScalar),
    ("json_value", Func::JsonValue),
    ("json_query", Func::JsonQuery),
    ("json_exists", Func::JsonExists),
];

#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ByValue {
    name: &'static str,
    function: Func,
    signature: Signature,
}

impl ByValue {
    pub(crate) fn new(name: &'static str, function: Func) -> Self {
        Self {
            name,
            function,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

const UTF8: DataType = DataType::Utf8;
const I64: DataType = DataType::Int64;
const F64: DataType = DataType::Float64;

fn list_item(t: &DataType) -> Option<&DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Some(f.data_type()),
        _ => None,
    }
}

fn list_of(t: DataType) -> DataType {
    DataType::new_list(t, true)
}

fn map_of(key: DataType, value: DataType) -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("key", key, false),
            Field::new("value", value, true),
        ])),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

fn map_types(t: &DataType) -> Option<(&DataType, &DataType)> {
    match t {
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => Some((kv[0].data_type(), kv[1].data_type())),
            _ => None,
        },
        _ => None,
    }
}

/// An anonymous row's type: DataFusion's names, `c0, c1, ...`.
fn row_of(types: &[DataType]) -> DataType {
    DataType::Struct(
        types
            .iter()
            .enumerate()
            .map(|(i, t)| Field::new(format!("c{i}"), t.clone(), true))
            .collect(),
    )
}

fn integer(t: &DataType) -> bool {
    t.is_integer() || t == &DataType::Null
}

impl ByValue {
    fn check(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let n = args.len();
        let want = |ok: bool, what: &str| -> Result<()> {
            if ok {
                Ok(())
            } else {
                plan_err!("{}() takes {what}, got {n} argument(s) of type(s) {args:?}", self.name)
            }
        };
        let list = |i: usize| -> Result<DataType> {
            match &args[i] {
                DataType::Null => Ok(list_of(DataType::Null)),
                t @ (DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _)) => {
                    Ok(list_of(list_item(t).cloned().unwrap_or(DataType::Null)))
                }
                t => plan_err!("{}(): argument {} must be an array, not {t}", self.name, i + 1),
            }
        };
        use Func::*;
        Ok(match self.function {
            Codepoint | Soundex | LuhnCheck | UrlExtractFragment | UrlExtractHost | UrlExtractPath | UrlExtractPort
            | UrlExtractProtocol | UrlExtractQuery | ParseDuration | IsJsonScalar => {
                want(n == 1, "1 argument")?;
                vec![UTF8]
            }
            ToUtf8 => {
                want(n == 1, "1 argument")?;
                vec![UTF8]
            }
            FromUtf8 => {
                want(n == 1 || n == 2, "a varbinary and an optional replacement")?;
                let mut t = vec![DataType::Binary];
                if n == 2 {
                    t.push(if integer(&args[1]) { I64 } else { UTF8 });
                }
                t
            }
            HammingDistance | UrlExtractParameter | RegexpSplit | JsonSize | JsonValue | JsonQuery | JsonExists => {
                want(n == 2, "2 arguments")?;
                vec![UTF8, UTF8]
            }
            Normalize => {
                want(n == 1 || n == 2, "a string and an optional form (NFC, NFD, NFKC, NFKD)")?;
                vec![UTF8; n]
            }
            Format => {
                want(n >= 1, "a format and its values")?;
                std::iter::once(UTF8).chain(args[1..].iter().cloned()).collect()
            }
            StrposNth => {
                want(n == 3, "3 arguments")?;
                vec![UTF8, UTF8, I64]
            }
            RegexpPosition => {
                want(
                    (2..=4).contains(&n),
                    "a string, a pattern, and optionally a start and an occurrence",
                )?;
                let mut t = vec![UTF8, UTF8];
                t.extend(std::iter::repeat_n(I64, n - 2));
                t
            }
            YearOfWeek => {
                want(n == 1, "1 argument")?;
                vec![match &args[0] {
                    DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => args[0].clone(),
                    _ => DataType::Date32,
                }]
            }
            HumanReadableSeconds => {
                want(n == 1, "1 argument")?;
                vec![F64]
            }
            ToMilliseconds => {
                want(n == 1, "1 argument")?;
                match &args[0] {
                    DataType::Interval(_) | DataType::Duration(_) | DataType::Null => vec![args[0].clone()],
                    t => return plan_err!("to_milliseconds() takes an interval day to second, not {t}"),
                }
            }
            BitCount => {
                want(n == 2, "a number and its bits")?;
                vec![I64, I64]
            }
            BitwiseRightShift => {
                want(n == 2 && integer(&args[0]), "an integer and a shift")?;
                vec![args[0].clone(), I64]
            }
            FromBase => {
                want(n == 2, "a string and a radix")?;
                vec![UTF8, I64]
            }
            ToBase => {
                want(n == 2, "a number and a radix")?;
                vec![I64, I64]
            }
            IsFinite | IsInfinite => {
                want(n == 1, "1 argument")?;
                vec![F64]
            }
            WidthBucket => match n {
                4 => vec![F64, F64, F64, I64],
                2 => vec![F64, list_of(F64)],
                _ => return plan_err!("width_bucket() takes (x, bound1, bound2, n) or (x, bins), got {n} argument(s)"),
            },
            CosineSimilarity => {
                want(n == 2, "2 maps (or 2 arrays)")?;
                if map_types(&args[0]).is_some() {
                    vec![map_of(UTF8, F64), map_of(UTF8, F64)]
                } else {
                    vec![list_of(F64), list_of(F64)]
                }
            }
            Typeof => {
                want(n == 1, "1 argument")?;
                args.to_vec()
            }
            Zip => {
                want((2..=5).contains(&n), "2 to 5 arrays")?;
                (0..n).map(list).collect::<Result<_>>()?
            }
            Ngrams | Combinations | TrimArray => {
                want(n == 2, "an array and a number")?;
                vec![list(0)?, I64]
            }
            ContainsSequence => {
                want(n == 2, "2 arrays")?;
                let (a, b) = (list(0)?, list(1)?);
                let item = datafusion::logical_expr::type_coercion::binary::type_union_resolution(&[
                    list_item(&a).cloned().unwrap_or(DataType::Null),
                    list_item(&b).cloned().unwrap_or(DataType::Null),
                ])
                .unwrap_or(DataType::Null);
                vec![list_of(item.clone()), list_of(item)]
            }
            ArrayHistogram => {
                want(n == 1, "an array")?;
                vec![list(0)?]
            }
            MapFromEntries => {
                want(n == 1, "an array of rows (key, value)")?;
                match list_item(&args[0]) {
                    Some(DataType::Struct(f)) if f.len() == 2 => vec![args[0].clone()],
                    _ => {
                        return plan_err!(
                            "map_from_entries() takes an array of rows (key, value), not {}",
                            args[0]
                        );
                    }
                }
            }
            MapEntries => {
                want(n == 1 && map_types(&args[0]).is_some(), "a map")?;
                args.to_vec()
            }
            Multimap => {
                want(n == 2, "2 arrays")?;
                vec![list(0)?, list(1)?]
            }
            TopCounts => {
                want(n == 2, "an array and a number")?;
                vec![list(0)?, I64]
            }
            JsonArrayContains => {
                want(n == 2, "a JSON array and a value")?;
                vec![UTF8, args[1].clone()]
            }
            JsonArrayGet => {
                want(n == 2, "a JSON array and an index")?;
                vec![UTF8, I64]
            }
        })
    }

    fn result(&self, args: &[DataType]) -> Result<DataType> {
        use Func::*;
        Ok(match self.function {
            Codepoint => DataType::Int32,
            HammingDistance | UrlExtractPort | StrposNth | RegexpPosition | YearOfWeek | ToMilliseconds | BitCount
            | FromBase | WidthBucket | JsonSize => I64,
            ToUtf8 => DataType::Binary,
            FromUtf8 | Format | UrlExtractFragment | UrlExtractHost | UrlExtractParameter | UrlExtractPath
            | UrlExtractProtocol | UrlExtractQuery | Normalize | Soundex | HumanReadableSeconds | ToBase | Typeof
            | JsonArrayGet | JsonValue | JsonQuery => UTF8,
            LuhnCheck | IsFinite | IsInfinite | ContainsSequence | IsJsonScalar | JsonArrayContains | JsonExists => {
                DataType::Boolean
            }
            RegexpSplit => list_of(UTF8),
            ParseDuration => DataType::Interval(IntervalUnit::MonthDayNano),
            BitwiseRightShift => args[0].clone(),
            CosineSimilarity => F64,
            Zip => list_of(row_of(
                &args
                    .iter()
                    .map(|a| list_item(a).cloned().unwrap_or(DataType::Null))
                    .collect::<Vec<_>>(),
            )),
            Ngrams | Combinations => list_of(args[0].clone()),
            TrimArray => args[0].clone(),
            ArrayHistogram | TopCounts => map_of(list_item(&args[0]).cloned().unwrap_or(DataType::Null), I64),
            MapFromEntries => match list_item(&args[0]) {
                Some(DataType::Struct(f)) if f.len() == 2 => map_of(f[0].data_type().clone(), f[1].data_type().clone()),
                _ => return plan_err!("map_from_entries() takes an array of rows (key, value)"),
            },
            MapEntries => match map_types(&args[0]) {
                Some((k, v)) => list_of(row_of(&[k.clone(), v.clone()])),
                None => return plan_err!("map_entries() takes a map"),
            },
            Multimap => map_of(
                list_item(&args[0]).cloned().unwrap_or(DataType::Null),
                list_of(list_item(&args[1]).cloned().unwrap_or(DataType::Null)),
            ),
        })
    }
}

impl ScalarUDFImpl for ByValue {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.check(args)
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.result(args)
    }

    fn simplify(
        &self,
        args: Vec<datafusion::logical_expr::Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        use datafusion::logical_expr::simplify::ExprSimplifyResult;
        if self.function == Func::Typeof
            && let [arg] = args.as_slice()
        {
            let name = trino_type_name(&info.get_data_type(arg)?);
            return Ok(ExprSimplifyResult::Simplified(datafusion::logical_expr::lit(name)));
        }
        Ok(ExprSimplifyResult::Original(args))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let result_type = args.return_field.data_type().clone();
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = Vec::with_capacity(rows);
        let mut values = Vec::with_capacity(arrays.len());
        for row in 0..rows {
            values.clear();
            for a in &arrays {
                values.push(ScalarValue::try_from_array(a, row)?);
            }
            let value = if self.nulls_give_null() && values.iter().any(ScalarValue::is_null) {
                ScalarValue::try_from(&result_type)?
            } else {
                self.eval(&values, &result_type)?
            };
            out.push(value);
        }
        if out.is_empty() {
            return Ok(ColumnarValue::Array(new_empty_array(&result_type)));
        }
        let array = ScalarValue::iter_to_array(out)?;
        // A result built from typed NULLs and values of one type: cast only when the builder chose another.
        if array.data_type() != &result_type {
            return Ok(ColumnarValue::Array(datafusion::arrow::compute::cast(
                &array,
                &result_type,
            )?));
        }
        Ok(ColumnarValue::Array(array))
    }
}

/// Trino's name of a type (`typeof`).
pub(crate) fn trino_type_name(t: &DataType) -> String {
    match t {
        DataType::Null => "unknown".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "decimal(20,0)".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
            format!("decimal({p},{s})")
        }
        DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "varchar".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            "varbinary".into()
        }
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(unit, zone) => {
            let p = match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond => 6,
                TimeUnit::Nanosecond => 9,
            };
            match zone {
                Some(_) => format!("timestamp({p}) with time zone"),
                None => format!("timestamp({p})"),
            }
        }
        DataType::Time32(_) | DataType::Time64(_) => "time(3)".into(),
        DataType::Interval(IntervalUnit::YearMonth) => "interval year to month".into(),
        DataType::Interval(_) | DataType::Duration(_) => "interval day to second".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::ListView(f) => {
            format!("array({})", trino_type_name(f.data_type()))
        }
        DataType::Map(_, _) => match map_types(t) {
            Some((k, v)) => format!("map({}, {})", trino_type_name(k), trino_type_name(v)),
            None => t.to_string(),
        },
        DataType::Struct(fields) => {
            let anonymous = fields.iter().enumerate().all(|(i, f)| f.name() == &format!("c{i}"));
            let parts: Vec<String> = fields
                .iter()
                .map(|f| match anonymous {
                    true => trino_type_name(f.data_type()),
                    false => format!("{} {}", f.name(), trino_type_name(f.data_type())),
                })
                .collect();
            format!("row({})", parts.join(", "))
        }
        DataType::Dictionary(_, v) => trino_type_name(v),
        other => other.to_string(),
    }
}

fn text(v: &ScalarValue) -> Option<&str> {
    match v {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s.as_deref(),
        _ => None,
    }
}

fn int(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::Int64(x) => *x,
        ScalarValue::Int32(x) => x.map(i64::from),
        ScalarValue::Int16(x) => x.map(i64::from),
        ScalarValue::Int8(x) => x.map(i64::from),
        _ => None,
    }
}

fn float(v: &ScalarValue) -> Option<f64> {
    match v {
        ScalarValue::Float64(x) => *x,
        _ => None,
    }
}

fn utf8(s: Option<String>) -> ScalarValue {
    ScalarValue::Utf8(s)
}

/// The elements of an array value (`None` for a NULL array).
fn items(v: &ScalarValue) -> Result<Option<Vec<ScalarValue>>> {
    let array: ArrayRef = match v {
        ScalarValue::List(a) if a.is_null(0) => return Ok(None),
        ScalarValue::List(a) => a.value(0),
        ScalarValue::LargeList(a) if a.is_null(0) => return Ok(None),
        ScalarValue::LargeList(a) => a.value(0),
        ScalarValue::FixedSizeList(a) if a.is_null(0) => return Ok(None),
        ScalarValue::FixedSizeList(a) => a.value(0),
        ScalarValue::Null => return Ok(None),
        other => return exec_err!("expected an array, got {other}"),
    };
    (0..array.len())
        .map(|i| ScalarValue::try_from_array(&array, i))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn list(values: Vec<ScalarValue>, item: &DataType) -> ScalarValue {
    ScalarValue::List(ScalarValue::new_list_nullable(&values, item))
}

fn list_type_item(t: &DataType) -> Result<&DataType> {
    match list_item(t) {
        Some(i) => Ok(i),
        None => exec_err!("expected an array type, got {t}"),
    }
}

fn array_of(values: Vec<ScalarValue>, t: &DataType) -> Result<ArrayRef> {
    if values.is_empty() {
        return Ok(new_empty_array(t));
    }
    let a = ScalarValue::iter_to_array(values)?;
    if a.data_type() == t {
        Ok(a)
    } else {
        Ok(datafusion::arrow::compute::cast(&a, t)?)
    }
}

/// A one-row map of `map_type` from its entries.
fn map(entries: Vec<(ScalarValue, ScalarValue)>, map_type: &DataType) -> Result<ScalarValue> {
    let DataType::Map(field, sorted) = map_type else {
        return exec_err!("expected a map type, got {map_type}");
    };
    let DataType::Struct(kv) = field.data_type() else {
        return exec_err!("expected map entries, got {}", field.data_type());
    };
    let n = entries.len();
    let (keys, values): (Vec<_>, Vec<_>) = entries.into_iter().unzip();
    let keys = array_of(keys, kv[0].data_type())?;
    let values = array_of(values, kv[1].data_type())?;
    let entries = StructArray::try_new(kv.clone(), vec![keys, values], None)?;
    let offsets = OffsetBuffer::new(vec![0i32, n as i32].into());
    let array = MapArray::try_new(Arc::clone(field), offsets, entries, None, *sorted)?;
    Ok(ScalarValue::Map(Arc::new(array)))
}

/// A map value's entries (`None` for NULL).
fn map_entries(v: &ScalarValue) -> Result<Option<Vec<(ScalarValue, ScalarValue)>>> {
    let ScalarValue::Map(m) = v else {
        return exec_err!("expected a map, got {v}");
    };
    if m.is_null(0) {
        return Ok(None);
    }
    let entries = m.value(0);
    let keys = entries.column(0);
    let values = entries.column(1);
    (0..entries.len())
        .map(|i| {
            Ok((
                ScalarValue::try_from_array(keys, i)?,
                ScalarValue::try_from_array(values, i)?,
            ))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn row(values: Vec<ScalarValue>, row_type: &DataType) -> Result<ScalarValue> {
    let DataType::Struct(fields) = row_type else {
        return exec_err!("expected a row type, got {row_type}");
    };
    let columns = values
        .into_iter()
        .zip(fields.iter())
        .map(|(v, f)| array_of(vec![v], f.data_type()))
        .collect::<Result<Vec<_>>>()?;
    Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
        fields.clone(),
        columns,
        None,
    )?)))
}

fn row_values(v: &ScalarValue) -> Result<Option<Vec<ScalarValue>>> {
    let ScalarValue::Struct(s) = v else {
        return exec_err!("expected a row, got {v}");
    };
    if s.is_null(0) {
        return Ok(None);
    }
    s.columns()
        .iter()
        .map(|c| ScalarValue::try_from_array(c, 0))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

impl ByValue {
    fn nulls_give_null(&self) -> bool {
        !matches!(
            self.function,
            Func::Format | Func::Zip | Func::Typeof | Func::JsonArrayContains
        )
    }

    fn eval(&self, v: &[ScalarValue], result: &DataType) -> Result<ScalarValue> {
        use Func::*;
        let s = |i: usize| text(&v[i]).unwrap_or_default();
        let n = |i: usize| int(&v[i]).unwrap_or_default();
        Ok(match self.function {
            Codepoint => {
                let mut chars = s(0).chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => ScalarValue::Int32(Some(c as i32)),
                    _ => return exec_err!("codepoint() takes a single character, got '{}'", s(0)),
                }
            }
            HammingDistance => {
                let (a, b): (Vec<char>, Vec<char>) = (s(0).chars().collect(), s(1).chars().collect());
                if a.len() != b.len() {
                    return exec_err!("The input strings to hamming_distance function must have the same length");
                }
                ScalarValue::Int64(Some(a.iter().zip(&b).filter(|(x, y)| x != y).count() as i64))
            }
            ToUtf8 => ScalarValue::Binary(Some(s(0).as_bytes().to_vec())),
            FromUtf8 => {
                let bytes = match &v[0] {
                    ScalarValue::Binary(Some(b)) => b.clone(),
                    _ => Vec::new(),
                };
                let replacement = match v.get(1) {
                    None => "\u{FFFD}".to_string(),
                    Some(ScalarValue::Int64(Some(code))) => match u32::try_from(*code).ok().and_then(char::from_u32) {
                        Some(c) => c.to_string(),
                        None => return exec_err!("from_utf8(): {code} is not a valid code point"),
                    },
                    Some(other) => text(other).unwrap_or_default().to_string(),
                };
                let mut out = String::new();
                for chunk in bytes.utf8_chunks() {
                    out.push_str(chunk.valid());
                    if !chunk.invalid().is_empty() {
                        out.push_str(&replacement);
                    }
                }
                utf8(Some(out))
            }
            Format => match text(&v[0]) {
                None => utf8(None),
                Some(fmt) => utf8(Some(java_format(fmt, &v[1..])?)),
            },
            UrlExtractFragment | UrlExtractHost | UrlExtractParameter | UrlExtractPath | UrlExtractPort
            | UrlExtractProtocol | UrlExtractQuery => url_part(self.function, s(0), v.get(1).and_then(text)),
            StrposNth => {
                let (hay, needle, nth) = (s(0), s(1), n(2));
                if nth == 0 {
                    return exec_err!("strpos(): the instance must not be 0");
                }
                let chars: Vec<char> = hay.chars().collect();
                let pat: Vec<char> = needle.chars().collect();
                let starts: Vec<usize> = if pat.is_empty() {
                    (0..=chars.len()).collect()
                } else {
                    (0..chars.len().saturating_sub(pat.len() - 1))
                        .filter(|&i| chars[i..].starts_with(&pat))
                        .collect()
                };
                let found = if nth > 0 {
                    starts.get(nth as usize - 1)
                } else {
                    starts
                        .len()
                        .checked_sub(nth.unsigned_abs() as usize)
                        .and_then(|i| starts.get(i))
                };
                ScalarValue::Int64(Some(found.map_or(0, |&i| i as i64 + 1)))
            }
            Normalize => {
                use unicode_normalization::UnicodeNormalization;
                let form = v.get(1).and_then(text).unwrap_or("NFC").to_ascii_uppercase();
                let t = s(0);
                utf8(Some(match form.as_str() {
                    "NFC" => t.nfc().collect(),
                    "NFD" => t.nfd().collect(),
                    "NFKC" => t.nfkc().collect(),
                    "NFKD" => t.nfkd().collect(),
                    other => return exec_err!("normalize(): unknown form {other}; use NFC, NFD, NFKC or NFKD"),
                }))
            }
            Soundex => utf8(Some(soundex(s(0)))),
            LuhnCheck => match luhn(s(0)) {
                Some(ok) => ScalarValue::Boolean(Some(ok)),
                None => return exec_err!("luhn_check(): '{}' is not a string of digits", s(0)),
            },
            RegexpPosition => {
                let re = regex(s(1))?;
                let hay = s(0);
                let start = v.get(2).map_or(1, |x| int(x).unwrap_or(1));
                let occurrence = v.get(3).map_or(1, |x| int(x).unwrap_or(1));
                if start < 1 || occurrence < 1 {
                    return exec_err!("regexp_position(): start and occurrence must be positive");
                }
                let offset = hay.char_indices().nth(start as usize - 1).map(|(b, _)| b);
                let found = offset.and_then(|offset| {
                    re.find_iter(&hay[offset..])
                        .nth(occurrence as usize - 1)
                        .map(|m| hay[..offset + m.start()].chars().count() as i64 + 1)
                });
                ScalarValue::Int64(Some(found.unwrap_or(-1)))
            }
            RegexpSplit => {
                let re = regex(s(1))?;
                let parts: Vec<ScalarValue> = re.split(s(0)).map(|p| utf8(Some(p.to_string()))).collect();
                list(parts, &UTF8)
            }
            YearOfWeek => {
                use chrono::Datelike;
                let date = match &v[0] {
                    ScalarValue::Date32(Some(d)) => chrono::NaiveDate::from_num_days_from_ce_opt(d + 719_163),
                    other => {
                        let ts = other.cast_to(&DataType::Timestamp(TimeUnit::Microsecond, None))?;
                        match ts {
                            ScalarValue::TimestampMicrosecond(Some(us), _) => {
                                chrono::DateTime::from_timestamp_micros(us).map(|t| t.date_naive())
                            }
                            _ => None,
                        }
                    }
                };
                ScalarValue::Int64(date.map(|d| i64::from(d.iso_week().year())))
            }
            HumanReadableSeconds => utf8(Some(human_readable_seconds(float(&v[0]).unwrap_or_default())?)),
            ToMilliseconds => {
                let nanos: i128 = match &v[0] {
                    ScalarValue::IntervalMonthDayNano(Some(i)) if i.months == 0 => {
                        i128::from(i.days) * 86_400_000_000_000 + i128::from(i.nanoseconds)
                    }
                    ScalarValue::IntervalDayTime(Some(i)) => {
                        i128::from(i.days) * 86_400_000_000_000 + i128::from(i.milliseconds) * 1_000_000
                    }
                    ScalarValue::DurationSecond(Some(x)) => i128::from(*x) * 1_000_000_000,
                    ScalarValue::DurationMillisecond(Some(x)) => i128::from(*x) * 1_000_000,
                    ScalarValue::DurationMicrosecond(Some(x)) => i128::from(*x) * 1_000,
                    ScalarValue::DurationNanosecond(Some(x)) => i128::from(*x),
                    other => return exec_err!("to_milliseconds() takes an interval day to second, got {other}"),
                };
                ScalarValue::Int64(Some((nanos / 1_000_000) as i64))
            }
            ParseDuration => {
                let nanos = parse_duration(s(0))?;
                ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(0, 0, nanos)))
            }
            BitCount => {
                let (x, bits) = (n(0), n(1));
                if !(2..=64).contains(&bits) {
                    return exec_err!("bit_count(): bits must be between 2 and 64, got {bits}");
                }
                let (low, high) = if bits == 64 {
                    (i64::MIN, i64::MAX)
                } else {
                    (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
                };
                if x < low || x > high {
                    return exec_err!("bit_count(): {x} does not fit in {bits} bits");
                }
                let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
                ScalarValue::Int64(Some(((x as u64) & mask).count_ones() as i64))
            }
            BitwiseRightShift => {
                let shift = n(1);
                let logical = |x: u64, width: u32| -> u64 {
                    if shift < 0 || shift >= i64::from(width) {
                        0
                    } else {
                        x >> shift
                    }
                };
                match &v[0] {
                    ScalarValue::Int8(Some(x)) => ScalarValue::Int8(Some(logical(u64::from(*x as u8), 8) as i8)),
                    ScalarValue::Int16(Some(x)) => ScalarValue::Int16(Some(logical(u64::from(*x as u16), 16) as i16)),
                    ScalarValue::Int32(Some(x)) => ScalarValue::Int32(Some(logical(u64::from(*x as u32), 32) as i32)),
                    ScalarValue::Int64(Some(x)) => ScalarValue::Int64(Some(logical(*x as u64, 64) as i64)),
                    other => return exec_err!("bitwise_right_shift() takes an integer, got {other}"),
                }
            }
            FromBase => {
                let radix = n(1);
                if !(2..=36).contains(&radix) {
                    return exec_err!("from_base(): radix must be between 2 and 36, got {radix}");
                }
                match i64::from_str_radix(s(0), radix as u32) {
                    Ok(x) => ScalarValue::Int64(Some(x)),
                    Err(_) => return exec_err!("from_base(): '{}' is not a number in base {radix}", s(0)),
                }
            }
            ToBase => {
                let (x, radix) = (n(0), n(1));
                if !(2..=36).contains(&radix) {
                    return exec_err!("to_base(): radix must be between 2 and 36, got {radix}");
                }
                utf8(Some(to_base(x, radix as u32)))
            }
            IsFinite => ScalarValue::Boolean(Some(float(&v[0]).unwrap_or_default().is_finite())),
            IsInfinite => ScalarValue::Boolean(Some(float(&v[0]).unwrap_or_default().is_infinite())),
            WidthBucket => ScalarValue::Int64(Some(width_bucket(v)?)),
            CosineSimilarity => cosine_similarity(&v[0], &v[1])?,
            Typeof => utf8(Some(trino_type_name(&v[0].data_type()))),
            Zip => {
                let row_type = list_type_item(result)?;
                let arrays: Vec<Option<Vec<ScalarValue>>> = v.iter().map(items).collect::<Result<_>>()?;
                if arrays.iter().any(Option::is_none) {
                    return ScalarValue::try_from(result);
                }
                let arrays: Vec<Vec<ScalarValue>> = arrays.into_iter().flatten().collect();
                let DataType::Struct(fields) = row_type else {
                    return exec_err!("zip(): expected a row type");
                };
                let longest = arrays.iter().map(Vec::len).max().unwrap_or(0);
                let mut rows = Vec::with_capacity(longest);
                for i in 0..longest {
                    let values = arrays
                        .iter()
                        .zip(fields.iter())
                        .map(|(a, f)| match a.get(i) {
                            Some(x) => Ok(x.clone()),
                            None => ScalarValue::try_from(f.data_type()),
                        })
                        .collect::<Result<Vec<_>>>()?;
                    rows.push(row(values, row_type)?);
                }
                list(rows, row_type)
            }
            Ngrams => {
                let Some(a) = items(&v[0])? else {
                    return ScalarValue::try_from(result);
                };
                let size = n(1);
                if size < 1 {
                    return exec_err!("ngrams(): n must be positive, got {size}");
                }
                let item = list_type_item(list_type_item(result)?)?;
                let size = size as usize;
                let grams: Vec<ScalarValue> = if a.len() <= size {
                    vec![list(a, item)]
                } else {
                    a.windows(size).map(|w| list(w.to_vec(), item)).collect()
                };
                list(grams, list_type_item(result)?)
            }
            Combinations => {
                let Some(a) = items(&v[0])? else {
                    return ScalarValue::try_from(result);
                };
                let k = n(1);
                if !(0..=5).contains(&k) {
                    return exec_err!("combinations(): n must be between 0 and 5, got {k}");
                }
                let item = list_type_item(list_type_item(result)?)?;
                let mut out = Vec::new();
                combinations(&a, k as usize, 0, &mut Vec::new(), &mut |c| {
                    out.push(list(c.to_vec(), item))
                });
                list(out, list_type_item(result)?)
            }
            ContainsSequence => {
                let (Some(a), Some(seq)) = (items(&v[0])?, items(&v[1])?) else {
                    return ScalarValue::try_from(result);
                };
                let found = seq.is_empty() || a.windows(seq.len()).any(|w| w == seq.as_slice());
                ScalarValue::Boolean(Some(found))
            }
            TrimArray => {
                let Some(a) = items(&v[0])? else {
                    return ScalarValue::try_from(result);
                };
                let k = n(1);
                if k < 0 || k as usize > a.len() {
                    return exec_err!(
                        "trim_array(): size must be between 0 and the array's length {}, got {k}",
                        a.len()
                    );
                }
                list(a[..a.len() - k as usize].to_vec(), list_type_item(result)?)
            }
            ArrayHistogram => {
                let Some(a) = items(&v[0])? else {
                    return ScalarValue::try_from(result);
                };
                map(counts(a), result)?
            }
            TopCounts => {
                let Some(a) = items(&v[0])? else {
                    return ScalarValue::try_from(result);
                };
                let buckets = n(1);
                if buckets < 1 {
                    return exec_err!("approx_most_frequent(): buckets must be positive, got {buckets}");
                }
                let mut c = counts(a);
                // Most frequent first; ties in first-seen order, as the counting saw them.
                c.sort_by(|x, y| {
                    let (ScalarValue::Int64(Some(a)), ScalarValue::Int64(Some(b))) = (&x.1, &y.1) else {
                        return std::cmp::Ordering::Equal;
                    };
                    b.cmp(a)
                });
                c.truncate(buckets as usize);
                map(c, result)?
            }
            MapFromEntries => {
                let Some(entries) = items(&v[0])? else {
                    return ScalarValue::try_from(result);
                };
                let mut pairs: Vec<(ScalarValue, ScalarValue)> = Vec::with_capacity(entries.len());
                for e in entries {
                    let Some(kv) = row_values(&e)? else {
                        return exec_err!("map_from_entries(): an entry is NULL");
                    };
                    let (k, value) = (kv[0].clone(), kv[1].clone());
                    if k.is_null() {
                        return exec_err!("map_from_entries(): map key cannot be null");
                    }
                    if pairs.iter().any(|(seen, _)| seen == &k) {
                        return exec_err!("map_from_entries(): duplicate map key {k}");
                    }
                    pairs.push((k, value));
                }
                map(pairs, result)?
            }
            MapEntries => {
                let Some(entries) = map_entries(&v[0])? else {
                    return ScalarValue::try_from(result);
                };
                let row_type = list_type_item(result)?;
                let rows = entries
                    .into_iter()
                    .map(|(k, value)| row(vec![k, value], row_type))
                    .collect::<Result<Vec<_>>>()?;
                list(rows, row_type)
            }
            Multimap => {
                let (Some(keys), Some(values)) = (items(&v[0])?, items(&v[1])?) else {
                    return ScalarValue::try_from(result);
                };
                let Some((_, value_list)) = map_types(result) else {
                    return exec_err!("multimap_agg(): expected a map type");
                };
                let item = list_type_item(value_list)?;
                let mut groups: Vec<(ScalarValue, Vec<ScalarValue>)> = Vec::new();
                for (k, value) in keys.into_iter().zip(values) {
                    match groups.iter_mut().find(|(seen, _)| seen == &k) {
                        Some((_, vs)) => vs.push(value),
                        None => groups.push((k, vec![value])),
                    }
                }
                let pairs = groups.into_iter().map(|(k, vs)| (k, list(vs, item))).collect();
                map(pairs, result)?
            }
            JsonSize | JsonArrayContains | JsonArrayGet | IsJsonScalar | JsonValue | JsonQuery | JsonExists => {
                json_function(self.function, v)?
            }
        })
    }
}

/// Distinct non-NULL values with their counts, in first-seen order.
fn counts(values: Vec<ScalarValue>) -> Vec<(ScalarValue, ScalarValue)> {
    let mut out: Vec<(ScalarValue, i64)> = Vec::new();
    for value in values.into_iter().filter(|x| !x.is_null()) {
        match out.iter_mut().find(|(seen, _)| seen == &value) {
            Some((_, c)) => *c += 1,
            None => out.push((value, 1)),
        }
    }
    out.into_iter().map(|(k, c)| (k, ScalarValue::Int64(Some(c)))).collect()
}

fn combinations(
    items: &[ScalarValue],
    k: usize,
    from: usize,
    current: &mut Vec<ScalarValue>,
    emit: &mut dyn FnMut(&[ScalarValue]),
) {
    if current.len() == k {
        emit(current);
        return;
    }
    for i in from..items.len() {
        current.push(items[i].clone());
        combinations(items, k, i + 1, current, emit);
        current.pop();
    }
}

fn regex(pattern: &str) -> Result<regex::Regex> {
    regex::Regex::new(pattern).or_else(|e| exec_err!("invalid regular expression '{pattern}': {e}"))
}

fn url_part(function: Func, text: &str, name: Option<&str>) -> ScalarValue {
    let Ok(url) = url::Url::parse(text) else {
        return match function {
            Func::UrlExtractPort => ScalarValue::Int64(None),
            _ => utf8(None),
        };
    };
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    match function {
        Func::UrlExtractFragment => utf8(url.fragment().map(decode)),
        Func::UrlExtractHost => utf8(url.host_str().map(str::to_string)),
        Func::UrlExtractPath => utf8(Some(crate::listing::percent_decode(url.path()))),
        // The port as written: the url crate drops a scheme's default port (`:80` of http), Trino does not.
        Func::UrlExtractPort => ScalarValue::Int64(written_port(text)),
        Func::UrlExtractProtocol => utf8(Some(url.scheme().to_string())),
        Func::UrlExtractQuery => utf8(url.query().map(str::to_string)),
        _ => {
            let name = name.unwrap_or_default();
            utf8(url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()))
        }
    }
}

fn written_port(text: &str) -> Option<i64> {
    let authority = text.split_once("://")?.1;
    let authority = authority.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (_, port) = host_port.rsplit_once(':')?;
    if port.contains(']') {
        return None;
    }
    port.parse().ok()
}

/// American Soundex as Trino computes it: the first letter, then up to three digits.
fn soundex(s: &str) -> String {
    let code = |c: char| match c.to_ascii_uppercase() {
        'B' | 'F' | 'P' | 'V' => Some('1'),
        'C' | 'G' | 'J' | 'K' | 'Q' | 'S' | 'X' | 'Z' => Some('2'),
        'D' | 'T' => Some('3'),
        'L' => Some('4'),
        'M' | 'N' => Some('5'),
        'R' => Some('6'),
        _ => None,
    };
    let letters: Vec<char> = s.chars().filter(char::is_ascii_alphabetic).collect();
    let Some(&first) = letters.first() else {
        return String::new();
    };
    let mut out = String::from(first.to_ascii_uppercase());
    let mut last = code(first);
    for &c in &letters[1..] {
        let upper = c.to_ascii_uppercase();
        let digit = code(c);
        if digit.is_some() && digit != last {
            out.push(digit.unwrap_or('0'));
            if out.len() == 4 {
                break;
            }
        }
        // H and W do not separate letters of the same code; vowels do.
        if upper != 'H' && upper != 'W' {
            last = digit;
        }
    }
    while out.len() < 4 {
        out.push('0');
    }
    out
}

fn luhn(s: &str) -> Option<bool> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = s
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    Some(sum.is_multiple_of(10))
}

fn human_readable_seconds(seconds: f64) -> Result<String> {
    if !seconds.is_finite() {
        return exec_err!("human_readable_seconds(): {seconds} is not a number of seconds");
    }
    let mut rest = seconds.round().abs() as u64;
    let units = [
        ("week", 604_800),
        ("day", 86_400),
        ("hour", 3_600),
        ("minute", 60),
        ("second", 1),
    ];
    let mut parts = Vec::new();
    for (name, size) in units {
        let count = rest / size;
        rest %= size;
        if count > 0 {
            parts.push(format!("{count} {name}{}", if count == 1 { "" } else { "s" }));
        }
    }
    if parts.is_empty() {
        return Ok("0 seconds".into());
    }
    Ok(parts.join(", "))
}

/// Airlift's duration syntax: a number and a unit (`ns us ms s m h d`), spaces allowed; nanoseconds, rounded to the
/// millisecond as Trino's interval keeps them.
fn parse_duration(text: &str) -> Result<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let value: f64 = match number.parse() {
        Ok(v) => v,
        Err(_) => return exec_err!("parse_duration(): '{text}' is not a duration like '3.5h' or '42ms'"),
    };
    let nanos_per = match unit {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3_600e9,
        "d" => 86_400e9,
        _ => return exec_err!("parse_duration(): unknown unit '{unit}' in '{text}'; use ns, us, ms, s, m, h or d"),
    };
    let millis = (value * nanos_per / 1e6).round();
    Ok((millis as i64).saturating_mul(1_000_000))
}

fn to_base(x: i64, radix: u32) -> String {
    let negative = x < 0;
    let mut n = x.unsigned_abs();
    if n == 0 {
        return "0".into();
    }
    let mut digits = Vec::new();
    while n > 0 {
        digits.push(std::char::from_digit((n % u64::from(radix)) as u32, radix).unwrap_or('?'));
        n /= u64::from(radix);
    }
    if negative {
        digits.push('-');
    }
    digits.iter().rev().collect()
}

fn width_bucket(v: &[ScalarValue]) -> Result<i64> {
    let x = float(&v[0]).unwrap_or_default();
    if v.len() == 2 {
        let bins: Vec<f64> = items(&v[1])?.unwrap_or_default().iter().filter_map(float).collect();
        if bins.windows(2).any(|w| w[0] > w[1]) {
            return exec_err!("width_bucket(): bin values are not sorted in ascending order");
        }
        return Ok(bins.iter().filter(|b| x >= **b).count() as i64);
    }
    let (low, high, count) = (
        float(&v[1]).unwrap_or_default(),
        float(&v[2]).unwrap_or_default(),
        int(&v[3]).unwrap_or_default(),
    );
    if count <= 0 {
        return exec_err!("width_bucket(): bucketCount must be greater than 0");
    }
    if x.is_nan() || low.is_nan() || high.is_nan() || low == high {
        return exec_err!("width_bucket(): the operand and bounds must be numbers, and the bounds different");
    }
    let (lower, upper, reversed) = if low < high {
        (low, high, false)
    } else {
        (high, low, true)
    };
    let bucket = if !reversed {
        if x < lower {
            0
        } else if x >= upper {
            count + 1
        } else {
            ((count as f64) * (x - lower) / (upper - lower)) as i64 + 1
        }
    } else if x > upper {
        0
    } else if x <= lower {
        count + 1
    } else {
        ((count as f64) * (upper - x) / (upper - lower)) as i64 + 1
    };
    Ok(bucket)
}

fn cosine_similarity(a: &ScalarValue, b: &ScalarValue) -> Result<ScalarValue> {
    let pairs: Vec<(f64, f64)>;
    let (norm_a, norm_b): (f64, f64);
    match (a, b) {
        (ScalarValue::Map(_), ScalarValue::Map(_)) => {
            let (Some(x), Some(y)) = (map_entries(a)?, map_entries(b)?) else {
                return Ok(ScalarValue::Float64(None));
            };
            let value = |e: &(ScalarValue, ScalarValue)| float(&e.1).unwrap_or_default();
            norm_a = x.iter().map(|e| value(e).powi(2)).sum::<f64>().sqrt();
            norm_b = y.iter().map(|e| value(e).powi(2)).sum::<f64>().sqrt();
            pairs = x
                .iter()
                .filter_map(|e| y.iter().find(|f| f.0 == e.0).map(|f| (value(e), value(f))))
                .collect();
        }
        _ => {
            let (Some(x), Some(y)) = (items(a)?, items(b)?) else {
                return Ok(ScalarValue::Float64(None));
            };
            if x.len() != y.len() {
                return exec_err!("cosine_similarity(): the arrays must have the same length");
            }
            let x: Vec<f64> = x.iter().map(|v| float(v).unwrap_or_default()).collect();
            let y: Vec<f64> = y.iter().map(|v| float(v).unwrap_or_default()).collect();
            norm_a = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            norm_b = y.iter().map(|v| v * v).sum::<f64>().sqrt();
            pairs = x.into_iter().zip(y).collect();
        }
    }
    let dot: f64 = pairs.iter().map(|(x, y)| x * y).sum();
    if norm_a == 0.0 || norm_b == 0.0 {
        return Ok(ScalarValue::Float64(None));
    }
    Ok(ScalarValue::Float64(Some(dot / (norm_a * norm_b))))
}

/// Java's `String.format` for the conversions Trino's `format` users write: `%s %d %f %e %x %o %b %c %%  %n`, with
/// flags `- 0 + , (space)`, width, precision and `%1$s` positions.
fn java_format(fmt: &str, args: &[ScalarValue]) -> Result<String> {
    let re =
        regex::Regex::new(r"%(\d+\$)?([-#+ 0,(]*)(\d+)?(\.\d+)?([a-zA-Z%])").or_else(|e| exec_err!("format(): {e}"))?;
    let mut out = String::new();
    let mut last = 0;
    let mut next = 0;
    for c in re.captures_iter(fmt) {
        let Some(whole) = c.get(0) else { continue };
        out.push_str(&fmt[last..whole.start()]);
        last = whole.end();
        let conversion = c.get(5).map_or("", |m| m.as_str());
        if conversion == "%" {
            out.push('%');
            continue;
        }
        if conversion == "n" {
            out.push('\n');
            continue;
        }
        let index = match c.get(1) {
            Some(p) => p
                .as_str()
                .trim_end_matches('$')
                .parse::<usize>()
                .unwrap_or(1)
                .saturating_sub(1),
            None => {
                next += 1;
                next - 1
            }
        };
        let Some(arg) = args.get(index) else {
            return exec_err!(
                "format(): '{}' has no value (the format needs more arguments)",
                whole.as_str()
            );
        };
        let flags = c.get(2).map_or("", |m| m.as_str());
        let width: usize = c.get(3).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
        let precision: Option<usize> = c.get(4).and_then(|m| m.as_str()[1..].parse().ok());
        let as_f64 = || -> Option<f64> {
            match arg.cast_to(&DataType::Float64).ok()? {
                ScalarValue::Float64(x) => x,
                _ => None,
            }
        };
        let mut body = match conversion {
            "s" | "S" => {
                let t = if arg.is_null() {
                    "null".to_string()
                } else {
                    display(arg)
                };
                let t = match precision {
                    Some(p) => t.chars().take(p).collect(),
                    None => t,
                };
                if conversion == "S" { t.to_uppercase() } else { t }
            }
            "d" => match int(arg).or_else(|| match arg.cast_to(&I64).ok()? {
                ScalarValue::Int64(x) => x,
                _ => None,
            }) {
                Some(x) => {
                    let mut t = x.unsigned_abs().to_string();
                    if flags.contains(',') {
                        t = crate::units::group_thousands(&t);
                    }
                    sign(x < 0, flags, t)
                }
                None if arg.is_null() => "null".into(),
                None => return exec_err!("format(): %d needs an integer, got {arg}"),
            },
            "f" | "e" | "E" => match as_f64() {
                Some(x) => {
                    let p = precision.unwrap_or(6);
                    let mut t = match conversion {
                        "f" => format!("{:.p$}", x.abs()),
                        _ => {
                            let t = format!("{:.p$e}", x.abs());
                            let (m, e) = t.split_once('e').unwrap_or((&t, "0"));
                            let e: i32 = e.parse().unwrap_or(0);
                            let t = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
                            if conversion == "E" { t.to_uppercase() } else { t }
                        }
                    };
                    if flags.contains(',') && conversion == "f" {
                        let (whole, frac) = t
                            .split_once('.')
                            .map_or((t.clone(), None), |(w, f)| (w.to_string(), Some(f.to_string())));
                        t = crate::units::group_thousands(&whole) + &frac.map(|f| format!(".{f}")).unwrap_or_default();
                    }
                    sign(x < 0.0, flags, t)
                }
                None if arg.is_null() => "null".into(),
                None => return exec_err!("format(): %{conversion} needs a number, got {arg}"),
            },
            "x" | "X" | "o" => match int(arg) {
                Some(x) => match conversion {
                    "x" => format!("{x:x}"),
                    "X" => format!("{x:X}"),
                    _ => format!("{x:o}"),
                },
                None if arg.is_null() => "null".into(),
                None => return exec_err!("format(): %{conversion} needs an integer, got {arg}"),
            },
            "b" | "B" => {
                let t = match arg {
                    ScalarValue::Boolean(Some(b)) => b.to_string(),
                    a if a.is_null() => "false".into(),
                    _ => "true".into(),
                };
                if conversion == "B" { t.to_uppercase() } else { t }
            }
            "c" => match (int(arg), text(arg)) {
                (Some(x), _) => u32::try_from(x)
                    .ok()
                    .and_then(char::from_u32)
                    .map(String::from)
                    .unwrap_or_default(),
                (_, Some(t)) => t.chars().next().map(String::from).unwrap_or_default(),
                _ => "null".into(),
            },
            other => return exec_err!("format(): the conversion %{other} is not supported"),
        };
        let len = body.chars().count();
        if len < width {
            let pad = width - len;
            if flags.contains('-') {
                body.push_str(&" ".repeat(pad));
            } else if flags.contains('0') && matches!(conversion, "d" | "f" | "e" | "E" | "x" | "X" | "o") {
                let (sign_part, digits) = match body.chars().next() {
                    Some(c @ ('-' | '+' | ' ')) => (c.to_string(), body[1..].to_string()),
                    _ => (String::new(), body.clone()),
                };
                body = format!("{sign_part}{}{digits}", "0".repeat(pad));
            } else {
                body = format!("{}{body}", " ".repeat(pad));
            }
        }
        out.push_str(&body);
    }
    out.push_str(&fmt[last..]);
    Ok(out)
}

fn sign(negative: bool, flags: &str, digits: String) -> String {
    if negative {
        if flags.contains('(') {
            format!("({digits})")
        } else {
            format!("-{digits}")
        }
    } else if flags.contains('+') {
        format!("+{digits}")
    } else if flags.contains(' ') {
        format!(" {digits}")
    } else {
        digits
    }
}

/// A value as `%s` shows it: Athena's printed text.
fn display(v: &ScalarValue) -> String {
    match v.to_array() {
        Ok(a) => crate::display::ValuePrinter::try_new(a.as_ref())
            .ok()
            .and_then(|p| p.text(0))
            .unwrap_or_else(|| "null".into()),
        Err(_) => v.to_string(),
    }
}

fn json_function(function: Func, v: &[ScalarValue]) -> Result<ScalarValue> {
    use serde_json::Value;
    let parse = |i: usize| text(&v[i]).and_then(|t| serde_json::from_str::<Value>(t).ok());
    Ok(match function {
        Func::IsJsonScalar => match text(&v[0]).map(serde_json::from_str::<Value>) {
            Some(Ok(j)) => ScalarValue::Boolean(Some(!matches!(j, Value::Array(_) | Value::Object(_)))),
            Some(Err(_)) => return exec_err!("is_json_scalar(): '{}' is not JSON", text(&v[0]).unwrap_or_default()),
            None => ScalarValue::Boolean(None),
        },
        Func::JsonSize => {
            let steps = super::json::parse_path(text(&v[1]).unwrap_or_default())?;
            let size = parse(0).and_then(|j| {
                super::json::walk(&j, &steps).map(|x| match x {
                    Value::Array(a) => a.len() as i64,
                    Value::Object(o) => o.len() as i64,
                    _ => 0,
                })
            });
            ScalarValue::Int64(size)
        }
        Func::JsonArrayContains => {
            let Some(Value::Array(items)) = parse(0) else {
                return Ok(ScalarValue::Boolean(None));
            };
            if v[1].is_null() {
                return Ok(ScalarValue::Boolean(None));
            }
            let found = items.iter().any(|item| match (&v[1], item) {
                (ScalarValue::Boolean(Some(b)), Value::Bool(x)) => b == x,
                (ScalarValue::Float64(Some(f)), Value::Number(x)) => x.as_f64() == Some(*f),
                (x, Value::Number(n)) if int(x).is_some() => n.as_i64() == int(x),
                (x, Value::String(s)) if text(x).is_some() => Some(s.as_str()) == text(x),
                _ => false,
            });
            ScalarValue::Boolean(Some(found))
        }
        Func::JsonArrayGet => {
            let Some(Value::Array(items)) = parse(0) else {
                return Ok(utf8(None));
            };
            let i = int(&v[1]).unwrap_or_default();
            let at = if i >= 0 {
                Some(i as usize)
            } else {
                items.len().checked_sub(i.unsigned_abs() as usize)
            };
            utf8(at.and_then(|i| items.get(i)).map(Value::to_string))
        }
        Func::JsonValue | Func::JsonQuery | Func::JsonExists => {
            let path = text(&v[1]).unwrap_or_default();
            let (strict, rest) = match path.trim().split_once(char::is_whitespace) {
                Some((mode, rest)) if mode.eq_ignore_ascii_case("strict") => (true, rest),
                Some((mode, rest)) if mode.eq_ignore_ascii_case("lax") => (false, rest),
                _ => (false, path),
            };
            let steps = super::json::parse_path(rest)?;
            let found = parse(0).and_then(|j| super::json::walk(&j, &steps).cloned());
            match (function, found) {
                (Func::JsonExists, found) => ScalarValue::Boolean(Some(found.is_some())),
                (Func::JsonValue, Some(Value::String(s))) => utf8(Some(s)),
                (Func::JsonValue, Some(x @ (Value::Number(_) | Value::Bool(_)))) => utf8(Some(x.to_string())),
                (Func::JsonValue, Some(Value::Null) | None) => utf8(None),
                (Func::JsonValue, Some(_)) if strict => {
                    return exec_err!("json_value(): the path '{path}' selects an array or object, not a scalar");
                }
                (Func::JsonValue, Some(_)) => utf8(None),
                (_, Some(x)) => utf8(Some(x.to_string())),
                (_, None) => utf8(None),
            }
        }
        _ => return exec_err!("not a JSON function"),
    })
}
