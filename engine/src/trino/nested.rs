//! Helpers for Trino's nested types that DataFusion has no built-in for.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, GenericListArray, OffsetSizeTrait};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `unnest_field(m, i)`: field `i` of each entry of a map (0 = key, 1 = value) or of an array of rows, as an
/// array, so `UNNEST(m) AS u(k, v)` can unnest keys and values side by side (see `syntax.rs`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct UnnestField {
    signature: Signature,
}

impl UnnestField {
    pub(super) fn new() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

/// The entries' struct fields of a map or of a list of rows.
fn entry_fields(t: &DataType) -> Option<&datafusion::arrow::datatypes::Fields> {
    let entry = match t {
        DataType::Map(entry, _) | DataType::List(entry) | DataType::LargeList(entry) => entry,
        _ => return None,
    };
    match entry.data_type() {
        DataType::Struct(fields) => Some(fields),
        _ => None,
    }
}

fn field_index(value: Option<&ScalarValue>) -> Result<usize> {
    match value {
        Some(ScalarValue::Int64(Some(i))) if *i >= 0 => Ok(*i as usize),
        _ => plan_err!("unnest_field() takes a constant field number"),
    }
}

impl ScalarUDFImpl for UnnestField {
    fn name(&self) -> &str {
        "unnest_field"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        plan_err!("unnest_field() computes its type from its arguments")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let index = field_index(args.scalar_arguments.get(1).copied().flatten())?;
        let t = args.arg_fields[0].data_type();
        let Some(fields) = entry_fields(t) else {
            return plan_err!("UNNEST into several columns takes a map or an array of rows, not {t}");
        };
        let Some(field) = fields.get(index) else {
            return plan_err!("UNNEST gives {} columns for each {t}, not {}", fields.len(), index + 1);
        };
        let item = Field::new_list_field(field.data_type().clone(), true);
        Ok(Arc::new(Field::new(self.name(), DataType::List(Arc::new(item)), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let index = match &args.args[1] {
            ColumnarValue::Scalar(s) => field_index(Some(s))?,
            ColumnarValue::Array(_) => return exec_err!("unnest_field() takes a constant field number"),
        };
        let rows = args.args[0].to_array(args.number_rows)?;
        let out: ArrayRef = match rows.data_type() {
            DataType::Map(_, _) => {
                let map = rows.as_map();
                let offsets = map.offsets().clone();
                let values = Arc::clone(map.entries().column(index));
                list(offsets, values, map.nulls().cloned())?
            }
            DataType::List(_) => field_of_rows(rows.as_list::<i32>(), index)?,
            DataType::LargeList(_) => {
                let large = field_of_rows(rows.as_list::<i64>(), index)?;
                datafusion::arrow::compute::cast(&large, &DataType::new_list(large_item(&large), true))?
            }
            other => return exec_err!("unnest_field() takes a map or an array of rows, not {other}"),
        };
        Ok(ColumnarValue::Array(out))
    }
}

fn large_item(a: &ArrayRef) -> DataType {
    match a.data_type() {
        DataType::LargeList(f) => f.data_type().clone(),
        other => other.clone(),
    }
}

fn field_of_rows<O: OffsetSizeTrait>(rows: &GenericListArray<O>, index: usize) -> Result<ArrayRef> {
    let structs = rows.values().as_struct();
    let values = Arc::clone(structs.column(index));
    let item = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    Ok(Arc::new(GenericListArray::<O>::try_new(
        item,
        rows.offsets().clone(),
        values,
        rows.nulls().cloned(),
    )?))
}

fn list(
    offsets: datafusion::arrow::buffer::OffsetBuffer<i32>,
    values: ArrayRef,
    nulls: Option<datafusion::arrow::buffer::NullBuffer>,
) -> Result<ArrayRef> {
    let item = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    Ok(Arc::new(GenericListArray::<i32>::try_new(
        item, offsets, values, nulls,
    )?))
}

/// `map_concat(m1, m2, ...)`: the union of the maps; a key in several takes its value from the last (Trino). NULL
/// if any map is NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct MapConcat {
    signature: Signature,
}

impl MapConcat {
    pub(super) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for MapConcat {
    fn name(&self) -> &str {
        "map_concat"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let Some(first) = args.iter().find(|t| !matches!(t, DataType::Null)) else {
            return plan_err!("map_concat() takes one or more maps");
        };
        if !matches!(first, DataType::Map(_, _)) || args.iter().any(|t| t != first && !matches!(t, DataType::Null)) {
            return plan_err!(
                "map_concat() takes maps of one type, got {}",
                args.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            );
        }
        Ok(vec![first.clone(); args.len()])
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Null))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::{MapArray, StructArray, new_empty_array};
        use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};

        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let DataType::Map(entry_field, sorted) = args.return_field.data_type().clone() else {
            return exec_err!("map_concat() returns a map");
        };
        let DataType::Struct(entry_fields) = entry_field.data_type().clone() else {
            return exec_err!("map_concat(): map entries are not a struct");
        };
        let maps: Vec<&MapArray> = arrays.iter().map(|a| a.as_map()).collect();
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        let mut lengths = Vec::with_capacity(args.number_rows);
        let mut valid = Vec::with_capacity(args.number_rows);
        for row in 0..args.number_rows {
            if maps.iter().any(|m| m.is_null(row)) {
                lengths.push(0);
                valid.push(false);
                continue;
            }
            let mut entries: Vec<(ScalarValue, ScalarValue)> = Vec::new();
            for map in &maps {
                let offsets = map.value_offsets();
                for j in offsets[row] as usize..offsets[row + 1] as usize {
                    let key = ScalarValue::try_from_array(map.keys(), j)?;
                    let value = ScalarValue::try_from_array(map.values(), j)?;
                    match entries.iter_mut().find(|(k, _)| *k == key) {
                        Some(entry) => entry.1 = value,
                        None => entries.push((key, value)),
                    }
                }
            }
            lengths.push(entries.len());
            valid.push(true);
            for (k, v) in entries {
                keys.push(k);
                values.push(v);
            }
        }
        let column = |items: Vec<ScalarValue>, t: &DataType| -> Result<ArrayRef> {
            if items.is_empty() {
                Ok(new_empty_array(t))
            } else {
                ScalarValue::iter_to_array(items)
            }
        };
        let key_array = column(keys, entry_fields[0].data_type())?;
        let value_array = column(values, entry_fields[1].data_type())?;
        let entries = StructArray::try_new(entry_fields, vec![key_array, value_array], None)?;
        let map = MapArray::try_new(
            entry_field,
            OffsetBuffer::from_lengths(lengths),
            entries,
            Some(NullBuffer::from(valid)),
            sorted,
        )?;
        Ok(ColumnarValue::Array(Arc::new(map)))
    }
}
