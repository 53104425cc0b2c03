//! Trino's `reduce(array, initialState, (s, x) -> s', s -> result)`, which DataFusion 55 lacks (it has
//! `array_transform`, `array_filter` and `array_any_match`, which tarn names `transform`, `filter`, `any_match`).
//!
//! Evaluation folds every row at once, one array position at a time: step `k` evaluates the input lambda over the
//! rows whose array has a `k`th element, with their states and those elements, and writes the new states back. The
//! state's type is the input lambda's result, to which the initial state is cast (so `reduce(a, 0, (s, x) -> s +
//! x, s -> s)` over doubles sums doubles, as in Trino).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array, new_null_array};
use datafusion::arrow::compute::{cast, interleave, is_null, nullif, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature, HigherOrderUDFImpl,
    LambdaParametersProgress, ValueOrLambda, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Reduce {
    signature: HigherOrderSignature,
}

impl Reduce {
    pub(super) fn new() -> Self {
        Self {
            signature: HigherOrderSignature::exact(
                vec![
                    ValueOrLambda::Value(()),
                    ValueOrLambda::Value(()),
                    ValueOrLambda::Lambda(()),
                    ValueOrLambda::Lambda(()),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

fn element_field(list: &DataType) -> Result<FieldRef> {
    match list {
        DataType::List(f) | DataType::LargeList(f) => Ok(Arc::clone(f)),
        other => plan_err!("reduce() takes an array first, not {other}"),
    }
}

fn state_field(t: &DataType) -> FieldRef {
    Arc::new(Field::new("s", t.clone(), true))
}

impl HigherOrderUDFImpl for Reduce {
    fn name(&self) -> &str {
        "reduce"
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [list, initial] = arg_types else {
            return plan_err!("reduce() takes an array, an initial state and two lambdas");
        };
        let list = match list {
            DataType::FixedSizeList(f, _) | DataType::ListView(f) => DataType::List(Arc::clone(f)),
            DataType::Null => DataType::new_list(DataType::Null, true),
            other => other.clone(),
        };
        Ok(vec![list, initial.clone()])
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        let [
            ValueOrLambda::Value(list),
            ValueOrLambda::Value(initial),
            combine,
            _output,
        ] = fields
        else {
            return plan_err!("reduce() takes an array, an initial state, (s, x) -> ... and s -> ...");
        };
        let element = element_field(list.data_type())?;
        // The state has the input lambda's type once it is known; until then, the initial state's.
        let state = match combine {
            ValueOrLambda::Lambda(Some(out)) | ValueOrLambda::Value(out) => state_field(out.data_type()),
            ValueOrLambda::Lambda(None) => {
                return Ok(LambdaParametersProgress::Partial(vec![
                    Some(vec![state_field(initial.data_type()), element]),
                    None,
                ]));
            }
        };
        Ok(LambdaParametersProgress::Complete(vec![
            vec![Arc::clone(&state), element],
            vec![state],
        ]))
    }

    fn coerce_values_for_lambdas(&self, fields: &[ValueOrLambda<DataType, DataType>]) -> Result<Option<Vec<DataType>>> {
        match fields {
            [ValueOrLambda::Value(list), _, ValueOrLambda::Lambda(state), _] => {
                Ok(Some(vec![list.clone(), state.clone()]))
            }
            _ => Ok(None),
        }
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        match args.arg_fields {
            [_, _, _, ValueOrLambda::Lambda(output)] => {
                Ok(Arc::new(Field::new(self.name(), output.data_type().clone(), true)))
            }
            _ => plan_err!("reduce() takes an array, an initial state, (s, x) -> ... and s -> ..."),
        }
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [
            ValueOrLambda::Value(list),
            ValueOrLambda::Value(initial),
            ValueOrLambda::Lambda(combine),
            ValueOrLambda::Lambda(output),
        ] = args.args.as_slice()
        else {
            return exec_err!("reduce() takes an array, an initial state, (s, x) -> ... and s -> ...");
        };
        let state_type = match args.arg_fields.get(2) {
            Some(ValueOrLambda::Lambda(f)) => f.data_type().clone(),
            _ => return exec_err!("reduce(): the input lambda has no type"),
        };
        let list = list.to_array(rows)?;
        let (offsets, values): (Vec<usize>, ArrayRef) = match list.data_type() {
            DataType::List(_) => {
                let l = list.as_list::<i32>();
                (
                    l.value_offsets().iter().map(|o| *o as usize).collect(),
                    Arc::clone(l.values()),
                )
            }
            DataType::LargeList(_) => {
                let l = list.as_list::<i64>();
                (
                    l.value_offsets().iter().map(|o| *o as usize).collect(),
                    Arc::clone(l.values()),
                )
            }
            DataType::Null => (vec![0; rows + 1], new_null_array(&DataType::Null, 0)),
            other => return exec_err!("reduce() takes an array first, not {other}"),
        };
        let mut state = cast(&initial.to_array(rows)?, &state_type)?;
        let length = |row: usize| {
            if list.is_null(row) {
                0
            } else {
                offsets[row + 1] - offsets[row]
            }
        };
        let longest = (0..rows).map(length).max().unwrap_or(0);
        for k in 0..longest {
            let active: Vec<u32> = (0..rows).filter(|&r| length(r) > k).map(|r| r as u32).collect();
            let rows_taken = UInt32Array::from(active.clone());
            let elements = UInt32Array::from(
                active
                    .iter()
                    .map(|&r| (offsets[r as usize] + k) as u32)
                    .collect::<Vec<_>>(),
            );
            let states = take(&state, &rows_taken, None)?;
            let items = take(&values, &elements, None)?;
            let next = combine
                .evaluate(&[&|| Ok(Arc::clone(&states)), &|| Ok(Arc::clone(&items))], |captures| {
                    captures.iter().map(|c| Ok(take(c, &rows_taken, None)?)).collect()
                })?
                .into_array(active.len())?;
            let next = cast(&next, &state_type)?;
            // Row r keeps its state unless it was active, then takes its new one.
            let mut position = 0;
            let picks: Vec<(usize, usize)> = (0..rows)
                .map(|r| {
                    if active.get(position) == Some(&(r as u32)) {
                        position += 1;
                        (1, position - 1)
                    } else {
                        (0, r)
                    }
                })
                .collect();
            state = interleave(&[state.as_ref(), next.as_ref()], &picks)?;
        }
        let result = output
            .evaluate(&[&|| Ok(Arc::clone(&state))], |captures| Ok(captures.to_vec()))?
            .into_array(rows)?;
        // A NULL array reduces to NULL.
        Ok(ColumnarValue::Array(nullif(&result, &is_null(&list)?)?))
    }
}
