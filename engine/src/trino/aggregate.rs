//! Trino aggregates DataFusion lacks: `count_if(condition)`, `approx_percentile` with Trino's types, `checksum(x)`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use datafusion_functions_aggregate_common::tdigest::{DEFAULT_MAX_SIZE, TDigest};

/// `count_if(c)`: the number of rows where `c` is true, as a bigint (0 for no rows).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct CountIf {
    signature: Signature,
}

impl CountIf {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::exact(vec![DataType::Boolean], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for CountIf {
    fn name(&self) -> &str {
        "count_if"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args.len() != 1 {
            return plan_err!("count_if() takes 1 argument, got {}", args.len());
        }
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Count(0)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "count"),
            DataType::Int64,
            false,
        ))])
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }
}

#[derive(Debug)]
struct Count(i64);

impl Accumulator for Count {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        // NULL conditions are not counted, as in Trino.
        self.0 += values[0].as_boolean().true_count() as i64;
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.0 += states[0].as_primitive::<Int64Type>().iter().flatten().sum::<i64>();
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.0))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.0)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// `approx_percentile(x, p)` and `approx_percentile(x, ARRAY[p, ...])`: Trino's names and types (the result has
/// `x`'s type; the array form gives one value per percentage) over DataFusion's t-digest, one digest for all the
/// percentages.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ApproxPercentile {
    signature: Signature,
}

impl ApproxPercentile {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn percentile_list_type() -> DataType {
    DataType::new_list(DataType::Float64, true)
}

impl AggregateUDFImpl for ApproxPercentile {
    fn name(&self) -> &str {
        "approx_percentile"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [x, p] if x.is_numeric() || x.is_null() => {
                let p = if matches!(
                    p,
                    DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _)
                ) {
                    percentile_list_type()
                } else {
                    DataType::Float64
                };
                let x = if x.is_null() { DataType::Float64 } else { x.clone() };
                Ok(vec![x, p])
            }
            [_, _, _] => plan_err!(
                "approx_percentile(x, weight, percentage) is not supported by tarn; use approx_percentile(x, \
                 percentage)"
            ),
            [x, _] => plan_err!("approx_percentile() takes a number, not {x}"),
            _ => plan_err!("approx_percentile() takes (x, percentage) or (x, ARRAY[percentages])"),
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [x, DataType::List(_)] => Ok(DataType::new_list(x.clone(), true)),
            [x, _] => Ok(x.clone()),
            _ => plan_err!("approx_percentile() takes (x, percentage) or (x, ARRAY[percentages])"),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        use datafusion::physical_expr::expressions::Literal;
        let value_type = args.exprs[0].data_type(args.schema)?;
        let Some(literal) = args.exprs.get(1).and_then(|e| e.downcast_ref::<Literal>()) else {
            return plan_err!("approx_percentile() takes a constant percentage");
        };
        let (percentiles, array) = match literal.value() {
            ScalarValue::List(list) => {
                let values = datafusion::arrow::compute::cast(list.values(), &DataType::Float64)?;
                let values = values.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
                (values.iter().collect::<Option<Vec<f64>>>().unwrap_or_default(), true)
            }
            ScalarValue::Float64(Some(p)) => (vec![*p], false),
            other => return plan_err!("approx_percentile() takes a constant percentage, not {other}"),
        };
        if let Some(bad) = percentiles.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            return plan_err!("approx_percentile: percentile must be between 0 and 1, got {bad}");
        }
        Ok(Box::new(PercentileAccumulator {
            digest: TDigest::new(DEFAULT_MAX_SIZE),
            percentiles,
            array,
            value_type,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let f = |part: &str, t: DataType| Arc::new(Field::new(format_state_name(args.name, part), t, false));
        Ok(vec![
            f("max_size", DataType::UInt64),
            f("sum", DataType::Float64),
            f("count", DataType::Float64),
            f("max", DataType::Float64),
            f("min", DataType::Float64),
            f("centroids", percentile_list_type()),
        ])
    }
}

#[derive(Debug)]
struct PercentileAccumulator {
    digest: TDigest,
    percentiles: Vec<f64>,
    array: bool,
    value_type: DataType,
}

impl Accumulator for PercentileAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let floats = datafusion::arrow::compute::cast(&values[0], &DataType::Float64)?;
        let floats: Vec<f64> = floats
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
            .iter()
            .flatten()
            .collect();
        if !floats.is_empty() {
            self.digest = self.digest.merge_unsorted_f64(floats);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map(|s| s.len()).unwrap_or(0);
        let mut digests = vec![self.digest.clone()];
        for row in 0..rows {
            let state = states
                .iter()
                .map(|s| ScalarValue::try_from_array(s, row))
                .collect::<Result<Vec<_>>>()?;
            digests.push(TDigest::from_scalar_state(&state));
        }
        self.digest = TDigest::merge_digests(&digests);
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.digest.to_scalar_state())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let empty = self.digest.count() == 0.0;
        let values = self
            .percentiles
            .iter()
            .map(|p| {
                if empty {
                    ScalarValue::try_from(&self.value_type)
                } else {
                    ScalarValue::Float64(Some(self.digest.estimate_quantile(*p))).cast_to(&self.value_type)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        match (self.array, values.first()) {
            (true, _) if empty => ScalarValue::try_from(&DataType::new_list(self.value_type.clone(), true)),
            (true, _) => Ok(ScalarValue::List(ScalarValue::new_list_nullable(
                &values,
                &self.value_type,
            ))),
            (false, Some(v)) => Ok(v.clone()),
            (false, None) => ScalarValue::try_from(&self.value_type),
        }
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.digest.size() + self.percentiles.len() * 8
    }
}

/// Trino's `checksum(x)`: an order-insensitive checksum of the values, the wrapping sum of each value's xxHash64
/// times a prime (a NULL adds the prime), as 8 little-endian bytes; NULL when there are no rows. Each value is
/// hashed as Trino hashes its type (integers and dates as a 64-bit integer, doubles by their bits with -0 as 0,
/// booleans as 1 or 0, text and varbinary by their bytes), so tarn's checksum of a table equals Athena's: the way
/// to check that a copy (a CTAS, an UNLOAD read back) holds the same values.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Checksum {
    signature: Signature,
}

impl Checksum {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

/// Trino's `ChecksumAggregationFunction.PRIME64`.
const CHECKSUM_PRIME: u64 = 0x9E37_79B1_85EB_CA87;

fn checksum_supports(t: &DataType) -> bool {
    t.is_integer()
        || matches!(
            t,
            DataType::Null
                | DataType::Boolean
                | DataType::Float64
                | DataType::Date32
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
        )
}

impl AggregateUDFImpl for Checksum {
    fn name(&self) -> &str {
        "checksum"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [t] if checksum_supports(t) => Ok(DataType::Binary),
            [t] => plan_err!(
                "checksum() of {t} is not supported by tarn (Athena's hash of that type is not reproduced); \
                 checksum integers, double, boolean, date, varchar or varbinary, e.g. checksum(CAST(x AS varchar))"
            ),
            _ => plan_err!("checksum() takes 1 argument, got {}", args.len()),
        }
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ChecksumAccumulator { sum: None }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "sum"),
            DataType::UInt64,
            true,
        ))])
    }
}

