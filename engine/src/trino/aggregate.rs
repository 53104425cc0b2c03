//! Trino aggregates DataFusion lacks: `count_if(condition)`.

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
