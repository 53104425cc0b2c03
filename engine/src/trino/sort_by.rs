//! Trino's `array_sort(array, (x, y) -> comparison)`: the array ordered by a lambda that returns a negative number,
//! 0 or a positive number (Trino's documentation uses -1, 0 and 1).
//!
//! The lambda is evaluated once for every pair of elements of every row, in one call over all rows, and each row is
//! then ordered by an insertion sort reading those results: a comparator that is not a consistent order still gives
//! an ordering (as Trino's does), never a panic.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray, UInt32Array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature, HigherOrderUDFImpl,
    LambdaParametersProgress, ValueOrLambda, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct SortBy {
    signature: HigherOrderSignature,
}

impl SortBy {
    pub(super) fn new() -> Self {
        Self {
            signature: HigherOrderSignature::exact(
                vec![ValueOrLambda::Value(()), ValueOrLambda::Lambda(())],
                Volatility::Immutable,
            ),
        }
    }
}

const USAGE: &str = "array_sort(array, (x, y) -> ...) takes an array and a comparator of two elements";

impl HigherOrderUDFImpl for SortBy {
    fn name(&self) -> &str {
        "tarn_array_sort_by"
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [DataType::List(_)] => Ok(arg_types.to_vec()),
            [DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::ListView(f)] => {
                Ok(vec![DataType::List(Arc::clone(f))])
            }
            [DataType::Null] => Ok(vec![DataType::new_list(DataType::Null, true)]),
            _ => plan_err!("{USAGE}"),
        }
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        match fields {
            [ValueOrLambda::Value(list), _] => match list.data_type() {
                DataType::List(element) => Ok(LambdaParametersProgress::Complete(vec![vec![
                    Arc::clone(element),
                    Arc::clone(element),
                ]])),
                _ => plan_err!("{USAGE}"),
            },
            _ => plan_err!("{USAGE}"),
        }
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        match args.arg_fields {
            [ValueOrLambda::Value(list), ValueOrLambda::Lambda(cmp)] => {
                if !cmp.data_type().is_integer() {
                    return plan_err!(
                        "array_sort(): the comparator must return an integer, not {}",
                        cmp.data_type()
                    );
                }
                Ok(Arc::clone(list))
            }
            _ => plan_err!("{USAGE}"),
        }
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [ValueOrLambda::Value(list), ValueOrLambda::Lambda(cmp)] = args.args.as_slice() else {
            return exec_err!("{USAGE}");
        };
        let list = list.to_array(rows)?;
        let Some(list) = list.as_list_opt::<i32>() else {
            return exec_err!("{USAGE}");
        };
        let offsets: Vec<usize> = list.value_offsets().iter().map(|o| *o as usize).collect();
        let values = Arc::clone(list.values());
        // Every ordered pair of each row's elements, and the row it belongs to (for captured columns).
        let (mut xs, mut ys, mut owners) = (Vec::new(), Vec::new(), Vec::new());
        for row in 0..rows {
            if list.is_null(row) {
                continue;
            }
            for i in offsets[row]..offsets[row + 1] {
                for j in offsets[row]..offsets[row + 1] {
                    xs.push(i as u32);
                    ys.push(j as u32);
                    owners.push(row as u32);
                }
            }
        }
        let (xs, ys, owners) = (UInt32Array::from(xs), UInt32Array::from(ys), UInt32Array::from(owners));
        let left: ArrayRef = take(&values, &xs, None)?;
        let right: ArrayRef = take(&values, &ys, None)?;
        let results = cmp
            .evaluate(&[&|| Ok(Arc::clone(&left)), &|| Ok(Arc::clone(&right))], |captures| {
                captures.iter().map(|c| Ok(take(c, &owners, None)?)).collect()
            })?
            .into_array(xs.len())?;
        let results = cast(&results, &DataType::Int64)?;
        let results: &Int64Array = results.as_primitive();
        if results.null_count() > 0 {
            return exec_err!("array_sort(): the comparator returned NULL; it must return -1, 0 or 1");
        }
        let mut order: Vec<u32> = Vec::with_capacity(values.len());
        let mut new_offsets: Vec<i32> = vec![0];
        let mut pair_base = 0;
        for row in 0..rows {
            if !list.is_null(row) {
                let (start, n) = (offsets[row], offsets[row + 1] - offsets[row]);
                let before = |a: usize, b: usize| results.value(pair_base + a * n + b) < 0;
                let mut sorted: Vec<usize> = Vec::with_capacity(n);
                for i in 0..n {
                    let at = sorted.iter().position(|&s| before(i, s)).unwrap_or(sorted.len());
                    sorted.insert(at, i);
                }
                order.extend(sorted.iter().map(|&i| (start + i) as u32));
                pair_base += n * n;
            }
            new_offsets.push(order.len() as i32);
        }
        let sorted = take(&values, &UInt32Array::from(order), None)?;
        let DataType::List(field) = list.data_type() else {
            return exec_err!("{USAGE}");
        };
        let out = ListArray::try_new(
            Arc::clone(field),
            OffsetBuffer::new(new_offsets.into()),
            sorted,
            list.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