#[derive(Debug)]
struct ChecksumAccumulator {
    /// None until a row (NULL or not) is seen.
    sum: Option<u64>,
}

fn xxhash64(bytes: &[u8]) -> u64 {
    twox_hash::XxHash64::oneshot(0, bytes)
}

/// Each value's xxHash64 as Trino computes it for the value's type; NULL for a NULL.
fn checksum_hashes(values: &ArrayRef) -> Result<Vec<Option<u64>>> {
    use datafusion::arrow::datatypes::{Date32Type, Float64Type};
    let long = |v: i64| xxhash64(&v.to_le_bytes());
    let t = values.data_type();
    let hashes = if t.is_integer() {
        let longs = datafusion::arrow::compute::cast(values, &DataType::Int64)?;
        longs.as_primitive::<Int64Type>().iter().map(|v| v.map(long)).collect()
    } else {
        match t {
            DataType::Null => vec![None; values.len()],
            DataType::Boolean => values
                .as_boolean()
                .iter()
                .map(|v| v.map(|b| long(i64::from(b))))
                .collect(),
            DataType::Float64 => values
                .as_primitive::<Float64Type>()
                .iter()
                // Java's doubleToLongBits: -0 hashes as 0 (Trino's rule) and every NaN as the one canonical NaN.
                .map(|v| {
                    v.map(|d| {
                        let d = if d == 0.0 { 0.0 } else { d };
                        let bits = if d.is_nan() { 0x7ff8_0000_0000_0000 } else { d.to_bits() };
                        long(bits as i64)
                    })
                })
                .collect(),
            DataType::Date32 => values
                .as_primitive::<Date32Type>()
                .iter()
                .map(|v| v.map(|d| long(i64::from(d))))
                .collect(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let text = datafusion::arrow::compute::cast(values, &DataType::Utf8)?;
                text.as_string::<i32>()
                    .iter()
                    .map(|v| v.map(|s| xxhash64(s.as_bytes())))
                    .collect()
            }
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                let bytes = datafusion::arrow::compute::cast(values, &DataType::Binary)?;
                bytes.as_binary::<i32>().iter().map(|v| v.map(xxhash64)).collect()
            }
            other => return plan_err!("checksum() of {other} is not supported by tarn"),
        }
    };
    Ok(hashes)
}

impl Accumulator for ChecksumAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if values[0].is_empty() {
            return Ok(());
        }
        let mut sum = self.sum.unwrap_or(0);
        for hash in checksum_hashes(&values[0])? {
            sum = sum.wrapping_add(hash.map_or(CHECKSUM_PRIME, |h| h.wrapping_mul(CHECKSUM_PRIME)));
        }
        self.sum = Some(sum);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        use datafusion::arrow::datatypes::UInt64Type;
        for partial in states[0].as_primitive::<UInt64Type>().iter().flatten() {
            self.sum = Some(self.sum.unwrap_or(0).wrapping_add(partial));
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::UInt64(self.sum)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Binary(self.sum.map(|s| s.to_le_bytes().to_vec())))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }
}
